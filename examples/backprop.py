"""Backprop by hand: one batch through Dense -> ReLU -> Dense -> softmax cross-entropy.

    python examples/backprop.py
    python examples/backprop.py --graph docs/img/backprop_graph.png   # and draw the graph

A lesson that reads top to bottom (the derivation is in docs/backprop.md, in the same notation).
  1. the forward pass, with tinynn's pure functions, printing each array and its formula;
  2. the backward pass, one chain-rule step per line, every gradient printed;
  3. the same batch through tinynn's layers: the gradients must be the ones we computed;
  4. `tinynn.gradcheck`: every gradient against a central difference;
  5. one Adam step written out, compared with `tinynn.optimizers.Adam`;
  6. `fit` on the same model, which goes on from that step.
Everything is float64 and tiny (4 samples, 5 features, 3 hidden units, 3 classes), so every
array is printed and you can follow the numbers. With --graph, the same computation is drawn as
a graph with each array's value and gradient (`tinynn.plotting.plot_computation_graph`).
"""

import argparse

import numpy as np

import tinynn as keras
from tinynn import activations, layers, losses, ops, optimizers
from tinynn.plotting import plot_computation_graph

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--graph", help="also draw the computation graph to this PNG")
args = parser.parse_args()

keras.config.set_floatx("float64")  # gradient checks want float64; training is usually float32
keras.utils.set_random_seed(0)
np.set_printoptions(precision=4, suppress=True)

N, D, H, C = 4, 5, 3, 3  # batch size, input features, hidden units, classes
rng = np.random.default_rng(0)
X = rng.normal(size=(N, D))  # one batch of inputs
y = np.array([0, 2, 1, 2])  # their integer labels


def show(name: str, array: np.ndarray, formula: str) -> None:
    """The array's name, shape and formula, then its numbers."""
    print(f"  {name:<4} {str(array.shape):<7}  {formula}")
    print("       " + str(array).replace("\n", "\n       "))


print(f"Backend: {keras.get_backend()}. The hand computation below uses tinynn.ops, the NumPy "
      "reference;\nthe layers in part 3 run on this backend"
      + (" (numba's fused kernels)." if keras.get_backend() == "numba" else "."))
print()


# The layers own the parameters (Keras's glorot_uniform kernels; we give the biases small random
# values so that they matter). The hand computation below reads the very same arrays.
dense1, relu, dense2 = layers.Dense(H, name="dense1"), layers.ReLU(name="relu"), \
    layers.Dense(C, name="dense2")
model = keras.Sequential([keras.Input((D,)), dense1, relu, dense2])
model.compile(optimizer=optimizers.Adam(learning_rate=0.01),
              loss=losses.SparseCategoricalCrossentropy(from_logits=True))
dense1.set_weights([dense1.kernel, rng.normal(size=H) * 0.1])
dense2.set_weights([dense2.kernel, rng.normal(size=C) * 0.1])
W1, b1, W2, b2 = dense1.kernel, dense1.bias, dense2.kernel, dense2.bias

print("1. Forward pass")
show("X", X, "the batch: N samples of D features")
Z1 = ops.dense_forward(X, W1, b1)
show("Z1", Z1, "Z1 = X @ W1 + b1             dense_forward, W1 is (D, H)")
A1 = activations.relu(Z1)
show("A1", A1, "A1 = max(Z1, 0)              relu")
Z2 = ops.dense_forward(A1, W2, b2)
show("Z2", Z2, "Z2 = A1 @ W2 + b2            dense_forward: the logits, W2 is (H, C)")
P = activations.softmax(Z2)
show("P", P, "P = softmax(Z2), row by row  each row sums to 1")
per_sample = losses.softmax_cross_entropy(Z2, y)
show("l", per_sample, "l_i = logsumexp(Z2_i) - Z2_i[y_i] = -log P_i[y_i]")
L = per_sample.mean()
print(f"  L    ()       L = mean(l) = {L:.6f}")
print(f"  y = {y}: L is small when P[i, y[i]] is close to 1.")

print("\n2. Backward pass: dV means dL/dV, always the same shape as V")
dZ2 = losses.softmax_cross_entropy_backward(Z2, y)
show("dZ2", dZ2, "dZ2 = (P - onehot(y)) / N    softmax and cross-entropy together")
dA1, dW2, db2 = ops.dense_backward(dZ2, A1, W2)
show("dW2", dW2, "dW2 = A1.T @ dZ2             each weight: its input times its output's grad")
show("db2", db2, "db2 = sum of dZ2 over the batch")
show("dA1", dA1, "dA1 = dZ2 @ W2.T             sends the gradient back to the hidden layer")
dZ1 = activations.relu_backward(dA1, Z1, A1)
show("dZ1", dZ1, "dZ1 = dA1 * [Z1 > 0]         relu passes the gradient only where it was on")
dX, dW1, db1 = ops.dense_backward(dZ1, X, W1)
show("dW1", dW1, "dW1 = X.T @ dZ1")
show("db1", db1, "db1 = sum of dZ1 over the batch")
show("dX", dX, "dX = dZ1 @ W1.T              (not needed to learn, but it is how layers chain)")
print(f"  every row of dZ2 sums to 0: {np.allclose(dZ2.sum(axis=1), 0)}. Adding a constant to a "
      "row of logits leaves P,\n  and so L, unchanged: the derivative of L in that direction, "
      "the row's sum, is 0.")

print(f"\n3. The same batch through the layers (forward, then backward in reverse order), on "
      f"the {keras.get_backend()} backend")
out = dense2.forward(relu.forward(dense1.forward(X, training=True)), training=True)
d_out = model.loss.gradient(y, out)  # the mean loss's gradient w.r.t. the logits: dZ2 again
dense1.backward(relu.backward(dense2.backward(d_out)))
hand = {("dense1", "kernel"): dW1, ("dense1", "bias"): db1,
        ("dense2", "kernel"): dW2, ("dense2", "bias"): db2}
for (name, key), ours in hand.items():
    theirs = {"dense1": dense1, "dense2": dense2}[name].grads[key]
    print(f"  {name}.{key:<7} max |by hand - layer| = {np.abs(ours - theirs).max():.1e}")
assert all(np.allclose(ours, {"dense1": dense1, "dense2": dense2}[n].grads[k], rtol=0, atol=1e-12)
           for (n, k), ours in hand.items())

print("\n4. Are the formulas right? Compare each gradient with a central difference")
print("   (L(w + h) - L(w - h)) / 2h, entry by entry, using only forward passes:")
result = keras.gradcheck(model, X, y)
print(f"gradcheck: {'PASSED' if result.passed else 'FAILED'}")
if args.graph:  # the same arrays drawn as a graph, each with its value and gradient
    plot_computation_graph(model, X, y, sample=0, path=args.graph)
    print(f"The computation as a graph (sample 0's values and gradients): {args.graph}")

print("\n5. One Adam step (Keras 3's form), step t = 1, learning rate 0.01")
lr, beta_1, beta_2, eps, t = 0.01, 0.9, 0.999, 1e-7, 1
grads = [dW1, db1, dW2, db2]
alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
print(f"  alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) = {alpha:.9f}")
print("  m = 0 + (g - 0) * (1 - beta_1);  v = 0 + (g**2 - 0) * (1 - beta_2)")
print("  w_new = w - alpha * m / (sqrt(v) + epsilon)")


def adam_first_step(w, g, alpha):
    m = (g - 0) * (1 - beta_1)  # the moments start at 0
    v = (g * g - 0) * (1 - beta_2)
    return w - alpha * m / (np.sqrt(v) + eps)


before = model.get_weights()
expected = [adam_first_step(w, g, alpha) for w, g in zip(before, grads, strict=True)]
print("  At t = 1, |w_new - w| = lr * |g| / (|g| + epsilon / sqrt(1 - beta_2)): about lr when |g|")
print(f"  is much larger than epsilon / sqrt(1 - beta_2) = {eps / np.sqrt(1 - beta_2):.2g}. "
      f"|w_new - w| for dense2.kernel =\n{np.abs(expected[2] - W2)}")
for g in (1.0, 1e-5, 1e-6, 0.0):  # measured with tinynn's Adam on one weight
    w = np.zeros(1)
    optimizers.Adam(learning_rate=lr).apply([np.array([g])], [w])
    print(f"  a gradient of {g:<6g} moves its weight by {abs(w[0]) / lr:.2f} lr")
print("  (Keras's epsilon is added to sqrt(v) after the bias correction: the paper's epsilon-hat.)")
model.optimizer.apply(grads, model.trainable_weights)  # the library's step, in place


def max_diff(arrays):
    return max(np.abs(a - w).max() for a, w in zip(arrays, model.trainable_weights, strict=True))


print(f"  max |by hand - tinynn's Adam| = {max_diff(expected):.1e}: not 0, because Keras (and so")
print("  tinynn) computes beta**t with beta rounded to float32. Rounding as Keras does:")
alpha = lr * np.sqrt(1 - float(np.float32(beta_2)) ** t) / (1 - float(np.float32(beta_1)) ** t)
expected = [adam_first_step(w, g, alpha) for w, g in zip(before, grads, strict=True)]
print(f"  alpha = {alpha:.9f}, max |by hand - tinynn's Adam| = {max_diff(expected):.1e}")
new_L = losses.softmax_cross_entropy(model(X), y).mean()
print(f"  loss before the step {L:.6f}, after {new_L:.6f}: {'down' if new_L < L else 'UP'}")

print("\n6. The same model, after all this, trains with fit: the step above and fit's steps share")
print("   the optimizer's state (its moments and its step count t), as in Keras.")
history = model.fit(X, y, batch_size=N, epochs=20, verbose=0)
print(f"  t = {model.optimizer.iterations} steps; loss {history.history['loss'][0]:.6f} at the "
      f"first epoch, {history.history['loss'][-1]:.6f} at the last")
assert history.history["loss"][-1] < history.history["loss"][0]
