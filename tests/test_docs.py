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
    for cls in saving.builtin_classes(optimizers.Optimizer):  # every optimizer, discovered
        doc = inspect.getdoc(cls)
        assert "w -=" in doc or "w +=" in doc, cls.__name__
        assert "Args:" in doc and "Defaults to" in doc, cls.__name__
    for cls in saving.builtin_classes(optimizers.schedules.LearningRateSchedule):
        doc = inspect.getdoc(cls)
        assert "lr(step) =" in doc and "Args:" in doc, cls.__name__


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


def test_every_link_and_image_in_the_docs_exists():
    """README, docs/ and exercises/README.md: each relative link or image is a file in the repo."""
    import re

    pages = [ROOT / "README.md", ROOT / "exercises" / "README.md", *(ROOT / "docs").glob("*.md")]
    for page in pages:
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), (page.name, target)


def test_the_teaching_path_in_the_readme_points_at_what_exists():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Learning backprop with tinynn"):text.index("## Tuning")]
    for path in ("examples/backprop.py", "exercises/dense.py", "examples/broken_backprop.py"):
        assert path in section and (ROOT / path).exists(), path
    assert "pytest exercises/ -k dense" in section
    for name in ("relu", "tanh", "softmax", "dropout", "adam"):
        assert f"`{name}`" in section and list((ROOT / "exercises").glob(f"test_{name}*.py"))
    assert "sanity_check" in section and "LayerMonitor" in section
    path = section[section.index("The path"):section.index("`tinynn.gradcheck(model_or_layer")]
    assert len(path.split()) < 250  # the path reads in under a minute (~250 words)


def test_the_errors_a_careful_reader_found_stay_fixed():
    """Issue 13's list: each wrong statement is gone, and its correction is where it belongs."""
    import tinynn

    doc = (ROOT / "docs" / "backprop.md").read_text()
    lesson = (ROOT / "examples" / "backprop.py").read_text()
    # Adam's first step is about lr only for |g| >> epsilon / sqrt(1 - beta_2)
    assert "whatever the gradient's size" not in doc
    assert "whatever the size of its gradient" not in lesson
    assert "epsilon / sqrt(1 - beta_2)" in doc and "0.24" in doc
    # Keras's epsilon is the paper's epsilon-hat
    assert "epsilon-hat" in doc and "epsilon-hat" in inspect.getdoc(optimizers.Adam)
    # dZ = dA * f'(Z), never f'(dA); softmax's backward is a Jacobian product
    for module in ("ops.py", "kernels.py", "activations.py"):
        assert "f'(dA)" not in (ROOT / "tinynn" / module).read_text(), module
    assert "Jacobian" in tinynn.activations.__doc__ and "not `dA * f'(Z)`" in (
        tinynn.activations.__doc__.replace("\n", " "))
    # partial derivatives written with ∂, so dV always means dL/dV
    assert "dZ2_nj / dW2_kj" not in doc and "∂Z2_nj/∂W2_kj" in doc
    assert "dZ_nj/dW_ij" not in inspect.getdoc(layers.Dense)
    # rows of dZ2 sum to 0 because a constant added to a row of logits leaves P unchanged
    assert "raising the right" not in doc and "adding the same constant" in doc
    assert "Adding a constant to a " in lesson
    # the lesson says which backend it compares the hand computation with
    assert "keras.get_backend()" in lesson
