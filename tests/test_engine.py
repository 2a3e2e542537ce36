"""The fused training engine (tinynn.engine) against the layer path: the same bits, the same
logs, the same guarantees; and every model it does not know goes layer by layer."""

import warnings

import numpy as np
import pytest

import tinynn
from tinynn import backend, callbacks, cores, engine, fused, layers, optimizers


@pytest.fixture(autouse=True)
def numba_backend(monkeypatch):
    """The engine runs on the numba backend only; these tests are about it on every pass, with
    NumPy's OpenBLAS (the layer path's BLAS: the same bits), unless a test says otherwise."""
    before = backend._name
    backend.set_backend("numba")
    monkeypatch.setenv("TINYNN_BLAS", "openblas")
    yield
    backend.set_backend(before)


def data(n=300, shape=(6, 5), classes=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype(dtype), rng.integers(0, classes, n)


def seed_like(dropout=0.3, classes=4, shape=(6, 5), optimizer=None, jit_compile="auto",
              activations=("relu", "tanh", "sigmoid"), use_bias=True, **compile_kwargs):
    """The seed MLP's shape, small: Flatten, Dense layers with Dropout between, softmax."""
    tinynn.utils.set_random_seed(7)
    stack = [tinynn.Input(shape), layers.Flatten()]
    for i, activation in enumerate(activations):
        stack.append(layers.Dense(16 - 3 * i, activation=activation, use_bias=use_bias))
        if dropout and i < 2:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(classes, activation="softmax"))
    model = tinynn.Sequential(stack)
    model.compile(optimizer=optimizer or optimizers.Adam(3e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit_compile, **compile_kwargs)
    return model


def train_both(make, x, y, **fit_kwargs):
    """fit the same model fused and layer by layer; return (fused, layers) models, histories.

    The layer path runs with one OpenBLAS thread: NumPy's own products are not the same bits
    on one and two threads (OpenBLAS splits the sum of a 32x784 @ 784x512 product in two on
    two threads, measured with OpenBLAS 0.3.31), and the fused step's halves are one-thread
    products (see `test_with_numpys_default_threads_the_paths_agree_to_rounding`)."""
    out = []
    for jit in ("auto", False):
        model = make(jit_compile=jit)
        with fused.BlasThreads(1 if jit is False else None):
            history = model.fit(x, y, verbose=0, **fit_kwargs)
        out.append((model, history.history))
    return out


def assert_same(a, b):
    for wa, wb in zip(a.get_weights() + a.optimizer.variables,
                      b.get_weights() + b.optimizer.variables, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.optimizer.iterations == b.optimizer.iterations


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("batch_size", [32, 7, 299])
def test_fused_steps_give_the_layer_paths_bits(dtype, dropout, batch_size):
    """The issue's proof: identical weights, optimizer state and logs after many steps (300
    samples: the last batch is smaller, 12, 6 or 1 rows; a 1-row batch takes the layer path)."""
    tinynn.config.set_floatx(dtype)
    try:
        x, y = data(dtype=dtype)
        assert engine.why_not(seed_like(dropout)) is None
        (fused, h1), (slow, h2) = train_both(lambda **k: seed_like(dropout, **k), x, y,
                                             epochs=2, batch_size=batch_size)
    finally:
        tinynn.config.set_floatx("float32")
    assert_same(fused, slow)
    assert h1 == h2
    assert fused.optimizer.iterations == 2 * -(-300 // batch_size)


def test_the_engine_really_runs_and_the_switch_turns_it_off(monkeypatch):
    """Batches of the first batch's size go in chunks (one call for up to 64 steps); a batch
    callback makes every step its own call; jit_compile=False, none."""
    calls = []
    for method, name in (("step", "train_step"), ("_call_steps", "train_steps")):
        real = getattr(engine.FusedStep, method)
        monkeypatch.setattr(engine.FusedStep, method, lambda *a, _real=real, _name=name:
                            calls.append(_name) or _real(*a))
    x, y = data(64 * 3 + 5)
    seed_like().fit(x, y, batch_size=3, epochs=1, verbose=0)
    assert calls == ["train_steps"] * 2 + ["train_step"]  # 65 batches of 3, then one of 2
    calls.clear()
    seed_like().fit(x, y, batch_size=2, epochs=1, verbose=0)
    # 98 batches of 2; the last, 1 row, is handed to step, which sends it layer by layer
    assert calls == ["train_steps"] * 2 + ["train_step"]
    calls.clear()
    seed_like().fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0,
                    callbacks=[callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: 0)])
    assert calls == ["train_step"] * 2
    calls.clear()
    seed_like(jit_compile=False).fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert calls == []
    assert engine.why_not(seed_like(jit_compile=False)) == "compile(jit_compile=False)"
    backend.set_backend("numpy")
    assert engine.why_not(seed_like()) == "the numpy backend"


def test_jit_compile_is_checked():
    with pytest.raises(ValueError, match="jit_compile to be 'auto', True or False"):
        seed_like(jit_compile="yes")


def test_jit_compile_true_on_a_model_it_does_not_know_warns_and_trains():
    """Keras: "Model doesn't support `jit_compile=True`. Proceeding with `jit_compile=False`."
    "auto" stays silent."""
    x, y = data(64)
    model = seed_like(optimizer=optimizers.RMSprop(), jit_compile=True)
    with pytest.warns(UserWarning, match=r"jit_compile=True, but .* \(the optimizer is not "
                      r"plain Adam\): training layer by layer"):
        model.fit(x, y, batch_size=32, verbose=0)
    assert model.optimizer.iterations == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seed_like(optimizer=optimizers.RMSprop()).fit(x, y, batch_size=32, verbose=0)
        seed_like(jit_compile=True).fit(x, y, batch_size=32, verbose=0)


def test_a_dropout_of_rate_0_draws_nothing_as_layer_by_layer():
    """Dropout(0.0) passes its input on and draws no key from its generator, on both paths:
    the generator (saved with the model) is left as it was seeded."""
    x, y = data()

    def make(jit_compile):
        tinynn.utils.set_random_seed(7)
        model = tinynn.Sequential([tinynn.Input((6, 5)), layers.Flatten(),
                                   layers.Dense(8, activation="relu"),
                                   layers.Dropout(0.0, seed=5),
                                   layers.Dense(4, activation="softmax")])
        model.compile(optimizers.Adam(3e-3), "sparse_categorical_crossentropy",
                      jit_compile=jit_compile)
        return model

    (fast, h1), (slow, h2) = train_both(make, x, y, epochs=2, batch_size=32)
    assert engine.why_not(fast) is None
    assert_same(fast, slow)
    assert h1 == h2
    for model in (fast, slow):
        assert model.layers[2]._rng.bit_generator.state == \
            np.random.default_rng(5).bit_generator.state


def test_without_bias_and_with_a_schedule_too():
    schedule = optimizers.schedules.ExponentialDecay(1e-2, decay_steps=3, decay_rate=0.5)
    x, y = data()
    (fused, h1), (slow, h2) = train_both(
        lambda **k: seed_like(use_bias=False, optimizer=optimizers.Adam(schedule), **k), x, y,
        epochs=2, batch_size=16)
    assert engine.why_not(fused) is None
    assert_same(fused, slow)
    assert h1 == h2


UNKNOWN = {
    "amsgrad": lambda **k: seed_like(optimizer=optimizers.Adam(amsgrad=True), **k),
    "rmsprop": lambda **k: seed_like(optimizer=optimizers.RMSprop(), **k),
    "clipnorm": lambda **k: seed_like(optimizer=optimizers.Adam(clipnorm=0.1), **k),
    "gelu": lambda **k: seed_like(activations=("gelu", "relu"), **k),
    "softmax inside": lambda **k: seed_like(activations=("softmax", "relu"), **k),
}


@pytest.mark.parametrize("name", list(UNKNOWN))
def test_what_it_does_not_know_goes_layer_by_layer(name):
    model = UNKNOWN[name]()
    assert engine.why_not(model) is not None
    assert engine.plan(model) is None


def test_each_reason_is_named():
    def dense_chain(*middle, loss="sparse_categorical_crossentropy", last="softmax"):
        model = tinynn.Sequential([tinynn.Input((5,)), *middle,
                                   layers.Dense(3, activation=last)])
        model.compile("adam", loss)
        return model

    cases = {
        "layer 'batch_normalization": dense_chain(layers.Dense(4), layers.BatchNormalization()),
        "two Dropout layers in a row": dense_chain(layers.Dropout(0.1), layers.Dropout(0.1)),
        "has a regularizer": dense_chain(layers.Dense(4, kernel_regularizer="l2")),
        "the last Dense layer's activation is not softmax": dense_chain(last="sigmoid"),
        "the loss is not sparse_categorical_crossentropy":
            dense_chain(loss="categorical_crossentropy"),
        "the optimizer is not plain Adam": dense_chain(),
    }
    cases["the optimizer is not plain Adam"].compile("sgd", "sparse_categorical_crossentropy")
    for reason, model in cases.items():
        assert reason in engine.why_not(model), (reason, engine.why_not(model))
    frozen = dense_chain(layers.Dense(4))
    frozen.layers[0].trainable = False
    assert "frozen" in engine.why_not(frozen)
    images = tinynn.Sequential([tinynn.Input((3, 5)), layers.Dense(4), layers.Flatten(),
                                layers.Dense(3, activation="softmax")])
    images.compile("adam", "sparse_categorical_crossentropy")
    assert "more than one feature axis" in engine.why_not(images)


def test_sample_weights_take_the_layer_path_with_the_same_result():
    x, y = data(96)
    w = np.linspace(0.5, 2, 96)
    (fused, h1), (slow, h2) = train_both(seed_like, x, y, epochs=2, batch_size=32,
                                         sample_weight=w)
    assert_same(fused, slow)
    assert h1 == h2


def test_batch_callbacks_see_the_same_logs_and_weights():
    seen = {}

    class Spy(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.setdefault(self.model._jit_compile, []).append(
                (dict(logs), self.model.get_weights()[0].copy()))

    x, y = data(100)
    for jit in ("auto", False):
        with fused.BlasThreads(1 if jit is False else None):
            seed_like(jit_compile=jit).fit(x, y, batch_size=32, epochs=2, verbose=0,
                                           callbacks=[Spy()])
    assert len(seen["auto"]) == len(seen[False]) == 8
    for (logs1, w1), (logs2, w2) in zip(seen["auto"], seen[False], strict=True):
        assert logs1 == logs2
        np.testing.assert_array_equal(w1, w2)


def test_a_callback_replacing_the_weights_is_followed():
    """set_weights copies into the arrays; a callback that swaps in new arrays makes the
    engine plan again at the next epoch (it never trains arrays the model no longer has)."""

    class Swap(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            dense = self.model.layers[1]
            dense.params["kernel"] = dense.params["kernel"].copy()

    x, y = data(64)
    models = []
    for jit in ("auto", False):
        model = seed_like(dropout=0, jit_compile=jit)
        with fused.BlasThreads(1 if jit is False else None):
            model.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[Swap()])
        models.append(model)
    assert_same(*models)


def test_a_non_finite_loss_stops_before_the_update_as_layer_by_layer():
    x, y = data(96)
    x[40] = 3e38  # batch 2: its first products overflow
    out = []
    for jit in ("auto", False):
        model = seed_like(dropout=0, activations=("relu",) * 3, jit_compile=jit)
        with pytest.warns(RuntimeWarning, match=r"Invalid loss \(nan\) at epoch 1/2, batch 2/3"):
            model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
        out.append(model)
    assert_same(*out)
    assert out[0].optimizer.iterations == 1


def test_a_gradient_too_large_for_the_unchecked_update_takes_the_checked_path():
    """Adam's squared gradient overflows float32: the fused step hands the update to
    tinynn.safety, which undoes it and stops training, exactly as layer by layer."""
    x, y = data(96)
    x[40, 0, 0] = 1e22
    out = []
    for jit in ("auto", False):
        model = seed_like(dropout=0, activations=("relu",) * 3, jit_compile=jit)
        with pytest.warns(RuntimeWarning, match="Invalid update at epoch 1/2, batch 2/3"):
            model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
        out.append(model)
    assert_same(*out)


def test_after_fit_the_model_goes_layer_by_layer_again():
    x, y = data(64)
    model = seed_like()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert model._engine is None
    with fused.BlasThreads(1):
        model.train_on_batch(x[:32], y[:32])  # the layer path, from the fused state
        twin = seed_like(jit_compile=False)
        twin.fit(x, y, batch_size=32, epochs=1, verbose=0)
        twin.train_on_batch(x[:32], y[:32])
    assert_same(model, twin)


def test_with_numpys_default_threads_the_paths_agree_to_rounding(float64):
    """NumPy's OpenBLAS on two threads sums some products in another order than on one (a
    32x784 @ 784x512 product, OpenBLAS 0.3.31), so the layer path with the default threads
    is not the fused step's bits; at the seed MLP's shapes, in float64, after 2 epochs they
    differ by rounding only."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(256, 784)), rng.integers(0, 10, 256)

    def make(jit_compile):
        tinynn.utils.set_random_seed(3)
        model = tinynn.Sequential([tinynn.Input((784,)), layers.Dense(512, activation="relu"),
                                   layers.Dropout(0.3), layers.Dense(256, activation="relu"),
                                   layers.Dense(10, activation="softmax")])
        model.compile(optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                      jit_compile=jit_compile)
        return model

    models = []
    for jit in ("auto", False):  # each made, then trained: the same shuffles
        models.append(make(jit))
        models[-1].fit(x, y, batch_size=32, epochs=2, verbose=0)
    for a, b in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


# ----- the cores and the BLAS ----------------------------------------------------------------

def watch(readings, cpus=2, interval=0.2):
    """A CoreWatch fed scripted (clock, machine busy s, own s) readings."""
    it = iter(readings)
    state = {}

    def clock():
        state["now"], state["busy"], state["own"] = next(it)
        return state["now"]

    return cores.CoreWatch(interval, read_stat=lambda: state["busy"],
                            own_time=lambda: state["own"], clock=clock, cpus=cpus)


def test_the_core_watch_gives_up_the_second_core_when_others_use_one():
    w = watch([(0.0, 100.0, 5.0),   # first look: no interval yet, two cores
               (0.1, 100.2, 5.2),   # within the interval: no new look
               (1.0, 101.8, 6.8),   # 1.8 s busy, 1.8 ours: others 0 -> two
               (2.0, 103.6, 7.8),   # 1.8 busy, 1.0 ours: others 0.8 core -> one
               (3.0, 105.2, 8.8),   # others 0.6 of a core -> one
               (4.0, 106.3, 9.8),   # others 0.1 -> two again
               ])
    assert [w.two_cores() for _ in range(6)] == [True, True, True, False, False, True]
    many = watch([(0.0, 0.0, 0.0), (1.0, 6.0, 1.0)], cpus=16)  # 5 cores busy of 16: two free
    assert [many.two_cores() for _ in range(2)] == [True, True]
    unknown = cores.CoreWatch(read_stat=lambda: None, cpus=2)
    assert unknown.two_cores() and not cores.CoreWatch(read_stat=lambda: None,
                                                        cpus=1).two_cores()
    assert cores._machine_busy_seconds() is None or cores._machine_busy_seconds() > 0


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_one_core_or_two_the_same_bits(monkeypatch, dropout):
    x, y = data()
    out = []
    for two in (True, False):
        monkeypatch.setattr(engine._CORES, "two_cores", lambda two=two: two)
        model = seed_like(dropout)
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
        out.append(model)
    assert_same(*out)


def test_the_blas_is_chosen_by_tinynn_blas_and_by_timing(monkeypatch):
    monkeypatch.setattr(fused, "_CHOSEN", {})
    assert fused.choose_gemm(np.float32, 32, 784, 512)[0] == "openblas"  # the fixture's pin
    monkeypatch.setenv("TINYNN_BLAS", "fast")
    with pytest.raises(ValueError, match="TINYNN_BLAS must be one of"):
        fused.choose_gemm(np.float32, 32, 784, 512)
    monkeypatch.setenv("TINYNN_BLAS", "mkl")
    monkeypatch.setattr(fused, "mkl_gemm", lambda: None)
    with pytest.raises(ValueError, match=r"no MKL was found: `pip install mkl`"):
        fused.choose_gemm(np.float32, 32, 784, 512)
    monkeypatch.setattr(fused, "mkl_gemm", lambda: {np.dtype(np.float32): "mkl's"})
    monkeypatch.setenv("TINYNN_BLAS", "auto")
    speed = {"mkl": 1.0}
    timer = lambda gemm, *shape: speed["mkl"] if gemm == "mkl's" else 1.0  # noqa: E731
    assert fused.choose_gemm(np.float32, 32, 784, 512, timer) == ("openblas", fused.numpy_gemm()[
        np.dtype(np.float32)])  # as fast: NumPy's
    speed["mkl"] = 0.85
    assert fused.choose_gemm(np.float32, 32, 784, 512, timer)[0] == "openblas"  # made once
    assert fused.choose_gemm(np.float32, 64, 784, 512, timer) == ("mkl", "mkl's")  # >10% faster
    assert fused.choose_gemm(np.float32, 16, 6, 16, timer)[0] == "openblas"  # too small to time


def test_with_mkl_the_fused_steps_agree_with_the_layer_path(monkeypatch):
    """Another BLAS rounds the products differently (about 1e-7 relative in float32). After 20
    steps of the seed MLP's shapes (no dropout, the same batches) the model's loss agrees to
    1e-6 relative (measured 3e-9). The weights differ by more than the products' rounding:
    Adam divides m by sqrt(v) + 1e-7, so a gradient near 1e-7 turns a last-bit difference into
    a visible share of a step. Every weight is within 0.5% of one step (learning_rate) of the
    layer path's (measured 0.13% at lr 1e-4, after 1 step as after 20)."""
    if fused.mkl_gemm() is None:
        pytest.fail("MKL is needed for this test: `pip install mkl` (in the test extras)")
    monkeypatch.setenv("TINYNN_BLAS", "mkl")
    rng = np.random.default_rng(2)
    x, y = rng.random((640, 784), dtype=np.float32), rng.integers(0, 10, 640)
    lr = 1e-4

    def make(jit_compile):
        tinynn.utils.set_random_seed(4)
        model = tinynn.Sequential([tinynn.Input((784,)), layers.Dense(512, activation="relu"),
                                   layers.Dense(256, activation="relu"),
                                   layers.Dense(128, activation="relu"),
                                   layers.Dense(10, activation="softmax")])
        model.compile(optimizers.Adam(lr), "sparse_categorical_crossentropy",
                      jit_compile=jit_compile)
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
        return model

    fast, slow = make("auto"), make(False)
    assert fused._CHOSEN[("mkl", np.dtype(np.float32), 32, 784, 512)][0] == "mkl"
    loss_fast, loss_slow = fast.evaluate(x, y, verbose=0), slow.evaluate(x, y, verbose=0)
    assert abs(loss_fast - loss_slow) <= 1e-6 * loss_slow
    differ = 0
    for a, b in zip(fast.get_weights(), slow.get_weights(), strict=True):
        assert float(np.abs(a - b).max()) <= 5e-3 * lr
        differ += not np.array_equal(a, b)
    assert differ >= 4  # another BLAS: other roundings


def test_ctrl_c_during_a_chunk_stops_after_its_last_whole_step(monkeypatch, capsys):
    """SIGINT arrives while a chunk of 64 steps runs: the chunk finishes (it is one call), the
    guard raises after it, the message names the last applied batch, and the weights are those
    of exactly that many steps."""
    import os
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    real, calls = fused.train_steps, []

    def then_sigint(*args):
        out = real(*args)
        calls.append(out)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(fused, "train_steps", then_sigint)
    x, y = data(300)
    model = seed_like()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, batch_size=2, epochs=3, verbose=0, shuffle=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert model.optimizer.iterations == 128 and model.history.epoch == []
    assert "Training interrupted at epoch 1/3, batch 128/150" in capsys.readouterr().err
    reference = seed_like()
    reference.fit(x[:256], y[:256], batch_size=2, epochs=1, verbose=0, shuffle=False)
    assert_same(model, reference)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_the_fused_step_agrees_with_the_numpy_reference(float64, dropout):
    """The other backend: the NumPy reference, layer by layer, computes the same formulas in
    another operation order; in float64 after 20 steps the weights agree to 1e-12."""
    x, y = data(640, dtype=np.float64)
    fast = seed_like(dropout)
    fast.fit(x, y, batch_size=32, epochs=1, verbose=0)
    backend.set_backend("numpy")
    reference = seed_like(dropout)
    reference.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert engine.why_not(reference) == "the numpy backend"
    for a, b in zip(fast.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_the_progress_bar_keeps_the_chunks_and_prints_the_layer_paths_numbers(monkeypatch,
                                                                               capsys):
    """verbose=1: tinynn's own progress bar only prints the logs, so the chunks run and the
    bar is handed each batch's logs afterwards; its numbers are the layer path's."""
    import re

    calls = []
    real = engine.FusedStep._call_steps
    monkeypatch.setattr(engine.FusedStep, "_call_steps",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    x, y = data(160)
    printed = []
    for jit in ("auto", False):
        with fused.BlasThreads(1 if jit is False else None):
            seed_like(jit_compile=jit).fit(x, y, batch_size=16, epochs=2, verbose=1)
        text = capsys.readouterr().out
        printed.append(re.findall(r"(accuracy|loss): (\d\.\d{4})", text))
    assert len(calls) == 2  # one chunk of 10 batches an epoch
    assert printed[0] == printed[1] and len(printed[0]) >= 4


def test_a_forked_child_trains_layer_by_layer_after_the_engine_ran():
    """numba's parallel code runs on GNU OpenMP here, which terminates a forked child at its
    first parallel call; so in a child forked after the engine ran (multiprocessing's default
    on Linux) the engine steps aside and the child trains layer by layer."""
    import os
    import time

    x, y = data(64)
    seed_like().fit(x, y, batch_size=32, verbose=0)  # numba's threads start here
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: train, report, leave without running pytest's teardown
        try:
            model = seed_like()
            model.fit(x, y, batch_size=32, verbose=0)
            os.write(write, (engine.why_not(model) or "fused").encode())
        finally:
            os._exit(0)
    os.close(write)
    deadline, status = time.monotonic() + 120, None
    while status is None and time.monotonic() < deadline:
        done, code = os.waitpid(pid, os.WNOHANG)
        status = code if done else None
        time.sleep(0.05)
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    said = os.read(read, 4096).decode()
    os.close(read)
    assert status == 0, f"the forked child did not finish cleanly (status {status})"
    import numba
    try:
        layer = numba.threading_layer()
    except ValueError:  # NUMBA_DISABLE_JIT=1: no threads at all
        layer = None
    assert said.startswith("a process forked") if layer == "omp" else said == "fused"
