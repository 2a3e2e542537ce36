"""Grades exercises/adam.py:   pytest exercises/ -k adam

Read the optimizer below: it is how your function becomes a tinynn optimizer, used by `fit`.
"""

import numpy as np
import pytest

import tinynn
from exercises import grading
from tinynn import layers, optimizers

student = grading.load("adam")
adam_step = grading.Graded(student, "adam_step")


class StudentAdam(optimizers.Optimizer):
    """tinynn's Optimizer (slots, step count, `apply`) with your update for each weight."""

    slot_names = ("momentums", "velocities")  # one zero array per weight, made by `build`

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate, name="student_adam")
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def update_step(self, grads, variables, slots):
        t = self.iterations + 1  # counted from 1
        for w, g, m, v in zip(variables, grads, slots["momentums"], slots["velocities"],
                              strict=True):
            w_new, m_new, v_new = adam_step(w, g, m, v, t, self.learning_rate, self.beta_1,
                                            self.beta_2, self.epsilon)
            w[...], m[...], v[...] = w_new, m_new, v_new  # in place: the model's own arrays


def _step(w, g, m, v, t, *args):
    out = adam_step(w, g, m, v, t, *args)
    if not isinstance(out, tuple) or len(out) != 3:
        pytest.fail("adam_step should return a tuple (w_new, m_new, v_new).", pytrace=False)
    return [np.asarray(a, dtype=np.float64) for a in out]


def test_adam_1_shapes_and_inputs_unchanged():
    rng = grading.seeded()
    w, g, m, v = (rng.normal(size=(3, 4)) for _ in range(4))
    v = np.abs(v)
    copies = [a.copy() for a in (w, g, m, v)]
    for name, value in zip(("w_new", "m_new", "v_new"), _step(w, g, m, v, 3), strict=True):
        grading.check_shape(name, value, (3, 4))
    for name, a, b in zip("wgmv", (w, g, m, v), copies, strict=True):
        if not np.array_equal(a, b):
            pytest.fail(f"adam_step changed its argument {name}: return new arrays instead.",
                        pytrace=False)


def test_adam_2_first_step_is_about_the_learning_rate():
    """At t = 1 each weight moves by lr * sign(g) (for |g| much larger than epsilon)."""
    lr = 0.01
    g = np.array([1.0, -2.0, 0.5, 100.0, -0.001])
    w_new, m_new, v_new = _step(np.zeros(5), g, np.zeros(5), np.zeros(5), 1, lr)
    grading.check_close("m_new after one step", m_new, 0.1 * g,
                        hint="m_new = beta_1 * m + (1 - beta_1) * g.")
    grading.check_close("v_new after one step", v_new, 0.001 * g * g,
                        hint="v_new = beta_2 * v + (1 - beta_2) * g**2.")
    ratio = np.abs(w_new) / lr
    if not np.allclose(ratio, 1, rtol=1e-2):
        guess = {3.2: "no bias correction at all", 32: "only beta_1's correction",
                 0.1: "only beta_2's correction"}
        likely = min(guess, key=lambda k: abs(np.log(k / max(ratio[0], 1e-30))))
        pytest.fail(f"the first step should move each weight by about the learning rate; "
                    f"|w_new - w| / lr = {np.round(ratio, 4)} (the bias correction makes it "
                    f"1). A ratio near {likely} suggests {guess[likely]}.", pytrace=False)
    if not np.all(np.sign(w_new) == -np.sign(g)):
        pytest.fail(f"each weight should move against its gradient: g = {g}, w_new - w = "
                    f"{w_new}.", pytrace=False)


def test_adam_3_epsilon_is_added_to_sqrt_v():
    """With a gradient of 1e-6 the place of epsilon shows: 0.24 lr here, 0.91 lr in the paper's
    main form (epsilon added to sqrt(v_hat))."""
    lr = 0.01
    w_new, _, _ = _step(np.zeros(1), np.array([1e-6]), np.zeros(1), np.zeros(1), 1, lr)
    expected = lr * 1e-6 / (1e-6 + 1e-7 / np.sqrt(1 - 0.999))
    if not np.isclose(-w_new[0], expected, rtol=1e-3):
        pytest.fail(f"for g = 1e-6 at t = 1, w should move by {expected:.4g} (0.24 lr), got "
                    f"{-w_new[0]:.4g} ({-w_new[0] / lr:.2f} lr). Keras adds epsilon to sqrt(v) "
                    "after folding the bias correction into alpha (the paper's epsilon-hat); "
                    "adding it to sqrt(v_hat) gives 0.91 lr.", pytrace=False)


def test_adam_4_matches_tinynn():
    """Five steps with random gradients against tinynn's Adam (the same as Keras's).
    Tolerance 1e-6: tinynn, like Keras, computes beta**t with beta rounded to float32, which
    changes the step by ~2e-7 relative."""
    rng = grading.seeded()
    w = rng.normal(size=(4, 3))
    ours = [w.copy(), np.zeros_like(w), np.zeros_like(w)]
    reference = optimizers.Adam(learning_rate=0.01)
    theirs = w.copy()
    for t in range(1, 6):
        g = rng.normal(size=w.shape)
        ours = _step(*ours[:1], g, *ours[1:], t, 0.01)
        reference.apply([g], [theirs])
        grading.check_close(f"w after step {t}", ours[0], theirs, rtol=1e-6)


def test_adam_5_trains_on_fashion_mnist(fashion_small):
    """784 -> 128 (ReLU) -> 10 trained by an optimizer whose update is yours, 3 epochs."""
    grading.seeded()
    model = tinynn.Sequential([tinynn.Input((28, 28)), layers.Flatten(),
                               layers.Dense(128, activation="relu"),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer=StudentAdam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    grading.check_accuracy(grading.train_and_score(model, fashion_small), 0.75, "Adam")
