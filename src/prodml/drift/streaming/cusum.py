"""Two-sided tabular CUSUM on standardised values (Page, 1954; Hawkins, 1987)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from prodml._params import NONE, Constraint, Interval
from prodml._state import Field
from prodml.drift.streaming.base import (
    MAX_N,
    MAX_VALUE,
    FloatArray,
    StreamingDetector,
    first_true,
)

__all__ = ["CUSUM"]

_BIG = 1e12  # z-score given to a value that differs from a so far constant stream


class CUSUM(StreamingDetector):
    r"""Two-sided CUSUM chart on standardised values, scale-free by default.

    Each value is standardised, :math:`z_t = (x_t - \mu) / \sigma`, then

    .. math::

        S_t = \sum_{s \le t} (z_s - k), \quad g^+_t = S_t - \min_{s \le t} S_s, \qquad
        T_t = \sum_{s \le t} (z_s + k), \quad g^-_t = \max_{s \le t} T_s - T_t

    (minimum and maximum including the starting 0), which is the tabular recursion
    :math:`g^+_t = \max(0, g^+_{t-1} + z_t - k)`. An alarm is raised when
    :math:`g^+_t > h` or :math:`g^-_t > h`. ``k`` and ``h`` are in standard deviations:
    ``k`` is half the shift the chart is tuned for.

    When ``target`` or ``sigma`` is not given, it is estimated *self-starting*: from the
    values since the last restart before :math:`x_t` (so a shift cannot hide in its own
    estimate), after ``warmup`` values. The estimates use sums of differences from the
    first value, so large offsets do not lose precision.

    Parameters
    ----------
    k
        Allowance (reference value), in standard deviations.
    h
        Decision interval, in standard deviations.
    warmup
        Values used only to estimate ``target``/``sigma`` before testing starts.
    target
        In-control mean, or ``None`` to estimate it.
    sigma
        In-control standard deviation, or ``None`` to estimate it.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import CUSUM
    >>> rng = np.random.default_rng(42)
    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    >>> cusum = CUSUM()
    >>> for i, x in enumerate(stream):
    ...     if cusum.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 1036
    >>> CUSUM().update_many(stream)
    array([1036])
    """

    __slots__ = (
        "_hi",
        "_lo",
        "_max_lo",
        "_min_hi",
        "_n",
        "_q",
        "_s",
        "_x0",
        "h",
        "k",
        "sigma",
        "target",
        "warmup",
    )
    _PARAMS = ("k", "h", "warmup", "target", "sigma")
    _FIELDS = ("n", "x0", "s", "q", "hi", "min_hi", "lo", "max_lo")

    def __init__(
        self,
        k: float = 0.25,
        h: float = 30.0,
        warmup: int = 30,
        target: float | None = None,
        sigma: float | None = None,
    ) -> None:
        self.k: float = k
        self.h: float = h
        self.warmup: int = warmup
        self.target: float | None = target
        self.sigma: float | None = sigma
        self._init_base()

    def _clear(self) -> None:
        self._n = 0
        self._x0 = 0.0
        self._s = 0.0
        self._q = 0.0
        self._hi = 0.0
        self._min_hi = 0.0
        self._lo = 0.0
        self._max_lo = 0.0

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "k": [Interval(float, 0, None)],
            "h": [Interval(float, 0, None, "neither")],
            "warmup": [Interval(int, 2, None)],
            "target": [Interval(float, -math.inf, math.inf, "neither"), NONE],
            "sigma": [Interval(float, 0, math.inf, "neither"), NONE],
        }

    def update(self, x: float) -> bool:
        """Feed one value; return whether it raises a drift alarm.

        Raises
        ------
        DriftError
            If ``x`` is not a finite number.
        """
        self._busy += 1  # a to_dict in another thread waits for this update
        if self._hold:
            self._wait_for_reader()
        try:
            if type(x) is not float:
                x = self._as_float(x)
            elif not -1e100 <= x <= 1e100:  # NaN too; MAX_VALUE, as a literal: hot
                raise self._bad_value(x)
            if self._drift:
                self._restart()
            n = self._n
            if n == 0:
                self._x0 = x
            d = x - self._x0
            s = self._s
            q = self._q
            self._n = n + 1
            self._s = s + d
            self._q = q + d * d
            if n < self.warmup:
                return False
            target = self.target
            mean = s / n if target is None else target - self._x0
            sigma = self.sigma
            if sigma is None:
                var = (q - s * s / n) / (n - 1)
                sigma = math.sqrt(var) if var > 0.0 else 0.0
            if sigma > 0.0:
                z = (d - mean) / sigma
            else:
                z = 0.0 if d == mean else (_BIG if d > mean else -_BIG)
            k = self.k
            hi = self._hi + (z - k)
            lo = self._lo + (z + k)
            self._hi = hi
            self._lo = lo
            min_hi = self._min_hi
            if hi < min_hi:
                self._min_hi = min_hi = hi
            max_lo = self._max_lo
            if lo > max_lo:
                self._max_lo = max_lo = lo
            h = self.h
            drift = hi - min_hi > h or max_lo - lo > h
            self._drift = drift
            return drift
        finally:
            self._busy -= 1

    def _scan(self, chunk: FloatArray) -> int:
        k = len(chunk)
        if self._n == 0:
            self._x0 = float(chunk[0])
        d = chunk - self._x0
        s_all = np.cumsum(np.concatenate(([self._s], d)))
        q_all = np.cumsum(np.concatenate(([self._q], d * d)))
        s, q = s_all[:-1], q_all[:-1]  # sums before each value
        n = np.arange(self._n, self._n + k, dtype=np.float64)
        testing = n >= self.warmup
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s / n if self.target is None else np.full(k, self.target - self._x0)
            if self.sigma is None:
                var = (q - s * s / n) / (n - 1)
                sigma = np.sqrt(np.where(var > 0.0, var, 0.0))
            else:
                sigma = np.full(k, float(self.sigma))
            z = np.where(
                sigma > 0.0,
                (d - mean) / np.where(sigma > 0.0, sigma, 1.0),
                np.where(d == mean, 0.0, np.where(d > mean, _BIG, -_BIG)),
            )
        z = np.where(testing, z, np.nan)
        zk = z[testing]
        hi = np.cumsum(np.concatenate(([self._hi], zk - self.k)))[1:]
        lo = np.cumsum(np.concatenate(([self._lo], zk + self.k)))[1:]
        min_hi = np.minimum.accumulate(np.concatenate(([self._min_hi], hi)))[1:]
        max_lo = np.maximum.accumulate(np.concatenate(([self._max_lo], lo)))[1:]
        alarm = (hi - min_hi > self.h) | (max_lo - lo > self.h)
        offset = k - len(zk)  # values still in warm-up come first
        hit_t = first_true(alarm)
        hit = offset + hit_t if hit_t >= 0 else -1
        last = hit if hit >= 0 else k - 1
        self._n += last + 1
        self._s = float(s_all[last + 1])
        self._q = float(q_all[last + 1])
        j = last - offset
        if j >= 0:
            self._hi, self._min_hi = float(hi[j]), float(min_hi[j])
            self._lo, self._max_lo = float(lo[j]), float(max_lo[j])
        return hit

    def _set_state(self, state: Field) -> None:
        names = ("x0", "s", "q", "hi", "min_hi", "lo", "max_lo")
        self._n = n = state["n"].count(hi=MAX_N)
        for name in names:
            setattr(self, "_" + name, state[name].float())
        # Magnitudes values within +-MAX_VALUE can reach, with room for rounding: beyond
        # them the next sums overflow to inf and the state could not be saved.
        span = 2.0 * MAX_VALUE * (1.0 + 2.0**-20)
        state["x0"].check(abs(self._x0) <= MAX_VALUE, f"a value within +-{MAX_VALUE:g}")
        state["s"].check(abs(self._s) <= n * span, "a sum of n differences of values")
        state["q"].check(0.0 <= self._q <= n * span * span, "a sum of n squares >= 0")
        state["min_hi"].check(self._min_hi <= max(self._hi, 0.0), "<= max(hi, 0)")
        state["max_lo"].check(self._max_lo >= min(self._lo, 0.0), ">= min(lo, 0)")
