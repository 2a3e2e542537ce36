"""Real training on a few thousand real Fashion-MNIST images: it learns, and it is reproducible."""

import numpy as np

import tinynn as keras


def train(x, y, seed, epochs=3):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((28, 28)), keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.1, verbose=0)
    return model, history


def test_short_real_training_learns(fashion):
    (x, y), (xt, yt) = fashion
    model, history = train(x[:4000], y[:4000], seed=0)
    losses = history.history["loss"]
    assert losses[0] > losses[1] > losses[2], losses
    _, acc = model.evaluate(xt[:2000], yt[:2000], verbose=0)
    assert acc > 0.70, acc


def test_same_seed_gives_bit_identical_weights(fashion):
    (x, y), _ = fashion
    a, history_a = train(x[:2000], y[:2000], seed=7, epochs=2)
    b, history_b = train(x[:2000], y[:2000], seed=7, epochs=2)
    c, _ = train(x[:2000], y[:2000], seed=8, epochs=2)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert history_a.history == history_b.history
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
