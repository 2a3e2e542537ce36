"""Look inside a training run of the flagship Fashion-MNIST model, and sanity-check it first.

    python examples/inside_training.py                    # 5 epochs, figure in out/
    python examples/inside_training.py --out docs/img     # the figure in the docs
    python examples/inside_training.py --quick            # a smoke run, a few seconds

1. `tinynn.diagnostics.sanity_check`: the first loss should be close to log(10) = 2.30 and the
   model should be able to overfit 16 images; it prints PASS/FAIL with the numbers.
2. `tinynn.diagnostics.LayerMonitor`: a callback recording, per layer and epoch, histograms of
   activations and gradients, the fraction of dead ReLUs and the update-to-weight ratio, on a
   fixed probe of 512 training images; `monitor.plot(...)` draws them.
"""

import argparse
from pathlib import Path

import numpy as np

import tinynn as keras
from tinynn.diagnostics import LayerMonitor, sanity_check


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5, help="epochs to train (default 5)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", type=Path, default=Path("out"), help="folder for the figure (out/)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 3,000 training and 2,000 test images, 1 epoch")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x, y), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x, x_test = x / np.float32(255), x_test / np.float32(255)
    if args.quick:
        x, y, x_test, y_test, args.epochs = x[:3000], y[:3000], x_test[:2000], y_test[:2000], 1

    # the flagship (examples/fashion.py), its layers named for the figure
    model = keras.Sequential([
        keras.Input((28, 28)), keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu", name="dense_512"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(256, activation="relu", name="dense_256"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu", name="dense_128"),
        keras.layers.Dense(10, activation="softmax", name="output"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.0005),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    print("1. Before training")
    report = sanity_check(model, x, y)

    print(f"\n2. Training {args.epochs} epoch(s), looking inside")
    monitor = LayerMonitor(x[:512], y[:512])
    model.fit(x, y, epochs=args.epochs, batch_size=32, validation_split=0.1,
              callbacks=[monitor], verbose=2)
    width = 8 * len(monitor.epochs) + 2
    print(f"\n{'layer':<10} {'dead ReLUs, epoch 0 (before) on':<{width}}"
          "update-to-weight ratio, epoch 1 on")
    for name in monitor.activations:
        dead = " ".join(f"{d:7.1%}" for d in monitor.dead.get(name, []))
        ratio = " ".join(f"{r:.1e}" for r in monitor.update_ratio.get(name, []))
        print(f"{name:<10} {dead or '-':<{width}}{ratio}")
    path = args.out / "inside_training.png"
    monitor.plot(path)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(f"\nTest accuracy {acc:.2%}, loss {loss:.4f}. Figure: {path}")
    return report, monitor


if __name__ == "__main__":
    main()
