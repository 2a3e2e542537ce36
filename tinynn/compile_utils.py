"""What `compile(loss=..., metrics=[...], weighted_metrics=[...])` keeps for `fit` and
`evaluate`, as Keras's `trainers/compile_utils.py`: the loss's running mean and the metric
objects, their log names and the order `evaluate` lists them in.

The metrics are built on the first batch, when the targets' shape is known: Keras picks the
meaning of "accuracy" from it. Each epoch (and each validation pass) resets them, each batch
updates them, and the logs are their results: exact over all the samples seen so far.

`metrics` never see sample weights (nor class weights); `weighted_metrics` get them. A weighted
metric whose name is already taken is logged as "weighted_<name>" ("weighted_<name>_1", ...
after that), as Keras names it.
"""

import copy

import numpy as np

from tinynn import metrics as metrics_module

_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def log_names(names: list, weighted_names: "list | tuple" = ()) -> list:
    """Keras's log names for `metrics` then `weighted_metrics` (`CompileMetrics.result`): a
    repeated metric name gets "_1", "_2", ... appended; a weighted metric whose name is taken
    becomes "weighted_<name>", then "weighted_<name>_1", ..."""
    counts: dict[str, int] = {}
    unique = []
    for name in names:
        if name in counts:
            unique.append(f"{name}_{counts[name]}")
            counts[name] += 1
        else:
            unique.append(name)
            counts[name] = 1
    for name in weighted_names:
        if name not in counts:
            unique.append(name)
            counts[name] = 1
            continue
        renamed = f"weighted_{name}"
        if renamed in counts:
            counts[renamed] += 1
            renamed = f"{renamed}_{counts[renamed] - 1}"
        else:
            counts[renamed] = 1
        unique.append(renamed)
    return unique


def unique_log_names(names: list) -> list:
    """Keras's log names for metrics: a repeated name gets "_1", "_2", ... appended."""
    return log_names(names)


def _spec_names(specs: list) -> list:
    return [m if isinstance(m, str) else getattr(m, "name", None)
            or metrics_module.snake_case(m.__name__) for m in specs]


def _check_list(specs, argument: str) -> list:
    if specs is not None and not isinstance(specs, (list, tuple)):
        raise TypeError(f"compile expected {argument} to be a list such as ['accuracy'], got "
                        f"{argument}={specs!r}.")
    for m in specs or []:
        metrics_module.check(m)
    return list(specs or [])


class CompileMetrics:
    """The loss tracker and the compiled metrics of one `compile` call.

    Args:
        loss: the compiled `Loss` (its reduction decides how batches are averaged).
        metrics: compile's list: names, metric objects or functions (checked here), updated
            without sample weights.
        weighted_metrics: the same, updated with the batch's sample weights. Defaults to none.
    """

    def __init__(self, loss, metrics: "list | tuple | None",
                 weighted_metrics: "list | tuple | None" = None):
        self.loss = loss
        self.specs = _check_list(metrics, "metrics")
        self.weighted_specs = _check_list(weighted_metrics, "weighted_metrics")
        self.tracker = metrics_module.Mean(name="loss")
        self.metrics: list[metrics_module.Metric] | None = None  # built on the first batch
        self.weighted: list[metrics_module.Metric] | None = None
        self.names = ["loss", *log_names(_spec_names(self.specs),
                                         _spec_names(self.weighted_specs))]

    def build(self, y_shape: tuple, y_pred_shape: tuple) -> None:
        """Resolve the metrics for targets and predictions of these shapes (once, as Keras)."""
        if self.metrics is None:
            self.metrics = [metrics_module.for_compile(m, y_shape, y_pred_shape)
                            for m in self.specs]
            self.weighted = [metrics_module.for_compile(m, y_shape, y_pred_shape)
                             for m in self.weighted_specs]

    @property
    def all_metrics(self) -> list:
        """The built metric objects: `metrics`, then `weighted_metrics`."""
        return [*(self.metrics or []), *(self.weighted or [])]

    def fresh(self) -> "CompileMetrics":
        """A copy with its own (reset) metric objects, for an evaluation pass: it shares
        nothing a training epoch updates."""
        twin = copy.copy(self)
        twin.tracker = copy.deepcopy(self.tracker)
        if self.metrics is not None:
            twin.metrics = [copy.deepcopy(m) for m in self.metrics]
            twin.weighted = [copy.deepcopy(m) for m in self.weighted]
            twin.reset()
        return twin

    def reset(self) -> None:
        for m in (self.tracker, *self.all_metrics):
            m.reset_state()

    def update(self, y: np.ndarray, Y: np.ndarray, values: np.ndarray, logits=None,
               sample_weight: "np.ndarray | None" = None) -> None:
        """Add a batch: targets y, outputs Y, per-sample losses (weighted, see
        `Loss.sample_weight_factors`); `logits`, the input of a final sigmoid or softmax if
        any, goes to the cross-entropy metrics as Keras hands it; `sample_weight` to the
        weighted metrics only."""
        if self.loss.reduction in _MEAN_REDUCTIONS:
            self.tracker.update_state(values)  # the per-sample mean over the epoch
        else:  # Keras weights the reduced batch loss by the batch size
            self.tracker.update_state(self.loss.reduce_values(values), sample_weight=len(values))
        for m in self.metrics:
            m._update_from_model(y, Y, logits)
        for m in self.weighted:
            m._update_from_model(y, Y, logits, sample_weight)

    def results(self) -> dict:
        """{name: value}: "loss" and each metric, names made unique as Keras makes them
        ("auc", "auc_1", "weighted_auc"), keys sorted as Keras 3's logs are."""
        names = log_names([m.name for m in self.metrics], [m.name for m in self.weighted])
        logs = {"loss": self.tracker.result(),
                **{name: m.result() for name, m in zip(names, self.all_metrics, strict=True)}}
        return dict(sorted(logs.items()))

    def in_order(self, logs: dict) -> list:
        """`evaluate`'s list, in Keras's order: the loss, each metric's name in compile order
        (`metrics`, then `weighted_metrics`; a repeated name again), then the remaining logs
        by name."""
        names = ["loss", *(m.name for m in self.all_metrics)]
        return [logs[n] for n in names if n in logs] + [logs[k] for k in sorted(logs)
                                                         if k not in names]
