"""Exercise 6: one Adam step.   Grade it with:  pytest exercises/ -k adam

For one weight array w with gradient g and moment estimates m, v (all the same shape; m and v
start at 0), step t (counted from 1):

    m_new = beta_1 * m + (1 - beta_1) * g               running mean of g
    v_new = beta_2 * v + (1 - beta_2) * g**2            running mean of g**2 (elementwise)
    alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    w_new = w - alpha * m_new / (sqrt(v_new) + epsilon)

This is Keras's form (and tinynn's). The factor in alpha is the *bias correction*: m and v
start at 0, so early on they underestimate the means of g and g**2 by factors (1 - beta_1**t)
and (1 - beta_2**t); alpha undoes both. (The paper writes m_hat = m / (1 - beta_1**t),
v_hat = v / (1 - beta_2**t), w -= lr * m_hat / (sqrt(v_hat) + epsilon); that is the same up to
where epsilon sits: Keras's epsilon, added to sqrt(v) rather than to sqrt(v_hat), is the
paper's "epsilon-hat".) With the bias correction the first step moves each weight by about
learning_rate (for gradients much larger than epsilon); without it, by about 3.2 times that.

Return new arrays (do not change the ones passed in).

    w, g, m, v: same shape (any)    ->    (w_new, m_new, v_new), same shape

The grader checks shapes and that your inputs are left unchanged, the first step's size, the
place of epsilon (with tiny gradients), agreement with `tinynn.optimizers.Adam` over several
steps, and trains a Fashion-MNIST classifier with an optimizer whose update is yours.
"""

import numpy as np


def adam_step(w: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, t: int,
              learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
              epsilon: float = 1e-7):
    """One Adam update at step t >= 1.   Returns (w_new, m_new, v_new)."""
    # TODO: four lines, one per formula in the module docstring.
    raise NotImplementedError("compute m_new, v_new, alpha and w_new")
