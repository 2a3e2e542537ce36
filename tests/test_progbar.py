"""The progress bar redraws in place where the output renders a carriage return (a terminal,
Jupyter, PyCharm, as Keras decides) and prints once per epoch everywhere else (a log file)."""

import io
import sys
import types

import pytest

from tinynn.progbar import Progbar


class NotATty(io.StringIO):
    """What a Jupyter kernel's sys.stdout is: a stream whose isatty() is False."""

    def isatty(self) -> bool:
        return False


class Tty(NotATty):
    def isatty(self) -> bool:
        return True


def run(bar: Progbar) -> None:
    for step in range(1, 4):
        bar._last_draw = -1.0  # every update is due
        bar.update(step, {"loss": 1.0 / step})
    bar.update(3, {"loss": 0.25}, finalize=True)


@pytest.fixture
def plain(monkeypatch):
    """A plain process: no Jupyter kernel, not PyCharm."""
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)


def test_jupyter_gets_a_live_bar(plain, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(sys, "stdout", NotATty())
    bar = Progbar(3)
    assert bar.interactive
    run(bar)
    out = sys.stdout.getvalue()
    assert out.count("\r") == 4 and out.count("\n") == 1, repr(out)
    assert "1/3" in out and "3/3" in out


def test_pycharm_gets_a_live_bar(plain, monkeypatch):
    monkeypatch.setenv("PYCHARM_HOSTED", "1")
    monkeypatch.setattr(sys, "stdout", NotATty())
    assert Progbar(3).interactive


def test_a_terminal_gets_a_live_bar(plain):
    assert Progbar(3, stream=Tty()).interactive


def test_a_log_file_gets_one_line(plain, monkeypatch):
    monkeypatch.setattr(sys, "stdout", NotATty())
    bar = Progbar(3)
    assert not bar.interactive
    run(bar)
    out = sys.stdout.getvalue()
    assert "\r" not in out and "\x1b" not in out and out.count("\n") == 1 and "3/3" in out


def test_a_stream_of_ones_own_stays_plain_in_jupyter(plain, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert not Progbar(3, stream=NotATty()).interactive
