"""The Keras tutorial program, verbatim but for its import line, runs on tinynn.

The data loader is patched to a subset so the test takes seconds; everything else is the exact
text a Keras user would write. parity/ runs the same text on Keras itself.
"""

import numpy as np
import pytest

import tinynn
from tinynn.datasets import fashion_mnist

PROGRAM = '''
keras.utils.set_random_seed(42)
(x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()
x, xt = x / 255.0, xt / 255.0
model = keras.Sequential([
    keras.Input((28, 28)),               # keras.layers.Flatten(input_shape=(28, 28)) must work too
    keras.layers.Flatten(),
    keras.layers.Dense(512, activation="relu"), keras.layers.Dropout(0.3),
    keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.3),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0005),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()                          # Keras-like table; total params 567,434
es = keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
history = model.fit(x, y, epochs=30, batch_size=32, validation_split=0.1, callbacks=[es], verbose=1)
loss, acc = model.evaluate(xt, yt, verbose=0)
probs = model.predict(xt[:3])            # (3, 10), rows sum to 1
history.history["val_accuracy"]          # per-epoch lists: loss, accuracy, val_loss, val_accuracy
'''


def test_keras_program_runs_on_tinynn(fashion, monkeypatch, capsys):
    (x, y), (xt, yt) = fashion_mnist.load_data()
    subset = ((x[:1500], y[:1500]), (xt[:500], yt[:500]))
    monkeypatch.setattr(fashion_mnist, "load_data", lambda: subset)
    scope = {"keras": tinynn}
    exec(compile(PROGRAM, "keras_program", "exec"), scope)
    out = capsys.readouterr().out
    assert "Total params: 567,434" in out and "Epoch 1/30" in out
    history, probs = scope["history"], scope["probs"]
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    epochs = len(history.history["loss"])
    assert 6 <= epochs <= 30  # patience 5: at least 6 epochs unless it ran all 30
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
    assert 0.6 < scope["acc"] <= 1 and scope["loss"] > 0
    # the restored weights are the best epoch's: evaluating on the validation split reproduces
    # the best val_loss
    xv, yv = subset[0][0][1350:] / 255.0, subset[0][1][1350:]
    best = min(history.history["val_loss"])
    assert scope["model"].evaluate(xv, yv, verbose=0)[0] == pytest.approx(best, rel=1e-5)
