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


def chain_spec() -> dict:
    """Keras's config.json of Input((5,)) -> Dense(4) -> Dense(2), as Keras 3 writes it."""
    def tensor(name, n):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": [None, n], "dtype": "float32", "keras_history": [name, 0, 0]}}

    dense = {"name": "dense", "units": 4, "activation": "relu"}
    return {"class_name": "Functional", "config": {
        "name": "functional", "trainable": True,
        "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "name": "input_layer",
             "inbound_nodes": [],
             "config": {"batch_shape": [None, 5], "dtype": "float32", "name": "input_layer"}},
            {"module": "keras.layers", "class_name": "Dense", "name": "dense", "config": dense,
             "inbound_nodes": [{"args": [tensor("input_layer", 5)], "kwargs": {}}]},
            {"module": "keras.layers", "class_name": "Dense", "name": "dense_1",
             "config": {"name": "dense_1", "units": 2},
             "inbound_nodes": [{"args": [tensor("dense", 4)], "kwargs": {}}]}],
        "input_layers": [["input_layer", 0, 0]], "output_layers": [["dense_1", 0, 0]]}}


def test_a_functional_chain_config_reads_as_its_sequential():
    from tinynn import keras_config

    model, shape = keras_config.model_from_keras(chain_spec())
    assert shape == (5,) and [layer.units for layer in model.layers] == [4, 2]


def _break(spec, how):
    layers_ = spec["config"]["layers"]
    if how == "branch":  # dense_1 reads the input, not dense
        layers_[2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "input_layer"
    elif how == "two nodes":  # a shared layer
        layers_[2]["inbound_nodes"].append(layers_[2]["inbound_nodes"][0])
    elif how == "two args":  # a merge
        layers_[2]["inbound_nodes"][0]["args"].append(layers_[2]["inbound_nodes"][0]["args"][0])
    elif how == "mask kwarg":
        layers_[2]["inbound_nodes"][0]["kwargs"] = {"mask": None}
    elif how == "two outputs":
        spec["config"]["output_layers"] = [["dense", 0, 0], ["dense_1", 0, 0]]
    elif how == "output in the middle":
        spec["config"]["output_layers"] = [["dense", 0, 0]]
    elif how == "no input layer":
        layers_.pop(0)
    elif how == "garbage nodes":
        layers_[1]["inbound_nodes"] = "x" * 10
    elif how == "garbage layers":
        spec["config"]["layers"] = [1, 2]
    return spec


@pytest.mark.parametrize("how,message", [
    ("branch", "layer 2 \\('dense_1'\\).*not called once on the output of layer 1"),
    ("two nodes", "layer 2"), ("two args", "layer 2"), ("mask kwarg", "layer 2"),
    ("two outputs", "one input and one output"), ("output in the middle", "not its last layer"),
    ("no input layer", "does not start with an InputLayer"),
    ("garbage nodes", "layer 1 \\('dense'\\)"), ("garbage layers", "no list of layers")])
def test_functional_configs_that_are_not_chains_are_refused(how, message):
    from tinynn import keras_config

    with pytest.raises(ValueError, match=message):
        keras_config.model_from_keras(_break(chain_spec(), how))
