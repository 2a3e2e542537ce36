"""The gallery of broken backprops (examples/broken_backprop.py): every bug gradcheck can see is
caught, by the name of the parameters it corrupts, and every correct copy passes; the one it
cannot see (Adam without bias correction) shows in training; docs/broken_backprop.md covers each."""

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gallery(load_example):
    return load_example("broken_backprop")


def test_every_bug_is_caught_by_name_and_every_correct_copy_passes(gallery):
    results = gallery.run_gallery(verbose=False)
    assert len(results) == 6
    for bug, broken, correct in results:
        assert {(r.layer, r.param) for r in broken.failures} == bug.caught, bug.title
        assert bug.caught and not broken.passed
        assert correct.passed, (bug.title, str(correct))


def test_the_readings_hold(gallery):
    """The factors the docs teach to read: 1/N, N, and count_j / N for the missing one-hot."""
    results = {bug.title: broken for bug, broken, _ in gallery.run_gallery(verbose=False)}
    N = len(gallery.batch()[1])

    def worst(title, param):
        row = next(r for r in results[title].rows if f"{r.layer}.{r.param}" == param)
        _, analytic, numeric = row.worst
        return analytic, numeric

    a, n = worst("1/N applied twice (the bias averaged)", "hidden.bias")
    assert a / n == pytest.approx(1 / N, rel=1e-6)
    a, n = worst("1/N never applied (the loss's gradient is a sum)", "output.kernel")
    assert a / n == pytest.approx(N, rel=1e-6)
    row = next(r for r in results["softmax-CE gradient without the one-hot"].rows
               if r.param == "bias" and r.layer == "output")
    (j,), a, n = row.worst
    assert a - n == pytest.approx(np.mean(gallery.batch()[1] == j), abs=1e-8)


def test_the_script_prints_every_table_and_the_adam_note(gallery, capsys):
    gallery.main([])
    out = capsys.readouterr().out
    assert out.count("gradcheck (float64") == 6
    assert "6 of 6 bugs caught by gradcheck" in out and "caught: NO" not in out
    assert "gradcheck on a model compiled with it: passes" in out
    assert "Its first step is 3.16 x lr" in out


def test_adam_without_bias_correction_shows_in_training(gallery, fashion_uint8, tmp_path):
    (x, y), _ = fashion_uint8
    curves = gallery.adam_curves(x[:768] / np.float32(255), y[:768], learning_rates=(1e-2,),
                                 steps=12)
    correct, broken = curves[1e-2, "TextbookAdam"], curves[1e-2, "AdamWithoutBiasCorrection"]
    assert correct[0] == pytest.approx(broken[0])  # the same model before its first step
    assert broken[1:10].max() > 3 * correct[1:10].max()
    fig = gallery.plot_adam(curves, tmp_path / "adam.png")
    assert fig.axes and (tmp_path / "adam.png").read_bytes().startswith(b"\x89PNG")


def test_docs_walk_through_every_bug(gallery):
    doc = (ROOT / "docs" / "broken_backprop.md").read_text()
    for bug in gallery.GALLERY:
        assert bug.title in doc, bug.title
    for name in ("ForgetsActivationDerivative", "AveragesTheBias", "ForgetsTheMean",
                 "MissingTranspose", "RedrawsTheMask", "ForgetsTheOneHot",
                 "AdamWithoutBiasCorrection", "img/adam_bias_correction.png"):
        assert name in doc, name
    assert (ROOT / "docs" / "img" / "adam_bias_correction.png").exists()
