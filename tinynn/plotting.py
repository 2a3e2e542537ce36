"""Figures for training reports (matplotlib, headless): learning curves and a prediction grid."""

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    """Save atomically: write a temporary file beside the target, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    tmp.replace(path)
    _pyplot().close(fig)
    return path


def plot_learning_curves(history: dict, path) -> Path:
    """Accuracy and loss per epoch, training vs validation, side by side.

    Args:
        history: `History.history`, e.g. {"loss": [...], "val_loss": [...], ...}.
        path: where to write the PNG.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
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


def plot_predictions(images: np.ndarray, y_true, y_pred, class_names: list[str], path,
                     cols: int = 5) -> Path:
    """A grid of images, "true / predicted" under each; mistakes in red.

    Args:
        images: (n, height, width) greyscale images.
        y_true, y_pred: integer labels, (n,).
        class_names: the name of each class.
        path: where to write the PNG.
        cols: images per row. Defaults to 5.
    """
    plt = _pyplot()
    n = len(images)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.5 * rows), squeeze=False)
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
