"""The Adam family: Adam (and AMSGrad), AdamW, Nadam and Adamax, with Keras 3's formulas and
defaults. All keep a running mean m of the gradient and a running scale of its size."""

import numpy as np

from tinynn import backend
from tinynn.optimizers.base import Optimizer


def _check_betas(cls: str, beta_1, beta_2, epsilon) -> None:
    for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
        if not 0 <= beta < 1:
            raise ValueError(f"{cls} expected {name} in [0, 1), got {name}={beta!r}.")
    if not epsilon > 0:
        raise ValueError(f"{cls} expected a positive epsilon, got epsilon={epsilon!r}.")


def _float32_power(beta: float, t: int, f):
    """beta**t as Keras computes it: beta rounded to float32 (ops.cast), then in f."""
    return np.power(f(np.float32(beta)), f(t))


class Adam(Optimizer):
    """Adam, in Keras 3's form (bias correction folded into the step size):

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g**2 - v) * (1 - beta_2)
        w -= m * alpha / (sqrt(v) + epsilon)

    amsgrad=True divides by the largest v seen so far instead: v_hat = max(v_hat, v),
    w -= m * alpha / (sqrt(v_hat) + epsilon).

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
        amsgrad: Defaults to False.
        name: Defaults to "adam".
        **kwargs: the common arguments of `Optimizer` (weight_decay, clipnorm, clipvalue,
            global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency,
            gradient_accumulation_steps).
    """

    slot_names = ("momentums", "velocities")

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, name: str = "adam", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        _check_betas(type(self).__name__, beta_1, beta_2, epsilon)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        if self.amsgrad:
            self.slot_names = (*type(self).slot_names, "velocity_hats")

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}

    def step_size(self, dtype) -> np.floating:
        """alpha_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) for the step about to be taken."""
        f = np.dtype(dtype).type
        t = self.iterations + 1
        return f(self.learning_rate) * np.sqrt(1 - _float32_power(self.beta_2, t, f)) / (
            1 - _float32_power(self.beta_1, t, f))

    def update_step(self, grads, variables, slots):
        dtype = variables[0].dtype
        f = dtype.type
        args = (self.step_size(dtype), f(1 - self.beta_1), f(1 - self.beta_2), f(self.epsilon))
        if self.amsgrad:
            backend.ops().amsgrad_update(variables, grads, slots["momentums"],
                                         slots["velocities"], slots["velocity_hats"], *args)
        else:
            backend.ops().adam_update(variables, grads, slots["momentums"], slots["velocities"],
                                      *args)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): before each Adam step,

        w -= w * weight_decay * lr

    then the Adam update of `Adam` (the decay never enters m or v). This is the base class's
    weight_decay, on by default.

    Args:
        learning_rate: Defaults to 0.001.
        weight_decay: Defaults to 0.004.
        beta_1: Defaults to 0.9.
        beta_2: Defaults to 0.999.
        epsilon: Defaults to 1e-7.
        amsgrad: Defaults to False.
        name: Defaults to "adam_w" (Keras's name).
        **kwargs: the common arguments of `Optimizer`.
    """

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 name: str = "adam_w", **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW expected weight_decay to be a float, got None (use Adam "
                             "for no weight decay).")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name=name,
                         weight_decay=weight_decay, **kwargs)


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum, Dozat 2016), as in Keras 3. With the momentum
    schedule u_t = beta_1 * (1 - 0.5 * 0.96**t) and its running product U_t = u_1 ... u_t:

        m += (g - m) * (1 - beta_1);   v += (g**2 - v) * (1 - beta_2)
        m_hat = u_{t+1} m / (1 - U_t u_{t+1}) + (1 - u_t) g / (1 - U_t)
        v_hat = v / (1 - beta_2**t)
        w -= lr * m_hat / (sqrt(v_hat) + epsilon)

    Like Keras, u_t, u_{t+1}, beta_2**t and (1 - beta) use beta_1, beta_2 and 0.96 rounded to
    float32, while the running product U_t (the slot `u_product`, saved with the model) uses
    them unrounded.

    Args:
        learning_rate: Defaults to 0.001.
        beta_1: Defaults to 0.9.
        beta_2: Defaults to 0.999.
        epsilon: Defaults to 1e-7.
        name: Defaults to "nadam".
        **kwargs: the common arguments of `Optimizer`.
    """

    slot_names = ("momentums", "velocities")
    state_names = ("u_product",)

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "nadam", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        _check_betas("Nadam", beta_1, beta_2, epsilon)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}

    def build(self, variables):
        super().build(variables)
        self.u_product = [np.ones((), dtype=variables[0].dtype if variables else np.float32)]

    def _update_step_all(self, grads, variables):
        """U_t = U_{t-1} * beta_1 * (1 - 0.5 * 0.96**t), once per step, before the updates."""
        u = self.u_product[0]
        f = u.dtype.type
        u[...] = u * f(self.beta_1) * (1.0 - 0.5 * np.power(f(0.96), f(self.iterations + 1)))
        super()._update_step_all(grads, variables)

    def update_step(self, grads, variables, slots):
        f = variables[0].dtype.type
        t = f(self.iterations + 1)
        decay, beta_1, beta_2 = (f(np.float32(x)) for x in (0.96, self.beta_1, self.beta_2))
        u_t = beta_1 * (1.0 - 0.5 * np.power(decay, t))
        u_t_1 = beta_1 * (1.0 - 0.5 * np.power(decay, t + 1))
        u_product_t = f(self.u_product[0])
        backend.ops().nadam_update(variables, grads, slots["momentums"], slots["velocities"],
                                   f(self.learning_rate), 1 - beta_1, 1 - beta_2, u_t, u_t_1,
                                   u_product_t, u_product_t * u_t_1, np.power(beta_2, t),
                                   f(self.epsilon))


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm, Kingma & Ba), as in Keras 3:

        m += (g - m) * (1 - beta_1)
        u = max(beta_2 * u, |g|)
        w -= lr * m / ((1 - beta_1**t) * (u + epsilon))

    Like Keras, beta_1**t uses beta_1 rounded to float32, even for float64 weights.

    Args:
        learning_rate: Defaults to 0.001.
        beta_1: Defaults to 0.9.
        beta_2: decay of the norm u. Defaults to 0.999.
        epsilon: Defaults to 1e-7.
        name: Defaults to "adamax".
        **kwargs: the common arguments of `Optimizer`.
    """

    slot_names = ("momentums", "norms")

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, name: str = "adamax", **kwargs):
        super().__init__(learning_rate, name=name, **kwargs)
        _check_betas("Adamax", beta_1, beta_2, epsilon)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}

    def update_step(self, grads, variables, slots):
        f = variables[0].dtype.type
        beta_1_power = _float32_power(self.beta_1, self.iterations + 1, f)
        backend.ops().adamax_update(variables, grads, slots["momentums"], slots["norms"],
                                    f(self.learning_rate), f(1 - self.beta_1), f(self.beta_2),
                                    1 - beta_1_power, f(self.epsilon))
