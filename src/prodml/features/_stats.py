"""Mergeable fit statistics: moments, min/max, value counts and quantiles.

Every state has ``update(values)``, ``merge(other)`` and a read-out. Fed the same values in
the same order, a state gives the same bits however the values are cut into chunks:

* :class:`Moments` sums in fixed blocks of :data:`BLOCK` values aligned to the stream (not
  to the chunks) and accumulates the block sums exactly (as integers), so chunking cannot
  change the rounding. ``merge`` of independently fed states is exact in the block sums
  and agrees with one pass to floating rounding.
* :class:`Extremes` and :class:`Counts` are exact and order-free.
* :class:`Quantiles` keeps every value while there are at most ``capacity`` of them
  (exact, numpy's ``"linear"`` definition); beyond that it compacts full sorted blocks
  pairwise (a deterministic merge-and-reduce sketch, Manku-Rajagopalan-Lindsay style).
  Each compaction at level ``h`` moves any rank by at most ``2**h``, so the normalised
  rank error is at most ``levels / (2 * capacity)`` (:attr:`Quantiles.rank_error_bound`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from fractions import Fraction

import numpy as np
import numpy.typing as npt

__all__ = ["BLOCK", "Counts", "Extremes", "Moments", "Quantiles"]

BLOCK = 1024
_SCALE = 1126  # 2**-1126 divides every finite float64 exactly (frexp mantissa * 2**53)

Floats = npt.NDArray[np.float64]


def _exact_int(values: Floats) -> int:
    """The exact sum of finite floats, as an integer multiple of ``2**-_SCALE``."""
    total = 0
    for v in values.tolist():
        m, e = math.frexp(v)
        total += int(m * 2.0**53) << (e - 53 + _SCALE)
    return total


def _as_fraction(scaled: int) -> Fraction:
    return Fraction(scaled, 1 << _SCALE)


_SCALE2 = 2 * _SCALE  # squares of values scaled by 2**-e: integers of 2**-2252
_EPS = Fraction(2) ** -52  # float64's machine epsilon, np.finfo(np.float64).eps
_EPS_F = 2.0**-52  # the same, as a float (the fast pre-check of near_constant)
_TINY = 2.0**-968  # a block's sum of squares below this may have lost bits to underflow


def _square_int(blocks: Floats) -> int | None:
    """The sums of squares of each row of ``blocks``, exactly added, in ``2**-_SCALE2``.

    A row whose squares overflow (values near 1e300) or underflow (near 1e-300) is
    summed again scaled by a power of two of its largest value, which is exact, so the
    standard deviation of such values is right where ``d * d`` alone gave inf or 0.
    Other rows take the plain sum, so usual data costs one test. None when a value is
    not finite.
    """
    if blocks.shape[1] == 0:
        return 0
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        ss = (blocks * blocks).sum(axis=1)
        exps = np.zeros(ss.size, dtype=np.int64)
        redo = ~(ss >= _TINY) | np.isinf(ss)
        if redo.any():
            sub = blocks[redo]
            _, e = np.frexp(np.abs(sub).max(axis=1))
            scaled = np.ldexp(sub, -e[:, None])
            ss[redo] = (scaled * scaled).sum(axis=1)
            exps[redo] = e
    if not np.isfinite(ss).all():
        return None
    total = 0
    for v, e in zip(ss.tolist(), exps.tolist(), strict=True):
        if v:
            m, f = math.frexp(v)
            total += int(m * 2.0**53) << (f - 53 + 2 * e + _SCALE2)
    return total


class Moments:
    """Count, mean and (population) variance, chunking-independent.

    Values are shifted by the first value seen, which keeps the variance accurate when
    the mean is large compared to the spread. Sums that overflow float64 make
    :attr:`overflow` true (and the read-outs infinite).
    """

    __slots__ = ("_rest", "_s1", "_s2", "n", "overflow", "shift")

    def __init__(self) -> None:
        self.n = 0
        self.shift: float | None = None
        self.overflow = False
        self._rest: Floats = np.empty(0)
        self._s1 = 0
        self._s2 = 0

    def add_blocks(self, blocks: Floats) -> None:
        """Add whole blocks (rows of ``BLOCK`` shifted values) to the exact sums."""
        with np.errstate(over="ignore", invalid="ignore"):
            s1 = blocks.sum(axis=1)
        s2 = _square_int(blocks)
        if s2 is not None and np.isfinite(s1).all():
            self._s1 += _exact_int(s1)
            self._s2 += s2
        else:
            self.overflow = True

    def update(self, values: Floats) -> None:
        """Add finite values (a 1-D float64 array)."""
        if values.size == 0:
            return
        if self.shift is None:
            self.shift = float(values[0])
        self.n += int(values.size)
        with np.errstate(over="ignore", invalid="ignore"):
            d = np.concatenate([self._rest, values - self.shift])
        full = d.size - d.size % BLOCK
        if full:
            self.add_blocks(d[:full].reshape(-1, BLOCK))
        self._rest = d[full:].copy()

    def _sums(self) -> tuple[Fraction, Fraction]:
        r = self._rest
        with np.errstate(over="ignore", invalid="ignore"):
            t1 = np.array([r.sum()])
        t2 = _square_int(r.reshape(1, -1))
        if self.overflow or t2 is None or not np.isfinite(t1).all():
            raise OverflowError("the sums overflow float64")
        return _as_fraction(self._s1 + _exact_int(t1)), Fraction(self._s2 + t2, 1 << _SCALE2)

    def merge(self, other: Moments) -> None:
        """Add another state's values (exact in the block sums)."""
        if other.n == 0:
            return
        if self.shift is None:
            self.n, self.shift, self.overflow = other.n, other.shift, other.overflow
            self._rest, self._s1, self._s2 = other._rest.copy(), other._s1, other._s2
            return
        if other.overflow or self.overflow:
            self.overflow = True
            self.n += other.n
            return
        assert other.shift is not None  # noqa: S101 - n > 0 implies a shift
        o1, o2 = other._sums()
        delta = Fraction(other.shift) - Fraction(self.shift)
        # Re-centre the other state's sums on this state's shift, exactly.
        s1 = o1 + other.n * delta
        s2 = o2 + 2 * delta * o1 + other.n * delta * delta
        self._s1 += int(s1 * (1 << _SCALE))
        self._s2 += int(s2 * (1 << _SCALE2))
        self.n += other.n

    def mean(self) -> float:
        """The mean (NaN when empty, inf on overflow)."""
        if self.n == 0 or self.shift is None:
            return math.nan
        try:
            s1, _ = self._sums()
        except OverflowError:
            return math.inf
        return float(Fraction(self.shift) + s1 / self.n)

    def _variance(self) -> Fraction:
        s1, s2 = self._sums()
        return max((s2 - s1 * s1 / self.n) / self.n, Fraction(0))

    def var(self) -> float:
        """The population variance (``ddof=0``, as scikit-learn's StandardScaler)."""
        if self.n == 0:
            return math.nan
        try:
            return float(self._variance())
        except OverflowError:
            return math.inf

    def near_constant(self, std: float | None = None, mean: float | None = None) -> bool:
        """Whether the variance is within the rounding error of computing it in float64.

        True when ``var <= n * eps * var + (n * eps * mean) ** 2``: the error bound of the
        two-pass variance algorithm (Chan, Golub and LeVeque) that scikit-learn's
        StandardScaler uses to scale a column by 1. It is evaluated exactly, on the exact
        mean and variance, so it depends only on the values and not on their magnitude;
        scikit-learn evaluates it in float64, which underflows to "constant" for spreads
        below about 1e-154 and overflows for spreads above about 1e154.

        ``std`` and ``mean``, when given, are this state's :meth:`std` and :meth:`mean`: a
        column whose float variance is more than four times the float bound (and both are
        normal floats) is not near-constant whatever the rounding of those floats, and is
        answered without the exact sums (a few hundred thousand instructions a column).

        Raises
        ------
        OverflowError
            When the sums overflow float64 (:attr:`overflow`; :meth:`std` is then inf).
        """
        if self.n == 0 or self.shift is None:
            return True
        if std is not None and mean is not None:
            var_f = std * std  # float products overflow to inf (** raises instead)
            a = self.n * _EPS_F * mean
            bound_f = self.n * _EPS_F * var_f + a * a
            if 1e-290 < var_f < 1e290 and bound_f < 1e290 and var_f > 4.0 * bound_f:
                return False
        s1, _ = self._sums()
        var = self._variance()
        n = self.n
        exact_mean = Fraction(self.shift) + s1 / n
        return var <= n * _EPS * var + (n * _EPS * exact_mean) ** 2

    def std(self) -> float:
        """The population standard deviation, right even where the variance is not a float.

        The variance of values near 1e-300 underflows float64 (and near 1e300 overflows)
        while their standard deviation does not: the square root is taken of the exact
        variance scaled by a power of four, which gives the bits of ``sqrt(var())``
        wherever ``var()`` is a normal float.
        """
        if self.n == 0:
            return math.nan
        try:
            v = self._variance()
        except OverflowError:
            return math.inf
        if v == 0:
            return 0.0
        k = (v.numerator.bit_length() - v.denominator.bit_length()) // 2
        return math.ldexp(math.sqrt(float(v / Fraction(4) ** k)), k)


class Extremes:
    """Minimum and maximum."""

    __slots__ = ("high", "low", "n")

    def __init__(self) -> None:
        self.n = 0
        self.low = math.inf
        self.high = -math.inf

    def update(self, values: Floats) -> None:
        """Add finite values."""
        if values.size:
            self.n += int(values.size)
            self.low = min(self.low, float(values.min()))
            self.high = max(self.high, float(values.max()))

    def merge(self, other: Extremes) -> None:
        """Add another state's values."""
        self.n += other.n
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)


class Counts:
    """Exact value counts of hashable values."""

    __slots__ = ("counts", "n")

    def __init__(self) -> None:
        self.n = 0
        self.counts: dict[Hashable, int] = {}

    def add(self, values: Sequence[Hashable], counts: Sequence[int]) -> None:
        """Add ``counts[i]`` occurrences of ``values[i]``."""
        c = self.counts
        for v, k in zip(values, counts, strict=True):
            c[v] = c.get(v, 0) + k
            self.n += k

    def update(self, values: Floats) -> None:
        """Add float values."""
        u, k = np.unique(values, return_counts=True)
        self.add(u.tolist(), k.tolist())

    def merge(self, other: Counts) -> None:
        """Add another state's counts."""
        self.add(list(other.counts), list(other.counts.values()))

    def most_frequent(self) -> Hashable:
        """The most frequent value; ties go to the smallest (as scikit-learn)."""
        best = max(self.counts.values())
        return min(v for v, k in self.counts.items() if k == best)  # type: ignore[type-var]


class Quantiles:
    """Quantiles, exact up to ``capacity`` values, then a mergeable sketch.

    Parameters
    ----------
    capacity
        Values kept exactly; also the block size of the sketch.
    """

    __slots__ = ("_buf", "_flips", "_levels", "capacity", "n")

    def __init__(self, capacity: int = 1 << 20) -> None:
        self.capacity = capacity
        self.n = 0
        self._buf: list[Floats] = []
        self._levels: list[Floats | None] = []
        self._flips: list[int] = []

    @property
    def exact(self) -> bool:
        """Whether every value is still kept (no compaction happened)."""
        return not self._levels

    @property
    def rank_error_bound(self) -> float:
        """Bound on the normalised rank error of :meth:`quantiles` (0 when exact)."""
        if self.exact:
            return 0.0
        return len(self._levels) / (2 * self.capacity)

    def update(self, values: Floats) -> None:
        """Add finite values."""
        if values.size == 0:
            return
        self.n += int(values.size)
        self._buf.append(np.array(values, dtype=np.float64))
        held = sum(b.size for b in self._buf)
        if held < self.capacity:
            return
        allv = np.concatenate(self._buf)
        k = self.capacity
        full = allv.size - allv.size % k
        for start in range(0, full, k):
            self._push(np.sort(allv[start : start + k]), 0)
        self._buf = [allv[full:].copy()] if full < allv.size else []

    def _push(self, block: Floats, level: int) -> None:
        while True:
            if level == len(self._levels):
                self._levels.append(None)
                self._flips.append(0)
            held = self._levels[level]
            if held is None:
                self._levels[level] = block
                return
            merged = np.sort(np.concatenate([held, block]), kind="mergesort")
            # Alternate which half survives, so that errors do not pile up one way.
            block = merged[self._flips[level] :: 2].copy()
            self._flips[level] ^= 1
            self._levels[level] = None
            level += 1

    def merge(self, other: Quantiles) -> None:
        """Add another state's values (exact while both are exact and fit together)."""
        for level, block in enumerate(other._levels):
            if block is not None:
                self.n += block.size << level
                self._push(block.copy(), level)
        for b in other._buf:
            self.update(b)

    def quantiles(self, qs: list[float]) -> list[float]:
        """Quantiles at the probabilities ``qs`` (NaN when empty)."""
        if self.n == 0:
            return [math.nan for _ in qs]
        if self.exact:
            values = np.concatenate(self._buf)
            with np.errstate(over="ignore", invalid="ignore"):
                got = np.quantile(values, qs)
            if not np.isfinite(got).all() and np.isfinite(values).all():
                got = _lerp_quantiles(values, qs, got)
            return [float(v) for v in got]
        items = [np.concatenate(self._buf)] if self._buf else []
        weights = [np.ones(items[0].size)] if items else []
        for level, block in enumerate(self._levels):
            if block is not None:
                items.append(block)
                weights.append(np.full(block.size, float(1 << level)))
        values = np.concatenate(items)
        w = np.concatenate(weights)
        order = np.argsort(values, kind="mergesort")
        values, cum = values[order], np.cumsum(w[order])
        total = cum[-1]
        idx = np.searchsorted(cum, np.asarray(qs) * total, side="left")
        return [float(values[min(int(i), values.size - 1)]) for i in idx]


def _lerp_quantiles(
    values: npt.NDArray[np.float64], qs: list[float], got: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """``got`` with each non-finite quantile of finite ``values`` recomputed without overflow.

    numpy interpolates between the two order statistics ``a`` and ``b`` around a quantile
    as ``a + (b - a) * t``; ``b - a`` overflows when they are huge and of opposite signs
    (-1.7e308 and 1.7e308: even the median came out NaN). ``a * (1 - t) + b * t`` (the same
    point, linear method) cannot overflow. Quantiles numpy got finite are kept as they are.
    """
    out = np.array(got, dtype=np.float64)
    ordered = np.sort(values)
    last = ordered.size - 1
    for i, q in enumerate(qs):
        if np.isfinite(out[i]):
            continue
        h = last * q
        lo = int(np.floor(h))
        hi = min(lo + 1, last)
        t = h - lo
        out[i] = ordered[lo] * (1.0 - t) + ordered[hi] * t
    return out
