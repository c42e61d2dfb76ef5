"""Value steps: imputation and scaling (fitted statistics)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from prodml._params import NONE, Constraint, Interval, OneOf, Predicate, TypeOf
from prodml._quote import short_repr
from prodml._state import finite_float
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.features import _overflow
from prodml.features._base import (
    NUMBER,
    TEXT,
    Step,
    Text,
    ValueFn,
    check_text_values,
)
from prodml.features._stats import Counts, Extremes, Moments, Quantiles

__all__ = ["Impute", "MinMaxScale", "RobustScale", "StandardScale"]


_TINY_RANGE = 10 * float(np.finfo(np.float64).eps)
"""A MinMaxScale or RobustScale range below this scales by 1, as scikit-learn's (10 * eps)."""


def _no_values(column: str, what: str) -> SchemaError:
    return SchemaError(
        problems=[SchemaProblem(column, "null", f"no non-null values to compute the {what} from")]
    )


def _finite(column: str, value: float, what: str) -> float:
    if not math.isfinite(value):
        raise SchemaError(
            problems=[
                SchemaProblem(
                    column,
                    "range",
                    f"the {what} is {short_repr(value)}: values too large for float64",
                )
            ]
        )
    return value


class Impute(Step):
    """Replace nulls (None, NaN, NaT, pd.NA) with a statistic or a constant.

    Parameters
    ----------
    columns
        Columns to impute; number or text columns.
    strategy
        ``"mean"``, ``"median"`` (numbers), ``"most_frequent"`` or ``"constant"``.
        Medians are exact up to 2**20 non-null values per column, then come from a
        mergeable sketch (see :class:`prodml.features._stats.Quantiles`).
    fill_value
        The constant for ``strategy="constant"``; defaults to ``0.0`` for numbers and
        ``"missing"`` for text.

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.features import FeaturePipeline, steps
    >>> pipe = FeaturePipeline([steps.Impute(["x"], strategy="median")])
    >>> pipe.fit(pd.DataFrame({"x": [1.0, None, 3.0, 10.0]})).transform_record({"x": None})
    array([3.])
    """

    accepts: ClassVar[frozenset[str]] = frozenset({NUMBER, TEXT})
    takes_nulls = True
    fitted_attrs: ClassVar[tuple[str, ...]] = ("statistics_",)
    statistics_: dict[str, Any]  # fitted: per column, the fill value
    fitted_checks: ClassVar[dict[str, str]] = {"statistics_": "fill"}

    def __init__(
        self, columns: Sequence[str], *, strategy: str = "mean", fill_value: Any = None
    ) -> None:
        self.columns = columns
        self.strategy = strategy
        self.fill_value = fill_value

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {
            "strategy": [OneOf(("mean", "median", "most_frequent", "constant"))],
            "fill_value": [NONE, Interval(float), TypeOf(str, "a str")],
        }

    def out_kind(self, column: str, kind: str) -> str:
        """Kind is kept; mean and median need numbers."""
        super().out_kind(column, kind)
        if kind == TEXT and self.strategy in ("mean", "median"):
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        column,
                        "type",
                        f"Impute strategy {short_repr(self.strategy)} needs numbers; the column "
                        "holds "
                        "text (use 'most_frequent' or 'constant')",
                    )
                ]
            )
        fill = self.fill_value
        if self.strategy == "constant" and fill is not None:
            if kind == TEXT and not isinstance(fill, str):
                raise ConfigError(
                    f"Impute fill_value {short_repr(fill)} is not a str for text column "
                    f"{short_repr(column)}"
                )
            if kind == NUMBER and isinstance(fill, str):
                raise ConfigError(
                    f"Impute fill_value {short_repr(fill)} is not a number for column "
                    f"{short_repr(column)}"
                )
        return kind

    def new_state(self, column: str, kind: str) -> Any:
        """Moments, Quantiles or Counts, by strategy."""
        if self.strategy == "mean":
            return Moments()
        if self.strategy == "median":
            return Quantiles()
        if self.strategy == "most_frequent":
            return Counts()
        return None

    def update_state(self, state: Any, values: Any, kind: str) -> None:
        """Feed the non-null values."""
        if kind == NUMBER:
            state.update(values[~np.isnan(values)])
            return
        state.add(*values.counts())

    def finalize(self, column: str, state: Any, kind: str) -> None:
        """Compute the fill value."""
        if self.strategy == "constant":
            fill = self.fill_value
            value: Any = fill if fill is not None else (0.0 if kind == NUMBER else "missing")
            check_text_values(column, [value], "fill_value")
            self.statistics_[column] = float(value) if kind == NUMBER else value
            return
        if state.n == 0:
            raise _no_values(column, self.strategy.replace("_", " ") + " value")
        if self.strategy == "mean":
            self.statistics_[column] = _finite(column, state.mean(), "mean")
        elif self.strategy == "median":
            self.statistics_[column] = state.quantiles([0.5])[0]
        else:
            value = state.most_frequent()
            check_text_values(column, [value], "most frequent value")
            self.statistics_[column] = value

    def transform_values(self, column: str, values: Any, kind: str) -> Any:
        """Fill the nulls."""
        fill = self.statistics_[column]
        if kind == NUMBER:
            nan = np.isnan(values)
            return np.where(nan, fill, values) if nan.any() else values
        nulls = values.codes < 0
        if not nulls.any():
            return values
        try:
            code, table = values.values.index(fill), values.values
        except ValueError:
            code, table = len(values.values), [*values.values, fill]
        return Text(np.where(nulls, code, values.codes), table)

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Inline fill."""
        ns[key + "fill"] = self.statistics_[column]
        test = "v != v" if kind == NUMBER else "v is None"
        return [f"if {test}: v = {key}fill"]

    def record_fn(self, column: str, kind: str) -> ValueFn:
        """Fill a null."""
        fill = self.statistics_[column]
        if kind == NUMBER:
            return lambda v: fill if v != v else v  # noqa: PLR0124 - the fastest NaN test
        return lambda v: fill if v is None else v


class StandardScale(Step):
    """Centre on the mean and divide by the (population) standard deviation.

    ``(x - mean_) / scale_``, as scikit-learn's StandardScaler. Fitting is
    chunking-independent (see :class:`prodml.features._stats.Moments`).

    A constant or near-constant column scales by 1 (``scale_`` is 1.0, the output
    ``x - mean_``), as scikit-learn's: near-constant means a variance no larger than the
    rounding error of computing it, ``var <= n * eps * var + (n * eps * mean) ** 2``
    (:meth:`~prodml.features._stats.Moments.near_constant`), such as 1e9 with a spread
    of 1e-7; dividing by such a deviation would blow rounding noise up to unit size.
    prodml evaluates the bound exactly, so it depends on the spread relative to the
    values, not on their magnitude. scikit-learn evaluates it in float64: for spreads
    below about 1e-154 its variance underflows to 0 (scale 1), above about 1e154 it
    overflows (scale 1, or NaN); prodml divides such columns by their deviation. A
    pipeline fitted before this rule keeps the scale it saved.

    Parameters
    ----------
    columns
        Number columns.
    with_mean, with_std
        Whether to centre and whether to scale.

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.features import FeaturePipeline, steps
    >>> df = pd.DataFrame({"x": [1e9, 1e9 + 2**-23, 1e9 + 2**-22, 1e9]})
    >>> pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(df)
    >>> pipe.steps[0].scale_
    {'x': 1.0}
    >>> pipe.transform_record({"x": 1e9 + 2**-22})
    array([1.1920929e-07])
    """

    fitted_attrs: ClassVar[tuple[str, ...]] = ("mean_", "scale_")
    mean_: dict[str, float]  # fitted: per column
    scale_: dict[str, float]  # fitted: per column
    fitted_checks: ClassVar[dict[str, str]] = {"mean_": "finite", "scale_": "scale"}

    def __init__(
        self, columns: Sequence[str], *, with_mean: bool = True, with_std: bool = True
    ) -> None:
        self.columns = columns
        self.with_mean = with_mean
        self.with_std = with_std

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {"with_mean": [TypeOf(bool, "a bool")], "with_std": [TypeOf(bool, "a bool")]}

    def new_state(self, column: str, kind: str) -> Any:
        """Moments."""
        return Moments()

    def finalize(self, column: str, state: Any, kind: str) -> None:
        """Mean and scale."""
        if state.n == 0:
            raise _no_values(column, "mean")
        std = _finite(column, state.std(), "standard deviation")
        mean = state.mean()
        self.mean_[column] = mean if self.with_mean else 0.0
        # The bound uses the column's mean even without centring, as scikit-learn's.
        scaled = self.with_std and std > 0.0 and not state.near_constant(std, mean)
        self.scale_[column] = std if scaled else 1.0

    def transform_values(self, column: str, values: Any, kind: str) -> Any:
        """Scale; a value scaled beyond float64 is a SchemaError naming step and column."""
        return _overflow.divided(
            values, self.mean_[column], self.scale_[column], column, "StandardScale"
        )

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Inline scaling, as the batch path (overflow included)."""
        m = ns[key + "m"] = self.mean_[column]
        s = ns[key + "s"] = self.scale_[column]
        redo = lambda v: v / s - m / s  # noqa: E731 - the batch path's fallback
        return _overflow.record_code(
            ns, key, f"(v - {key}m) / {key}s", redo, column=column, step="StandardScale"
        )

    def record_fn(self, column: str, kind: str) -> ValueFn:
        """Scale one value."""
        m, s = self.mean_[column], self.scale_[column]
        return _overflow.record_fn(
            lambda v: (v - m) / s, lambda v: v / s - m / s, column, "StandardScale"
        )


def _pair(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(finite_float(v) is not None for v in value)  # NaN, inf, 10**400 are not
        and float(value[0]) < float(value[1])
    )


class MinMaxScale(Step):
    """Map ``[min, max]`` seen at fit onto ``feature_range``.

    ``(x - data_min_) * scale_ + low`` with ``scale_ = (high - low) / (max - min)``.

    A constant or near-constant column, whose ``max - min`` is below ``10 * eps``
    (2.2e-15, scikit-learn's threshold), takes ``scale_ = high - low`` as scikit-learn's
    MinMaxScaler: its fitted values all map to ``low``. The threshold is absolute, as
    scikit-learn's: a column of values near 1e-20 is constant here, one of 1e9 with a
    spread of 1e-7 is not. A pipeline fitted before this rule keeps the scale it saved
    (1.0 for a constant column, whatever ``feature_range``).

    Parameters
    ----------
    columns
        Number columns.
    feature_range
        ``(low, high)`` of the output, ``low < high``.
    clip
        Bound the output to ``feature_range``, as scikit-learn's
        ``MinMaxScaler(clip=True)``, bit for bit: ``x * scale_ + (low - data_min_ *
        scale_)``, then clipped. A value the scaling takes beyond float64 is then the
        bound it passed, not an error. Added after the first saved format: a pipeline
        saved without it loads with ``clip=False`` and keeps its fingerprint.
    """

    fitted_attrs: ClassVar[tuple[str, ...]] = ("data_min_", "scale_")
    data_min_: dict[str, float]  # fitted: per column
    scale_: dict[str, float]  # fitted: per column
    fitted_checks: ClassVar[dict[str, str]] = {"data_min_": "finite", "scale_": "scale"}
    added_params: ClassVar[dict[str, Any]] = {"clip": False}

    def __init__(
        self,
        columns: Sequence[str],
        *,
        feature_range: Sequence[float] = (0.0, 1.0),
        clip: bool = False,
    ) -> None:
        self.columns = columns
        self.feature_range = feature_range
        self.clip = clip

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {
            "feature_range": [Predicate(_pair, "a (low, high) pair with low < high")],
            "clip": [TypeOf(bool, "a bool")],
        }

    def new_state(self, column: str, kind: str) -> Any:
        """Extremes."""
        return Extremes()

    def finalize(self, column: str, state: Any, kind: str) -> None:
        """Minimum and scale."""
        if state.n == 0:
            raise _no_values(column, "range")
        low, high = (float(v) for v in self.feature_range)
        span = _finite(column, state.high - state.low, "range")
        self.data_min_[column] = state.low
        scale = (high - low) / span if span >= _TINY_RANGE else high - low
        if not 0.0 < scale < math.inf:  # an extreme feature_range: (0, 1e-320), (-1e308, 1e308)
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        column,
                        "range",
                        f"the range {short_repr(span)} maps onto feature_range with a scale "
                        f"of {short_repr(scale)}: outside float64 (rescale the column)",
                    )
                ]
            )
        self.scale_[column] = scale

    def _clip_terms(self, column: str) -> tuple[float, float, float, float, float]:
        """``(min, scale, shift, low, high)``; shift is ``low - min * scale`` (maybe inf)."""
        m, s = self.data_min_[column], self.scale_[column]
        low, high = (float(v) for v in self.feature_range)
        return m, s, low - m * s, low, high

    def transform_values(self, column: str, values: Any, kind: str) -> Any:
        """Scale; a value scaled beyond float64 is a SchemaError naming step and column.

        With ``clip``, scikit-learn's formula and clipping: an overflow is its bound.
        """
        if self.clip:
            m, s, shift, low, high = self._clip_terms(column)
            with np.errstate(all="ignore"):
                if math.isfinite(shift):
                    out = values * s
                    out += shift
                else:  # min * scale beyond float64 (a huge feature_range): no NaN this way
                    out = values - m
                    out *= s
                    out += low
            # An overflow is an infinity of the sign of the true value, so it clips right.
            return np.clip(out, low, high, out=out)
        m, s, low = self.data_min_[column], self.scale_[column], float(self.feature_range[0])
        return _overflow.multiplied(values, m, s, low, column=column, step="MinMaxScale")

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Inline scaling, as the batch path (overflow and clipping included)."""
        if self.clip:
            m, s, shift, low, high = self._clip_terms(column)
            ns.update({key + "m": m, key + "s": s, key + "sh": shift})
            ns.update({key + "lo": low, key + "hi": high})
            first = (
                f"v = v * {key}s + {key}sh"
                if math.isfinite(shift)
                else f"v = (v - {key}m) * {key}s + {key}lo"
            )
            # np.clip's order and comparisons: -0.0 stays -0.0 at a bound of 0.0.
            return [first, f"if v < {key}lo: v = {key}lo", f"if v > {key}hi: v = {key}hi"]
        m = ns[key + "m"] = self.data_min_[column]
        s = ns[key + "s"] = self.scale_[column]
        low = ns[key + "low"] = float(self.feature_range[0])
        redo = lambda v: v * s - m * s + low  # noqa: E731 - the batch path's fallback
        first = f"(v - {key}m) * {key}s + {key}low"
        return _overflow.record_code(ns, key, first, redo, column=column, step="MinMaxScale")

    def record_fn(self, column: str, kind: str) -> ValueFn:
        """Scale one value."""
        if self.clip:
            m, s, shift, low, high = self._clip_terms(column)
            finite = math.isfinite(shift)

            def clipped(v: float) -> float:
                v = v * s + shift if finite else (v - m) * s + low
                # max and min keep v on a tie (-0.0 at 0.0), as np.clip and record_code.
                return min(max(v, low), high)

            return clipped
        m, s, low = self.data_min_[column], self.scale_[column], float(self.feature_range[0])
        first = lambda v: (v - m) * s + low  # noqa: E731
        return _overflow.record_fn(first, lambda v: v * s - m * s + low, column, "MinMaxScale")


class RobustScale(Step):
    """Centre on the median and divide by an inter-quantile range.

    ``(x - center_) / scale_``; quantiles use numpy's "linear" definition (as
    scikit-learn's RobustScaler), exact up to 2**20 values per column, then sketched.

    A range below ``10 * eps`` (2.2e-15, scikit-learn's threshold) scales by 1, as
    scikit-learn's RobustScaler: a constant or near-constant column (or one whose middle
    values are equal up to rounding) gives ``x - center_``. The threshold is absolute, as
    scikit-learn's. A pipeline fitted before this rule keeps the scale it saved.

    Parameters
    ----------
    columns
        Number columns.
    quantile_range
        Percentiles ``(q_low, q_high)`` of the range, in ``[0, 100]``.
    """

    fitted_attrs: ClassVar[tuple[str, ...]] = ("center_", "scale_")
    center_: dict[str, float]  # fitted: per column
    scale_: dict[str, float]  # fitted: per column
    fitted_checks: ClassVar[dict[str, str]] = {"center_": "finite", "scale_": "scale"}

    def __init__(
        self, columns: Sequence[str], *, quantile_range: Sequence[float] = (25.0, 75.0)
    ) -> None:
        self.columns = columns
        self.quantile_range = quantile_range

    def _constraints(self) -> dict[str, list[Constraint]]:
        ok = Predicate(
            lambda v: _pair(v) and v[0] >= 0 and v[1] <= 100,  # type: ignore[index]
            "a (low, high) pair of percentiles with 0 <= low < high <= 100",
        )
        return {"quantile_range": [ok]}

    def new_state(self, column: str, kind: str) -> Any:
        """Quantiles."""
        return Quantiles()

    def finalize(self, column: str, state: Any, kind: str) -> None:
        """Median and range."""
        if state.n == 0:
            raise _no_values(column, "median")
        lo, hi = (float(v) / 100 for v in self.quantile_range)
        qs = [0.0, lo, 0.5, hi, 1.0]
        least, q_lo, med, q_hi, most = state.quantiles(qs)
        spread = _finite(column, q_hi - q_lo, "range")
        scale = spread if spread >= _TINY_RANGE else 1.0
        # The range ignores outliers by design, so a tiny one can put an outlier of the
        # fitted data beyond float64 once scaled (2.5e-11 against -8.2e300): an infinity
        # in the features. Refused, naming the column, as an overflowing spread is.
        far = max(abs(most - med), abs(least - med))
        if not math.isfinite(far / scale):
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        column,
                        "range",
                        f"scaled by its interquartile range ({scale:.3g}), a value "
                        f"{far:.3g} from the median is beyond float64; clip the column first "
                        "(Clip) or scale it with StandardScale",
                    )
                ]
            )
        self.center_[column] = med
        self.scale_[column] = scale

    def transform_values(self, column: str, values: Any, kind: str) -> Any:
        """Scale; a value scaled beyond float64 is a SchemaError naming step and column."""
        return _overflow.divided(
            values, self.center_[column], self.scale_[column], column, "RobustScale"
        )

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Inline scaling, as the batch path (overflow included)."""
        c = ns[key + "c"] = self.center_[column]
        s = ns[key + "s"] = self.scale_[column]
        redo = lambda v: v / s - c / s  # noqa: E731 - the batch path's fallback
        return _overflow.record_code(
            ns, key, f"(v - {key}c) / {key}s", redo, column=column, step="RobustScale"
        )

    def record_fn(self, column: str, kind: str) -> ValueFn:
        """Scale one value."""
        c, s = self.center_[column], self.scale_[column]
        return _overflow.record_fn(
            lambda v: (v - c) / s, lambda v: v / s - c / s, column, "RobustScale"
        )
