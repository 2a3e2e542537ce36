"""Every plot function returns its figure and writes a non-empty PNG (atomically, no temporary
left behind) when given a path; none switches matplotlib's backend or touches pyplot's figures
(a notebook's stay open); `ax=`/`axes=` draw where asked. The per-class report computes what its
definitions say."""

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from tinynn import plotting, tuning
from tinynn.reports import ClassReport, confusion_matrix, normalize_rows

NAMES = ["a", "b", "c"]
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 0, 0, 1, 1, 1, 0, 2, 2, 1])
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _trials():
    results = tuning.Results()
    for i, acc in enumerate([0.5, 0.8, 0.7]):
        results.trials.append(tuning.Trial(i, {"units": 8 * (i + 1), "learning_rate": 1e-3}, i,
                                           val_accuracy=acc, val_loss=1 - acc, epochs=3))
    results.trials.append(tuning.Trial(3, {"units": 8, "learning_rate": 1e-5}, 3, 0.2, 1.5, 3,
                                       state="pruned"))
    return results


def _lesson_model():
    """examples/backprop.py's network: Dense -> ReLU -> Dense -> softmax cross-entropy."""
    import tinynn

    tinynn.utils.set_random_seed(0)
    model = tinynn.Sequential([tinynn.Input((5,)), tinynn.layers.Dense(3), tinynn.layers.ReLU(),
                               tinynn.layers.Dense(3)])
    model.compile(loss=tinynn.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    return model, rng.normal(size=(4, 5)), np.array([0, 2, 1, 2])


def _monitor():
    """A LayerMonitor after two epochs of a tiny model."""
    from tinynn.diagnostics import LayerMonitor

    model, x, y = _lesson_model()
    x = np.repeat(x, 4, axis=0)
    monitor = LayerMonitor(x, np.tile(y, 4))
    model.fit(x, np.tile(y, 4), epochs=2, batch_size=8, callbacks=[monitor], verbose=0)
    return monitor


HISTORY = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8],
           "val_accuracy": [0.4, 0.7]}
PLOTS = {
    "learning_curves": lambda p: plotting.plot_learning_curves(HISTORY, p),
    "predictions": lambda p: plotting.plot_predictions(
        np.random.default_rng(0).random((7, 28, 28)), Y_TRUE[:7], Y_PRED[:7], NAMES, p, cols=3),
    "confusion_matrix": lambda p: plotting.plot_confusion_matrix(Y_TRUE, Y_PRED, NAMES, p),
    "class_report": lambda p: plotting.plot_class_report(Y_TRUE, Y_PRED, NAMES, p),
    "trials": lambda p: plotting.plot_trials(_trials(), p),
    "computation_graph": lambda p: plotting.plot_computation_graph(*_lesson_model(), path=p),
    "layer_monitor": lambda p: plotting.plot_layer_monitor(_monitor(), p),
}


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_plot_writes_a_png_and_returns_the_figure(name, tmp_path):
    path = tmp_path / "sub" / f"{name}.png"
    fig = PLOTS[name](path)
    assert isinstance(fig, Figure) and fig.axes
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert isinstance(PLOTS[name](None), Figure)  # no path: nothing written


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_plot_keeps_the_backend_and_the_open_figures(name, tmp_path):
    """A notebook's backend and figures survive: switching the backend closes every figure."""
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # stands for the notebook's backend: anything but Agg
    try:
        mine = plt.figure()
        PLOTS[name](tmp_path / "plot.png")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == [mine.number]  # still open, and no figure of tinynn's
    finally:
        plt.close("all")
        matplotlib.use(before)


def test_plots_draw_into_the_axes_given():
    fig = Figure()
    ax = fig.add_subplot(2, 2, 1)
    assert plotting.plot_trials(_trials(), ax=ax) is fig and ax.lines
    assert [line.get_label() for line in ax.lines] == ["trial", "pruned", "best so far"]
    ax = fig.add_subplot(2, 2, 2)
    assert plotting.plot_class_report(Y_TRUE, Y_PRED, NAMES, ax=ax) is fig and ax.patches
    pair = [fig.add_subplot(2, 4, 5), fig.add_subplot(2, 4, 6)]
    assert plotting.plot_learning_curves(HISTORY, axes=pair) is fig
    assert all(len(ax.lines) == 2 for ax in pair)
    pair = [fig.add_subplot(2, 4, 7), fig.add_subplot(2, 4, 8)]
    assert plotting.plot_confusion_matrix(Y_TRUE, Y_PRED, NAMES, axes=pair) is fig
    assert all(ax.images for ax in pair)
    assert len(fig.axes) == 6  # nothing added beside what was asked for


def test_every_public_plot_function_is_tested():
    public = {n.removeprefix("plot_") for n in dir(plotting) if n.startswith("plot_")}
    assert public == set(PLOTS)


def test_confusion_matrix_and_report():
    C = confusion_matrix(Y_TRUE, Y_PRED, 3)
    np.testing.assert_array_equal(C, [[3, 1, 0], [1, 2, 0], [0, 1, 2]])
    np.testing.assert_allclose(normalize_rows(C).sum(axis=1), 1)
    report = ClassReport.from_predictions(Y_TRUE, Y_PRED, NAMES)
    np.testing.assert_allclose(report.recall, [3 / 4, 2 / 3, 2 / 3])
    np.testing.assert_allclose(report.precision, [3 / 4, 2 / 4, 2 / 2])
    np.testing.assert_allclose(report.f1, 2 * report.precision * report.recall
                               / (report.precision + report.recall))
    assert report.accuracy == pytest.approx(0.7)
    assert report.most_confused_with() == [(1, 0.25), (0, pytest.approx(1 / 3)),
                                           (1, pytest.approx(1 / 3))]
    text = str(report)
    assert "b (33.3%)" in text and "overall accuracy 0.7000 on 10 samples" in text
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([0, 1], [0])
