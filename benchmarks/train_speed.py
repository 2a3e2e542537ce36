"""Training speed of the seed MLP: tinynn, Keras, PyTorch and JAX, one run, against the floor.

    python benchmarks/train_speed.py                  # batch 32 and 256, 3 rounds
    python benchmarks/train_speed.py --rounds 1 --epochs 1 --batch-sizes 32 \\
        --systems tinynn-numba,tinynn-layers,jax-jit,jax-scan

Same model (784-512-256-128-10, ReLU, Dropout 0.3 twice, softmax), same optimizer (Adam,
lr 5e-4), same data (54,000 real Fashion-MNIST training images, float32). Each system runs in its
own process, so import times, thread pools and peak memory are its own. An epoch's time is the
median over the timed epochs (a warm-up epoch before them is not counted). The systems run in
rounds, interleaved, and ratios are taken within a round: on these shared machines the speed of
the same code drifts by 2x or more over minutes. Nothing is asserted: compare the ratios.

Before each run the driver waits for a quiet window (other processes below --quiet-cores of a
core for --quiet-window s, at most --quiet-timeout s; then it runs anyway and flags the run);
during each run it accounts the CPU time other processes used (/proc/stat minus the worker's
own) and retries a contaminated run up to --max-retries times (see speed_quiet.py). Each round
starts with the `floor` worker: sgemm at the step's shapes and Adam's stream bandwidth
(speed_floor.py). The systems: speed_workers.py (tinynn, Keras, PyTorch), speed_jax.py (JAX).
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile

import speed_quiet
from speed_report import epoch_s, report
from speed_workers import worker

SYSTEMS = ["tinynn-numba", "tinynn-layers", "tinynn-numpy", "keras", "pytorch", "jax-jit",
           "jax-scan"]
# the module each system needs, and how to install it when it is missing
NEEDS = {"keras": ("keras", "pip install tensorflow-cpu"),
         "pytorch": ("torch", "pip install torch==2.13.0"),
         "jax-jit": ("jax", "pip install jax jaxlib"),
         "jax-scan": ("jax", "pip install jax jaxlib")}


# ----- one run, gated ----------------------------------------------------------------------

def run(system: str, batches: "list[int]", epochs: int, env: dict) -> "dict | str":
    cmd = [sys.executable, __file__, "--worker", system,
           "--batch-sizes", ",".join(map(str, batches)), "--epochs", str(epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    if "No module named" in last:
        return f"not installed ({NEEDS.get(system, ('', last))[1]})"
    return f"failed: {last}"


def gated_run(system: str, batches: "list[int]", epochs: int, env_for_attempt, args) -> dict:
    """Run `system` after a quiet window; retry while others' CPU contaminated it.

    Returns {"result": dict or str, "attempts", "contaminated" (attempts over the threshold),
    "gate_timeouts", "others" (cores per attempt), "flagged" (the kept run was contaminated
    or started without a quiet window)}. The kept result is the least contaminated attempt."""
    module, hint = NEEDS.get(system, (None, ""))
    if module and importlib.util.find_spec(module) is None:
        return dict(result=f"not installed ({hint})", attempts=0, contaminated=0,
                    gate_timeouts=0, others=[], flagged=False)
    attempts = []
    for _ in range(args.max_retries + 1):
        quiet, _, _ = speed_quiet.wait_for_quiet(args.quiet_window, args.quiet_timeout,
                                                 args.quiet_cores)
        before = speed_quiet.Sample()
        result = run(system, batches, epochs, env_for_attempt())
        others = speed_quiet.Sample().others_since(before)
        dirty = speed_quiet.is_contaminated(others, args.contaminated_cores)
        attempts.append((dirty, others, quiet, result))
        if not isinstance(result, dict) or not dirty:
            break
    dirty, others, quiet, result = min(attempts, key=lambda a: (a[0], a[1]))
    return dict(result=result, attempts=len(attempts),
                contaminated=sum(a[0] for a in attempts),
                gate_timeouts=sum(not a[2] for a in attempts), others=[a[1] for a in attempts],
                flagged=dirty or not quiet)


def describe(rec: dict) -> str:
    r = rec["result"]
    if not isinstance(r, dict):
        return r
    s = f"{statistics.median(r['epoch_times']):.2f} s/epoch" if "epoch_times" in r else "done"
    others = ", ".join(f"{c:.2f}" for c in rec["others"])
    return (f"{s}  [others {others} cores; {rec['contaminated']}/{rec['attempts']} "
            f"contaminated{'; FLAGGED' if rec['flagged'] else ''}]")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per run (default 2)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds; each runs every system once, interleaved (default 3)")
    p.add_argument("--batch-sizes", default="32,256", help="comma-separated (default 32,256)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    p.add_argument("--max-retries", type=int, default=2,
                   help="re-runs of a contaminated run (default 2)")
    p.add_argument("--quiet-window", type=float, default=2.0,
                   help="seconds of quiet needed before a run (default 2)")
    p.add_argument("--quiet-timeout", type=float, default=60.0,
                   help="longest wait for a quiet window, then run and flag (default 60)")
    p.add_argument("--quiet-cores", type=float, default=speed_quiet.QUIET_CORES,
                   help="others' CPU below which a window is quiet, in cores (default 0.10)")
    p.add_argument("--contaminated-cores", type=float, default=speed_quiet.CONTAMINATED_CORES,
                   help="others' average CPU above which a run is contaminated (default 0.15)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    batches = [int(b) for b in args.batch_sizes.split(",")]
    if args.worker:
        worker(args.worker, batches, args.epochs)
        return

    systems = args.systems.split(",")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    # runs[batch][system] has one record (see gated_run) per round; floors one per round
    runs = {b: {s: [] for s in systems} for b in batches}
    floors = []
    for round_ in range(args.rounds):
        floors.append(gated_run("floor", batches, 0, lambda: env, args))
        print(f"  round {round_ + 1} floor {describe(floors[-1])}", flush=True)
        for batch in batches:
            for system in systems:
                # a fresh numba cache for the very first tinynn-numba run (and each of its
                # retries) shows compiling
                first = round_ == 0 and batch == batches[0] and system == "tinynn-numba"

                def env_for_attempt(first=first):
                    if first:
                        return dict(env, NUMBA_CACHE_DIR=tempfile.mkdtemp(prefix="tinynn-cold-"))
                    return env

                runs[batch][system].append(gated_run(system, [batch], args.epochs,
                                                     env_for_attempt, args))
                print(f"  round {round_ + 1} batch {batch:>3} {system:<13} "
                      f"{describe(runs[batch][system][-1])}", flush=True)
            fused, layers = (runs[batch].get(s, [None])[-1] for s in ("tinynn-numba",
                                                                      "tinynn-layers"))
            if fused and layers and isinstance(fused["result"], dict) \
                    and isinstance(layers["result"], dict):
                print(f"  round {round_ + 1} batch {batch:>3} tinynn-numba / tinynn-layers "
                      f"{epoch_s(fused['result']) / epoch_s(layers['result']):.2f}x "
                      "(target <= 0.62x)", flush=True)
    report(runs, floors, args)


if __name__ == "__main__":
    main()
