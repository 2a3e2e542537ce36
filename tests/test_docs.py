"""Teaching promises: every layer, loss and optimizer docstring states its formulas, and the
backprop derivation the README links to exists and names the functions it derives."""

import inspect
from pathlib import Path

import pytest

from tinynn import layers, losses, optimizers, saving

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [c for _, c in inspect.getmembers(layers, inspect.isclass)
          if issubclass(c, layers.Layer) and c is not layers.Layer]


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_docstrings_state_forward_and_backward(cls):
    doc = inspect.getdoc(cls)
    assert "Y =" in doc and "Backward" in doc and "dX" in doc, doc


@pytest.mark.parametrize("cls", saving.builtin_classes(losses.Loss), ids=lambda c: c.__name__)
def test_loss_docstrings_state_forward_and_backward(cls):
    doc = inspect.getdoc(cls)
    assert "Forward" in doc and "Backward" in doc and "Defaults to" in doc, doc


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


def test_readme_own_layer_example_trains_saves_and_passes_gradcheck(tmp_path):
    """The README's "Your own layer" code, run as written."""
    import numpy as np

    import tinynn

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Your own layer"):]
    code = section[section.index("```python") + len("```python"):section.index("```\n", 10)]
    namespace = {"tinynn": tinynn}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    Scale = namespace["Scale"]  # noqa: N806
    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((4,)), layers.Dense(5, activation="tanh"), Scale(),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.arange(32) % 3
    assert tinynn.gradcheck(model, x[:6], y[:6], verbose=False).passed
    scale = model.layers[1].s.copy()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert not np.array_equal(model.layers[1].s, scale)  # trained, through self.s itself
    model.save(tmp_path / "m.npz")
    loaded = tinynn.models.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
