"""Optimizers with Keras 3's update formulas and defaults. The optimizer owns the update.

`apply(grads, trainable_variables)` updates each variable array in place, as in Keras.
Per-variable state (Adam's moments, RMSprop's mean squares, SGD's momentum) is created on the
first call and kept by position in the list, so the model passes its weights in the same order
every step (Keras's weight order). One call updates all of them: the backend receives the whole
lists (the numba backend updates every weight in one compiled call).
"""

import numpy as np

from tinynn import backend


class Optimizer:
    """Base class: counts steps in `iterations` and keeps the per-weight state ("slots").

    An optimizer has no forward or backward pass of its own: it consumes the gradients g = dL/dw
    that the layers' backward passes wrote, and its formula is the update w <- w - step(g).
    A subclass names its slots in `slot_names` (each a list with one array per weight, shaped
    like it), lists its hyperparameters in `get_config`, and writes `update_step`.

    Args:
        learning_rate: the step size.
        name: Defaults to the class's Keras name.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float, name: "str | None" = None):
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
                or not learning_rate > 0:
            raise ValueError(
                f"{type(self).__name__} expected a positive learning_rate, got {learning_rate!r}."
            )
        self.learning_rate = float(learning_rate)
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self.built = False
        self._shapes: list[tuple] = []

    def build(self, variables: list[np.ndarray]) -> None:
        """Create the slots: for each slot name, one zero array per variable."""
        self._shapes = [v.shape for v in variables]
        self._dtypes = [v.dtype for v in variables]
        for slot in self.slot_names:
            setattr(self, slot, [np.zeros_like(v) for v in variables])
        # update_step runs once per dtype (once, for a model in one floatx)
        groups: dict = {}
        for i, v in enumerate(variables):
            groups.setdefault(v.dtype, []).append(i)
        self._groups = list(groups.values())
        self.built = True

    def apply(self, grads: list[np.ndarray], trainable_variables: "list[np.ndarray] | None" = None
              ) -> None:
        """One step, as Keras's `optimizer.apply(grads, trainable_variables)`: update every
        variable in place from its gradient, then count the step."""
        if trainable_variables is None:
            raise ValueError(f"{type(self).__name__}.apply needs trainable_variables (tinynn "
                             "optimizers are not attached to a model).")
        variables, grads = list(trainable_variables), list(grads)
        if not self.built:
            self.build(variables)
        if len(variables) != len(self._shapes) or len(grads) != len(variables) or any(
                v.shape != s for v, s in zip(variables, self._shapes, strict=True)):
            raise ValueError(
                f"{type(self).__name__} was built for variables shaped {self._shapes}, got "
                f"{[v.shape for v in variables]} and {len(grads)} gradients. Use a new "
                "optimizer for a different model."
            )
        for i, (g, v) in enumerate(zip(grads, variables, strict=True)):
            if g.shape != v.shape:
                raise ValueError(f"{type(self).__name__}: gradient {i} has shape {g.shape}, its "
                                 f"variable {v.shape}.")
            if g.dtype != v.dtype:
                grads[i] = g.astype(v.dtype)
        if len(self._groups) == 1:
            self.update_step(grads, variables, self.slots())
        else:
            for idx in self._groups:
                self.update_step([grads[i] for i in idx], [variables[i] for i in idx],
                                 {k: [a[i] for i in idx] for k, a in self.slots().items()})
        self.iterations += 1

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras's spelling: `apply_gradients(zip(grads, trainable_variables))`."""
        grads, variables = zip(*grads_and_vars, strict=True)
        self.apply(list(grads), list(variables))

    def update_step(self, grads: list, variables: list, slots: dict) -> None:
        """Update `variables` (one dtype) in place; `slots[name]` are their state arrays."""
        raise NotImplementedError

    def slots(self) -> dict[str, list[np.ndarray]]:
        """{slot name: one state array per variable}; empty before the first step."""
        return {k: getattr(self, k) for k in self.slot_names} if self.built else {}

    @property
    def variables(self) -> list[np.ndarray]:
        """All state arrays, slot by slot (Keras's `optimizer.variables`, without the counters)."""
        return [a for arrays in self.slots().values() for a in arrays]

    def get_config(self) -> dict:
        """The constructor arguments (Keras's names), so `from_config` makes a twin."""
        return {"name": self.name, "learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        return cls(**config)


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

    slot_names = ("velocities",)

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str = "SGD"):
        super().__init__(learning_rate, name)
        if not 0 <= momentum <= 1:
            raise ValueError(f"SGD expected momentum in [0, 1], got momentum={momentum!r}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def update_step(self, grads, variables, slots):
        f = variables[0].dtype.type
        momentum = f(np.float32(self.momentum))  # Keras: ops.cast(momentum) goes via float32
        backend.ops().sgd_update(variables, grads, slots["velocities"], f(self.learning_rate),
                                 momentum, self.nesterov)


class Adam(Optimizer):
    """Adam, in Keras 3's form (bias correction folded into the step size):

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g**2 - v) * (1 - beta_2)
        w -= m * alpha / (sqrt(v) + epsilon)

    This is the paper's "efficient version" (Kingma & Ba, end of section 2): the paper's main
    algorithm divides m_hat = m / (1 - beta_1**t) by sqrt(v_hat) + epsilon with
    v_hat = v / (1 - beta_2**t); folding both corrections into alpha moves epsilon outside the
    correction, so Keras's `epsilon` is the paper's epsilon-hat, equal to
    epsilon * sqrt(1 - beta_2**t) of the main algorithm. It matters only for gradients near
    epsilon in size. At the first step |w_new - w| = lr * |g| / (|g| + epsilon / sqrt(1 - beta_2))
    (epsilon / sqrt(1 - beta_2) = 3.2e-6 with the defaults): about lr for |g| >> 3e-6, 0.24 lr at
    |g| = 1e-6 and 0 at g = 0.

    Like Keras, the powers beta**t use beta rounded to float32, even for float64 weights.

    Args:
        learning_rate: Defaults to 0.001.
        beta_1: decay of the first moment. Defaults to 0.9.
        beta_2: decay of the second moment. Defaults to 0.999.
        epsilon: added to sqrt(v) (the paper's epsilon-hat). Defaults to 1e-7.
    """

    slot_names = ("momentums", "velocities")

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "adam"):
        super().__init__(learning_rate, name)
        for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= beta < 1:
                raise ValueError(f"Adam expected {name} in [0, 1), got {name}={beta!r}.")
        if not epsilon > 0:
            raise ValueError(f"Adam expected a positive epsilon, got epsilon={epsilon!r}.")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}

    def step_size(self, dtype) -> np.floating:
        """alpha_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) for the step about to be taken."""
        f = np.dtype(dtype).type
        t = f(self.iterations + 1)
        beta_1_power = np.power(f(np.float32(self.beta_1)), t)
        beta_2_power = np.power(f(np.float32(self.beta_2)), t)
        return f(self.learning_rate) * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)

    def update_step(self, grads, variables, slots):
        dtype = variables[0].dtype
        f = dtype.type
        backend.ops().adam_update(variables, grads, slots["momentums"], slots["velocities"],
                                  self.step_size(dtype), f(1 - self.beta_1), f(1 - self.beta_2),
                                  f(self.epsilon))


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

    slot_names = ("velocities", "average_gradients", "momentums")

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, name: str = "rmsprop"):
        super().__init__(learning_rate, name)
        if not 0 <= rho < 1:
            raise ValueError(f"RMSprop expected rho in [0, 1), got rho={rho!r}.")
        if not 0 <= momentum < 1:
            raise ValueError(f"RMSprop expected momentum in [0, 1), got momentum={momentum!r}.")
        if not epsilon > 0:
            raise ValueError(f"RMSprop expected a positive epsilon, got epsilon={epsilon!r}.")
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}

    def update_step(self, grads, variables, slots):
        """Keras's slot names. All three are kept (zeros when unused), so that saved models
        always hold the same arrays."""
        f = variables[0].dtype.type
        backend.ops().rmsprop_update(variables, grads, slots["velocities"],
                                     slots["average_gradients"], slots["momentums"],
                                     f(self.learning_rate), f(self.rho), f(1 - self.rho),
                                     f(self.epsilon), f(self.momentum), self.centered)


def _all_optimizers() -> dict[str, type]:
    """Every Optimizer subclass defined in this module, by lower-case class name."""
    return {name.lower(): cls for name, cls in globals().items()
            if isinstance(cls, type) and issubclass(cls, Optimizer) and cls is not Optimizer}


def get(identifier) -> Optimizer:
    """Resolve an optimizer given by name (Keras defaults) or as an object."""
    if isinstance(identifier, Optimizer):
        return identifier
    known = _all_optimizers()
    if isinstance(identifier, str) and identifier.lower() in known:
        return known[identifier.lower()]()
    raise ValueError(
        f"Unknown optimizer {identifier!r}. Known optimizers: {', '.join(sorted(known))} "
        "(or an instance such as tinynn.optimizers.Adam(learning_rate=5e-4))."
    )
