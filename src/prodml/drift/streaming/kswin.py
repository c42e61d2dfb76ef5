"""KSWIN: Kolmogorov-Smirnov test over a sliding window (Raab et al., 2020)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml._params import Constraint, Interval
from prodml._state import Field
from prodml.drift.streaming.base import (
    MAX_VALUE,
    FloatArray,
    StreamingDetector,
    first_true,
    run_segments,
)
from prodml.errors import ConfigError

__all__ = ["KSWIN"]

IntArray = npt.NDArray[np.int64]


class KSWIN(StreamingDetector):
    r"""Two-sample Kolmogorov-Smirnov test between the newest values and older ones.

    The detector keeps the last ``window_size`` values since the last restart. Once
    the window is full, every value triggers a test of the newest ``stat_size``
    values (:math:`n` of them) against the ``window_size - stat_size`` before them
    (:math:`m`), and an alarm is raised when the KS statistic exceeds the asymptotic
    critical value

    .. math::

        D > \sqrt{-\tfrac12 \ln(\alpha / 2)} \, \sqrt{\frac{n + m}{n m}}.

    Unlike river's ``KSWIN``, the older part is the whole rest of the window (river
    draws a random subsample of it), so results need no seed, and the statistic is
    computed in exact integers (:math:`D \, n m`): ``update_many`` gives the loop's
    alarms bit for bit. The defaults (``alpha=1e-6``, a 300/100 window) are set for
    no false alarm over 500,000 in-control values although a test runs at every
    value; they catch large changes in shape or location (about one standard
    deviation), not small shifts (use :class:`ADWIN` or :class:`CUSUM` for those).

    Parameters
    ----------
    alpha
        Significance of each test.
    window_size
        Values kept in the window.
    stat_size
        Newest values compared with the rest of the window.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import KSWIN
    >>> rng = np.random.default_rng(42)
    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(2, 1, 1000)])
    >>> kswin = KSWIN()
    >>> for i, x in enumerate(stream):
    ...     if kswin.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 1046
    >>> KSWIN().update_many(stream)
    array([1046])
    """

    __slots__ = ("_crit", "_window", "alpha", "stat_size", "window_size")
    _PARAMS = ("alpha", "window_size", "stat_size")

    def __init__(self, alpha: float = 1e-6, window_size: int = 300, stat_size: int = 100) -> None:
        self.alpha: float = alpha
        self.window_size: int = window_size
        self.stat_size: int = stat_size
        self._init_base()

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "alpha": [Interval(float, 0, 1, "neither")],
            "window_size": [Interval(int, 2, None)],
            "stat_size": [Interval(int, 1, None)],
        }

    def _check_extra(self) -> None:
        if self.window_size > 40_000:
            raise ConfigError(
                "The 'window_size' parameter of KSWIN must be an int <= 40000. "
                f"Got {self.window_size!r} instead.",
                parameter="window_size",
            )
        if self.stat_size >= self.window_size:
            raise ConfigError(
                "The 'stat_size' parameter of KSWIN must be < window_size "
                f"({self.window_size!r}). Got {self.stat_size!r} instead.",
                parameter="stat_size",
            )

    def _clear(self) -> None:
        n = self.stat_size
        m = self.window_size - n
        # D > c * sqrt((n + m) / (n m))  <=>  D n m > c * sqrt(n m (n + m))
        self._crit = math.sqrt(-0.5 * math.log(self.alpha / 2.0)) * math.sqrt(n * m * (n + m))
        self._window: deque[float] = deque(maxlen=int(self.window_size))

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
            window = self._window
            window.append(x)
            if len(window) < self.window_size:
                return False
            values = np.array(window)
            m = self.window_size - self.stat_size
            old = np.sort(values[:m])
            new = np.sort(values[m:])
            drift = bool(_ks_scaled(old, new) > self._crit)
            self._drift = drift
            return drift
        finally:
            self._busy -= 1

    def _scan(self, chunk: FloatArray) -> int:
        w = self.window_size
        have = len(self._window)
        first = max(w - 1 - have, 0)  # first chunk position whose window is full
        hit = -1
        if first < len(chunk):
            values = np.concatenate((np.array(self._window, dtype=np.float64), chunk))
            # Dense integer ranks (ties equal) order each window like its values.
            uniq, ranks = np.unique(values, return_inverse=True)
            ties = len(uniq) < len(values)
            ranks = ranks.astype(np.int32 if len(uniq) < 2**30 else np.int64)
            views = np.lib.stride_tricks.sliding_window_view(ranks, w)
            step = max(1, 1_000_000 // w)  # rows per batch: bounded memory
            for start in range(first, len(chunk), step):
                stop = min(start + step, len(chunk))
                rows = views[have + start - (w - 1) : have + stop - (w - 1)]
                j = first_true(_ks_rows(rows, w - self.stat_size, ties) > self._crit)
                if j >= 0:
                    hit = start + j
                    break
        last = hit if hit >= 0 else len(chunk) - 1
        self._window.extend(chunk[max(0, last + 1 - w) : last + 1].tolist())
        return hit

    def _run(self, values: FloatArray) -> list[int]:
        return run_segments(self, values, self._scan, first_chunk=4 * self.window_size)

    def _get_state(self) -> dict[str, Any]:
        return {"window": list(self._window)}

    def _set_state(self, state: Field) -> None:
        state.dict(keys=("drift", "window"))
        window = state["window"].floats(max_len=self.window_size, lo=-MAX_VALUE, hi=MAX_VALUE)
        self._window = deque(window, maxlen=self.window_size)


def _ks_scaled(old: FloatArray, new: FloatArray) -> int:
    """KS statistic times ``len(old) * len(new)``, exactly, from sorted samples."""
    pooled = np.concatenate((old, new))
    c_old = np.searchsorted(old, pooled, side="right")
    c_new = np.searchsorted(new, pooled, side="right")
    return int(np.abs(c_old * len(new) - c_new * len(old)).max())


def _ks_rows(ranks: IntArray, m: int, ties: bool) -> IntArray:
    """Scaled KS statistic of each row's first ``m`` values against the rest.

    ``ranks`` are integer ranks of the values; each is sorted together with a bit
    telling whether it is one of the newest, and the walk ``n * #old - m * #new``
    (``n * i - w * #new`` after ``i`` values) is read at the end of each run of equal
    ranks, since ties move together (every position, when there are no ties).
    """
    w = ranks.shape[1]
    n = w - m
    is_new = (np.arange(w) >= m).astype(ranks.dtype)
    keys = np.sort((ranks << 1) | is_new, axis=1)
    # |walk| <= n * m < 2**31 for any window that fits in memory: int32 is exact.
    walk = n * np.arange(1, w + 1, dtype=np.int32) - w * np.cumsum(keys & 1, axis=1, dtype=np.int32)
    if ties:
        rank = keys >> 1
        end = np.ones(keys.shape, dtype=bool)
        end[:, :-1] = rank[:, :-1] != rank[:, 1:]
        walk = np.where(end, walk, 0)
    return np.maximum(walk.max(axis=1), -walk.min(axis=1))
