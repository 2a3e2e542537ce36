"""Every exercise's functions, made of tinynn's own: not a copy of the answers, but the library
itself under the exercises' names. tests/test_exercises.py grades this module with the
exercises' own graders (TINYNN_EXERCISES_MODULE=<this file>) to prove that every check can pass.
"""

import numpy as np

from tinynn import activations, losses, ops, optimizers

# dense
dense_forward = ops.dense_forward
dense_backward = ops.dense_backward

# relu and tanh
relu, relu_backward = activations.relu, activations.relu_backward
tanh, tanh_backward = activations.tanh, activations.tanh_backward

# softmax cross-entropy
softmax = activations.softmax
softmax_cross_entropy = losses.softmax_cross_entropy
softmax_cross_entropy_backward = losses.softmax_cross_entropy_backward

# dropout
dropout_forward = ops.dropout_train
dropout_backward = ops.dropout_backward


def adam_step(w, g, m, v, t, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """tinynn's Adam at step t: its step size alpha_t and its reference update, on copies."""
    w, m, v = np.array(w, copy=True), np.array(m, copy=True), np.array(v, copy=True)
    adam = optimizers.Adam(learning_rate, beta_1, beta_2, epsilon)
    adam._iterations = t - 1  # step_size is for the step about to be taken, t
    f = w.dtype.type
    ops.adam_update([w], [np.asarray(g, w.dtype)], [m], [v], adam.step_size(w.dtype),
                    f(1 - beta_1), f(1 - beta_2), f(epsilon))
    return w, m, v
