"""pandas inputs, as TensorFlow's basic-regression tutorial passes them: a DataFrame whose
one-hot columns are bools (`pd.get_dummies`) to `Normalization.adapt` (via `np.array(df)`, an
object array) and to fit / evaluate / predict, a Series as y and as a one-feature x, Series
sample weights; and the refusals that stay (strings, None)."""

import numpy as np
import pandas as pd
import pytest

import tinynn
from tinynn import layers


def frame(n=40, seed=0) -> tuple:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"hp": rng.uniform(50, 200, n), "weight": rng.uniform(1500, 4000, n),
                       "origin": rng.choice(["Europe", "Japan", "USA"], n)})
    df = pd.get_dummies(df, columns=["origin"], prefix="", prefix_sep="")
    y = pd.Series(40 - df["hp"] / 10 + rng.normal(size=n), name="mpg")
    return df, y


def test_a_dataframe_with_bool_columns_is_numeric_as_in_keras():
    df, y = frame()
    assert np.array(df).dtype == object  # what the tutorial hands to adapt
    norm = layers.Normalization(axis=-1)
    norm.adapt(np.array(df))
    as_floats = df.to_numpy(dtype=np.float64)
    np.testing.assert_allclose(norm.mean.numpy()[0], as_floats.mean(axis=0), rtol=1e-6)
    assert norm.mean.shape == (1, 5) and norm.variance.shape == (1, 5)
    model = tinynn.Sequential([norm, layers.Dense(8, activation="relu"), layers.Dense(1)])
    model.compile(optimizer=tinynn.optimizers.Adam(0.01), loss="mean_absolute_error")
    history = model.fit(df, y, epochs=3, verbose=0, validation_split=0.2,
                        sample_weight=pd.Series(np.ones(len(y))))
    assert len(history.history["val_loss"]) == 3
    np.testing.assert_array_equal(model.predict(df, verbose=0),
                                  model.predict(as_floats, verbose=0))
    assert model.evaluate(df, y, verbose=0) == pytest.approx(
        model.evaluate(as_floats, y.to_numpy(), verbose=0), rel=1e-12)


def test_a_series_as_the_one_feature_x():
    df, y = frame()
    norm = layers.Normalization(input_shape=[1], axis=None)
    norm.adapt(np.array(df["hp"]))
    model = tinynn.Sequential([norm, layers.Dense(1)])
    model.compile(optimizer=tinynn.optimizers.Adam(0.1), loss="mae")
    model.fit(df["hp"], y, epochs=2, verbose=0)
    np.testing.assert_array_equal(model.predict(df["hp"], verbose=0),
                                  model.predict(df["hp"].to_numpy()[:, None], verbose=0))


def test_text_and_missing_values_are_still_refused():
    df, y = frame()
    model = tinynn.Sequential([tinynn.Input((5,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match="x must hold numbers, got an array of dtype object"):
        model.fit(df.assign(USA="yes"), y, verbose=0)
    with pytest.raises(TypeError, match="must hold numbers"):
        model.fit(df.astype(object).where(df.index.to_series() != 3, None), y, verbose=0)
    with pytest.raises(ValueError, match="expected numeric arrays"):
        layers.Normalization().adapt(np.array(df.assign(USA="yes")))
