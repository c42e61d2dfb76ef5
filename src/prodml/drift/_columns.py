"""Column states of a :class:`~prodml.drift.Profile`: exact values, a log-bucket sketch, counts.

The sketch maps each non-zero value ``x`` to the integer bucket ``ceil(log|x| / log(gamma))``
with ``gamma = (1 + a) / (1 - a)`` (``a`` the relative accuracy), signed and offset so that
keys sort like the values; the bucket's representative is within ``a * |x|`` of ``x``.

Integer columns keep their exact values as int64 (float64 holds integers exactly only up to
2**53: 2**53 and 2**53 + 1 are one float), so the statistics on them compare integers. The
sketch is float by nature (log buckets): an integer column past ``max_exact`` is sketched
from its values as float64, as is a column that mixes integer and float chunks.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml.privacy import is_token, token_strings

__all__ = ["CategoricalColumn", "ColumnState", "NumericColumn"]

_OFFSET = 1 << 40  # keeps sketch keys of positive values > 0 and of negatives < 0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
UIntArray = npt.NDArray[np.uint64]
Values = npt.NDArray[Any]  # float64, or int64 for an integer column (exact)


def _encode(arr: npt.NDArray[Any]) -> str:
    return base64.b64encode(
        np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
    ).decode()


def _decode(text: str, dtype: str) -> npt.NDArray[Any]:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).astype(
        dtype
    )


@dataclass
class NumericColumn:
    """Summary of a numeric (or datetime, as epoch seconds) column.

    Exact while at most ``max_exact`` values were seen (``points``, sorted once
    finalised; int64 for an integer column, float64 otherwise, and float64 as soon as
    integer and float values meet); beyond that a sketch of counts per log bucket
    (``keys``, ``counts``) in which every value is represented within a relative error
    ``relative_accuracy``.
    ``pure`` holds, per bucket, its one value when every value it received was the same,
    else NaN: statistics over pure buckets are exact (the sketch's error bound is 0 there).
    """

    kind: str
    n_null: int = 0
    pending: list[Values] = field(default_factory=list)
    points: Values | None = None
    keys: IntArray | None = None
    counts: IntArray | None = None
    pure: FloatArray | None = None
    released: int = 0
    std: float | None = None  # cached by the detector; cleared by every addition

    @property
    def exact(self) -> bool:
        """Whether every value is held exactly (no sketch)."""
        return self.keys is None

    @property
    def count(self) -> int:
        """Number of non-null values."""
        if self.counts is not None:
            return int(self.counts.sum())
        held = self.released + (0 if self.points is None else self.points.size)
        return held + sum(p.size for p in self.pending)

    def release(self) -> None:
        """Free the values once compared, keeping the count (the detector's last step)."""
        self.finalize()
        if self.points is not None:
            self.released += self.points.size
            self.points = None

    def add(self, x: Values, max_exact: int, log_gamma: float) -> None:
        """Add finite values, float64 or int64 (already copied: the column owns them)."""
        if x.size == 0:
            return
        self.std = None
        if self.keys is not None:
            self._add_keys(*_sketch(x, log_gamma))
            return
        self.pending.append(x)
        if self.count > max_exact:
            # Unsorted: the sketch counts buckets without sorting the values (see _sketch).
            parts = ([] if self.points is None else [self.points]) + self.pending
            values = parts[0] if len(parts) == 1 else np.concatenate(parts)
            self.points, self.pending = None, []
            self.keys, self.counts, self.pure = _sketch(values, log_gamma)

    def _add_keys(self, keys: IntArray, counts: IntArray, pure: FloatArray) -> None:
        assert self.keys is not None  # noqa: S101
        assert self.counts is not None  # noqa: S101
        assert self.pure is not None  # noqa: S101
        self.std = None
        k = np.concatenate([self.keys, keys])
        c = np.concatenate([self.counts, counts])
        v = np.concatenate([self.pure, pure])
        self.keys, self.counts, self.pure = _merge_sketches(k, c, v)

    def finalize(self) -> None:
        """Sort pending exact values into ``values``."""
        if self.keys is not None or not self.pending:
            return
        parts = ([] if self.points is None else [self.points]) + self.pending
        # int64 parts stay int64; an int64 and a float64 part make float64 (numpy's rule).
        # Empty parts hold no value of either kind (a saved empty column reads as float).
        parts = [p for p in parts if p.size] or parts[:1]
        values = parts[0] if len(parts) == 1 else np.concatenate(parts)
        values.sort()
        self.points, self.pending = values, []

    def sample(self, log_gamma: float) -> tuple[FloatArray, IntArray | None]:
        """Sorted values as float64 and, for a sketch, the count of each (representatives)."""
        values, counts = self.exact_sample(log_gamma)
        return values.astype(np.float64, copy=False), counts

    def exact_sample(self, log_gamma: float) -> tuple[Values, IntArray | None]:
        """:meth:`sample`, with an integer column's exact values as int64."""
        self.finalize()
        if self.keys is None:
            return (self.points if self.points is not None else np.empty(0)), None
        assert self.counts is not None  # noqa: S101
        return _representatives(self.keys, log_gamma), self.counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state."""
        self.finalize()
        out: dict[str, Any] = {"kind": self.kind, "n_null": self.n_null}
        if self.keys is None:
            points = self.points if self.points is not None else np.empty(0)
            out["int_points" if points.dtype == np.int64 else "points"] = _encode(points)
        else:
            assert self.counts is not None  # noqa: S101
            assert self.pure is not None  # noqa: S101
            out["keys"], out["counts"] = _encode(self.keys), _encode(self.counts)
            out["pure"] = _encode(self.pure)
        return out


class CategoricalColumn:
    """Exact counts of each category of a string, categorical or boolean column.

    A column of raw values keeps a dict of counts per value. A column hashed whole
    (``hashed``: sensitive, or past the privacy policy's cardinality limit) keeps its
    tokens as 64-bit integers instead (:meth:`~prodml.privacy.Privacy.token_ids`), in
    two arrays, ``ids`` (sorted, distinct) and ``id_counts``: no string per category is
    made to profile or compare it. :attr:`counts` shows either as a dict; for a hashed
    column it is a fresh dict keyed by token strings (``pm:`` and 16 hex digits), in the
    order of the ids, which is the order of the token strings. Token strings given to a
    hashed column (``counts=`` or by assignment) are stored as ids the same way.
    """

    __slots__ = ("_counts", "hashed", "id_counts", "ids", "kind", "n_null")

    def __init__(
        self,
        kind: str = "categorical",
        n_null: int = 0,
        counts: dict[Any, int] | None = None,
        hashed: bool = False,
    ) -> None:
        self.kind = kind
        self.n_null = n_null
        self.hashed = hashed  # every category is a salted hash (see prodml.privacy)
        self._counts: dict[Any, int] | None = None
        self.ids: UIntArray | None = None
        self.id_counts: IntArray | None = None
        self.counts = {} if counts is None else counts

    @property
    def counts(self) -> dict[Any, int]:
        """Counts per category; for a column held as token ids, a dict made on each call."""
        if self._counts is not None:
            return self._counts
        assert self.ids is not None  # noqa: S101
        assert self.id_counts is not None  # noqa: S101
        return dict(zip(token_strings(self.ids), self.id_counts.tolist(), strict=True))

    @counts.setter
    def counts(self, value: dict[Any, int]) -> None:
        self._counts, self.ids, self.id_counts = value, None, None
        if self.hashed and all(map(is_token, value)):
            self.token_arrays()  # a hashed column's tokens are held as ids

    @property
    def n_categories(self) -> int:
        """Number of distinct categories (tokens for a hashed column)."""
        return len(self._counts) if self._counts is not None else int(self.ids.size)  # type: ignore[union-attr]

    @property
    def count(self) -> int:
        """Number of non-null values."""
        if self._counts is None:
            return int(self.id_counts.sum())  # type: ignore[union-attr]
        return sum(self._counts.values())

    def add(self, counts: dict[Any, int]) -> None:
        """Add counts per category (a column held as token ids takes token strings)."""
        if self._counts is None:
            ids = token_strings_to_ids(list(counts))
            self.add_ids(ids, np.fromiter(counts.values(), np.int64, len(counts)))
            return
        if not self._counts:
            self._counts = dict(counts)  # the first chunk: one C-level copy
            return
        own = self._counts
        for value, c in counts.items():
            own[value] = own.get(value, 0) + c

    def add_ids(self, ids: UIntArray, counts: IntArray) -> None:
        """Add counts per token id; the column becomes (or stays) one held as ids.

        Raw counts held so far must be token strings (a hashed column's).
        """
        if self._counts is not None:
            held = self._counts
            ids = np.concatenate([token_strings_to_ids(list(held)), ids])
            counts = np.concatenate([np.fromiter(held.values(), np.int64, len(held)), counts])
        elif self.ids is not None and self.id_counts is not None:
            ids = np.concatenate([self.ids, ids])
            counts = np.concatenate([self.id_counts, counts])
        self.ids, self.id_counts = sum_by_id(ids, counts)
        self._counts = None

    def token_arrays(self) -> tuple[UIntArray, IntArray]:
        """The column's token ids (sorted, distinct) and their counts.

        A column whose counts are held as a dict must be keyed by token strings.
        """
        if self._counts is not None:
            self.add_ids(np.empty(0, np.uint64), np.empty(0, np.int64))
        assert self.ids is not None  # noqa: S101
        assert self.id_counts is not None  # noqa: S101
        return self.ids, self.id_counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state; categories in a stable order."""
        pairs: list[tuple[Any, int]]
        if self._counts is None:
            pairs = list(self.counts.items())  # token strings in id order: already sorted
        else:
            pairs = sorted(self._counts.items(), key=lambda kv: (type(kv[0]).__name__, str(kv[0])))
        out = {"kind": self.kind, "n_null": self.n_null, "counts": [[k, c] for k, c in pairs]}
        if self.hashed:
            out["hashed"] = True
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CategoricalColumn):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"CategoricalColumn(n_null={self.n_null}, categories={self.n_categories}, "
            f"hashed={self.hashed})"
        )


def token_strings_to_ids(tokens: list[Any]) -> UIntArray:
    """Token strings (``pm:`` and 16 hex digits) as their 64-bit ids.

    Raises
    ------
    ValueError
        When one is not a token (a hashed column held a raw value).
    """
    if not all(map(is_token, tokens)):
        raise ValueError("a hashed column holds a value that is not a token")
    return np.array([int(t[3:], 16) for t in tokens], dtype=np.uint64)


def sum_by_id(ids: UIntArray, counts: IntArray) -> tuple[UIntArray, IntArray]:
    """Distinct ids in increasing order and the summed counts of each."""
    if ids.size == 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    order = np.argsort(ids, kind="stable")
    ids, counts = ids[order], counts[order].astype(np.int64, copy=False)
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    if starts.size == ids.size:
        return ids, counts
    return ids[starts], np.add.reduceat(counts, starts)


ColumnState = NumericColumn | CategoricalColumn


def _sketch_keys(x: FloatArray, log_gamma: float) -> IntArray:
    """Order-preserving integer bucket of each value; 0 for exact zeros."""
    mag = np.abs(x)
    with np.errstate(divide="ignore"):
        k = np.log(mag)
    # In place: this runs over every value of a sketched column, so temporaries count.
    np.divide(k, log_gamma, out=k)
    np.ceil(k, out=k)
    k += _OFFSET
    np.maximum(k, 1, out=k)
    k[mag == 0] = 0
    keys = k.astype(np.int64)
    np.negative(keys, out=keys, where=x < 0)
    return keys


def _sketch(
    x: Values, log_gamma: float, *, is_sorted: bool = False
) -> tuple[IntArray, IntArray, FloatArray]:
    """Distinct sketch keys of ``x``, their counts and purity, by runs over sorted values.

    Keys are non-decreasing in the value, so over sorted values equal keys are adjacent:
    counting runs is one pass (no ``np.unique`` sort of the keys). A sort is skipped when
    the caller's values are sorted already (a finalised exact column). The third array is
    each bucket's value when all its values are equal (first == last of the run), else NaN.
    """
    if x.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    if x.dtype != np.float64:  # integers: log buckets are float (sorted stays sorted)
        x = x.astype(np.float64)
    # Sorting first is the fast way here: numpy's SIMD sort of a million floats takes a
    # few ms, and keys of sorted values come faster still. A sort-free count over dense
    # buckets (bincount, per-bucket min/max for purity) was tried and measured 1.7x the
    # CPU time on workload D1 (benchmarks/README.md, 2026-12-04).
    xs = x if is_sorted else np.sort(x)
    keys = _sketch_keys(xs, log_gamma)
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    uniq = keys[starts]
    if uniq.size > 1 and not bool((uniq[1:] > uniq[:-1]).all()):  # pragma: no cover - a
        k, c = _unique_counts(keys)  # non-monotone log would break the runs: be safe
        return k, c, np.full(k.size, np.nan)
    ends = np.concatenate((starts[1:], [keys.size]))
    pure = np.where(xs[starts] == xs[ends - 1], xs[starts], np.nan)
    pure += 0.0  # -0.0 -> 0.0: the zero bucket's value has one sign whatever the path
    return uniq, np.diff(np.concatenate((starts, [keys.size]))).astype(np.int64), pure


def _merge_sketches(
    keys: IntArray, counts: IntArray, pure: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """Sum the counts of equal keys; a bucket stays pure when all its parts hold one value."""
    uniq, inv = np.unique(keys, return_inverse=True)
    summed = np.bincount(inv, weights=counts, minlength=uniq.size)
    lo = np.full(uniq.size, np.inf)
    hi = np.full(uniq.size, -np.inf)
    with np.errstate(invalid="ignore"):  # NaN (an impure part) propagates, as wanted
        np.minimum.at(lo, inv, pure)
        np.maximum.at(hi, inv, pure)
    merged = np.where(lo == hi, lo, np.nan)
    return uniq.astype(np.int64), np.rint(summed).astype(np.int64), merged


def _representatives(keys: IntArray, log_gamma: float) -> FloatArray:
    gamma = math.exp(log_gamma)
    k = np.abs(keys).astype(np.float64) - _OFFSET
    with np.errstate(over="ignore"):  # the top bucket's midpoint can pass the largest float
        rep = np.exp(k * log_gamma + math.log(2.0 / (gamma + 1.0)))
    rep = np.minimum(rep, np.finfo(np.float64).max)
    return np.where(keys == 0, 0.0, np.sign(keys) * rep)


def _unique_counts(keys: IntArray, counts: IntArray | None = None) -> tuple[IntArray, IntArray]:
    if counts is None:
        uniq, n = np.unique(keys, return_counts=True)
        return uniq.astype(np.int64), n.astype(np.int64)
    uniq, inv = np.unique(keys, return_inverse=True)
    summed = np.bincount(inv, weights=counts, minlength=uniq.size)
    return uniq.astype(np.int64), np.rint(summed).astype(np.int64)
