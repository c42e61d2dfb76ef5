"""A mergeable quantile sketch with relative accuracy (logarithmic buckets).

A value ``x > 0`` falls in bucket ``ceil(log(x) / log(gamma))``, so every value in a bucket
is within a factor ``gamma`` of the others, and the bucket's midpoint is within
``(gamma - 1) / (gamma + 1)`` (1 % for ``gamma = 1.02``) of any of them. Latencies from
1 microsecond to a day fit in about 1600 buckets; in practice a few hundred are used.
Negative values use mirrored buckets and zeros (``-0.0`` too) a counter of their own.

Every finite float has a bucket, from the smallest subnormal to the largest float: the top
bucket's upper bound passes the largest float, so its representative is the relative
midpoint of the part of it that floats reach (never ``inf``, never an OverflowError).
Subnormals are held to their own precision: their representative is within the relative
bound plus one subnormal step (``5e-324``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from prodml.errors import PolicyError

__all__ = ["GAMMA", "QuantileSketch", "bucket_range"]

GAMMA = 1.02
"""Ratio between bucket bounds: quantiles are exact to about 1 % of their value."""

_LOG_GAMMA = math.log(GAMMA)


_FLOAT_MAX = sys.float_info.max


def _bucket(x: float) -> int:
    return math.ceil(math.log(x) / _LOG_GAMMA)


def bucket_range() -> tuple[int, int]:
    """Lowest and highest bucket index a float magnitude reaches (a saved sketch's bounds).

    The lowest is that of the smallest subnormal float, the highest that of the largest
    float; every bucket in between has a finite representative (:func:`_value`).
    """
    return _bucket(5e-324), _bucket(_FLOAT_MAX)


def _value(i: int) -> float:
    """Relative midpoint ``2ab / (a + b)`` of bucket ``(a, b] = (gamma**(i-1), gamma**i]``.

    In the top buckets ``b`` (or ``2b``) passes the largest float: ``b`` is then capped at
    it, the values the bucket can hold, and the midpoint is computed without overflow.
    """
    if i < 35_000:  # far below overflow (gamma**35000 ~ 1e301): the plain formula
        return 2.0 * GAMMA**i / (GAMMA + 1.0)
    a, b = _power(i - 1), _power(i)
    return a * (2.0 / (1.0 + a / b))


def _power(i: int) -> float:
    """``gamma**i`` capped at the largest float."""
    try:
        return min(math.exp(i * _LOG_GAMMA), _FLOAT_MAX)
    except OverflowError:
        return _FLOAT_MAX


class QuantileSketch:
    """Counts of values per logarithmic bucket; quantiles to ~1 % relative error.

    Not thread-safe: :meth:`add`, :meth:`add_many` and :meth:`merge` update the counts
    without a lock, so two threads adding to one sketch lose counts, and a read
    (:attr:`n`, :meth:`quantile`, :meth:`count_above`, :meth:`to_dict`) while another
    thread adds can see a half-made update or fail with "dictionary changed size during
    iteration". Safe: a sketch per thread, folded together with :meth:`merge` by one
    thread; several threads reading a sketch that no thread changes. The rollout
    policies (``Canary``, ``BlueGreen``, ``ABTest``) keep theirs inside their metric
    store and touch them only under the policy's own lock (``observe``, ``evaluate``,
    ``to_dict``), so a policy shared by request threads is safe; a sketch used outside a
    policy needs a lock of its own.

    Examples
    --------
    >>> s = QuantileSketch()
    >>> s.add_many(range(1, 1001))
    >>> s.n, round(s.quantile(0.99), 1), round(s.quantile(0.5), 1)
    (1000, 993.4, 496.7)
    >>> s.count_above(700.0)  # 300 exactly; buckets straddling 700 blur it
    298
    """

    __slots__ = ("negative", "positive", "zeros")

    def __init__(self) -> None:
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self.zeros = 0

    @property
    def n(self) -> int:
        """Number of values added."""
        return self.zeros + sum(self.positive.values()) + sum(self.negative.values())

    def add(self, x: float) -> None:
        """Add one finite value.

        Raises
        ------
        PolicyError
            For NaN or an infinity (callers validate metrics first; this guards the sketch).
        """
        if not math.isfinite(x):
            raise PolicyError(f"QuantileSketch.add: expected a finite value. Got {x!r}.")
        if x > 0:
            i = _bucket(x)
            self.positive[i] = self.positive.get(i, 0) + 1
        elif x < 0:
            i = _bucket(-x)
            self.negative[i] = self.negative.get(i, 0) + 1
        else:
            self.zeros += 1

    def add_many(self, values: ArrayLike) -> None:
        """Add many finite values at once (see :meth:`add`)."""
        arr = np.asarray(values, dtype=np.float64).ravel()
        if not bool(np.isfinite(arr).all()):
            raise PolicyError("QuantileSketch.add_many: expected finite values; got NaN or inf.")
        self.zeros += int(np.count_nonzero(arr == 0))
        for side, part in ((self.positive, arr[arr > 0]), (self.negative, -arr[arr < 0])):
            if part.size:
                idx = np.ceil(np.log(part) / _LOG_GAMMA).astype(np.int64)
                keys, counts = np.unique(idx, return_counts=True)
                for k, c in zip(keys.tolist(), counts.tolist(), strict=True):
                    side[k] = side.get(k, 0) + c

    def merge(self, other: QuantileSketch) -> None:
        """Fold ``other`` into this sketch."""
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for k, c in theirs.items():
                mine[k] = mine.get(k, 0) + c
        self.zeros += other.zeros

    def _sorted(self) -> list[tuple[float, int]]:
        neg = [(-_value(i), c) for i, c in sorted(self.negative.items(), reverse=True)]
        zero = [(0.0, self.zeros)] if self.zeros else []
        pos = [(_value(i), c) for i, c in sorted(self.positive.items())]
        return neg + zero + pos

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (nearest rank), or NaN when empty."""
        n = self.n
        if n == 0:
            return math.nan
        rank = min(n, max(1, math.ceil(q * n)))
        seen = 0
        for v, c in self._sorted():
            seen += c
            if seen >= rank:
                return v
        return math.nan  # pragma: no cover - unreachable: counts add up to n

    def count_above(self, threshold: float) -> int:
        """Number of values whose bucket lies above ``threshold`` (to bucket accuracy)."""
        return sum(c for v, c in self._sorted() if v > threshold)

    def to_dict(self) -> dict[str, Any]:
        """Return the counts as a JSON-safe dict."""
        return {
            "positive": {str(k): c for k, c in self.positive.items()},
            "negative": {str(k): c for k, c in self.negative.items()},
            "zeros": self.zeros,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantileSketch:
        """Rebuild a sketch written by :meth:`to_dict`, validating it.

        Raises
        ------
        StateError
            (also a PolicyError) for a count < 1 or a bucket index no float reaches.
        """
        from prodml._state import Field  # noqa: PLC0415 - _load imports this module
        from prodml.rollout._load import sketch  # noqa: PLC0415

        return sketch(Field(data, owner="QuantileSketch", error=PolicyError))
