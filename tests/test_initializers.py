"""Initializers: Keras's names, arguments and configs; seeded and unseeded draws; the
distributions' formulas checked statistically (fixed seeds, 5-standard-error bounds); orthogonal
matrices; saving a Dense with an initializer object. The distributions against Keras's own draws
are in parity/test_initializers.py."""

import math

import numpy as np
import pytest

import tinynn
from tinynn import initializers as I
from tinynn import layers

CLASSES = I._CLASSES
SHAPE = (400, 300)  # 120,000 draws: fan_in 400, fan_out 300


def test_names_aliases_and_lower_case_classes_like_keras():
    assert I.he_normal is I.HeNormal and I.glorot_uniform is I.GlorotUniform
    for name, cls in [("he_normal", I.HeNormal), ("HeNormal", I.HeNormal),
                      ("truncated_normal", I.TruncatedNormal), ("normal", I.RandomNormal),
                      ("uniform", I.RandomUniform), ("zero", I.Zeros), ("one", I.Ones),
                      ("Zeros", I.Zeros), ("orthogonal", I.Orthogonal),
                      ("variance_scaling", I.VarianceScaling), ("lecun_uniform", I.LecunUniform)]:
        assert type(I.get(name)) is cls, name
    with pytest.raises(ValueError, match="Unknown initializer 'he'. Known initializers: "
                                         "constant, glorot_normal, glorot_uniform, he_normal"):
        I.get("he")
    assert type(I.get(I.HeUniform)) is I.HeUniform  # a class is instantiated, as in Keras
    init = I.RandomNormal(stddev=2.0)
    assert I.get(init) is init
    assert I.get({"class_name": "RandomNormal", "config": {"stddev": 2.0}}).stddev == 2.0
    # Keras's own dict, "module" and all
    keras_dict = {"module": "keras.initializers", "class_name": "HeNormal",
                  "config": {"seed": 3, "input_axes": None, "output_axes": None},
                  "registered_name": None}
    assert I.get(keras_dict).seed == 3


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_config_round_trip_and_serialize(cls):
    default = cls()
    if cls is I.Constant:  # Keras cannot rebuild Constant from its name: always a config
        assert I.serialize(default) == {"class_name": "Constant", "config": {"value": 0.0}}
    else:
        assert I.serialize(default) == I._snake(cls.__name__)  # default arguments: the name
    assert type(I.get(I.serialize(default))) is cls
    changed = cls(**{k: v for k, v in {"seed": 5, "value": 2.5, "mean": 1.0, "gain": 3.0,
                                       "minval": -1.0, "stddev": 0.5}.items()
                     if k in cls().get_config()})
    spec = I.serialize(changed)
    if cls in (I.Zeros, I.Ones):
        assert spec == I._snake(cls.__name__)  # no arguments at all
        return
    assert spec == {"class_name": cls.__name__, "config": changed.get_config()}
    twin = I.get(spec)
    assert type(twin) is cls and twin.get_config() == changed.get_config()
    assert cls.from_config(changed.get_config()).get_config() == changed.get_config()


def test_keras_argument_names_and_defaults():
    assert I.RandomNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert I.TruncatedNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert I.RandomUniform().get_config() == {"seed": None, "minval": -0.05, "maxval": 0.05}
    assert I.Constant().get_config() == {"value": 0.0}
    assert I.Orthogonal().get_config() == {"seed": None, "gain": 1.0}
    assert I.HeNormal(seed=1).get_config() == {"seed": 1, "input_axes": None,
                                               "output_axes": None}
    assert I.VarianceScaling().get_config() == {
        "seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
        "input_axes": None, "output_axes": None}


@pytest.mark.parametrize("make,match", [
    (lambda: I.VarianceScaling(scale=0), "positive scale"),
    (lambda: I.VarianceScaling(mode="fan"), "mode"),
    (lambda: I.VarianceScaling(distribution="cauchy"), "distribution"),
    (lambda: I.HeNormal(seed=1.5), "integer seed"),
    (lambda: I.Constant([1, 2])((3,)), "cannot fill a weight of shape"),
    (lambda: I.Orthogonal()((5,)), "at least 2 dimensions"),
    (lambda: I.get(42), "Could not interpret"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("cls", [c for c in CLASSES if issubclass(c, I.RandomInitializer)],
                         ids=lambda c: c.__name__)
def test_seeded_is_repeatable_unseeded_follows_set_random_seed(cls):
    a, b = cls(seed=1)((6, 5)), cls(seed=1)((6, 5))
    np.testing.assert_array_equal(a, b)  # same seed, same values, call after call
    assert not np.array_equal(a, cls(seed=2)((6, 5)))
    init = cls()
    tinynn.utils.set_random_seed(7)
    first, second = init((6, 5)), init((6, 5))
    assert not np.array_equal(first, second)  # unseeded: each call draws anew
    tinynn.utils.set_random_seed(7)
    np.testing.assert_array_equal(init((6, 5)), first)  # ... from tinynn's generator


def test_glorot_uniform_draws_exactly_as_before():
    """The default Dense kernel: uniform(-l, l), l = sqrt(6 / (fan_in + fan_out)), one call of
    the global generator; the flagship example's numbers depend on it."""
    for shape in [(784, 512), (3, 5), (7, 1)]:
        tinynn.utils.set_random_seed(42)
        got = I.GlorotUniform()(shape, "float32")
        limit = np.sqrt(6.0 / sum(shape))
        want = np.random.default_rng(42).uniform(-limit, limit, size=shape).astype("float32")
        np.testing.assert_array_equal(got, want)
    tinynn.utils.set_random_seed(42)
    kernel = layers.Dense(4)
    kernel.build((None, 3))
    np.testing.assert_array_equal(
        kernel.kernel, np.random.default_rng(42).uniform(-math.sqrt(6 / 7), math.sqrt(6 / 7),
                                                         size=(3, 4)).astype("float32"))


def within(values, mean, variance, n_se=5):
    """mean and variance within n_se standard errors (variance's s.e. from the 4th moment)."""
    n = values.size
    fourth = np.mean((values - values.mean()) ** 4)
    assert abs(values.mean() - mean) < n_se * math.sqrt(variance / n), values.mean()
    assert abs(values.var() - variance) < n_se * math.sqrt((fourth - variance**2) / n), \
        (values.var(), variance)


TRUNC = 0.87962566103423978  # standard deviation of a standard normal cut at +-2


@pytest.mark.parametrize("init,variance,bound", [
    (I.HeNormal(seed=0), 2 / 400, 2 * math.sqrt(2 / 400) / TRUNC),
    (I.HeUniform(seed=0), 2 / 400, math.sqrt(6 / 400)),
    (I.LecunNormal(seed=0), 1 / 400, 2 * math.sqrt(1 / 400) / TRUNC),
    (I.LecunUniform(seed=0), 1 / 400, math.sqrt(3 / 400)),
    (I.GlorotNormal(seed=0), 2 / 700, 2 * math.sqrt(2 / 700) / TRUNC),
    (I.GlorotUniform(seed=0), 2 / 700, math.sqrt(6 / 700)),
    (I.VarianceScaling(3.0, "fan_out", "untruncated_normal", seed=0), 3 / 300, None),
    (I.VarianceScaling(0.5, "fan_avg", "uniform", seed=0), 0.5 / 350, math.sqrt(1.5 / 350)),
    (I.RandomNormal(0.0, 0.2, seed=0), 0.04, None),
    (I.RandomUniform(-0.3, 0.3, seed=0), 0.03, 0.3),
    (I.TruncatedNormal(0.0, 0.1, seed=0), (0.1 * TRUNC) ** 2, 0.2),
], ids=lambda x: type(x).__name__ if isinstance(x, I.Initializer) else "")
def test_variance_scaling_family_has_its_formula(init, variance, bound):
    W = init(SHAPE, "float64")
    within(W, 0.0, variance)
    if bound is not None:
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound


def test_truncated_normal_cuts_at_two_standard_deviations_around_the_mean():
    W = I.TruncatedNormal(mean=1.0, stddev=0.5, seed=3)((200, 100), "float64")
    assert W.min() >= 0.0 and W.max() <= 2.0 and W.min() < 0.01 and W.max() > 1.99
    within(W, 1.0, (0.5 * TRUNC) ** 2)
    # a standard normal cut at +-2: 95.45% of draws kept; none outside after redrawing
    X = I.truncated_standard_normal(np.random.default_rng(0), (100000,))
    assert np.abs(X).max() <= 2 and abs(X.std() - TRUNC) < 0.005


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (2, 3, 4), (5, 5)])
def test_orthogonal(shape):
    W = I.Orthogonal(gain=2.0, seed=0)(shape, "float64")
    assert W.shape == shape
    M = W.reshape(-1, shape[-1])
    small = min(M.shape)
    gram = M.T @ M if M.shape[0] >= M.shape[1] else M @ M.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)


def test_constant_zeros_ones_and_dtypes():
    np.testing.assert_array_equal(I.Constant(2.5)((2, 3), "float64"), np.full((2, 3), 2.5))
    assert I.Zeros()((3,), "float64").dtype == np.float64 and not I.Zeros()((3,)).any()
    assert (I.Ones()((2, 2)) == 1).all() and I.Ones()((2, 2)).dtype == np.float32
    assert I.HeNormal(seed=0)((3, 3), "float64").dtype == np.float64


def test_constant_takes_an_array_broadcast_to_the_shape_as_keras():
    """TensorFlow's imbalanced-data tutorial: `Constant(np.log([pos / neg]))` for a bias."""
    b0 = np.log([30 / 570])
    np.testing.assert_array_equal(I.Constant(b0)((1,), "float64"), b0)
    np.testing.assert_array_equal(I.Constant([1.0, 2.0])((3, 2), "float64"), [[1, 2]] * 3)
    assert I.Constant(b0).get_config() == {"value": b0.tolist()}
    assert I.Constant.from_config(I.Constant(b0).get_config())((1,), "float64")[0] == b0[0]
    with pytest.raises(ValueError, match=r"Constant's value of shape \(2,\) cannot fill a "
                                         r"weight of shape \(3,\)"):
        I.Constant([1.0, 2.0])((3,))
    with pytest.raises(ValueError, match="Constant expected a number"):
        I.Constant("one")


def test_none_initializer_is_glorot_uniform_as_in_keras_3():
    """Keras 3's add_weight turns initializer=None into glorot_uniform for a float weight,
    a bias included (`Dense(1, bias_initializer=None)`); the config keeps None."""
    assert I.get(None) is None and I.serialize(None) is None
    tinynn.utils.set_random_seed(0)
    dense = layers.Dense(50, bias_initializer=None)
    dense.build((None, 4))
    bias = dense.params["bias"]
    assert np.all(np.abs(bias) <= math.sqrt(6 / (50 + 50))) and np.std(bias) > 0.1
    assert dense.get_config()["bias_initializer"] is None
    assert layers.Dense.from_config(dense.get_config()).bias_initializer is None


def test_dense_with_initializer_objects_saves_and_loads(tmp_path):
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([
        tinynn.Input((5,)),
        layers.Dense(4, activation="elu", kernel_initializer=I.HeNormal(seed=1),
                     bias_initializer=I.Constant(0.1)),
        layers.Dense(3, activation="softmax", kernel_initializer="orthogonal")])
    config = model.layers[0].get_config()
    assert config["kernel_initializer"] == {"class_name": "HeNormal", "config": {
        "seed": 1, "input_axes": None, "output_axes": None}}
    assert config["bias_initializer"] == {"class_name": "Constant", "config": {"value": 0.1}}
    assert model.layers[1].get_config()["kernel_initializer"] == "orthogonal"
    np.testing.assert_array_equal(model.layers[0].kernel, I.HeNormal(seed=1)((5, 4)))
    np.testing.assert_array_equal(model.layers[0].bias, np.full(4, 0.1, "float32"))
    model.compile(loss="sparse_categorical_crossentropy")
    model.save(tmp_path / "m.npz")
    loaded = tinynn.models.load_model(tmp_path / "m.npz")
    assert [layer.get_config() for layer in loaded.layers] == [
        layer.get_config() for layer in model.layers]
    # a rebuilt layer draws the same seeded kernel again
    twin = layers.Dense.from_config(config)
    twin.build((None, 5))
    np.testing.assert_array_equal(twin.kernel, model.layers[0].kernel)


def test_a_function_initializer_works_but_cannot_be_saved():
    layer = layers.Dense(2, kernel_initializer=lambda shape, dtype: np.full(shape, 3.0, dtype))
    layer.build((None, 2))
    assert (layer.kernel == 3).all()
    with pytest.raises(ValueError, match="Cannot save the custom initializer"):
        layer.get_config()


def test_a_users_initializer_subclass_round_trips():
    class Twos(I.Initializer):
        def __init__(self, scale=1.0):
            self.scale = scale

        def __call__(self, shape, dtype=None):
            return np.full(shape, 2.0 * self.scale, dtype or "float32")

        def get_config(self):
            return {"scale": self.scale}

    layer = layers.Dense(2, kernel_initializer=Twos(3.0))
    spec = layer.get_config()["kernel_initializer"]
    assert spec == {"class_name": "Twos", "config": {"scale": 3.0}}
    twin = layers.Dense.from_config(layer.get_config())
    twin.build((None, 1))
    assert (twin.kernel == 6).all()
