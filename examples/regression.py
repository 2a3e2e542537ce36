"""Regression, written as a Keras user writes it (TensorFlow's "basic regression" tutorial and
"Deep Learning with Python" 4.3): predict a disease-progression score from 10 measurements.

    python examples/regression.py                      # tinynn
    python examples/regression.py --framework keras    # the same lines on Keras itself

The data is scikit-learn's diabetes table (442 patients, shipped with scikit-learn, no
download): 80% to train (of which 20% validates), 20% to test. A `Normalization` layer adapted
on the training features standardizes them inside the model; two hidden layers of 64 ReLU
units; mean squared error, with the mean absolute error as a metric.
"""

import argparse

import numpy as np
from sklearn.datasets import load_diabetes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--framework", choices=["tinynn", "keras"], default="tinynn")
    p.add_argument("--epochs", type=int, default=100, help="training epochs (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = p.parse_args(argv)
    if args.framework == "keras":
        import keras
    else:
        import tinynn as keras

    keras.utils.set_random_seed(args.seed)
    x, y = load_diabetes(return_X_y=True)
    x, y = x.astype("float32"), y.astype("float32")
    order = np.random.default_rng(0).permutation(len(x))  # the same split in both frameworks
    n_test = len(x) // 5
    x_test, y_test = x[order[:n_test]], y[order[:n_test]]
    x_train, y_train = x[order[n_test:]], y[order[n_test:]]

    normalizer = keras.layers.Normalization(axis=-1)
    normalizer.adapt(x_train)
    model = keras.Sequential([
        keras.Input(shape=(x.shape[1],)),
        normalizer,
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse",
                  metrics=["mae"])
    history = model.fit(x_train, y_train, validation_split=0.2, epochs=args.epochs,
                        batch_size=32, verbose=0)
    test_mse, test_mae = model.evaluate(x_test, y_test, verbose=0)
    baseline = np.abs(y_test - y_train.mean()).mean()
    print(f"{args.framework}: {len(history.history['loss'])} epochs, val_mae "
          f"{history.history['val_mae'][-1]:.2f}, test MAE {test_mae:.2f} (predicting the "
          f"training mean: {baseline:.2f}), test MSE {test_mse:.0f}")
    return test_mae, baseline


if __name__ == "__main__":
    main()
