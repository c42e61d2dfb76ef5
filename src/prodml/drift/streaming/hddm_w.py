"""HDDM_W: drift detection with McDiarmid bounds on weighted averages (Frías-Blanco, 2015)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from prodml._params import Constraint, Interval, TypeOf
from prodml.drift.streaming.base import FloatArray, StreamingDetector

__all__ = ["HDDM_W"]

_sqrt = math.sqrt
_log = math.log

# An exponentially weighted sample: [mean, sum of squared weights]; the sum of squared
# weights (river's "independent bounded condition") sets the width of the bound.
_EMPTY = (0.0, 0.0)


class HDDM_W(StreamingDetector):  # noqa: N801 - the published name of the method
    r"""Hoeffding drift detection on weighted averages, for values in [0, 1].

    Like :class:`HDDM_A`, with exponentially weighted means (weight ``lambda_val`` on
    the newest value) so that old values fade. With :math:`\hat Z` the weighted mean of
    all values since the restart and :math:`\kappa` its sum of squared weights, the
    McDiarmid bound is :math:`\epsilon = \sqrt{\kappa \ln(1/\delta) / 2}`. The cut
    point moves to "now" whenever :math:`\hat Z + \epsilon` reaches a new low; the
    values after it form a second weighted sample :math:`\hat Y`, and an alarm is
    raised when :math:`\hat Y - \hat X > \sqrt{(\kappa_X + \kappa_Y) \ln(1/\delta) / 2}`
    (``drift_confidence``; ``warning_confidence`` for a warning). ``two_sided_test``
    also watches for a fall. A weighted mean starts at its first value. This is
    river's ``HDDMW`` step by step (with river's settings, the same alarms); the default
    confidences are smaller (river's 0.001 raises false alarms on in-control streams at
    error rates of 0.2 and above). With ``lambda_val=0.05`` the weighted means are
    noisy, so only large, sudden rises are caught; :class:`HDDM_A` sees small ones.

    The weighted means are a sequential recursion, so ``update_many`` runs the same
    loop as ``update`` (without the per-value checks) rather than numpy: it gives the
    same alarms, but is not much faster.

    Parameters
    ----------
    drift_confidence
        Confidence of the alarm test.
    warning_confidence
        Confidence of the warning test, at least ``drift_confidence``.
    lambda_val
        Weight of the newest value in the weighted means, in (0, 1].
    two_sided_test
        Whether to watch for a fall as well as a rise.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import HDDM_W
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(5000) < 0.1, rng.random(5000) < 0.5])
    >>> hddm = HDDM_W()
    >>> for i, x in enumerate(errors):
    ...     if hddm.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 5217
    >>> HDDM_W().update_many(errors)
    array([5217])
    """

    __slots__ = (
        "_cut_hi",
        "_cut_lo",
        "_log_d",
        "_log_w",
        "_state",
        "_warning",
        "drift_confidence",
        "lambda_val",
        "two_sided_test",
        "warning_confidence",
    )
    _PARAMS = ("drift_confidence", "warning_confidence", "lambda_val", "two_sided_test")
    domain = "unit"

    def __init__(
        self,
        drift_confidence: float = 1e-7,
        warning_confidence: float = 1e-4,
        lambda_val: float = 0.05,
        two_sided_test: bool = False,
    ) -> None:
        self.drift_confidence = drift_confidence
        self.warning_confidence = warning_confidence
        self.lambda_val = lambda_val
        self.two_sided_test = two_sided_test
        self._init_base()

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "drift_confidence": [Interval(float, 0, 1, "neither")],
            "warning_confidence": [Interval(float, 0, 1, "neither")],
            "lambda_val": [Interval(float, 0, 1, "right")],
            "two_sided_test": [TypeOf(bool, "a bool")],
        }

    def _check_extra(self) -> None:
        self._require_order("warning_confidence", ">=", "drift_confidence")

    def _clear(self) -> None:
        self._log_d = _log(1.0 / self.drift_confidence)
        self._log_w = _log(1.0 / self.warning_confidence)
        # total, then (cut sample, after-cut sample) for a rise and for a fall
        self._state: list[tuple[float, float]] = [_EMPTY] * 5
        self._cut_lo = math.inf
        self._cut_hi = -math.inf
        self._warning = False

    @property
    def warning_detected(self) -> bool:
        """Whether the last value fed raised a warning (never together with an alarm)."""
        return self._ready and self._warning

    def update(self, x: float) -> bool:
        """Feed one value in [0, 1]; return whether it raises a drift alarm.

        Raises
        ------
        DriftError
            If ``x`` is not a number in [0, 1].
        """
        if type(x) is not float:
            x = self._as_float(x)
        if not 0.0 <= x <= 1.0:
            raise self._bad_value(x)
        if self._drift:
            self._restart()
        return self._step(x)

    def _step(self, x: float) -> bool:
        lam = self.lambda_val
        keep = 1.0 - lam
        total, lo_x, lo_y, hi_x, hi_y = self._state
        total = _add(total, x, lam, keep)
        bound = _sqrt(total[1] * self._log_d / 2.0)
        drift = warn = False
        score = total[0] + bound
        if score < self._cut_lo:
            self._cut_lo = score
            lo_x, lo_y = total, _EMPTY
        else:
            lo_y = _add(lo_y, x, lam, keep)
            if lo_x[1] and lo_y[1]:
                rise = lo_y[0] - lo_x[0]
                ibc = lo_x[1] + lo_y[1]
                drift = rise > _sqrt(ibc * self._log_d / 2.0)
                warn = rise > _sqrt(ibc * self._log_w / 2.0)
        if self.two_sided_test:
            score = total[0] - bound
            if score > self._cut_hi:
                self._cut_hi = score
                hi_x, hi_y = total, _EMPTY
            else:
                hi_y = _add(hi_y, x, lam, keep)
                if hi_x[1] and hi_y[1]:
                    fall = hi_x[0] - hi_y[0]
                    ibc = hi_x[1] + hi_y[1]
                    drift = drift or fall > _sqrt(ibc * self._log_d / 2.0)
                    warn = warn or fall > _sqrt(ibc * self._log_w / 2.0)
        self._state = [total, lo_x, lo_y, hi_x, hi_y]
        self._warning = warn and not drift
        self._drift = drift
        return drift

    def _run(self, values: FloatArray) -> list[int]:
        alarms = []
        step = self._step
        for i, x in enumerate(values.tolist()):
            if self._drift:
                self._restart()
            if step(x):
                alarms.append(i)
        return alarms

    def _get_state(self) -> dict[str, Any]:
        return {
            "samples": [list(s) for s in self._state],
            "cut_lo": None if math.isinf(self._cut_lo) else self._cut_lo,
            "cut_hi": None if math.isinf(self._cut_hi) else self._cut_hi,
            "warning": self._warning,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        samples = [(float(m), float(w)) for m, w in state["samples"]]
        if len(samples) != 5:
            raise ValueError(f"expected 5 samples, got {len(samples)}")
        self._state = samples
        self._cut_lo = math.inf if state["cut_lo"] is None else float(state["cut_lo"])
        self._cut_hi = -math.inf if state["cut_hi"] is None else float(state["cut_hi"])
        self._warning = bool(state["warning"])


def _add(sample: tuple[float, float], x: float, lam: float, keep: float) -> tuple[float, float]:
    """Add ``x`` to a weighted sample; an empty one (weight 0) starts at ``x``."""
    mean, ibc = sample
    if not ibc:
        return (x, 1.0)
    return (lam * x + keep * mean, lam * lam + keep * keep * ibc)
