"""Training trajectories, step by step: Keras's initial weights copied into tinynn, no dropout,
no shuffling, batch 32, real Fashion-MNIST, the seed MLP with Adam(5e-4) and sparse CE.

float64 is an exactness claim: same per-step losses and the same weights after an epoch, to
1e-9. float32 is a statistical claim beyond a few hundred steps: both frameworks compute the same
formulas, but matrix products sum in different orders (OpenBLAS vs TensorFlow's Eigen) and
training amplifies those last-bit differences chaotically. See parity/README.md.
"""

import time

import numpy as np
from twins import (
    TinynnStepRecorder,
    keras_seed_mlp,
    keras_step_recorder,
    max_weight_difference,
    steps_within,
    tinynn_seed_mlp,
)

import tinynn

EPOCH_SAMPLES = 54_000  # what fit(validation_split=0.1) trains on: 1,688 steps of 32 (last 16)


def run_both(keras, fashion, n_samples: int, seed: int = 0) -> dict:
    """Train both models for one pass over the first `n_samples` training images."""
    (x, y), _ = fashion
    x, y = x[:n_samples].astype(keras.config.floatx()), y[:n_samples]
    keras.utils.set_random_seed(seed)
    k_model = keras_seed_mlp(keras, record_steps=True)
    initial = k_model.get_weights()
    k_model.compile(optimizer=keras.optimizers.Adam(learning_rate=5e-4),
                    loss="sparse_categorical_crossentropy")
    k_steps = keras_step_recorder(keras, k_model)
    start = time.perf_counter()
    k_hist = k_model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0,
                         callbacks=[k_steps])
    k_time = time.perf_counter() - start

    t_model = tinynn_seed_mlp()
    t_model.set_weights(initial)
    t_model.compile(optimizer=tinynn.optimizers.Adam(learning_rate=5e-4),
                    loss="sparse_categorical_crossentropy")
    t_steps = TinynnStepRecorder(32, n_samples)
    start = time.perf_counter()
    t_hist = t_model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0,
                         callbacks=[t_steps])
    t_time = time.perf_counter() - start
    return dict(
        keras_losses=np.array(k_steps.losses), tinynn_losses=np.array(t_steps.losses),
        keras_epoch_loss=k_hist.history["loss"][0], tinynn_epoch_loss=t_hist.history["loss"][0],
        weight_diff=max_weight_difference(k_model.get_weights(), t_model.get_weights()),
        seconds=(k_time, t_time),
    )


def check_float64(keras, fashion, report, n_samples: int) -> None:
    r = run_both(keras, fashion, n_samples)
    steps = len(r["keras_losses"])
    assert len(r["tinynn_losses"]) == steps == -(-n_samples // 32)
    loss_diff = float(np.max(np.abs(r["keras_losses"] - r["tinynn_losses"])))
    report(f"float64 trajectory, {steps} steps", f"max |per-step loss diff| {loss_diff:.2e}, "
           f"max |weight diff| {r['weight_diff']:.2e}, "
           f"time Keras {r['seconds'][0]:.1f} s, tinynn {r['seconds'][1]:.1f} s")
    assert loss_diff <= 1e-9, f"per-step losses differ by up to {loss_diff:.3e} in float64"
    assert r["weight_diff"] <= 1e-9, (
        f"after {steps} float64 steps the weights differ by up to {r['weight_diff']:.3e} "
        "(bound 1e-9)"
    )


def test_float64_trajectory_matches_keras(keras, fashion, floatx64, report, full):
    """300 steps by default (CI time); the full epoch of 1,688 steps under --full. The bound is
    the same: the measured full-epoch figures are 2e-13 (losses) and 2e-14 (weights)."""
    check_float64(keras, fashion, report, EPOCH_SAMPLES if full else 300 * 32)


def test_float32_trajectory_statistics(keras, fashion, floatx32, report):
    """float32: count the leading steps that stay within 1e-5 and 1e-3, require the epoch's
    running-mean loss within 1%. The step counts are reported, with floors well below what we
    measured so a faithful implementation never flakes but a naive formula (~50 steps) fails."""
    r = run_both(keras, fashion, EPOCH_SAMPLES)
    within_5 = steps_within(r["keras_losses"], r["tinynn_losses"], 1e-5)
    within_3 = steps_within(r["keras_losses"], r["tinynn_losses"], 1e-3)
    rel = abs(r["tinynn_epoch_loss"] - r["keras_epoch_loss"]) / r["keras_epoch_loss"]
    report("float32 trajectory, 1688 steps",
           f"leading steps within 1e-5: {within_5}, within 1e-3: {within_3}, "
           f"epoch running-mean loss Keras {r['keras_epoch_loss']:.6f} tinynn "
           f"{r['tinynn_epoch_loss']:.6f} ({100 * rel:.3f}% apart), max |weight diff| "
           f"{r['weight_diff']:.2e}, time Keras {r['seconds'][0]:.1f} s, "
           f"tinynn {r['seconds'][1]:.1f} s")
    assert rel <= 0.01, f"epoch mean loss {100 * rel:.2f}% apart (bound 1%)"
    assert within_5 >= 20, f"only {within_5} steps within 1e-5"
    assert within_3 >= 40, f"only {within_3} steps within 1e-3"
