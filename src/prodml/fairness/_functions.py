"""fairlearn's disparity functions, on prodml's counts (same names, same numbers).

Each builds a :class:`GroupMetrics` with ``min_count=1`` (every defined group value
counts, as in fairlearn) over one batch and returns the gap's value as a float. Use
:meth:`GroupMetrics.report` for intervals and tests.

A true or false positive rate is undefined for a group without actual positives or
negatives: fairlearn (through scikit-learn's normalised confusion matrix) counts it as 0,
which makes a gap of a group that has no data. The equal opportunity and equalized odds
functions raise a SchemaError naming ``y_true``, the group and the rate instead of
returning a number that is not fairlearn's (the report leaves such a group out of the
gaps, and says so in its ``status``).

``sample_weight`` is fairlearn's: each record counts with its weight, so integer weights
give the value of the rows repeated that many times. Where fairlearn lets a group whose
weights sum to 0 drop out with a RuntimeWarning (or fails inside scikit-learn), these
functions raise a SchemaError naming ``sample_weight`` and the group: its rate is 0/0,
and the gap without it would answer another question.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from prodml._quote import short_repr
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.fairness import _ingest
from prodml.fairness._group_metrics import GroupMetrics
from prodml.fairness._report import NO_DATA, ZERO_WEIGHT, FairnessReport

__all__ = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "selection_rate",
]

Method = Literal["between_groups", "to_overall"]


def _names_and_groups(sensitive_features: Any) -> tuple[list[str], Any]:
    """Column names for the sensitive features (fairlearn's defaults for unnamed ones)."""
    if isinstance(sensitive_features, pd.DataFrame):
        return [str(c) for c in sensitive_features.columns], sensitive_features.rename(columns=str)
    if isinstance(sensitive_features, Mapping):
        return [str(c) for c in sensitive_features], {
            str(k): v for k, v in sensitive_features.items()
        }
    if isinstance(sensitive_features, pd.Series):
        name = (
            str(sensitive_features.name)
            if sensitive_features.name is not None
            else "sensitive_feature_0"
        )
        return [name], sensitive_features
    arr = np.asarray(sensitive_features, dtype=object)
    if arr.ndim == 2:
        return [f"sensitive_feature_{j}" for j in range(arr.shape[1])], arr
    return ["sensitive_feature_0"], arr


def _report(
    metrics: list[str], y_true: Any, y_pred: Any, sensitive_features: Any, sample_weight: Any
) -> FairnessReport:
    names, groups = _names_and_groups(sensitive_features)
    weighted = sample_weight is not None
    gm = GroupMetrics(names, metrics, min_count=1, weighted=weighted)
    report = gm.update(y_true, y_pred, groups, sample_weight).report()
    if weighted:
        _refuse_zero_weight(report)
    return report


_NO_BASE = {"tpr": "actual positives", "fpr": "actual negatives"}


def _refuse_undefined(report: FairnessReport, rates: tuple[str, ...]) -> None:
    """A group whose tpr (fpr) has no base: fairlearn says 0, prodml will not invent it."""
    status = report.status
    for m in rates:
        hit = np.flatnonzero(status[m].to_numpy() == NO_DATA)
        if len(hit):
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        "y_true",
                        "range",
                        f"group {_ingest.short(report.labels[int(hit[0])], 60)} has no "
                        f"{_NO_BASE[m]}: its {m} "
                        "is undefined (fairlearn counts it as 0, a gap to a group without "
                        "data); leave the group out, or read GroupMetrics(...).report(), "
                        "whose gaps leave it out and whose status says so",
                    )
                ]
            )


def _refuse_zero_weight(report: FairnessReport) -> None:
    """A group whose records weigh 0 in total has no rate: say so, do not drop it."""
    status = report.status
    for m in status.columns:
        hit = np.flatnonzero(status[m].to_numpy() == ZERO_WEIGHT)
        if len(hit):
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        _ingest.WEIGHT,
                        "range",
                        f"the weights of group {_ingest.short(report.labels[int(hit[0])], 60)} "
                        "sum to 0 over "
                        f"the records its {m} is computed on: the rate is 0/0, undefined; "
                        "give those records weight or leave the group out",
                    )
                ]
            )


def selection_rate(
    y_true: Any, y_pred: Any, *, pos_label: int = 1, sample_weight: Any = None
) -> float:
    """Share of records predicted ``pos_label``, weighted (fairlearn's function).

    Raises
    ------
    SchemaError
        For labels that are not 0/1, no records, a bad ``sample_weight``, or weights
        that sum to 0 (the rate is undefined).

    Examples
    --------
    >>> selection_rate([0, 1, 1, 0], [1, 1, 0, 0], sample_weight=[3, 1, 1, 1])
    0.6666666666666666
    """
    if pos_label not in (0, 1) or isinstance(pos_label, bool):
        raise ConfigError(
            f"pos_label must be 0 or 1. Got {short_repr(pos_label)} instead.",
            parameter="pos_label",
        )
    yp = _ingest.label_array(y_pred, "y_pred")
    yt = _ingest.label_array(y_true, "y_true")
    if len(yt) != len(yp):
        raise SchemaError(
            problems=[
                SchemaProblem("y_pred", "input", f"has {len(yp)} values but y_true has {len(yt)}")
            ]
        )
    if len(yp) == 0:
        raise SchemaError(problems=[SchemaProblem("y_pred", "input", "has no values")])
    selected = yp == pos_label
    if sample_weight is None:
        return float(np.count_nonzero(selected) / len(yp))
    w = _ingest.weight_array(sample_weight, len(yp))
    total = float(w.sum())
    if not total > 0:
        raise SchemaError(
            problems=[
                SchemaProblem(
                    _ingest.WEIGHT, "range", "sums to 0: the selection rate is 0/0, undefined"
                )
            ]
        )
    return float(w[selected].sum()) / total


def demographic_parity_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
) -> float:
    """Largest minus smallest group selection rate (fairlearn's function, same value).

    Examples
    --------
    >>> demographic_parity_difference([0, 1, 1, 0], [1, 1, 0, 0], sensitive_features=list("aabb"))
    1.0
    >>> demographic_parity_difference(
    ...     [0, 1, 1, 0], [1, 0, 1, 0], sensitive_features=list("aabb"), sample_weight=[3, 1, 1, 1]
    ... )
    0.25
    """
    report = _report(["selection_rate"], y_true, y_pred, sensitive_features, sample_weight)
    return float(report.difference("selection_rate", method=method).value)


def demographic_parity_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
) -> float:
    """Smallest over largest group selection rate (fairlearn's function, same value)."""
    report = _report(["selection_rate"], y_true, y_pred, sensitive_features, sample_weight)
    return float(report.ratio("selection_rate", method=method).value)


def equal_opportunity_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
) -> float:
    """Largest minus smallest group true positive rate (fairlearn's function).

    Raises
    ------
    SchemaError
        As the other functions, and when a group has no actual positives (its true
        positive rate is undefined; fairlearn counts it as 0).
    """
    report = _report(["tpr"], y_true, y_pred, sensitive_features, sample_weight)
    _refuse_undefined(report, ("tpr",))
    return float(report.difference("tpr", method=method).value)


def equal_opportunity_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
) -> float:
    """Smallest over largest group true positive rate (fairlearn's function).

    Raises
    ------
    SchemaError
        As :func:`equal_opportunity_difference`.
    """
    report = _report(["tpr"], y_true, y_pred, sensitive_features, sample_weight)
    _refuse_undefined(report, ("tpr",))
    return float(report.ratio("tpr", method=method).value)


def _equalized_odds(
    kind: str,
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method,
    agg: str,
    sample_weight: Any,
) -> float:
    if agg not in ("worst_case", "mean"):
        raise ConfigError(
            f"agg must be 'worst_case' or 'mean'. Got {short_repr(agg)} instead.", parameter="agg"
        )
    report = _report(["tpr", "fpr"], y_true, y_pred, sensitive_features, sample_weight)
    _refuse_undefined(report, ("tpr", "fpr"))
    gap = report.difference if kind == "difference" else report.ratio
    if agg == "worst_case":
        return float(gap("equalized_odds", method=method).value)
    # The mean of the defined components, as fairlearn's Series.mean() (NaN skipped): a
    # 0/0 ratio (no positive prediction in any group) is not a disparity. Undefined
    # (nan) only when both are.
    values = [gap(m, method=method).value for m in ("tpr", "fpr")]
    defined = [v for v in values if not math.isnan(v)]
    return float(sum(defined) / len(defined)) if defined else math.nan


def equalized_odds_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    agg: Literal["worst_case", "mean"] = "worst_case",
) -> float:
    """The larger (or mean) of the tpr and fpr differences (fairlearn's function).

    ``agg="mean"`` averages the differences that are defined (both, with two groups or
    more), as fairlearn does.

    Raises
    ------
    SchemaError
        As the other functions, and when a group has no actual positives or no actual
        negatives (its true or false positive rate is undefined; fairlearn counts it as 0).
    """
    return _equalized_odds(
        "difference",
        y_true,
        y_pred,
        sensitive_features=sensitive_features,
        method=method,
        agg=agg,
        sample_weight=sample_weight,
    )


def equalized_odds_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    agg: Literal["worst_case", "mean"] = "worst_case",
) -> float:
    """The smaller (or mean) of the tpr and fpr ratios (fairlearn's function).

    A ratio whose rates are 0 in every group is 0/0, undefined: ``agg="worst_case"``
    takes the other component, ``agg="mean"`` averages the defined ones (fairlearn's
    ``Series.mean()`` skips it too). ``nan`` when both are undefined.

    Raises
    ------
    SchemaError
        As :func:`equalized_odds_difference`.

    Examples
    --------
    >>> y, p = [1, 1, 0, 0, 1, 1, 0, 0], [1, 1, 0, 0, 1, 0, 0, 0]
    >>> equalized_odds_ratio(y, p, sensitive_features=list("aaaabbbb"), agg="mean")
    0.5
    """
    return _equalized_odds(
        "ratio",
        y_true,
        y_pred,
        sensitive_features=sensitive_features,
        method=method,
        agg=agg,
        sample_weight=sample_weight,
    )
