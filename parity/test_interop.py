"""`tinynn.models.from_keras` and `Sequential.to_keras`: predictions equal within 1e-6 in both
directions (and float64 to 1e-12), and a trained tinynn model exported to Keras keeps its test
accuracy."""

import numpy as np
import pytest

import tinynn


def keras_zoo(keras):
    """One Keras Sequential using every supported layer and activation."""
    return keras.Sequential([
        keras.Input((4, 5)),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(12, kernel_regularizer="l2", bias_regularizer=keras.regularizers.L1(0.1),
                           activity_regularizer=keras.regularizers.L1L2(0.01, 0.02)),
        keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-2),
        keras.layers.ReLU(),
        keras.layers.Dense(12, activation="tanh"),
        keras.layers.LayerNormalization(center=False),
        keras.layers.Activation("sigmoid"),
        keras.layers.Dense(8, activation="linear", use_bias=False),
        keras.layers.Activation("tanh"),
        keras.layers.Dense(6),
        keras.layers.Softmax(),
    ])


def tinynn_zoo():
    L = tinynn.layers
    R = tinynn.regularizers
    return tinynn.Sequential([
        tinynn.Input((4, 5)), L.Flatten(), L.Dense(16, activation="relu"), L.Dropout(0.5),
        L.Dense(12, kernel_regularizer="l2", bias_regularizer=R.L1(0.1),
                activity_regularizer=R.L1L2(0.01, 0.02)),
        L.BatchNormalization(momentum=0.9, epsilon=1e-2), L.ReLU(),
        L.Dense(12, activation="tanh"), L.LayerNormalization(center=False),
        L.Activation("sigmoid"), L.Dense(8, use_bias=False), L.Activation("tanh"),
        L.Dense(6, activation="softmax"),
    ])


def tolerance(dtype):
    return dict(atol=1e-6, rtol=0) if dtype == "float32" else dict(atol=1e-12, rtol=0)


def test_from_keras_predicts_like_keras(keras, floatx, report):
    keras.utils.set_random_seed(3)
    k_model = keras_zoo(keras)
    t_model = tinynn.models.from_keras(k_model)
    assert [type(layer).__name__ for layer in t_model.layers] == [
        "Flatten", "Dense", "Dropout", "Dense", "BatchNormalization", "ReLU", "Dense",
        "LayerNormalization", "Activation", "Dense", "Activation", "Dense", "Softmax"]
    assert t_model.layers[3].kernel_regularizer.get_config() == {"l2": 0.01}
    x = np.random.default_rng(1).normal(size=(300, 4, 5)).astype(floatx)
    P_k, P_t = k_model.predict(x, verbose=0), t_model.predict(x, verbose=0)
    assert P_t.dtype == np.dtype(floatx)
    report(f"from_keras predictions {floatx}", f"max |diff| {np.abs(P_k - P_t).max():.1e}")
    np.testing.assert_allclose(P_t, P_k, **tolerance(floatx))


def test_to_keras_predicts_like_tinynn(keras, floatx, report):
    tinynn.utils.set_random_seed(4)
    t_model = tinynn_zoo()
    for w in t_model.weights:
        w += np.random.default_rng(w.size).normal(scale=0.1, size=w.shape)  # nonzero biases
    k_model = t_model.to_keras()
    assert all(w.dtype == np.dtype(floatx) for w in k_model.get_weights())
    x = np.random.default_rng(2).normal(size=(300, 4, 5)).astype(floatx)
    P_k, P_t = k_model.predict(x, verbose=0), t_model.predict(x, verbose=0)
    report(f"to_keras predictions {floatx}", f"max |diff| {np.abs(P_k - P_t).max():.1e}")
    np.testing.assert_allclose(P_k, P_t, **tolerance(floatx))
    back = tinynn.models.from_keras(k_model)
    for a, b in zip(back.get_weights(), t_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # the regularizers and normalization settings travelled both ways
    for ours, theirs, again in zip(t_model.layers, k_model.layers, back.layers, strict=True):
        config = ours.get_config()
        for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                    "momentum", "epsilon", "center", "scale"):
            if key in config:
                assert again.get_config()[key] == config[key], (ours.name, key)
                value = getattr(theirs, key)
                assert (value.get_config() if hasattr(value, "get_config") else value) == (
                    config[key]["config"] if isinstance(config[key], dict) else config[key])


def test_unsupported_layers_are_named(keras):
    k_model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4),
                                keras.layers.AlphaDropout(0.1, name="noise")])
    with pytest.raises(TypeError, match="'noise' of type AlphaDropout.*Supported layers"):
        tinynn.models.from_keras(k_model)
    sparsemax = keras.Sequential([keras.Input((8,)),
                                  keras.layers.Dense(4, activation="sparsemax")])
    with pytest.raises(ValueError, match="activation 'sparsemax'"):
        tinynn.models.from_keras(sparsemax)
    orthogonal = keras.Sequential([keras.Input((8,)), keras.layers.Dense(
        4, kernel_regularizer=keras.regularizers.OrthogonalRegularizer())])
    with pytest.raises(ValueError, match="kernel_regularizer=.*L1, L2 and L1L2"):
        tinynn.models.from_keras(orthogonal)
    renorm = keras.Sequential([keras.Input((8,)), keras.layers.BatchNormalization(renorm=True)])
    with pytest.raises(ValueError, match="uses renorm"):
        tinynn.models.from_keras(renorm)


def test_exported_trained_model_keeps_its_accuracy(keras, fashion, report):
    (x, y), (xt, yt) = fashion
    x, xt = x[:12_000].astype("float32"), xt.astype("float32")
    tinynn.utils.set_random_seed(5)
    L = tinynn.layers
    model = tinynn.Sequential([tinynn.Input((28, 28)), L.Flatten(),
                               L.Dense(128, activation="relu"), L.Dropout(0.2),
                               L.Dense(10, activation="softmax")])
    model.compile(optimizer=tinynn.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y[:12_000], epochs=1, verbose=0)
    t_loss, t_acc = model.evaluate(xt, yt, verbose=0)
    k_model = model.to_keras()
    k_loss, k_acc = k_model.evaluate(xt, yt, verbose=0)
    report("exported trained model, Fashion-MNIST test set",
           f"tinynn accuracy {t_acc:.4f} loss {t_loss:.6f}; Keras accuracy {k_acc:.4f} "
           f"loss {k_loss:.6f}")
    assert t_acc > 0.75, "the model did not train"
    assert abs(t_acc - k_acc) <= 2e-4, "exported model's accuracy differs (more than 2 ties)"
    assert abs(t_loss - k_loss) <= 1e-5 * t_loss
    k_model.fit(x[:64], y[:64], epochs=1, verbose=0)  # it is compiled and trains


def test_import_tinynn_does_not_import_tensorflow():
    import subprocess
    import sys
    code = "import sys, tinynn, tinynn.interop; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def new_zoo(module):
    """The layers, activations and initializers of issue 14, Dense on 3-D input included;
    `module` is keras or tinynn (the same code builds both)."""
    L, init = module.layers, module.initializers
    return module.Sequential([
        module.Input((4, 5)),
        L.Dense(8, activation="gelu", kernel_initializer=init.HeNormal(seed=1),
                bias_initializer=init.Constant(0.1)),  # on the last axis: (None, 4, 8)
        L.PReLU(alpha_initializer=init.RandomUniform(0.0, 0.3, seed=2), shared_axes=[1]),
        L.Flatten(),
        L.Dense(16, activation="selu", kernel_initializer="lecun_normal"),
        L.GaussianNoise(0.2), L.GaussianDropout(0.3),
        L.Dense(12, activation="swish", kernel_initializer=init.Orthogonal(gain=1.2, seed=3)),
        L.LeakyReLU(negative_slope=0.1), L.Dense(12, activation="elu"), L.ELU(alpha=0.5),
        L.Dense(12, activation="softplus"), L.ReLU(max_value=2.0, negative_slope=0.05),
        L.Dense(10, activation="hard_sigmoid"), L.Activation("softsign"),
        L.Dense(6, activation="softmax", kernel_initializer="truncated_normal"),
    ])


def test_new_layers_activations_and_initializers_travel_both_ways(keras, floatx, report):
    keras.utils.set_random_seed(5)
    k_model = new_zoo(keras)
    t_model = tinynn.models.from_keras(k_model)
    assert [type(a).__name__ for a in t_model.layers] == [type(b).__name__
                                                          for b in k_model.layers]
    x = np.random.default_rng(3).normal(size=(200, 4, 5)).astype(floatx)
    P_k, P_t = k_model.predict(x, verbose=0), t_model.predict(x, verbose=0)
    report(f"from_keras (new layers) {floatx}", f"max |diff| {np.abs(P_k - P_t).max():.1e}")
    np.testing.assert_allclose(P_t, P_k, **tolerance(floatx))
    # the constructor arguments came across: each tinynn config equals its Keras twin's
    for t_layer, k_layer in zip(t_model.layers, k_model.layers, strict=True):
        theirs = k_layer.get_config()
        for key, value in t_layer.get_config().items():
            if key in ("name", "kernel_initializer", "bias_initializer", "alpha_initializer"):
                continue
            assert theirs[key] == value, (t_layer.name, key)
    assert t_model.layers[0].kernel_initializer.get_config() == {
        "seed": 1, "input_axes": None, "output_axes": None}

    tinynn.utils.set_random_seed(6)
    t_model = new_zoo(tinynn)
    exported = t_model.to_keras()
    P_k, P_t = exported.predict(x, verbose=0), t_model.predict(x, verbose=0)
    np.testing.assert_allclose(P_k, P_t, **tolerance(floatx))
    for t_layer, k_layer in zip(t_model.layers, exported.layers, strict=True):
        for key in ("kernel_initializer", "bias_initializer", "alpha_initializer"):
            if key in t_layer.get_config():
                ours, theirs = getattr(t_layer, key), k_layer.get_config()[key]
                assert theirs["class_name"] == type(ours).__name__, (t_layer.name, key)
                assert theirs["config"] == ours.get_config(), (t_layer.name, key)


@pytest.mark.parametrize("axis", [-1, None])
def test_an_adapted_normalization_travels_both_ways(keras, floatx, axis):
    """Its statistics are weights: to_keras sets them in Keras (and has Keras's layer read them,
    which it does only after finalize_state()), from_keras brings them back."""
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(50, 3)) * [1, 10, 100] + [0, 5, -50]).astype(floatx)
    normalizer = tinynn.layers.Normalization(axis=axis)
    normalizer.adapt(x)
    t_model = tinynn.Sequential([tinynn.Input((3,)), normalizer, tinynn.layers.Dense(2)])
    exported = t_model.to_keras()
    np.testing.assert_allclose(exported.predict(x, verbose=0), t_model.predict(x, verbose=0),
                               **tolerance(floatx))
    k_normalizer = keras.layers.Normalization(axis=axis)
    k_normalizer.adapt(x)
    k_model = keras.Sequential([keras.Input((3,)), k_normalizer, keras.layers.Dense(2)])
    back = tinynn.models.from_keras(k_model)
    assert back.layers[0].get_config()["axis"] == list(k_normalizer.axis)
    np.testing.assert_allclose(back.predict(x, verbose=0), k_model.predict(x, verbose=0),
                               **tolerance(floatx))
