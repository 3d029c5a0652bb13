"""Classification metrics; macro averages because classes are often imbalanced (brief §6). scikit-learn
computes them; the macro average is taken over the classes present in the data, so a class the validation
split lacks does not count as a zero."""

import numpy as np


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, macro precision/recall/F1 and the confusion matrix (rows: true class)."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    labels = np.arange(n_classes)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                                     zero_division=0)
    present = support > 0
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
