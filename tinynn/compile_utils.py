"""What `compile(loss=..., metrics=[...])` keeps for `fit` and `evaluate`, as Keras's
`trainers/compile_utils.py`: the loss's running mean and the metric objects, their log names
and the order `evaluate` lists them in.

The metrics are built on the first batch, when the targets' shape is known: Keras picks the
meaning of "accuracy" from it. Each epoch (and each validation pass) resets them, each batch
updates them, and the logs are their results: exact over all the samples seen so far.
"""

import copy

import numpy as np

from tinynn import metrics as metrics_module

_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def unique_log_names(names: list) -> list:
    """Keras's log names for metrics: a repeated name gets "_1", "_2", ... appended."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        if name in seen:
            unique.append(f"{name}_{seen[name]}")
            seen[name] += 1
        else:
            unique.append(name)
            seen[name] = 1
    return unique


class CompileMetrics:
    """The loss tracker and the compiled metrics of one `compile` call.

    Args:
        loss: the compiled `Loss` (its reduction decides how batches are averaged).
        metrics: compile's list: names, metric objects or functions (checked here).
    """

    def __init__(self, loss, metrics: "list | tuple | None"):
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile expected metrics to be a list such as ['accuracy'], got "
                            f"metrics={metrics!r}.")
        for m in metrics or []:
            metrics_module.check(m)
        self.loss = loss
        self.specs = list(metrics or [])
        self.tracker = metrics_module.Mean(name="loss")
        self.metrics: list[metrics_module.Metric] | None = None  # built on the first batch
        names = [m if isinstance(m, str) else getattr(m, "name", None)
                 or metrics_module.snake_case(m.__name__) for m in self.specs]
        self.names = ["loss", *unique_log_names(names)]

    def build(self, y_shape: tuple, y_pred_shape: tuple) -> None:
        """Resolve the metrics for targets and predictions of these shapes (once, as Keras)."""
        if self.metrics is None:
            self.metrics = [metrics_module.for_compile(m, y_shape, y_pred_shape)
                            for m in self.specs]

    def fresh(self) -> "CompileMetrics":
        """A copy with its own (reset) metric objects, for an evaluation pass: it shares
        nothing a training epoch updates."""
        twin = copy.copy(self)
        twin.tracker = copy.deepcopy(self.tracker)
        twin.metrics = None if self.metrics is None else [copy.deepcopy(m) for m in self.metrics]
        if twin.metrics is not None:
            twin.reset()
        return twin

    def reset(self) -> None:
        for m in (self.tracker, *self.metrics):
            m.reset_state()

    def update(self, y: np.ndarray, Y: np.ndarray, values: np.ndarray, logits=None) -> None:
        """Add a batch: targets y, outputs Y, per-sample losses; `logits`, the input of a final
        sigmoid or softmax if any, goes to the cross-entropy metrics as Keras hands it."""
        if self.loss.reduction in _MEAN_REDUCTIONS:
            self.tracker.update_state(values)  # the per-sample mean over the epoch
        else:  # Keras weights the reduced batch loss by the batch size
            self.tracker.update_state(self.loss.reduce_values(values), sample_weight=len(values))
        for m in self.metrics:
            m._update_from_model(y, Y, logits)

    def results(self) -> dict:
        """{name: value}: "loss" and each metric, names made unique as Keras makes them
        ("auc", "auc_1"), keys sorted as Keras 3's logs are."""
        names = unique_log_names([m.name for m in self.metrics])
        logs = {"loss": self.tracker.result(),
                **{name: m.result() for name, m in zip(names, self.metrics, strict=True)}}
        return dict(sorted(logs.items()))

    def in_order(self, logs: dict) -> list:
        """`evaluate`'s list, in Keras's order: the loss, each metric's name in compile order
        (a repeated name again), then the remaining logs by name."""
        names = ["loss", *(m.name for m in self.metrics)]
        return [logs[n] for n in names if n in logs] + [logs[k] for k in sorted(logs)
                                                         if k not in names]
