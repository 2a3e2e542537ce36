"""EarlyStopping: scripted val_loss / val_accuracy sequences through Keras's own callback and
tinynn's, driven exactly as `fit` drives them. Both must stop at the same epoch and restore the
same epoch's weights. The stand-in model's weights are the epoch number that produced them."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynn


class EpochStampedModel:
    """Weights that say which epoch produced them; `metrics` lets Keras's mode="auto" find the
    direction of "accuracy" the way it does on a compiled model."""

    def __init__(self, metrics=()):
        self.epoch, self.stop_training, self.restored = -1, False, None
        self.metrics = list(metrics)

    def get_weights(self):
        return [np.array(self.epoch)]

    def set_weights(self, weights):
        self.restored = int(weights[0])


def drive(callback, values, monitor, metrics=()):
    """on_train_begin, on_epoch_end per value until stop_training, on_train_end. Returns
    (epochs run, stopped_epoch, restored epoch or None, best_epoch)."""
    model = EpochStampedModel(metrics)
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        model.epoch = epoch
        callback.on_epoch_end(epoch, {monitor: float(value), "loss": 1.0})
        if model.stop_training:
            break
    callback.on_train_end()
    return model.epoch + 1, callback.stopped_epoch, model.restored, callback.best_epoch


def both(keras, kwargs, values, monitor="val_loss"):
    from keras.src.trainers.compile_utils import MetricsList

    metrics = [MetricsList([keras.metrics.SparseCategoricalAccuracy(name="accuracy")])]
    k = drive(keras.callbacks.EarlyStopping(monitor=monitor, **kwargs), values, monitor, metrics)
    t = drive(tinynn.callbacks.EarlyStopping(monitor=monitor, **kwargs), values, monitor)
    return k, t


def _hand_worked_cases() -> dict:
    """The scripts of tests/test_callbacks.py, whose expectations were worked out by hand."""
    path = Path(__file__).resolve().parents[1] / "tests" / "test_callbacks.py"
    spec = importlib.util.spec_from_file_location("tinynn_test_callbacks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


HAND_WORKED = _hand_worked_cases()


@pytest.mark.parametrize("case", list(HAND_WORKED))
def test_hand_worked_scripts_match_keras(keras, case):
    kwargs, values, runs, stopped, restored = HAND_WORKED[case]
    k, t = both(keras, kwargs, values)
    assert k == t, f"{case}: Keras (runs, stopped, restored, best) {k}, tinynn {t}"
    assert k[:3] == (runs, stopped, restored), f"{case}: the hand-worked answer is wrong"


CASES = {
    "patience 0": (dict(patience=0), [0.9, 0.8, 0.85, 0.7]),
    "patience 1, restore": (dict(patience=1, restore_best_weights=True),
                            [0.9, 0.8, 0.85, 0.7, 0.75, 0.76, 0.6]),
    "patience 3, restore": (dict(patience=3, restore_best_weights=True),
                            [0.9, 0.8, 0.85, 0.84, 0.83, 0.79, 0.81, 0.82, 0.83, 0.5]),
    "min_delta exactly met is no improvement": (dict(patience=1, min_delta=0.25),
                                                [1.0, 0.75, 0.5, 0.25]),
    "min_delta negative is its absolute value": (dict(patience=0, min_delta=-0.05),
                                                 [1.0, 0.97, 0.9]),
    "mode max on a loss": (dict(patience=1, mode="max", restore_best_weights=True),
                           [0.5, 0.4, 0.6, 0.55, 0.52]),
    "baseline beaten late": (dict(patience=2, baseline=0.6, restore_best_weights=True),
                             [0.9, 0.7, 0.65, 0.55, 0.56, 0.57, 0.58]),
    "baseline never beaten": (dict(patience=2, baseline=0.1, restore_best_weights=True),
                              [0.9, 0.7, 0.65, 0.55, 0.5]),
    "start_from_epoch": (dict(patience=0, start_from_epoch=3, restore_best_weights=True),
                         [0.5, 0.9, 0.95, 1.0, 0.9, 0.95]),
    "restore off": (dict(patience=1), [0.9, 0.8, 0.85, 0.86, 0.1]),
    "ends without a stop, restore on": (dict(patience=4, restore_best_weights=True),
                                        [0.9, 0.8, 0.85, 0.86, 0.87]),
    "ends without a stop, restore off": (dict(patience=4), [0.9, 0.8, 0.85, 0.86, 0.87]),
    "a single epoch never stops": (dict(patience=0, restore_best_weights=True), [1.0]),
    "a tie within float32 is not an improvement": (dict(patience=0), [0.3, 0.3 - 1e-9, 0.2]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_val_loss_scripts_match_keras(keras, case):
    kwargs, values = CASES[case]
    k, t = both(keras, kwargs, values)
    assert k == t, f"{case}: Keras (runs, stopped, restored, best) {k}, tinynn {t}"


@pytest.mark.parametrize("mode", ["auto", "max", "min"])
def test_val_accuracy_scripts_match_keras(keras, mode):
    values = [0.5, 0.6, 0.55, 0.58, 0.9, 0.7, 0.71, 0.72]
    for patience in (0, 1, 3):
        k, t = both(keras, dict(patience=patience, mode=mode, restore_best_weights=True),
                    values, "val_accuracy")
        assert k == t, f"mode {mode}, patience {patience}: Keras {k}, tinynn {t}"


GRID = [round(0.1 * i, 1) for i in range(11)]  # coarse values: ties and exact min_delta steps


@given(values=st.lists(st.sampled_from(GRID), min_size=1, max_size=12),
       patience=st.integers(0, 4), min_delta=st.sampled_from([0.0, 0.1, 0.25]),
       mode=st.sampled_from(["auto", "min", "max"]),
       baseline=st.sampled_from([None, 0.35, 0.8]), start=st.integers(0, 3),
       restore=st.booleans(), monitor=st.sampled_from(["val_loss", "val_accuracy"]))
def test_random_scripts_match_keras(keras, values, patience, min_delta, mode, baseline, start,
                                    restore, monitor):
    kwargs = dict(patience=patience, min_delta=min_delta, mode=mode, baseline=baseline,
                  start_from_epoch=start, restore_best_weights=restore)
    k, t = both(keras, kwargs, values, monitor)
    assert k == t, f"{kwargs} on {values} ({monitor}): Keras {k}, tinynn {t}"
