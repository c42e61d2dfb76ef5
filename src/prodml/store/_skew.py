"""Training/serving skew: served feature values against an offline recompute."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from prodml.drift import DriftDetector, DriftReport

__all__ = ["FeatureSkew", "SkewReport", "compare"]


@dataclass(frozen=True)
class FeatureSkew:
    """How one feature's served values compare with the offline recompute.

    ``mismatches`` counts rows where the two differ (a null on one side only counts);
    ``first_row`` is the position of the first such row in the served log.
    """

    feature: str
    column: str
    rows: int
    mismatches: int
    served_nulls: int
    offline_nulls: int
    first_row: int | None

    @property
    def mismatch_rate(self) -> float:
        """Share of rows that differ."""
        return self.mismatches / self.rows if self.rows else 0.0


class SkewReport:
    """Per feature mismatches between served and recomputed values, plus a drift test.

    Attributes
    ----------
    features
        One :class:`FeatureSkew` per feature.
    drift
        The :class:`~prodml.drift.DriftReport` of served values against the offline
        recompute (reference), or ``None`` when there were too few rows.
    """

    def __init__(self, features: list[FeatureSkew], drift: DriftReport | None) -> None:
        self.features = features
        self.drift = drift

    @property
    def ok(self) -> bool:
        """Whether every served value matched and no feature drifted."""
        drifted = bool(self.drift.drifted_columns) if self.drift is not None else False
        return not drifted and all(f.mismatches == 0 for f in self.features)

    @property
    def mismatched_features(self) -> list[str]:
        """References of the features with at least one mismatch."""
        return [f.feature for f in self.features if f.mismatches]

    def __getitem__(self, feature: str) -> FeatureSkew:
        for f in self.features:
            if feature in (f.feature, f.column):
                return f
        raise KeyError(feature)

    def to_frame(self) -> pd.DataFrame:
        """One row per feature, with the drift test's p-value and verdict."""
        rows = []
        for f in self.features:
            row: dict[str, Any] = {**asdict(f), "mismatch_rate": f.mismatch_rate}
            res = _result(self.drift, f.column)
            row["p_value"] = res.p_value if res is not None else math.nan
            row["drifted"] = bool(res.drifted) if res is not None else False
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "format_version": 1,
            "ok": self.ok,
            "features": [{**asdict(f), "mismatch_rate": f.mismatch_rate} for f in self.features],
            "drift": self.drift.to_dict() if self.drift is not None else None,
        }

    def __repr__(self) -> str:
        bad = self.mismatched_features
        return f"SkewReport(ok={self.ok}, features={len(self.features)}, mismatched={bad})"


def _result(drift: DriftReport | None, column: str) -> Any:
    if drift is None:
        return None
    try:
        return drift[column]
    except KeyError:
        return None


def _differs(served: pd.Series, offline: pd.Series, rtol: float, atol: float) -> np.ndarray:
    s_null = served.isna().to_numpy()
    o_null = offline.isna().to_numpy()
    both = ~s_null & ~o_null
    differ = s_null != o_null
    if pd.api.types.is_numeric_dtype(served) and pd.api.types.is_numeric_dtype(offline):
        a = served.to_numpy(dtype=float, na_value=np.nan)
        b = offline.to_numpy(dtype=float, na_value=np.nan)
        close = np.isclose(a, b, rtol=rtol, atol=atol)
        differ |= both & ~close
    else:
        eq = served.astype(object).to_numpy() == offline.astype(object).to_numpy()
        differ |= both & ~eq
    return differ


def compare(
    served: pd.DataFrame,
    offline: pd.DataFrame,
    refs: list[str],
    columns: list[str],
    *,
    rtol: float,
    atol: float,
    detector: DriftDetector | None,
) -> SkewReport:
    """Compare the served columns with the recomputed ones and run the drift test."""
    out = []
    for ref, col in zip(refs, columns, strict=True):
        s, o = served[col].reset_index(drop=True), offline[col].reset_index(drop=True)
        differ = _differs(s, o, rtol, atol)
        hits = np.flatnonzero(differ)
        out.append(
            FeatureSkew(
                feature=ref,
                column=col,
                rows=len(s),
                mismatches=int(differ.sum()),
                served_nulls=int(s.isna().sum()),
                offline_nulls=int(o.isna().sum()),
                first_row=int(hits[0]) if len(hits) else None,
            )
        )
    drift = None
    usable = [c for c in columns if offline[c].notna().sum() >= 2 and served[c].notna().sum() >= 2]
    if usable:
        det = detector if detector is not None else DriftDetector(columns=usable)
        drift = det.fit(offline[usable].reset_index(drop=True)).detect(
            served[usable].reset_index(drop=True)
        )
    return SkewReport(out, drift)
