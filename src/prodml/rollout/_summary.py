"""Streaming per-variant metric summaries: count, mean and variance (Welford / Chan).

O(1) memory per metric, exact to float rounding, mergeable, and JSON-safe, so a canary
that has seen a billion requests still stores three numbers per metric and variant.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from prodml._quote import short_repr
from prodml._state import MAX_MAGNITUDE
from prodml.errors import PolicyError

__all__ = ["MAX_METRIC", "MeanSummary", "check_value", "check_values", "first_text"]

MAX_METRIC = MAX_MAGNITUDE
"""Largest metric magnitude (:data:`prodml._state.MAX_MAGNITUDE`): sums of squares of
2**53 such values stay finite floats."""


def first_text(values: object) -> int | None:
    """Position of the first str or bytes among ``values``, ``None`` when there is none.

    ``float("1")`` and ``np.asarray(["1"], dtype=float)`` parse text, so an outcome column
    read as text (a Parquet ``str`` column, a CSV's) would be taken for numbers without
    a word, and ``"1"`` counted with ``1``. Numeric arrays (numpy's, pandas' nullable and
    Arrow-backed ones) are not scanned.
    """
    if isinstance(values, str | bytes):
        return 0
    kind = getattr(getattr(values, "dtype", None), "kind", None)
    if kind is not None and kind in "biufcmM":
        return None
    try:
        items = np.asarray(values, dtype=object).ravel().tolist()
    except (TypeError, ValueError):
        return None  # the conversion to float names the problem
    return next((i for i, v in enumerate(items) if isinstance(v, str | bytes)), None)


def check_value(variant: str, metric: str, value: object) -> float:
    """Return ``value`` as a finite float, or raise a PolicyError naming variant and metric."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str | bytes):
        raise PolicyError(
            f"Metric {short_repr(metric)} of variant {short_repr(variant)} must be a number, "
            f"not text. Got {short_repr(value)}.",
            variant=variant,
        )
    try:
        x = float(value)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond the float range: not finite either
        x = math.inf
    except (TypeError, ValueError):
        raise PolicyError(
            f"Metric {short_repr(metric)} of variant {short_repr(variant)} must be a number. "
            f"Got {short_repr(value)}.",
            variant=variant,
        ) from None
    if not abs(x) <= MAX_METRIC:  # NaN fails this too
        raise PolicyError(
            f"Metric {short_repr(metric)} of variant {short_repr(variant)} must be finite, "
            f"within +-{MAX_METRIC:g}. Got {short_repr(value)}.",
            variant=variant,
        )
    return x


def check_values(variant: str, metric: str, values: ArrayLike) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array, or raise a PolicyError."""
    at = first_text(values)
    if at is not None:
        raise PolicyError(
            f"Metric {short_repr(metric)} of variant {short_repr(variant)} must be numeric, "
            f"not text: position {at} holds text (cast the column to numbers first).",
            variant=variant,
        )
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except OverflowError:  # an int beyond the float range
        raise PolicyError(
            f"Metric {short_repr(metric)} of variant {short_repr(variant)} must be finite, "
            f"within +-{MAX_METRIC:g}. Got an int beyond the float range.",
            variant=variant,
        ) from None
    except (TypeError, ValueError):
        raise PolicyError(
            f"Metric {short_repr(metric)} of variant {short_repr(variant)} must be numeric.",
            variant=variant,
        ) from None
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(arr) <= MAX_METRIC)  # NaN is bad too
    if bad.any():
        i = int(np.argmax(bad))
        raise PolicyError(
            f"Metric {short_repr(metric)} of variant {short_repr(variant)} must be finite, "
            f"within +-{MAX_METRIC:g}. Got {float(arr[i])!r} at position {i}.",
            variant=variant,
        )
    return arr


class MeanSummary:
    """Count, mean and sum of squared deviations of a stream of numbers.

    ``binary`` stays true while every value is 0 or 1; a binary metric (an error flag)
    gets a smoothed variance so that zero errors in 50 requests is not "certainly zero".

    Examples
    --------
    >>> s = MeanSummary()
    >>> s.add(1.0)
    >>> s.add(0.0)
    >>> s.add_many([0.0, 1.0])
    >>> s.n, s.mean, s.binary
    (4, 0.5, True)
    """

    __slots__ = ("binary", "m2", "mean", "n")

    def __init__(self, n: int = 0, mean: float = 0.0, m2: float = 0.0, binary: bool = True) -> None:
        self.n = n
        self.mean = mean
        self.m2 = m2
        self.binary = binary

    def add(self, x: float) -> None:
        """Add one value."""
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)
        if self.binary and x not in (0.0, 1.0):
            self.binary = False

    def add_many(self, values: ArrayLike) -> None:
        """Add many values at once (Chan et al. parallel merge)."""
        arr = np.asarray(values, dtype=np.float64).ravel()
        if arr.size == 0:
            return
        mean_b = float(arr.mean())
        m2_b = float(((arr - mean_b) ** 2).sum())
        self.merge(MeanSummary(int(arr.size), mean_b, m2_b, bool(np.isin(arr, (0.0, 1.0)).all())))

    def merge(self, other: MeanSummary) -> None:
        """Fold ``other`` into this summary."""
        if other.n == 0:
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * other.n / n
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n = n
        self.binary = self.binary and other.binary

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); for binary metrics, a smoothed ``p (1 - p)``."""
        if self.binary:
            # (x + 1) / (n + 2): never exactly 0 or 1, so a gate cannot pass on luck.
            p = (self.mean * self.n + 1.0) / (self.n + 2.0)
            return p * (1.0 - p)
        return self.m2 / (self.n - 1) if self.n > 1 else math.inf

    def to_list(self) -> list[Any]:
        """Return ``[n, mean, m2, binary]`` (JSON-safe)."""
        return [self.n, self.mean, self.m2, self.binary]

    @classmethod
    def from_list(cls, data: list[Any]) -> MeanSummary:
        """Rebuild from :meth:`to_list` output."""
        return cls(int(data[0]), float(data[1]), float(data[2]), bool(data[3]))

    def __repr__(self) -> str:
        return f"MeanSummary(n={self.n}, mean={self.mean!r}, variance={self.variance!r})"
