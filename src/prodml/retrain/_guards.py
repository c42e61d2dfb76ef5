"""Guards on retraining: a minimum interval, a cap per period, a budget, and back-off."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prodml._durations import describe, seconds
from prodml._params import NONE, Interval, OneOf, check_params
from prodml.retrain._cost import CURRENCY

if TYPE_CHECKING:
    from prodml.retrain._cost import RetrainCost
    from prodml.retrain._state import RetrainState

__all__ = ["Guards"]

SLACK_S = 1e-6
"""Clock slack of the boundaries: a run exactly ``min_interval`` after the last one starts,
and a run exactly ``period`` ago no longer counts, even when the times went through float
arithmetic (timestamps of datetimes) and came out one rounding short."""
_BUDGET_REL = 1e-9  # a budget of exactly n runs' cost allows n runs (0.1 * 3 > 0.3 in floats)


def _in_period(when: float, now: float, period: float) -> bool:
    return now - when < period - SLACK_S


def _seconds(value: Any, parameter: str, *, allow_zero: bool = False) -> float:
    return seconds(value, parameter, "Guards", positive=not allow_zero)


@dataclass(frozen=True)
class Guards:
    """Limits on how often and how expensively the controller retrains.

    Parameters
    ----------
    min_interval
        Least time between two runs (seconds or a timedelta).
    max_runs
        At most this many runs per ``period`` (``None``: no cap).
    period
        The window of ``max_runs`` and ``budget``.
    budget
        At most this much retraining cost (the controller's ``RetrainCost.retrain_cost``
        per run) per ``period`` (``None``: no budget).
    currency
        The budget's currency, or ``None`` (unstated). A controller whose
        ``RetrainCost`` states another currency is refused (no conversion is made); the
        budget and the cost are compared as numbers.
    backoff, max_backoff
        After a failed or refused run, wait ``backoff * 2 ** (failures - 1)``, at most
        ``max_backoff``, before the next one; a promotion resets the count.
    max_canary
        Longest a canary may run without a verdict (``None``: no limit; a canary blocks
        new runs while it lasts). What happens then is ``canary_timeout``.
    canary_timeout
        At ``max_canary`` without a verdict: ``"rollback"`` (default) rolls the candidate
        back as inconclusive; ``"conclude"`` decides on the evidence so far
        (:meth:`prodml.rollout.Canary.conclude`): the candidate, which passed the
        promotion checks, is promoted when no gate failed and every gate's estimate lies
        within its limit (e.g. at most ``ratio`` x the baseline's error rate), and rolled
        back otherwise.

    Examples
    --------
    >>> g = Guards(backoff=timedelta(hours=1), max_backoff=timedelta(hours=6))
    >>> [g.backoff_s(n) / 3600 for n in (1, 2, 3, 4)]
    [1.0, 2.0, 4.0, 6.0]
    """

    min_interval: float | timedelta = timedelta(days=1)
    max_runs: int | None = None
    period: float | timedelta = timedelta(days=30)
    budget: float | None = None
    backoff: float | timedelta = timedelta(hours=6)
    max_backoff: float | timedelta = timedelta(days=7)
    max_canary: float | timedelta | None = timedelta(days=7)
    canary_timeout: str = "rollback"
    currency: str | None = None

    def __post_init__(self) -> None:
        _seconds(self.min_interval, "min_interval", allow_zero=True)
        _seconds(self.period, "period")
        _seconds(self.backoff, "backoff", allow_zero=True)
        _seconds(self.max_backoff, "max_backoff", allow_zero=True)
        if self.max_canary is not None:
            _seconds(self.max_canary, "max_canary")
        check_params(
            "Guards",
            {
                "max_runs": self.max_runs,
                "budget": self.budget,
                "canary_timeout": self.canary_timeout,
                "currency": self.currency,
            },
            {
                "max_runs": [Interval(int, 1, None), NONE],
                "budget": [Interval(float, 0, None), NONE],
                "canary_timeout": [OneOf(("rollback", "conclude"))],
                "currency": [CURRENCY, NONE],
            },
        )

    @property
    def max_canary_s(self) -> float | None:
        """``max_canary`` in seconds (``None``: no limit)."""
        return None if self.max_canary is None else _seconds(self.max_canary, "max_canary")

    def backoff_s(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failed or refused runs."""
        if failures <= 0:
            return 0.0
        base = _seconds(self.backoff, "backoff", allow_zero=True)
        cap = _seconds(self.max_backoff, "max_backoff", allow_zero=True)
        return min(cap, base * 2.0 ** min(failures - 1, 60))

    def trim(self, state: RetrainState, now: float) -> None:
        """Forget runs and spending older than the period (the state stays bounded)."""
        period = _seconds(self.period, "period")
        state.runs = [r for r in state.runs if _in_period(r, now, period)]
        state.spent = [s for s in state.spent if _in_period(s[0], now, period)]

    def blocked(self, state: RetrainState, now: float, cost: RetrainCost | None) -> str | None:
        """Why a run must not start now, or ``None``."""
        gap = _seconds(self.min_interval, "min_interval", allow_zero=True)
        if state.last_run_at is not None and now < state.last_run_at:
            return (
                f"the clock ({now:.0f}) is {describe(state.last_run_at - now)} behind the "
                f"start of the last run ({state.last_run_at:.0f}): a clock that went back "
                "starts no run until it passes the last one again"
            )
        if state.last_run_at is not None and now - state.last_run_at < gap - SLACK_S:
            return (
                f"the last run started {describe(now - state.last_run_at)} ago, less than "
                f"the minimum interval of {describe(gap)}"
            )
        period = _seconds(self.period, "period")
        if self.max_runs is not None:
            n = sum(1 for r in state.runs if _in_period(r, now, period))
            if n >= self.max_runs:
                return f"{n} runs in the last {describe(period)} reached the cap of {self.max_runs}"
        if self.budget is not None and cost is not None:
            spent = math.fsum(s[1] for s in state.spent if _in_period(s[0], now, period))
            total = math.fsum((spent, cost.retrain_cost))
            if total > self.budget and not math.isclose(
                total, self.budget, rel_tol=_BUDGET_REL, abs_tol=0.0
            ):
                unit = self.currency or cost.currency
                cur = "" if unit is None else f" {unit}"
                return (
                    f"{spent:,.2f}{cur} spent in the last {describe(period)}; one more run "
                    f"({cost.retrain_cost:,.2f}{cur}) would exceed the budget of "
                    f"{self.budget:,.2f}{cur}"
                )
        return None
