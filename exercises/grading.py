"""What the graders share: which module is graded, calling it with errors a learner can act on,
and a short training run on real Fashion-MNIST.

`load("dense")` is the module under test: your `exercises/dense.py`, unless the environment
variable `TINYNN_EXERCISES_MODULE` names a Python file, which is then graded instead for every
exercise (tinynn's CI grades a module made of tinynn's own functions this way, to prove that
every check can pass; see tests/test_exercises.py).
"""

import importlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import tinynn

HERE = Path(__file__).resolve().parent
_OVERRIDE = "TINYNN_EXERCISES_MODULE"


def load(exercise: str):
    """The module graded for `exercise` ("dense", "relu", ...)."""
    path = os.environ.get(_OVERRIDE)
    if not path:
        return importlib.import_module(f"exercises.{exercise}")
    spec = importlib.util.spec_from_file_location(f"graded_{exercise}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def where(module) -> str:
    """The file a learner should open, relative to the repository when it can be."""
    path = Path(module.__file__).resolve()
    try:
        return str(path.relative_to(HERE.parent))
    except ValueError:
        return str(path)


class Graded:
    """One function of the module under test, called with errors that say what to do.

    A blank (`raise NotImplementedError`) or a forgotten `return` ends the test with one line,
    not a traceback into the grader.
    """

    def __init__(self, module, name: str):
        self.module, self.name = module, name
        if not callable(getattr(module, name, None)):
            pytest.fail(f"{where(module)} should define a function {name}().", pytrace=False)

    def __call__(self, *args):
        blank = None
        try:
            out = getattr(self.module, self.name)(*args)
        except NotImplementedError as e:
            blank = str(e)  # failed below, outside the except: one line, no chained traceback
        if blank is not None:
            pytest.fail(f"{where(self.module)}: {self.name}() is not written yet ({blank}).",
                        pytrace=False)
        if out is None:
            pytest.fail(f"{where(self.module)}: {self.name}() returned None. Did you forget "
                        "`return`?", pytrace=False)
        return out


def check_shape(name: str, value, expected: tuple) -> None:
    """`value` must be an array of shape `expected`; the message names the function's output."""
    shape = np.shape(value)
    if shape != tuple(expected):
        pytest.fail(f"{name} should have shape {tuple(expected)}, got {shape}.", pytrace=False)


def check_close(name: str, ours, reference, rtol: float = 1e-10, atol: float = 1e-12,
                hint: str = "") -> None:
    """Equality with tinynn's reference, failing with the worst entry of each."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, np.float64)
    check_shape(name, ours, reference.shape)
    bad = ~np.isclose(ours, reference, rtol=rtol, atol=atol)
    if bad.any():
        i = np.unravel_index(np.argmax(np.abs(ours - reference) * bad), bad.shape)
        pytest.fail(f"{name} differs from tinynn's at {bad.sum()} of {bad.size} entries; worst "
                    f"at index {tuple(int(k) for k in i)}: yours {ours[i]:.10g}, tinynn's "
                    f"{reference[i]:.10g}. {hint}".rstrip(), pytrace=False)


def check_gradcheck(result, what: str) -> None:
    """`tinynn.gradcheck`'s verdict on your code, with its table when it fails."""
    if not result.passed:
        names = ", ".join(f"{r.layer}.{r.param}" for r in result.failures)
        pytest.fail(f"gradcheck: the gradient your {what} computes is not the derivative of "
                    f"your own forward pass (failing: {names}).\n{result}\nRead the worst "
                    "entry: analytic is yours, numeric is the central difference "
                    "(L(w + h) - L(w - h)) / 2h.", pytrace=False)


# ----- training on real data -------------------------------------------------------------------

TRAIN, TEST = 6000, 2000  # a tenth of the data: each grading run takes a few seconds


def fashion_subset(fashion_uint8):
    """The first 6,000 training and 2,000 test images of Fashion-MNIST, as float32 in [0, 1]."""
    (x, y), (xt, yt) = fashion_uint8
    scale = np.float32(255)
    return (x[:TRAIN] / scale, y[:TRAIN]), (xt[:TEST] / scale, yt[:TEST])


def train_and_score(model, data, epochs: int = 3, batch_size: int = 64) -> float:
    """Train `model` (compiled) on the subset and return its test accuracy."""
    (x, y), (xt, yt) = data
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    scores = model.evaluate(xt, yt, verbose=0, return_dict=True)
    return scores["accuracy"]


def check_accuracy(accuracy: float, required: float, what: str) -> None:
    if not accuracy >= required:
        pytest.fail(f"a model using your {what} reached {accuracy:.1%} test accuracy after 3 "
                    f"epochs on 6,000 Fashion-MNIST images; {required:.0%} is required (tinynn's "
                    "own code reaches it with room to spare). If the checks above pass, look "
                    "for a sign error or a wrong scale.", pytrace=False)


def seeded(seed: int = 0) -> np.random.Generator:
    """Seed tinynn (initial weights, shuffling) and return a generator for test data."""
    tinynn.utils.set_random_seed(seed)
    return np.random.default_rng(seed)
