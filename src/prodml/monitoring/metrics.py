"""Performance metrics computed on the contents of a monitoring window.

Plain numpy implementations of the usual classification and regression metrics, so that a
monitor evaluates them without per-call overhead from a larger library. Each function
matches :mod:`sklearn.metrics` on the same inputs (tests cross-check them to 1e-12).

Conventions for degenerate windows: a metric that is undefined on the window (AUC with a
single class present, precision with no positive prediction, any metric on an empty
window) returns ``nan``; alert rules treat ``nan`` as "no data" and never fire on it.

Examples
--------
>>> import numpy as np
>>> y = np.array([0.0, 1.0, 1.0, 0.0])
>>> score = np.array([0.1, 0.8, 0.4, 0.3])
>>> accuracy(y, score >= 0.5), roc_auc(y, score)
(0.75, 1.0)
>>> round(log_loss(y, score), 6)
0.400367
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "accuracy",
    "log_loss",
    "macro_precision",
    "macro_recall",
    "mae",
    "precision",
    "recall",
    "rmse",
    "roc_auc",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

# Probabilities are clipped away from 0 and 1 by the dtype's machine epsilon, as
# scikit-learn does since 1.5, so one confident mistake gives a large, finite loss.
_EPS = float(np.finfo(np.float64).eps)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of predictions equal to the label; ``nan`` on an empty window."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.size == 0:
        return math.nan
    return float(np.mean(t == p))


def precision(y_true: ArrayLike, y_pred: ArrayLike, *, positive: object = 1) -> float:
    """Share of positive predictions that are right; ``nan`` when none is positive."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    predicted = p == positive
    n = int(np.count_nonzero(predicted))
    if n == 0:
        return math.nan
    return int(np.count_nonzero(predicted & (t == positive))) / n


def recall(y_true: ArrayLike, y_pred: ArrayLike, *, positive: object = 1) -> float:
    """Share of positive labels that are predicted positive; ``nan`` when none is."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    actual = t == positive
    n = int(np.count_nonzero(actual))
    if n == 0:
        return math.nan
    return int(np.count_nonzero(actual & (p == positive))) / n


def _macro(y_true: ArrayLike, y_pred: ArrayLike, *, by_prediction: bool) -> float:
    t, p = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    if t.size == 0:
        return math.nan
    classes = dict.fromkeys([*t.tolist(), *p.tolist()])
    scores = []
    for c in classes:
        base = p == c if by_prediction else t == c
        n = int(np.count_nonzero(base))
        hits = int(np.count_nonzero(base & ((t == c) if by_prediction else (p == c))))
        scores.append(hits / n if n else 0.0)
    return float(np.mean(scores))


def macro_precision(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean of per-class precision over the classes seen in labels or predictions.

    A class never predicted counts as precision 0 (scikit-learn's ``zero_division=0``);
    ``nan`` on an empty window.
    """
    return _macro(y_true, y_pred, by_prediction=True)


def macro_recall(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean of per-class recall over the classes seen in labels or predictions.

    A class only ever predicted (never a label) counts as recall 0; ``nan`` on an empty
    window.
    """
    return _macro(y_true, y_pred, by_prediction=False)


def roc_auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve for binary labels in {0, 1}, ties counted as one half.

    Computed as the Mann-Whitney U statistic from mid-ranks, which equals the trapezoidal
    area under the ROC curve. ``nan`` unless both classes are present.
    """
    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    n_pos = int(np.count_nonzero(t == 1.0))
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    # Mid-ranks of tied scores: the mean of the 1-based positions each tie group spans.
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], s.size]
    mid = (starts + ends + 1) / 2.0
    ranks = np.empty(s.size, dtype=np.float64)
    ranks[order] = np.repeat(mid, ends - starts)
    u = float(ranks[t == 1.0].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def log_loss(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Mean binary cross-entropy of probabilities of the positive class (natural log)."""
    t = np.asarray(y_true, dtype=np.float64)
    if t.size == 0:
        return math.nan
    p = np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0 - _EPS)
    return float(-np.mean(t * np.log(p) + (1.0 - t) * np.log(1.0 - p)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error; ``nan`` on an empty window."""
    t = np.asarray(y_true, dtype=np.float64)
    if t.size == 0:
        return math.nan
    return float(np.mean(np.abs(t - np.asarray(y_pred, dtype=np.float64))))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error; ``nan`` on an empty window."""
    t = np.asarray(y_true, dtype=np.float64)
    if t.size == 0:
        return math.nan
    d = t - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))
