"""Encoder steps: the final representation of a column (one-hot, ordinal, hashing, bins)."""

from __future__ import annotations

import bisect
import itertools
import zlib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from prodml._params import NONE, Constraint, Interval, OneOf, Predicate
from prodml._quote import short_repr
from prodml.errors import SchemaError, SchemaProblem
from prodml.features._base import (
    TEXT,
    Encoder,
    Floats,
    Step,
    Text,
    check_text_values,
    first_true,
)
from prodml.features._numeric import _finite
from prodml.features._stats import Counts, Extremes, Quantiles

__all__ = ["Bucketize", "Hashing", "OneHot", "Ordinal"]

INFREQUENT = "<infrequent>"


def _unknown_error(column: str, value: object, row: int | None) -> SchemaError:
    return SchemaError(
        problems=[
            SchemaProblem(
                column,
                "unknown_category",
                f"category {short_repr(value)} was not seen at fit (handle_unknown='error')",
                row,
            )
        ]
    )


def _text_counts(state: Counts, values: Text) -> None:
    state.add(*values.counts())


def _one_hot(out: Floats, pos: np.ndarray) -> None:
    out[...] = 0.0
    rows = np.flatnonzero(pos >= 0)
    out[rows, pos[rows]] = 1.0


class OneHot(Step):
    """One output per category, plus an infrequent column when needed.

    Categories are sorted. A category is *infrequent* when seen fewer than
    ``min_frequency`` times (a count, or a fraction of the rows), or when it falls beyond
    ``max_categories`` (which counts the infrequent column, as scikit-learn does; ties
    at the cut-off drop the smaller category first). The infrequent column ``col=<infrequent>``
    exists when some category is infrequent or ``handle_unknown="infrequent"``.

    Parameters
    ----------
    columns
        Text columns.
    max_categories
        Maximum number of output columns per input column (>= 2), or None.
    min_frequency
        Minimum count (int >= 1) or fraction of rows (float in (0, 1)), or None.
    handle_unknown
        A category unseen at fit: ``"ignore"`` (all zeros), ``"infrequent"`` (the
        infrequent column) or ``"error"`` (SchemaError naming the column and value).
    """

    accepts: ClassVar[frozenset[str]] = frozenset({TEXT})
    terminal = True
    fitted_attrs: ClassVar[tuple[str, ...]] = ("categories_", "infrequent_")
    categories_: dict[str, list[str]]  # fitted: per column
    infrequent_: dict[str, list[str]]  # fitted: per column
    fitted_checks: ClassVar[dict[str, str]] = {
        "categories_": "categories",
        "infrequent_": "categories",
    }

    def __init__(
        self,
        columns: Sequence[str],
        *,
        max_categories: int | None = None,
        min_frequency: float | None = None,
        handle_unknown: str = "ignore",
    ) -> None:
        self.columns = columns
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.handle_unknown = handle_unknown

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {
            "max_categories": [NONE, Interval(int, 2, None)],
            "min_frequency": [NONE, Interval(int, 1, None), Interval(float, 0, 1, "neither")],
            "handle_unknown": [OneOf(("ignore", "infrequent", "error"))],
        }

    def new_state(self, column: str, kind: str) -> Any:
        """Counts."""
        return Counts()

    def update_state(self, state: Any, values: Any, kind: str) -> None:
        """Count the values."""
        _text_counts(state, values)

    def finalize(self, column: str, state: Any, kind: str) -> None:
        """Choose the frequent categories."""
        counts: dict[str, int] = state.counts
        cats = sorted(counts)
        check_text_values(column, cats, "category")
        floor = self.min_frequency
        if isinstance(floor, float):
            floor = floor * state.n
        keep = [c for c in cats if floor is None or counts[c] >= floor]
        with_infrequent = len(keep) < len(cats) or self.handle_unknown == "infrequent"
        cap = self.max_categories
        if cap is not None:
            limit = cap - 1 if with_infrequent or len(keep) > cap else cap
            if len(keep) > limit:
                # Stable ascending sort by count over sorted categories: ties drop the
                # smaller category first.
                order = sorted(range(len(keep)), key=lambda i: counts[keep[i]])
                dropped = {keep[i] for i in order[: len(keep) - limit]}
                keep = [c for c in keep if c not in dropped]
        kept = set(keep)
        self.categories_[column] = keep
        self.infrequent_[column] = [c for c in cats if c not in kept]

    def _has_infrequent(self, column: str) -> bool:
        return bool(self.infrequent_[column]) or self.handle_unknown == "infrequent"

    def names_out(self, column: str) -> list[str]:
        """``col=category`` for each category, then ``col=<infrequent>``."""
        names = [f"{column}={c}" for c in self.categories_[column]]
        return [*names, f"{column}={INFREQUENT}"] if self._has_infrequent(column) else names

    def _unknown_pos(self, column: str) -> int:
        if self.handle_unknown == "infrequent":
            return len(self.categories_[column])
        return -1

    def write_batch(self, column: str, values: Any, out: Floats, kind: str) -> None:
        """One-hot encode a batch."""
        lut, unknown = self._lut(column, 0)
        error = self.handle_unknown == "error"
        pos = values.lookup(lut, -2 if error else unknown)
        if error and (pos == -2).any():
            row = first_true(pos == -2)
            raise _unknown_error(column, values.value_at(row), row)
        _one_hot(out, pos)

    def _lut(self, column: str, offset: int) -> tuple[dict[str, int], int]:
        k = len(self.categories_[column])
        lut = {c: offset + i for i, c in enumerate(self.categories_[column])}
        lut.update(dict.fromkeys(self.infrequent_[column], offset + k))
        unknown = self._unknown_pos(column)
        return lut, -1 if unknown < 0 else offset + unknown

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Inline lookup."""
        ns[key + "lut"], ns[key + "unk"] = self._lut(column, offset)
        code = [f"p = {key}lut.get(v, {key}unk)", "if p >= 0: row[p] = 1.0"]
        if self.handle_unknown == "error":
            ns[key + "err"], ns[key + "col"] = _unknown_error, column
            code.append(f"else: raise {key}err({key}col, v, None)")
        return code

    def record_encoder(self, column: str, offset: int, kind: str) -> Encoder:
        """One-hot encode a value into the row."""
        k = len(self.categories_[column])
        lut = {c: offset + i for i, c in enumerate(self.categories_[column])}
        lut.update(dict.fromkeys(self.infrequent_[column], offset + k))
        unknown = self._unknown_pos(column)
        unknown_at = -1 if unknown < 0 else offset + unknown
        error = self.handle_unknown == "error"

        def enc(v: Any, row: Floats) -> None:
            p = lut.get(v, unknown_at)
            if p >= 0:
                row[p] = 1.0
            elif error:
                raise _unknown_error(column, v, None)

        return enc


class Ordinal(Step):
    """The index of the category in the sorted categories seen at fit.

    Parameters
    ----------
    columns
        Text columns.
    handle_unknown
        ``"error"`` (SchemaError naming the column and value) or ``"use_value"``.
    unknown_value
        The output for an unseen category under ``"use_value"``.
    """

    accepts: ClassVar[frozenset[str]] = frozenset({TEXT})
    terminal = True
    fitted_attrs: ClassVar[tuple[str, ...]] = ("categories_",)
    categories_: dict[str, list[str]]  # fitted: per column
    fitted_checks: ClassVar[dict[str, str]] = {"categories_": "categories"}

    def __init__(
        self,
        columns: Sequence[str],
        *,
        handle_unknown: str = "error",
        unknown_value: float = -1.0,
    ) -> None:
        self.columns = columns
        self.handle_unknown = handle_unknown
        self.unknown_value = unknown_value

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {
            "handle_unknown": [OneOf(("error", "use_value"))],
            "unknown_value": [Interval(float)],
        }

    def new_state(self, column: str, kind: str) -> Any:
        """Counts."""
        return Counts()

    def update_state(self, state: Any, values: Any, kind: str) -> None:
        """Count the values."""
        _text_counts(state, values)

    def finalize(self, column: str, state: Any, kind: str) -> None:
        """Sort the categories."""
        cats = sorted(state.counts)
        check_text_values(column, cats, "category")
        self.categories_[column] = cats

    def names_out(self, column: str) -> list[str]:
        """The column name."""
        return [column]

    def write_batch(self, column: str, values: Any, out: Floats, kind: str) -> None:
        """Encode a batch."""
        lut = {c: i for i, c in enumerate(self.categories_[column])}
        codes = values.lookup(lut, -1)
        unknown = codes < 0
        if unknown.any():
            if self.handle_unknown == "error":
                row = first_true(unknown)
                raise _unknown_error(column, values.value_at(row), row)
            out[:, 0] = np.where(unknown, float(self.unknown_value), codes)
        else:
            out[:, 0] = codes

    def record_encoder(self, column: str, offset: int, kind: str) -> Encoder:
        """Encode a value into the row."""
        lut = {c: float(i) for i, c in enumerate(self.categories_[column])}
        error = self.handle_unknown == "error"
        unknown = float(self.unknown_value)

        def enc(v: Any, row: Floats) -> None:
            code = lut.get(v)
            if code is None:
                if error:
                    raise _unknown_error(column, v, None)
                code = unknown
            row[offset] = code

        return enc


MAX_HASH_FEATURES = 2**20
"""Most outputs a :class:`Hashing` step makes per column (a ConfigError above)."""
MAX_BINS = 10_000
"""Most bins a :class:`Bucketize` step makes per column (a ConfigError above)."""


def _bucket(value: str, n: int) -> int:
    return zlib.crc32(value.encode("utf-8")) % n


class Hashing(Step):
    """The hashing trick: a 1 in output ``crc32(utf-8 value) % n_features``.

    Stable across processes and machines (crc32, not Python's salted ``hash``); nothing
    is fitted, so unseen categories need no policy.

    Parameters
    ----------
    columns
        Text columns.
    n_features
        Number of output columns per input column, at most 2**20 (1,048,576,
        scikit-learn's default for its hashers): outputs are dense, so each record
        allocates ``8 * n_features`` bytes per hashed column.
    """

    accepts: ClassVar[frozenset[str]] = frozenset({TEXT})
    terminal = True

    def __init__(self, columns: Sequence[str], *, n_features: int = 16) -> None:
        self.columns = columns
        self.n_features = n_features

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {"n_features": [Interval(int, 1, MAX_HASH_FEATURES)]}

    def names_out(self, column: str) -> list[str]:
        """``col#0`` ... ``col#{n_features - 1}``."""
        return [f"{column}#{i}" for i in range(self.n_features)]

    def write_batch(self, column: str, values: Any, out: Floats, kind: str) -> None:
        """Hash a batch, one hash per distinct value."""
        n = self.n_features
        buckets = np.array([_bucket(v, n) for v in values.values] + [-1], dtype=np.int64)
        _one_hot(out, buckets[values.codes])

    def record_encoder(self, column: str, offset: int, kind: str) -> Encoder:
        """Hash a value into the row."""
        n = self.n_features

        def enc(v: Any, row: Floats) -> None:
            row[offset + _bucket(v, n)] = 1.0

        return enc


def _edges(value: object) -> bool:
    if not isinstance(value, list | tuple) or not value or len(value) >= MAX_BINS:
        return False
    xs = [float(v) for v in value]
    return all(a < b for a, b in itertools.pairwise(xs)) and all(np.isfinite(x) for x in xs)


class Bucketize(Step):
    """The bin of each value, between cut points (``edges_``).

    Bin ``i`` holds values with ``edges_[i-1] <= x < edges_[i]``. Cut points are given
    (``edges``), at the quantiles ``i / n_bins`` (``"quantile"``, numpy "linear",
    exact up to 2**20 values per column, then sketched), or evenly spaced between the
    minimum and maximum (``"uniform"``), as scikit-learn's KBinsDiscretizer. Fitted
    cuts that repeat, or equal the minimum or maximum of the data, are dropped, so
    every bin holds some fitted value (fewer than ``n_bins`` bins when the data has
    ties); a constant column has no cut and one bin, output 0, as in scikit-learn.

    Parameters
    ----------
    columns
        Number columns.
    n_bins
        Number of bins for the fitted strategies, at most 10,000; given ``edges``
        make at most 10,000 bins too.
    strategy
        ``"quantile"`` or ``"uniform"``; ignored when ``edges`` is given.
    edges
        Strictly increasing finite cut points, or None to fit them.
    encode
        ``"ordinal"`` (one output: the bin index) or ``"onehot"`` (one output per bin).
    """

    fitted_attrs: ClassVar[tuple[str, ...]] = ("edges_",)
    edges_: dict[str, list[float]]  # fitted: per column
    fitted_checks: ClassVar[dict[str, str]] = {"edges_": "edges"}
    terminal = True

    def __init__(
        self,
        columns: Sequence[str],
        *,
        n_bins: int = 5,
        strategy: str = "quantile",
        edges: Sequence[float] | None = None,
        encode: str = "ordinal",
    ) -> None:
        self.columns = columns
        self.n_bins = n_bins
        self.strategy = strategy
        self.edges = edges
        self.encode = encode

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {
            "n_bins": [Interval(int, 2, MAX_BINS)],
            "strategy": [OneOf(("quantile", "uniform"))],
            "edges": [
                NONE,
                Predicate(
                    _edges, f"a strictly increasing list of finite numbers (fewer than {MAX_BINS})"
                ),
            ],
            "encode": [OneOf(("ordinal", "onehot"))],
        }

    def new_state(self, column: str, kind: str) -> Any:
        """Quantiles or Extremes, unless the edges are given."""
        if self.edges is not None:
            return None
        return Quantiles() if self.strategy == "quantile" else Extremes()

    def finalize(self, column: str, state: Any, kind: str) -> None:
        """Compute the cut points."""
        if self.edges is not None:
            self.edges_[column] = [float(v) for v in self.edges]
            return
        if state.n == 0:
            raise SchemaError(problems=[SchemaProblem(column, "null", "no non-null values to bin")])
        qs = [i / self.n_bins for i in range(1, self.n_bins)]
        if self.strategy == "quantile":
            low, *cuts, high = state.quantiles([0.0, *qs, 1.0])
        else:
            low, high = state.low, state.high
            # linspace steps by (high - low) / n_bins: refuse a range beyond float64.
            _finite(column, high - low, "range")
            cuts = np.linspace(low, high, self.n_bins + 1)[1:-1].tolist()
        # A cut at the minimum or the maximum would make a bin no fitted value falls in
        # (below the minimum, or between a cut and the maximum): drop it, and duplicates,
        # as KBinsDiscretizer drops its empty bins. A constant column gets one bin.
        self.edges_[column] = sorted({c for c in cuts if low < c < high})

    def names_out(self, column: str) -> list[str]:
        """The column name (ordinal) or ``col_bin{i}`` (one-hot)."""
        if self.encode == "ordinal":
            return [column]
        return [f"{column}_bin{i}" for i in range(len(self.edges_[column]) + 1)]

    def encode_batch(self, column: str, values: Floats) -> np.ndarray:
        """Bin index of each value."""
        return np.searchsorted(np.asarray(self.edges_[column]), values, side="right")

    def write_batch(self, column: str, values: Any, out: Floats, kind: str) -> None:
        """Bin a batch."""
        bins = self.encode_batch(column, values)
        if self.encode == "ordinal":
            out[:, 0] = bins
        else:
            _one_hot(out, bins)

    def record_encoder(self, column: str, offset: int, kind: str) -> Encoder:
        """Bin a value into the row."""
        edges = list(self.edges_[column])
        ordinal = self.encode == "ordinal"

        def enc(v: Any, row: Floats) -> None:
            b = bisect.bisect_right(edges, v)
            if ordinal:
                row[offset] = float(b)
            else:
                row[offset + b] = 1.0

        return enc
