"""Keras's functional API and model subclassing, for chains of layers, against Keras: the same
program (the functional-API guide's MLP; a subclass with call(inputs, training)) written once
for each framework, weights copied, float64 SGD without shuffling: History and weights after
fit, predictions, the tensors' shapes, the models' names; Keras loads tinynn's saved functional
model and predicts the same.

rtol 1e-10 atol 1e-12 (the brief's float64 bound).
"""

import numpy as np

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
