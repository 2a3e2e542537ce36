"""tinynn.Model: Keras's functional API and subclassing, for chains of layers. A Model is the
Sequential of its chain, so the checks here compare it with that Sequential bit for bit, and
check that what is not a chain is refused with an error that says so."""

import numpy as np
import pytest

import tinynn
from tinynn import layers


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


def functional(seed=1):
    """The chain of `sequential()`, its layers made in the same order (Dropout takes a seed
    from the generator when it is made, a Dense its weights when it is built)."""
    tinynn.utils.set_random_seed(seed)
    inputs = tinynn.Input((6,))
    hidden, dropout, out = (layers.Dense(8, activation="relu"), layers.Dropout(0.25),
                            layers.Dense(3, activation="softmax"))
    x = hidden(inputs)
    outputs = out(dropout(x))
    return inputs, x, outputs, tinynn.Model(inputs=inputs, outputs=outputs)


def sequential(seed=1):
    tinynn.utils.set_random_seed(seed)
    return tinynn.Sequential([tinynn.Input((6,)), layers.Dense(8, activation="relu"),
                              layers.Dropout(0.25), layers.Dense(3, activation="softmax")])


def train(model, x, y):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    tinynn.utils.set_random_seed(3)
    return model.fit(x, y, batch_size=16, epochs=2, verbose=0).history


def test_functional_chain_trains_exactly_as_its_sequential():
    x, y = data()
    inputs, hidden, outputs, model = functional()
    assert inputs.shape == (None, 6) and hidden.shape == (None, 8) and outputs.shape == (None, 3)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense"]
    assert model.input_shape == (None, 6) and model.output_shape == (None, 3)
    twin = sequential()
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the layers were built when called, as in Keras
    assert train(model, x, y) == train(twin, x, y)
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x, verbose=0), twin.predict(x, verbose=0))


class MLP(tinynn.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(8, activation="relu")
        self.dropout = layers.Dropout(0.25)
        self.out = layers.Dense(3, activation="softmax")

    def call(self, inputs, training=False):
        x = self.hidden(inputs)
        x = self.dropout(x, training=training)
        return self.out(x)


def test_subclassed_model_is_traced_into_its_chain_on_first_data():
    x, y = data()
    tinynn.utils.set_random_seed(1)
    model = MLP()
    assert model.name.startswith("mlp") and model.layers == [] and not model.built
    model.build((None, 6))  # as Keras's, so that the weights come from seed 1
    history = train(model, x, y)
    assert [layer.name for layer in model.layers] == [model.hidden.name, model.dropout.name,
                                                     model.out.name]
    twin = sequential()
    assert history == train(twin, x, y)
    np.testing.assert_array_equal(model(x), twin(x))


def test_names_as_keras():
    tinynn.backend.clear_session()
    inputs = tinynn.Input((2,))
    out = layers.Dense(1)(inputs)
    assert [tinynn.Model(inputs, out).name for _ in range(2)] == ["functional", "functional_1"]
    assert tinynn.Model(inputs, out, name="mine").name == "mine"


def test_a_model_inside_a_functional_chain():
    block = tinynn.Sequential([layers.Dense(5, activation="tanh"), layers.Dense(4)])
    inputs = tinynn.Input((6,))
    outputs = layers.Dense(2)(block(inputs))
    model = tinynn.Model(inputs, [outputs])
    assert model.layers[0] is block and model.output_shape == (None, 2)
    x, _ = data()
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               model.layers[1](block(x)), rtol=1e-6)


@pytest.mark.parametrize("fmt", ["keras", "npz"])
def test_saved_and_loaded_as_the_sequential_it_is(tmp_path, fmt):
    x, y = data()
    *_, model = functional()
    train(model, x, y)
    path = tmp_path / f"m.{fmt}"
    model.save(path)
    loaded = tinynn.models.load_model(path)
    assert type(loaded) is tinynn.Sequential
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_what_is_not_a_chain_is_refused():
    inputs = tinynn.Input((4,))
    x = layers.Dense(3)(inputs)
    for make in (lambda: x + x, lambda: x * 2, lambda: np.asarray(x), lambda: x[:, :2]):
        with pytest.raises(TypeError, match="no values.*chains of layers"):
            make()
    with pytest.raises(ValueError, match="several tensors.*Add or Concatenate"):
        layers.Dense(2)([x, x])
    dense = layers.Dense(3)
    with pytest.raises(ValueError, match="already in this chain"):
        dense(dense(inputs))
    with pytest.raises(ValueError, match="do not come from these inputs"):
        tinynn.Model(tinynn.Input((4,)), x)
    with pytest.raises(ValueError, match="one input and one output"):
        tinynn.Model([inputs, inputs], x)
    with pytest.raises(TypeError, match="outputs must be the result of layers"):
        tinynn.Model(inputs, inputs)
    with pytest.raises(TypeError, match="needs inputs= and outputs="):
        tinynn.Model()

    class Branches(tinynn.Model):
        def __init__(self):
            super().__init__()
            self.a, self.noise = layers.Dense(2), layers.GaussianNoise(0.1)

        def call(self, inputs, training=False):
            return self.noise(self.a(inputs)) if training else self.a(inputs)

    model = Branches()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="different layers with training=True and training=False"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0)

    class Arithmetic(tinynn.Model):
        def __init__(self):
            super().__init__()
            self.a = layers.Dense(2)

        def call(self, inputs):
            return self.a(inputs) * 2

    with pytest.raises(TypeError, match="no values"):
        Arithmetic().predict(np.zeros((2, 3)), verbose=0)


def test_a_subclass_is_traced_by_its_first_data_too():
    x, y = data()
    model = MLP()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, verbose=0)
    assert model.built and model.input_shape == (None, 6) and len(model.layers) == 3
