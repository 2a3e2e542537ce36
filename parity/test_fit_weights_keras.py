"""Weighting and step arguments of `fit` / `evaluate` / `compile` against Keras 3, float64, with
Keras's weights copied across (`tinynn.models.from_keras`) and no shuffling:

- `fit(sample_weight=...)`: the logged loss and the update of one full-batch SGD step (the
  gradient of sum(w l) / N plus an L2 penalty), then a few mini-batch steps, for the fused
  sparse cross-entropy, categorical and binary cross-entropy from the logits, MSE, and the
  "sum" and "mean_with_sample_weight" reductions;
- `fit(class_weight=...)` for integer labels, one-hot rows and 0/1 targets (validation not
  weighted); class_weight with sample_weight refused by both;
- `compile(weighted_metrics=...)`: History keys (a name taken by `metrics` becomes
  "weighted_<name>") and values, `validation_data=(x, y, sample_weight)`, evaluate's list;
- `evaluate(sample_weight=..., steps=...)`, with and without batch_size, and running out;
- `steps_per_epoch`: the steps each epoch runs, continuing through the data across epochs,
  epochs cut short by running out (Keras's warning, training goes on), History, weights;
- `validation_steps` (restarting each validation), `validation_batch_size`,
  `validation_freq` (an int and a list), `validation_split` with sample weights.

Every comparison also checks that the weights matter (the weighted numbers differ from the
unweighted ones), so a framework ignoring them fails. Tolerance: float64 rtol 1e-10 (the
brief's bound) on losses, metrics, weights and updates.
"""

import warnings

import numpy as np
import pytest

import tinynn

RTOL, ATOL = 1e-10, 1e-12
N, FEATURES = 40, 5


def close(actual, expected, what):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def data(kind: str, n: int = N, seed: int = 0):
    """x, targets of the kind the loss takes, and positive sample weights spread over 0.1-3."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES))
    labels = rng.integers(0, 3, size=n)
    y = {"sparse": labels, "onehot": np.eye(3)[labels],
         "binary": (labels[:, None] == 0).astype(np.float64),
         "regression": rng.normal(size=(n, 3))}[kind]
    return x, y, rng.uniform(0.1, 3.0, size=n)


# output layer and loss per case; a Dense(6, tanh) with an L2 penalty comes first
CASES = {
    "sparse (fused)": ("sparse", 3, "softmax", "sparse_categorical_crossentropy"),
    "categorical": ("onehot", 3, "softmax", "categorical_crossentropy"),
    "binary": ("binary", 1, "sigmoid", "binary_crossentropy"),
    "mse": ("regression", 3, None, "mse"),
    "sparse, reduction sum": ("sparse", 3, "softmax", ("SparseCategoricalCrossentropy", "sum")),
    "sparse, mean_with_sample_weight": ("sparse", 3, "softmax",
                                        ("SparseCategoricalCrossentropy",
                                         "mean_with_sample_weight")),
}


def loss_object(module, loss):
    if isinstance(loss, tuple):
        return getattr(module.losses, loss[0])(reduction=loss[1])
    return loss


def twins(keras, units=3, activation="softmax", loss="sparse_categorical_crossentropy",
          lr=0.5, metrics=None, weighted_metrics=None, penalty=True):
    """A compiled Keras model and its tinynn copy (the same weights, SGD(lr))."""
    keras.utils.set_random_seed(0)
    regularizer = keras.regularizers.L2(0.01) if penalty else None
    k_model = keras.Sequential([keras.Input((FEATURES,)),
                                keras.layers.Dense(6, activation="tanh",
                                                   kernel_regularizer=regularizer),
                                keras.layers.Dense(units, activation=activation)])
    k_model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss_object(keras, loss),
                    metrics=metrics, weighted_metrics=weighted_metrics)
    t_model = tinynn.models.from_keras(k_model)
    t_model.compile(optimizer=tinynn.optimizers.SGD(lr), loss=loss_object(tinynn, loss),
                    metrics=metrics, weighted_metrics=weighted_metrics)
    return k_model, t_model


def recorder(base, events: list):
    """A callback on `base` appending ("epoch", e), ("train", b), ("test", b) to `events`."""
    return type("Recorder", (base,), {
        "on_epoch_begin": lambda self, epoch, logs=None: events.append(("epoch", epoch)),
        "on_train_batch_begin": lambda self, batch, logs=None: events.append(("train", batch)),
        "on_test_batch_begin": lambda self, batch, logs=None: events.append(("test", batch)),
        "on_train_begin": lambda self, logs=None: events.append(("steps", self.params["steps"])),
    })()


def run_both(keras, k_model, t_model, method: str, *args, **kwargs) -> dict:
    """`method` (fit or evaluate) on both, silent, a recorder attached: {framework: (result,
    events, ran-out-of-data warnings)}."""
    out = {}
    for name, model, base in (("keras", k_model, keras.callbacks.Callback),
                              ("tinynn", t_model, tinynn.callbacks.Callback)):
        events: list = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = getattr(model, method)(*args, verbose=0, callbacks=[recorder(base, events)],
                                            **kwargs)
        out[name] = (result, events, [str(w.message) for w in caught
                                      if "ran out of data" in str(w.message)])
    return out


def fit_both(keras, k_model, t_model, x, y, **kwargs):
    """fit both (no shuffling, silent); returns {framework: (history, events, warnings)}."""
    runs = run_both(keras, k_model, t_model, "fit", x, y, shuffle=False, **kwargs)
    return {name: (result.history, *rest) for name, (result, *rest) in runs.items()}


def assert_same_run(runs, k_model, t_model, what):
    (k_hist, k_events, k_warn), (t_hist, t_events, t_warn) = runs["keras"], runs["tinynn"]
    assert t_events == k_events, f"{what}: steps and epochs"
    assert t_warn == k_warn, f"{what}: ran-out-of-data warnings"
    assert list(t_hist) == list(k_hist), f"{what}: History keys"
    for key in k_hist:
        assert len(t_hist[key]) == len(k_hist[key]), f"{what}: History[{key!r}] length"
        close(t_hist[key], k_hist[key], f"{what}: History[{key!r}]")
    for a, b in zip(t_model.get_weights(), k_model.get_weights(), strict=True):
        close(a, b, f"{what}: weights")


# ----- sample_weight: the loss, its gradient, a few steps --------------------------------------

@pytest.mark.parametrize("case", list(CASES))
def test_sample_weight_loss_gradient_and_steps(keras, floatx64, case):
    kind, units, activation, loss = CASES[case]
    x, y, w = data(kind)
    k_model, t_model = twins(keras, units, activation, loss)
    before = k_model.get_weights()
    # one full-batch step: the logged loss is the batch loss, the update -lr * its gradient
    runs = fit_both(keras, k_model, t_model, x, y, sample_weight=w, batch_size=N)
    assert_same_run(runs, k_model, t_model, f"{case}, one step")
    for a, b, w0 in zip(t_model.get_weights(), k_model.get_weights(), before, strict=True):
        close(a - w0, b - w0, f"{case}: the update of one step")
    # the weights matter: unweighted, the loss and the update differ
    _, plain = twins(keras, units, activation, loss)
    unweighted = plain.fit(x, y, batch_size=N, shuffle=False, verbose=0).history["loss"][0]
    assert abs(unweighted - runs["keras"][0]["loss"][0]) > 1e-3
    assert not np.allclose(plain.get_weights()[0], k_model.get_weights()[0], rtol=1e-6)
    # then 2 epochs of mini-batches (the last one smaller)
    runs = fit_both(keras, k_model, t_model, x, y, sample_weight=w, batch_size=16, epochs=2)
    assert_same_run(runs, k_model, t_model, f"{case}, 6 more steps")


def test_sample_weight_over_batch_size_not_weights(keras, floatx64):
    """sum_over_batch_size divides sum(w l) by the batch's samples, not by sum(w): checked on
    Keras's own numbers (its evaluate, the same weights), and tinynn's equal them."""
    x, y, w = data("sparse")
    k_model, t_model = twins(keras, penalty=False)
    P = k_model.predict(x, verbose=0)
    losses = -np.log(P[np.arange(N), y])
    k_loss = k_model.evaluate(x, y, sample_weight=w, batch_size=N, verbose=0)
    close(k_loss, np.sum(w * losses) / N, "Keras: sum(w l) / N")
    assert abs(k_loss - np.sum(w * losses) / np.sum(w)) > 1e-3
    close(t_model.evaluate(x, y, sample_weight=w, batch_size=N, verbose=0), k_loss, "tinynn")


# ----- class_weight ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["sparse (fused)", "categorical", "binary",
                                  "binary, soft targets (N,)"])
def test_class_weight(keras, floatx64, case):
    """Integer labels, one-hot rows (argmax), 0/1 targets (N, 1), and soft targets (N,)
    (rounded: 0.8 is class 1, 0.3 class 0)."""
    kind, units, activation, loss = CASES[case.split(",")[0]]
    x, y, _ = data(kind)
    if case.endswith("(N,)"):
        y = np.where(y[:, 0] == 1, 0.8, 0.3)
    class_weight = {0: 3.0, 2: 0.25} if units == 3 else {0: 0.3, 1: 2.5}
    k_model, t_model = twins(keras, units, activation, loss)
    runs = fit_both(keras, k_model, t_model, x, y, class_weight=class_weight, batch_size=12,
                    epochs=2, validation_split=0.25)
    assert_same_run(runs, k_model, t_model, f"{case}, class_weight")
    _, plain = twins(keras, units, activation, loss)
    unweighted = plain.fit(x, y, batch_size=12, epochs=2, shuffle=False, verbose=0,
                           validation_split=0.25).history
    assert abs(unweighted["loss"][0] - runs["keras"][0]["loss"][0]) > 1e-3
    # the validation pass is never class-weighted: the last val_loss is the trained model's
    # unweighted loss on the last quarter of the data
    xv, yv = x[30:], y[30:]
    close(runs["keras"][0]["val_loss"][-1], k_model.evaluate(xv, yv, verbose=0),
          "Keras: val_loss unweighted")
    close(runs["tinynn"][0]["val_loss"][-1], t_model.evaluate(xv, yv, verbose=0),
          "tinynn: val_loss unweighted")


def test_class_weight_with_sample_weight_is_refused_by_both(keras, floatx64):
    x, y, w = data("sparse")
    k_model, t_model = twins(keras)
    with pytest.raises(ValueError, match="You cannot `class_weight` and `sample_weight`"):
        k_model.fit(x, y, sample_weight=w, class_weight={0: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="You cannot `class_weight` and `sample_weight`"):
        t_model.fit(x, y, sample_weight=w, class_weight={0: 2.0}, verbose=0)


# ----- weighted_metrics --------------------------------------------------------------------------

METRICS = {
    "sparse": (["accuracy", "sparse_categorical_crossentropy"],
               ["accuracy", "sparse_categorical_crossentropy", "accuracy"]),
    "binary": (["binary_accuracy"], ["binary_accuracy", "auc", "binary_crossentropy"]),
}


@pytest.mark.parametrize("kind", list(METRICS))
def test_weighted_metrics_names_values_and_validation_weights(keras, floatx64, kind):
    units, activation, loss = (3, "softmax", "sparse_categorical_crossentropy") \
        if kind == "sparse" else (1, "sigmoid", "binary_crossentropy")
    metrics, weighted = METRICS[kind]
    x, y, w = data(kind)
    xv, yv, wv = data(kind, 20, seed=1)
    k_model, t_model = twins(keras, units, activation, loss, metrics=metrics,
                             weighted_metrics=weighted)
    runs = fit_both(keras, k_model, t_model, x, y, sample_weight=w, batch_size=16, epochs=2,
                    validation_data=(xv, yv, wv))
    assert_same_run(runs, k_model, t_model, f"{kind}, weighted_metrics")
    history = runs["keras"][0]
    name = weighted[0]  # also in `metrics`: Keras logs the weighted one as weighted_<name>
    assert abs(history[f"weighted_{name}"][0] - history[name][0]) > 1e-4, \
        "the weighted metric equals the unweighted one"
    for return_dict in (False, True):
        k_out = k_model.evaluate(xv, yv, sample_weight=wv, verbose=0, return_dict=return_dict)
        t_out = t_model.evaluate(xv, yv, sample_weight=wv, verbose=0, return_dict=return_dict)
        if return_dict:
            assert list(t_out) == list(k_out)
            k_out, t_out = list(k_out.values()), list(t_out.values())
        assert len(t_out) == len(k_out)
        close(t_out, k_out, f"{kind}: evaluate(sample_weight), return_dict={return_dict}")
    # the validation logs are the weighted evaluation of the validation data
    close(runs["keras"][0]["val_loss"][-1], k_model.evaluate(xv, yv, sample_weight=wv,
                                                             verbose=0, return_dict=True)["loss"],
          "Keras: val_loss with validation_data's weights")


# ----- evaluate(steps) ---------------------------------------------------------------------------

def test_evaluate_steps_and_batch_size(keras, floatx64):
    x, y, w = data("sparse")
    k_model, t_model = twins(keras, metrics=["accuracy"], weighted_metrics=["accuracy"])
    for kwargs in (dict(steps=3), dict(steps=3, batch_size=7), dict(steps=9, batch_size=7),
                   dict(batch_size=7), dict(steps=2, sample_weight=w),
                   dict(steps=4, batch_size=6, sample_weight=w)):
        out = run_both(keras, k_model, t_model, "evaluate", x, y, return_dict=True, **kwargs)
        what = "evaluate(" + ", ".join(f"{k}={v if np.isscalar(v) else 'w'}"
                                       for k, v in kwargs.items()) + ")"
        assert out["tinynn"][1] == out["keras"][1], f"{what}: test batches"
        assert out["tinynn"][2] == out["keras"][2], f"{what}: warnings"
        assert list(out["tinynn"][0]) == list(out["keras"][0])
        close(list(out["tinynn"][0].values()), list(out["keras"][0].values()), what)
    # steps=3 without batch_size covers all 40 samples (batches of 14); with 7, 21 of them
    full = k_model.evaluate(x, y, verbose=0)[0]
    close(t_model.evaluate(x, y, steps=3, verbose=0)[0], full, "steps=3: all samples")
    close(t_model.evaluate(x, y, steps=3, batch_size=7, verbose=0)[0],
          k_model.evaluate(x[:21], y[:21], verbose=0)[0], "steps=3, batch_size=7: 21 samples")


# ----- steps_per_epoch and the validation arguments ----------------------------------------------

STEP_CASES = {
    # 40 samples in batches of 16: 3 batches a pass (16, 16, 8)
    "fewer steps than batches: epochs continue the pass": dict(batch_size=16, steps_per_epoch=2,
                                                               epochs=5),
    "more steps than batches: every epoch runs out": dict(batch_size=16, steps_per_epoch=5,
                                                          epochs=2),
    "steps without batch_size: ceil(40 / 3) = 14": dict(steps_per_epoch=3, epochs=2),
    "steps with sample weights": dict(batch_size=8, steps_per_epoch=3, epochs=4,
                                      sample_weight=True),
    "validation_steps restarts, validation_batch_size, validation_freq": dict(
        batch_size=8, steps_per_epoch=4, epochs=4, validation=True, validation_steps=2,
        validation_batch_size=6, validation_freq=2),
    "validation_steps beyond the data, validation_freq as a list": dict(
        batch_size=16, epochs=3, validation=True, validation_steps=6, validation_freq=[1, 3]),
    "validation batches from validation_steps alone": dict(
        steps_per_epoch=2, epochs=2, validation=True, validation_steps=3),
    "validation_split with sample weights": dict(batch_size=8, epochs=2, validation_split=0.25,
                                                 sample_weight=True),
}


@pytest.mark.parametrize("case", list(STEP_CASES))
def test_steps_and_validation_arguments(keras, floatx64, case):
    kwargs = dict(STEP_CASES[case])
    x, y, w = data("sparse")
    if kwargs.pop("sample_weight", False):
        kwargs["sample_weight"] = w
    if kwargs.pop("validation", False):
        xv, yv, wv = data("sparse", 20, seed=1)
        kwargs["validation_data"] = (xv, yv, wv)
    k_model, t_model = twins(keras, lr=0.2)
    runs = fit_both(keras, k_model, t_model, x, y, **kwargs)
    assert_same_run(runs, k_model, t_model, case)
    history, events, ran_out = runs["keras"]
    assert len(history["loss"]) == kwargs["epochs"], "Keras trains every epoch"
    if case.startswith("fewer steps"):  # 3 batches a pass: 2 steps, 1 (ran out), 2, 1, 2
        assert train_steps_per_epoch(events) == [2, 1, 2, 1, 2] and len(ran_out) == 2
    if case.startswith("more steps"):  # each epoch: the 3 batches, then ran out
        assert train_steps_per_epoch(events) == [3, 3] and len(ran_out) == 2
        assert events[0] == ("steps", 5)


def train_steps_per_epoch(events: list) -> list:
    counts = []
    for kind, _ in events:
        if kind == "epoch":
            counts.append(0)
        elif kind == "train":
            counts[-1] += 1
    return counts


def test_ran_out_of_data_warning_is_keras_s(keras, floatx64):
    x, y, _ = data("sparse")
    k_model, t_model = twins(keras)
    runs = fit_both(keras, k_model, t_model, x, y, batch_size=32, steps_per_epoch=3)
    assert runs["keras"][2] == runs["tinynn"][2] == [tinynn.data_adapter.RAN_OUT_OF_DATA]
