"""fairlearn's disparity functions, on prodml's counts (same names, same numbers).

Each builds a :class:`GroupMetrics` with ``min_count=1`` (every defined group value
counts, as in fairlearn) over one batch and returns the gap's value as a float. Use
:meth:`GroupMetrics.report` for intervals and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.fairness._group_metrics import GroupMetrics

__all__ = [
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
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


def _report(metrics: list[str], y_true: Any, y_pred: Any, sensitive_features: Any) -> Any:
    names, groups = _names_and_groups(sensitive_features)
    return GroupMetrics(names, metrics, min_count=1).update(y_true, y_pred, groups).report()


def demographic_parity_difference(
    y_true: Any, y_pred: Any, *, sensitive_features: Any, method: Method = "between_groups"
) -> float:
    """Largest minus smallest group selection rate (fairlearn's function, same value).

    Examples
    --------
    >>> demographic_parity_difference([0, 1, 1, 0], [1, 1, 0, 0], sensitive_features=list("aabb"))
    1.0
    """
    report = _report(["selection_rate"], y_true, y_pred, sensitive_features)
    return float(report.difference("selection_rate", method=method).value)


def demographic_parity_ratio(
    y_true: Any, y_pred: Any, *, sensitive_features: Any, method: Method = "between_groups"
) -> float:
    """Smallest over largest group selection rate (fairlearn's function, same value)."""
    report = _report(["selection_rate"], y_true, y_pred, sensitive_features)
    return float(report.ratio("selection_rate", method=method).value)


def _equalized_odds(
    kind: str, y_true: Any, y_pred: Any, *, sensitive_features: Any, method: Method, agg: str
) -> float:
    if agg not in ("worst_case", "mean"):
        raise ConfigError(
            f"agg must be 'worst_case' or 'mean'. Got {short_repr(agg)} instead.", parameter="agg"
        )
    report = _report(["tpr", "fpr"], y_true, y_pred, sensitive_features)
    gap = report.difference if kind == "difference" else report.ratio
    if agg == "worst_case":
        return float(gap("equalized_odds", method=method).value)
    return float(np.mean([gap(m, method=method).value for m in ("tpr", "fpr")]))


def equalized_odds_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    agg: Literal["worst_case", "mean"] = "worst_case",
) -> float:
    """The larger (or mean) of the tpr and fpr differences (fairlearn's function)."""
    return _equalized_odds(
        "difference", y_true, y_pred, sensitive_features=sensitive_features, method=method, agg=agg
    )


def equalized_odds_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    agg: Literal["worst_case", "mean"] = "worst_case",
) -> float:
    """The smaller (or mean) of the tpr and fpr ratios (fairlearn's function)."""
    return _equalized_odds(
        "ratio", y_true, y_pred, sensitive_features=sensitive_features, method=method, agg=agg
    )
