"""Gradient checking: is every analytic gradient what calculus says it is?

For a scalar loss L(theta) the central difference

    dL/dtheta_i ~ (L(theta + h e_i) - L(theta - h e_i)) / 2h        (error O(h**2))

needs nothing but forward passes. `gradcheck` computes it, in float64, for (a sample of) the
entries of every parameter and compares it with what `backward` wrote into `layer.grads`:

    import tinynn as keras
    result = keras.gradcheck(model, x_batch, y_batch)   # prints a table, one row per parameter
    assert result.passed, result

The scalar being differentiated:
  * a `Sequential`: the model's compiled loss, the mean over the batch, exactly what `fit` uses;
  * a single layer: L = sum(Y * R) for a fixed random R (or `y` if given), so dL/dY = R is the
    upstream gradient fed to `backward`; the layer's input gradient dX is checked too.

The check never changes the caller's model: it runs on a float64 twin rebuilt from the model's
(or layer's) config with the same weights. For a model, the analytic gradients are read from
`model.gradients`, the very arrays `fit` hands to the optimizer, so a backward pass that leaves
its result anywhere else fails the check.
Random layers (Dropout, GaussianNoise, GaussianDropout: any layer with its own generator
`_rng`) are checked in training mode with *frozen noise*: before every forward pass each gets a
fresh generator with the same seed, so all 2k + 1 passes draw the same mask (a gradient only
exists for fixed noise). Pass `training=False` to check the inference path.
"""

from dataclasses import dataclass

import numpy as np

from tinynn import config, utils
from tinynn.layers import Layer


def numerical_grad(f, X: np.ndarray, h: float = 1e-6, entries=None) -> np.ndarray:
    """Central differences dL/dX_i = (f() at X_i + h  -  f() at X_i - h) / 2h, X changed in place.

    Args:
        f: a function of no arguments returning the scalar loss, reading X.
        X: the array to differentiate against; each entry is restored after its two evaluations.
        h: the step. Defaults to 1e-6 (good for float64).
        entries: flat indices to differentiate; the others stay 0. Defaults to all of them.
    """
    G = np.zeros_like(X, dtype=np.float64)
    flat, g = X.reshape(-1), G.reshape(-1)
    if not np.shares_memory(flat, X):
        raise ValueError("numerical_grad needs a contiguous array it can perturb in place.")
    for i in range(X.size) if entries is None else entries:
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        g[i] = (up - down) / (2 * h)
    return G


def passes(analytic, numeric, rtol: float = 1e-5, atol: float = 1e-7) -> np.ndarray:
    """The pass rule of every gradient check in tinynn, entry by entry:

        |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)

    Symmetric in the two gradients (neither is privileged as "the truth"); atol absorbs the
    central difference's rounding error where both are near 0.
    """
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    return np.abs(analytic - numeric) <= atol + rtol * scale


def assert_grad_close(analytic, numeric, name: str, rtol: float = 1e-5, atol: float = 1e-7):
    """Fail with the parameter name and the worst index when the gradients disagree (the rule of
    `passes`)."""
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    err = np.abs(analytic - numeric) - (atol + rtol * scale)
    if (err > 0).any():
        i = np.unravel_index(np.argmax(err), err.shape)
        raise AssertionError(
            f"gradient of {name} wrong at index {i}: analytic {analytic[i]:.8g}, "
            f"numeric {numeric[i]:.8g} (max abs diff {np.abs(analytic - numeric).max():.3g})"
        )


@dataclass
class GradcheckRow:
    """One parameter's verdict. `worst` is (index, analytic, numeric) of its worst entry."""

    layer: str
    param: str
    shape: tuple
    checked: int
    max_abs_err: float
    max_rel_err: float
    passed: bool
    worst: tuple


@dataclass
class GradcheckResult:
    """All rows, the settings used, and `passed` (True when every row passed)."""

    rows: list[GradcheckRow]
    h: float
    rtol: float
    atol: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def failures(self) -> list[GradcheckRow]:
        return [r for r in self.rows if not r.passed]

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        head = ("layer", "param", "shape", "checked", "max abs err", "max rel err", "result")
        cells = [(r.layer, r.param, str(r.shape), f"{r.checked}/{int(np.prod(r.shape))}",
                  f"{r.max_abs_err:.2e}", f"{r.max_rel_err:.2e}", "ok" if r.passed else "FAIL")
                 for r in self.rows]
        widths = [max(len(c[j]) for c in [head, *cells]) for j in range(len(head))]
        lines = [f"gradcheck (float64 central differences, h={self.h:g}; an entry passes when "
                 f"|analytic - numeric| <= {self.atol:g} + {self.rtol:g} * "
                 "max(|analytic|, |numeric|))",
                 "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in cells]
        for r in self.failures:
            index, a, n = r.worst
            lines.append(f"  {r.layer}.{r.param}: worst entry {index}: analytic {a:.8g}, "
                         f"numeric {n:.8g}")
        n_fail = len(self.failures)
        lines.append(f"all {len(self.rows)} gradients pass" if not n_fail
                     else f"{n_fail} of {len(self.rows)} gradients FAIL")
        return "\n".join(lines)


def _compare(layer, param, analytic, numeric, entries, rtol, atol) -> GradcheckRow:
    """Errors over the checked entries only (relative error ignores entries below atol)."""
    a, n = np.reshape(analytic, -1)[entries], numeric.reshape(-1)[entries]
    diff = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    big = scale > atol
    rel = float((diff[big] / scale[big]).max()) if big.any() else 0.0
    excess = diff - (atol + rtol * scale)
    k = int(np.argmax(excess))
    index = tuple(int(i) for i in np.unravel_index(entries[k], numeric.shape))
    return GradcheckRow(layer, param, tuple(numeric.shape), len(entries), float(diff.max()), rel,
                        bool(passes(a, n, rtol, atol).all()), (index, float(a[k]), float(n[k])))


def gradcheck(model_or_layer, x, y=None, *, training: bool = True, h: float = 1e-6,
              rtol: float = 1e-5, atol: float = 1e-7, max_entries: "int | None" = 200,
              seed: int = 0, verbose: bool = True) -> GradcheckResult:
    """Compare every analytic gradient with a float64 central difference.

    Args:
        model_or_layer: a compiled `Sequential` (its loss is used) or a single layer.
        x: one batch of inputs, e.g. shape (N, 28, 28). Keep N small: each checked entry costs
            two forward passes.
        y: for a model, the targets its loss takes (integer labels (N,) for sparse
            cross-entropy, else values shaped like the output). For a layer, the upstream
            gradient dY (the shape of the layer's output); defaults to a random one drawn from
            `seed`.
        training: run the training-mode forward (random layers with frozen noise). Defaults
            to True.
        h: the central-difference step. Defaults to 1e-6.
        rtol, atol: an entry passes when |analytic - numeric| <= atol + rtol * max(|analytic|,
            |numeric|). Defaults to 1e-5 and 1e-7.
        max_entries: check at most this many entries of each parameter, drawn at random from
            `seed`; None checks all. Defaults to 200.
        seed: seeds the entry sample, the layer read-out and the frozen noise.
            Defaults to 0.
        verbose: print the table. Defaults to True.

    Returns:
        A `GradcheckResult`: `.rows` (one per parameter), `.passed`, `.failures`; print it for
        the table.
    """
    is_model = hasattr(model_or_layer, "layers") and hasattr(model_or_layer, "_backward")
    if not is_model and not isinstance(model_or_layer, Layer):
        raise TypeError(f"gradcheck expected a Sequential or a layer, got {model_or_layer!r}.")
    if is_model and y is None:
        raise ValueError("gradcheck(model, x, y) needs y, the targets of the batch x.")
    if is_model and model_or_layer.loss is None:
        raise ValueError("gradcheck differentiates the model's loss: call model.compile("
                         "loss='sparse_categorical_crossentropy') first.")
    X = np.array(x, dtype=np.float64)  # a contiguous float64 copy we may perturb
    if X.ndim < 2:
        raise ValueError(f"gradcheck expected a batch of inputs (N, ...), got shape {X.shape}.")
    if not model_or_layer.built:  # like calling it on x for the first time
        model_or_layer.build((None, *X.shape[1:]))
        model_or_layer.built = True
    twin = _float64_twin(model_or_layer, X.shape)
    layers = twin.layers if is_model else [twin]
    rows = _check(twin, layers, X, y, is_model, training, h, rtol, atol, max_entries, seed)
    result = GradcheckResult(rows, h, rtol, atol)
    if verbose:
        print(result)
    return result


def _rebuilt(layer):
    """A new layer of the same class from `get_config()` (in the current floatx)."""
    try:
        return type(layer).from_config(layer.get_config())
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"gradcheck rebuilds layer '{layer.name}' in float64 from its config, and "
            f"{type(layer).__name__}.from_config(get_config()) failed ({e}). List the "
            "constructor's arguments in get_config(), as Keras requires for saving."
        ) from e


def _float64_twin(original, input_shape):
    """A float64 copy of a model or layer, rebuilt from its config, with the same weights.

    The caller's object is never touched: not its weights, gradients, cached values, nor the
    global random generator (a rebuilt random layer draws its seed from it; the state is put
    back).
    """
    state = utils.rng().bit_generator.state
    previous = config.floatx()
    config.set_floatx("float64")
    try:
        if hasattr(original, "layers"):
            twin = type(original)([_rebuilt(layer) for layer in original.layers],
                                  name=original.name)
        else:
            twin = _rebuilt(original)
        twin.build((None, *input_shape[1:]))
        twin.built = True
    finally:
        config.set_floatx(previous)
        utils.rng().bit_generator.state = state
    twin.set_weights([w.astype(np.float64) for w in original.get_weights()])
    if hasattr(original, "layers"):
        twin.compile(optimizer="sgd", loss=original.loss)
    else:
        twin.compute_input_grad = True  # a layer may skip dX when first in a model
    return twin


def _check(model, layers, X, y, is_model, training, h, rtol, atol, max_entries, seed):
    rng = np.random.default_rng(seed)
    noise_seeds = [int(rng.integers(2**31)) for _ in layers]

    def forward():
        for layer, s in zip(layers, noise_seeds, strict=True):
            if isinstance(getattr(layer, "_rng", None), np.random.Generator):
                layer._rng = np.random.default_rng(s)  # the same noise on every pass
        return model._forward(X, training) if is_model else model.forward(X, training=training)

    if is_model:
        labels = model._as_targets(y, X.shape[0])  # checked and converted as fit does

        def loss():  # the loss fit differentiates: the per-sample values, reduced
            return float(np.sum(model.loss.reduce_values(model._loss_values(forward(), labels))))

        model._backward(forward(), labels)  # analytic: grads of the mean loss, as in fit
        # exactly the arrays `fit` hands to the optimizer, paired with the weights it updates
        names = [(layer.name, k) for layer in layers if layer.trainable for k in layer.grads]
        analytic = [(name, k, g, w) for (name, k), g, w
                    in zip(names, model.gradients, model.trainable_weights, strict=True)]
    else:
        Y = forward()
        R = rng.normal(size=Y.shape) if y is None else np.asarray(y, dtype=np.float64)
        if R.shape != Y.shape:
            raise ValueError(f"gradcheck: y is the upstream gradient dY and must have the "
                             f"layer's output shape {Y.shape}, got {R.shape}.")

        def loss():
            return float(np.sum(forward() * R))

        dX = model.backward(R)
        analytic = [(model.name, k, model.grads[k], model.params[k]) for k in model.grads]
        analytic.append((model.name, "input", dX, X))

    rows = []
    for layer_name, key, grad, p in analytic:
        n = p.size if max_entries is None else min(max_entries, p.size)
        entries = np.sort(rng.choice(p.size, size=n, replace=False))
        numeric = numerical_grad(loss, p, h, entries)
        rows.append(_compare(layer_name, key, grad, numeric, entries, rtol, atol))
    return rows
