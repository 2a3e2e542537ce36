"""How examples/fashion.py's --improved recipe was chosen, and how it was measured.

    python benchmarks/choose_improved.py search   # the tinynn.tuning search that chose IMPROVED
    python benchmarks/choose_improved.py measure  # both recipes, full data, seeds 1, 2, 7

`search`: a small TPE search (10 trials, seed 42) over the improved model's free settings:
learning rate (log 3e-4 to 3e-3), AdamW weight decay (log 1e-3 to 1e-1), dropout (0 to 0.4),
batch normalization on or off and batch size (64, 128, 256), each trial 8 epochs (early stopping,
patience 2, median pruning) on the first 20,000 training images, the last 2,000 of them
validating; the test images are never seen. The cosine decay spans each trial's 8 epochs. The
winner's settings are then written into IMPROVED in examples/fashion.py by hand, with 20 epochs.

`measure`: runs examples/fashion.py and examples/fashion.py --improved for each seed, one after
the other, and prints every test accuracy and the means. On a machine shared with others, set
OPENBLAS_NUM_THREADS=1: two BLAS threads on busy cores ran 10x slower here.
"""

import argparse
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import tinynn
from tinynn import tuning

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from fashion import improved_model  # noqa: E402  (the model the search tunes is the example's)


def search(args) -> None:
    (x, y), _ = tinynn.datasets.fashion_mnist.load_data()
    x, y = x[:args.subset] / np.float32(255), y[:args.subset]
    n_train = len(x) - int(len(x) * 0.1)

    def build_model(hp):
        batch_size = hp.Choice("batch_size", [64, 128, 256])  # by this name: fit's batch_size
        return improved_model(
            args.epochs * math.ceil(n_train / batch_size),
            learning_rate=hp.Float("learning_rate", 3e-4, 3e-3, sampling="log"),
            weight_decay=hp.Float("weight_decay", 1e-3, 1e-1, sampling="log"),
            dropout=hp.Float("dropout", 0.0, 0.4, step=0.1),
            batchnorm=hp.Boolean("batchnorm", default=True))

    tuner = tuning.Tuner(build_model, max_trials=args.trials, seed=args.seed)
    results = tuner.search(x, y, epochs=args.epochs, patience=2, validation_split=0.1)
    print(results)
    if args.csv:
        results.to_csv(args.csv)
    print(f"\nbest: {results.best.config} (val_accuracy {results.best.val_accuracy:.4f})")


def test_accuracy(flags: list[str], out: str) -> float:
    run = subprocess.run([sys.executable, str(EXAMPLES / "fashion.py"), *flags, "--out", out],
                         capture_output=True, text=True, check=True)
    return float(re.search(r"test accuracy ([0-9.]+)%", run.stdout).group(1))


def measure(args) -> None:
    table = {}
    with tempfile.TemporaryDirectory() as out:
        for recipe, flags in (("seed", []), ("improved", ["--improved"])):
            for seed in args.seeds:
                table[recipe, seed] = test_accuracy([*flags, "--seed", str(seed)], out)
                print(f"{recipe:<9} seed {seed}: test accuracy {table[recipe, seed]:.2f}%",
                      flush=True)
    for recipe in ("seed", "improved"):
        accs = [table[recipe, s] for s in args.seeds]
        print(f"{recipe:<9} " + "  ".join(f"{a:.2f}%" for a in accs)
              + f"  mean {np.mean(accs):.2f}%")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["search", "measure"])
    p.add_argument("--trials", type=int, default=10, help="search: trials (default 10)")
    p.add_argument("--epochs", type=int, default=8, help="search: epochs per trial (8)")
    p.add_argument("--subset", type=int, default=20000,
                   help="search: the first N training images (default 20,000)")
    p.add_argument("--seed", type=int, default=42, help="search: seed (default 42)")
    p.add_argument("--csv", type=Path, default=None, help="search: write the trials here")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 7],
                   help="measure: seeds (default 1 2 7)")
    args = p.parse_args()
    if args.what == "search":
        search(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
