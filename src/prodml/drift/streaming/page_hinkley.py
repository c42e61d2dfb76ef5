"""Page-Hinkley test (Page, 1954) for changes in the mean of a real-valued stream."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from prodml._params import Constraint, Interval, OneOf
from prodml._state import Field
from prodml.drift.streaming.base import (
    MAX_N,
    MAX_VALUE,
    FloatArray,
    StreamingDetector,
    first_true,
)

__all__ = ["PageHinkley"]


class PageHinkley(StreamingDetector):
    r"""Page-Hinkley test for a change in the mean, upwards, downwards or both.

    With :math:`\bar x_t` the mean of the values seen since the last restart,

    .. math::

        U_t = \sum_{s \le t} (x_s - \bar x_s - \delta), \qquad
        L_t = \sum_{s \le t} (x_s - \bar x_s + \delta),

    and an alarm is raised when, after ``min_instances`` values,
    :math:`U_t - \min_{s \le t} U_s > \lambda` (an increase) or
    :math:`\max_{s \le t} L_s - L_t > \lambda` (a decrease); the minimum and maximum
    include the starting value 0. ``delta`` and ``threshold`` are in the data's units:
    the defaults suit data with a standard deviation near 1 and catch a shift of about
    half a standard deviation (use :class:`~prodml.drift.streaming.CUSUM` for a
    scale-free test).

    Unlike ``river.drift.PageHinkley`` there is no forgetting factor (river's
    ``alpha``): without it, ``update_many`` is a handful of cumulative sums.

    Parameters
    ----------
    min_instances
        No alarm before this many values since the last restart.
    delta
        Magnitude of change ignored (the allowance), in data units.
    threshold
        Alarm threshold :math:`\lambda`, in data units.
    mode
        ``"both"``, ``"up"`` (increases only) or ``"down"`` (decreases only).

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import PageHinkley
    >>> rng = np.random.default_rng(42)
    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    >>> ph = PageHinkley()
    >>> for i, x in enumerate(stream):
    ...     if ph.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 1036
    >>> PageHinkley().update_many(stream)
    array([1036])
    """

    __slots__ = (
        "_hi",
        "_lo",
        "_max_lo",
        "_min_hi",
        "_n",
        "_sum",
        "delta",
        "min_instances",
        "mode",
        "threshold",
    )
    _PARAMS = ("min_instances", "delta", "threshold", "mode")
    _FIELDS = ("n", "sum", "hi", "min_hi", "lo", "max_lo")

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.25,
        threshold: float = 30.0,
        mode: str = "both",
    ) -> None:
        self.min_instances: int = min_instances
        self.delta: float = delta
        self.threshold: float = threshold
        self.mode: str = mode
        self._init_base()

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "min_instances": [Interval(int, 1, None)],
            "delta": [Interval(float, 0, None)],
            "threshold": [Interval(float, 0, None, "neither")],
            "mode": [OneOf(("both", "up", "down"))],
        }

    def _clear(self) -> None:
        self._n = 0
        self._sum = 0.0
        self._hi = 0.0
        self._min_hi = 0.0
        self._lo = 0.0
        self._max_lo = 0.0

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
            n = self._n + 1
            self._n = n
            total = self._sum + x
            self._sum = total
            dev = x - total / n
            delta = self.delta
            hi = self._hi + (dev - delta)
            lo = self._lo + (dev + delta)
            self._hi = hi
            self._lo = lo
            min_hi = self._min_hi
            if hi < min_hi:
                self._min_hi = min_hi = hi
            max_lo = self._max_lo
            if lo > max_lo:
                self._max_lo = max_lo = lo
            if n < self.min_instances:
                return False
            mode = self.mode
            threshold = self.threshold
            drift = (mode != "down" and hi - min_hi > threshold) or (
                mode != "up" and max_lo - lo > threshold
            )
            self._drift = drift
            return drift
        finally:
            self._busy -= 1

    def _scan(self, chunk: FloatArray) -> int:
        k = len(chunk)
        total = np.cumsum(np.concatenate(([self._sum], chunk)))[1:]
        n = np.arange(self._n + 1, self._n + k + 1, dtype=np.float64)
        dev = chunk - total / n
        hi = np.cumsum(np.concatenate(([self._hi], dev - self.delta)))[1:]
        lo = np.cumsum(np.concatenate(([self._lo], dev + self.delta)))[1:]
        min_hi = np.minimum.accumulate(np.concatenate(([self._min_hi], hi)))[1:]
        max_lo = np.maximum.accumulate(np.concatenate(([self._max_lo], lo)))[1:]
        alarm = np.zeros(k, dtype=bool)
        if self.mode != "down":
            alarm |= hi - min_hi > self.threshold
        if self.mode != "up":
            alarm |= max_lo - lo > self.threshold
        alarm &= n >= self.min_instances
        hit = first_true(alarm)
        last = hit if hit >= 0 else k - 1
        self._n += last + 1
        self._sum = float(total[last])
        self._hi, self._min_hi = float(hi[last]), float(min_hi[last])
        self._lo, self._max_lo = float(lo[last]), float(max_lo[last])
        return hit

    def _set_state(self, state: Field) -> None:
        self._n = n = state["n"].count(hi=MAX_N)
        # the sum of n values within +-MAX_VALUE (room for rounding)
        most = n * MAX_VALUE * (1.0 + 2.0**-20)
        self._sum = state["sum"].float(lo=-most, hi=most)
        self._hi = state["hi"].float()
        self._min_hi = state["min_hi"].float(hi=max(self._hi, 0.0))
        self._lo = state["lo"].float()
        self._max_lo = state["max_lo"].float(lo=min(self._lo, 0.0))
