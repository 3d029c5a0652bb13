"""Classification metrics; macro averages because classes are often imbalanced (brief §6)."""

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, macro precision/recall/F1 and the confusion matrix (rows: true class)."""
    m = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(m).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(m.sum(0) > 0, tp / m.sum(0), 0.0)
        recall = np.where(m.sum(1) > 0, tp / m.sum(1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = m.sum(1) > 0
    return {
        "accuracy": float(tp.sum() / max(1, m.sum())),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "confusion_matrix": m.tolist(),
    }
