"""The exercises (exercises/, graded by `pytest exercises/ -k <name>`): every one passes when its
blanks are filled with tinynn's own functions, every one fails, with a one-line message, while
blank, and a wrong answer fails the check meant to catch it.

Each case runs the graders as a learner does, in a subprocess (`pytest exercises/`); the module
graded is chosen with TINYNN_EXERCISES_MODULE (see exercises/grading.py). `make test` never runs
exercises/ itself: the blank files are supposed to fail.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = Path(__file__).resolve().parent / "exercise_solutions.py"
EXERCISES = {"dense": "dense", "relu": "relu", "tanh": "tanh",
             "softmax": "softmax_cross_entropy", "dropout": "dropout", "adam": "adam"}


def grade(*args, module: "Path | None" = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           # one BLAS thread: these products are tiny, and spinning threads only contend
           "OPENBLAS_NUM_THREADS": "1"}
    env.pop("TINYNN_EXERCISES_MODULE", None)
    if module is not None:
        env["TINYNN_EXERCISES_MODULE"] = str(module)
    return subprocess.run([sys.executable, "-m", "pytest", "exercises/", "-p", "no:cacheprovider",
                           "-rfE", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def counts(out: str) -> dict:
    summary = out.strip().splitlines()[-1]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|deselected|error)", summary)}


def failed(out: str) -> set[str]:
    return set(re.findall(r"^FAILED (\S+)", out, re.MULTILINE))


def test_blank_exercises_all_fail_each_with_one_clear_line():
    run = grade("-v")
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    ids = re.findall(r"^(exercises/test_\w+\.py::\w+) FAILED", out, re.MULTILINE)
    assert counts(out) == {"failed": len(ids)} and len(ids) >= 4 * len(EXERCISES), out
    for keyword, module in EXERCISES.items():
        # `-k <keyword>` selects exactly that exercise's graders (pytest matches node names)
        assert {i for i in ids if keyword in i.lower()} == {
            i for i in ids if i.startswith(f"exercises/test_{module}.py::")}, keyword
        assert f"exercises/{module}.py: " in out and "is not written yet" in out, module
    assert "Traceback" not in out and "During handling" not in out


def test_exercises_filled_with_tinynn_all_pass_and_train(capfd):
    run = grade("-q", module=SOLUTIONS)
    assert run.returncode == 0, run.stdout + run.stderr
    n = counts(run.stdout)
    assert set(n) == {"passed"} and n["passed"] >= 4 * len(EXERCISES), run.stdout


BUGS = '''
def dense_backward(dZ, X, W):          # 1/N twice: db as a mean
    dX, dW, db = ops.dense_backward(dZ, X, W)
    return dX, dW, db / len(dZ)

def relu_backward(dA, Z, A):           # the derivative 1 at Z = 0
    return dA * (Z >= 0)

def tanh_backward(dA, Z, A):           # 1 - Z**2 instead of 1 - A**2
    return dA * (1 - Z * Z)

def softmax_cross_entropy_backward(Z, y):   # the one-hot never subtracted
    return activations.softmax(Z) / len(y)

def dropout_backward(dY, mask):        # the mask forgotten
    return dY

def adam_step(w, g, m, v, t, lr=0.001, beta_1=0.9, beta_2=0.999, eps=1e-7):  # no correction
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    return w - lr * m / (np.sqrt(v) + eps), m, v
'''
CAUGHT_BY = {
    "dense": ["2_gradcheck", "3_matches_tinynn"],
    "relu": ["3_matches_tinynn"],
    "tanh": ["2_gradcheck", "3_matches_tinynn"],
    "softmax_cross_entropy": ["softmax_2_gradcheck", "softmax_4_matches_tinynn"],
    "dropout": ["3_gradcheck", "4_matches_tinynn"],
    "adam": ["2_first_step_is_about_the_learning_rate", "3_epsilon_is_added_to_sqrt_v",
             "4_matches_tinynn"],
}


@pytest.fixture
def wrong_answers(tmp_path):
    """tinynn's functions, then one classic mistake per exercise written over them."""
    path = tmp_path / "wrong_answers.py"
    path.write_text(f"exec(open({str(SOLUTIONS)!r}).read())\n{BUGS}")
    return path


def test_each_classic_mistake_fails_the_check_meant_for_it(wrong_answers):
    run = grade("-q", "-k", "not trains", module=wrong_answers)
    expected = set()
    for module, tests in CAUGHT_BY.items():
        prefix = "" if module == "softmax_cross_entropy" else f"{module}_"
        expected |= {f"exercises/test_{module}.py::test_{prefix}{t}" for t in tests}
    assert failed(run.stdout) == expected, run.stdout
    assert counts(run.stdout)["passed"] > 0
