"""One system of `train_speed.py`, timed in its own process (`train_speed.py --worker SYSTEM`).

Each worker prints one line "RESULT {json}" with epoch_times, first_fit_s, predict_s, import_s,
peak_rss_mb (ru_maxrss of the worker process itself) and, where there is one, a note.
"""

import json
import resource
import statistics
import sys
import time

import numpy as np

N_TRAIN = 54_000


def load():
    from tinynn.datasets import fashion_mnist

    (x, y), (xt, _) = fashion_mnist.load_data()
    scale = np.float32(255)
    return (x[:N_TRAIN] / scale).astype(np.float32), y[:N_TRAIN].astype(np.int64), \
        (xt / scale).astype(np.float32)


def keras_style_run(keras, batch: int, epochs: int, before_fit=None,
                    compile_kwargs: "dict | None" = None) -> dict:
    """The same code times tinynn and Keras: tinynn has Keras's names."""
    x, y, xt = load()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28)), keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(256, activation="relu"), keras.layers.Dropout(0.3),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax"),
    ])
    note = None

    def compile_(**extra):
        model.compile(optimizer=keras.optimizers.Adam(5e-4),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"], **extra)

    try:
        compile_(**(compile_kwargs or {}))
    except TypeError as e:
        if "jit_compile" not in str(e):
            raise
        note = "jit_compile not supported yet: ran the default compile"
        compile_()
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
    return dict(epoch_times=times[1:], first_fit_s=warm_up, predict_s=predict_s, note=note)


def time_tinynn(system: str, batch: int, epochs: int) -> dict:
    """tinynn-numba: the default compile; tinynn-layers: numba, `jit_compile=False` (the
    layer-by-layer path); tinynn-numpy: the NumPy reference backend."""
    start = time.perf_counter()
    import tinynn
    import_s = time.perf_counter() - start
    tinynn.set_backend("numpy" if system == "tinynn-numpy" else "numba")

    def compile_kernels(model, x, y):
        start = time.perf_counter()
        model.fit(x[:64], y[:64], epochs=1, batch_size=batch, verbose=0)
        return time.perf_counter() - start

    kwargs = {"jit_compile": False} if system == "tinynn-layers" else None
    result = dict(keras_style_run(tinynn, batch, epochs, compile_kernels, kwargs),
                  import_s=import_s)
    fused = sys.modules.get("tinynn.fused")  # imported when the fused engine ran
    if fused is not None and fused._CHOSEN:
        blas = ", ".join(sorted({name for name, _ in fused._CHOSEN.values()}))
        result["note"] = "; ".join(filter(None, [result.get("note"),
                                                 f"the fused engine called {blas}'s sgemm"]))
    return result


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


def worker(system: str, batches: "list[int]", epochs: int) -> None:
    if system == "floor":
        from speed_floor import measure

        result = measure(batches)
    elif system.startswith("tinynn"):
        result = time_tinynn(system, batches[0], epochs)
    elif system == "keras":
        result = time_keras(batches[0], epochs)
    elif system.startswith("jax"):
        from speed_jax import time_jax

        result = time_jax(system, batches[0], epochs, load())
    else:
        result = time_pytorch(batches[0], epochs)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))
