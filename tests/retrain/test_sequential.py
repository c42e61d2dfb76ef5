"""ErrorRateTrigger: a CUSUM with a bounded false-alarm rate, and an SPRT after data drift."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, DriftError
from prodml.retrain import ErrorRateTrigger, Signal, TriggerContext

CTX = TriggerContext(now=1.0, trained_at=0.0, last_run_at=None)


def reference_cusum(x: np.ndarray, p0: float, drops: list[float], h: float) -> int | None:
    """Page's CUSUM, one sample at a time, for each design drop: the first alarm."""
    s = [0.0] * len(drops)
    for i, e in enumerate(x):
        for j, d in enumerate(drops):
            p1 = p0 + d
            s[j] = max(0.0, s[j] + e * math.log(p1 / p0) + (1 - e) * math.log((1 - p1) / (1 - p0)))
        if max(s) >= h:
            return i
    return None


def stream(seed: int, rates: list[tuple[float, int]]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([(rng.random(n) < p).astype(float) for p, n in rates])


def test_the_alarm_is_pages_cusum_per_design() -> None:
    x = stream(3, [(0.1, 4_000), (0.16, 6_000)])
    trig = ErrorRateTrigger(baseline_error=0.1)
    drops = [0.01 * 2**k for k in range(6)]
    expected = reference_cusum(x, 0.1, drops, math.log(6 * 100_000 / 0.01))
    assert expected is not None
    assert trig.update_many(x) == [expected]
    assert trig.threshold == pytest.approx(math.log(6 * 100_000 / 0.01))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 6_000), min_size=1, max_size=8), seed=st.integers(0, 50))
def test_chunks_give_the_same_alarm_and_estimate_as_one_batch(cuts: list[int], seed: int) -> None:
    x = stream(seed, [(0.1, 2_500), (0.18, 3_500)])
    whole = ErrorRateTrigger(warmup=700)
    whole_alarms = whole.update_many(x)
    parts = ErrorRateTrigger(warmup=700)
    alarms, start = [], 0
    for cut in [*sorted(set(cuts)), x.size]:
        alarms += [start + i for i in parts.update_many(x[start:cut])]
        start = max(start, cut)
    assert alarms == whole_alarms
    assert parts.baseline_ == whole.baseline_
    assert parts.alarm_ == pytest.approx(whole.alarm_)


def test_false_alarms_stay_under_alpha_when_nothing_changes() -> None:
    # alpha = 0.2 within 20,000 predictions: at most ~20 of 100 streams may alarm.
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(100):
        trig = ErrorRateTrigger(baseline_error=0.1, alpha=0.2, samples=20_000)
        alarms += bool(trig.update_many(rng.random(20_000) < 0.1))
    assert alarms <= 30  # binomial(100, 0.2) stays below 30 with probability > 0.99


def test_a_learned_baseline_is_an_upper_bound_so_noise_does_not_alarm() -> None:
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(30):
        trig = ErrorRateTrigger(warmup=500, alpha=0.05, samples=50_000)
        alarms += bool(trig.update_many(rng.random(50_000) < 0.08))
        assert trig.baseline_ is not None
        assert trig.baseline_ > 0.08 - 0.005
    assert alarms <= 3


def test_a_rise_alarms_with_its_drop_estimated() -> None:
    trig = ErrorRateTrigger(warmup=1_000)
    trig.update_many(stream(1, [(0.1, 5_000)]))
    assert trig.check(CTX) is None
    alarm = trig.update_many(stream(2, [(0.2, 3_000)]))
    assert len(alarm) == 1
    assert alarm[0] < 1_500
    sig = trig.check(CTX)
    assert isinstance(sig, Signal)
    assert sig.evidence["by"] == "cusum"
    assert sig.drop is not None
    assert 0.06 < sig.drop < 0.14  # 0.2 against a baseline a little above 0.1
    assert "CUSUM (false alarm <= 0.01 per 100,000 predictions)" in sig.reason


class Always:
    name = "drift"

    def __init__(self, fire: bool = True) -> None:
        self.fire = fire

    def check(self, context: Any) -> Signal | None:
        return Signal("drift", "3 of 6 columns drifted (a, b, c)") if self.fire else None


def test_data_drift_lowers_the_bar_but_not_below_drift_alpha() -> None:
    x = stream(5, [(0.12, 3_000)])  # a small rise over a baseline of 0.1
    alone = ErrorRateTrigger(baseline_error=0.1)
    with_drift = ErrorRateTrigger(baseline_error=0.1, drift=Always())
    assert with_drift.check(CTX) is None  # the drift starts the SPRT; errors come after
    assert alone.update_many(x) == []
    hit = with_drift.update_many(x)
    assert len(hit) == 1
    sig = with_drift.check(CTX)
    assert sig is not None
    assert sig.evidence["by"] == "drift"
    assert "after data drift (3 of 6 columns drifted (a, b, c))" in sig.reason
    # Drift that does not raise the error rate: at most drift_alpha = 0.2 of the runs fire.
    rng = np.random.default_rng(9)
    fired = 0
    for _ in range(100):
        trig = ErrorRateTrigger(baseline_error=0.1, drift=Always(), drift_alpha=0.2)
        trig.check(CTX)
        fired += bool(trig.update_many(rng.random(20_000) < 0.1))
    assert fired <= 30


def test_the_drift_test_stops_when_the_drift_is_gone() -> None:
    drift = Always()
    trig = ErrorRateTrigger(baseline_error=0.1, drift=drift)
    trig.check(CTX)
    drift.fire = False
    trig.check(CTX)
    assert trig.update_many(stream(5, [(0.12, 3_000)])) == []


class Version:
    def __init__(self, accuracy: float) -> None:
        self.metrics = {"accuracy": accuracy}


def test_the_held_out_metric_caps_the_baseline_and_tests_during_warmup() -> None:
    trig = ErrorRateTrigger(baseline_metric="accuracy", baseline_samples=600)
    ctx = TriggerContext(1.0, 0.0, None, current=Version(0.9))
    assert trig.check(ctx) is None
    cap = 0.1 + 2 * math.sqrt(0.1 * 0.9 / 600)
    assert trig.baseline_ == pytest.approx(cap)
    # Worse live than held out from the first prediction: caught before the warm-up ends.
    hit = trig.update_many(stream(4, [(0.3, 900)]))
    assert len(hit) == 1
    assert hit[0] < 900
    # Without the metric the warm-up would have taken the bad rate as the norm.
    blind = ErrorRateTrigger()
    blind.check(TriggerContext(1.0, 0.0, None))
    assert blind.update_many(stream(4, [(0.3, 900)])) == []


@pytest.mark.parametrize("held_out", [10**400, math.nan, math.inf, -0.1, 1.5, True, "0.9"])
def test_a_held_out_metric_that_is_not_a_rate_is_not_used(held_out: object) -> None:
    # The version's metrics are read back from the registry: not a rate, no cap.
    trig = ErrorRateTrigger(baseline_metric="accuracy", baseline_samples=600)
    assert trig.check(TriggerContext(1.0, 0.0, None, current=Version(held_out))) is None  # type: ignore[arg-type]
    assert trig.baseline_ is None
    assert trig.update_many(stream(4, [(0.3, 900)])) == []  # the warm-up learns the norm


class Served:
    """The production version as a trigger sees it: a number and its held-out accuracy."""

    def __init__(self, version: int, accuracy: float = 0.9) -> None:
        self.version = version
        self.metrics = {"accuracy": accuracy}


def ctx_of(version: int, now: float = 1.0) -> TriggerContext:
    return TriggerContext(now, 0.0, None, current=Served(version))


def alarmed(drift: Always, **kwargs: Any) -> ErrorRateTrigger:
    """A trigger on version 1 whose CUSUM alarmed: the error rate went from 0.1 to 0.3."""
    trig = ErrorRateTrigger(baseline_error=None, warmup=500, drift=drift, **kwargs)
    drift.fire = False
    trig.check(ctx_of(1))
    trig.update_many(stream(1, [(0.1, 2_000)]))
    assert trig.check(ctx_of(1)) is None
    assert trig.update_many(stream(2, [(0.3, 2_000)]))
    sig = trig.check(ctx_of(1))
    assert sig is not None
    assert sig.evidence["by"] == "cusum"
    return trig


def test_a_version_promoted_on_an_alarm_gets_a_follow_up_while_the_data_still_drifts() -> None:
    drift = Always()
    trig = alarmed(drift)
    before = trig.baseline_
    assert before is not None
    trig.reset()  # the run starts: the alarm is consumed
    drift.fire = True
    assert trig.check(ctx_of(1)) is None  # version 1 still serves (a canary): no look yet
    trig.reset()  # version 2 is promoted
    assert trig.check(ctx_of(2)) is None  # its warm-up has not begun
    trig.update_many(stream(3, [(0.25, 400)]))
    assert trig.check(ctx_of(2)) is None  # nor ended
    trig.update_many(stream(4, [(0.25, 200)]))
    sig = trig.check(ctx_of(2))
    assert sig is not None
    assert sig.evidence["by"] == "follow-up"
    assert sig.evidence["samples_since"] == 600
    assert sig.evidence["baseline_error"] == pytest.approx(before)
    rate = float(np.concatenate([stream(3, [(0.25, 400)]), stream(4, [(0.25, 200)])]).mean())
    assert sig.drop == pytest.approx(rate - before)
    assert "follow-up: data still drifted" in sig.reason
    assert "3 of 6 columns drifted" in sig.reason
    # The follow-up is consumed too; version 3 is promoted and its watch begins: no drift
    # at its first look, drift at a later one within the watch is a follow-up again.
    trig.reset()
    trig.reset()
    drift.fire = False
    trig.update_many(stream(5, [(0.25, 600)]))
    assert trig.check(ctx_of(3, now=DAY)) is None
    drift.fire = True
    trig.update_many(stream(6, [(0.25, 600)]))
    again = trig.check(ctx_of(3, now=5 * DAY))
    assert again is not None
    assert again.evidence["by"] == "follow-up"


DAY = 86_400.0


def test_the_watch_ends_after_watch_seconds_and_drift_then_only_starts_the_sprt() -> None:
    drift = Always()
    trig = alarmed(drift, watch=7 * DAY)
    trig.reset()
    trig.reset()  # version 2 is promoted
    drift.fire = False
    trig.update_many(stream(3, [(0.25, 600)]))
    for day in range(8):  # the watch: no drift at any look
        assert trig.check(ctx_of(2, now=day * DAY)) is None
    drift.fire = True
    assert trig.check(ctx_of(2, now=7 * DAY + 1.0)) is None  # after the watch: settled
    assert trig._settle is None
    assert trig._sprt is not None  # the drift test, not a follow-up, runs


def test_a_chain_holds_at_most_max_follow_ups() -> None:
    drift = Always()
    trig = alarmed(drift, max_follow_ups=2)
    drift.fire = True
    fired = []
    for version in range(2, 7):  # each follow-up is retrained and promoted at once
        trig.reset()
        trig.reset()
        trig.update_many(stream(version, [(0.25, 600)]))
        sig = trig.check(ctx_of(version, now=version * DAY))
        fired.append(sig is not None and sig.evidence["by"] == "follow-up")
    assert fired == [True, True, False, False, False]


def test_a_follow_up_whose_run_fails_resumes_the_watch_of_the_same_version() -> None:
    drift = Always()
    trig = alarmed(drift, watch=10 * DAY)
    trig.reset()
    trig.reset()  # version 2 promoted
    drift.fire = True
    trig.update_many(stream(3, [(0.25, 600)]))
    assert trig.check(ctx_of(2, now=DAY)) is not None  # the watch starts and fires
    trig.reset()  # the follow-up's run starts, then fails: version 2 still serves
    trig.update_many(stream(4, [(0.25, 600)]))
    resumed = trig.check(ctx_of(2, now=4 * DAY))
    assert resumed is not None
    assert resumed.evidence["by"] == "follow-up"
    trig.reset()  # fails again; the watch began at day 1, so it is over at day 11
    trig.update_many(stream(5, [(0.25, 600)]))
    assert trig.check(ctx_of(2, now=11 * DAY + 1.0)) is None
    assert trig._settle is None


def test_a_chain_of_alarms_keeps_the_error_rate_from_before_the_change() -> None:
    drift = Always()
    trig = alarmed(drift, baseline_metric="accuracy")
    first = trig.baseline_
    assert first is not None
    trig.reset()
    trig.reset()  # version 2, whose warm-up has not ended when its own alarm comes
    drift.fire = False
    trig.check(ctx_of(2))
    trig.update_many(stream(7, [(0.6, 400)]))
    sig = trig.check(ctx_of(2))
    assert sig is not None  # against the held-out bound, during the warm-up
    trig.reset()
    trig.reset()  # version 3
    drift.fire = True
    trig.update_many(stream(8, [(0.5, 600)]))
    follow = trig.check(ctx_of(3))
    assert follow is not None
    assert follow.evidence["by"] == "follow-up"
    assert follow.evidence["baseline_error"] == pytest.approx(first)


@pytest.mark.parametrize("setting", ["no alarm", "follow_up=False", "no drift trigger"])
def test_no_follow_up_without_a_consumed_alarm_or_when_turned_off(setting: str) -> None:
    drift = Always()
    if setting == "no alarm":
        trig = ErrorRateTrigger(warmup=500, drift=drift)
        trig.update_many(stream(1, [(0.1, 2_000)]))
        trig.check(ctx_of(1))
    elif setting == "no drift trigger":
        trig = ErrorRateTrigger(warmup=500)
        trig.update_many(stream(1, [(0.1, 2_000)]))
        assert trig.update_many(stream(2, [(0.3, 2_000)]))
        trig.check(ctx_of(1))
    else:
        trig = alarmed(drift, follow_up=False)
    trig.reset()
    trig.reset()
    drift.fire = True
    trig.update_many(stream(3, [(0.25, 600)]))
    assert trig.check(ctx_of(2)) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 1.5}, "The 'alpha' parameter of ErrorRateTrigger must be a float in (0, 1)"),
        ({"min_drop": 0.0}, "The 'min_drop' parameter of ErrorRateTrigger must be a float"),
        ({"warmup": 0}, "The 'warmup' parameter of ErrorRateTrigger must be an int >= 1"),
        ({"samples": True}, "The 'samples' parameter"),
        ({"drift": object()}, "The 'drift' parameter of ErrorRateTrigger must be a trigger"),
        ({"baseline_metric": 3}, "The 'baseline_metric' parameter"),
        ({"follow_up": "yes"}, "The 'follow_up' parameter of ErrorRateTrigger must be a bool"),
        (
            {"watch": -1.0},
            "The 'watch' parameter of ErrorRateTrigger must be seconds > 0 or a timedelta",
        ),
        ({"settle": "any"}, "The 'settle' parameter of ErrorRateTrigger must be a trigger"),
        ({"max_follow_ups": -1}, "The 'max_follow_ups' parameter of ErrorRateTrigger must be"),
        # An int beyond the float range: the parameter's error, not an OverflowError.
        ({"alpha": 10**400}, "The 'alpha' parameter of ErrorRateTrigger must be a float in"),
        ({"min_drop": 10**400}, "The 'min_drop' parameter of ErrorRateTrigger must be"),
        ({"drift_alpha": 10**400}, "The 'drift_alpha' parameter of ErrorRateTrigger must be"),
        ({"warmup": 10**400}, "The 'warmup' parameter of ErrorRateTrigger must be an int >= 1"),
        ({"watch": 10**400}, "The 'watch' parameter of ErrorRateTrigger must be seconds > 0"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        ErrorRateTrigger(**kwargs)
    assert message in str(err.value)


@pytest.mark.parametrize("bad", [[0.0, 1.5], [0.0, -0.1], [float("nan")]])
def test_errors_outside_zero_one_are_refused(bad: list[float]) -> None:
    trig = ErrorRateTrigger(baseline_error=0.1)
    with pytest.raises(DriftError, match=r"errors in \[0, 1\]"):
        trig.update_many(bad)
    assert trig.seen == 0
