"""Drift results: one :class:`DriftResult` per column, gathered in a :class:`DriftReport`."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from prodml._files import write_text
from prodml._state import Field, check_format_version
from prodml.drift._compare import MAX_LABEL

__all__ = ["DriftReport", "DriftResult"]

REPORT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class DriftResult:
    """The verdict on one column (or on the whole table, for the classifier check).

    Attributes
    ----------
    column
        Column name (``"<multivariate>"`` for the classifier check).
    kind
        ``numeric``, ``datetime``, ``categorical``, ``null`` or ``table``.
    method
        The test behind the p-value: ``ks``, ``cvm``, ``chi2`` or ``classifier``.
    statistic
        The test statistic; ``None`` when the column is not testable.
    p_value
        Raw p-value; ``None`` when not testable.
    p_adjusted
        p-value after the multiple-testing correction.
    effect
        Effect size the ``min_effect`` floor applies to: the KS distance
        ``max |F_ref - F_cur|`` (numeric), the total variation distance
        ``0.5 * sum |p_ref - p_cur|`` (categorical), ``2 * AUC - 1`` (classifier).
    drifted
        ``p_adjusted <= alpha and effect >= min_effect``, or the null-share test is
        significant with a change of at least ``min_null_effect`` (see ``metrics``).
    testable
        ``False`` when the column's values cannot be tested (see ``note``): ``drifted``
        is then true only when its null share drifted (every value null on one side).
    note
        Why a column is not testable, or a remark (sketch bound, classifier size).
    n_reference, n_current
        Non-null values compared.
    null_fraction_reference, null_fraction_current
        Share of nulls in each sample.
    error_bound
        Bound on ``|statistic - exact statistic|`` for the KS distance when a sketched
        profile was used; 0 when exact.
    metrics
        Distances: ``psi``, ``jensen_shannon``, ``hellinger`` (over reference-decile bins
        or categories) and ``wasserstein`` (numeric, divided by the reference std).
    plot
        Data of the distribution plot (bin edges or category labels, proportions).
    """

    column: str
    kind: str
    method: str
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    effect: float | None
    drifted: bool
    testable: bool = True
    note: str = ""
    n_reference: int = 0
    n_current: int = 0
    null_fraction_reference: float = 0.0
    null_fraction_current: float = 0.0
    error_bound: float = 0.0
    metrics: dict[str, float | None] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (non-finite floats become ``None``)."""
        return _json_safe(asdict(self))


_KINDS = ("numeric", "datetime", "categorical", "null", "table")
_RESULT_KEYS = (
    "column", "kind", "method", "statistic", "p_value", "p_adjusted", "effect", "drifted",
    "testable", "note", "n_reference", "n_current", "null_fraction_reference",
    "null_fraction_current", "error_bound", "metrics", "plot",
)  # fmt: skip


def _is_json(v: object, depth: int) -> bool:
    """Whether ``v`` is JSON data nested at most ``depth`` levels."""
    if v is None or isinstance(v, str | bool | int | float):
        return True
    if depth <= 0:
        return False
    if isinstance(v, list):
        return all(_is_json(x, depth - 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_json(x, depth - 1) for k, x in v.items())
    return False


def _load_result(f: Field, n_ref: int, n_cur: int) -> DriftResult:
    """One saved DriftResult, every field and the relations between them checked."""
    f.dict(keys=_RESULT_KEYS)
    testable = f["testable"].bool()
    drifted = f["drifted"].bool()
    metrics: dict[str, float | None] = {}
    for name, m in f["metrics"].items(max_len=100):
        metrics[name] = m.optional_float()
    # A column whose values are not testable is drifted only by its null-share test.
    f["drifted"].check(
        testable or not drifted or metrics.get("null_p_adjusted") is not None,
        "false for a column that is not testable, unless its null share drifted",
    )
    return DriftResult(
        column=f["column"].str(max_len=100_000),
        kind=f["kind"].str(choices=_KINDS),
        method=f["method"].str(max_len=100),
        statistic=f["statistic"].optional_float(),
        p_value=f["p_value"].optional_float(lo=0.0, hi=1.0),
        p_adjusted=f["p_adjusted"].optional_float(lo=0.0, hi=1.0),
        effect=f["effect"].optional_float(),
        drifted=drifted,
        testable=testable,
        note=f["note"].str(max_len=100_000),
        n_reference=f["n_reference"].int(lo=0, hi=n_ref),
        n_current=f["n_current"].int(lo=0, hi=n_cur),
        null_fraction_reference=f["null_fraction_reference"].float(lo=0.0, hi=1.0),
        null_fraction_current=f["null_fraction_current"].float(lo=0.0, hi=1.0),
        error_bound=f["error_bound"].float(lo=0.0),
        metrics=metrics,
        plot=_load_plot(f["plot"]),
    )


def _load_plot(f: Field) -> dict[str, Any]:
    """Plot data: empty, a histogram (edges, two shares per bin) or a bar chart."""
    plot = f.dict()
    if not plot:
        return {}
    kind = f["type"].str(choices=("hist", "bar"))
    if kind == "hist":
        f.dict(keys=("type", "edges", "reference", "current"))
        edges = f["edges"].floats(min_len=2, max_len=100_000)
        f["edges"].check(all(a <= b for a, b in itertools.pairwise(edges)), "non-decreasing")
        n = len(edges) - 1
        labels: list[Any] = edges
    else:
        f.dict(keys=("type", "labels", "reference", "current"))
        labels = [x.str(max_len=MAX_LABEL) for x in f["labels"].each(max_len=100_000)]
        n = len(labels)
    ref = f["reference"].floats(length=n, lo=-1e-9, hi=1.0 + 1e-9)
    cur = f["current"].floats(length=n, lo=-1e-9, hi=1.0 + 1e-9)
    key = "edges" if kind == "hist" else "labels"
    return {"type": kind, key: labels, "reference": ref, "current": cur}


_FRAME_COLUMNS = [
    "column",
    "kind",
    "method",
    "statistic",
    "p_value",
    "p_adjusted",
    "effect",
    "drifted",
    "testable",
    "note",
    "n_reference",
    "n_current",
    "null_fraction_reference",
    "null_fraction_current",
    "error_bound",
]


class DriftReport:
    """Per-column drift verdicts of one :meth:`DriftDetector.detect` call.

    Parameters
    ----------
    results
        One result per column, in the reference's column order (then the classifier
        check, when run).
    settings
        The detector settings that produced them (alpha, correction, min_effect...).
    n_reference, n_current
        Rows in each sample.
    """

    def __init__(
        self,
        results: list[DriftResult],
        *,
        settings: dict[str, Any],
        n_reference: int,
        n_current: int,
    ) -> None:
        self.results: list[DriftResult] = list(results)
        self.settings: dict[str, Any] = dict(settings)
        self.n_reference = n_reference
        self.n_current = n_current

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns judged drifted, in column order."""
        return [r.column for r in self.results if r.drifted and r.kind != "table"]

    @property
    def drift_detected(self) -> bool:
        """Whether any column (or the classifier check) found drift."""
        return any(r.drifted for r in self.results)

    def __getitem__(self, column: str) -> DriftResult:
        for r in self.results:
            if r.column == column:
                return r
        raise KeyError(column)

    def to_frame(self) -> pd.DataFrame:
        """One row per result; metrics as ``psi``, ``jensen_shannon``... columns."""
        rows = []
        for r in self.results:
            row = {k: getattr(r, k) for k in _FRAME_COLUMNS}
            row.update(r.metrics)
            rows.append(row)
        frame = pd.DataFrame(rows, columns=None if rows else _FRAME_COLUMNS)
        return frame.astype(
            {"statistic": float, "p_value": float, "p_adjusted": float, "effect": float}
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict with ``format_version``."""
        return {
            "format_version": REPORT_FORMAT_VERSION,
            "settings": _json_safe(self.settings),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted_columns": self.drifted_columns,
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> DriftReport:
        """Rebuild a report saved by :meth:`to_dict`, validating it.

        Raises
        ------
        StateError
            (also a ConfigError) naming the field at fault (``results[2].p_value``): a
            p-value outside [0, 1], a negative count, an unknown kind or method, a
            verdict that contradicts ``testable``, plot data of the wrong shape,
            ``drifted_columns`` that disagree with the results.
        """
        root = Field(state, owner="DriftReport")
        root.dict(
            keys=("format_version", "settings", "n_reference", "n_current", "drifted_columns",
                  "results")
        )  # fmt: skip
        check_format_version(
            root["format_version"].value, REPORT_FORMAT_VERSION, owner="DriftReport"
        )
        settings = dict(root["settings"].dict())
        for value in root["settings"].values():
            v = value.value
            value.check(_is_json(v, 8), "JSON data (scalars, lists and dicts)")
        n_ref, n_cur = root["n_reference"].count(), root["n_current"].count()
        results = [_load_result(r, n_ref, n_cur) for r in root["results"].each(max_len=10**7)]
        report = cls(results, settings=settings, n_reference=n_ref, n_current=n_cur)
        root["drifted_columns"].check(
            root["drifted_columns"].value == report.drifted_columns,
            "the drifted columns of the results",
        )
        return report

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON text; also written to ``path`` when given.

        The file is written whole or not at all: an unusable path is a ``ConfigError``
        naming it, and a failed write keeps an earlier file.
        """
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            write_text(path, text, "the drift report")
        return text

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page (inline SVG plots); also written to ``path`` when given.

        The file is written whole or not at all: an unusable path is a ``ConfigError``
        naming it, and a failed write keeps an earlier file.
        """
        from prodml.drift._html import render_page  # noqa: PLC0415 - only reports need it

        page = render_page(self)
        if path is not None:
            write_text(path, page, "the drift report")
        return page

    def _repr_html_(self) -> str:
        from prodml.drift._html import render_fragment  # noqa: PLC0415

        return render_fragment(self)

    def __repr__(self) -> str:
        tested = sum(r.testable or r.drifted for r in self.results if r.kind != "table")
        return (
            f"DriftReport({len(self.drifted_columns)} of {tested} tested columns drifted: "
            f"{self.drifted_columns})"
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
