"""Optimizers with Keras 3's update formulas and defaults. The optimizer owns the update.

`apply(params, grads)` updates each parameter array in place. Per-parameter state (Adam's
moments, RMSprop's mean squares, SGD's momentum) is created on the first call and kept by
position in the list, so the model must pass its parameters in the same order every step (it
does: Keras's weight order).
"""

import numpy as np

from tinynn import backend


class Optimizer:
    """Base class: counts steps in `iterations` and keeps one state slot per parameter.

    An optimizer has no forward or backward pass of its own: it consumes the gradients g = dL/dw
    that the layers' backward passes wrote, and its formula is the update w <- w - step(g).

    Args:
        learning_rate: the step size.
    """

    def __init__(self, learning_rate: float):
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
                or not learning_rate > 0:
            raise ValueError(
                f"{type(self).__name__} expected a positive learning_rate, got {learning_rate!r}."
            )
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self._shapes: list[tuple] | None = None

    def build(self, params: list[np.ndarray]) -> None:
        """Create the per-parameter state (called on the first `apply`)."""
        self._shapes = [p.shape for p in params]

    def apply(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """One step: update every `params[i]` in place from `grads[i]`, then count the step."""
        if self._shapes is None:
            self.build(params)
        if [p.shape for p in params] != self._shapes:
            raise ValueError(
                f"{type(self).__name__} was built for parameters shaped {self._shapes}, got "
                f"{[p.shape for p in params]}. Use a new optimizer for a different model."
            )
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.update(i, p, g)
        self.iterations += 1

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras's spelling: `apply_gradients(zip(grads, params))`."""
        grads, params = zip(*grads_and_vars, strict=True)
        self.apply(list(params), list(grads))

    def update(self, i: int, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as in Keras 3:

        plain:     w -= lr * g
        momentum:  v = momentum * v - lr * g;  w += v
        nesterov:  v = momentum * v - lr * g;  w += momentum * v - lr * g

    Like Keras, momentum is rounded to float32 before use, even for float64 weights.

    Args:
        learning_rate: Defaults to 0.01.
        momentum: in [0, 1]. Defaults to 0.
        nesterov: Defaults to False.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD expected momentum in [0, 1], got momentum={momentum!r}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def build(self, params):
        super().build(params)
        self.velocities = [np.zeros_like(p) for p in params]

    def update(self, i, p, g):
        f = p.dtype.type
        momentum = f(np.float32(self.momentum))  # Keras: ops.cast(momentum) goes via float32
        backend.ops().sgd_update(p, g, self.velocities[i], f(self.learning_rate), momentum,
                                 self.nesterov)


class Adam(Optimizer):
    """Adam, in Keras 3's form (bias correction folded into the step size):

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g**2 - v) * (1 - beta_2)
        w -= m * alpha / (sqrt(v) + epsilon)

    Like Keras, the powers beta**t use beta rounded to float32, even for float64 weights.

    Args:
        learning_rate: Defaults to 0.001.
        beta_1: decay of the first moment. Defaults to 0.9.
        beta_2: decay of the second moment. Defaults to 0.999.
        epsilon: added to sqrt(v). Defaults to 1e-7.
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        super().__init__(learning_rate)
        for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= beta < 1:
                raise ValueError(f"Adam expected {name} in [0, 1), got {name}={beta!r}.")
        if not epsilon > 0:
            raise ValueError(f"Adam expected a positive epsilon, got epsilon={epsilon!r}.")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def build(self, params):
        super().build(params)
        self.momentums = [np.zeros_like(p) for p in params]
        self.velocities = [np.zeros_like(p) for p in params]

    def step_size(self, dtype) -> np.floating:
        """alpha_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) for the step about to be taken."""
        f = np.dtype(dtype).type
        t = f(self.iterations + 1)
        beta_1_power = np.power(f(np.float32(self.beta_1)), t)
        beta_2_power = np.power(f(np.float32(self.beta_2)), t)
        return f(self.learning_rate) * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)

    def update(self, i, p, g):
        f = p.dtype.type
        backend.ops().adam_update(p, g, self.momentums[i], self.velocities[i],
                                  self.step_size(p.dtype), f(1 - self.beta_1),
                                  f(1 - self.beta_2), f(self.epsilon))


class RMSprop(Optimizer):
    """RMSprop as in Keras 3: divide the gradient by a running root mean square of its history.

        v = rho * v + (1 - rho) * g**2
        w -= lr * g / sqrt(v + epsilon)                  (Keras puts epsilon inside the root)

    centered=True also tracks the mean gradient a = rho * a + (1 - rho) * g and divides by
    sqrt(v - a**2 + epsilon), an estimate of the gradient's variance. momentum > 0 accumulates
    the steps: b = momentum * b + step; w -= b.

    Args:
        learning_rate: Defaults to 0.001.
        rho: decay of the running averages. Defaults to 0.9.
        momentum: in [0, 1). Defaults to 0.
        epsilon: added to the mean square. Defaults to 1e-7.
        centered: Defaults to False.
    """

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False):
        super().__init__(learning_rate)
        if not 0 <= rho < 1:
            raise ValueError(f"RMSprop expected rho in [0, 1), got rho={rho!r}.")
        if not 0 <= momentum < 1:
            raise ValueError(f"RMSprop expected momentum in [0, 1), got momentum={momentum!r}.")
        if not epsilon > 0:
            raise ValueError(f"RMSprop expected a positive epsilon, got epsilon={epsilon!r}.")
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def build(self, params):
        """Keras's slot names. All three are kept (zeros when unused), so that saved models
        always hold the same arrays."""
        super().build(params)
        self.velocities = [np.zeros_like(p) for p in params]
        self.average_gradients = [np.zeros_like(p) for p in params]
        self.momentums = [np.zeros_like(p) for p in params]

    def update(self, i, p, g):
        f = p.dtype.type
        backend.ops().rmsprop_update(p, g, self.velocities[i], self.average_gradients[i],
                                     self.momentums[i], f(self.learning_rate), f(self.rho),
                                     f(1 - self.rho), f(self.epsilon), f(self.momentum),
                                     self.centered)


_OPTIMIZERS = {"adam": Adam, "rmsprop": RMSprop, "sgd": SGD}


def get(identifier) -> Optimizer:
    """Resolve an optimizer given by name (Keras defaults) or as an object."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _OPTIMIZERS:
        return _OPTIMIZERS[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}. Known optimizers: {', '.join(sorted(_OPTIMIZERS))} "
        "(or an instance such as tinynn.optimizers.Adam(learning_rate=5e-4))."
    )
