"""The compile settings of a `.keras` file against Keras itself: every loss and the metrics of
each task (names, metric objects with options, functions) written by tinynn open in Keras with
the same classes and configs and evaluate to the same logs, and the reverse; tinynn's
"compile_config" is the one Keras's `to_json()` writes for the same compile call.

Tolerance: evaluate's logs of the same weights, float64 rtol 1e-10 (as test_tasks_keras.py).
"""

import json
import warnings
import zipfile

import numpy as np
import pytest

import tinynn

TOL = dict(rtol=1e-10, atol=1e-12)


def _data(task, n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    if task == "binary":
        return x, (rng.uniform(size=(n, 1)) < 0.5).astype(np.float64)  # Keras's BCE metric: (n, 1)
    if task == "categorical":
        return x, np.eye(3)[rng.integers(0, 3, size=n)]
    if task == "sparse":
        return x, rng.integers(0, 3, size=n)
    return x, rng.normal(size=(n, 2))


_HEAD = {"binary": (1, "sigmoid"), "categorical": (3, "softmax"), "sparse": (3, "softmax"),
         "regression": (2, "linear")}


def _metrics(lib, task):
    """Names, objects with options, and a function, for each task (the same in both; named,
    where Keras numbers default names per process: "auc", "auc_1", ...)."""
    M = lib.metrics
    if task == "binary":
        return ["accuracy", M.Precision(thresholds=0.3, name="precision"),
                M.AUC(num_thresholds=13, curve="PR", name="auc"),
                M.BinaryCrossentropy(label_smoothing=0.1), "mae"]
    if task == "categorical":
        return ["accuracy", M.CategoricalCrossentropy(), M.Recall(name="rec"),
                M.mean_squared_error]
    if task == "sparse":
        return ["acc", M.SparseCategoricalCrossentropy(), M.SparseCategoricalAccuracy(name="sca")]
    return ["mae", M.RootMeanSquaredError(), M.mean_squared_error]


CASES = {  # id: (task, loss class, its arguments)
    "bce": ("binary", "BinaryCrossentropy", dict(label_smoothing=0.1)),
    "bce_logits_sum": ("binary", "BinaryCrossentropy", dict(from_logits=True, reduction="sum")),
    "cce": ("categorical", "CategoricalCrossentropy", dict(label_smoothing=0.2)),
    "scce": ("sparse", "SparseCategoricalCrossentropy", {}),
    "mse": ("regression", "MeanSquaredError", dict(reduction="sum")),
    "mae": ("regression", "MeanAbsoluteError", {}),
    "huber": ("regression", "Huber", dict(delta=0.5)),
}


def _model(lib, task, cls, kwargs):
    units, activation = _HEAD[task]
    if kwargs.get("from_logits"):
        activation = "linear"
    model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(4, activation="tanh"),
                            lib.layers.Dense(units, activation=activation)])
    model.compile(optimizer=lib.optimizers.SGD(0.05),
                  loss=getattr(lib.losses, cls)(**kwargs), metrics=_metrics(lib, task))
    return model


def _compile_config(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json"))["compile_config"]


def _without_dtypes(spec):
    """A metric's dtype: Keras writes its floatx, tinynn None (its metrics compute in float64
    whatever it says); Keras reads both."""
    if isinstance(spec, dict):
        return {k: _without_dtypes(v) for k, v in spec.items()
                if not (k == "dtype" and not isinstance(v, dict))}
    if isinstance(spec, list):
        return [_without_dtypes(v) for v in spec]
    return spec


def _load_in_keras(keras, path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "could not compile" warning: everything is read
        return keras.models.load_model(path)


@pytest.mark.parametrize("case", list(CASES))
def test_compile_settings_travel_tinynn_to_keras(keras, floatx64, tmp_path, case):
    task, cls, kwargs = CASES[case]
    x, y = _data(task)
    tinynn.utils.set_random_seed(0)
    t_model = _model(tinynn, task, cls, kwargs)
    t_model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    t_model.save(tmp_path / "t.keras")
    k_model = _load_in_keras(keras, tmp_path / "t.keras")
    assert type(k_model.loss).__name__ == cls
    k_config = k_model.loss.get_config()
    t_config = t_model.loss.get_config()
    assert {k: v for k, v in t_config.items() if k in k_config} == {
        k: v for k, v in k_config.items() if k in t_config}
    if cls == "Huber":
        assert k_model.loss._fn_kwargs == {"delta": 0.5}  # Keras's config omits it, ours has it
    want = t_model.evaluate(x, y, verbose=0, return_dict=True)
    got = k_model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], **TOL, err_msg=name)


@pytest.mark.parametrize("case", list(CASES))
def test_compile_settings_travel_keras_to_tinynn(keras, floatx64, tmp_path, case):
    """tinynn reads Keras's file as Keras reads it back (Keras's own reload is the reference: its
    Huber config has no delta, so both reload it with the default)."""
    task, cls, kwargs = CASES[case]
    x, y = _data(task, seed=1)
    keras.utils.set_random_seed(1)
    k_model = _model(keras, task, cls, kwargs)
    k_model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    k_model.save(tmp_path / "k.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t_model = tinynn.models.load_model(tmp_path / "k.keras")
    k_reloaded = _load_in_keras(keras, tmp_path / "k.keras")
    assert type(t_model.loss).__name__ == cls
    t_config, k_config = t_model.loss.get_config(), k_reloaded.loss.get_config()
    assert {k: v for k, v in t_config.items() if k in k_config} == {
        k: v for k, v in k_config.items() if k in t_config}
    want = k_reloaded.evaluate(x, y, verbose=0, return_dict=True)
    got = t_model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], **TOL, err_msg=name)


@pytest.mark.parametrize("case", list(CASES))
def test_compile_config_is_kerass(keras, floatx64, tmp_path, case):
    task, cls, kwargs = CASES[case]
    x, _ = _data(task)
    k_model, t_model = _model(keras, task, cls, kwargs), _model(tinynn, task, cls, kwargs)
    t_model.save(tmp_path / "t.keras")
    want = json.loads(k_model.to_json())["compile_config"]
    got = _compile_config(tmp_path / "t.keras")
    assert _without_dtypes(got["metrics"]) == _without_dtypes(want["metrics"])
    loss = dict(want["loss"], config=dict(want["loss"]["config"]))
    if cls == "Huber":  # Keras's get_config forgets delta; tinynn writes it (Keras reads it)
        loss["config"]["delta"] = 0.5
    assert got["loss"] == loss
    assert {k: v for k, v in got.items() if k not in ("loss", "metrics", "optimizer")} == {
        k: v for k, v in want.items() if k not in ("loss", "metrics", "optimizer")}
