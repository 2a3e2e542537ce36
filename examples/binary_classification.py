"""Binary classification, written as a Keras user writes it ("Deep Learning with Python" 4.1's
recipe: Dense-ReLU layers, one sigmoid unit, binary cross-entropy): is a tumour malignant?

    python examples/binary_classification.py                      # tinynn
    python examples/binary_classification.py --framework keras    # the same lines on Keras

The data is scikit-learn's breast-cancer table (569 tumours, 30 measurements, shipped with
scikit-learn): 80% to train (of which 20% validates), 20% to test. "accuracy" on one sigmoid
unit is binary accuracy (a probability above 0.5 is class 1), as in Keras; precision, recall
and the ROC AUC are metric objects.
"""

import argparse

import numpy as np
from sklearn.datasets import load_breast_cancer


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--framework", choices=["tinynn", "keras"], default="tinynn")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = p.parse_args(argv)
    if args.framework == "keras":
        import keras
    else:
        import tinynn as keras

    keras.utils.set_random_seed(args.seed)
    x, y = load_breast_cancer(return_X_y=True)
    x, y = x.astype("float32"), (1 - y).astype("float32")  # 1 = malignant
    order = np.random.default_rng(0).permutation(len(x))
    n_test = len(x) // 5
    x_test, y_test = x[order[:n_test]], y[order[:n_test]]
    x_train, y_train = x[order[n_test:]], y[order[n_test:]]

    normalizer = keras.layers.Normalization()
    normalizer.adapt(x_train)
    model = keras.Sequential([
        keras.Input(shape=(30,)),
        normalizer,
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy",
                  metrics=["accuracy", keras.metrics.Precision(name="precision"),
                           keras.metrics.Recall(name="recall"), keras.metrics.AUC(name="auc")])
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=16,
                        validation_split=0.2, verbose=0)
    results = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    probabilities = model.predict(x_test, verbose=0)
    print(f"{args.framework}: {len(history.history['loss'])} epochs, test accuracy "
          f"{results['accuracy']:.3f}, precision {results['precision']:.3f}, recall "
          f"{results['recall']:.3f}, AUC {results['auc']:.3f}; predictions shaped "
          f"{probabilities.shape}, first {float(probabilities[0, 0]):.3f}")
    return results


if __name__ == "__main__":
    main()
