"""Momentum methods: SGD (plain, momentum, Nesterov) and Lion (the sign of an interpolated
momentum), with Keras 3's formulas and defaults."""

import numpy as np

from tinynn import backend
from tinynn.optimizers.base import Optimizer


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
        name: Defaults to "SGD".
        **kwargs: the common arguments of `Optimizer` (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            gradient_accumulation_steps).
    """

    slot_names = ("velocities",)

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False,
                 name: str = "SGD", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
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


class Lion(Optimizer):
    """Lion (evoLved sign momentum, Chen et al. 2023), as in Keras 3: every weight moves by
    exactly lr in the direction of the sign of an interpolation of momentum and gradient:

        w -= lr * sign(beta_1 * m + (1 - beta_1) * g)
        m = beta_2 * m + (1 - beta_2) * g

    Like Keras, beta_1 and beta_2 are rounded to float32 before use, even for float64 weights.
    Its steps are larger than Adam's: Keras suggests a learning rate 3-10x smaller.

    Args:
        learning_rate: Defaults to 0.001.
        beta_1: the interpolation used for the step, in (0, 1]. Defaults to 0.9.
        beta_2: the decay of the momentum. Defaults to 0.99.
        name: Defaults to "lion".
        **kwargs: the common arguments of `Optimizer`.
    """

    slot_names = ("momentums",)

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.99,
                 name: str = "lion", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        if not 0 < beta_1 <= 1:
            raise ValueError(f"Lion expected beta_1 in (0, 1] (otherwise it degenerates to "
                             f"SignSGD), got beta_1={beta_1!r}.")
        if not 0 <= beta_2 <= 1:
            raise ValueError(f"Lion expected beta_2 in [0, 1], got beta_2={beta_2!r}.")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}

    def update_step(self, grads, variables, slots):
        f = variables[0].dtype.type
        beta_1, beta_2 = f(np.float32(self.beta_1)), f(np.float32(self.beta_2))
        backend.ops().lion_update(variables, grads, slots["momentums"], f(self.learning_rate),
                                  beta_1, beta_2)
