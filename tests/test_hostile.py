"""Hostile files and silent faults (issue 12), outside model files: every case is reproduced with
small generated inputs, and each must end in one clear ValueError / TypeError / OSError naming the
file or argument, with bounded memory, or be handled so that what tinynn says is true.

- the dataset loader: gzip bombs (peak memory measured), a trickling mirror (total deadline),
  a mirror sending too much, damaged `.gz` files, a FIFO in the data folder;
- the NaN guard: a finite loss whose gradient or update is not finite, in six optimizer settings
  on both backends: the model keeps exactly the weights and state after the last applied update,
  all finite, and the warning says so;
- NaN and infinities give the same outputs on both backends (the kernels: tests/test_kernels.py);
- duplicate layer names, a float label of 1e20, a callback class instead of an instance;
- `predict`, `evaluate` and `model(x)` in another thread in the middle of a training step.
"""

import gzip
import os
import subprocess
import sys
import threading
import time
import warnings
import zlib

import numpy as np
import pytest
from hostile_npz import peak_bytes

import tinynn
from tinynn import backend, layers, optimizers
from tinynn.callbacks import Callback, EarlyStopping
from tinynn.datasets import fashion_mnist

REAL = "/usr/share/datasets/fashion-mnist"
LABELS = "t10k-labels-idx1-ubyte.gz"
IMAGES = "train-images-idx3-ubyte.gz"


def real(name):
    for folder in fashion_mnist.search_dirs():
        if (folder / name).is_file():
            return (folder / name).read_bytes()
    pytest.fail("Real Fashion-MNIST is required: `apt-get install -y dataset-fashion-mnist`.")


def bomb(inflated_mib: int) -> bytes:
    """A valid multi-member gzip file of ~1 kB per MiB it inflates to (members of 1 MiB of
    zeros): 2 MB on disk for 2 GiB inflated. Made in milliseconds, never inflated here."""
    return gzip.compress(bytes(1 << 20), 9) * inflated_mib


# ----- the dataset loader -------------------------------------------------------------------

def test_gzip_bomb_is_refused_after_the_official_size(tmp_path):
    """2 MB inflating to 2 GiB, under the training images' name (its size passes the
    compressed-size check): decompression stops one byte past the official 47 MB, so the peak
    is that of loading the real file (measured: 49.6 MB; before: the whole 2 GiB, 4.2 GB RSS)."""
    path = tmp_path / IMAGES
    path.write_bytes(bomb(2048))
    assert path.stat().st_size < fashion_mnist.gz_limit(IMAGES)
    error, peak = peak_bytes(lambda: fashion_mnist.read_idx(path))
    assert isinstance(error, ValueError)
    assert str(path) in str(error) and "decompresses to more than the official" in str(error)
    assert peak < 1.2 * fashion_mnist.idx_size(IMAGES), f"peak {peak / 1e6:.1f} MB"


def test_gzip_bomb_process_memory_stays_bounded(tmp_path):
    """The same bomb in a fresh process, measured by the kernel (ru_maxrss counts zlib's own
    buffers too): the peak resident memory grows by about the official file, not 2 GiB."""
    path = tmp_path / IMAGES
    path.write_bytes(bomb(2048))
    code = f"""
import resource
from pathlib import Path
from tinynn.datasets import fashion_mnist
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    fashion_mnist.read_idx(Path({str(path)!r}))
except ValueError:
    pass
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    grown_kb = int(out.stdout)  # Linux: kilobytes
    assert grown_kb * 1024 < 1.5 * fashion_mnist.idx_size(IMAGES), f"grew {grown_kb} kB"


@pytest.mark.parametrize("kind", ["larger than the official file", "inflates too far"])
def test_small_file_bombs_cost_almost_nothing(tmp_path, kind):
    """Under a labels file's name: a 2 MB file is refused by its size before any inflating;
    an 8 kB single-member stream of 8 MB of zeros stops after the official 10,008 bytes."""
    path = tmp_path / LABELS
    if kind == "larger than the official file":
        path.write_bytes(bomb(2048))
        match = "is 2,152,448 bytes; the official"
    else:
        deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip container
        path.write_bytes(deflate.compress(bytes(8 << 20)) + deflate.flush())
        assert path.stat().st_size < fashion_mnist.gz_limit(LABELS)
        match = "decompresses to more than the official 10,008 bytes"
    error, peak = peak_bytes(lambda: fashion_mnist.read_idx(path))
    assert isinstance(error, ValueError) and match in str(error) and str(path) in str(error)
    assert peak < 1_000_000, f"peak {peak / 1e6:.2f} MB"


def flip_deflate(raw):
    return raw[:10] + bytes([0xFF] * 8) + raw[18:]


@pytest.mark.parametrize("damage,raw_error", [
    (flip_deflate, "error"),  # zlib.error: invalid block type
    (lambda raw: raw[:1000], "EOFError"),
    (lambda raw: b"xx" + raw[2:], "BadGzipFile"),
    (lambda raw: raw[:-8] + bytes(4) + raw[-4:], "BadGzipFile"),  # CRC
    (lambda raw: raw + b"garbage!", "BadGzipFile"),
])
def test_damaged_gzip_is_one_clear_error_naming_the_file(tmp_path, damage, raw_error):
    path = tmp_path / LABELS
    path.write_bytes(damage(real(LABELS)))
    with pytest.raises(ValueError, match="is not a valid gzip file") as info:
        fashion_mnist.read_idx(path)
    assert str(path) in str(info.value) and f"({raw_error}: " in str(info.value)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / LABELS
    os.mkfifo(path)  # no writer: opening it for reading would block forever
    with pytest.raises(ValueError, match=f"{path} is not a regular file"):
        fashion_mnist.read_idx(path)


@pytest.fixture
def quick_deadline(monkeypatch):
    """Downloads get 0.5 s in total (the per-read timeout stays 30 s)."""
    monkeypatch.setattr(fashion_mnist, "DEADLINE_BASE", 0.5)
    monkeypatch.setattr(fashion_mnist, "SLOWEST_SPEED", 1e12)
    return 0.5


def test_a_trickling_mirror_fails_within_the_total_deadline(tmp_path, monkeypatch, mirror,
                                                             quick_deadline):
    """One byte every 50 ms, never slow enough for the 30 s per-read timeout (scaled down from
    the issue's one byte per 20 s): the download is abandoned at the deadline, the next mirror
    tried, nothing partial left behind, and the helper thread ends."""
    mirror.files["/" + LABELS] = real(LABELS)
    mirror.drip = 0.05
    folder = tmp_path / "data"
    monkeypatch.setattr(fashion_mnist, "search_dirs", lambda: [folder])
    monkeypatch.setattr(fashion_mnist, "MIRRORS", [mirror.url])
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match=f"{mirror.url}{LABELS}: {mirror.url}{LABELS} "
                                                "did not arrive within the 0.5 s allowed"):
        fashion_mnist._load_file(LABELS, [])
    assert time.monotonic() - start < quick_deadline + 2.0  # 102 s of trickle otherwise
    assert list(folder.iterdir()) == []
    with pytest.raises(TimeoutError):  # an OSError
        fashion_mnist.fetch(mirror.url + LABELS, 10**6, quick_deadline)
    for thread in threading.enumerate():
        if thread.name.startswith("tinynn download"):
            thread.join(5)
            assert not thread.is_alive(), "the abandoned transfer should stop at its next read"


@pytest.mark.parametrize("content_length", [True, False])
def test_a_mirror_sending_too_much_is_cut_off(mirror, content_length):
    """A declared length over the limit is refused before reading; without one, reading stops
    one chunk past the limit."""
    limit = fashion_mnist.gz_limit(LABELS)
    mirror.files["/" + LABELS] = bytes(100 * limit)
    mirror.content_length = content_length
    match = (f"is {100 * limit:,} bytes, more than the {limit:,} allowed" if content_length
             else f"sent more than the {limit:,} bytes allowed")
    with pytest.raises(ValueError, match=match):
        fashion_mnist.fetch(mirror.url + LABELS, limit, 30)


# ----- backends agree on non-finite values --------------------------------------------------

def test_both_backends_give_nan_at_the_same_places():
    """A NaN weight feeding a ReLU: numba's ReLU used to make it 0 where NumPy keeps NaN."""
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(6, activation="relu"),
                               layers.Dense(3, activation="softmax")])
    model.layers[0].kernel[1, 2] = np.nan
    model.layers[0].kernel[2, 4] = np.inf
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    outputs = {}
    for name in ("numpy", "numba"):
        backend.set_backend(name)
        try:
            with np.errstate(all="ignore"):
                outputs[name] = model.predict(x, verbose=0)
        finally:
            backend.set_backend("numba")
    assert np.isnan(outputs["numpy"]).any()
    np.testing.assert_array_equal(outputs["numba"], outputs["numpy"])  # NaN == NaN here


# ----- the NaN guard ------------------------------------------------------------------------

SETTINGS = {
    "adam": lambda: optimizers.Adam(),
    "rmsprop": lambda: optimizers.RMSprop(),
    "rmsprop-centered": lambda: optimizers.RMSprop(centered=True, momentum=0.9),
    "sgd": lambda: optimizers.SGD(0.01),
    "sgd-momentum": lambda: optimizers.SGD(0.01, momentum=0.9),
    "sgd-nesterov": lambda: optimizers.SGD(0.01, momentum=0.9, nesterov=True),
}


class Snapshots(Callback):
    """Weights and optimizer state after every applied update, by (epoch, batch)."""

    def __init__(self):
        super().__init__()
        self.after, self.epoch = {}, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.after[(self.epoch, batch)] = (self.model.get_weights(),
                                           [a.copy() for a in self.model.optimizer.variables])


class Poison(layers.Layer):
    """Identity forward; while `armed`, its backward returns NaN (a finite loss, a NaN
    gradient for the layers below)."""

    armed = False

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, X, training=False):
        return X

    def backward(self, dY):
        return dY * np.nan if self.armed else dY


def guarded_fit(optimizer, x, y, epochs=3, callbacks=()):
    """Train a small model; returns (model, snapshots, the fit warning's text or None)."""
    tinynn.utils.set_random_seed(0)
    poison = Poison()
    model = tinynn.Sequential([tinynn.Input((6,)), layers.Dense(8, activation="relu"), poison,
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    snapshots = Snapshots()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        model.fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0,
                  callbacks=[snapshots, *callbacks])
    text = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
            and str(w.message).startswith("Invalid")]
    return model, snapshots, (text[0] if text else None)


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int)


def assert_holds_last_applied_update(model, snapshots, message):
    """The warning's statement, checked: the model holds, bit for bit, the weights and optimizer
    state after the step it names, all finite, and the step count matches."""
    assert message is not None, "training should have stopped with a warning"
    assert "all finite" in message
    optimizer = model.optimizer  # its calls of apply (updates, with gradient accumulation)
    assert getattr(optimizer, "_iterations", optimizer.iterations) == len(snapshots.after)
    weights, state = model.get_weights(), model.optimizer.variables
    assert all(np.isfinite(a).all() for a in (*weights, *state))
    if not snapshots.after:
        assert "before the first step of this fit" in message
        return
    (epoch, batch), (want_weights, want_state) = list(snapshots.after.items())[-1]
    assert f"after the last applied step, epoch {epoch + 1} batch {batch + 1}," in message
    for got, want in zip((*weights, *state), (*want_weights, *want_state), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_one_sample_at_1e22_never_leaves_non_finite_weights(setting, backend_name):
    """A finite loss (logits near 1e21 are a finite cross-entropy) but gradients near 1e22:
    Adam's and RMSprop's squared gradients overflow float32 (before: NaN weights, or for plain
    RMSprop an infinite state and frozen weights with no warning at all); SGD takes the finite
    huge step, and the next batch's loss is infinite. In every setting the warning's statement
    is checked against snapshots."""
    x, y = data()
    x[21, 2] = 1e22  # batch 3 of each epoch
    backend.set_backend(backend_name)
    try:
        model, snapshots, message = guarded_fit(SETTINGS[setting](), x, y)
    finally:
        backend.set_backend("numba")
    assert_holds_last_applied_update(model, snapshots, message)
    if setting.startswith("sgd"):  # the huge step is finite; the loss after it is not
        largest = max(float(np.abs(w).max()) for w in model.get_weights())
        assert largest > 1e15 and f"largest |weight| {largest:.3g}" in message
        assert message.startswith("Invalid loss") and "they give this batch that loss" in message
    else:
        assert message.startswith("Invalid update at epoch 1/3, batch 3/8")
        assert "the update was undone" in message and len(snapshots.after) == 2


OTHER_SETTINGS = {
    "amsgrad": lambda: optimizers.Adam(amsgrad=True),
    "adamw": lambda: optimizers.AdamW(),
    "nadam": lambda: optimizers.Nadam(),
    "adamax": lambda: optimizers.Adamax(),
    "adagrad": lambda: optimizers.Adagrad(),
    "adadelta": lambda: optimizers.Adadelta(),
    "lion": lambda: optimizers.Lion(),
    "adam-clipnorm": lambda: optimizers.Adam(clipnorm=1.0),
    "sgd-global-clipnorm": lambda: optimizers.SGD(global_clipnorm=1.0),
    "rmsprop-clipvalue": lambda: optimizers.RMSprop(clipvalue=0.5),
    "adam-accumulation": lambda: optimizers.Adam(gradient_accumulation_steps=2),
    "sgd-weight-decay": lambda: optimizers.SGD(0.01, momentum=0.9, weight_decay=0.01),
    "adam-schedule": lambda: optimizers.Adam(
        optimizers.schedules.ExponentialDecay(1e-3, decay_steps=10, decay_rate=0.9)),
}


@pytest.mark.parametrize("setting", list(OTHER_SETTINGS))
def test_one_sample_at_1e22_with_every_other_optimizer_and_option(setting):
    """The same batch with the other optimizers and Keras's common arguments: either training
    goes on with finite weights and state (clipping tames the gradient; Adamax's infinity norm
    and Lion's sign never square it), or it stops and the warning's statement holds. With
    gradient accumulation the huge gradient first lands in the accumulators: the check counts
    them, so the update that uses them is caught too."""
    x, y = data()
    x[21, 2] = 1e22
    model, snapshots, message = guarded_fit(OTHER_SETTINGS[setting](), x, y)
    if message is None:
        assert all(np.isfinite(a).all() for a in (*model.get_weights(),
                                                     *model.optimizer.variables))
        assert model.optimizer.iterations > 0
    else:
        assert_holds_last_applied_update(model, snapshots, message)


def test_with_use_ema_the_warning_says_the_weights_become_their_averages():
    x, y = data()
    x[21, 2] = 1e22
    model, snapshots, message = guarded_fit(optimizers.Adam(use_ema=True), x, y)
    assert "As use_ema=True, fit now sets the weights to their moving averages" in message
    for got, average in zip(model.get_weights(), model.optimizer.averages, strict=True):
        np.testing.assert_array_equal(got, average)
    assert all(np.isfinite(a).all() for a in model.optimizer.variables)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_a_nan_gradient_with_a_finite_loss_is_never_applied(setting):
    """Backward overflows while the loss is finite: the step is refused before the update."""
    x, y = data()

    class Arm(Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if len(self.model.history.epoch) == 1 and batch == 4:
                self.model.layers[1].armed = True

    model, snapshots, message = guarded_fit(SETTINGS[setting](), x, y, callbacks=[Arm()])
    assert message.startswith("Invalid gradient at epoch 2/3, batch 5/8: the loss was finite "
                              "but 56 gradient entries are NaN or infinite")  # Dense(6, 8)
    assert_holds_last_applied_update(model, snapshots, message)
    assert len(snapshots.after) == 8 + 4


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_a_huge_learning_rate_says_exactly_what_the_model_holds(setting):
    """The issue's SGD(1e6) (Adam's and RMSprop's steps are about learning_rate whatever the
    gradient, so they need 1e36 to overflow): the weights grow huge until a loss or an update
    is not finite. The model keeps the finite weights after the last applied update, with the
    largest one named."""
    x, y = data()
    optimizer = SETTINGS[setting]()
    optimizer.learning_rate = 1e6 if setting.startswith("sgd") else 1e36
    model, snapshots, message = guarded_fit(optimizer, x, y, epochs=20)
    assert_holds_last_applied_update(model, snapshots, message)
    largest = max(float(np.abs(w).max()) for w in model.get_weights())
    assert f"largest |weight| {largest:.3g}" in message and largest > 1e3


# ----- names, labels, callbacks -------------------------------------------------------------

KERAS_DUPLICATE = ("All layers added to a Sequential model should have unique names. Name 'a' "
                   "is already the name of a layer in this model. Update the `name` argument "
                   "to pass a unique name.")  # Keras 3.15, measured


def test_duplicate_layer_names_are_refused_like_keras():
    with pytest.raises(ValueError) as info:
        tinynn.Sequential([tinynn.Input((3,)), layers.Dense(2, name="a"),
                           layers.Dense(2, name="a")])
    assert str(info.value) == KERAS_DUPLICATE
    model = tinynn.Sequential([layers.Dense(2, name="a")])
    with pytest.raises(ValueError, match="should have unique names"):
        model.add(layers.Dropout(0.5, name="a"))
    config = tinynn.Sequential([tinynn.Input((3,)), layers.Dense(2, name="a"),
                                layers.Dense(2, name="b")]).get_config()
    config["layers"][2]["config"]["name"] = "a"  # an edited file: loading must refuse it too
    with pytest.raises(ValueError, match="Name 'a' is already the name"):
        tinynn.Sequential.from_config(config)


def test_the_same_layer_twice_is_refused():
    """Keras shares one layer's weights when it appears twice; a tinynn layer keeps the inputs
    of its last forward for backward, so its second use would corrupt the first's gradient."""
    dense = layers.Dense(3)
    with pytest.raises(ValueError, match=f"Layer '{dense.name}' is already in this model"):
        tinynn.Sequential([tinynn.Input((3,)), dense, dense])


@pytest.mark.parametrize("labels,message", [
    (np.array([0, 1, 1e20, 2, 0, 1]), "y must hold labels in [0, 3) for a model with 3 outputs, "
                                      "got labels from 0.0 to 1e+20."),
    (np.array([0, 1, 2**63, 2, 0, 1], dtype=np.uint64), "got labels from 0 to "
                                                         "9223372036854775808."),
    ([[0], [1, 2], 0, 0, 0, 0], "y must be an array of integer labels, one per sample; "
                                "converting it failed"),
])
def test_labels_out_of_int64_range_or_ragged_name_y(labels, message):
    """A float label of 1e20 used to be cast first: "got labels from -9223372036854775808"."""
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    x = np.ones((6, 4), np.float32)
    with pytest.raises(ValueError) as info:
        model.fit(x, labels, verbose=0)
    assert message in str(info.value)
    with pytest.raises(ValueError, match="validation_data\\[1\\]"):
        model.fit(x, np.zeros(6, int), validation_data=(x, labels), verbose=0)


def test_a_callback_class_instead_of_an_instance_is_named():
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match=r"got the class EarlyStopping itself: pass an instance, "
                                        r"EarlyStopping\(...\)"):
        model.fit(np.ones((6, 4)), np.zeros(6, int), callbacks=[EarlyStopping], verbose=0)


# ----- inference in another thread during a training step -----------------------------------

class Rendezvous(layers.Layer):
    """Identity. In the training forward of step `at`, between this step's forward and its
    backward, it lets another thread run (`go`) and waits until that thread is done (`done`)."""

    def __init__(self, at=None, **kwargs):
        super().__init__(**kwargs)
        self.at, self.steps = at, 0
        self.go, self.done = threading.Event(), threading.Event()

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, X, training=False):
        if training:
            self.steps += 1
            if self.steps == self.at:
                self.go.set()
                assert self.done.wait(60), "the inference thread did not finish"
        return X

    def backward(self, dY):
        return dY


def threaded_run(interfere: bool, at_end: bool, activity=None):
    tinynn.utils.set_random_seed(1)
    meet = Rendezvous(at=3 if interfere else None)
    stack = [layers.Dense(16, activation="relu", activity_regularizer=activity),
             layers.Dropout(0.3), layers.Dense(8, activation="relu"),
             layers.Dense(3, activation="softmax")]
    stack.insert(len(stack) if at_end else 1, meet)  # after the first Dense, or last
    model = tinynn.Sequential([tinynn.Input((6,)), *stack])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x, y = data(40)
    other = np.random.default_rng(5).normal(size=(13, 6)).astype(np.float32)
    seen = {}

    def infer():
        meet.go.wait(60)
        try:  # a different batch size: before, fit's backward met these shapes
            seen["predict"] = model.predict(other, batch_size=5, verbose=0)
            seen["evaluate"] = model.evaluate(other, np.zeros(13, int), batch_size=8, verbose=0)
            seen["call"] = model(other)
        finally:
            meet.done.set()

    thread = threading.Thread(target=infer)
    if interfere:
        thread.start()
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0)
    if interfere:
        thread.join(60)
    return model.get_weights(), history.history, seen


@pytest.mark.parametrize("activity", [None, "l2"], ids=["plain", "activity-l2"])
@pytest.mark.parametrize("at_end", [False, True], ids=["after-first-dense", "after-last"])
def test_inference_in_another_thread_leaves_a_training_step_untouched(at_end, activity):
    """predict, evaluate and model(x) run, in a real thread, while a training step sits between
    its forward and its backward (made deterministic with two events): training ends with
    exactly the weights and history of an undisturbed run. Before: fit died with a raw matmul
    error, or finished with different weights (up to 0.093 in the issue). With an activity
    regularizer, model(x) sets model.losses to its own penalties, as Keras's model(x) does: that
    value is the one thing the paused step then logs in its loss (its gradient is untouched)."""
    want_weights, want_history, _ = threaded_run(False, at_end, activity)
    weights, history, seen = threaded_run(True, at_end, activity)
    assert set(seen) == {"predict", "evaluate", "call"}
    np.testing.assert_allclose(seen["predict"], seen["call"], rtol=1e-5)  # batch 5 vs 13
    if activity:
        assert history["loss"][0] != want_history["loss"][0]
        history["loss"][0] = want_history["loss"][0]
    assert history == want_history
    for got, want in zip(weights, want_weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_layer_backward_after_an_inference_forward_still_works():
    """Only the model's inference entry points use copies: a layer's own forward, in either
    mode, still keeps what its backward needs (gradcheck and the tutorials rely on it)."""
    dense = layers.Dense(3, activation="tanh")
    X = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    Y = dense(X)  # training=False
    dX = dense.backward(np.ones_like(Y))
    assert dX.shape == X.shape and np.abs(dense.grads["kernel"]).sum() > 0


class SignSGD(optimizers.Optimizer):
    """w -= learning_rate * sign(g): a step of learning_rate whatever the gradient's size, as
    Adam's nearly is."""

    def update_step(self, grads, variables, slots):
        for w, g in zip(variables, grads, strict=True):
            w -= self.learning_rate * np.sign(g)


def test_a_huge_learning_rate_with_a_tiny_gradient_takes_the_checked_path():
    """A step of 1e38 from a gradient of norm 1e-20: the check uses learning_rate * max(norm, 1),
    so the step is applied on trial and, as it overflows, undone."""
    from tinynn import safety

    w = np.full(4, 3e38, np.float32)
    optimizer = SignSGD(1e38)
    with pytest.raises(safety.NonFiniteUpdate, match="made the weights non-finite"), \
            np.errstate(all="ignore"):
        safety.apply_update(optimizer, [np.full(4, -5e-21, np.float32)], [w])
    np.testing.assert_array_equal(w, np.float32(3e38))
    assert optimizer.iterations == 0
    safety.apply_update(optimizer, [np.full(4, 5e-21, np.float32)], [w])  # finite: kept
    np.testing.assert_array_equal(w, np.float32(3e38) - np.float32(1e38))
