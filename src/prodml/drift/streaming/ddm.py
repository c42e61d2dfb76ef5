"""DDM: drift detection method for error rates (Gama et al., 2004)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from prodml._params import Constraint, Interval
from prodml._state import Field
from prodml.drift.streaming.base import (
    MAX_N,
    Domain,
    FloatArray,
    _WarningDetector,
    first_true,
    run_segments,
)

__all__ = ["DDM"]

_sqrt = math.sqrt
_BLOCK = 1 << 15  # values per scan step: bounds the work wasted past an alarm
_PLAIN = frozenset((float, int, bool))


class DDM(_WarningDetector):
    r"""Drift detection method: watches a model's error rate for a rise.

    Feed 1 for an error (a misclassification) and 0 for a success. With :math:`p_t` the
    error rate since the last restart and :math:`s_t = \sqrt{p_t (1 - p_t) / t}`, the
    detector remembers :math:`p_{min}, s_{min}` where :math:`p_t + s_t` was lowest
    (ties move it forward) and, after ``warm_start`` values, raises

    - a warning when :math:`p_t + s_t > p_{min} + w \, s_{min}`,
    - an alarm when :math:`p_t + s_t > p_{min} + d \, s_{min}`,

    with :math:`w` the ``warning_threshold`` and :math:`d` the ``drift_threshold``.
    This is river's ``DDM``; the defaults differ (``warm_start=300``, ``d=4``), chosen
    so that 500,000 in-control values raise no false alarm: with river's 30 and 3 the
    early, noisy minimum makes false alarms common. The minimum often sticks where
    the early rate was low by luck, with a wide :math:`s_{min}`: DDM then needs a
    large rise to fire (see HDDM_A for a test with a guaranteed error rate).

    Parameters
    ----------
    warm_start
        Values seen before any test (and before the minimum is tracked).
    warning_threshold
        Standard deviations above the minimum that raise a warning.
    drift_threshold
        Standard deviations above the minimum that raise an alarm.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import DDM
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(5000) < 0.1, rng.random(5000) < 0.3])
    >>> ddm = DDM()
    >>> for i, x in enumerate(errors):
    ...     if ddm.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 5921
    >>> DDM().update_many(errors)
    array([5921])
    """

    __slots__ = (
        "_errors",
        "_n",
        "_p_min",
        "_ps_min",
        "_s_min",
        "drift_threshold",
        "warm_start",
        "warning_threshold",
    )
    _PARAMS = ("warm_start", "warning_threshold", "drift_threshold")
    _FIELDS = ("n", "errors", "p_min", "s_min", "ps_min", "warning")
    domain: ClassVar[Domain] = "binary"

    def __init__(
        self,
        warm_start: int = 300,
        warning_threshold: float = 2.0,
        drift_threshold: float = 4.0,
    ) -> None:
        self.warm_start: int = warm_start
        self.warning_threshold: float = warning_threshold
        self.drift_threshold: float = drift_threshold
        self._init_base()

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "warm_start": [Interval(int, 1, None)],
            "warning_threshold": [Interval(float, 0, None, "neither")],
            "drift_threshold": [Interval(float, 0, None, "neither")],
        }

    def _check_extra(self) -> None:
        self._require_order("warning_threshold", "<=", "drift_threshold")

    def _clear(self) -> None:
        self._n = 0
        self._errors = 0
        self._p_min = 0.0
        self._s_min = 0.0
        self._ps_min = math.inf
        self._warning = False

    def update(self, x: float) -> bool:
        """Feed one value (1 = error, 0 = success); return whether it raises an alarm.

        Raises
        ------
        DriftError
            If ``x`` is not 0 or 1.
        """
        self._busy += 1  # a to_dict in another thread waits for this update
        if self._hold:
            self._wait_for_reader()
        try:
            if type(x) not in _PLAIN:
                x = self._as_float(x)
            if x == 1:
                err = 1
            elif x == 0:
                err = 0
            else:
                raise self._bad_value(x)
            if self._drift:
                self._restart()
            n = self._n + 1
            self._n = n
            errors = self._errors + err
            self._errors = errors
            if n <= self.warm_start:
                return False
            p = errors / n
            s = _sqrt(p * (1.0 - p) / n)
            ps = p + s
            if ps <= self._ps_min:
                self._p_min = p
                self._s_min = s
                self._ps_min = ps
            p_min = self._p_min
            s_min = self._s_min
            drift = ps > p_min + self.drift_threshold * s_min
            self._warning = not drift and ps > p_min + self.warning_threshold * s_min
            self._drift = drift
            return drift
        finally:
            self._busy -= 1

    def _scan(self, chunk: FloatArray) -> int:
        for start in range(0, len(chunk), _BLOCK):
            hit = self._scan_block(chunk[start : start + _BLOCK])
            if hit >= 0:
                return start + hit
        return -1

    def _scan_block(self, chunk: FloatArray) -> int:
        """Feed ``chunk``; return its first alarm's position or -1, as ``update`` would.

        Every float is computed with the operations of ``update``, in its order, so the
        alarms and the state are bit-for-bit those of the loop.
        """
        k, n0 = len(chunk), self._n
        t0 = min(k, max(0, int(self.warm_start) - n0))  # positions before t0 warm up
        errors0 = self._errors + int(chunk[:t0].sum())
        if t0 == k:
            self._n, self._errors = n0 + k, errors0
            return -1
        errors = np.cumsum(chunk[t0:])
        errors += errors0
        n = np.arange(n0 + t0 + 1, n0 + k + 1, dtype=np.float64)
        p = errors / n
        s = 1.0 - p
        s *= p
        s /= n
        np.sqrt(s, out=s)
        ps = p + s
        # The tracker moves where ps is at most the lowest ps before it (ties move it).
        lowest = np.minimum.accumulate(np.concatenate(([self._ps_min], ps[:-1])))
        moved = np.flatnonzero(ps <= lowest)
        d = self.drift_threshold
        limit = p[moved] + d * s[moved]  # the alarm limit from each move on
        limit0 = self._p_min + d * self._s_min  # the limit before the first move
        # No ps above the lowest limit in force anywhere in the block: no alarm.
        floor = float(limit.min()) if len(moved) else math.inf
        if not len(moved) or moved[0]:
            floor = min(floor, limit0)
        hit = -1
        if float(ps.max()) > floor:
            rank = np.zeros(len(ps), dtype=np.intp)
            rank[moved] = np.arange(1, len(moved) + 1)
            in_force = np.maximum.accumulate(rank)  # 1 + index of the last move, or 0
            hit = first_true(ps > np.concatenate(([limit0], limit))[in_force])
        j = hit if hit >= 0 else len(ps) - 1
        self._n = n0 + t0 + j + 1
        self._errors = int(errors[j])
        last = int(np.searchsorted(moved, j, side="right")) - 1
        if last >= 0:
            q = int(moved[last])
            self._p_min, self._s_min, self._ps_min = float(p[q]), float(s[q]), float(ps[q])
        self._warning = hit < 0 and float(ps[j]) > (
            self._p_min + self.warning_threshold * self._s_min
        )
        return hit if hit < 0 else t0 + hit

    def _run(self, values: FloatArray) -> list[int]:
        if _plain(self.drift_threshold, self.warning_threshold):
            return run_segments(self, values, self._scan)
        # Thresholds of another type (a numpy float32, a Fraction) round otherwise.
        update = self.update
        return [i for i, x in enumerate(values.tolist()) if update(x)]

    def _get_state(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "errors": self._errors,
            "p_min": self._p_min,
            "s_min": self._s_min,
            "ps_min": None if math.isinf(self._ps_min) else self._ps_min,
            "warning": self._warning,
        }

    def _set_state(self, state: Field) -> None:
        self._n = state["n"].count(hi=MAX_N)
        self._errors = state["errors"].count(hi=self._n)
        self._p_min = state["p_min"].float(lo=0.0, hi=1.0)
        self._s_min = state["s_min"].float(lo=0.0, hi=1.0)
        ps_min = state["ps_min"].optional_float(lo=0.0, hi=2.0)
        self._ps_min = math.inf if ps_min is None else ps_min
        self._warning = state["warning"].bool()


def _plain(*values: object) -> bool:
    """Whether all are ints or floats (float64 included): numpy's arithmetic is theirs."""
    return all(isinstance(v, int | float) for v in values)
