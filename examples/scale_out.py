"""When one machine is not enough: hand a tinynn model to TensorFlow's distribution engine, train
it on several workers, and bring it back.

    python examples/scale_out.py                  # the full data: tinynn 2 epochs, then 2 workers 8
    python examples/scale_out.py --quick          # a smoke run: 3,000 images, 1 epoch each
    python examples/scale_out.py --model m.npz    # start from a saved tinynn model

1. tinynn trains the flagship MLP in one process (or loads a saved model) and tests it.
2. `model.to_keras()` exports it: a Keras model built from the tinynn configs, same weights,
   compiled with the same optimizer settings. It is saved as out/scale_out/handover/start.keras.
3. Two worker processes start, each with a TF_CONFIG naming both (loopback ports here), and
   rebuild the model inside `MultiWorkerMirroredStrategy.scope()`, so every variable is mirrored
   on every worker. Each worker reads its own half of the data; every step the workers sum their
   gradients (an all-reduce) and apply the same update, so their weights stay identical.
4. Worker 0 (the chief) saves the trained model; `tinynn.models.from_keras` brings it back and
   tinynn tests it and plots the learning curves of both phases.

The workers run a short custom training loop instead of `keras_model.fit`: with two workers,
Keras 3.15's `fit` stops at its first batch under this strategy (a ValueError from
`strategy.reduce` in `_maybe_symbolic_build`; keras-team/keras#20585).

On a real cluster nothing in `worker()` changes: start `python scale_out.py --worker DIR` on each
machine with TF_CONFIG listing the machines' "host:port" instead of "localhost:port" and its own
index, and put DIR where every machine reads the same files (a shared disk).
"""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # reproducible sums on CPU

import numpy as np  # noqa: E402

import tinynn  # noqa: E402
from tinynn.datasets.fashion_mnist import CLASS_NAMES  # noqa: E402
from tinynn.plotting import plot_confusion_matrix, plot_learning_curves  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--local-epochs", type=int, default=2, help="tinynn epochs first (default 2)")
    p.add_argument("--epochs", type=int, default=8, help="epochs on the workers (default 8)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="images per worker per step (default 32); a step averages the "
                        "gradient over batch-size x workers images")
    p.add_argument("--subset", type=int, default=None,
                   help="use only the first N training images (default: all 60,000)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 3,000 training and 2,000 test images, 1 + 1 epochs")
    p.add_argument("--model", type=Path, default=None,
                   help="a saved tinynn model to start from instead of training one")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", type=Path, default=Path("out/scale_out"), help="output folder")
    p.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.subset, args.local_epochs, args.epochs = args.subset or 3000, 1, 1
    return args


def load_data(subset):
    """Fashion-MNIST scaled to [0, 1]: (training, validation = its last 10%, as fit's
    validation_split takes it), and the test set."""
    (x, y), (x_test, y_test) = tinynn.datasets.fashion_mnist.load_data()
    x, x_test = x / np.float32(255), x_test / np.float32(255)
    if subset:
        x, y = x[:subset], y[:subset]
    n_val = int(len(x) * 0.1)
    return (x[:-n_val], y[:-n_val]), (x[-n_val:], y[-n_val:]), (x_test, y_test)


def digest(weights) -> str:
    """A fingerprint of the weights, to show that every worker ends with the same ones."""
    return hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)
                          ).hexdigest()[:16]


# ----- a worker: runs wherever TF_CONFIG says, reads and writes only the hand-over folder ------

def worker(handover: Path):
    import keras
    import tensorflow as tf

    plan = json.loads((handover / "plan.json").read_text())
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    keras.utils.set_random_seed(plan["seed"])
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # waits for every worker in TF_CONFIG
    n_workers = strategy.num_replicas_in_sync  # one CPU replica per worker
    (x, y), (x_val, y_val), _ = load_data(plan["subset"])
    y, y_val = y.astype("int64"), y_val.astype("int64")

    with strategy.scope():  # variables created here are mirrored on every worker
        model = keras.models.load_model(handover / "start.keras")
    optimizer = model.optimizer
    batch, global_batch = plan["batch_size"], plan["batch_size"] * n_workers
    steps = len(x) // global_batch  # the same number on every worker: they step together

    def dataset(context):  # this worker's share of the data, reshuffled each epoch
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shard(context.num_input_pipelines, context.input_pipeline_id)
        return ds.shuffle(len(x), seed=plan["seed"]).batch(batch, drop_remainder=True).repeat()

    batches = iter(strategy.distribute_datasets_from_function(dataset))

    @tf.function
    def train_step(batches):
        def step(xb, yb):  # on each worker, its own batch
            with tf.GradientTape() as tape:
                p = model(xb, training=True)
                per_image = keras.losses.sparse_categorical_crossentropy(yb, p)
                # summed over this batch, divided by the global batch (all workers' images)
                loss = tf.nn.compute_average_loss(per_image, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            # the optimizer sums the workers' gradients (an all-reduce), then applies the step
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss, tf.reduce_sum(tf.cast(tf.argmax(p, axis=1) == yb, tf.float32))

        loss, correct = strategy.run(step, args=next(batches))
        return strategy.reduce("SUM", loss, axis=None), strategy.reduce("SUM", correct, axis=None)

    @tf.function
    def validate(xv, yv):  # every worker holds the same weights, so each can validate alone
        p = model(xv, training=False)
        return (tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(yv, p)),
                tf.reduce_mean(tf.cast(tf.argmax(p, axis=1) == yv, tf.float32)))

    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    for epoch in range(plan["epochs"]):
        start, loss, correct = time.perf_counter(), 0.0, 0.0
        for _ in range(steps):
            step_loss, step_correct = train_step(batches)
            loss, correct = loss + float(step_loss), correct + float(step_correct)
        val_loss, val_acc = (float(v) for v in validate(x_val, y_val))
        for key, value in zip(history, (loss / steps, correct / (steps * global_batch), val_loss,
                                        val_acc), strict=True):
            history[key].append(value)
        sys.stdout.write(  # one write per line, so the workers' lines never interleave
            f"[worker {index}] epoch {epoch + 1}/{plan['epochs']}: {steps} steps of "
            f"{n_workers} x {batch} images in {time.perf_counter() - start:.1f} s - loss "
            f"{history['loss'][-1]:.4f} - accuracy {history['accuracy'][-1]:.4f} - val_loss "
            f"{val_loss:.4f} - val_accuracy {val_acc:.4f}\n")
        sys.stdout.flush()

    shard = len(range(index, len(x), n_workers))
    report = {"worker": index, "samples": shard, "steps": steps * plan["epochs"],
              "digest": digest(model.get_weights())}
    (handover / f"worker{index}.json").write_text(json.dumps(report))
    if index == 0:  # the chief writes the result
        model.save(handover / "trained.keras")
        (handover / "history.json").write_text(json.dumps(history))


# ----- the driver: tinynn before and after, and the two local workers ---------------------------

def free_ports(n: int) -> list[int]:
    """`n` distinct ports nobody listens on now (the OS picks them, all sockets held open until
    every port is chosen, so no two are the same); the workers bind them a moment later."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_workers(handover: Path, n: int) -> str | None:
    """Start `n` workers on this machine, one TF_CONFIG each, and wait for all of them.

    Returns None when every worker succeeded, or else what went wrong: if one worker fails, the
    others would wait for it forever, so they are stopped, and the report names the worker that
    failed first (the others' exit codes are only the stop) with the end of its stderr."""
    for stale in [*handover.glob("worker*.json"), handover / "history.json",
                  handover / "trained.keras"]:
        stale.unlink(missing_ok=True)  # a previous attempt's results
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(n)]}
    threads = str(max(1, (os.cpu_count() or 1) // n))  # they share this machine's cores
    procs = []
    for i in range(n):
        task = {"type": "worker", "index": i}
        env = {**os.environ, "TF_NUM_INTRAOP_THREADS": threads,
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}
        with open(handover / f"worker{i}.err", "w") as err:
            procs.append(subprocess.Popen([sys.executable, __file__, "--worker", str(handover)],
                                          env=env, stderr=err))
    first_failed = None
    while first_failed is None and any(p.poll() is None for p in procs):
        first_failed = next((i for i, p in enumerate(procs) if p.poll()), None)
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    if first_failed is None:
        first_failed = next((i for i, p in enumerate(procs) if p.returncode), None)
    if first_failed is None:
        return None
    lines = []
    for i in [first_failed, *(i for i in range(n) if i != first_failed)]:
        code = procs[i].returncode
        how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
        role = "failed first" if i == first_failed else "then stopped"
        tail = (handover / f"worker{i}.err").read_text().splitlines()[-25:]
        lines += [f"worker {i} {role} ({how}):", *tail]
    return "\n".join(lines)


def main():
    args = parse_args()
    if args.worker is not None:
        return worker(args.worker)
    tinynn.utils.set_random_seed(args.seed)
    (x, y), (x_val, y_val), (x_test, y_test) = load_data(args.subset)
    if args.quick:
        x_test, y_test = x_test[:2000], y_test[:2000]
    handover = args.out / "handover"
    handover.mkdir(parents=True, exist_ok=True)

    # 1. tinynn, one process.
    if args.model:
        model, local = tinynn.models.load_model(args.model), {}
    else:
        model = tinynn.Sequential([
            tinynn.Input((28, 28)), tinynn.layers.Flatten(),
            tinynn.layers.Dense(512, activation="relu"), tinynn.layers.Dropout(0.3),
            tinynn.layers.Dense(256, activation="relu"), tinynn.layers.Dropout(0.3),
            tinynn.layers.Dense(128, activation="relu"),
            tinynn.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=tinynn.optimizers.Adam(learning_rate=0.0005),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        local = model.fit(x, y, epochs=args.local_epochs, batch_size=args.batch_size,
                          validation_data=(x_val, y_val), verbose=2).history
    before = model.evaluate(x_test, y_test, verbose=0)[1]
    print(f"tinynn, one process: test accuracy {before:.2%}")

    # 2. The hand-over: a Keras model built from the tinynn configs, with the same weights.
    keras_model = model.to_keras()
    keras_model.optimizer.build(keras_model.trainable_variables)  # fresh moments, saved too
    keras_model.save(handover / "start.keras")
    gap = np.max(np.abs(keras_model.predict(x_test[:1000], verbose=0)
                        - model.predict(x_test[:1000], verbose=0)))
    print(f"exported to Keras: max |Keras - tinynn| prediction on 1,000 test images = {gap:.1e}")
    plan = {"epochs": args.epochs, "batch_size": args.batch_size, "subset": args.subset,
            "seed": args.seed}
    (handover / "plan.json").write_text(json.dumps(plan))

    # 3. The workers (here: processes on this machine; on a cluster: one per machine).
    start = time.perf_counter()
    for attempt in (1, 2):  # as a cluster manager would, restart failed workers (once here)
        print(f"starting {args.workers} workers (MultiWorkerMirroredStrategy), attempt "
              f"{attempt} ...", flush=True)
        failure = run_workers(handover, args.workers)  # every attempt starts from start.keras
        if not failure:
            break
        print(f"attempt {attempt} failed:\n{failure}", flush=True)
    else:
        sys.exit("the workers failed twice")
    reports = [json.loads((handover / f"worker{i}.json").read_text())
               for i in range(args.workers)]
    print(f"{args.workers} workers trained {args.epochs} epochs in "
          f"{time.perf_counter() - start:.1f} s (start-up included); each read "
          + ", ".join(str(r["samples"]) for r in reports) + " training images")
    same = len({r["digest"] for r in reports}) == 1
    print("weights identical on every worker: " + ("yes" if same else "NO"), reports)

    # 4. Back into tinynn: test, compare with Keras, plot.
    import keras

    trained = keras.models.load_model(handover / "trained.keras")
    back = tinynn.models.from_keras(trained)
    back.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    after = back.evaluate(x_test, y_test, verbose=0)[1]
    predicted = back.predict(x_test, batch_size=256, verbose=0)
    gap = np.max(np.abs(trained.predict(x_test[:1000], verbose=0) - predicted[:1000]))
    print(f"back in tinynn: test accuracy {after:.2%} (before the hand-over {before:.2%}); "
          f"max |Keras - tinynn| prediction = {gap:.1e}; weights {digest(back.get_weights())}")

    history = json.loads((handover / "history.json").read_text())
    both = {k: local.get(k, []) + history[k] for k in history}
    fig = plot_learning_curves(both)
    for ax in fig.axes:
        ax.axvline(len(local.get("loss", [])) + 0.5, color="grey", ls="--", lw=1)
    fig.suptitle(f"tinynn ({len(local.get('loss', []))} epochs) | hand-over | "
                 f"{args.workers} TensorFlow workers ({args.epochs} epochs)", y=1.03)
    fig.savefig(args.out / "learning_curves.png", dpi=110, bbox_inches="tight")
    plot_confusion_matrix(y_test, np.argmax(predicted, axis=1), CLASS_NAMES,
                          args.out / "confusion_matrix.png")
    print(f"Saved {args.out / 'learning_curves.png'} and {args.out / 'confusion_matrix.png'}")


if __name__ == "__main__":
    main()
