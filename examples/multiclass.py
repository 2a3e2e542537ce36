"""Multi-class classification with one-hot labels, written as a Keras user writes it ("Deep
Learning with Python" 4.2's recipe: `to_categorical`, a softmax layer, categorical
cross-entropy): which digit is this 8x8 image?

    python examples/multiclass.py                      # tinynn
    python examples/multiclass.py --framework keras    # the same lines on Keras itself

The data is scikit-learn's digits (1,797 images of 8x8 pixels, 10 classes, shipped with
scikit-learn): 80% to train (of which 20% validates), 20% to test. "accuracy" with one-hot
labels is categorical accuracy (the argmax of the prediction against the argmax of the label),
as in Keras; top-2 accuracy is a metric object.
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits


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
    images, labels = load_digits(return_X_y=True)
    x = images.reshape(-1, 8, 8).astype("float32") / 16.0
    y = keras.utils.to_categorical(labels, num_classes=10)
    order = np.random.default_rng(0).permutation(len(x))
    n_test = len(x) // 5
    x_test, y_test = x[order[:n_test]], y[order[:n_test]]
    x_train, y_train = x[order[n_test:]], y[order[n_test:]]

    model = keras.Sequential([
        keras.Input(shape=(8, 8)),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(k=2, name="top2")])
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=32,
                        validation_split=0.2, verbose=0)
    loss, accuracy, top2 = model.evaluate(x_test, y_test, verbose=0)
    predicted = np.argmax(model.predict(x_test, verbose=0), axis=1)
    print(f"{args.framework}: {len(history.history['loss'])} epochs, test accuracy "
          f"{accuracy:.3f}, top-2 accuracy {top2:.3f}, loss {loss:.3f}; first predictions "
          f"{predicted[:8].tolist()} for labels {np.argmax(y_test[:8], axis=1).tolist()}")
    return loss, accuracy, top2


if __name__ == "__main__":
    main()
