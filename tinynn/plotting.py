"""Figures for training reports: learning curves, a prediction grid, the confusion matrix,
per-class scores and a tuning run's trials.

Each function returns a `matplotlib.figure.Figure` (a notebook shows it when it ends a cell) and
writes it to `path` when one is given. They build the Figure directly, without pyplot: they never
switch matplotlib's backend (which would close a notebook's open figures) and leave no figure
open. Those that draw on one axes (or a pair) draw on the `ax=` (`axes=`) you pass instead.
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def _save(fig: Figure, path) -> Figure:
    """Write `fig` to `path` when given, atomically: a temporary file beside the target, then
    renamed into place. Returns the figure."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
        tmp.replace(path)
    return fig


def plot_learning_curves(history: dict, path=None, *, axes=None) -> Figure:
    """Accuracy and loss per epoch, training vs validation, side by side.

    Args:
        history: `History.history`, e.g. {"loss": [...], "val_loss": [...], ...}.
        path: where to write the PNG. Defaults to None (not written).
        axes: two matplotlib axes to draw accuracy and loss on. Defaults to a new figure.

    Returns:
        The figure drawn on.
    """
    if axes is None:
        fig = Figure(figsize=(11, 4))
        axes = fig.subplots(1, 2)
    fig = axes[0].get_figure()
    for ax, key in zip(axes, ("accuracy", "loss"), strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=label)
        ax.set(title=key.capitalize(), xlabel="epoch", ylabel=key)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_predictions(images: np.ndarray, y_true, y_pred, class_names: list[str], path=None,
                     cols: int = 5) -> Figure:
    """A grid of images, "true / predicted" under each; mistakes in red.

    Args:
        images: (n, height, width) greyscale images.
        y_true, y_pred: integer labels, (n,).
        class_names: the name of each class.
        path: where to write the PNG. Defaults to None (not written).
        cols: images per row. Defaults to 5.

    Returns:
        The new figure.
    """
    n = len(images)
    rows = -(-n // cols)
    fig = Figure(figsize=(2.2 * cols, 2.5 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray_r")
        ok = y_true[i] == y_pred[i]
        ax.set_title(f"{class_names[y_true[i]]}\n/ {class_names[y_pred[i]]}", fontsize=8,
                     color="black" if ok else "red")
    fig.suptitle("true / predicted (mistakes in red)", y=1.0)
    return _save(fig, path)


def plot_confusion_matrix(y_true, y_pred, class_names: list[str], path=None, *,
                          axes=None) -> Figure:
    """The confusion matrix twice, side by side: counts, and rows normalised to fractions.

    Row i is the true class, column j the prediction; the diagonal is what the model gets
    right and the brightest off-diagonal cells are the classes it mixes up.

    Args:
        y_true, y_pred: integer labels, (n,).
        class_names: the name of each class.
        path: where to write the PNG. Defaults to None (not written).
        axes: two matplotlib axes for the counts and the fractions. Defaults to a new figure.

    Returns:
        The figure drawn on.
    """
    from tinynn.reports import confusion_matrix, normalize_rows

    C = confusion_matrix(y_true, y_pred, len(class_names))
    k = len(class_names)
    own = axes is None
    if own:
        fig = Figure(figsize=(2 * (2 + 0.55 * k), 1.5 + 0.55 * k))
        axes = fig.subplots(1, 2)
    fig = axes[0].get_figure()
    panels = ((axes[0], C, "counts", "d"), (axes[1], normalize_rows(C), "row-normalised", ".2f"))
    for ax, M, title, fmt in panels:
        ax.imshow(M, cmap="Blues")
        limit = M.max() / 2
        for i in range(k):
            for j in range(k):
                if M[i, j]:
                    ax.text(j, i, format(M[i, j], fmt), ha="center", va="center", fontsize=7,
                            color="white" if M[i, j] > limit else "black")
        ax.set_xticks(range(k), class_names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), class_names, fontsize=8)
        ax.set(title=f"Confusion matrix ({title})", xlabel="predicted", ylabel="true")
    if own:  # never rearrange a figure that is not ours
        fig.tight_layout()
    return _save(fig, path)


def plot_class_report(y_true, y_pred, class_names: list[str], path=None, *, ax=None) -> Figure:
    """Per-class precision, recall (= accuracy on the class) and F1 as grouped bars, worst
    recall first, with the class each one is most often mistaken for written beside it.

    Args:
        y_true, y_pred: integer labels, (n,).
        class_names: the name of each class.
        path: where to write the PNG. Defaults to None (not written).
        ax: the matplotlib axes to draw on. Defaults to a new figure.

    Returns:
        The figure drawn on.
    """
    from tinynn.reports import ClassReport

    report = ClassReport.from_predictions(y_true, y_pred, class_names)
    order = np.argsort(report.recall)[::-1]  # barh draws bottom-up: worst ends on top
    k = len(class_names)
    if ax is None:
        ax = Figure(figsize=(9, 1.2 + 0.45 * k)).subplots()
    fig = ax.get_figure()
    pos = np.arange(k)
    for offset, (label, values) in zip((-0.27, 0, 0.27), (("precision", report.precision),
                                                          ("recall", report.recall),
                                                          ("F1", report.f1)), strict=True):
        ax.barh(pos + offset, values[order], height=0.26, label=label)
    confused = report.most_confused_with()
    ax.set_yticks(pos, [class_names[i] for i in order], fontsize=9)
    for p, i in zip(pos, order, strict=True):
        j, frac = confused[i]
        ax.text(1.01, p, f"-> {class_names[j]} {frac:.0%}", va="center", fontsize=8)
    ax.set(xlim=(0, 1), xlabel="score",
           title=f"Per-class scores (accuracy {report.accuracy:.2%}); "
                 "right: most frequent mistake")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8)
    return _save(fig, path)


def plot_trials(results, path=None, *, ax=None) -> Figure:
    """Validation accuracy of each tuning trial in the order run, with the best so far; pruned
    trials (their best epoch before they were stopped) as crosses.

    Args:
        results: `tinynn.tuning.Results` (or any object with `.trials`, each having `number`,
            `val_accuracy`, `config` and optionally `state`).
        path: where to write the PNG. Defaults to None (not written).
        ax: the matplotlib axes to draw on. Defaults to a new figure.

    Returns:
        The figure drawn on.
    """
    trials = sorted(results.trials, key=lambda t: t.number)
    numbers = np.array([t.number + 1 for t in trials])
    acc = np.array([t.val_accuracy for t in trials])
    done = np.array([getattr(t, "state", "complete") == "complete" for t in trials])
    if ax is None:
        ax = Figure(figsize=(max(6, 0.5 * len(trials) + 3), 4)).subplots()
    fig = ax.get_figure()
    ax.plot(numbers[done], acc[done], "o", label="trial")
    if not done.all():
        ax.plot(numbers[~done], acc[~done], "x", color="grey", label="pruned")
    running = np.maximum.accumulate(np.where(done, acc, -np.inf))
    ax.step(numbers, np.where(np.isfinite(running), running, np.nan), where="post",
            label="best so far")
    best = int(np.argmax(np.where(done, acc, -np.inf)))
    settings = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in trials[best].config.items())
    ax.annotate(f"best: trial {numbers[best]}", (numbers[best], acc[best]),
                textcoords="offset points", xytext=(0, -16), ha="center", fontsize=8)
    ax.set(xlabel="trial", ylabel="validation accuracy (best epoch)",
           title=f"Hyperparameter search; best (trial {numbers[best]}):\n" + settings)
    ax.title.set_fontsize(9)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
