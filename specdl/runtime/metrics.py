"""The metrics each epoch, in NumPy: accuracy, mse and mae, and the score metrics roc_auc,
pr_auc and log_loss as scikit-learn computes them (the same operations, so the same number
to 1e-12), without its input checks, which cost more than a small model's whole epoch.
Copied into the generated scripts that read them (codegen), like the loop; the test split
keeps scikit-learn's calls. NumPy only: ``check`` and ``evaluate`` import it without torch."""

from __future__ import annotations

import warnings

import numpy as np

# the start of the warning present_classes gives (specdl/notes.py makes it a note)
MISSING = "roc_auc and pr_auc over the classes present"


def epoch_metric(name, fn):
    """The per-epoch (validation) form of a metric: accuracy, mse and mae in plain numpy,
    the same operations scikit-learn runs and so the same float, without its input checks
    (~0.3 ms a call: as long as a whole epoch of a small model); ``fn`` for the others."""
    def rows(v):
        return np.reshape(v, (len(v), -1))

    if name == "accuracy":  # exactly right rows (every label, for multilabel)
        return lambda y_true, y_pred: np.mean(np.all(rows(y_true == y_pred), axis=1))
    if name in ("mse", "mae"):  # averaged over the rows, then over the targets
        err = np.square if name == "mse" else np.abs
        return lambda y_true, y_pred: np.mean(np.mean(err(rows(y_true) - rows(y_pred)), axis=0))
    return fn


def one_vs_rest(y_true, classes):
    """0/1 targets [N, classes], a column per class (multilabel targets as they are)."""
    return y_true if y_true.ndim == 2 else (y_true[:, None] == np.arange(classes)).astype(np.int64)


def defined(y, both=True):
    """The columns of 0/1 targets ``y`` a ranking score is defined on: those holding a
    positive (``both``: and a negative, as the ROC curve needs)."""
    n = y.sum(0)
    return (n > 0) & (n < len(y)) if both else n > 0


def present_classes(y_true, p, both=True):
    """A ranking score's 0/1 targets and probabilities over the classes (several) or labels
    (multilabel) it is defined on here (``defined``). roc_auc and pr_auc macro-average over
    those columns: scikit-learn's one-vs-rest where every class is present, the classes
    present (not a NaN) where a split lacks one."""
    y = one_vs_rest(y_true, p.shape[1])
    keep = defined(y, both)
    if not keep.all():
        warnings.warn(f"{MISSING}: classes {np.flatnonzero(~keep).tolist()} have "
                      f"{'no sample, or every one,' if both else 'no sample'} in this split; the mean is over "
                      f"the {int(keep.sum())} others", stacklevel=2)
    return y[:, keep], p[:, keep]


def ranked(y, s):
    """True and false positives at each distinct score of ``s``, highest first, for 0/1
    targets ``y`` (scikit-learn's _binary_clf_curve)."""
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y, dtype=np.float64)[last]
    return tps, last + 1 - tps


def roc_auc(y, s):
    """Area under the ROC curve of one binary problem (trapezoids; NaN with one class)."""
    tps, fps = ranked(y, s)
    if tps[-1] == 0 or fps[-1] == 0:
        return float("nan")
    return float(np.trapezoid(np.r_[0.0, tps] / tps[-1], np.r_[0.0, fps] / fps[-1]))


def average_precision(y, s):
    """Average precision of one binary problem: the precision at each threshold weighted by
    the recall it adds (the step sum; 0 without a positive, as scikit-learn's)."""
    tps, fps = ranked(y, s)
    if tps[-1] == 0:
        return 0.0
    return float(np.sum(np.diff(np.r_[0.0, tps / tps[-1]]) * (tps / (tps + fps))))


def macro(score, y_true, p):
    """``score`` of one binary problem (a probability per row; class 1's of two), or its
    mean over the classes or labels that ``present_classes`` keeps."""
    if p.ndim == 1 or (y_true.ndim == 1 and p.shape[1] == 2):
        return score(y_true, p if p.ndim == 1 else p[:, 1])
    y, q = present_classes(y_true, p, score is roc_auc)
    return float(np.mean([score(y[:, j], q[:, j]) for j in range(y.shape[1])]))


def log_loss(y_true, p):
    """Mean negative log-probability of the true class, probabilities clipped to [eps, 1 - eps]
    (one probability per row: class 1's; a multilabel row: each label a binary problem)."""
    if y_true.ndim == 2 or p.ndim == 1:
        true = np.where(y_true.ravel() == 1, p.ravel(), 1 - p.ravel())
    else:
        true = p[np.arange(len(p)), y_true]
    eps = np.finfo(p.dtype).eps
    return float(np.mean(-np.log(np.clip(true, eps, 1 - eps))))


def epoch_score(name, fn):
    """The per-epoch form of a metric where a score metric is watched: roc_auc, pr_auc and
    log_loss in NumPy; top_k_accuracy as ``fn`` (scikit-learn); the others as ``epoch_metric``."""
    if name in ("roc_auc", "pr_auc"):
        score = roc_auc if name == "roc_auc" else average_precision
        return lambda y_true, y_pred: macro(score, y_true, y_pred.probabilities)
    if name == "log_loss":
        return lambda y_true, y_pred: log_loss(y_true, y_pred.probabilities)
    return epoch_metric(name, fn)


EPOCH_SCORE_FUNCTIONS = (ranked, roc_auc, average_precision, macro, log_loss, epoch_score)
