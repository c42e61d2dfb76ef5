"""The metrics a GroupMetrics can report, each defined on per-group confusion counts (private).

Every rate metric is ``hits / base`` for fixed cells of the binary confusion matrix, so it
is exactly mergeable, has a Wilson interval, and two groups' values compare with a
Newcombe interval. ``auc`` is read from the per-group score histograms; ``count`` is the
number of records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = [
    "ALIASES",
    "COMPOSITES",
    "CONFUSION",
    "DEFAULT_METRICS",
    "METRICS",
    "MetricDef",
    "canonical",
    "gap_components",
]

#: Layout of each group's confusion counts: index ``2 * y_true + y_pred``.
CONFUSION = ("tn", "fp", "fn", "tp")
TN, FP, FN, TP = 0, 1, 2, 3
_ALL = (TN, FP, FN, TP)


@dataclass(frozen=True)
class MetricDef:
    """One metric: which confusion cells are hits and which form the base."""

    name: str
    kind: Literal["rate", "count", "auc"]
    hits: tuple[int, ...] = ()
    base: tuple[int, ...] = _ALL
    higher_is_better: bool = True
    description: str = ""


METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        MetricDef("selection_rate", "rate", (FP, TP), _ALL, True, "share predicted positive"),
        MetricDef("tpr", "rate", (TP,), (FN, TP), True, "true positive rate (recall)"),
        MetricDef("fnr", "rate", (FN,), (FN, TP), False, "false negative rate"),
        MetricDef("fpr", "rate", (FP,), (TN, FP), False, "false positive rate"),
        MetricDef("tnr", "rate", (TN,), (TN, FP), True, "true negative rate"),
        MetricDef("precision", "rate", (TP,), (FP, TP), True, "positive predictive value"),
        MetricDef("npv", "rate", (TN,), (TN, FN), True, "negative predictive value"),
        MetricDef("accuracy", "rate", (TN, TP), _ALL, True, "share predicted right"),
        MetricDef("error_rate", "rate", (FP, FN), _ALL, False, "share predicted wrong"),
        MetricDef("count", "count", (), _ALL, True, "number of records"),
        MetricDef("auc", "auc", (), _ALL, True, "ROC AUC from the score histograms"),
    )
}

#: fairlearn's and scikit-learn's names for the same metrics.
ALIASES = {
    "true_positive_rate": "tpr",
    "recall": "tpr",
    "recall_score": "tpr",
    "false_negative_rate": "fnr",
    "false_positive_rate": "fpr",
    "true_negative_rate": "tnr",
    "precision_score": "precision",
    "accuracy_score": "accuracy",
    "zero_one_loss": "error_rate",
    "roc_auc": "auc",
    "roc_auc_score": "auc",
}

#: Named fairness criteria and the metrics whose worst gap they are (fairlearn's names).
COMPOSITES: dict[str, tuple[str, ...]] = {
    "demographic_parity": ("selection_rate",),
    "equal_opportunity": ("tpr",),
    "equalized_odds": ("tpr", "fpr"),
}

DEFAULT_METRICS = ("selection_rate", "tpr", "fpr", "precision", "accuracy")


def canonical(name: object, owner: str = "GroupMetrics") -> str:
    """The canonical name of metric ``name`` (aliases resolved), or a ConfigError."""
    if isinstance(name, str):
        if name in METRICS:
            return name
        if name in ALIASES:
            return ALIASES[name]
    raise ConfigError(
        f"{owner} does not know the metric {short_repr(name)}; known metrics: "
        f"{sorted(METRICS)} (fairlearn's names such as 'true_positive_rate' work too).",
        parameter="metrics",
    )


def gap_components(name: str, listed: Sequence[str]) -> tuple[str, ...]:
    """The metrics (as listed by the user) whose gaps make up gap ``name``.

    ``name`` is a listed metric, an alias of one, or a composite such as
    ``"equalized_odds"`` whose components are all listed.
    """
    by_canonical = {canonical(m): m for m in listed}
    if name in COMPOSITES:
        parts = COMPOSITES[name]
        missing = [p for p in parts if p not in by_canonical]
        if missing:
            raise ConfigError(
                f"The {name!r} gap needs the metrics {list(parts)}; this report has "
                f"{list(listed)}. Add {missing} to GroupMetrics(metrics=...).",
                parameter="metric",
            )
        return tuple(by_canonical[p] for p in parts)
    if name in listed:
        return (name,)
    if isinstance(name, str) and (name in METRICS or name in ALIASES):
        c = canonical(name)
        if c in by_canonical:
            return (by_canonical[c],)
    raise ConfigError(
        f"No metric {str(name)[:80]!r} in this report; it has {list(listed)} and the "
        f"composites {sorted(COMPOSITES)}.",
        parameter="metric",
    )
