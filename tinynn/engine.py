"""The fused training engine: when a model is a chain of layers it knows, `fit` runs each
training step as one numba call (`tinynn.fused.train_step`) instead of layer by layer.

What it knows: a Sequential of InputLayer, Flatten, Dense and Dropout layers (at most one
Dropout before each Dense, none after the last), every Dense with a relu, tanh, sigmoid or
linear activation and the last with softmax, no regularizers, constraints or frozen layers;
the loss `sparse_categorical_crossentropy` (mean reduction, from probabilities); the optimizer
Adam without amsgrad, weight decay, clipping, EMA or gradient accumulation (a learning-rate
schedule is fine); float32 or float64; the numba backend with NumPy's own OpenBLAS. Anything
else, a sample weight, or a batch of one row: the layer path, with the same results.

Why: at batch 32 a step's 11 matrix products take about half a millisecond, and the Python
between them (a method call per layer, a kernel dispatch per operation) nearly as much again;
the fused step has none of it. It computes exactly what the layer path computes, operation for
operation, with the same kernels and the same BLAS routine, so the weights after any number of
steps are the same bits (tests/test_engine.py checks it on both float types).

What stays as it was: the optimizer's step counter, its slots and the layers' gradient buffers
are the model's own arrays (a checkpoint, `get_weights` or a callback sees them as usual); the
NaN guard (a non-finite loss or gradient, or one large enough for the checked update, is handed
to `tinynn.safety` before anything changes); the metrics, computed from the step's output as
the layer path computes them. The layers keep nothing of a fused step for a later `backward`
(their `_X`, `_Z` and masks are the layer path's). `compile(jit_compile=False)` turns the engine
off.
"""

import contextlib
import os
import warnings

import numpy as np

from tinynn import backend, cores, layers, losses, optimizers, safety

_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")


def why_not(model) -> "str | None":
    """None when `model`'s training step can be fused, else the first reason it cannot."""
    if model._jit_compile is False:
        return "compile(jit_compile=False)"
    if backend.get_backend() != "numba":
        return "the numpy backend"
    chain, pending_dropout = [], None
    flat = model.input_shape is not None and len(model.input_shape) == 2
    for layer in model.layers:
        kind = type(layer)
        if kind in (layers.InputLayer, layers.Identity):
            continue
        if kind is layers.Flatten:
            flat = True
            continue
        if kind is layers.Dropout:
            if pending_dropout is not None:
                return f"two Dropout layers in a row ('{layer.name}')"
            pending_dropout = layer
            continue
        if kind is not layers.Dense:
            return f"layer '{layer.name}' ({kind.__name__})"
        if not flat:
            return f"Dense '{layer.name}' acts on inputs of more than one feature axis"
        if not layer.trainable or layer.activity_regularizer is not None \
                or layer.kernel_regularizer is not None or layer.bias_regularizer is not None \
                or layer.kernel_constraint is not None or layer.bias_constraint is not None:
            return f"Dense '{layer.name}' has a regularizer, a constraint or is frozen"
        if layer.activation not in _ACTIVATIONS + ("softmax",) \
                or min(layer.params["kernel"].shape) < 2:
            return f"Dense '{layer.name}' (activation {layer.activation!r}, or under 2 units)"
        chain.append(layer)
        pending_dropout = None
    if not chain or pending_dropout is not None:
        return "no Dense layer, or a Dropout after the last one"
    if any(d.activation == "softmax" for d in chain[:-1]) or chain[-1].activation != "softmax":
        return "the last Dense layer's activation is not softmax (or another one's is)"
    loss = model.loss
    if type(loss) is not losses.SparseCategoricalCrossentropy or loss.from_logits \
            or loss.reduction not in ("sum_over_batch_size", "mean") or model.losses:
        return "the loss is not sparse_categorical_crossentropy (mean, from probabilities)"
    opt = model.optimizer
    if type(opt) is not optimizers.Adam or opt.amsgrad or opt.weight_decay is not None \
            or opt.clipnorm or opt.global_clipnorm or opt.clipvalue or opt.use_ema \
            or opt.gradient_accumulation_steps:
        return "the optimizer is not plain Adam"
    dtypes = {w.dtype for w in model.trainable_weights}
    if len(dtypes) != 1 or dtypes.pop() not in (np.float32, np.float64):
        return "weights not all float32 or all float64"
    from tinynn import fused  # numba, only now
    if fused.numpy_gemm() is None:
        return "NumPy does not use its own OpenBLAS"
    if _forked_from_openmp():
        return ("a process forked from one that ran the fused engine (GNU OpenMP's threads, "
                "which numba's parallel code uses, do not survive fork)")
    return None


_PARALLEL_PID: "int | None" = None  # the process that started numba's threads, if any


def _forked_from_openmp() -> bool:
    """True in a child forked (os.fork, multiprocessing's default on Linux) from a process in
    which the fused step ran, when numba's threads are GNU OpenMP's: numba terminates such a
    child at its first parallel call ("fork() called from a process already using GNU
    OpenMP"). The layer path has no parallel code and runs there as usual."""
    if _PARALLEL_PID is None or _PARALLEL_PID == os.getpid():
        return False
    import numba
    try:
        return numba.threading_layer() == "omp"
    except ValueError:  # no parallel code has run in this process's memory after all
        return False


def plan(model, batch_size: int = 32) -> "FusedStep | None":
    """A `FusedStep` for `model`, or None when its step cannot be fused (see `why_not`); with
    `compile(jit_compile=True)` that warns, as Keras warns when a model cannot be XLA-compiled."""
    reason = why_not(model)
    if reason is None:
        return FusedStep(model, batch_size)
    if model._jit_compile is True:
        warnings.warn(f"jit_compile=True, but tinynn's fused engine does not know this model "
                      f"({reason}): training layer by layer.", stacklevel=3)
    return None


class FusedStep:
    """The arrays of one model, laid out once for `fused.train_step`; `step(X, y)` per batch."""

    def __init__(self, model, batch_size: int = 32):
        from numba import typed

        from tinynn import fused, kernels
        self._fused, self._typed = fused, typed.List
        self.model = model
        self.chain = [(d, layer) for d, layer in _chain(model.layers)]
        self.dense = [layer for _, layer in self.chain]
        self.dropouts = [d for d, _ in self.chain]
        dtype = self.dense[0].params["kernel"].dtype
        self.dtype, self.f = dtype, dtype.type
        first = self.dense[0].params["kernel"].shape
        self.blas, self.gemm = fused.choose_gemm(dtype, batch_size, *first)  # timed at it
        opt = model.optimizer
        weights = model.trainable_weights
        if not opt.built:
            opt.build(weights)
        self._watch = [*weights, *model.gradients, *opt.momentums, *opt.velocities]
        L = typed.List
        self.Ws = L([d.params["kernel"] for d in self.dense])
        self.bs = L([d.params.get("bias", d._zero_bias) for d in self.dense])
        self.gWs = L([d.grads["kernel"] for d in self.dense])
        self.gbs = L([d.grads.get("bias", d._db_scratch) for d in self.dense])
        self.flat = [L([a.reshape(-1) for a in arrays]) for arrays in
                     (weights, model.gradients, opt.momentums, opt.velocities)]
        self.codes = np.array([kernels._CODES[d.activation] for d in self.dense], np.int64)
        rates = [0.0 if d is None else d.rate for d in self.dropouts]
        self.rates = np.array(rates, np.float32)  # Dropout compares U with float32(rate)
        self.scales = np.array([1 / (1 - r) for r in rates], dtype)
        self.keys = np.zeros(len(self.dense), np.uint64)
        self.tiny = self.f(np.finfo(dtype).tiny * 2**24)
        self.sqrt_max = safety._SQRT_MAX[dtype.char]
        self._buffers: dict = {}
        self._one_blas_thread = fused.BlasThreads(1)  # during the call only (~1 us)
        self._wraparound = kernels._wraparound  # the dropout hash without the JIT
        self.cores = _CORES

    @contextlib.contextmanager
    def _threads(self):
        """Two numba threads for the call when `CoreWatch` says the cores are free, else one
        (the same code and bits, serially)."""
        import numba
        global _PARALLEL_PID
        _PARALLEL_PID = _PARALLEL_PID or os.getpid()
        before = numba.get_num_threads()
        wanted = 2 if self.cores.two_cores() else 1
        numba.set_num_threads(min(wanted, numba.config.NUMBA_NUM_THREADS))
        try:
            yield
        finally:
            numba.set_num_threads(before)

    def _arrays(self, n: int) -> tuple:
        """The per-step buffers for batches of n rows (made once per batch size)."""
        if n not in self._buffers:
            if len(self._buffers) >= 4:
                self._buffers.clear()
            L, dt = self._typed, self.dtype
            widths = [d.params["kernel"].shape for d in self.dense]
            inputs = L([np.empty((n, w[0]) if r else (1, 1), dt)
                        for w, r in zip(widths, self.rates, strict=True)])
            masks = L([np.empty((n, w[0]) if r else (1, 1), dt)
                       for w, r in zip(widths, self.rates, strict=True)])
            Z_list = [np.empty((n, w[1]), dt) for w in widths]
            A_list = [np.empty((n, w[1]), dt) for w in widths]
            Zs, As = L(Z_list), L(A_list)
            dZs = L([np.empty((n, w[1]), dt) for w in widths])
            dAs = L([np.empty((n, w[1]), dt) for w in widths])
            # the typed lists for numba, and the same arrays for Python (an array taken out of
            # a typed list is a new object each time; the metrics find the output by identity)
            self._buffers[n] = (inputs, masks, Zs, As, dZs, dAs), (Z_list, A_list)
        return self._buffers[n]

    def intact(self) -> bool:
        """The model still trains the arrays this plan holds (no layer, weight or optimizer
        slot replaced since, e.g. by a callback)."""
        model = self.model
        opt = model.optimizer
        current = [*model.trainable_weights, *model.gradients, *opt.momentums, *opt.velocities]
        return len(current) == len(self._watch) and all(
            a is b for a, b in zip(current, self._watch, strict=True))

    def step(self, X: np.ndarray, y: np.ndarray) -> "tuple[np.ndarray, np.ndarray] | None":
        """One training step on the batch (X, y): (per-sample losses, predictions), or None
        when this batch must take the layer path (one row, another dtype)."""
        n = X.shape[0]
        if n < 2 or X.dtype != self.dtype:
            return None
        X2 = np.ascontiguousarray(X.reshape(n, -1))
        y = np.ascontiguousarray(y, np.int64)
        (inputs, masks, Zs, As, dZs, dAs), (Z, A) = self._arrays(n)
        for k, d in enumerate(self.dropouts):
            if d is not None:
                self.keys[k] = d._rng.bit_generator.random_raw()
        values = np.empty(n, self.dtype)
        opt = self.model.optimizer
        f = self.f
        with self._one_blas_thread, self._wraparound(), self._threads():
            code = self._fused.train_step(
                self.gemm, X2, y, self.Ws, self.bs, self.gWs, self.gbs, self.codes, self.rates,
                self.scales, self.keys, inputs, masks, Zs, As, dZs, dAs, values, *self.flat,
                opt.step_size(self.dtype), f(1 - opt.beta_1), f(1 - opt.beta_2),
                f(opt.epsilon), self.tiny, float(opt.learning_rate), self.sqrt_max)
        if code == 1:
            safety.check_loss(values)  # raises NonFiniteLoss
        if code == 2:  # the checked update (tinynn.safety), from the gradients just computed
            safety.apply_update(opt, self.model.gradients, self.model.trainable_weights)
        else:
            opt._iterations += 1
        last = self.dense[-1]
        last._Z, last._A = Z[-1], A[-1]  # the metrics read the logits from the output layer
        return values, A[-1]


    def run_batches(self, x, y, batches, before_batch, after_batch, on_batch_end=None,
                    chunk: int = 64) -> int:
        """`Sequential._run_batches`' loop for a training epoch with no batch-level callback:
        the full batches, `chunk` at a time, in one call each (`fused.train_steps`, the gather
        included), then the metrics updated from the outputs it kept, batch by batch, as the
        layer path updates them. `before_batch(i)` runs for every batch; `after_batch` (which
        checks for Ctrl-C and `stop_training`) once a call, for its last batch, and before a
        step the kernel hands back. A batch of another size runs alone (`model._train_step`).
        `on_batch_end(i)`, if given, runs after each batch's metrics are updated (the progress
        bar's hook: it sees each batch's logs, after its chunk). Returns the number of samples
        trained on.
        """
        n_rows = x.shape[0]
        x2 = x.reshape(n_rows, -1) if x.flags.c_contiguous and x.dtype == self.dtype else None
        y64 = np.ascontiguousarray(y, np.int64)
        pending: list = []

        def flush() -> bool:
            done = 0
            while done < len(pending):
                done += self._call_steps(x2, y, y64, pending[done:], before_batch, after_batch,
                                         on_batch_end)
            stop = after_batch(pending[-1][0])
            pending.clear()
            return stop

        rows, seen = None, 0  # rows: the chunks' batch size, the first batch's
        for i, idx in enumerate(batches):
            rows = len(idx) if rows is None else rows
            seen += len(idx)
            if x2 is not None and len(idx) == rows and rows >= 2:
                pending.append((i, idx))
                if len(pending) == chunk and flush():
                    return seen
                continue
            if pending and flush():
                return seen
            before_batch(i)
            self.model._train_step(x[idx], y[idx])
            if on_batch_end is not None:
                on_batch_end(i)
            if after_batch(i):
                return seen
        if pending:
            flush()
        return seen

    def _call_steps(self, x2, y, y64, part: list, before_batch, after_batch,
                    on_batch_end=None) -> int:
        """The batches of `part` [(index, sample indices)] in one kernel call, then their
        bookkeeping; a step the kernel hands back (a non-finite loss: NonFiniteLoss; a
        gradient for the checked update) is finished here by `tinynn.safety`. Returns how
        many batches of `part` are done."""
        model, opt, f = self.model, self.model.optimizer, self.f
        n, count = len(part[0][1]), len(part)
        (inputs, masks, Zs, As, dZs, dAs), _ = self._arrays(n)
        key = ("gather", n)
        if key not in self._buffers:
            self._buffers[key] = (np.empty((n, x2.shape[1]), self.dtype), np.empty(n, np.int64))
        Xb, yb = self._buffers[key]
        order = np.concatenate([idx for _, idx in part]).astype(np.int64, copy=False)
        # every step's dropout keys (random_raw(count) draws what count single draws would)
        states = [None if d is None else d._rng.bit_generator.state for d in self.dropouts]
        keys = np.zeros((count, len(self.dense)), np.uint64)
        for k, d in enumerate(self.dropouts):
            if d is not None:
                keys[:, k] = d._rng.bit_generator.random_raw(count)
        alphas, rates = np.empty(count, self.dtype), np.empty(count)
        start = opt._iterations
        try:
            for s in range(count):  # the optimizer's own formulas at each step's count
                opt._iterations = start + s
                alphas[s], rates[s] = opt.step_size(self.dtype), float(opt.learning_rate)
        finally:
            opt._iterations = start
        classes = self.dense[-1].units
        values = np.empty(count * n, self.dtype)
        Z_out = np.empty((count * n, classes), self.dtype)
        A_out = np.empty((count * n, classes), self.dtype)
        with self._one_blas_thread, self._wraparound(), self._threads():
            done, code = self._fused.train_steps(
                self.gemm, x2, y64, order, Xb, yb, self.Ws, self.bs, self.gWs, self.gbs,
                self.codes, self.rates, self.scales, keys, inputs, masks, Zs, As, dZs, dAs,
                values, Z_out, A_out, *self.flat, alphas, f(1 - opt.beta_1), f(1 - opt.beta_2),
                f(opt.epsilon), self.tiny, rates, self.sqrt_max)
        opt._iterations += done
        ran = done + (code != 0)
        if ran < count:  # the keys of the steps not run go back to the generators
            for d, state in zip(self.dropouts, states, strict=True):
                if d is not None:
                    d._rng.bit_generator.state = state
                    d._rng.bit_generator.random_raw(ran)
        last = self.dense[-1]
        for s in range(ran):
            i, idx = part[s]
            if s == done:  # handed back
                if s > 0:
                    after_batch(part[s - 1][0])  # records the last applied step
                before_batch(i)
                rows = slice(s * n, (s + 1) * n)
                if code == 1:
                    safety.check_loss(values[rows])  # raises NonFiniteLoss
                safety.apply_update(opt, model.gradients, model.trainable_weights)
            else:
                before_batch(i)
                rows = slice(s * n, (s + 1) * n)
            last._Z, last._A = Z_out[rows], A_out[rows]
            model._update_metrics(y[idx], last._A, values[rows], None)
            if on_batch_end is not None:
                on_batch_end(i)
        return ran


_CORES = cores.CoreWatch()  # one per process: every model's steps share the cores


def _chain(model_layers):
    """(the Dropout before it or None, Dense) for each Dense layer, in order. A Dropout of rate
    0 is none: it draws no key (as its forward draws none) and passes its input on."""
    pending = None
    for layer in model_layers:
        if type(layer) is layers.Dropout and layer.rate > 0:
            pending = layer
        elif type(layer) is layers.Dense:
            yield pending, layer
            pending = None
