"""A gallery of broken backprops: the bugs learners really make, and what catches each one.

    python examples/broken_backprop.py                      # every bug's gradcheck table
    python examples/broken_backprop.py --plot adam.png      # and Adam's training curves

Each bug is planted in a copy of a tinynn layer (or loss, or optimizer): a subclass written with
the real API, identical to a correct copy except for the line marked BUG. For each one the script
builds a tiny model, runs `tinynn.gradcheck` on it, prints the table, and says how to read the
worst entry. The correct copies pass the same check. Adam without bias correction changes no
gradient, so gradcheck cannot see it: its training curve can (--plot). The walk-through is in
docs/broken_backprop.md.
"""

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import tinynn as keras
from tinynn import activations, layers, losses, optimizers

# ----- the correct copies ----------------------------------------------------------------------


class CopyOfDense(layers.Dense):
    """tinynn's Dense (its constructor, `build` with add_weight, get_config), forward and backward
    written out: Z = X @ W + b, A = f(Z).  Backward: dZ = dA * f'(Z), dW = X.T @ dZ,
    db = sum_rows(dZ), dX = dZ @ W.T."""

    def forward(self, X, training=False):
        f, _ = activations.forward_backward(self.activation)
        self.X = X
        self.Z = X @ self.kernel + self.bias
        self.A = f(self.Z)
        return self.A

    def backward(self, dA):
        _, f_backward = activations.forward_backward(self.activation)
        dZ = f_backward(dA, self.Z, self.A)
        self.grads["kernel"] = self.X.T @ dZ
        self.grads["bias"] = dZ.sum(axis=0)
        return dZ @ self.kernel.T


class CopyOfDropout(layers.Dropout):
    """tinynn's Dropout (rate, seed, its generator): Y = X * mask in training, the mask kept for
    backward, dX = dY * mask. Y = X at inference."""

    def draw_mask(self, X):
        """A fresh mask shaped like X: 0 with probability rate, else 1 / (1 - rate)."""
        return layers.Dropout.forward(self, np.ones_like(X), training=True)

    def forward(self, X, training=False):
        self.mask = self.draw_mask(X) if training else None
        return X if self.mask is None else X * self.mask

    def backward(self, dY):
        return dY if self.mask is None else dY * self.mask


class CrossEntropy(losses.SparseCategoricalCrossentropy):
    """Cross-entropy from logits, its gradient written out: dZ = (softmax(Z) - onehot(y)) / N."""

    def __init__(self, **kwargs):
        super().__init__(from_logits=True, **kwargs)

    def gradient(self, y_true, y_pred):
        y = np.asarray(y_true).reshape(-1)
        N = len(y)
        dZ = activations.softmax(y_pred)
        dZ[np.arange(N), y] -= 1
        return dZ / N


class TextbookAdam(optimizers.Adam):
    """tinynn's Adam, its update written out for each weight (Keras's form)."""

    def update_step(self, grads, variables, slots):
        t = self.iterations + 1
        alpha = self.learning_rate * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        for w, g, m, v in zip(variables, grads, slots["momentums"], slots["velocities"],
                              strict=True):
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            w -= alpha * m / (np.sqrt(v) + self.epsilon)


# ----- the bugs ----------------------------------------------------------------------------------


class ForgetsActivationDerivative(CopyOfDense):
    def backward(self, dA):
        dZ = dA  # BUG: dZ = dA * f'(Z); the activation's derivative is forgotten
        self.grads["kernel"] = self.X.T @ dZ
        self.grads["bias"] = dZ.sum(axis=0)
        return dZ @ self.kernel.T


class AveragesTheBias(CopyOfDense):
    def backward(self, dA):
        _, f_backward = activations.forward_backward(self.activation)
        dZ = f_backward(dA, self.Z, self.A)
        self.grads["kernel"] = self.X.T @ dZ
        self.grads["bias"] = dZ.mean(axis=0)  # BUG: 1/N twice: dZ already holds the loss's 1/N
        return dZ @ self.kernel.T


class ForgetsTheMean(CrossEntropy):
    def gradient(self, y_true, y_pred):
        y = np.asarray(y_true).reshape(-1)
        dZ = activations.softmax(y_pred)
        dZ[np.arange(len(y)), y] -= 1
        return dZ  # BUG: 1/N never: the loss is a mean, its gradient needs the 1/N


class MissingTranspose(CopyOfDense):
    def backward(self, dA):
        _, f_backward = activations.forward_backward(self.activation)
        dZ = f_backward(dA, self.Z, self.A)
        self.grads["kernel"] = self.X.T @ dZ
        self.grads["bias"] = dZ.sum(axis=0)
        return dZ @ self.kernel  # BUG: dZ @ W.T; fits only because W is square


class RedrawsTheMask(CopyOfDropout):
    def backward(self, dY):
        if self.mask is None:
            return dY
        return dY * self.draw_mask(dY)  # BUG: a new mask; dX = dY * the forward's mask


class ForgetsTheOneHot(CrossEntropy):
    def gradient(self, y_true, y_pred):
        y = np.asarray(y_true).reshape(-1)
        return activations.softmax(y_pred) / len(y)  # BUG: softmax(Z) - onehot(y), over N


class AdamWithoutBiasCorrection(TextbookAdam):
    def update_step(self, grads, variables, slots):
        alpha = self.learning_rate  # BUG: lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        for w, g, m, v in zip(variables, grads, slots["momentums"], slots["velocities"],
                              strict=True):
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            w -= alpha * m / (np.sqrt(v) + self.epsilon)


# ----- the gallery -------------------------------------------------------------------------------


@dataclass
class Bug:
    """A bug, the model it is planted in (`broken=True`) or its correct twin (`broken=False`),
    and the gradients gradcheck must flag, as (layer name, parameter name)."""

    title: str
    build: object  # build(broken: bool) -> compiled Sequential
    caught: set = field(default_factory=set)
    reading: str = ""


def _model(hidden, loss, middle=()):
    """Input(6) -> [Dense(6, tanh) 'below'] -> hidden -> Dense(3) 'output' (logits)."""
    model = keras.Sequential([keras.Input((6,)), *middle, hidden,
                              CopyOfDense(3, name="output")])
    model.compile(optimizer="sgd", loss=loss)
    return model


def _below():
    return CopyOfDense(6, activation="tanh", name="below")


GALLERY = [
    Bug("forgotten activation derivative",
        lambda broken: _model((ForgetsActivationDerivative if broken else CopyOfDense)(
            5, activation="tanh", name="hidden"), CrossEntropy()),
        {("hidden", "kernel"), ("hidden", "bias")},
        "Only the buggy layer's rows fail: the layer above made its gradients before the "
        "error. Every dZ entry is 1 / f'(Z) = 1 / (1 - A**2) >= 1 times too large, so the "
        "analytic gradients are larger than the numeric ones, by factors that vary with Z."),
    Bug("1/N applied twice (the bias averaged)",
        lambda broken: _model((AveragesTheBias if broken else CopyOfDense)(
            5, activation="tanh", name="hidden"), CrossEntropy()),
        {("hidden", "bias")},
        "One row fails, the bias, and analytic / numeric = 1/N exactly (here 1/8): a factor of "
        "the batch size is a 1/N too many or too few."),
    Bug("1/N never applied (the loss's gradient is a sum)",
        lambda broken: _model(CopyOfDense(5, activation="tanh", name="hidden"),
                              ForgetsTheMean() if broken else CrossEntropy()),
        {("hidden", "kernel"), ("hidden", "bias"), ("output", "kernel"), ("output", "bias")},
        "Every row fails, by the same factor: analytic / numeric = N = 8. A bug in the loss's "
        "gradient reaches every parameter."),
    Bug("missing transpose (square kernel)",
        lambda broken: _model((MissingTranspose if broken else CopyOfDense)(
            6, activation="tanh", name="hidden"), CrossEntropy(), middle=[_below()]),
        {("below", "kernel"), ("below", "bias")},
        "The rows that fail belong to the layer BELOW the bug: dX is not a parameter, so a "
        "wrong dX shows up in the gradients it feeds, while the buggy layer's own rows pass. "
        "(With a non-square kernel the shapes do not fit and NumPy raises first.)"),
    Bug("a new dropout mask in backward",
        lambda broken: _model((RedrawsTheMask if broken else CopyOfDropout)(
            0.5, seed=3, name="dropout"), CrossEntropy(), middle=[_below()]),
        {("below", "kernel"), ("below", "bias")},
        "Dropout has no parameters: the error shows in the layer below. The ratios scatter "
        "(even the signs differ): each sample's gradient passes through a different random "
        "set of units. A gradient wrong in no pattern points at randomness in backward."),
    Bug("softmax-CE gradient without the one-hot",
        lambda broken: _model(CopyOfDense(5, activation="tanh", name="hidden"),
                              ForgetsTheOneHot() if broken else CrossEntropy()),
        {("hidden", "kernel"), ("hidden", "bias"), ("output", "kernel"), ("output", "bias")},
        "Every row fails. Read output.bias: analytic - numeric = (number of samples labelled "
        "j) / N for class j, the one-hot that was not subtracted. Its rows no longer sum to 0."),
]


def batch(seed: int = 0, n: int = 8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)), np.array([0, 1, 2, 0, 1, 2, 0, 0])[:n]


def run_gallery(verbose: bool = True) -> list:
    """gradcheck on every bug and on its correct twin. Returns [(bug, broken, correct)]."""
    x, y = batch()
    results = []
    for i, bug in enumerate(GALLERY, start=1):
        out = []
        for broken in (True, False):
            keras.utils.set_random_seed(i)  # the twin has the very same weights
            out.append(keras.gradcheck(bug.build(broken), x, y, verbose=False))
        results.append((bug, *out))
        if verbose:
            report(i, bug, *out)
    return results


def report(i: int, bug: Bug, broken, correct) -> None:
    print(f"\n{i}. {bug.title}\n")
    print(broken)
    for row in broken.failures:
        index, a, n = row.worst
        ratio = f", analytic / numeric = {a / n:.4g}" if n else ""
        print(f"  worst entry of {row.layer}.{row.param} at {index}: analytic - numeric = "
              f"{a - n:.4g}{ratio}")
    caught = {(r.layer, r.param) for r in broken.failures}
    print(f"  how to read it: {bug.reading}")
    print(f"  caught: {'yes' if caught == bug.caught else 'NO'} "
          f"({', '.join(f'{layer}.{p}' for layer, p in sorted(caught))}); "
          f"the correct copy: {'passes' if correct.passed else 'FAILS'}")


# ----- what gradcheck cannot see: Adam without bias correction -----------------------------------


class BatchLosses(keras.callbacks.Callback):
    """Each batch's own loss, from the running mean fit logs (batches of equal size)."""

    def on_train_begin(self, logs=None):
        self.losses = []

    def on_epoch_begin(self, epoch, logs=None):
        self.total = 0.0

    def on_train_batch_end(self, batch, logs=None):
        total = logs["loss"] * (batch + 1)
        self.losses.append(total - self.total)
        self.total = total


def adam_curves(x, y, learning_rates=(1e-3, 3e-3, 1e-2), steps: int = 300,
                batch_size: int = 64):
    """Per-step training loss with TextbookAdam and AdamWithoutBiasCorrection, same start."""
    x, y = x[:steps * batch_size], y[:steps * batch_size]
    curves = {}
    for lr in learning_rates:
        for opt in (TextbookAdam, AdamWithoutBiasCorrection):
            keras.utils.set_random_seed(0)
            model = keras.Sequential([
                keras.Input((28, 28)), layers.Flatten(),
                layers.Dense(256, activation="relu"), layers.Dense(128, activation="relu"),
                layers.Dense(10, activation="softmax")])
            model.compile(optimizer=opt(learning_rate=lr), loss="sparse_categorical_crossentropy")
            record = BatchLosses()
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[record])
            curves[lr, opt.__name__] = np.array(record.losses)
    return curves


def plot_adam(curves: dict, path=None) -> Figure:
    """Loss per step, correct vs without bias correction, one panel per learning rate, and the
    factor by which the uncorrected steps are too large."""
    rates = sorted({lr for lr, _ in curves})
    fig = Figure(figsize=(11, 8))
    axes = fig.subplots(2, 2).ravel()
    for ax, lr in zip(axes, rates, strict=False):
        for name, style in (("TextbookAdam", "-"), ("AdamWithoutBiasCorrection", "--")):
            loss = curves[lr, name]
            ax.plot(np.arange(1, len(loss) + 1), loss, style, lw=1, label=name)
        ax.set(title=f"learning rate {lr:g}", xlabel="step (log scale)", ylabel="batch loss",
               xscale="log", yscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    t = np.arange(1, 10001)
    axes[-1].plot(t, (1 - 0.9**t) / np.sqrt(1 - 0.999**t))
    axes[-1].axhline(1, color="gray", lw=0.8)
    axes[-1].set(xscale="log", xlabel="step t (log scale)",
                 title="why: uncorrected step / corrected step",
                 ylabel="(1 - beta_1**t) / sqrt(1 - beta_2**t)")
    axes[-1].grid(alpha=0.3)
    fig.suptitle("Adam without bias correction (dashed): every gradient right, the first steps "
                 "3 to 6.6 times too large")
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    return fig


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plot", type=Path, help="train with both Adams, save the curves here")
    args = p.parse_args(argv)
    results = run_gallery()
    caught = sum(bug.caught == {(r.layer, r.param) for r in broken.failures} and correct.passed
                 for bug, broken, correct in results)
    print(f"\n{caught} of {len(results)} bugs caught by gradcheck, naming the failing "
          "parameters; every correct copy passes.")
    print("\n7. Adam without bias correction: gradcheck checks gradients, and every gradient "
          "is right.")
    x, y = batch()
    keras.utils.set_random_seed(7)
    model = _model(CopyOfDense(5, activation="tanh", name="hidden"), CrossEntropy())
    model.compile(optimizer=AdamWithoutBiasCorrection(), loss=CrossEntropy())
    print(f"   gradcheck on a model compiled with it: "
          f"{'passes' if keras.gradcheck(model, x, y, verbose=False).passed else 'FAILS'}.")
    w, g = np.zeros(1), [np.array([0.5])]
    AdamWithoutBiasCorrection(learning_rate=0.01).apply(g, [w])
    print(f"   Its first step is {abs(w[0]) / 0.01:.2f} x lr instead of 1.00 x lr (the factor "
          "peaks near 6.6 at step 12 and fades over thousands of steps).")
    if args.plot:
        (x, y), _ = keras.datasets.fashion_mnist.load_data()
        curves = adam_curves(x / np.float32(255), y)
        for (lr, name), loss in curves.items():
            print(f"   lr {lr:g} {name:<26} loss at steps 1-10: max {loss[:10].max():.2f}; "
                  f"mean of the last 50 steps {loss[-50:].mean():.3f}")
        plot_adam(curves, args.plot)
        print(f"   training curves saved to {args.plot}")
    return results


if __name__ == "__main__":
    main()
