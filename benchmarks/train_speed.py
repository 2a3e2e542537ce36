"""Training speed of the seed MLP: tinynn (numba), tinynn (numpy), Keras and PyTorch, one run.

    python benchmarks/train_speed.py                  # batch 32 and 256, 3 rounds
    python benchmarks/train_speed.py --rounds 1 --batch-sizes 32 --systems tinynn-numba,keras

Same model (784-512-256-128-10, ReLU, Dropout 0.3 twice, softmax), same optimizer (Adam,
lr 5e-4), same data (54,000 real Fashion-MNIST training images, float32). Each system runs in its
own process, so import times, thread pools and peak memory are its own. An epoch's time is the
median over the timed epochs (a warm-up epoch before them is not counted). The systems run in
rounds, interleaved, and ratios are taken within a round: on these shared machines the speed of
the same code drifts by 2x or more over minutes. Nothing is asserted: compare the ratios.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

N_TRAIN = 54_000
PARAMS = 567_434
FLOP_PER_EPOCH = 6 * PARAMS * N_TRAIN  # forward 2 + backward 4 multiply-adds per weight, sample
SYSTEMS = ["tinynn-numba", "tinynn-numpy", "keras", "pytorch"]


def load():
    from tinynn.datasets import fashion_mnist

    (x, y), (xt, _) = fashion_mnist.load_data()
    scale = np.float32(255)
    return (x[:N_TRAIN] / scale).astype(np.float32), y[:N_TRAIN].astype(np.int64), \
        (xt / scale).astype(np.float32)


def sgemm_gflops(n: int = 1024, repeats: int = 20) -> float:
    """The machine's float32 matrix-product speed through NumPy's BLAS: the roofline's ceiling."""
    a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


# ----- one system per process -----------------------------------------------------------------

def keras_style_run(keras, batch: int, epochs: int, before_fit=None) -> dict:
    """The same code times tinynn and Keras: tinynn has Keras's names."""
    x, y, xt = load()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28)), keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(5e-4), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    warm_up = before_fit(model, x, y) if before_fit else None
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(x, y, epochs=epochs + 1, batch_size=batch, callbacks=[Timer()], verbose=0)
    model.predict(xt[:batch], batch_size=batch, verbose=0)  # Keras traces predict once
    start = time.perf_counter()
    model.predict(xt, batch_size=batch, verbose=0)
    predict_s = time.perf_counter() - start
    if warm_up is None:  # the first epoch's time beyond the median: tracing and such
        warm_up = times[0] - statistics.median(times[1:])
    return dict(epoch_times=times[1:], first_fit_s=warm_up, predict_s=predict_s)


def time_tinynn(backend: str, batch: int, epochs: int) -> dict:
    start = time.perf_counter()
    import tinynn
    import_s = time.perf_counter() - start
    tinynn.set_backend(backend)

    def compile_kernels(model, x, y):
        start = time.perf_counter()
        model.fit(x[:64], y[:64], epochs=1, batch_size=batch, verbose=0)
        return time.perf_counter() - start

    return dict(keras_style_run(tinynn, batch, epochs, compile_kernels), import_s=import_s)


def time_keras(batch: int, epochs: int) -> dict:
    start = time.perf_counter()
    import keras
    import_s = time.perf_counter() - start
    return dict(keras_style_run(keras, batch, epochs), import_s=import_s)


def time_pytorch(batch: int, epochs: int) -> dict:
    start = time.perf_counter()
    import torch
    from torch import nn
    import_s = time.perf_counter() - start
    x, y, xt = load()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()  # softmax + cross-entropy on the logits, as Keras does
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(N_TRAIN)
        for i in range(0, N_TRAIN, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(xt), batch):
            torch.softmax(model(torch.from_numpy(xt[i:i + batch])), dim=1)
    predict_s = time.perf_counter() - start
    return dict(epoch_times=times[1:], import_s=import_s,
                first_fit_s=times[0] - statistics.median(times[1:]), predict_s=predict_s)


def worker(system: str, batch: int, epochs: int) -> None:
    if system.startswith("tinynn"):
        result = time_tinynn(system.split("-")[1], batch, epochs)
    elif system == "keras":
        result = time_keras(batch, epochs)
    else:
        result = time_pytorch(batch, epochs)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


# ----- the driver -----------------------------------------------------------------------------

def run(system: str, batch: int, epochs: int, env: dict) -> "dict | str":
    cmd = [sys.executable, __file__, "--worker", system, "--batch-sizes", str(batch),
           "--epochs", str(epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    if "No module named" in last:
        hint = {"keras": "pip install tensorflow-cpu", "pytorch": "pip install torch==2.13.0"}
        return f"not installed ({hint.get(system, last)})"
    return f"failed: {last}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per run (default 2)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds; each runs every system once, interleaved (default 3)")
    p.add_argument("--batch-sizes", default="32,256", help="comma-separated (default 32,256)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    batches = [int(b) for b in args.batch_sizes.split(",")]
    if args.worker:
        worker(args.worker, batches[0], args.epochs)
        return

    systems = args.systems.split(",")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cold = tempfile.mkdtemp(prefix="tinynn-numba-cache-")
    # runs[batch][system] is a list with one result per round; gflops one figure per round
    runs = {b: {s: [] for s in systems} for b in batches}
    gflops = []
    for round_ in range(args.rounds):
        gflops.append(sgemm_gflops())
        for batch in batches:
            for system in systems:
                # a fresh numba cache for the very first tinynn-numba run shows compiling
                first = round_ == 0 and batch == batches[0] and system == "tinynn-numba"
                run_env = dict(env, NUMBA_CACHE_DIR=cold) if first else env
                runs[batch][system].append(run(system, batch, args.epochs, run_env))
                r = runs[batch][system][-1]
                s = f"{statistics.median(r['epoch_times']):.2f} s/epoch" \
                    if isinstance(r, dict) else r
                print(f"  round {round_ + 1} batch {batch:>3} {system:<13} {s}", flush=True)
    report(runs, gflops, args)


def ratio(results: list, reference: list) -> str:
    """Median (and range) over rounds of a system's s/epoch over the reference's, same round."""
    ratios = [statistics.median(r["epoch_times"]) / statistics.median(k["epoch_times"])
              for r, k in zip(results, reference, strict=False)
              if isinstance(r, dict) and isinstance(k, dict)]
    if not ratios:
        return "-"
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def report(runs: dict, gflops: list, args) -> None:
    """Print the table. A system's s/epoch is the median over rounds of its per-run median; its
    ratio to Keras is the median of the ratios taken within each round (the machine's speed
    drifts between rounds, and both systems of a ratio ran close together in time)."""
    gf = statistics.median(gflops)
    roofline_s = FLOP_PER_EPOCH / (gf * 1e9)
    print(f"\nsgemm through NumPy's BLAS: {gf:.0f} GFLOP/s (median of rounds: "
          f"{', '.join(f'{g:.0f}' for g in gflops)}) -> roofline {roofline_s:.2f} s/epoch "
          f"({FLOP_PER_EPOCH / 1e12:.2f} TFLOP per epoch of {N_TRAIN:,} images)")
    print(f"{args.rounds} rounds x {args.epochs} timed epochs after a warm-up epoch\n")
    print("| batch | system | s/epoch (median) | samples/s | x Keras (range) | x PyTorch (range) | "
          "% of roofline | predict img/s | peak RSS MB | import s | warm-up s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for batch, by_system in runs.items():
        for system, results in by_system.items():
            ok = [r for r in results if isinstance(r, dict)]
            if not ok:
                print(f"| {batch} | {system} | {results[0]} |")
                continue
            s = statistics.median(statistics.median(r["epoch_times"]) for r in ok)
            med = {k: statistics.median(r[k] for r in ok)
                   for k in ("predict_s", "peak_rss_mb", "import_s")}
            print(f"| {batch} | {system} | {s:.2f} | {N_TRAIN / s:,.0f} | "
                  f"{ratio(results, by_system.get('keras', []))} | "
                  f"{ratio(results, by_system.get('pytorch', []))} | "
                  f"{100 * roofline_s / s:.0f}% | {10_000 / med['predict_s']:,.0f} | "
                  f"{med['peak_rss_mb']:.0f} | {med['import_s']:.2f} | "
                  f"{ok[0]['first_fit_s']:.2f} |")
    print("\nwarm-up (first round): tinynn, the first fit (64 images), compiling with a cold numba "
          "cache in the first tinynn-numba run; Keras and PyTorch, the first epoch's time beyond "
          "the median (graph tracing etc.).")
    print("\nTargets: batch 32 <= 0.30 x Keras and x PyTorch; batch 256 >= 60% of roofline; "
          "import tinynn < 0.3 s; predict >= Keras.")


if __name__ == "__main__":
    main()
