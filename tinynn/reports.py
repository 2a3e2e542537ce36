"""Where does a classifier fail? The confusion matrix and a per-class table, in plain NumPy.

    C = confusion_matrix(y_true, y_pred, 10)     # C[i, j]: images of class i predicted as j
    print(ClassReport.from_predictions(y_true, y_pred, CLASS_NAMES))

For class c, with C's row c holding the images whose true class is c and column c the images
predicted as c:
    precision_c = C[c, c] / sum_i C[i, c]   (of the images called c, the fraction that are c)
    recall_c    = C[c, c] / sum_j C[c, j]   (of the images of c, the fraction found: this is the
                                             per-class accuracy)
    f1_c        = 2 precision_c recall_c / (precision_c + recall_c)
"""

from dataclasses import dataclass

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes: "int | None" = None) -> np.ndarray:
    """Counts C[i, j] of samples with true class i predicted as class j.

    Args:
        y_true, y_pred: integer labels, shape (N,).
        num_classes: Defaults to 1 + the largest label seen.

    Returns:
        An int64 array (num_classes, num_classes); its rows sum to each class's support.
    """
    y_true = np.asarray(y_true).reshape(-1).astype(np.intp)
    y_pred = np.asarray(y_pred).reshape(-1).astype(np.intp)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix expected y_true and y_pred of the same length, got "
                         f"{y_true.shape[0]} and {y_pred.shape[0]}.")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    C = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(C, (y_true, y_pred), 1)
    return C


def normalize_rows(C: np.ndarray) -> np.ndarray:
    """Each row divided by its sum: R[i, j] = fraction of class i predicted as j (0 if empty)."""
    totals = C.sum(axis=1, keepdims=True)
    return np.divide(C, totals, out=np.zeros(C.shape), where=totals > 0)


@dataclass
class ClassReport:
    """Per-class precision, recall (= per-class accuracy), F1, support, and the class each one
    is most often mistaken for. `str(report)` is the table; `accuracy` the overall accuracy."""

    class_names: list[str]
    confusion: np.ndarray

    @classmethod
    def from_predictions(cls, y_true, y_pred, class_names: list[str]) -> "ClassReport":
        return cls(list(class_names), confusion_matrix(y_true, y_pred, len(class_names)))

    @property
    def support(self) -> np.ndarray:
        return self.confusion.sum(axis=1)

    @property
    def precision(self) -> np.ndarray:
        called = self.confusion.sum(axis=0)
        return np.divide(np.diag(self.confusion), called, out=np.zeros(len(called)),
                         where=called > 0)

    @property
    def recall(self) -> np.ndarray:
        return np.diag(normalize_rows(self.confusion))

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return np.divide(2 * p * r, p + r, out=np.zeros(len(p)), where=(p + r) > 0)

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.confusion.sum(), 1))

    def most_confused_with(self) -> list[tuple[int, float]]:
        """For each class i: (j, fraction of class i predicted as j) for the worst j != i."""
        R = normalize_rows(self.confusion)
        np.fill_diagonal(R, -1)
        return [(int(j), float(R[i, j])) for i, j in enumerate(R.argmax(axis=1))]

    def __str__(self) -> str:
        width = max(len("class"), *(len(n) for n in self.class_names))
        lines = [f"{'class':<{width}}  precision  recall  f1      support  most often mistaken for",
                 "-" * (width + 62)]
        rows = zip(self.class_names, self.precision, self.recall, self.f1, self.support,
                   self.most_confused_with(), strict=True)
        for name, p, r, f, n, (j, frac) in rows:
            lines.append(f"{name:<{width}}  {p:9.3f}  {r:6.3f}  {f:6.3f}  {n:7d}  "
                         f"{self.class_names[j]} ({frac:.1%})")
        lines.append(f"overall accuracy {self.accuracy:.4f} on {self.support.sum()} samples; "
                     "recall is the accuracy on one class's samples")
        return "\n".join(lines)
