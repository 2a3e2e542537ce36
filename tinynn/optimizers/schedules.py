"""Learning-rate schedules, as Keras 3's `keras.optimizers.schedules`: give one as
`learning_rate=` to any optimizer, which then uses `schedule(step)` at each step, step being
the number of updates done so far (`optimizer.iterations` before the update).

    lr = tinynn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96)
    model.compile(optimizer=tinynn.optimizers.SGD(learning_rate=lr), loss=...)

Precision, as in Keras: a schedule computes in the dtype of its `initial_learning_rate` (or of
`values[0]`): float32 for a Python number, even when the model trains in float64, and the
NumPy dtype for a NumPy scalar (`np.float64(0.1)` gives a float64 schedule). Its other numbers
are rounded to that dtype the way Keras rounds them (`ops.cast` of a Python float goes through
float32). `pow`, `cos` and `log` are computed in float64 and rounded to the schedule's dtype.
"""

import math

import numpy as np


def _keras_dtype(value) -> np.dtype:
    """The dtype Keras computes in for this number: a NumPy float keeps its own; a Python
    number becomes a float32 tensor (Keras would make an int an int32 tensor: tinynn does not)."""
    dtype = getattr(value, "dtype", None)
    return np.dtype(dtype) if dtype is not None and np.dtype(dtype).kind == "f" \
        else np.dtype(np.float32)


def _cast(value, f):
    """Keras's `ops.cast(value, dtype)`: a Python float passes through float32 on the way."""
    if isinstance(value, float) and not isinstance(value, np.floating):
        return f(np.float32(value))
    return f(value)


def _pow(x, y):
    """x ** y in float64, rounded to x's dtype."""
    return type(x)(np.power(np.float64(x), np.float64(y)))


def _cos(x):
    return type(x)(np.cos(np.float64(x)))


def _log(x):
    return type(x)(np.log(np.float64(x)))


def _positive(value, what: str, cls: str) -> None:
    if not value > 0:
        raise ValueError(f"{cls} expected {what} > 0, got {what}={value!r}.")


class LearningRateSchedule:
    """Base class: a learning rate as a function of the step, lr = schedule(step).

    A subclass writes `__call__(step)` and `get_config()` (its constructor arguments), so
    that `from_config` makes a twin and models compiled with it save and load.
    """

    def __call__(self, step):
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must "
                                  "override `__call__(self, step)`.")

    def get_config(self) -> dict:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must "
                                  "override `get_config()` in order to be serializable.")

    @classmethod
    def from_config(cls, config: dict) -> "LearningRateSchedule":
        return cls(**config)


class ExponentialDecay(LearningRateSchedule):
    """lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)

    With staircase=True the exponent is floor(step / decay_steps): the rate drops in steps.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: steps over which the rate is multiplied by decay_rate; > 0.
        decay_rate: the factor per decay_steps.
        staircase: Defaults to False.
        name: Defaults to "ExponentialDecay".
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        _positive(decay_steps, "decay_steps", "ExponentialDecay")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        f = _keras_dtype(self.initial_learning_rate).type
        p = f(step) / _cast(self.decay_steps, f)
        if self.staircase:
            p = np.floor(p)
        return f(self.initial_learning_rate) * _pow(_cast(self.decay_rate, f), p)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)

    With staircase=True, step / decay_steps is rounded down.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: > 0.
        decay_rate: how fast the rate falls.
        staircase: Defaults to False.
        name: Defaults to "InverseTimeDecay".
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        _positive(decay_steps, "decay_steps", "InverseTimeDecay")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        f = _keras_dtype(self.initial_learning_rate).type
        p = f(step) / _cast(self.decay_steps, f)
        if self.staircase:
            p = np.floor(p)
        return f(self.initial_learning_rate) / (f(1) + _cast(self.decay_rate, f) * p)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """lr(step) = values[0] for step <= boundaries[0], values[i] for
    boundaries[i-1] < step <= boundaries[i], values[-1] for step > boundaries[-1].

    Args:
        boundaries: increasing steps; Keras compares the step with them as integers (a
            float boundary is truncated).
        values: one more than boundaries: the rate in each interval.
        name: Defaults to "PiecewiseConstant".
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "PiecewiseConstantDecay expected one more value than boundaries, got "
                f"boundaries={boundaries} of length {len(boundaries)} and values={values} of "
                f"length {len(values)}.")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        f = _keras_dtype(self.values[0]).type
        step = int(step)
        i = sum(step > int(b) for b in self.boundaries)  # the interval the step falls in
        return f(_keras_dtype(self.values[i]).type(self.values[i]))

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """lr(step) = (initial_learning_rate - end_learning_rate) * (1 - step / decay_steps) ** power
    + end_learning_rate, with step capped at decay_steps (the rate then stays at the end value).

    With cycle=True, decay_steps grows instead to the first multiple of itself at or above the
    step (ceil(step / decay_steps) times; once at step 0), so the rate restarts higher.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: > 0.
        end_learning_rate: Defaults to 0.0001.
        power: Defaults to 1.0 (linear decay).
        cycle: Defaults to False.
        name: Defaults to "PolynomialDecay".
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        _positive(decay_steps, "decay_steps", "PolynomialDecay")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        f = _keras_dtype(self.initial_learning_rate).type
        initial, end = f(self.initial_learning_rate), _cast(self.end_learning_rate, f)
        step, decay_steps = f(step), _cast(self.decay_steps, f)
        if self.cycle:
            multiplier = f(1.0) if step == 0 else np.ceil(step / f(self.decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return (initial - end) * _pow(1 - p, _cast(self.power, f)) + end

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Half a cosine from the initial rate down to alpha times it, over decay_steps:

        lr(step) = initial_learning_rate * ((1 - alpha) * c + alpha),
        c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))

    With warmup_target, the rate first rises linearly from initial_learning_rate to
    warmup_target over warmup_steps, then decays from warmup_target as above (step counted
    from the end of the warmup).

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: > 0.
        alpha: the final rate as a fraction of the rate decayed from. Defaults to 0.0.
        name: Defaults to "CosineDecay".
        warmup_target: the rate reached by the warmup. Defaults to None (no warmup).
        warmup_steps: Defaults to 0.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _positive(decay_steps, "decay_steps", "CosineDecay")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, decay_steps, decay_from, f):
        completed_fraction = step / decay_steps
        cosine_decayed = 0.5 * (1.0 + _cos(f(math.pi) * completed_fraction))
        return decay_from * (f(1 - self.alpha) * cosine_decayed + f(self.alpha))

    def __call__(self, step):
        f = _keras_dtype(self.initial_learning_rate).type
        initial = f(self.initial_learning_rate)
        step, decay_steps = f(step), _cast(self.decay_steps, f)
        if self.warmup_target is None:
            return self._decay(min(step, decay_steps), decay_steps, initial, f)
        target, warmup_steps = _cast(self.warmup_target, f), _cast(self.warmup_steps, f)
        step = min(step, decay_steps + warmup_steps)
        if step < warmup_steps:
            return (target - initial) * (step / warmup_steps) + initial
        return self._decay(step - warmup_steps, decay_steps, target, f)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the cosine of `CosineDecay` over a period that
    starts at first_decay_steps and is multiplied by t_mul after each restart, the peak rate
    multiplied by m_mul:

        i = the number of restarts so far,  s = the fraction of period i done
        lr(step) = initial_learning_rate * ((1 - alpha) * m_mul**i * 0.5 * (1 + cos(pi s))
                                            + alpha)

    Args:
        initial_learning_rate: the rate at step 0.
        first_decay_steps: the first period; > 0.
        t_mul: the period's growth factor. Defaults to 2.0.
        m_mul: the peak rate's factor per restart. Defaults to 1.0.
        alpha: the lowest rate as a fraction of initial_learning_rate. Defaults to 0.0.
        name: Defaults to "SGDRDecay".
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        _positive(first_decay_steps, "first_decay_steps", "CosineDecayRestarts")
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        f = _keras_dtype(self.initial_learning_rate).type
        alpha, t_mul, m_mul = (_cast(x, f) for x in (self.alpha, self.t_mul, self.m_mul))
        completed_fraction = f(step) / _cast(self.first_decay_steps, f)
        if t_mul == 1.0:  # equal periods
            i_restart = np.floor(completed_fraction)
            completed_fraction -= i_restart
        else:  # periods 1, t, t^2, ...: restart i begins at (1 - t^i) / (1 - t)
            i_restart = np.floor(_log(1.0 - completed_fraction * (1.0 - t_mul)) / _log(t_mul))
            sum_r = (1.0 - _pow(t_mul, i_restart)) / (1.0 - t_mul)
            completed_fraction = (completed_fraction - sum_r) / _pow(t_mul, i_restart)
        m_fac = _pow(m_mul, i_restart)
        cosine_decayed = 0.5 * m_fac * (1.0 + _cos(f(math.pi) * completed_fraction))
        return f(self.initial_learning_rate) * ((1 - alpha) * cosine_decayed + alpha)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


def _builtin_schedules() -> dict[str, type]:
    found, stack = {}, [LearningRateSchedule]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            if cls.__module__.startswith("tinynn."):
                found[cls.__name__] = cls
    return found


def serialize(schedule: LearningRateSchedule) -> dict:
    """{"module", "class_name", "config", "registered_name"}, Keras's nested form, which
    `keras.optimizers.X.from_config` reads too."""
    builtin = type(schedule).__module__ == __name__
    return {"module": "keras.optimizers.schedules" if builtin else type(schedule).__module__,
            "class_name": type(schedule).__name__, "config": schedule.get_config(),
            "registered_name": None}


def deserialize(config: dict, custom_objects: "dict | None" = None) -> LearningRateSchedule:
    """A schedule from `serialize`'s output: tinynn's own classes, or those in custom_objects
    ({"ClassName": class}). (`tinynn.saving` also finds registered classes.)"""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"A learning-rate schedule config needs a class_name, got {config!r}.")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _builtin_schedules().get(name)
    if not (isinstance(cls, type) and issubclass(cls, LearningRateSchedule)):
        raise ValueError(f"Unknown learning-rate schedule {name!r}. Known: "
                         f"{', '.join(sorted(_builtin_schedules()))}; pass your own class in "
                         "custom_objects.")
    return cls.from_config(dict(config.get("config", {})))
