"""Regularizers: their values and gradients, names and configs, and how the penalties enter the
loss `fit` minimises and logs (Keras 3's rules, measured in parity/test_normalization.py)."""

import io
from contextlib import redirect_stdout

import numpy as np
import pytest

import tinynn
from tinynn import layers, losses, optimizers, regularizers
from tinynn.gradient_check import assert_grad_close, numerical_grad

R = regularizers


@pytest.mark.parametrize("reg", [R.L1(0.3), R.L2(0.2), R.L1L2(0.3, 0.2), R.L1L2(l2=0.5),
                                 R.L1L2(l1=0.5)], ids=repr)
def test_value_and_gradient(reg):
    W = np.random.default_rng(0).normal(size=(4, 3))
    # the factors in float32, also for float64 weights, as Keras 3 casts them
    l1, l2 = (float(np.float32(getattr(reg, k, 0.0))) for k in ("l1", "l2"))
    assert reg(W) == pytest.approx(l1 * np.abs(W).sum() + l2 * (W**2).sum(), rel=1e-14)
    assert_grad_close(reg.gradient(W), numerical_grad(lambda: float(reg(W)), W), repr(reg))


def test_float64_penalties_use_float32_factors_as_keras():
    ones = np.ones(1)  # Keras 3: L2(0.01)(float64 ones) == 0.009999999776482582 (measured)
    assert R.L2(0.01)(ones) == float(np.float32(0.01)) == 0.009999999776482582
    assert R.L1L2(0.001, 0.002)(ones) == float(np.float32(0.001)) + float(np.float32(0.002))
    assert R.L2(0.01).get_config() == {"l2": 0.01}  # the config keeps what was given


def test_l1_gradient_is_zero_at_zero_and_dtypes_are_kept():
    W = np.array([-2.0, 0.0, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(R.L1(1.0).gradient(W), [-1, 0, 1])
    for reg in (R.L1(), R.L2(), R.L1L2(0.1, 0.1)):
        assert reg(W).dtype == np.float32 and reg.gradient(W).dtype == np.float32


def test_keras_3_defaults_and_names():
    # Keras 3 keeps L1's factor as a float32 tensor: 0.01 comes back rounded
    assert R.L1().get_config() == {"l1": float(np.float32(0.01))} == {"l1": 0.009999999776482582}
    assert R.L2().get_config() == {"l2": 0.01}
    assert R.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}  # Keras 3: both 0, a no-op
    assert (R.l1, R.l2, R.l1_l2) == (R.L1, R.L2, R.L1L2)  # the lower-case names are the classes
    assert R.l2(1e-4).get_config() == {"l2": 1e-4}
    assert isinstance(R.get("l1"), R.L1) and isinstance(R.get("L2"), R.L2)
    assert R.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert R.get(None) is None
    reg = R.L2(0.3)
    assert R.get(reg) is reg and isinstance(R.get(R.L1), R.L1)
    assert R.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}}).get_config() == {
        "l1": 0.1, "l2": 0.2}


def test_bad_identifiers_and_factors_are_explained():
    with pytest.raises(ValueError, match="Keras 3 has no 'l1_l2' name: use regularizers.L1L2"):
        R.get("l1_l2")
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'. Known names: l1, l1l2, l2"):
        R.get("l3")
    with pytest.raises(TypeError, match="needs the penalty's gradient"):
        R.get(lambda W: (W**2).sum())
    with pytest.raises(ValueError, match="only tinynn's own"):
        R.get({"class_name": "OrthogonalRegularizer", "config": {}})
    with pytest.raises(ValueError, match="L2 expected l2 to be a non-negative float, got l2=-1"):
        R.L2(-1)
    with pytest.raises(ValueError, match="L1L2 expected l1 .* got l1=nan"):
        R.L1L2(l1=float("nan"))
    with pytest.raises(ValueError, match="Known names"):
        layers.Dense(3, kernel_regularizer="ridge")


@pytest.mark.parametrize("reg", [R.L1(0.3), R.L2(0.2), R.L1L2(0.3, 0.2)], ids=repr)
def test_config_round_trip(reg):
    spec = R.serialize(reg)
    assert spec == {"class_name": type(reg).__name__, "config": reg.get_config()}
    assert R.get(spec).get_config() == reg.get_config()
    assert R.serialize(None) is None


def test_layer_losses_as_in_keras_docstring():
    """Keras's Regularizer docstring: kernel L1(0.01) on ones (5x5) gives 0.25; activity L2(0.01)
    on outputs of 10s, divided by the batch size 5, gives 5.0."""
    layer = layers.Dense(5, kernel_initializer="ones", kernel_regularizer=R.L1(0.01),
                         activity_regularizer=R.L2(0.01))
    layer(np.ones((5, 5), np.float32) * 2)
    np.testing.assert_allclose(layer.losses, [5.0, 0.25], rtol=1e-6)
    assert sum(layer.losses) == pytest.approx(5.25, rel=1e-6)


def small_model(frozen=False, **dense_kwargs):
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([
        tinynn.Input((5,)),
        layers.Dense(4, activation="tanh", kernel_regularizer=R.L2(0.05),
                     bias_regularizer=R.L1(0.02), activity_regularizer=R.L2(0.03),
                     trainable=not frozen),
        layers.Dense(3, activation="softmax", kernel_regularizer=R.L1L2(0.01, 0.02),
                     **dense_kwargs),
    ])
    model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    for w in model.weights:  # nonzero biases: L1 at exactly 0 has no useful gradient check
        w += np.random.default_rng(w.size).normal(scale=0.1, size=w.shape).astype(w.dtype)
    return model


def data(n=20):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, 5)).astype(np.float32), rng.integers(0, 3, n)


def test_model_losses_keras_order_activity_first_then_weights():
    model = small_model(activity_regularizer="l1")
    x, _ = data()
    model(x)
    first, second = model.layers
    expected = [first._activity_loss, second._activity_loss,
                first.kernel_regularizer(first.kernel), first.bias_regularizer(first.bias),
                second.kernel_regularizer(second.kernel)]
    assert model.losses == expected
    assert first.losses == [expected[0], expected[2], expected[3]]
    np.testing.assert_allclose(expected[0], 0.03 * (model.layers[0](x) ** 2).sum() / 20,
                               rtol=1e-6)


@pytest.mark.parametrize("output_activity", [None, "l2"])
def test_gradcheck_with_every_kind_of_penalty(output_activity):
    """Weight and activity penalties in the loss and its gradient, also the output layer's own
    activity penalty, which reaches the logits through the softmax (the fused path)."""
    model = small_model(activity_regularizer=output_activity)
    x, y = data(6)
    result = tinynn.gradcheck(model, x, y, verbose=False)
    assert result.passed, result


def test_training_and_logged_loss_include_the_penalties_batch_by_batch():
    """Keras 3: each batch's loss is mean loss + sum(model.losses) (activity penalties of that
    forward pass, weight penalties before the step); the logged loss is their mean weighted by
    batch size; evaluate and val_loss include the penalties too."""
    model = small_model()
    x, y = data(20)
    replica = small_model()
    ce = losses.SparseCategoricalCrossentropy()
    expected, n = 0.0, 0
    for start in range(0, 20, 8):
        xb, yb = x[start:start + 8], y[start:start + 8]
        P = replica._forward(xb, training=True)
        batch_loss = ce(yb, P) + float(sum(replica.losses))
        replica._train_step(xb, yb)
        expected, n = expected + len(xb) * batch_loss, n + len(xb)
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                        validation_data=(x[:7], y[:7])).history
    assert history["loss"][0] == pytest.approx(expected / n, rel=1e-6)
    P = model(x[:7])  # as Keras's model(x), it leaves model.losses with this call's penalties
    val = ce(y[:7], P) + float(sum(model.losses))
    assert history["val_loss"][0] == pytest.approx(val, rel=1e-6)
    assert model.evaluate(x[:7], y[:7], verbose=0) == pytest.approx(val, rel=1e-6)
    for a, b in zip(model.get_weights(), replica.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reduction", ["sum", None])
def test_a_summed_loss_adds_the_penalties_once_per_batch(reduction):
    """With reduction "sum" (or "none", whose gradient is the sum's), the batch loss is
    sum of the losses + sum(model.losses): the penalties once, not once per sample. The logged
    loss is its running mean weighted by batch size (Keras's reduced loss for "sum"), and
    gradcheck checks the gradient of that same batch loss (the output's activity penalty
    reaching the logits through the softmax)."""
    def compiled():
        model = small_model(activity_regularizer=R.L2(0.04))
        model.compile(optimizer=optimizers.SGD(0.01),
                      loss=losses.SparseCategoricalCrossentropy(reduction=reduction))
        return model

    model, replica = compiled(), compiled()
    x, y = data(20)
    assert tinynn.gradcheck(compiled(), x[:6], y[:6], verbose=False).passed
    total, n, batch = 0.0, 0, 8 if reduction == "sum" else 10
    for start in range(0, 20, batch):
        xb, yb = x[start:start + batch], y[start:start + batch]
        P = replica._forward(xb, training=True)
        batch_loss = float(np.sum(replica.loss(yb, P))) + float(sum(replica.losses))
        replica._train_step(xb, yb)
        if reduction == "sum":
            total, n = total + len(xb) * batch_loss, n + len(xb)
        else:  # "none": the mean of the values, each with its share of the penalties (equal
            total, n = total + batch_loss, n + len(xb)  # batches: Keras weights by batch size)
    history = model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0).history
    assert history["loss"][0] == pytest.approx(total / n, rel=1e-6)
    for a, b in zip(model.get_weights(), replica.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_one_sgd_step_applies_the_penalty_gradient():
    model = small_model()
    x, y = data(8)
    W = model.layers[0].kernel.copy()
    plain = small_model()
    plain.layers[0].regularizers.clear()
    plain.layers[0].activity_regularizer = None
    plain._backward(plain._forward(x, training=True), y)
    activity_free = small_model()
    activity_free.layers[0].activity_regularizer = None
    activity_free._backward(activity_free._forward(x, training=True), y)
    # the kernel's L2 gradient 2 * 0.05 * W is added to the loss gradient
    np.testing.assert_allclose(activity_free.layers[0].grads["kernel"],
                               plain.layers[0].grads["kernel"] + 0.1 * W, rtol=1e-5, atol=1e-7)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model2 = small_model()
    model2._backward(model2._forward(x, training=True), y)
    np.testing.assert_allclose(model.layers[0].kernel, W - 0.1 * model2.layers[0].grads["kernel"],
                               rtol=1e-6, atol=1e-7)


def test_frozen_layers_have_no_weight_penalties():
    model = small_model(frozen=True)
    x, y = data(8)
    model(x)
    first, second = model.layers
    assert first.losses == [first._activity_loss]  # Keras: weights of a frozen layer are not
    assert len(model.losses) == 2                  # penalised; its activity still is
    before = first.get_weights()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(first.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_regularized_dense_config_save_and_load(tmp_path):
    model = small_model(activity_regularizer="l1")
    config = model.layers[0].get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.05}}
    assert config["activity_regularizer"] == {"class_name": "L2", "config": {"l2": 0.03}}
    assert "activity_regularizer" not in layers.Dense(2).get_config()  # as Keras: only if set
    twin = layers.Dense.from_config(config)
    assert twin.get_config() == config
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "r.npz")
    loaded = tinynn.models.load_model(tmp_path / "r.npz")
    assert [layer.get_config() for layer in loaded.layers] == [
        layer.get_config() for layer in model.layers]
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_a_students_layer_regularizes_through_add_weight():
    class Scale(layers.Layer):
        """Y = X * s.  Backward: ds = sum_rows(dY * X), dX = dY * s."""

        def build(self, input_shape):
            self.s = self.add_weight((input_shape[-1],), "ones", regularizer="l2", name="scale")

        def forward(self, X, training=False):
            self.X = X
            return X * self.s

        def backward(self, dY):
            self.grads["scale"] = (dY * self.X).sum(axis=0)
            return dY * self.s

    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(4), Scale(),
                               layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(6, 4)), np.arange(6) % 3
    assert tinynn.gradcheck(model, x, y, verbose=False).passed
    assert model.layers[1].losses == [pytest.approx(0.04)]  # 0.01 * 4 ones


def test_summary_and_trainable_counts_are_unchanged_by_penalties():
    model = small_model()
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary()
    assert "Non-trainable params: 0 (0.00 B)" in out.getvalue()
