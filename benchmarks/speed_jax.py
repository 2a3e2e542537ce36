"""JAX as a peer of tinynn: the seed MLP written directly in JAX, two ways.

- `jax-jit`: one `jax.jit` of the whole train step (gather the batch, forward, loss, grad,
  Adam); Python loops over the steps of an epoch.
- `jax-scan`: the whole epoch (shuffle, then every step) inside `jax.lax.scan`, one jitted
  call per epoch.

Same model and recipe as the others: 784-512-256-128-10 ReLU, inverted Dropout 0.3 after the
first two hidden layers (a `jax.random` key split per step), softmax cross-entropy on the
logits, Adam with Keras's formula (lr 5e-4, beta 0.9 / 0.999, epsilon 1e-7, written here by hand
to keep the dependencies to jax and jaxlib), Glorot-uniform kernels and zero biases, float32, the
order reshuffled every epoch.

The last partial batch is **padded, not dropped**: 54,000 / 32 leaves 16 images, so the last
step's batch is filled up with repeated indices whose rows get weight 0, and the loss is the
mean over the real rows only: the same gradient as a 16-image batch, every one of the 54,000
images counted once per epoch, and one compiled step shape (both systems use this step, so they
differ only in how the steps are dispatched).
"""

import statistics
import time
from functools import partial

import numpy as np

N_TRAIN = 54_000
LAYERS = [(784, 512), (512, 256), (256, 128), (128, 10)]
RATE, LR, B1, B2, EPS = 0.3, 5e-4, 0.9, 0.999, 1e-7


def time_jax(system: str, batch: int, epochs: int, data) -> dict:
    start = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import_s = time.perf_counter() - start
    x, y, xt = data
    rng = np.random.default_rng(0)
    params = []
    for n_in, n_out in LAYERS:  # Glorot uniform, zero bias
        limit = np.sqrt(6 / (n_in + n_out))
        params.append((jnp.asarray(rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32)),
                       jnp.zeros(n_out, jnp.float32)))
    opt = (jax.tree_util.tree_map(jnp.zeros_like, params),
           jax.tree_util.tree_map(jnp.zeros_like, params), jnp.zeros((), jnp.int32))
    X, Y = jnp.asarray(x.reshape(len(x), -1)), jnp.asarray(y.astype(np.int32))
    steps = -(-N_TRAIN // batch)
    pad = steps * batch - N_TRAIN
    keep = np.float32(1 - RATE)

    def forward(params, xb, key=None):
        h = xb
        for i, (W, b) in enumerate(params):
            h = h @ W + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
                if key is not None and i < 2:
                    key, sub = jax.random.split(key)
                    h = jnp.where(jax.random.bernoulli(sub, keep, h.shape), h / keep, 0)
        return h

    def loss_fn(params, xb, yb, wb, key):
        logp = jax.nn.log_softmax(forward(params, xb, key))
        ce = -jnp.take_along_axis(logp, yb[:, None], axis=1)[:, 0]
        return jnp.sum(ce * wb) / jnp.sum(wb)

    def step(carry, idx_w, X, Y):
        params, (m, v, t), key = carry
        idx, wb = idx_w
        key, sub = jax.random.split(key)
        g = jax.grad(loss_fn)(params, X[idx], Y[idx], wb, sub)
        t = t + 1
        tf = t.astype(jnp.float32)
        lr_t = LR * jnp.sqrt(1 - B2**tf) / (1 - B1**tf)
        m = jax.tree_util.tree_map(lambda m, g: B1 * m + (1 - B1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: B2 * v + (1 - B2) * g * g, v, g)
        params = jax.tree_util.tree_map(lambda p, m, v: p - lr_t * m / (jnp.sqrt(v) + EPS),
                                        params, m, v)
        return (params, (m, v, t), key), None

    def epoch_order(key):
        """The shuffled indices, padded and reshaped to (steps, batch), and the row weights."""
        order = jax.random.permutation(key, N_TRAIN)
        order = jnp.concatenate([order, order[:pad]]).reshape(steps, batch)
        weights = jnp.ones(steps * batch, jnp.float32).at[N_TRAIN:].set(0).reshape(steps, batch)
        return order, weights

    # the carry is donated: its buffers are updated in place, as a JAX user would write it
    # (the data are arguments, not closed-over constants that XLA would embed in the program)
    jit_step = jax.jit(lambda carry, order, weights, i, X, Y:
                       step(carry, (order[i], weights[i]), X, Y)[0], donate_argnums=0)
    jit_order = jax.jit(epoch_order)

    @partial(jax.jit, donate_argnums=0)
    def scan_epoch(carry, key, X, Y):
        return jax.lax.scan(partial(step, X=X, Y=Y), carry, epoch_order(key))[0]

    carry, key = (params, opt, jax.random.PRNGKey(0)), jax.random.PRNGKey(1)
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        key, sub = jax.random.split(key)
        if system == "jax-scan":
            carry = scan_epoch(carry, sub, X, Y)
        else:
            order, weights = jit_order(sub)
            for i in range(steps):
                carry = jit_step(carry, order, weights, i, X, Y)
        jax.block_until_ready(carry)
        times.append(time.perf_counter() - start)

    predict = jax.jit(lambda params, xb: jax.nn.softmax(forward(params, xb)))
    xt = xt.reshape(len(xt), -1)
    xt = np.concatenate([xt, xt[:-len(xt) % batch]])  # pad the last batch: one shape
    params = carry[0]
    predict(params, xt[:batch]).block_until_ready()  # compile once, as Keras traces once
    start = time.perf_counter()
    for i in range(0, len(xt), batch):
        predict(params, xt[i:i + batch]).block_until_ready()
    predict_s = time.perf_counter() - start
    return dict(epoch_times=times[1:], import_s=import_s, predict_s=predict_s,
                first_fit_s=times[0] - statistics.median(times[1:]),
                note=f"jax {jax.__version__}, {jax.devices()[0].platform}")
