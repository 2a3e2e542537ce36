"""Tune the Fashion-MNIST MLP: random search over layers, units, activation, dropout, learning
rate and batch size, then retrain the best configuration and test it once.

    python examples/tune.py --budget 12          # 12 trials
    python examples/tune.py --budget 4 --subset 10000 --epochs 5    # a quick look

Writes out/tuning/trials.csv (one row per trial, best first) and out/tuning/trials.png
(validation accuracy per trial). The test set is used exactly once, after the search.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import tinynn as keras
from tinynn import tuning
from tinynn.plotting import plot_learning_curves, plot_trials


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=int, default=12, help="number of trials (default 12)")
    p.add_argument("--epochs", type=int, default=10,
                   help="most epochs per trial, with early stopping (default 10)")
    p.add_argument("--final-epochs", type=int, default=30,
                   help="most epochs when retraining the best (default 30)")
    p.add_argument("--patience", type=int, default=2, help="early-stopping patience (default 2)")
    p.add_argument("--subset", type=int, default=None,
                   help="use only the first N training images (default: all 60,000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", type=Path, default=Path("out/tuning"), help="output folder")
    return p.parse_args()


def main():
    args = parse_args()
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, x_test = x_train / np.float32(255), x_test / np.float32(255)
    if args.subset:
        x_train, y_train = x_train[:args.subset], y_train[:args.subset]

    # The space, one line per hyperparameter (KerasTuner's names).
    hp = tuning.HyperParameters()
    hp.Int("layers", 1, 3)
    hp.Choice("units", [64, 128, 256, 512])
    hp.Choice("activation", ["relu", "tanh"])
    hp.Float("dropout", 0.0, 0.4, step=0.1)
    hp.Float("learning_rate", 1e-4, 3e-3, sampling="log")
    hp.Choice("batch_size", [32, 64, 128])

    # Each trial: a fresh model, trained on the first 90% with early stopping on the last 10%.
    tuner = tuning.RandomSearch(hp, max_trials=args.budget, seed=args.seed)
    start = time.perf_counter()
    results = tuner.search(x_train, y_train, epochs=args.epochs, patience=args.patience,
                           validation_split=0.1)
    print(f"\n{len(results.trials)} trials in {time.perf_counter() - start:.0f} s, best first:")
    print(results)
    csv_path = results.to_csv(args.out / "trials.csv")
    png_path = args.out / "trials.png"
    plot_trials(results, png_path)

    # The winner, trained again for longer, and tested once.
    print(f"\nRetraining the best configuration {results.best.config} ...")
    start = time.perf_counter()
    _, final = tuner.retrain_best(x_train, y_train, x_test, y_test, epochs=args.final_epochs,
                                  patience=max(args.patience, 3))
    print(f"Retrained in {time.perf_counter() - start:.0f} s "
          f"({len(final['history']['loss'])} epochs): test accuracy "
          f"{final['test_accuracy']:.2%}, test loss {final['test_loss']:.4f}")
    curves = args.out / "best_learning_curves.png"
    plot_learning_curves(final["history"], curves)
    print(f"Saved {csv_path}, {png_path} and {curves}")


if __name__ == "__main__":
    main()
