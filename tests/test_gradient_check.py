"""`tinynn.gradcheck`: it passes correct backward passes, catches broken ones (naming the
parameter), works on models and single layers, and never changes the model it checks."""

from pathlib import Path

import numpy as np
import pytest

import tinynn as keras
from tinynn import layers


def _batch(seed=0, n=6, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, 3, size=n)


def _model(dropout=0.4, final="softmax"):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((3, 4)), layers.Flatten(),
        layers.Dense(5, activation="relu"), layers.Dropout(dropout),
        layers.Dense(4, activation="tanh"),
        layers.Dense(3, activation=final),
    ])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=final == "linear")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, metrics=["accuracy"])
    return model


class ForgetsActivation(layers.Dense):
    """A classic student bug: backward skips the activation's derivative."""

    def backward(self, dY):
        return self.backward_from_logits(dY)


class KernelGradDividedTwice(layers.Dense):
    """Another: dW divided by N again, forgetting the loss gradient already holds the 1/N."""

    def backward(self, dY):
        dX = super().backward(dY)
        self.grads["kernel"] /= dY.shape[0]  # in place: grads may be views of a packed buffer
        return dX


@pytest.mark.parametrize("final", ["softmax", "sigmoid", "linear"])  # linear: loss from logits
def test_model_passes_and_reports_every_parameter(final, capsys):
    model = _model(final=final)
    x, y = _batch()
    result = keras.gradcheck(model, x, y)
    assert result.passed, result
    assert [(r.layer, r.param) for r in result.rows] == [
        (layer.name, k) for layer in model.layers for k in layer.params]
    assert all(r.max_abs_err < 1e-7 for r in result.rows)
    out = capsys.readouterr().out
    assert "all 6 gradients pass" in out and "dense" in out


def test_catches_a_backward_that_forgets_the_activation(capsys):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((12,)), ForgetsActivation(5, activation="tanh"),
                              layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    x, y = _batch(shape=(12,))
    result = keras.gradcheck(model, x, y)
    assert not result.passed
    failed = {(r.layer, r.param) for r in result.failures}
    assert failed == {(model.layers[0].name, "kernel"), (model.layers[0].name, "bias")}
    assert "FAIL" in str(result) and "worst entry" in str(result)


def test_catches_a_wrong_kernel_gradient_on_a_single_layer():
    x, _ = _batch(shape=(12,))
    layer = KernelGradDividedTwice(4, activation="sigmoid")
    result = keras.gradcheck(layer, x, verbose=False)
    assert [r.param for r in result.failures] == ["kernel"]
    assert [r.param for r in result.rows] == ["kernel", "bias", "input"]
    assert keras.gradcheck(layers.Dense(4, activation="sigmoid"), x, verbose=False).passed


@pytest.mark.parametrize("layer", [layers.ReLU(), layers.Softmax(), layers.Activation("tanh"),
                                   layers.Flatten(), layers.Dropout(0.5)])
def test_parameterless_layers_check_their_input_gradient(layer):
    x, _ = _batch(n=4, shape=(6,))
    result = keras.gradcheck(layer, x, verbose=False)
    assert result.passed, result
    assert [r.param for r in result.rows] == ["input"]


def test_layer_upstream_gradient_can_be_given():
    x, _ = _batch(shape=(12,))
    dY = np.ones((6, 2))
    assert keras.gradcheck(layers.Dense(2), x, dY, verbose=False).passed
    with pytest.raises(ValueError, match="output shape"):
        keras.gradcheck(layers.Dense(2), x, np.ones((6, 3)), verbose=False)


def test_float32_model_is_checked_in_float64_and_left_unchanged():
    model = _model()
    x, y = _batch()
    model.fit(x, y, epochs=1, verbose=0)  # the optimizer now holds state for these arrays
    arrays = model.trainable_weights
    before = model.get_weights()
    dropout = model.layers[2]
    generator_state = dropout._rng.bit_generator.state
    result = keras.gradcheck(model, x, y, verbose=False)
    assert result.passed and result.rows[0].max_abs_err < 1e-8  # float32 differences: ~1e-3
    assert all(a is b for a, b in zip(arrays, model.trainable_weights, strict=True))
    for w, w0 in zip(model.trainable_weights, before, strict=True):
        assert w.dtype == np.float32
        np.testing.assert_array_equal(w, w0)
    assert dropout._rng.bit_generator.state == generator_state
    model.fit(x, y, epochs=1, verbose=0)  # still trains, optimizer state still matches


def test_dropout_needs_the_frozen_mask():
    """Without freezing, every forward pass draws a new mask and the check would be noise:
    here we show the check's frozen-mask forward is deterministic while the plain one is not."""
    model = _model(dropout=0.5)
    x, y = _batch()
    a = model._forward(x.astype(np.float64), training=True)
    b = model._forward(x.astype(np.float64), training=True)
    assert not np.allclose(a, b)
    assert keras.gradcheck(model, x, y, verbose=False).passed
    assert keras.gradcheck(model, x, y, training=False, verbose=False).passed


def test_entry_sampling_and_errors():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((30,)), layers.Dense(20, activation="relu"),
                              layers.Dense(3, activation="softmax")])
    x, y = _batch(shape=(30,))
    with pytest.raises(ValueError, match="compile"):
        keras.gradcheck(model, x, y)
    model.compile(loss="sparse_categorical_crossentropy")
    result = keras.gradcheck(model, x, y, max_entries=25, verbose=False)
    assert [r.checked for r in result.rows] == [25, 20, 25, 3]
    with pytest.raises(ValueError, match="needs y"):
        keras.gradcheck(model, x)
    with pytest.raises(TypeError, match="Sequential or a layer"):
        keras.gradcheck("model", x, y)


def test_the_pass_rule_is_the_one_documented_and_printed():
    """|analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|): symmetric, as the
    docstring, docs/backprop.md and the table's header say."""
    from tinynn.gradient_check import GradcheckResult, assert_grad_close, passes

    rtol, atol = 1e-2, 0.0
    # 1.0 vs 0.99: passes only when the larger of the two scales the tolerance
    assert passes(np.array([1.0]), np.array([0.995]), rtol, atol).all()
    assert passes(np.array([0.995]), np.array([1.0]), rtol, atol).all()  # symmetric
    assert not passes(np.array([1.0]), np.array([0.98]), rtol, atol).any()
    assert_grad_close(np.array([1.0]), np.array([0.995]), "w", rtol, atol)
    with pytest.raises(AssertionError, match="w wrong"):
        assert_grad_close(np.array([1.0]), np.array([0.98]), "w", rtol, atol)
    header = str(GradcheckResult([], 1e-6, 1e-5, 1e-7)).splitlines()[0]
    assert "<= 1e-07 + 1e-05 * max(|analytic|, |numeric|)" in header
    doc = (Path(__file__).resolve().parents[1] / "docs" / "backprop.md").read_text()
    assert "atol + rtol * max(|analytic|, |numeric|)" in doc
    assert "rtol * max(|analytic|," in keras.gradcheck.__doc__
