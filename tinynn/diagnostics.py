"""Looking inside a training run: a callback that records each layer's health every epoch, and
the sanity checks practitioners run before training at all.

    monitor = tinynn.diagnostics.LayerMonitor(x[:512], y[:512])
    model.fit(x, y, epochs=5, callbacks=[monitor])
    monitor.plot("inside.png")          # histograms, dead ReLUs, update-to-weight ratios

    tinynn.diagnostics.sanity_check(model, x, y)    # prints PASS/FAIL with the numbers

What is recorded, and what healthy looks like:
  * activations: each layer's outputs on a fixed probe batch. Saturated tanh (piled at +-1) or
    ReLUs mostly at 0 learn slowly.
  * gradients: dL/d(output) of each layer on the probe (for the output layer, dL/d(logits)).
    Gradients that shrink layer after layer going down vanish; ones that grow explode.
  * dead ReLUs: the fraction of a ReLU layer's units that are 0 for every probe sample; a dead
    unit gets no gradient and never comes back.
  * update-to-weight ratio: |W_after - W_before| / |W_before| (Frobenius norms) over one
    optimizer step, averaged over a few steps per epoch. Around 1e-3 is the classic rule of
    thumb (cs231n); much smaller learns slowly, much larger is unstable.

The monitor costs nothing per batch unless it is used (`fit` calls only the hooks a callback
overrides); used, it copies each kernel on a few batches per epoch and runs one forward and
backward pass of the probe per epoch. It never changes the weights, the optimizer or any random
state: training is bit-for-bit the same with and without it.
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from tinynn import graph, utils
from tinynn.callbacks import Callback
from tinynn.layers import Dropout, Flatten


class LayerMonitor(Callback):
    """Records, per layer and per epoch: activation and gradient samples (for histograms), the
    fraction of dead ReLUs, and the update-to-weight ratio. Keras's Callback protocol.

    Records are taken before the first epoch (epoch 0) and after each epoch, on a fixed probe
    batch run in inference mode. Every layer but Flatten and Dropout is monitored, under its
    name.

    Args:
        x: the probe inputs, e.g. 512 training samples.
        y: their integer labels.
        samples: how many values of each layer's activations and gradients to keep per record.
            Defaults to 4096.
        update_steps: optimizer steps per epoch on which the update ratio is measured (spread
            evenly over the epoch). Defaults to 10.

    Attributes:
        epochs: the epoch of each record: [0, 1, 2, ...].
        activations, gradients: {layer name: [sample of values, one per record]}.
        dead: {ReLU layer name: [fraction of dead units, one per record]}.
        update_ratio: {layer name with a kernel: [mean ratio, one per epoch trained]}.
        gradient_of: {layer name: "output", or "logits" for a softmax output layer, whose
            recorded gradient is dL/d(logits) = (P - onehot(y)) / N}.
    """

    def __init__(self, x, y, samples: int = 4096, update_steps: int = 10):
        super().__init__()
        self.x, self.y = np.asarray(x), np.asarray(y)
        self.samples, self.update_steps = int(samples), int(update_steps)

    # ----- the hooks ----------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self.epochs: list[int] = []
        self.activations: dict[str, list] = {}
        self.gradients: dict[str, list] = {}
        self.dead: dict[str, list] = {}
        self.update_ratio: dict[str, list] = {}
        self.gradient_of: dict[str, str] = {}
        self._ratios: dict[str, list] = {}
        self._before: dict = {}
        self._picks: dict = {}
        steps = self.params.get("steps", 1)
        self._measured = set(np.linspace(0, steps - 1, min(self.update_steps, steps)).astype(int))
        self._record(0)

    def on_train_batch_begin(self, batch, logs=None):
        if batch in self._measured:
            self._before = {layer.name: layer.params["kernel"].copy()
                            for layer in self._monitored() if "kernel" in layer.params}

    def on_train_batch_end(self, batch, logs=None):
        if batch in self._measured:
            for layer in self._monitored():
                if layer.name in self._before:
                    before = self._before[layer.name]
                    step = np.linalg.norm(layer.params["kernel"] - before)
                    self._ratios.setdefault(layer.name, []).append(
                        float(step / max(np.linalg.norm(before), 1e-30)))

    def on_epoch_end(self, epoch, logs=None):
        for name, ratios in self._ratios.items():
            self.update_ratio.setdefault(name, []).append(float(np.mean(ratios)))
        self._ratios = {}
        self._record(epoch + 1)

    # ----- the probe ----------------------------------------------------------------------------

    def _monitored(self):
        """Every layer but those that only reshape or mask (Flatten, Dropout)."""
        return [layer for layer in self.model.layers
                if not isinstance(layer, (Flatten, Dropout))]

    def _record(self, epoch: int) -> None:
        """One forward and backward pass of the probe; keep a sample of each layer's outputs and
        their gradients, and its dead-unit fraction."""
        nodes = graph.trace(self.model, self.x, self.y, training=False)
        by_name = {n.name: n for n in nodes}
        outputs = {}
        for node in nodes:  # each layer's last node is its output
            if node.layer is not None:
                outputs[node.layer] = node
        for layer in self._monitored():
            out = outputs[layer.name]
            grad = by_name[out.inputs[0]].grad if out.name == "P" else out.grad
            self.gradient_of[layer.name] = "logits" if out.name == "P" else "output"
            A, G = np.asarray(out.value).reshape(-1), np.asarray(grad).reshape(-1)
            pick = self._picks.setdefault(layer.name, np.random.default_rng(0).choice(
                A.size, size=min(self.samples, A.size), replace=False))
            self.activations.setdefault(layer.name, []).append(A[pick].astype(np.float64))
            self.gradients.setdefault(layer.name, []).append(G[pick].astype(np.float64))
            if _is_relu(layer):
                units = np.asarray(out.value).reshape(len(self.x), -1)
                self.dead.setdefault(layer.name, []).append(float((units <= 0).all(axis=0).mean()))
        self.epochs.append(epoch)

    def plot(self, path=None):
        """The records as one figure (`tinynn.plotting.plot_layer_monitor`); written to `path`
        when given."""
        from tinynn.plotting import plot_layer_monitor

        return plot_layer_monitor(self, path)


def _is_relu(layer) -> bool:
    """A Dense or Activation layer with activation "relu", or a ReLU layer."""
    return getattr(layer, "activation", None) == "relu" or type(layer).__name__ == "ReLU"


# ----- sanity checks before training ---------------------------------------------------------


@dataclass
class SanityCheck:
    """One check's verdict and what was measured."""

    name: str
    passed: bool
    detail: str


@dataclass
class SanityReport:
    """All checks; `passed` when every one passed. Printing it gives one line per check."""

    checks: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return "\n".join(f"  {'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}"
                         for c in self.checks)


def sanity_check(model, x, y, *, n_loss: int = 1000, n_overfit: int = 16,
                 max_steps: int = 200, target: float = 0.01, rtol: float = 0.1,
                 verbose: bool = True) -> SanityReport:
    """The two checks to run on a new model before training it (cs231n, Karpathy's recipe):

    1. The first loss is close to log C (C classes): an untrained classifier should be unsure,
       giving each class probability ~1/C, so its cross-entropy is -log(1/C) = log C. Much more
       means overconfident initial weights (or a bug); it checks |L - log C| <= rtol * log C on
       the first `n_loss` samples.
    2. It can overfit a tiny batch: trained on `n_overfit` samples alone, full batch, dropout
       off, the loss must fall below `target` within `max_steps` steps. If it cannot memorise
       16 samples, something is broken (gradients, optimizer, data/labels mismatch).

    The model is not changed: check 2 trains a copy (the same weights, a fresh optimizer from
    the same config), and the global random state is put back.

    Args:
        model: a compiled Sequential, usually untrained.
        x, y: training data (inputs and integer labels).
        n_loss: samples for the first-loss check. Defaults to 1000.
        n_overfit: samples to overfit. Defaults to 16.
        max_steps: steps allowed to overfit. Defaults to 200.
        target: the loss to reach. Defaults to 0.01.
        rtol: the first loss's allowed relative distance from log C. Defaults to 0.1.
        verbose: print the report. Defaults to True.

    Returns:
        A `SanityReport` (`.passed`, `.checks`).
    """
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    report = SanityReport()
    first = float(model.evaluate(x[:n_loss], y[:n_loss], verbose=0, return_dict=True)["loss"])
    classes = int(model.output_shape[-1])
    expected = float(np.log(classes))
    off = abs(first - expected) / expected
    report.checks.append(SanityCheck(
        "first loss close to log C", off <= rtol,
        f"{first:.4f} vs log({classes}) = {expected:.4f}, off by {off:.1%} "
        f"(allowed {rtol:.0%}; on {min(n_loss, len(x))} samples)"))

    twin = _trainable_copy(model)
    xb, yb = x[:n_overfit], y[:n_overfit]
    start = loss = float(twin.evaluate(xb, yb, verbose=0, return_dict=True)["loss"])
    steps = 0
    state = utils.rng().bit_generator.state
    try:
        while steps < max_steps and loss >= target:
            twin.fit(xb, yb, batch_size=len(xb), epochs=1, shuffle=False, verbose=0)
            steps += 1
            loss = float(twin.evaluate(xb, yb, verbose=0, return_dict=True)["loss"])
    finally:
        utils.rng().bit_generator.state = state
    report.checks.append(SanityCheck(
        f"overfits {len(xb)} samples", loss < target,
        f"loss {start:.4f} -> {loss:.4g} in {steps} full-batch steps (target < {target:g} "
        f"within {max_steps}; a copy of the model, dropout off)"))
    if verbose:
        print(f"Sanity checks for model '{model.name}' ({classes} classes):\n{report}")
    return report


def _trainable_copy(model):
    """A deep copy of the model (any layer, even one of your own), its Dropout layers off,
    compiled with a fresh optimizer from the same config and the same loss."""
    twin = copy.deepcopy(model)
    for layer in twin.layers:
        if isinstance(layer, Dropout):
            layer.rate = 0.0
    optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
    twin.compile(optimizer=optimizer, loss=model.loss)
    return twin
