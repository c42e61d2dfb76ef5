"""Data drift on live traffic through :mod:`prodml.drift` (private).

``prodml.drift`` is imported inside the functions, at the first window boundary, so that
importing :mod:`prodml.monitoring` stays cheap and works whatever state drift is in.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prodml._quote import short_repr
from prodml._state import Field
from prodml.errors import ConfigError

__all__ = ["DriftSummary", "fit_detector", "row_bytes", "run"]

_SCALARS = (float, int, bool, type(None))
_SCALAR_BYTES = sys.getsizeof(0.0)


def row_bytes(row: Mapping[str, Any]) -> int:
    """Memory a feature row holds, as ``sys.getsizeof`` counts it (keys, values, the dict).

    Numbers count as a float (24 bytes); a string or any other value counts its
    ``sys.getsizeof`` (a 10 MB string: 10 MB). Containers count their own size only.
    """
    total = sys.getsizeof(row)
    for key, value in row.items():
        total += sys.getsizeof(key)
        total += _SCALAR_BYTES if type(value) in _SCALARS else sys.getsizeof(value)
    return total


def _num(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


_COLUMN_KEYS = ("drifted", "testable", "statistic", "p_value", "effect")


@dataclass(frozen=True)
class DriftSummary:
    """What the last data-drift window found, reduced to numbers for alerts and sinks."""

    at: float | None
    n_rows: int
    columns: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> DriftSummary:
        """No window tested yet."""
        return cls(at=None, n_rows=0)

    def values(self) -> dict[str, float]:
        """``drift_share`` (drifted / tested columns), ``drifted_columns``, ``drift_count``."""
        # A column drifted by its null share counts as tested even when its values are not.
        tested = [c for c in self.columns.values() if c["testable"] or c["drifted"]]
        drifted = sum(c["drifted"] for c in tested)
        return {
            "drift_count": float(self.n_rows),
            "drift_share": drifted / len(tested) if tested else math.nan,
            "drifted_columns": float(drifted),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (``nan`` becomes ``None``)."""
        return {
            "at": self.at,
            "n_rows": self.n_rows,
            "columns": {
                name: {k: (None if math.isnan(v) else v) for k, v in col.items()}
                for name, col in self.columns.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftSummary:
        """Rebuild a summary saved by :meth:`to_dict`, validating it.

        Raises
        ------
        StateError
            (also a ConfigError) naming the field at fault: a negative row count, a
            column without its numbers, flags other than 0/1, a p-value outside [0, 1].
        """
        root = Field(data, owner="DriftSummary")
        root.dict(keys=("at", "n_rows", "columns"))
        columns: dict[str, dict[str, float]] = {}
        for name, col in root["columns"].items(max_len=1_000_000):
            col.dict(keys=_COLUMN_KEYS)
            columns[name] = {
                "drifted": col["drifted"].float(lo=0.0, hi=1.0),
                "testable": col["testable"].float(lo=0.0, hi=1.0),
                "statistic": _num(col["statistic"].optional_float()),
                "p_value": _num(col["p_value"].optional_float(lo=0.0, hi=1.0)),
                "effect": _num(col["effect"].optional_float()),
            }
            for flag in ("drifted", "testable"):
                col[flag].check(columns[name][flag] in (0.0, 1.0), "0.0 or 1.0")
        return cls(at=root["at"].optional_float(), n_rows=root["n_rows"].count(), columns=columns)


def fit_detector(detector: Any, reference: object) -> Any:
    """Fit ``detector`` (default ``prodml.drift.DriftDetector()``) on ``reference``."""
    if detector is None:
        from prodml.drift import DriftDetector  # noqa: PLC0415 - lazy: composed module

        detector = DriftDetector()
    if not callable(getattr(detector, "fit", None)) or not callable(
        getattr(detector, "detect", None)
    ):
        raise ConfigError(
            "The 'drift_detector' parameter of ModelMonitor must have fit() and detect() "
            f"(a prodml.drift.DriftDetector). Got {short_repr(detector)} instead.",
            parameter="drift_detector",
        )
    return detector.fit(reference)


def unfitted_copy(detector: Any) -> Any:
    """A fresh, unfitted detector with ``detector``'s settings (None stays None)."""
    if detector is None or not callable(getattr(detector, "get_params", None)):
        return detector
    return type(detector)(**detector.get_params())


def run(detector: Any, rows: Sequence[Mapping[str, Any]], now: float) -> DriftSummary:
    """Test one window of feature records against the fitted reference."""
    import pandas as pd  # noqa: PLC0415 - only at window boundaries, never on the hot path

    report = detector.detect(pd.DataFrame.from_records(list(rows)))
    columns = {
        r.column: {
            "drifted": float(bool(r.drifted)),
            "testable": float(bool(getattr(r, "testable", True))),
            "statistic": _num(r.statistic),
            "p_value": _num(r.p_value),
            "effect": _num(getattr(r, "effect", None)),
        }
        for r in report.results
    }
    return DriftSummary(at=now, n_rows=len(rows), columns=columns)
