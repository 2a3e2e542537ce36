"""Figures for training reports: learning curves, a prediction grid, the confusion matrix,
per-class scores, a tuning run's trials, and a model's computation graph.

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


def _row(values, width: int = 8) -> str:
    """A short vector as fixed-width text; a long one as its first entries and its length."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    shown = " ".join(f"{a:7.3f}" for a in v[:width])
    return f"[{shown}{' ...' if v.size > width else ''}]" + (f" ({v.size})" if v.size > width
                                                             else "")


def _weight_lines(node) -> list[str]:
    """A small weight and its gradient side by side, row by row; a large one summarised."""
    W, G = np.atleast_2d(node.value), np.atleast_2d(node.grad)
    if W.size > 40 or W.shape[1] > 6:
        return [f"{node.name}: mean |w| {np.abs(W).mean():.3g}, max |w| {np.abs(W).max():.3g}",
                f"d{node.name}: mean |g| {np.abs(G).mean():.3g}, max |g| {np.abs(G).max():.3g}"]
    width = len(_row(W[0]))
    lines = [f"{node.name:<{width}}   d{node.name}"]
    lines += [f"{_row(w)}   {_row(g)}" for w, g in zip(W, G, strict=True)]
    return lines


def plot_computation_graph(model, x, y, sample: int = 0, path=None, *,
                           training: bool = False) -> Figure:
    """The model's computation as a graph: every array with its value and its gradient, for one
    sample of the batch (see `tinynn.graph.trace`; weights are shown whole, their gradients
    summed over the batch as the optimizer receives them).

    Forward arrows are black, backward (gradient) arrows red. The gradients are of the batch's
    loss L (the mean over its N samples, as in `fit`), so a sample's rows include the 1/N.

    Args:
        model: a compiled `Sequential`.
        x, y: a batch of inputs and their integer labels.
        sample: which sample of the batch to show. Defaults to 0.
        path: where to write the PNG. Defaults to None (not written).
        training: run the training-mode forward. Defaults to False.

    Returns:
        The new figure.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from tinynn.graph import trace

    nodes = trace(model, x, y, training=training)
    n, N = int(sample), len(nodes[0].value)
    labels = np.asarray(y).reshape(-1)
    boxes = []  # (node, lines, column, top)
    data_top, weight_top = 0.0, 0.0
    for node in nodes:
        if node.kind == "weight":
            lines = [node.formula, *_weight_lines(node)]
            top = weight_top
            weight_top = top + len(lines) + 1.2
            boxes.append((node, lines, 1, top))
            continue
        if node.kind == "loss":
            lines = [f"{node.formula} = {float(node.value):.4f}",
                     f"l[{n}] = {node.per_sample_loss[n]:.4f}  (label y[{n}] = {labels[n]})",
                     f"dL = {float(node.grad):g}"]
        else:
            lines = [node.formula, f"{node.name}[{n}]  {_row(node.value[n])}",
                     f"d{node.name}[{n}] {_row(node.grad[n])}"]
        waiting = [t for b, _, c, t in boxes if c == 1 and b.name in node.inputs]
        top = max([data_top, *waiting])
        data_top = top + len(lines) + 2.2
        boxes.append((node, lines, 0, top))
    height = max(data_top, weight_top)
    fig = Figure(figsize=(14, 0.19 * height + 1.2))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - 0.9 / fig.get_figheight()))
    ax.set(xlim=(0, 1), ylim=(height, -0.5))
    ax.axis("off")
    columns = ((0.01, 0.47), (0.53, 0.99))
    where = {}
    for node, lines, column, top in boxes:
        left, right = columns[column]
        color = {"weight": "#eef3fb", "loss": "#fdf1e4"}.get(node.kind, "#f6f6f6")
        ax.add_patch(FancyBboxPatch((left, top), right - left, len(lines),
                                    boxstyle="round,pad=0.004", fc=color, ec="#888888"))
        for i, text in enumerate(lines):
            ax.text(left + 0.01, top + i + 0.5, text, va="center", ha="left", fontsize=8.5,
                    family="monospace", fontweight="bold" if i == 0 else "normal",
                    color="#b2182b" if text.startswith("d") and i else "black")
        where[node.name] = (left, right, top, top + len(lines))

    def arrow(a, b, color, **kw):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, color=color,
                                     lw=1, **kw))

    for node in nodes:
        left, right, top, _ = where[node.name]
        for name in node.inputs:
            s_left, s_right, s_top, s_bottom = where[name]
            if s_left > left:  # a weight, from the right column
                arrow((s_left, (s_top + s_bottom) / 2), (right, top + 1), "#7b8fb0")
            else:  # forward down the middle, the gradient back up beside it
                mid = (left + right) / 2
                arrow((mid - 0.03, s_bottom), (mid - 0.03, top), "black")
                arrow((mid + 0.03, top), (mid + 0.03, s_bottom), "#b2182b")
                ax.text(mid + 0.04, (s_bottom + top) / 2, f"d{name}", color="#b2182b",
                        fontsize=8, va="center", family="monospace")
    fig.suptitle(f"Forward (black) and backward (red: dV = dL/dV) for sample {n} of a batch of "
                 f"N = {N}.\nL is the batch mean, so a sample's gradients carry the 1/N; the "
                 "weights' gradients are sums over the batch.", fontsize=10)
    return _save(fig, path)


def plot_layer_monitor(monitor, path=None) -> Figure:
    """What `tinynn.diagnostics.LayerMonitor` recorded: per layer (one row each) the histograms of
    its activations and of their gradients at every record (epoch 0 = before training, dark to
    light), then the fraction of dead ReLUs and the update-to-weight ratio per epoch.

    Args:
        monitor: a `LayerMonitor` after `fit`.
        path: where to write the PNG. Defaults to None (not written).

    Returns:
        The new figure.
    """
    from matplotlib import colormaps

    names = list(monitor.activations)
    fig = Figure(figsize=(12, 2.5 * (len(names) + 1)))
    axes = fig.subplots(len(names) + 1, 2, squeeze=False)
    colors = colormaps["viridis"](np.linspace(0, 0.9, len(monitor.epochs)))
    for row, name in enumerate(names):
        gradient = "dL/d(logits)" if monitor.gradient_of.get(name) == "logits" else "dL/d(output)"
        for ax, records, what in ((axes[row, 0], monitor.activations[name], "activations"),
                                  (axes[row, 1], monitor.gradients[name], gradient)):
            values = np.concatenate(records)  # common bins: the central 99.8% of all records
            low, high = np.percentile(values, [0.1, 99.9])
            bins = np.linspace(low, high if high > low else low + 1, 50)
            for epoch, sample, color in zip(monitor.epochs, records, colors, strict=True):
                counts, _ = np.histogram(sample, bins=bins)
                ax.stairs(counts / len(sample), bins, color=color, label=f"epoch {epoch}")
            title = f"{name}: {what}"
            if what == "activations" and name in monitor.dead:
                title += f" ({monitor.dead[name][-1]:.0%} of units dead at the end)"
            ax.set(title=title, yscale="log", ylabel="fraction")
            ax.title.set_fontsize(9)
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
        if row == 0:
            axes[row, 1].legend(fontsize=7, ncol=2)
    dead_ax, ratio_ax = axes[-1]
    for name, fractions in monitor.dead.items():
        dead_ax.plot(monitor.epochs, np.array(fractions) * 100, marker="o", ms=3, label=name)
    top = max([1.0, *(100 * max(f) * 1.15 for f in monitor.dead.values())])
    dead_ax.set(title="dead ReLUs (0 for every probe sample)", xlabel="epoch",
                ylabel="% of units", ylim=(0, top))
    for name, ratios in monitor.update_ratio.items():
        ratio_ax.plot(monitor.epochs[1:1 + len(ratios)], ratios, marker="o", ms=3, label=name)
    ratio_ax.axhline(1e-3, color="gray", ls="--", lw=0.8, label="1e-3 (rule of thumb)")
    ratio_ax.set(title="update-to-weight ratio |dW step| / |W|", xlabel="epoch", yscale="log")
    for ax in (dead_ax, ratio_ax):
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.lines:
            ax.legend(fontsize=7)
    rows = len(names) + 1
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.25 / rows, top=1 - 0.18 / rows,
                        hspace=0.45, wspace=0.2)  # fixed: tight_layout costs seconds here
    return _save(fig, path)
