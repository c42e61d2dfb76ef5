"""What an explanation is: one record's attributions, a batch's, and their report fragments."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodml._markup import html_text, md_text
from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = ["Attributions", "Explanation", "importance_html", "importance_markdown"]

_SCALES = {
    "margin": "margin: log-odds for a classifier, or its decision function",
    "probability": "probability",
    "raw": "raw model output",
    "log": "log of the model output: a log-link regressor, exp(prediction) is its output",
}


def _column_format(values: Iterable[float], sign: str = "") -> Callable[[float], str]:
    """One format for a table column: the same decimals on every row, so they line up.

    The decimals show the largest magnitude with four significant digits (``1.963``,
    ``0.4713`` -> ``1.963``, ``0.471``); a column whose largest magnitude is below 1e-4 or
    at least 1e6 keeps four significant digits per value in scientific form instead.

    Examples
    --------
    >>> f = _column_format([1.9634, -0.09294], sign="+")
    >>> f(1.9634), f(-0.09294)
    ('+1.963', '-0.093')
    >>> _column_format([2e-7])(2e-7)
    '2e-07'
    """
    peak = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if peak and not 1e-4 <= peak < 1e6:
        return lambda v: f"{v:{sign}.4g}"
    decimals = 3 - math.floor(math.log10(peak)) if peak else 3
    decimals = min(max(decimals, 0), 7)
    return lambda v: f"{v:{sign}.{decimals}f}"


@dataclass(frozen=True, slots=True)
class Explanation:
    """Attributions of one prediction, per raw input column.

    ``base + sum(values.values()) == prediction`` (to 1e-9) on the output ``scale``.
    Unlike ``shap.Explanation``, the record's raw values are not copied in: explanations
    get logged and shown, and the record may hold data about a person.

    Attributes
    ----------
    base
        The expected model output (the base value) on ``scale``.
    values
        Raw input column -> attribution, in the pipeline's input order.
    prediction
        The model output for the record on ``scale``.
    scale
        ``"margin"`` (log-odds), ``"probability"``, ``"raw"`` (the model's output) or
        ``"log"`` (the log of the output of a log-link regressor: Poisson, Gamma,
        Tweedie; ``exp(prediction)`` is what ``predict`` returns).
    method
        ``"linear"``, ``"tree"`` or ``"sampling"``.
    error
        For ``"sampling"``: the standard error of each value (the sampling error); None
        for the exact methods.
    """

    base: float
    values: dict[str, float]
    prediction: float
    scale: str
    method: str
    error: dict[str, float] | None = None

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` columns with the largest absolute attributions, largest first."""
        items = sorted(self.values.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        return items[:k]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields."""
        out: dict[str, Any] = {
            "base": self.base,
            "values": dict(self.values),
            "prediction": self.prediction,
            "scale": self.scale,
            "method": self.method,
        }
        if self.error is not None:
            out["error"] = dict(self.error)
        return out

    def to_markdown(self, top: int = 5) -> str:
        """A markdown fragment: the prediction and its top reasons (a table)."""
        lines = [
            (
                f"Prediction {self.prediction:.4g} ({_SCALES[self.scale]}); "
                f"base value {self.base:.4g}."
            ),
            "",
            "| column | contribution |",
            "|---|---:|",
        ]
        items = self.top(top)
        fmt = _column_format((v for _, v in items), sign="+")
        lines += [f"| {md_text(c)} | {fmt(v)} |" for c, v in items]
        return "\n".join(lines) + "\n"

    def to_html(self, top: int = 5) -> str:
        """An HTML fragment (a ``<table>``): the prediction and its top reasons."""
        items = self.top(top)
        fmt = _column_format((v for _, v in items), sign="+")
        rows = "".join(
            f'<tr><td>{html_text(c)}</td><td style="text-align:right">{fmt(v)}</td></tr>'
            for c, v in items
        )
        caption = (
            f"Prediction {self.prediction:.4g} ({html.escape(_SCALES[self.scale])}); "
            f"base value {self.base:.4g}"
        )
        return (
            f'<table class="prodml-explanation"><caption>{caption}</caption>'
            f"<thead><tr><th>column</th><th>contribution</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )


@dataclass(frozen=True)
class Attributions:
    """Attributions of a batch: one row per input row, one column per raw input column.

    Attributes
    ----------
    values
        ``(rows, columns)`` float64 array.
    columns
        Raw input column names, in the pipeline's input order.
    base
        The base value, shared by every row.
    prediction
        ``(rows,)`` model outputs; ``base + values.sum(axis=1) == prediction`` to 1e-9.
    scale, method
        As in :class:`Explanation`.
    error
        ``(rows, columns)`` standard errors for ``"sampling"``, else None.
    """

    values: npt.NDArray[np.float64]
    columns: list[str]
    base: float
    prediction: npt.NDArray[np.float64]
    scale: str
    method: str
    error: npt.NDArray[np.float64] | None = None

    def to_frame(self, index: Any = None) -> pd.DataFrame:
        """The values as a DataFrame (one column per raw input column)."""
        return pd.DataFrame(self.values, columns=self.columns, index=index)

    def row(self, i: int) -> Explanation:
        """Row ``i`` as an :class:`Explanation`."""
        vals = self.values[i].tolist()
        error = None
        if self.error is not None:
            error = dict(zip(self.columns, self.error[i].tolist(), strict=True))
        return Explanation(
            self.base,
            dict(zip(self.columns, vals, strict=True)),
            float(self.prediction[i]),
            self.scale,
            self.method,
            error,
        )

    def importance(self) -> dict[str, float]:
        """Mean absolute attribution per column, largest first."""
        mean = np.abs(self.values).mean(axis=0) if len(self.values) else np.zeros(len(self.columns))
        pairs = sorted(zip(self.columns, mean.tolist(), strict=True), key=lambda kv: -kv[1])
        return dict(pairs)


def _importance_items(importance: object, top: object) -> list[tuple[str, float]]:
    if not isinstance(importance, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in importance.items()
    ):
        raise ConfigError(
            "importance must be a mapping of column name to number (Explainer.importance). "
            f"Got {type(importance).__name__} instead.",
            parameter="importance",
        )
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(
            f"top must be an int >= 1. Got {short_repr(top)} instead.", parameter="top"
        )
    return sorted(importance.items(), key=lambda kv: -kv[1])[:top]


def importance_markdown(importance: Mapping[str, float], top: int = 10) -> str:
    """A markdown table of global importance (mean absolute attribution), largest first.

    Examples
    --------
    >>> print(importance_markdown({"plan": 0.42, "age": 0.1}), end="")
    | column | mean abs. contribution |
    |---|---:|
    | plan | 0.4200 |
    | age | 0.1000 |
    """
    items = _importance_items(importance, top)
    fmt = _column_format(v for _, v in items)
    lines = ["| column | mean abs. contribution |", "|---|---:|"]
    lines += [f"| {md_text(c)} | {fmt(v)} |" for c, v in items]
    return "\n".join(lines) + "\n"


def importance_html(importance: Mapping[str, float], top: int = 10) -> str:
    """An HTML ``<table>`` fragment of global importance, largest first, with bars.

    Examples
    --------
    >>> importance_html({"plan": 0.5, "age": 0.25}).count("<tr>")
    3
    """
    items = _importance_items(importance, top)
    peak = max([v for _, v in items] + [0.0]) or 1.0
    fmt = _column_format(v for _, v in items)
    rows = "".join(
        f'<tr><td>{html_text(c)}</td><td style="text-align:right">{fmt(v)}</td>'
        f'<td><div style="background:#4a78b5;height:0.8em;width:{100 * v / peak:.0f}px">'
        "</div></td></tr>"
        for c, v in items
    )
    return (
        '<table class="prodml-importance"><thead><tr><th>column</th>'
        "<th>mean abs. contribution</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
