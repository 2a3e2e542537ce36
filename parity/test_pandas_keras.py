"""TensorFlow's basic-regression tutorial, as it is written (pandas, `pd.get_dummies`, bool
one-hot columns, `np.array(train_features)` into `Normalization.adapt`, DataFrames and Series
into fit / evaluate / predict), on the Auto MPG table vega_datasets ships offline: Keras and
tinynn adapt the same statistics, and from the same weights predict and train the same.

float64, rtol 1e-10 atol 1e-12 (the brief's bound); the adapted mean and variance rtol 1e-12.
Keras 3.15 in float64 cannot take these DataFrames ("Failed to convert a NumPy array to a
Tensor (Unsupported object type int)"; in float32 it can), so in float64 Keras gets
`df.to_numpy("float64")` and tinynn the DataFrame; a float32 run gives both the DataFrame.
Keras also refuses `np.array(df)` (dtype object) in predict, though it takes it in adapt; tinynn
takes it in both.
"""

import numpy as np
import pandas as pd

import tinynn

TOL = dict(rtol=1e-10, atol=1e-12)


def auto_mpg():
    """The tutorial's preparation, on vega_datasets' copy of Auto MPG."""
    from vega_datasets import data

    raw = data.cars()[["Miles_per_Gallon", "Cylinders", "Displacement", "Horsepower",
                       "Weight_in_lbs", "Acceleration", "Origin"]].dropna()
    dataset = pd.get_dummies(raw, columns=["Origin"], prefix="", prefix_sep="")
    train = dataset.sample(frac=0.8, random_state=0)
    test = dataset.drop(train.index)
    train_features, test_features = train.copy(), test.copy()
    return (train_features, train_features.pop("Miles_per_Gallon"), test_features,
            test_features.pop("Miles_per_Gallon"))


def test_basic_regression_tutorial_matches_keras(keras, floatx64):
    train_features, train_labels, test_features, test_labels = auto_mpg()
    assert np.array(train_features).dtype == object  # the bool columns make it so
    k_norm = keras.layers.Normalization(axis=-1)
    k_norm.adapt(np.array(train_features))
    t_norm = tinynn.layers.Normalization(axis=-1)
    t_norm.adapt(np.array(train_features))
    np.testing.assert_allclose(t_norm.mean.numpy(), k_norm.mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(t_norm.variance.numpy(), k_norm.variance.numpy(), rtol=1e-12)
    keras.utils.set_random_seed(0)
    k_model = keras.Sequential([k_norm, keras.layers.Dense(16, activation="relu"),
                                keras.layers.Dense(1)])
    k_model.compile(loss="mean_absolute_error", optimizer=keras.optimizers.Adam(0.01))
    floats = {"train": train_features.to_numpy("float64"),
              "test": test_features.to_numpy("float64")}  # for Keras, see above
    k_model.predict(floats["test"][:2], verbose=0)  # builds it
    t_model = tinynn.models.from_keras(k_model)
    t_model.compile(loss="mean_absolute_error", optimizer=tinynn.optimizers.Adam(0.01))
    np.testing.assert_allclose(t_model.predict(test_features, verbose=0),
                               k_model.predict(floats["test"], verbose=0), **TOL)
    np.testing.assert_allclose(t_model.predict(np.array(test_features), verbose=0),
                               k_model.predict(floats["test"], verbose=0), **TOL)
    runs = [m.fit(x, train_labels, epochs=3, batch_size=32, shuffle=False, verbose=0,
                  validation_split=0.2).history
            for m, x in ((k_model, floats["train"]), (t_model, train_features))]
    for key in runs[0]:
        np.testing.assert_allclose(runs[1][key], runs[0][key], **TOL, err_msg=key)
    np.testing.assert_allclose(t_model.evaluate(test_features, test_labels, verbose=0),
                               k_model.evaluate(floats["test"], test_labels, verbose=0), **TOL)
    # the one-feature model of the tutorial: a Series as x
    horsepower = np.array(train_features["Horsepower"])
    models = []
    for module in (keras, tinynn):
        norm = module.layers.Normalization(input_shape=[1], axis=None)
        norm.adapt(horsepower)
        models.append(module.Sequential([norm, module.layers.Dense(1)]))
    models[1].set_weights(models[0].get_weights())
    np.testing.assert_allclose(models[1].predict(train_features["Horsepower"][:10], verbose=0),
                               models[0].predict(train_features["Horsepower"][:10], verbose=0),
                               **TOL)


def test_dataframes_in_float32_as_keras_takes_them(keras):
    train_features, _, test_features, _ = auto_mpg()
    keras.utils.set_random_seed(0)
    k_norm = keras.layers.Normalization(axis=-1)
    k_norm.adapt(np.array(train_features))
    k_model = keras.Sequential([k_norm, keras.layers.Dense(4, activation="relu"),
                                keras.layers.Dense(1)])
    expected = k_model.predict(test_features, verbose=0)  # Keras takes the DataFrame here
    t_model = tinynn.models.from_keras(k_model)
    np.testing.assert_allclose(t_model.predict(test_features, verbose=0), expected, rtol=1e-5,
                               atol=1e-4)
