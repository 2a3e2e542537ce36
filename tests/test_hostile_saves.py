"""Saving under hostile conditions (issue 12): two savers racing with overwrite=False never both
succeed (the file is the winner's), and a save killed with SIGKILL, whose temporary file nobody
could remove, leaves none once the next save to the same target has run. Every format: `.npz`,
`.keras`, `.weights.h5`, and ModelCheckpoint, which saves through the same writer."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hostile_npz import N_IN, make

from tinynn import io
from tinynn.callbacks import ModelCheckpoint
from tinynn.models import load_model

# ----- overwrite=False is an exclusive create -----------------------------------------------

@pytest.mark.parametrize("name", ["m.npz", "m.keras", "m.weights.h5"])
def test_two_savers_with_overwrite_false_never_both_succeed(tmp_path, monkeypatch, name):
    """Both pass the exists-check before either file is in place (a barrier inside the write
    holds them there): exactly one save succeeds, the other raises FileExistsError, and the
    file is the winner's (before: both succeeded, one file replaced the other)."""
    barrier = threading.Barrier(2, timeout=20)
    real = io.atomic_write

    def synchronized(target, write, *args, **kwargs):
        def wait_then_write(f):
            barrier.wait()
            write(f)
        return real(target, wait_then_write, *args, **kwargs)

    monkeypatch.setattr(io, "atomic_write", synchronized)
    target = tmp_path / name
    models = [make(seed) for seed in (1, 2)]
    results = {}

    def save(i):
        try:
            if name.endswith(".weights.h5"):
                models[i].save_weights(target, overwrite=False)
            else:
                models[i].save(target, overwrite=False)
            results[i] = "saved"
        except Exception as e:  # the loser's error, checked below
            results[i] = e

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [i for i, r in results.items() if r == "saved"]
    losers = [r for r in results.values() if r != "saved"]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], FileExistsError) and str(target) in str(losers[0])
    fresh = make(3)
    if name.endswith(".weights.h5"):
        fresh.load_weights(target)
    else:
        fresh = load_model(target)
    np.testing.assert_array_equal(fresh.get_weights()[0], models[winners[0]].get_weights()[0])
    assert os.listdir(tmp_path) == [name]


# ----- kill -9 during a save ----------------------------------------------------------------

CHILD = """
import sys, time
import numpy as np
import tinynn
from tinynn import layers
from tinynn.callbacks import ModelCheckpoint

def stuck(f, *args, **kwargs):  # the writer, killed half-way
    f.write(b"PK\\x03\\x04 half a file")
    f.flush()
    print("writing", flush=True)
    time.sleep(120)

np.savez = stuck
tinynn.keras_format.zipfile.ZipFile.writestr = lambda zf, *a: stuck(zf.fp)
tinynn.utils.set_random_seed(0)
model = tinynn.Sequential([tinynn.Input((3,)), layers.Dense(4), layers.Dense(2)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
target = sys.argv[1]
if sys.argv[2] == "checkpoint":
    x = np.zeros((8, 3), np.float32)
    model.fit(x, np.zeros(8, int), epochs=1, verbose=0, callbacks=[ModelCheckpoint(target)])
else:
    model.save(target)
"""


def temporaries(folder) -> list:
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


def kill_mid_save(target, how):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(target), how],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        child.stdout.close()


@pytest.mark.parametrize("name,how", [("model.npz", "save"), ("model.keras", "save"),
                                      ("ckpt.npz", "checkpoint"), ("ckpt.keras", "checkpoint")])
def test_a_save_killed_with_sigkill_leaves_no_temporary_after_the_next_save(tmp_path, name,
                                                                             how):
    target = tmp_path / name
    kill_mid_save(target, how)
    kill_mid_save(target, how)
    left = temporaries(tmp_path)  # the second save removed the first one's (before: 2 left)
    assert len(left) == 1 and left[0].startswith(f".{name}."), left
    model = make()
    if how == "checkpoint":
        x = np.zeros((8, N_IN), np.float32)
        model.fit(x, np.zeros(8, int), epochs=1, verbose=0, callbacks=[ModelCheckpoint(target)])
    else:
        model.save(target)
    assert os.listdir(tmp_path) == [name]
    load_model(target)


def test_only_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    """A live writer's temporary (this process's PID), another target's, and files that are
    not ours stay; a dead writer's and a day-old one of the older naming go."""
    target = tmp_path / "model.npz"
    kill_mid_save(target, "save")
    dead = temporaries(tmp_path)
    live = f".model.npz.{io.writer_tag()}.abcd1234.tmp"
    old_style = ".model.npz.k3j2h1g0.tmp"
    keep = [live, ".other.npz.x.tmp", ".model.npz.notes", "model.npz.tmp"]
    for name in [*keep, old_style]:
        (tmp_path / name).write_bytes(b"")
    day_ago = time.time() - 2 * 86400
    os.utime(tmp_path / old_style, (day_ago, day_ago))
    make().save(target)
    assert sorted(os.listdir(tmp_path)) == sorted([*keep, "model.npz"]), dead
