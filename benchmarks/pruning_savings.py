"""How many epochs did pruning save, and what did it cost? Re-run every pruned trial of a study
made by examples/tune.py without pruning (same configuration, same seed, same data) and compare.

    python benchmarks/pruning_savings.py out/tuning/study.journal --subset 20000 --epochs 8

Give the --subset, --epochs, --patience and --seed the search used.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import tinynn
from tinynn import tuning

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from tune import build_model  # noqa: E402  (the search space of examples/tune.py)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("storage", help="the study's journal file or database URL")
    p.add_argument("--subset", type=int, default=None)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()
    (x, y), _ = tinynn.datasets.fashion_mnist.load_data()
    x, y = x[:args.subset] / np.float32(255), y[:args.subset]

    study = tuning.Tuner(build_model, storage=args.storage, study_name=f"fashion-seed{args.seed}",
                         verbose=False).results
    best = study.best.val_accuracy
    ran = full = 0
    print("trial  epochs pruned / without pruning  val_accuracy pruned / without pruning")
    for t in sorted((t for t in study.trials if t.state == "pruned"), key=lambda t: t.number):
        again = tuning.Tuner(build_model, max_trials=1, pruner="none", seed=t.seed,
                             verbose=False)  # its trial 0 is seeded t.seed, as the original
        again.study.enqueue_trial(t.config)
        alone = again.search(x, y, epochs=args.epochs, patience=args.patience).trials[0]
        ran, full = ran + t.epochs, full + alone.epochs
        print(f"{t.number + 1:>5}  {t.epochs:>6} / {alone.epochs:<24}  {t.val_accuracy:.4f} / "
              f"{alone.val_accuracy:.4f}" + ("  (would have beaten the best)"
                                             if alone.val_accuracy > best else ""), flush=True)
    print(f"pruned trials ran {ran} epochs; without pruning they would have run {full}: "
          f"pruning saved {full - ran} epochs (best completed val_accuracy {best:.4f})")


if __name__ == "__main__":
    main()
