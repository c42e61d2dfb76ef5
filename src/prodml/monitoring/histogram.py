"""Fixed-bucket histograms with quantile estimates, for latency and throughput.

A :class:`Histogram` keeps one counter per bucket (cumulative bounds as in Prometheus, the
last bucket being ``+Inf``), the count, the sum and the observed minimum and maximum. Its
memory is fixed by the buckets, whatever the number of observations, and it maps 1:1 onto a
Prometheus histogram.

Quantile estimate
-----------------
``quantile(q)`` finds the bucket holding the observation of rank ``r = q * count`` and
interpolates linearly inside it, as Prometheus' ``histogram_quantile`` does, with two
refinements: the first bucket starts at the observed minimum (not 0) and the ``+Inf``
bucket ends at the observed maximum, and the result is clipped to ``[min, max]``.

Error bound: the estimate lies in the same bucket ``(lower, upper]`` as the exact
quantile of the inverted-CDF definition (``numpy.quantile(x, q, method="inverted_cdf")``),
so the absolute error is at most that bucket's width (narrowed by the observed min and
max at the ends). Choose buckets as tight as the precision you need near the quantiles you
alert on.

Examples
--------
>>> h = Histogram((0.01, 0.05, 0.1, 0.5))
>>> for v in (0.004, 0.02, 0.03, 0.07, 0.2):
...     h.observe(v)
>>> h.count, h.bucket_counts
(5, [1, 2, 1, 1, 0])
>>> round(h.quantile(0.5), 4)
0.04
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prodml._quote import short_repr
from prodml._state import MAX_COUNT, MAX_MAGNITUDE, Field
from prodml.errors import ConfigError

__all__ = [
    "Histogram",
]

#: Upper bounds (seconds) for model latency: 1 ms to 10 s, about 2.5x apart.
DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: Upper bounds (predictions per second) for throughput measured per interval.
DEFAULT_THROUGHPUT_BUCKETS: tuple[float, ...] = (
    1.0,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
    2500.0,
    5000.0,
    10000.0,
)


def check_buckets(buckets: object, name: str = "buckets") -> tuple[float, ...]:
    """Validate bucket upper bounds: finite, strictly increasing, at least one."""
    try:
        bounds = tuple(float(b) for b in buckets)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"The {name!r} parameter must be a sequence of numbers. Got {short_repr(buckets)} "
            "instead.",
            parameter=name,
        ) from err
    if not bounds or not all(math.isfinite(b) for b in bounds):
        raise ConfigError(
            f"The {name!r} parameter must hold at least one finite upper bound (+Inf is "
            f"implicit). Got {short_repr(buckets)} instead.",
            parameter=name,
        )
    if len(bounds) > _MAX_BUCKETS:
        raise ConfigError(
            f"The {name!r} parameter must hold at most {_MAX_BUCKETS:,} bounds (what a saved "
            f"histogram holds). Got {len(bounds):,}.",
            parameter=name,
        )
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ConfigError(
            f"The {name!r} parameter must be strictly increasing. Got {short_repr(buckets)} "
            "instead.",
            parameter=name,
        )
    return bounds


_MAX_BUCKETS = 100_000  # bounds of a saved histogram

MAX_VALUE = MAX_MAGNITUDE
"""Largest magnitude a histogram observes (:data:`prodml._state.MAX_MAGNITUDE`; NaN and
infinities are refused too)."""


def _bad_value(value: object) -> ConfigError:
    return ConfigError(
        f"A histogram observes finite numbers within +-{MAX_VALUE:g}. Got {short_repr(value)}.",
        parameter="value",
    )


class Histogram:
    """Counts of observations per bucket, with count, sum, min, max and quantiles.

    Parameters
    ----------
    buckets
        Finite, strictly increasing upper bounds; a ``+Inf`` bucket is added. A value
        equal to a bound falls in that bound's bucket (``le`` semantics).
    """

    __slots__ = ("bounds", "bucket_counts", "count", "max", "min", "sum")

    def __init__(self, buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS) -> None:
        self.bounds: tuple[float, ...] = check_buckets(buckets)
        self.bucket_counts: list[int] = [0] * (len(self.bounds) + 1)
        self.count: int = 0
        self.sum: float = 0.0
        self.min: float = math.inf
        self.max: float = -math.inf

    def observe(self, value: float) -> None:
        """Add one observation (the hot path: a bisect and a few additions).

        Raises
        ------
        ConfigError
            For NaN, an infinity or a value beyond +-1e100 (:data:`MAX_VALUE`): its sum
            would not be a finite number, and the saved state could not be loaded back.
        """
        if not -1e100 <= value <= 1e100:  # MAX_VALUE, as a literal on the hot path
            raise _bad_value(value)
        self.bucket_counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        # Plain comparisons: min()/max() calls cost more on this hot path.
        if value < self.min:  # noqa: PLR1730
            self.min = value
        if value > self.max:  # noqa: PLR1730
            self.max = value

    def observe_repeated(self, value: float, times: int) -> None:
        """Add ``times`` observations of the same value at once."""
        if times <= 0:
            return
        if not -MAX_VALUE <= value <= MAX_VALUE:
            raise _bad_value(value)
        self.bucket_counts[bisect_left(self.bounds, value)] += times
        self.count += times
        self.sum += value * times
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def observe_many(self, values: Iterable[float]) -> None:
        """Add every value of ``values``."""
        for v in values:
            self.observe(v)

    def cumulative_counts(self) -> list[int]:
        """Cumulative counts per upper bound, the last one (``+Inf``) equal to count."""
        out, total = [], 0
        for c in self.bucket_counts:
            total += c
            out.append(total)
        return out

    def quantile(self, q: float) -> float:
        """Estimate the ``q`` quantile (see the module docstring for the error bound).

        Returns ``nan`` when the histogram is empty.
        """
        if not 0.0 <= q <= 1.0:
            raise ConfigError(
                f"A quantile must be in [0, 1]. Got {short_repr(q)} instead.", parameter="q"
            )
        if self.count == 0:
            return math.nan
        rank = q * self.count
        below = 0
        for i, c in enumerate(self.bucket_counts):
            if c and below + c >= rank:
                lower = self.bounds[i - 1] if i > 0 else self.min
                upper = self.bounds[i] if i < len(self.bounds) else self.max
                lower, upper = max(lower, self.min), min(upper, self.max)
                est = lower + (upper - lower) * max(rank - below, 0.0) / c
                return min(max(est, self.min), self.max)
            below += c
        return self.max  # pragma: no cover - rank <= count always stops the loop

    def merge(self, other: Histogram) -> None:
        """Add the observations of ``other`` (same buckets) into this histogram."""
        if other.bounds != self.bounds:
            raise ConfigError("Cannot merge histograms with different buckets.")
        for i, c in enumerate(other.bucket_counts):
            self.bucket_counts[i] += c
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def copy(self) -> Histogram:
        """An independent copy."""
        h = Histogram.__new__(Histogram)
        h.bounds = self.bounds
        h.bucket_counts = list(self.bucket_counts)
        h.count, h.sum, h.min, h.max = self.count, self.sum, self.min, self.max
        return h

    def empty_like(self) -> Histogram:
        """A new empty histogram with the same (already checked) buckets."""
        h = Histogram.__new__(Histogram)
        h.bounds = self.bounds
        h.bucket_counts = [0] * (len(self.bounds) + 1)
        h.count, h.sum, h.min, h.max = 0, 0.0, math.inf, -math.inf
        return h

    def reset(self) -> None:
        """Forget every observation, keeping the buckets."""
        self.bucket_counts = [0] * (len(self.bounds) + 1)
        self.count, self.sum = 0, 0.0
        self.min, self.max = math.inf, -math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (infinite min/max of an empty histogram become ``None``)."""
        return {
            "bounds": list(self.bounds),
            "bucket_counts": list(self.bucket_counts),
            "count": self.count,
            "sum": self.sum,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, bounds: tuple[float, ...] | None = None
    ) -> Histogram:
        """Rebuild a histogram saved by :meth:`to_dict`, validating it.

        ``bounds``, when given, are bounds already validated (a monitor's): saved bounds
        equal to them are not checked again (a monitor reloads dozens of histograms).

        Raises
        ------
        StateError
            (also a ConfigError) naming the field at fault: bounds the constructor
            refuses, a negative count, counts that do not add up to ``count``, a min or
            max missing, non-finite or out of order.
        """
        root = Field(data, owner="Histogram")
        root.dict(keys=("bounds", "bucket_counts", "count", "sum", "min", "max"))
        saved = data["bounds"]
        if bounds is not None and type(saved) is list and saved == list(bounds):
            h = cls.__new__(cls)  # the same, validated bounds: no second check
            h.bounds, h.bucket_counts = bounds, [0] * (len(bounds) + 1)
            h.count, h.sum, h.min, h.max = 0, 0.0, math.inf, -math.inf
        else:
            try:
                h = cls(root["bounds"].floats(max_len=_MAX_BUCKETS))
            except ConfigError as err:
                raise root["bounds"].fail(f"valid bucket bounds ({err})") from None
        counts = root["bucket_counts"].ints(length=len(h.bucket_counts), lo=0, hi=MAX_COUNT)
        count = root["count"].count()
        root["count"].check(count == sum(counts), f"the sum of bucket_counts ({sum(counts)})")
        total = root["sum"].float()
        lo, hi = root["min"].optional_float(), root["max"].optional_float()
        if count == 0:
            root["sum"].check(total == 0.0, "0.0 for an empty histogram")
            root["min"].check(lo is None, "null for an empty histogram")
            root["max"].check(hi is None, "null for an empty histogram")
        else:
            root["min"].check(lo is not None, "a number when the histogram holds values")
            root["max"].check(hi is not None and lo is not None and lo <= hi, "a number >= min")
        h.bucket_counts, h.count, h.sum = counts, count, total
        h.min = math.inf if lo is None else lo
        h.max = -math.inf if hi is None else hi
        return h
