"""Dating a change point and training on the data since it.

``ErrorRateTrigger`` puts the estimated start of the change it detected in its signal's
evidence (``change_at``, on the controller's clock: the check before the first error of
the change was fed); :func:`prodml.retrain.change_window` turns it into a training
window, never shorter than ``min_window`` nor longer than ``window``.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError
from prodml.retrain import (
    ErrorRateTrigger,
    RetrainController,
    RetrainStateError,
    RunContext,
    Signal,
    TriggerContext,
    change_window,
)

from .helpers import DAY, Trainer, data, registry


def daily(trig: ErrorRateTrigger, rates: list[float], seed: int, n: int = 300) -> Signal | None:
    """Feed a day of ``n`` errors per rate, checking after each day; the first signal."""
    rng = np.random.default_rng(seed)
    for day, rate in enumerate(rates):
        trig.update_many(rng.random(n) < rate)
        sig = trig.check(TriggerContext(now=(day + 1) * DAY, trained_at=0.0, last_run_at=None))
        if sig is not None:
            return sig
    return None


# ---------------------------------------------------------------- the estimate
def test_the_cusum_dates_a_known_change_within_a_day() -> None:
    """Error rate 0.1, then 0.2 from a known day: the check before that day's labels."""
    off = []
    for seed in range(20):
        change = 20 + seed % 10
        sig = daily(ErrorRateTrigger(warmup=600), [0.1] * change + [0.2] * 30, seed)
        assert sig is not None
        assert sig.evidence["by"] == "cusum"
        at = sig.evidence["change_at"] / DAY
        assert at == int(at)  # a check's time: the end of a day
        # never after the alarm: the CUSUM's last zero precedes it
        assert at <= change + math.ceil(sig.evidence["samples_since"] / 300)
        off.append(at - change)
    # a CUSUM started before the change by chance dates it a day early at most here;
    # one that fell back to zero just after it, a little late
    assert sum(abs(d) <= 1 for d in off) >= 18, off
    assert min(off) >= -2, off


def test_the_date_is_the_last_check_before_the_change_was_fed() -> None:
    """Errors of a change fed across several batches between checks: the earlier check."""
    trig = ErrorRateTrigger(baseline_error=0.1, min_drop=0.05)
    trig.update_many(np.zeros(2_000))
    assert trig.check(TriggerContext(now=10.0, trained_at=0.0, last_run_at=None)) is None
    trig.update_many(np.ones(200))  # the change: every prediction wrong, no check between
    sig = trig.check(TriggerContext(now=20.0, trained_at=0.0, last_run_at=None))
    assert sig is not None
    assert sig.evidence["change_at"] == 10.0


def test_no_check_before_the_change_gives_no_date() -> None:
    trig = ErrorRateTrigger(baseline_error=0.1, min_drop=0.05)
    trig.update_many(np.ones(200))
    sig = trig.check(TriggerContext(now=5.0, trained_at=0.0, last_run_at=None))
    assert sig is not None
    assert sig.evidence["change_at"] is None


def test_after_data_drift_the_date_is_the_earlier_of_the_cusum_and_the_drift() -> None:
    class Drifted:
        name = "drift"
        fire = False

        def check(self, context: Any) -> Signal | None:
            return Signal("drift", "2 of 3 columns drifted") if self.fire else None

    drift = Drifted()
    trig = ErrorRateTrigger(baseline_error=0.1, drift=drift)
    rng = np.random.default_rng(3)
    for day in range(1, 40):
        drift.fire = day >= 25  # the co-signal sees the change 5 days after it began
        trig.update_many(rng.random(300) < (0.1 if day < 20 else 0.13))
        sig = trig.check(TriggerContext(now=day * DAY, trained_at=0.0, last_run_at=None))
        if sig is not None:
            break
    assert sig is not None
    assert sig.evidence["by"] == "drift"
    # the CUSUM had been climbing since the change, before the drift report saw it
    assert sig.evidence["change_at"] < 24 * DAY


def test_thinned_marks_only_move_the_date_earlier() -> None:
    """Past 64 checks, the older half is thinned: a date from them is at or before the true one."""
    exact = ErrorRateTrigger(baseline_error=0.1, min_drop=0.05)
    trig = ErrorRateTrigger(baseline_error=0.1, min_drop=0.05)
    for t in (exact, trig):
        for hour in range(1, 200):
            t.update_many(np.zeros(10))
            if t is trig or hour > 150:  # `exact` remembers only the checks it needs
                assert t.check(TriggerContext(hour * 3600.0, 0.0, None)) is None
        assert len(t.state_dict()["marks"]) <= 64
        t.update_many(np.ones(100))
    sigs = [t.check(TriggerContext(300 * 3600.0, 0.0, None)) for t in (exact, trig)]
    assert sigs[0] is not None
    assert sigs[1] is not None
    assert sigs[0].evidence["change_at"] == 199 * 3600.0
    assert sigs[1].evidence["change_at"] <= sigs[0].evidence["change_at"]


def test_a_repeated_step_adds_no_mark() -> None:
    trig = ErrorRateTrigger(baseline_error=0.1)
    trig.update_many(np.zeros(10))
    ctx = TriggerContext(now=5.0, trained_at=0.0, last_run_at=None)
    trig.check(ctx)
    trig.check(ctx)
    trig.check(TriggerContext(now=4.0, trained_at=0.0, last_run_at=None))  # clock went back
    trig.check(TriggerContext(now=math.nan, trained_at=0.0, last_run_at=None))  # not a clock
    assert trig.state_dict()["marks"] == [[5.0, 10]]


# ---------------------------------------------------------------- saved state
def test_the_date_survives_a_reload_and_a_reset() -> None:
    trig = ErrorRateTrigger(warmup=600)
    sig = daily(trig, [0.1] * 20 + [0.25] * 10, seed=1)
    assert sig is not None
    fresh = ErrorRateTrigger(warmup=600)
    fresh.load_state_dict(trig.state_dict())
    again = fresh.check(TriggerContext(now=31 * DAY, trained_at=0.0, last_run_at=None))
    assert again is not None
    assert again.evidence["change_at"] == sig.evidence["change_at"]
    fed = fresh.state_dict()["fed"]
    fresh.reset()  # a run consumed the alarm: the count of every error fed goes on
    assert fresh.state_dict()["fed"] == fed
    assert fresh.state_dict()["seen"] == 0


def test_an_old_state_without_dating_loads_and_dates_nothing() -> None:
    trig = ErrorRateTrigger(warmup=600)
    assert daily(trig, [0.1] * 20 + [0.25] * 10, seed=1) is not None
    old = trig.state_dict()
    del old["fed"], old["marks"]
    del old["alarm"]["change"]
    fresh = ErrorRateTrigger(warmup=600)
    fresh.load_state_dict(old)
    sig = fresh.check(TriggerContext(now=40 * DAY, trained_at=0.0, last_run_at=None))
    assert sig is not None
    assert sig.evidence["change_at"] is None
    assert fresh.state_dict()["fed"] == old["seen"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"fed": -1}, "trigger.fed"),
        ({"fed": 1}, "trigger.fed"),  # fewer than seen
        ({"marks": {"a": 1}}, "trigger.marks"),
        ({"marks": [[1.0, 2]] * 65}, "trigger.marks"),
        ({"marks": [[1.0]]}, "trigger.marks[0]"),
        ({"marks": [[math.nan, 2]]}, "trigger.marks[0]"),
        ({"marks": [[True, 2]]}, "trigger.marks[0]"),
        ({"marks": [[1e300, 2]]}, "trigger.marks[0]"),
        ({"marks": [[1.0, 2], [1.0, 3]]}, "trigger.marks[1]"),  # the clock did not move on
        ({"marks": [[1.0, 3], [2.0, 3]]}, "trigger.marks[1]"),  # nor the count
        ({"marks": [[1.0, 10**9]]}, "trigger.marks[0]"),  # more than fed
        ({"alarm": {"change": -3}}, "trigger.alarm.change"),
        ({"alarm": {"change": "0"}}, "trigger.alarm.change"),
        ({"alarm": {"change": 10**9}}, "trigger.alarm.change"),  # more than fed
    ],
)
def test_hostile_dating_state_is_refused_naming_the_path(change: dict[str, Any], path: str) -> None:
    trig = ErrorRateTrigger(warmup=600)
    assert daily(trig, [0.1] * 20 + [0.25] * 10, seed=1) is not None
    saved = trig.state_dict()
    for key, value in change.items():
        if isinstance(value, dict) and key == "alarm":
            saved["alarm"].update(value)
        else:
            saved[key] = value
    fresh = ErrorRateTrigger(warmup=600)
    before = fresh.state_dict()
    with pytest.raises(RetrainStateError, match=path.replace("[", r"\[").replace("]", r"\]")):
        fresh.load_state_dict(saved)
    assert fresh.state_dict() == before  # nothing changed on error


# ---------------------------------------------------------------- the window
def context(now: float, evidence: Any) -> RunContext:
    return RunContext("r", "error_rate", "why", now, None, {"evidence": evidence})


finite = st.floats(-1e9, 1e9, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    now=finite,
    window=st.floats(1.0, 1e7),
    share=st.floats(0.0, 1.0),
    change=st.one_of(st.none(), finite),
)
def test_the_window_is_bounded_and_starts_at_the_change_when_it_can(
    now: float, window: float, share: float, change: float | None
) -> None:
    shortest = max(1e-3, window * share)
    start, end = change_window(
        context(now, {"change_at": change}), window=window, min_window=shortest
    )
    assert end == now
    assert now - window <= start <= now - shortest or math.isclose(start, now - shortest)
    if change is not None and now - window <= change <= now - shortest:
        assert start == change  # within the bounds: exactly the estimate
    elif change is None or change > now:
        assert start == now - window  # nothing to go on: the full window
    elif change < now - window:
        assert start == now - window  # never longer than the user's window
    else:
        assert start == now - shortest  # never shorter than the minimum


@pytest.mark.parametrize(
    "evidence",
    [
        {},
        None,
        "change_at",
        {"change_at": None},
        {"change_at": "25"},
        {"change_at": True},
        {"change_at": math.nan},
        {"change_at": math.inf},
        {"change_at": 10**400},
        {"change_at": 31 * DAY},  # after the run: not a change this run can train on
    ],
)
def test_no_usable_change_at_gives_the_full_window(evidence: Any) -> None:
    start, end = change_window(context(30 * DAY, evidence), window=14 * DAY, min_window=DAY)
    assert (start, end) == (16 * DAY, 30 * DAY)


def test_timedeltas_and_a_signal_without_evidence() -> None:
    ctx = RunContext("r", "schedule", "why", 30 * DAY, None, {})
    assert change_window(ctx, window=timedelta(days=7), min_window=timedelta(days=2)) == (
        23 * DAY,
        30 * DAY,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 0.0, "min_window": 0.0}, "window"),
        ({"window": DAY, "min_window": -1.0}, "min_window"),
        ({"window": DAY, "min_window": 2 * DAY}, "min_window .* must be at most window"),
        ({"window": math.nan, "min_window": DAY}, "window"),
        ({"window": "14 days", "min_window": DAY}, "window"),
    ],
)
def test_bad_windows_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        change_window(context(30 * DAY, {"change_at": 25 * DAY}), **kwargs)


def test_a_context_without_a_clock_is_refused() -> None:
    with pytest.raises(ConfigError, match="RunContext"):
        change_window(object(), window=DAY, min_window=DAY)  # type: ignore[arg-type]


# ---------------------------------------------------------------- in the controller
def test_the_controller_trains_on_the_data_since_the_dated_change() -> None:
    """An alarm on day 11's labels: the data function sees its date and trims the window."""
    reg = registry()
    errors = ErrorRateTrigger(baseline_error=0.1, min_drop=0.05)
    seen: list[tuple[Any, tuple[float, float]]] = []

    def since_change(ctx: RunContext) -> Any:
        seen.append(
            (
                ctx.signal["evidence"]["change_at"],
                change_window(ctx, window=14 * DAY, min_window=DAY),
            )
        )
        return data(seed=len(seen))

    ctl = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=Trainer(),
        triggers=[errors],
        data=since_change,
    )
    rng = np.random.default_rng(0)
    for day in range(1, 12):
        errors.update_many(rng.random(300) < (0.1 if day <= 10 else 0.5))
        ctl.step(day * DAY)
    assert [d.action for d in ctl.decisions if d.action != "none"][:1] == ["retrain"]
    assert len(seen) == 1
    change_at, (start, end) = seen[0]
    # the check before day 11's labels (or the one before, when the alarming CUSUM's
    # last zero fell among day 10's last errors): never a day of the change left out
    assert change_at in (9 * DAY, 10 * DAY)
    assert (start, end) == (change_at, 11 * DAY)


@pytest.mark.parametrize("trained_at", [12 * DAY, None])
def test_a_follow_up_is_dated_when_the_serving_version_was_trained(
    trained_at: float | None,
) -> None:
    """The data moved on after the serving version's window was cut: the change is there."""
    from .test_sequential import Always, Served, alarmed, stream

    drift = Always()
    trig = alarmed(drift)
    trig.reset()  # the run starts
    drift.fire = True
    trig.reset()  # version 2 is promoted
    trig.update_many(stream(3, [(0.25, 600)]))
    sig = trig.check(TriggerContext(20 * DAY, trained_at, None, current=Served(2)))
    assert sig is not None
    assert sig.evidence["by"] == "follow-up"
    assert sig.evidence["change_at"] == trained_at
    start, _ = change_window(
        RunContext("r", sig.trigger, sig.reason, 20 * DAY, None, sig.to_dict()),
        window=14 * DAY,
        min_window=3 * DAY,
    )
    assert start == (12 * DAY if trained_at is not None else 6 * DAY)
