"""The callback protocol: which hooks Keras 3 calls during `fit` (with validation_data),
`evaluate` and `predict`, in which order, with which batch/epoch index and which logs, against
tinynn's.

The same recording callbacks (one class body, subclassing `keras.callbacks.Callback` or
`tinynn.callbacks.Callback`) run in both: `Full` overrides every hook except the old aliases,
`Alias` overrides only `on_batch_begin` / `on_batch_end` (Keras 3's base `on_train_batch_*`
forward to them). Asserted equal: the sequence of (callback, hook, index, logs keys in order,
each value's type) and the params. tinynn copies Keras's weights and neither shuffles, so the
logged values are compared too (running means, final logs, each predict batch's outputs).
No deliberate difference remains.
"""

import numpy as np
import pytest

import tinynn

HOOKS = [f"on_{name}" for name in (
    "train_begin", "train_end", "epoch_begin", "epoch_end", "train_batch_begin",
    "train_batch_end", "test_begin", "test_end", "test_batch_begin", "test_batch_end",
    "predict_begin", "predict_end", "predict_batch_begin", "predict_batch_end")]
ALIASES = ["on_batch_begin", "on_batch_end"]


def recorders(base, calls: list) -> list:
    """A `Full` and an `Alias` recorder on `base`, appending (callback, hook, index, logs) to
    `calls`. `logs` is whatever the hook received: a dict is copied, anything else kept."""

    def recording(who, hook):
        def record(self, *args, **kwargs):
            *index, logs = (*args, *kwargs.values())  # logs comes last, by position or keyword
            calls.append((who, hook, index[0] if index else None,
                          dict(logs) if isinstance(logs, dict) else logs))
        return record

    full = type("Full", (base,), {hook: recording("Full", hook) for hook in HOOKS})
    alias = type("Alias", (base,), {hook: recording("Alias", hook) for hook in ALIASES})
    return [full(), alias()]


def signature(calls) -> list:
    """What must be equal: who, which hook, which index, the logs keys in order, value types."""
    return [(who, hook, index, None if logs is None else
             [(key, type(value).__name__) for key, value in logs.items()])
            for who, hook, index, logs in calls]


def first_difference(keras_sig: list, tinynn_sig: list) -> str:
    n = next((i for i, (k, t) in enumerate(zip(keras_sig, tinynn_sig, strict=False)) if k != t),
             min(len(keras_sig), len(tinynn_sig)))
    return f"first difference at call {n}: Keras {keras_sig[n:n + 2]}, tinynn {tinynn_sig[n:n + 2]}"


def run(module, model, x, y, batch_size: int) -> dict:
    """fit (2 epochs, validation_data, no shuffling), evaluate and predict, each with fresh
    recorders; returns {stage: (calls, params)}."""
    stages = {}
    for stage, call in {
        "fit": lambda cbs: model.fit(x, y, epochs=2, batch_size=batch_size, shuffle=False,
                                     validation_data=(x[:5], y[:5]), callbacks=cbs, verbose=0),
        "evaluate": lambda cbs: model.evaluate(x, y, batch_size=batch_size, callbacks=cbs,
                                               verbose=0),
        "predict": lambda cbs: model.predict(x, batch_size=batch_size, callbacks=cbs, verbose=0),
    }.items():
        calls = []
        cbs = recorders(module.callbacks.Callback, calls)
        call(cbs)
        stages[stage] = calls, dict(cbs[0].params)
    return stages


def twins(keras, metrics: list):
    keras.utils.set_random_seed(0)
    k_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                                keras.layers.Dense(2, activation="softmax")])
    t_model = tinynn.models.from_keras(k_model)
    for model in (k_model, t_model):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=metrics)
    return k_model, t_model


def assert_values_close(k_calls, t_calls, rtol: float) -> tuple[int, float]:
    """Every logged number and array within rtol; returns (how many, the largest |diff|)."""
    compared, worst = 0, 0.0
    for k, t in zip(k_calls, t_calls, strict=True):
        for key, value in k[3].items():
            np.testing.assert_allclose(t[3][key], value, rtol=rtol, atol=1e-7,
                                       err_msg=f"{k[:3]} logs[{key!r}]")
            compared += 1
            worst = max(worst, float(np.max(np.abs(np.asarray(t[3][key]) - value))))
    return compared, worst


@pytest.mark.parametrize("metrics,batch_size", [(["accuracy"], 4), ([], 3)],
                         ids=["accuracy-batch4", "loss-only-batch3"])
def test_hook_sequences_and_logs_match_keras(keras, floatx, metrics, batch_size, report):
    x = np.random.default_rng(0).normal(size=(10, 3)).astype(floatx)
    y = (x[:, 0] > 0).astype(np.int64)
    k_model, t_model = twins(keras, metrics)
    k_stages = run(keras, k_model, x, y, batch_size)
    t_stages = run(tinynn, t_model, x, y, batch_size)
    compared, worst = 0, 0.0
    for stage in ("fit", "evaluate", "predict"):
        (k_calls, k_params), (t_calls, t_params) = k_stages[stage], t_stages[stage]
        k_sig, t_sig = signature(k_calls), signature(t_calls)
        assert k_sig == t_sig, f"{stage}: {first_difference(k_sig, t_sig)}"
        assert t_params == k_params, f"{stage} params"
        n, diff = assert_values_close(k_calls, t_calls, 1e-5 if floatx == "float32" else 1e-9)
        compared, worst = compared + n, max(worst, diff)
    # The shape of what was compared, so a vacuous pass is impossible.
    fit_hooks = [hook for _, hook, _, _ in k_stages["fit"][0]]
    assert fit_hooks.index("on_test_end") < fit_hooks.index("on_epoch_end")
    assert {"on_batch_end", "on_test_batch_end"} <= set(fit_hooks)
    assert "on_predict_batch_end" in [hook for _, hook, _, _ in k_stages["predict"][0]]
    report(f"callbacks parity {floatx} {metrics} batch {batch_size}",
           f"{sum(len(s[0]) for s in k_stages.values())} hook calls identical, "
           f"{compared} logged values, max |diff| {worst:.1e}")


def test_keras_sequences_are_the_documented_ones(keras):
    """The sequences written in parity/README.md, read off Keras itself (not off tinynn)."""
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    y = (x[:, 0] > 0).astype(np.int64)
    k_model, _ = twins(keras, ["accuracy"])
    stages = run(keras, k_model, x, y, batch_size=4)
    fit = [(who[0], hook.removeprefix("on_"), index) for who, hook, index, _ in stages["fit"][0]]
    epoch_of = []  # Alias follows Full in the callback list, so Full's hook comes first
    for i in range(3):
        epoch_of += [("F", "train_batch_begin", i), ("A", "batch_begin", i),
                     ("F", "train_batch_end", i), ("A", "batch_end", i)]
    test = [("F", "test_begin", None)]
    for i in range(2):
        test += [("F", "test_batch_begin", i), ("F", "test_batch_end", i)]
    test += [("F", "test_end", None)]
    expected = [("F", "train_begin", None)]
    for e in range(2):
        expected += [("F", "epoch_begin", e), *epoch_of, *test, ("F", "epoch_end", e)]
    expected += [("F", "train_end", None)]
    assert fit == expected
    logs = {hook: logs for _, hook, _, logs in stages["fit"][0]}
    assert list(logs["on_epoch_end"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert logs["on_train_end"] == logs["on_epoch_end"]
    assert logs["on_test_end"] == {k[4:]: v for k, v in logs["on_epoch_end"].items()
                                   if k.startswith("val_")}
    assert logs["on_train_begin"] == logs["on_epoch_begin"] == logs["on_test_begin"] == {}
    predict = stages["predict"][0]
    assert [(hook, list(logs)) for _, hook, _, logs in predict if "end" in hook] == [
        ("on_predict_batch_end", ["outputs"])] * 3 + [("on_predict_end", [])]


def _stop(flag: str):
    def hook(self, batch, logs=None):
        setattr(self.model, flag, True)
    return hook


def _add_to_logs(self, epoch, logs=None):
    logs["extra"] = 1.0


# name: (the meddling callback's methods, what to run, what of its result to compare)
EDGE_CASES = {
    "stop_training after the first batch, validation still runs":
        ({"on_train_batch_end": _stop("stop_training")},
         lambda m, x, y, cbs: m.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0,
                                    validation_data=(x[:5], y[:5]), callbacks=cbs),
         lambda history: list(history.history)),
    "no epoch to run: on_train_end gets {}":
        ({}, lambda m, x, y, cbs: m.fit(x, y, epochs=2, initial_epoch=2, callbacks=cbs,
                                        verbose=0),
         lambda history: history.history),
    "a key added in on_epoch_end reaches History, not on_train_end":
        ({"on_epoch_end": _add_to_logs},
         lambda m, x, y, cbs: m.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0,
                                    callbacks=cbs),
         lambda history: list(history.history)),
    "stop_evaluating after the first batch":
        ({"on_test_batch_end": _stop("stop_evaluating")},
         lambda m, x, y, cbs: m.evaluate(x, y, batch_size=4, callbacks=cbs, verbose=0,
                                         return_dict=True),
         lambda logs: list(logs)),
    "stop_predicting after the first batch":
        ({"on_predict_batch_end": _stop("stop_predicting")},
         lambda m, x, y, cbs: m.predict(x, batch_size=4, callbacks=cbs, verbose=0),
         lambda outputs: outputs.shape),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_stops_and_edge_cases_match_keras(keras, case):
    methods, call, outcome = EDGE_CASES[case]
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    y = (x[:, 0] > 0).astype(np.int64)
    k_model, t_model = twins(keras, ["accuracy"])
    seen = {}
    for name, module, model in (("Keras", keras, k_model), ("tinynn", tinynn, t_model)):
        calls = []
        base = module.callbacks.Callback
        cbs = [type("Meddler", (base,), methods)(), *recorders(base, calls)]
        result = outcome(call(model, x, y, cbs))
        assert calls, f"{name} called no hook"
        seen[name] = signature(calls), result
    assert seen["tinynn"][0] == seen["Keras"][0], first_difference(seen["Keras"][0],
                                                                   seen["tinynn"][0])
    assert seen["tinynn"][1] == seen["Keras"][1]
