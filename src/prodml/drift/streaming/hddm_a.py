"""HDDM_A: drift detection with Hoeffding bounds on averages (Frías-Blanco et al., 2015)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from prodml._params import Constraint, Interval, TypeOf
from prodml._state import Field
from prodml.drift.streaming.base import (
    MAX_N,
    Domain,
    FloatArray,
    _WarningDetector,
    first_true,
    tracker_index,
)

__all__ = ["HDDM_A"]

_sqrt = math.sqrt
_log = math.log


class HDDM_A(_WarningDetector):  # noqa: N801 - the published name of the method
    r"""Hoeffding drift detection on averages, for values in [0, 1] (error rates).

    With :math:`\bar Z_t` the mean of the :math:`t` values since the last restart and
    :math:`\epsilon(n) = \sqrt{\ln(1/\delta_d) / (2n)}`, the detector keeps a cut point
    :math:`X`: the prefix at which :math:`\bar Z_t + \epsilon(t)` was lowest (ties move
    it forward). It raises an alarm when the mean since the cut has risen significantly,

    .. math::

        \bar Z_t - \bar X \ge \sqrt{\frac{m}{2} \ln \frac{2}{\delta}}, \qquad
        m = \frac{t - n_X}{n_X \, t},

    with :math:`\delta` the ``drift_confidence`` (an alarm) or ``warning_confidence``
    (a warning). ``two_sided_test=True`` also watches for a fall, with a second cut
    point where :math:`\bar Z_t - \epsilon(t)` was highest. This is river's ``HDDMA``
    (with river's settings, the same alarms); the default confidences are smaller, for
    no false alarm over 500,000 in-control values. A warning is never raised together
    with an alarm. Means are sums over counts, so
    ``update_many`` is a few cumulative sums.

    Parameters
    ----------
    drift_confidence
        Confidence :math:`\delta` of the alarm test (smaller: fewer false alarms).
    warning_confidence
        Confidence of the warning test, at least ``drift_confidence``.
    two_sided_test
        Whether to watch for a fall as well as a rise.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import HDDM_A
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(5000) < 0.1, rng.random(5000) < 0.3])
    >>> hddm = HDDM_A()
    >>> for i, x in enumerate(errors):
    ...     if hddm.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 5176
    >>> HDDM_A().update_many(errors)
    array([5176])
    """

    __slots__ = (
        "_hi_mean",
        "_hi_n",
        "_hi_score",
        "_lo_mean",
        "_lo_n",
        "_lo_score",
        "_log_b",
        "_log_d",
        "_log_w",
        "_n",
        "_total",
        "drift_confidence",
        "two_sided_test",
        "warning_confidence",
    )
    _PARAMS = ("drift_confidence", "warning_confidence", "two_sided_test")
    domain: ClassVar[Domain] = "unit"

    def __init__(
        self,
        drift_confidence: float = 1e-7,
        warning_confidence: float = 1e-4,
        two_sided_test: bool = False,
    ) -> None:
        self.drift_confidence: float = drift_confidence
        self.warning_confidence: float = warning_confidence
        self.two_sided_test: bool = two_sided_test
        self._init_base()

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "drift_confidence": [Interval(float, 0, 1, "neither")],
            "warning_confidence": [Interval(float, 0, 1, "neither")],
            "two_sided_test": [TypeOf(bool, "a bool")],
        }

    def _check_extra(self) -> None:
        self._require_order("warning_confidence", ">=", "drift_confidence")

    def _clear(self) -> None:
        self._log_b = _log(1.0 / self.drift_confidence)
        self._log_d = _log(2.0 / self.drift_confidence)
        self._log_w = _log(2.0 / self.warning_confidence)
        self._n = 0
        self._total = 0.0
        # Cut point for a rise ("lo": lowest mean + bound) and for a fall ("hi").
        self._lo_n, self._lo_mean, self._lo_score = 0, 0.0, math.inf
        self._hi_n, self._hi_mean, self._hi_score = 0, 0.0, -math.inf
        self._warning = False

    def update(self, x: float) -> bool:
        """Feed one value in [0, 1]; return whether it raises a drift alarm.

        Raises
        ------
        DriftError
            If ``x`` is not a number in [0, 1].
        """
        self._busy += 1  # a to_dict in another thread waits for this update
        if self._hold:
            self._wait_for_reader()
        try:
            if type(x) is not float:
                x = self._as_float(x)
            if not 0.0 <= x <= 1.0:
                raise self._bad_value(x)
            if self._drift:
                self._restart()
            n = self._n + 1
            self._n = n
            total = self._total + x
            self._total = total
            mean = total / n
            bound = _sqrt(self._log_b / (2.0 * n))
            score = mean + bound
            if score <= self._lo_score:
                self._lo_n, self._lo_mean, self._lo_score = n, mean, score
            drift = warn = False
            lo_n = self._lo_n
            if lo_n < n:
                m = (n - lo_n) / lo_n * (1.0 / n)
                rise = mean - self._lo_mean
                drift = rise >= _sqrt(m / 2.0 * self._log_d)
                warn = rise >= _sqrt(m / 2.0 * self._log_w)
            if self.two_sided_test:
                score = mean - bound
                if score >= self._hi_score:
                    self._hi_n, self._hi_mean, self._hi_score = n, mean, score
                hi_n = self._hi_n
                if hi_n < n:
                    m = (n - hi_n) / hi_n * (1.0 / n)
                    fall = self._hi_mean - mean
                    drift = drift or fall >= _sqrt(m / 2.0 * self._log_d)
                    warn = warn or fall >= _sqrt(m / 2.0 * self._log_w)
            self._warning = warn and not drift
            self._drift = drift
            return drift
        finally:
            self._busy -= 1

    def _scan(self, chunk: FloatArray) -> int:
        k = len(chunk)
        total = np.cumsum(np.concatenate(([self._total], chunk)))[1:]
        n = np.arange(self._n + 1, self._n + k + 1, dtype=np.float64)
        mean = total / n
        bound = np.sqrt(self._log_b / (2.0 * n))
        log_d = self._log_d
        log_w = self._log_w
        sides = [(True, mean + bound)]
        if self.two_sided_test:
            sides.append((False, mean - bound))
        drift = np.zeros(k, dtype=bool)
        warn = np.zeros(k, dtype=bool)
        ends = []
        for rise, score in sides:
            old_n, old_mean, old_score = (
                (self._lo_n, self._lo_mean, self._lo_score)
                if rise
                else (self._hi_n, self._hi_mean, self._hi_score)
            )
            idx = tracker_index(score, old_score, lowest=rise)
            moved = idx >= 0
            safe = np.where(moved, idx, 0)
            cut_n = np.where(moved, n[safe], float(old_n))
            cut_mean = np.where(moved, mean[safe], old_mean)
            with np.errstate(divide="ignore", invalid="ignore"):
                m = (n - cut_n) / cut_n * (1.0 / n)
            change = mean - cut_mean if rise else cut_mean - mean
            testing = cut_n < n
            drift |= testing & (change >= np.sqrt(m / 2.0 * log_d))
            warn |= testing & (change >= np.sqrt(m / 2.0 * log_w))
            ends.append((rise, idx, score, old_n, old_mean, old_score))
        hit = first_true(drift)
        last = hit if hit >= 0 else k - 1
        self._n += last + 1
        self._total = float(total[last])
        for rise, idx, score, old_n, old_mean, old_score in ends:
            j = int(idx[last])
            state = (
                (int(n[j]), float(mean[j]), float(score[j]))
                if j >= 0
                else (old_n, old_mean, old_score)
            )
            if rise:
                self._lo_n, self._lo_mean, self._lo_score = state
            else:
                self._hi_n, self._hi_mean, self._hi_score = state
        self._warning = bool(warn[last] and not drift[last])
        return hit

    def _get_state(self) -> dict[str, Any]:
        return {
            "n": self._n,
            "total": self._total,
            "lo": [self._lo_n, self._lo_mean, _finite_or_none(self._lo_score)],
            "hi": [self._hi_n, self._hi_mean, _finite_or_none(self._hi_score)],
            "warning": self._warning,
        }

    def _set_state(self, state: Field) -> None:
        state.dict(keys=("drift", "n", "total", "lo", "hi", "warning"))
        self._n = state["n"].count(hi=MAX_N)
        self._total = state["total"].float(lo=0.0, hi=float(self._n))
        lo, hi = state["lo"].each(length=3), state["hi"].each(length=3)
        self._lo_n = lo[0].int(lo=0, hi=self._n)
        self._lo_mean = lo[1].float(lo=0.0, hi=1.0)
        lo_score = lo[2].optional_float()
        self._lo_score = math.inf if lo_score is None else lo_score
        self._hi_n = hi[0].int(lo=0, hi=self._n)
        self._hi_mean = hi[1].float(lo=0.0, hi=1.0)
        hi_score = hi[2].optional_float()
        self._hi_score = -math.inf if hi_score is None else hi_score
        # a tracked point (a score) holds at least one value; no score, no values
        for side, n, score in ((lo, self._lo_n, lo_score), (hi, self._hi_n, hi_score)):
            side[0].check((n > 0) == (score is not None), "> 0 exactly when a score is saved")
        self._warning = state["warning"].bool()


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None
