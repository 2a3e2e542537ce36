"""Keras's functional API and model subclassing, for chains of layers, against Keras: the same
program (the functional-API guide's MLP; a subclass with call(inputs, training)) written once
for each framework, weights copied, float64 SGD without shuffling: History and weights after
fit, predictions, the tensors' shapes, the models' names; Keras loads tinynn's saved functional
model and predicts the same.

rtol 1e-10 atol 1e-12 (the brief's float64 bound).
"""

import numpy as np
import pytest

import tinynn

TOL = dict(rtol=1e-10, atol=1e-12)


def guide_mlp(module):
    """The functional-API guide's first model (smaller): Input, two Dense relu, Dense logits."""
    inputs = module.Input(shape=(12,))
    x = module.layers.Dense(16, activation="relu")(inputs)
    shapes = [tuple(inputs.shape), tuple(x.shape)]
    x = module.layers.Dense(16, activation="relu")(x)
    outputs = module.layers.Dense(4)(x)
    shapes.append(tuple(outputs.shape))
    return module.Model(inputs=inputs, outputs=outputs, name="mnist_model"), shapes


def subclassed(module):
    class MyModel(module.Model):
        def __init__(self):
            super().__init__()
            self.dense1 = module.layers.Dense(16, activation="relu")
            self.dropout = module.layers.Dropout(0.5)
            self.dense2 = module.layers.Dense(4, activation="softmax")

        def call(self, inputs, training=False):
            x = self.dense1(inputs)
            x = self.dropout(x, training=training)
            return self.dense2(x)

    return MyModel()


def fit(model, module, x, y, loss):
    model.compile(optimizer=module.optimizers.SGD(0.1), loss=loss, metrics=["accuracy"])
    return model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                     validation_split=0.25).history


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 12)), rng.integers(0, 4, 64)


def test_functional_guide_matches_keras(keras, floatx64, tmp_path):
    x, y = data()
    keras.utils.set_random_seed(0)
    (k_model, k_shapes), (t_model, t_shapes) = guide_mlp(keras), guide_mlp(tinynn)
    assert t_shapes == k_shapes == [(None, 12), (None, 16), (None, 4)]
    assert t_model.name == k_model.name == "mnist_model"
    t_model.set_weights(k_model.get_weights())
    k_loss, t_loss = (m.losses.SparseCategoricalCrossentropy(from_logits=True)
                      for m in (keras, tinynn))
    k_hist, t_hist = fit(k_model, keras, x, y, k_loss), fit(t_model, tinynn, x, y, t_loss)
    assert list(t_hist) == list(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(t_hist[key], k_hist[key], **TOL, err_msg=key)
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(t_model.predict(x, verbose=0), k_model.predict(x, verbose=0),
                               **TOL)
    t_model.save(tmp_path / "functional.keras")
    loaded = keras.models.load_model(tmp_path / "functional.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), k_model.predict(x, verbose=0),
                               **TOL)


def test_subclassed_model_matches_keras(keras, floatx64):
    """Dropout is inactive here (rate 0.5 would draw different masks): predict and evaluate,
    then fit with the dropout layer's rate set to 0 on both sides."""
    x, y = data()
    keras.utils.set_random_seed(0)
    k_model, t_model = subclassed(keras), subclassed(tinynn)
    assert t_model.name == k_model.name == "my_model"
    k_model(x[:1])  # builds it (Keras 3's build((None, 12)) makes no weights for a subclass)
    t_model(x[:1])
    t_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(t_model.predict(x, verbose=0), k_model.predict(x, verbose=0),
                               **TOL)
    for model in (k_model, t_model):
        model.dropout.rate = 0.0
    k_hist = fit(k_model, keras, x, y, "sparse_categorical_crossentropy")
    t_hist = fit(t_model, tinynn, x, y, "sparse_categorical_crossentropy")
    for key in k_hist:
        np.testing.assert_allclose(t_hist[key], k_hist[key], **TOL, err_msg=key)
    assert [layer.name for layer in t_model.layers] == [t_model.dense1.name,
                                                       t_model.dropout.name,
                                                       t_model.dense2.name]


def test_automatic_names_as_keras(keras):
    names = []
    for module in (keras, tinynn):
        module.backend.clear_session()
        inputs = module.Input((3,))
        outputs = module.layers.Dense(2)(inputs)
        names.append([module.Model(inputs, outputs).name for _ in range(2)])
    assert names[0] == names[1] == ["functional", "functional_1"]


def keras_functional(keras, residual=False):
    inputs = keras.Input((5,))
    x = keras.layers.Dense(4, activation="relu")(inputs)
    y = keras.layers.Dense(4)(x)
    if residual:
        y = keras.layers.Add()([x, y])
    return keras.Model(inputs, keras.layers.Dense(2)(y))


def test_keras_functional_files_load_as_chains(keras, floatx64, tmp_path):
    """A functional model saved by Keras (.keras, .weights.h5, to_json) opens in tinynn as the
    Sequential of its chain and predicts the same; tinynn's weights file of the same chain
    loads into Keras's functional model; a residual (Add) model is refused by name."""
    x = np.random.default_rng(1).normal(size=(6, 5))
    keras.utils.set_random_seed(0)
    k_model = keras_functional(keras)
    k_model.compile(optimizer="adam", loss="mse")
    k_model.fit(x, x[:, :2], verbose=0)
    k_model.save(tmp_path / "f.keras")
    k_model.save_weights(tmp_path / "f.weights.h5")
    expected = k_model.predict(x, verbose=0)
    loaded = tinynn.models.load_model(tmp_path / "f.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, **TOL)
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Dense", "Dense"]
    from_json = tinynn.models.model_from_json(k_model.to_json())
    from_json.load_weights(tmp_path / "f.weights.h5")
    np.testing.assert_allclose(from_json.predict(x, verbose=0), expected, **TOL)
    # back: tinynn's weights into a fresh Keras functional model of the same chain
    loaded.save_weights(tmp_path / "t.weights.h5")
    fresh = keras_functional(keras)
    fresh.load_weights(tmp_path / "t.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), expected, **TOL)
    keras_functional(keras, residual=True).save(tmp_path / "residual.keras")
    with pytest.raises(tinynn.io.ModelFileError, match="not called once on the output of"):
        tinynn.models.load_model(tmp_path / "residual.keras")
