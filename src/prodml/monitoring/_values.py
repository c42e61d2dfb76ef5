"""The monitor's named values: metric names, window metrics, burn rates (private)."""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from prodml._quote import short_repr
from prodml.errors import SchemaError
from prodml.monitoring import metrics as m
from prodml.monitoring._slo import SLOCounter
from prodml.monitoring._stats import SlotStats
from prodml.monitoring.alerts import BurnRateRule
from prodml.monitoring.windows import Window

__all__ = [
    "COUNTERS",
    "as_number",
    "as_seconds",
    "burn_rate",
    "check_class",
    "check_label",
    "latency",
    "metric_names",
    "performance",
    "traffic_metric",
]

#: Monotonic totals a monitor keeps (also readable as values by alert rules).
COUNTERS = (
    "alerts_fired_total",
    "attribution_drift_errors_total",
    "attribution_windows_skipped_total",
    "attribution_windows_total",
    "concept_drift_total",
    "drift_errors_total",
    "drift_windows_skipped_total",
    "drift_windows_total",
    "duplicate_labels_total",
    "duplicate_predictions_total",
    "evicted_total",
    "expired_total",
    "labels_total",
    "predictions_total",
    "sink_errors_total",
    "unmatched_total",
)
PERFORMANCE = {
    "binary": ("accuracy", "error_rate", "precision", "recall", "auc", "log_loss"),
    "multiclass": ("accuracy", "error_rate", "precision", "recall"),
    "regression": ("mae", "rmse"),
}
LATENCY = (
    "latency_count",
    "latency_mean",
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "stats_count",
    "throughput",
    "throughput_p50",
    "throughput_p95",
    "throughput_p99",
)
DRIFT = ("drift_count", "drift_share", "drifted_columns")


ATTRIBUTION_DRIFT = (
    "attribution_drift_count",
    "attribution_drift_share",
    "attribution_drifted_columns",
)


def metric_names(task: str, *, drift: bool, concept: bool, attributions: bool = False) -> set[str]:
    """Every value name a monitor of this configuration reports."""
    names = {*PERFORMANCE[task], "window_count", *LATENCY, *COUNTERS, "pending"}
    if drift:
        names.update(DRIFT)
    if attributions:
        names.update(ATTRIBUTION_DRIFT)
    if concept:
        names.add("concept_drift_events")
    return names


def traffic_metric(metric: str) -> str:
    """The count a rule's minimum-traffic guard compares with ``min_count``."""
    if metric in DRIFT:
        return "drift_count"
    if metric in ATTRIBUTION_DRIFT:
        return "attribution_drift_count"
    if any(metric in names for names in PERFORMANCE.values()):
        return "window_count"
    return "stats_count"


def as_seconds(t: object) -> float:
    """A timestamp as a Python float, or NaN (which the callers' checks refuse).

    Any real number is taken (``np.int64`` and ``np.float32`` from a DataFrame's column
    included), converted before it is compared or stored: a numpy scalar kept as given
    made :meth:`ModelMonitor.to_json` fail (``int64`` is not JSON) and a ``float32``
    compared with the float range warned of an overflow. Bools are not times.
    """
    if isinstance(t, bool | np.bool_) or not isinstance(t, numbers.Real):
        return math.nan
    try:
        return float(t)
    except (OverflowError, TypeError, ValueError):  # an int past the float range
        return math.nan


def as_number(task: str, output: object) -> Any:
    """A binary or regression output as a Python float; other values as given.

    What is not a real number is returned unchanged, for the caller's check to refuse
    and quote. A bool is a score of 0 or 1 for a binary model (as a label may be a
    bool), and refused (NaN) for regression (as its labels are).
    """
    if isinstance(output, bool | np.bool_):
        return float(output) if task == "binary" else math.nan
    if isinstance(output, numbers.Real):
        try:
            return float(output)
        except (OverflowError, TypeError, ValueError):
            return math.nan
    return output


def check_class(output: Any) -> Any:
    """A multiclass output as stored (a JSON scalar), or a SchemaError naming ``output``.

    The rule of a multiclass label: a str, int, bool or finite float (numpy scalars as
    Python ones). Before, any output was kept until its label came: a list raised
    TypeError there, NaN made the saved state invalid JSON, ``None`` a state that did
    not load.
    """
    if type(output) is str or type(output) is int:
        return output
    if isinstance(output, str):  # np.str_: a Python str, as saved and loaded back
        return str(output)
    try:
        return check_label("multiclass", output)
    except SchemaError:
        raise SchemaError(
            "output of a multiclass model must be a class label: a str, int, bool or "
            f"finite float. Got {short_repr(output)} instead.",
            column="output",
        ) from None


def check_label(task: str, label: Any) -> Any:
    """Validate one label for the task; return it as stored (JSON-safe scalar)."""
    if hasattr(label, "item") and not isinstance(label, (str, bytes)):
        label = label.item()  # numpy scalars -> Python scalars
    if task == "binary":
        if isinstance(label, numbers.Real) and label in (0, 1):
            return 1 if label == 1 else 0
        raise SchemaError(
            f"label of a binary model must be 0 or 1. Got {short_repr(label)} instead.",
            column="label",
        )
    if task == "regression":
        if isinstance(label, (int, float)) and not isinstance(label, bool):
            value = float(label)
            if math.isfinite(value):
                return value
        raise SchemaError(
            "label of a regression model must be a finite number. "
            f"Got {short_repr(label)} instead.",
            column="label",
        )
    if isinstance(label, (str, int, bool)) or (isinstance(label, float) and math.isfinite(label)):
        return label
    raise SchemaError(
        f"label of a multiclass model must be a str, int, bool or finite float. "
        f"Got {short_repr(label)} instead.",
        column="label",
    )


def performance(task: str, window: Window, threshold: float) -> dict[str, float]:
    """Window metrics for the task, plus ``window_count``; ``nan`` when undefined."""
    n = len(window)
    out: dict[str, float] = {"window_count": float(n)}
    if task == "multiclass":
        labels = np.array(window.labels(), dtype=object)
        outputs = np.array(window.outputs(), dtype=object)
        acc = m.accuracy(labels, outputs)
        out.update(
            accuracy=acc,
            error_rate=1.0 - acc,
            precision=m.macro_precision(labels, outputs),
            recall=m.macro_recall(labels, outputs),
        )
        return out
    y = np.array(window.labels(), dtype=np.float64)
    out_arr = np.array(window.outputs(), dtype=np.float64)
    if task == "regression":
        out.update(mae=m.mae(y, out_arr), rmse=m.rmse(y, out_arr))
        return out
    pred = (out_arr >= threshold).astype(np.float64)
    acc = m.accuracy(y, pred)
    out.update(
        accuracy=acc,
        error_rate=1.0 - acc,
        precision=m.precision(y, pred, positive=1.0),
        recall=m.recall(y, pred, positive=1.0),
        auc=m.roc_auc(y, out_arr),
        log_loss=m.log_loss(y, out_arr),
    )
    return out


def latency(stats: SlotStats, now: float) -> dict[str, float]:
    """Windowed latency quantiles (bucket estimates) and throughput."""
    h = stats.window_latency()
    tp, tp50, tp95, tp99 = stats.throughput(now)
    return {
        "latency_count": float(h.count),
        "latency_mean": h.sum / h.count if h.count else math.nan,
        "latency_p50": h.quantile(0.5),
        "latency_p95": h.quantile(0.95),
        "latency_p99": h.quantile(0.99),
        "stats_count": float(stats.window_count()),
        "throughput": tp,
        "throughput_p50": tp50,
        "throughput_p95": tp95,
        "throughput_p99": tp99,
    }


def burn_rate(rule: BurnRateRule, counter: SLOCounter, now: float) -> tuple[bool, float, str]:
    """Whether some window pair burns too fast, the burn rate shown, and its severity.

    The value is the long-window burn rate of the first pair that fires, or the highest
    long-window burn rate when none does (``nan`` without traffic). A window burns too
    fast when its error ratio is above ``factor * (1 - objective)`` (the SRE workbook's
    ``rate > 14.4 * 0.001``), compared exactly, with the factor and objective as written
    (decimal): 10 bad events of 100 against ``objective=0.9, factor=1`` burn the budget
    exactly as fast as allowed, which does not fire (float division said 1.0000000000000002).
    """
    budget = 1.0 - rule.objective
    highest = math.nan
    for w in rule.windows:
        total_long, bad_long = counter.window(now, w.long_s)
        total_short, bad_short = counter.window(now, w.short_s)
        if total_long == 0:
            continue
        long_rate = bad_long / total_long / budget
        highest = long_rate if math.isnan(highest) else max(highest, long_rate)
        if total_long < max(rule.min_count, 1) or total_short == 0:
            continue
        limit = _allowed_ratio(w.factor, rule.objective)
        if _above(bad_long, total_long, limit) and _above(bad_short, total_short, limit):
            return True, long_rate, w.severity
    return False, highest, ""


@lru_cache(maxsize=256)
def _allowed_ratio(factor: float, objective: float) -> Fraction:
    """``factor * (1 - objective)`` exactly, the numbers read as the decimals they print as."""
    return Fraction(repr(float(factor))) * (1 - Fraction(repr(float(objective))))


def _above(bad: float, total: float, limit: Fraction) -> bool:
    """Whether ``bad / total > limit``, exactly (counts are whole numbers below 2**53)."""
    return int(bad) * limit.denominator > limit.numerator * int(total)
