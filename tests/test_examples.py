"""The backprop lesson runs, in seconds, and every check it makes comes out right."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_backprop_lesson_runs_and_its_checks_pass(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    graph = tmp_path / "graph.png"
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "backprop.py"), "--graph",
                          str(graph)], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
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
    # every intermediate array is printed with its numbers, not only its shape
    for name, rows, cols in (("X", 4, 5), ("Z1", 4, 3), ("A1", 4, 3), ("Z2", 4, 3), ("P", 4, 3),
                             ("dZ2", 4, 3), ("dW2", 3, 3), ("dA1", 4, 3), ("dZ1", 4, 3),
                             ("dW1", 5, 3), ("dX", 4, 5)):
        block = out[out.index(f"\n  {name:<4} ("):].splitlines()[2:2 + rows]
        assert all(len(re.findall(r"-?\d+\.\d*", line)) == cols for line in block), (name, block)
    backend = os.environ.get("TINYNN_BACKEND", "numba")
    assert out.startswith(f"Backend: {backend}.") and f"on the {backend} backend" in out
    steps = dict(re.findall(r"a gradient of (\S+) +moves its weight by (\S+) lr", out))
    assert steps == {"1": "1.00", "1e-05": "0.76", "1e-06": "0.24", "0": "0.00"}
    assert "epsilon-hat" in out and "whatever the size" not in out
    assert graph.read_bytes().startswith(b"\x89PNG")
