"""Attribution drift, or whether what drives the model is changing (private).

Each prediction may come with its attributions per input column (``e.values`` of a
``prodml.explain`` explanation). Every ``attribution_window`` of them form a window whose
per-column distributions are tested with :mod:`prodml.drift` against reference
attributions (``Explainer.explain(reference_data)``), exactly as data drift tests the
features; the result is the values ``attribution_drift_share``,
``attribution_drifted_columns`` and ``attribution_drift_count`` that alert rules watch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodml.errors import ProdMLError, SchemaError
from prodml.monitoring import _drift

__all__ = ["NAMES", "AttributionDrift"]

NAMES = ("attribution_drift_count", "attribution_drift_share", "attribution_drifted_columns")


class AttributionDrift:
    """Windows of logged attributions, tested against reference attributions."""

    def __init__(self, reference: object, detector: Any, window: int) -> None:
        self.window = window
        self.fitted = _drift.fit_detector(detector, reference)
        self.rows: list[dict[str, float]] = []
        self.ready: list[dict[str, float]] | None = None
        self.summary = _drift.DriftSummary.empty()

    def log(self, values: Mapping[str, float], counters: dict[str, int]) -> None:
        """Add one prediction's attributions (a window boundary queues a test)."""
        try:
            row = {str(k): float(v) for k, v in values.items()}
        except (AttributeError, TypeError, ValueError):
            raise SchemaError(
                "attributions must be a mapping of column name to number (an explanation's "
                f"values). Got {type(values).__name__} instead.",
                column="attributions",
            ) from None
        self.rows.append(row)
        if len(self.rows) >= self.window:
            if self.ready is not None:
                counters["attribution_windows_skipped_total"] += 1
            self.ready, self.rows = self.rows, []

    def advance(self, now: float, counters: dict[str, int], log: Any, model: str) -> None:
        """Test a queued window, if any."""
        if self.ready is None:
            return
        rows, self.ready = self.ready, None
        try:
            self.summary = _drift.run(self.fitted, rows, now)
        except ProdMLError:  # bad live attributions must not take the server down
            counters["attribution_drift_errors_total"] += 1
            log.exception("prodml monitor %r: attribution-drift window failed", model)
        else:
            counters["attribution_windows_total"] += 1

    def values(self) -> dict[str, float]:
        """The attribution-drift values of the last tested window."""
        v = self.summary.values()
        return {
            "attribution_drift_count": v["drift_count"],
            "attribution_drift_share": v["drift_share"],
            "attribution_drifted_columns": v["drifted_columns"],
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (the reference is passed again on load)."""
        return {
            "rows": [dict(r) for r in self.rows],
            "ready": None if self.ready is None else [dict(r) for r in self.ready],
            "summary": self.summary.to_dict(),
        }

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`to_dict` output."""
        self.rows = [{str(k): float(v) for k, v in r.items()} for r in state["rows"]]
        ready = state["ready"]
        self.ready = None if ready is None else [dict(r) for r in ready]
        self.summary = _drift.DriftSummary.from_dict(state["summary"])
