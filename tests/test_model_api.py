"""The smaller parts of Keras's model API that programs use: get_layer, pop,
trainable_variables, train_on_batch / test_on_batch / predict_on_batch, backend.clear_session,
utils.normalize, and the Reshape and Rescaling layers."""

import numpy as np
import pytest

import tinynn
from tinynn import layers


def small(seed=0):
    tinynn.utils.set_random_seed(seed)
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(5, activation="relu", name="h"),
                               layers.Dropout(0.5), layers.Dense(1, name="out")])
    model.compile(optimizer=tinynn.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
    return model


def data(n=8):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


def test_get_layer_by_name_and_index_and_its_errors():
    model = small()
    assert model.get_layer("h") is model.layers[0] and model.get_layer(index=-1).name == "out"
    with pytest.raises(ValueError, match=r"No such layer: nope. Existing layers are: \['h', "):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="Provide either a layer name or layer index"):
        model.get_layer()
    with pytest.raises(ValueError, match="at index 3 but model only has 3 layers"):
        model.get_layer(index=3)


def test_pop_removes_the_last_layer_and_rebuilds():
    model = small()
    assert model.pop().name == "out"
    assert model.output_shape == (None, 5) and len(model.weights) == 2
    model.pop(), model.pop()
    with pytest.raises(IndexError, match="no layers to pop"):
        model.pop()


def test_trainable_variables_are_the_trainable_weights():
    model = small()
    assert all(a is b for a, b in zip(model.trainable_variables, model.trainable_weights,
                                      strict=True))
    assert len(model.variables) == 4


def test_train_on_batch_is_one_step_and_returns_the_loss_before_it():
    x, y = data()
    a, b = small(), small()
    before = a.test_on_batch(x, y)
    assert before == pytest.approx(a.evaluate(x, y, batch_size=8, verbose=0))
    out = a.train_on_batch(x, y)
    b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)  # the same single step as fit's
    assert isinstance(out, list) and len(out) == 2 and out[0] > 0
    logs = a.train_on_batch(x, y, return_dict=True)
    assert sorted(logs) == ["loss", "mae"]
    # metrics start afresh each call: the second call's loss is its own batch's
    assert a.test_on_batch(x[:4], y[:4]) == pytest.approx(
        a.evaluate(x[:4], y[:4], batch_size=4, verbose=0))


def test_predict_on_batch_is_one_inference_pass():
    x, _ = data()
    model = small()
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x, verbose=0))


def test_train_on_batch_does_not_apply_a_non_finite_step():
    x, y = data()
    model = small()
    model.get_layer("out").bias.assign([3e38])  # squared, the error overflows float32
    before = model.get_weights()
    with pytest.warns(RuntimeWarning, match="train_on_batch: the loss is not finite"):
        loss = model.train_on_batch(x, y)
    assert not np.isfinite(loss[0] if isinstance(loss, list) else loss)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_on_batch_methods_need_compile():
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(1)])
    x, y = data()
    for method in (model.train_on_batch, model.test_on_batch):
        with pytest.raises(ValueError, match="compile"):
            method(x, y)


def test_clear_session_restarts_the_automatic_names():
    layers.Dense(2), tinynn.metrics.AUC()
    tinynn.backend.clear_session()
    assert layers.Dense(2).name == "dense" and layers.Dense(2).name == "dense_1"
    assert tinynn.metrics.AUC().name == "auc" and tinynn.Sequential().name == "sequential"


def test_normalize_divides_by_the_norm_and_keeps_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(tinynn.utils.normalize(x), [[0.6, 0.8], [0, 0]])
    np.testing.assert_allclose(tinynn.utils.normalize(x, axis=0), [[1, 1], [0, 0]])
    np.testing.assert_allclose(tinynn.utils.normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0]])
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    out = tinynn.utils.normalize(images, axis=1)
    assert out.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(out, axis=1)[1], 1.0)


def test_reshape_forward_backward_and_shapes():
    layer = layers.Reshape((2, -1))
    X = np.arange(12.0).reshape(2, 6)
    Y = layer(X)
    assert Y.shape == (2, 2, 3) and layer.compute_output_shape((None, 6)) == (None, 2, 3)
    np.testing.assert_array_equal(layer.backward(Y * 2), X * 2)
    with pytest.raises(ValueError, match="at most one unknown dimension"):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError, match="cannot reshape samples of shape \\(6,\\).*to \\(4,\\)"):
        tinynn.Sequential([tinynn.Input((6,)), layers.Reshape((4,))])
    with pytest.raises(ValueError, match="not a multiple of 4"):
        layers.Reshape((4, -1))(X)
    assert layers.Reshape.from_config(layer.get_config()).target_shape == (2, -1)


def test_rescaling_casts_pixels_and_scales_the_gradient():
    layer = layers.Rescaling(1 / 127.5, offset=-1.0)
    Y = layer(np.array([[0, 255]], dtype=np.uint8))
    assert Y.dtype == np.float32
    np.testing.assert_allclose(Y, [[-1.0, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(layer.backward(np.ones((1, 2), np.float32)), [[1 / 127.5] * 2],
                               rtol=1e-6)
    per_channel = layers.Rescaling(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(per_channel(np.ones((3, 2), np.float32)), [[1, 2]] * 3)
    assert per_channel.get_config()["scale"] == [1.0, 2.0]
    with pytest.raises(ValueError, match="expected a number .* for scale"):
        layers.Rescaling("big")


def test_clone_model_has_the_architecture_fresh_weights_and_a_fresh_compile():
    model = small()
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    clone = tinynn.models.clone_model(model)
    assert [a.get_config() for a in clone.layers] == [b.get_config() for b in model.layers]
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    assert clone.optimizer is not model.optimizer and clone.optimizer.iterations == 0
    assert clone.optimizer.get_config() == model.optimizer.get_config()
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert sorted(clone.fit(x, y, epochs=1, verbose=0).history) == ["loss", "mae"]
    bare = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(2)])
    assert tinynn.models.clone_model(bare).optimizer is None
    with pytest.raises(TypeError, match="clone_model expected a tinynn Sequential"):
        tinynn.models.clone_model(layers.Dense(2))


def test_to_json_and_model_from_json_round_trip():
    model = small()
    text = model.to_json()
    again = tinynn.models.model_from_json(text)
    assert [type(a) for a in again.layers] == [type(b) for b in model.layers]
    assert [a.get_config() for a in again.layers] == [b.get_config() for b in model.layers]
    assert again.optimizer.get_config()["learning_rate"] == pytest.approx(0.01)
    assert again.to_json() == text
    with pytest.raises(ValueError, match="not JSON"):
        tinynn.models.model_from_json("{not json")
    with pytest.raises(ValueError, match="not a model config"):
        tinynn.models.model_from_json("[1, 2]")
    with pytest.raises(ValueError, match="more than a model config may hold"):
        tinynn.models.model_from_json(" " * (17 << 20))
    with pytest.raises(TypeError, match="expected a JSON string"):
        tinynn.models.model_from_json({"class_name": "Sequential"})
