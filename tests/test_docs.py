"""Teaching promises: every layer, loss and optimizer docstring states its formulas, and the
backprop derivation the README links to exists and names the functions it derives."""

import inspect
from pathlib import Path

import pytest

from tinynn import layers, losses, optimizers

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [c for _, c in inspect.getmembers(layers, inspect.isclass)
          if issubclass(c, layers.Layer) and c is not layers.Layer]


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_docstrings_state_forward_and_backward(cls):
    doc = inspect.getdoc(cls)
    assert "Y =" in doc and "Backward" in doc and "dX" in doc, doc


def test_loss_and_optimizer_docstrings_state_their_formulas():
    doc = inspect.getdoc(losses.SparseCategoricalCrossentropy)
    assert "Forward" in doc and "Backward" in doc and "dZ = (softmax(Z) - onehot(y)) / N" in doc
    for cls in (optimizers.SGD, optimizers.Adam):
        assert "w -=" in inspect.getdoc(cls) or "w +=" in inspect.getdoc(cls)


def test_backprop_doc_matches_the_code_it_derives():
    text = (ROOT / "docs" / "backprop.md").read_text()
    for name in ("dense_forward", "dense_backward", "relu_backward",
                 "softmax_cross_entropy_backward", "examples/backprop.py", "gradcheck"):
        assert name in text, name
