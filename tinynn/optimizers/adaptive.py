"""Per-weight step sizes from accumulated squared gradients: RMSprop, Adagrad and Adadelta,
with Keras 3's formulas and defaults."""

import numpy as np

from tinynn import backend
from tinynn.optimizers.base import Optimizer


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
        name: Defaults to "rmsprop".
        **kwargs: the common arguments of `Optimizer` (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            gradient_accumulation_steps).
    """

    slot_names = ("velocities", "average_gradients", "momentums")

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, name: str = "rmsprop",
                 **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
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


class Adagrad(Optimizer):
    """Adagrad (Duchi et al. 2011), as in Keras 3: each weight's step shrinks with the sum of
    all its squared gradients so far.

        a += g**2
        w -= lr * g / sqrt(a + epsilon)

    The accumulators start at initial_accumulator_value, rounded to float32 as Keras's
    Constant initializer does, even for float64 weights.

    Args:
        learning_rate: Defaults to 0.001.
        initial_accumulator_value: the accumulators' starting value, >= 0. Defaults to 0.1.
        epsilon: added inside the root. Defaults to 1e-7.
        name: Defaults to "adagrad".
        **kwargs: the common arguments of `Optimizer`.
    """

    slot_names = ("accumulators",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, name: str = "adagrad", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not initial_accumulator_value >= 0:
            raise ValueError("Adagrad expected initial_accumulator_value >= 0, got "
                             f"initial_accumulator_value={initial_accumulator_value!r}.")
        if not epsilon > 0:
            raise ValueError(f"Adagrad expected a positive epsilon, got epsilon={epsilon!r}.")
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}

    def build(self, variables):
        super().build(variables)
        for a in self.accumulators:
            a[...] = np.float32(self.initial_accumulator_value)

    def update_step(self, grads, variables, slots):
        f = variables[0].dtype.type
        backend.ops().adagrad_update(variables, grads, slots["accumulators"],
                                     f(self.learning_rate), f(self.epsilon))


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012), as in Keras 3: the step's scale is the running RMS of past
    steps over the running RMS of gradients, times lr:

        a = rho * a + (1 - rho) * g**2
        delta = -sqrt(d + epsilon) * g / sqrt(a + epsilon)
        d = rho * d + (1 - rho) * delta**2
        w += lr * delta

    Args:
        learning_rate: Defaults to 0.001 (Keras's default; the paper uses 1.0).
        rho: decay of both running averages. Defaults to 0.95.
        epsilon: added inside both roots. Defaults to 1e-7.
        name: Defaults to "adadelta".
        **kwargs: the common arguments of `Optimizer`.
    """

    slot_names = ("accumulated_grads", "accumulated_delta_vars")

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 name: str = "adadelta", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not 0 <= rho < 1:
            raise ValueError(f"Adadelta expected rho in [0, 1), got rho={rho!r}.")
        if not epsilon > 0:
            raise ValueError(f"Adadelta expected a positive epsilon, got epsilon={epsilon!r}.")
        self.rho, self.epsilon = float(rho), float(epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}

    def update_step(self, grads, variables, slots):
        f = variables[0].dtype.type
        backend.ops().adadelta_update(variables, grads, slots["accumulated_grads"],
                                      slots["accumulated_delta_vars"], f(self.learning_rate),
                                      f(self.rho), f(1 - self.rho), f(self.epsilon))
