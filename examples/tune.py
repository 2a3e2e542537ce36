"""Tune the Fashion-MNIST MLP on Optuna: layers, units, activation, dropout, learning rate and
batch size, searched by TPE with pruning, by one process or several sharing one study; then
retrain the best configuration on the full training set and test it once.

    python examples/tune.py --budget 12 --subset 20000             # one process
    python examples/tune.py --budget 12 --subset 20000 --workers 2 # two processes, one study
    python examples/tune.py --quick --workers 2                    # a smoke run, seconds

Writes out/tuning/trials.csv (one row per trial, best first), out/tuning/trials.png (validation
accuracy per trial) and the winner's learning curves. The study lives in out/tuning/study.journal
(an Optuna JournalStorage file; a new search starts it afresh). Across machines, run
`python examples/tune.py --worker I --workers N --storage postgresql://...` on each machine (the
same --budget and --seed everywhere): every worker adds its trials to the one study.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import tinynn as keras
from tinynn import tuning
from tinynn.plotting import plot_learning_curves, plot_trials


def build_model(hp):
    """The search space, declared while the model is built (KerasTuner's define-by-run style)."""
    units = hp.Choice("units", [64, 128, 256, 512])
    activation = hp.Choice("activation", ["relu", "tanh"])
    dropout = hp.Float("dropout", 0.0, 0.4, step=0.1)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten()])
    for _ in range(hp.Int("layers", 1, 3)):
        model.add(keras.layers.Dense(units, activation=activation))
        if dropout > 0:
            model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("learning_rate", 1e-4, 3e-3, sampling="log")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hp.Choice("batch_size", [32, 64, 128])  # the search passes it to fit
    return model


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=int, default=12, help="trials in all (default 12)")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the study (1)")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random"],
                   help="Optuna's TPE (default) or random search")
    p.add_argument("--pruner", default="median", choices=["median", "none"],
                   help="stop trials below the median (default) or never")
    p.add_argument("--epochs", type=int, default=8,
                   help="most epochs per trial, with early stopping (default 8)")
    p.add_argument("--patience", type=int, default=2, help="early-stopping patience (default 2)")
    p.add_argument("--subset", type=int, default=None,
                   help="search on the first N training images (default: all 60,000)")
    p.add_argument("--final-epochs", type=int, default=30,
                   help="most epochs when retraining the best on all the data (default 30; "
                        "0: no retraining)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", type=Path, default=Path("out/tuning"), help="output folder")
    p.add_argument("--storage", default=None,
                   help="a journal file or database URL (default: OUT/study.journal)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 4 trials of 3 epochs on 2,000 images, retrained 1 epoch")
    p.add_argument("--worker", type=int, default=None,
                   help="run only worker I's share of the trials (started by --workers)")
    args = p.parse_args()
    if args.quick:
        args.budget, args.epochs, args.subset, args.final_epochs = 4, 3, 2000, 1
    args.storage = args.storage or str(args.out / "study.journal")
    return args


def make_tuner(args, worker=0):
    return tuning.Tuner(build_model, max_trials=args.budget, sampler=args.sampler,
                        pruner=args.pruner, seed=args.seed, storage=args.storage,
                        study_name=f"fashion-seed{args.seed}", worker=worker,
                        workers=max(args.workers, 1))


def start_workers(args) -> None:
    """Start `--workers` copies of this script, each running its share of the one study."""
    threads = str(max(1, (os.cpu_count() or 1) // args.workers))  # they share these cores
    env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
             if v is not None and k not in ("worker", "quick")]
    procs = [subprocess.Popen([sys.executable, __file__, *flags, f"--worker={i}"], env=env)
             for i in range(args.workers)]
    if any(p.wait() for p in procs):
        sys.exit("a worker failed: see its error above")


def main():
    args = parse_args()
    (x_all, y_all), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_all, x_test = x_all / np.float32(255), x_test / np.float32(255)
    x, y = x_all[:args.subset], y_all[:args.subset]

    # A worker: its share of the trials, each trained on the first 90%, validated on the rest.
    if args.worker is not None:
        make_tuner(args, args.worker).search(x, y, epochs=args.epochs, patience=args.patience,
                                             validation_split=0.1)
        return

    journal = Path(args.storage)
    if "://" not in args.storage and journal.exists():
        journal.unlink()  # a new search (a database URL's study is continued instead)
    tuner = make_tuner(args)  # creates the study before any worker starts
    start = time.perf_counter()
    if args.workers > 1:
        start_workers(args)
    else:
        tuner.search(x, y, epochs=args.epochs, patience=args.patience, validation_split=0.1)
    seconds = time.perf_counter() - start
    results = tuner.results
    pruned = [t for t in results.trials if t.state == "pruned"]
    short = sum(args.epochs - t.epochs for t in pruned)  # epochs saved, at most
    print(f"\n{len(results.trials)} trials by {args.workers} worker(s) in {seconds:.0f} s, "
          f"{sum(t.epochs for t in results.trials)} epochs in all; best val_accuracy "
          f"{results.best.val_accuracy:.4f}; {len(pruned)} pruned"
          + (f", {short} epochs short of their {args.epochs}-epoch limit" if pruned else "")
          + ". Best first:")
    print(results)
    csv_path = results.to_csv(args.out / "trials.csv")
    png_path = args.out / "trials.png"
    plot_trials(results, png_path)

    # The winner, trained again on all the training images (the quick run: the subset), tested.
    if not args.final_epochs:
        return
    x_final, y_final = (x, y) if args.quick else (x_all, y_all)
    print(f"\nRetraining the best configuration {results.best.config} on "
          f"{len(x_final):,} images ...")
    start = time.perf_counter()
    _, final = tuner.retrain_best(x_final, y_final, x_test, y_test, epochs=args.final_epochs,
                                  patience=max(args.patience, 5))
    print(f"Retrained in {time.perf_counter() - start:.0f} s "
          f"({len(final['history']['loss'])} epochs): test accuracy "
          f"{final['test_accuracy']:.2%}, test loss {final['test_loss']:.4f}")
    curves = args.out / "best_learning_curves.png"
    plot_learning_curves(final["history"], curves)
    print(f"Saved {csv_path}, {png_path} and {curves}")


if __name__ == "__main__":
    main()
