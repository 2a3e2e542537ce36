"""The backprop lesson runs, in seconds, and every check it makes comes out right."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_backprop_lesson_runs_and_its_checks_pass():
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "backprop.py")], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "gradcheck: PASSED" in out and "all 4 gradients pass" in out
    hand_vs_layer = re.findall(r"max \|by hand - layer\| = (\S+)", out)
    assert len(hand_vs_layer) == 4 and all(float(v) < 1e-12 for v in hand_vs_layer)
    adam = re.findall(r"max \|by hand - tinynn's Adam\| = ([0-9.e+-]+)", out)
    assert len(adam) == 2 and float(adam[-1]) < 1e-15
    assert re.search(r"after \S+: down", out)
    for shape_line in ("Z1   (4, 3)", "dW1  (5, 3)", "dX   (4, 5)"):
        assert shape_line in out
