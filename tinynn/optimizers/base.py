"""The optimizer base class: Keras 3's common arguments and the order `apply` runs them in.

`apply(grads, trainable_variables)` updates each variable array in place, as in Keras.
Per-variable state (Adam's moments, RMSprop's mean squares, ...) is created on the first call
and kept by position in the list, so the model passes its weights in the same order every step
(Keras's weight order). One call updates all of them: the backend receives the whole lists (the
numba backend updates every weight in one compiled call).
"""

import numbers

import numpy as np

from tinynn import backend
from tinynn.optimizers.schedules import LearningRateSchedule, deserialize, serialize


def _optional_positive(value, name: str, cls: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                              or not value > 0):
        raise ValueError(f"{cls} expected {name} to be None or a positive number, got "
                         f"{name}={value!r}.")


class Optimizer:
    """Base class: counts steps in `iterations`, keeps the per-weight state ("slots") and
    applies Keras's common arguments around the subclass's update rule.

    An optimizer has no forward or backward pass of its own: it consumes the gradients g = dL/dw
    that the layers' backward passes wrote, and its formula is the update w <- w - step(g).
    A subclass names its slots in `slot_names` (each a list with one array per weight, shaped
    like it), lists its hyperparameters in `get_config`, and writes `update_step`.

    One `apply` runs, in Keras's order:
        1. gradient accumulation (if set): add g to the accumulator; only every
           gradient_accumulation_steps-th call goes on, with g = the mean accumulated gradient;
        2. clipping: clipnorm: g <- g * c / max(||g||, c) for each weight's own gradient;
           global_clipnorm: every g <- g * min(1, c / ||all gradients||); clipvalue: clip(g, -c, c);
        3. weight decay (decoupled): w -= w * weight_decay * lr;
        4. the subclass's update_step (the optimizer's own formula);
        5. EMA (if use_ema): a = m a + (1 - m) w (a = w at the first step); every
           ema_overwrite_frequency steps w <- a;
        6. iterations += 1.
    `fit` ends with `finalize_variable_values`, which with use_ema sets every w <- a.

    Args:
        learning_rate: the step size: a positive number, or a
            `tinynn.optimizers.schedules.LearningRateSchedule` evaluated at every step.
        weight_decay: decoupled weight decay (w -= w * weight_decay * lr before each update).
            Defaults to None (none).
        clipnorm: clip each weight's gradient to this L2 norm. Defaults to None.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue]. Defaults to None.
        global_clipnorm: clip all gradients together to this global L2 norm. Defaults to None.
            At most one of clipnorm, clipvalue and global_clipnorm may be set.
        use_ema: keep an exponential moving average of the weights. Defaults to False.
        ema_momentum: the EMA's momentum m, in [0, 1]. Defaults to 0.99.
        ema_overwrite_frequency: overwrite the weights with their average every this many
            steps. Defaults to None (only at the end of `fit`).
        loss_scale_factor: Keras's loss scaling for float16 training; tinynn has no float16, so
            only None is accepted. Defaults to None.
        gradient_accumulation_steps: update only every this many calls (>= 2), with the mean
            of the gradients received since the last update. Defaults to None.
        name: Defaults to the class's Keras name.
    """

    slot_names: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ()  # state that is not per variable (Nadam's u_product)

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name: "str | None" = None, **kwargs):
        cls = type(self).__name__
        kwargs.pop("decay", None)  # Keras warns that `decay` is ignored
        if kwargs:
            raise ValueError(f"{cls} does not recognise the argument(s) {sorted(kwargs)}.")
        self._learning_rate = None
        self.learning_rate = learning_rate
        for arg, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm),
                           ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if arg == "weight_decay" and value == 0:
                continue
            _optional_positive(value, arg, cls)
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{cls}: only one of clipnorm, clipvalue and global_clipnorm can be "
                             f"set, got clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}.")
        if use_ema and not 0 <= ema_momentum <= 1:
            raise ValueError(f"{cls} expected ema_momentum in [0, 1], got "
                             f"ema_momentum={ema_momentum!r}.")
        if use_ema and ema_overwrite_frequency is not None and (
                not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1):
            raise ValueError(f"{cls} expected ema_overwrite_frequency to be None or an integer "
                             f">= 1, got ema_overwrite_frequency={ema_overwrite_frequency!r}.")
        if gradient_accumulation_steps is not None and (
                not isinstance(gradient_accumulation_steps, int)
                or gradient_accumulation_steps < 2):
            raise ValueError(f"{cls} expected gradient_accumulation_steps to be None or an "
                             f"integer >= 2, got {gradient_accumulation_steps!r}.")
        if loss_scale_factor is not None:
            raise ValueError(f"{cls}: loss_scale_factor is for float16 (mixed-precision) "
                             "training, which tinynn does not have; leave it None.")
        self.weight_decay, self.clipnorm, self.clipvalue = weight_decay, clipnorm, clipvalue
        self.global_clipnorm, self.use_ema = global_clipnorm, bool(use_ema)
        self.ema_momentum, self.ema_overwrite_frequency = ema_momentum, ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.name = name or cls.lower()
        self._iterations = 0  # every call of apply; `iterations` counts the updates
        self.built = False
        self._shapes: list[tuple] = []

    # ----- Keras's properties ------------------------------------------------------------------

    @property
    def iterations(self) -> int:
        """Updates done so far: the calls of `apply`, divided by gradient_accumulation_steps
        (rounded down) when accumulating, as in Keras."""
        return self._iterations // (self.gradient_accumulation_steps or 1)

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step: the number, or the schedule at `iterations`."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(self._iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if isinstance(value, LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(
                f"This optimizer ({type(self).__name__}) was created with a "
                f"LearningRateSchedule ({type(self._learning_rate).__name__}) as its "
                "learning_rate, hence its learning rate is not settable. If you need the "
                "learning rate to be settable, create the optimizer with a float learning_rate.")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise ValueError(f"{type(self).__name__} expected a positive learning_rate or a "
                             f"LearningRateSchedule, got {value!r}.")
        self._learning_rate = float(value)

    # ----- state -------------------------------------------------------------------------------

    def _common_slot_names(self) -> tuple[str, ...]:
        return (("averages",) if self.use_ema else ()) + (
            ("gradient_accumulators",) if self.gradient_accumulation_steps else ())

    def build(self, variables: list[np.ndarray]) -> None:
        """Create the slots: for each slot name, one zero array per variable."""
        self._shapes = [v.shape for v in variables]
        for slot in (*self.slot_names, *self._common_slot_names()):
            setattr(self, slot, [np.zeros_like(v) for v in variables])
        # update_step runs once per dtype (once, for a model in one floatx)
        groups: dict = {}
        for i, v in enumerate(variables):
            groups.setdefault(v.dtype, []).append(i)
        self._groups = list(groups.values())
        self.built = True

    def slots(self) -> dict[str, list[np.ndarray]]:
        """{slot name: its arrays} (one per variable, or one for `state_names`): everything a
        saved model keeps of the optimizer besides `iterations`. Empty before the first step."""
        if not self.built:
            return {}
        names = (*self.slot_names, *self._common_slot_names(), *self.state_names)
        return {k: getattr(self, k) for k in names}

    @property
    def variables(self) -> list[np.ndarray]:
        """All state arrays, slot by slot (Keras's `optimizer.variables`, without the counters)."""
        return [a for arrays in self.slots().values() for a in arrays]

    # ----- one step ----------------------------------------------------------------------------

    def apply(self, grads: list[np.ndarray], trainable_variables: "list[np.ndarray] | None" = None
              ) -> None:
        """One step, as Keras's `optimizer.apply(grads, trainable_variables)`: update every
        variable in place from its gradient (see the class docstring for the order), then
        count the step. The gradient arrays are not modified."""
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
        steps = self.gradient_accumulation_steps
        if not steps:
            self._update(grads, variables)
        elif (self._iterations + 1) % steps == 0:
            self._update([(g + a) / steps for g, a in
                          zip(grads, self.gradient_accumulators, strict=True)], variables)
            for a in self.gradient_accumulators:
                a[...] = 0
        else:
            for g, a in zip(grads, self.gradient_accumulators, strict=True):
                a += g
        if self.use_ema:
            self._update_moving_average(variables)
            if self.ema_overwrite_frequency and \
                    (self.iterations + 1) % self.ema_overwrite_frequency == 0:
                self._overwrite_variables_with_average(variables)
        self._iterations += 1

    def _update(self, grads: list, variables: list) -> None:
        """Clip, decay the weights, then the optimizer's own update (Keras's order)."""
        ops = backend.ops()
        if self.clipnorm:
            grads = ops.clip_by_norm(grads, self.clipnorm)
        elif self.global_clipnorm:
            grads = ops.clip_by_global_norm(grads, self.global_clipnorm)
        elif self.clipvalue:
            grads = ops.clip_by_value(grads, self.clipvalue)
        if self.weight_decay is not None:
            lr = self.learning_rate
            for idx in self._groups:
                f = variables[idx[0]].dtype.type
                # Keras: tf.cast(weight_decay) of a Python float goes through float32
                ops.decay_weights([variables[i] for i in idx], f(np.float32(self.weight_decay)),
                                  f(lr))
        self._update_step_all(grads, variables)

    def _update_step_all(self, grads: list, variables: list) -> None:
        """`update_step` once per dtype group (Keras's `_backend_update_step`)."""
        if len(self._groups) == 1:
            self.update_step(grads, variables, {k: getattr(self, k) for k in self.slot_names})
            return
        for idx in self._groups:
            self.update_step([grads[i] for i in idx], [variables[i] for i in idx],
                             {k: [getattr(self, k)[i] for i in idx] for k in self.slot_names})

    def update_step(self, grads: list, variables: list, slots: dict) -> None:
        """Update `variables` (one dtype) in place; `slots[name]` are their state arrays."""
        raise NotImplementedError

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras's spelling: `apply_gradients(zip(grads, trainable_variables))`."""
        grads, variables = zip(*grads_and_vars, strict=True)
        self.apply(list(grads), list(variables))

    # ----- EMA ---------------------------------------------------------------------------------

    def _update_moving_average(self, variables: list) -> None:
        for idx in self._groups:
            f = variables[idx[0]].dtype.type
            momentum = f(self.ema_momentum) if self.iterations != 0 else f(0)
            backend.ops().ema_update([self.averages[i] for i in idx],
                                     [variables[i] for i in idx], momentum)

    def _overwrite_variables_with_average(self, variables: list) -> None:
        if len(variables) != len(self.averages):
            raise ValueError(f"{type(self).__name__} holds averages of {len(self.averages)} "
                             f"variables, got {len(variables)} to overwrite.")
        for v, a in zip(variables, self.averages, strict=True):
            v[...] = a

    def finalize_variable_values(self, var_list: list) -> None:
        """The end of training (`fit` calls it): with use_ema, set every variable to its
        moving average; otherwise nothing."""
        if self.use_ema and self.built:
            self._overwrite_variables_with_average(list(var_list))

    # ----- config ------------------------------------------------------------------------------

    def get_config(self) -> dict:
        """The constructor arguments (Keras's names), so `from_config` makes a twin. A schedule
        is given as Keras's nested {"module", "class_name", "config", "registered_name"}."""
        lr = self._learning_rate
        return {"name": self.name,
                "learning_rate": serialize(lr) if isinstance(lr, LearningRateSchedule) else lr,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config: dict, custom_objects: "dict | None" = None) -> "Optimizer":
        """The optimizer `get_config` describes; a nested schedule is rebuilt from tinynn's own
        schedules or `custom_objects` ({"ClassName": class})."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = deserialize(config["learning_rate"], custom_objects)
        return cls(**config)
