"""Alert rules: validation, threshold state machine (for, hysteresis, traffic), round trip."""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError
from prodml.monitoring import AlertEvent, AlertRule, BurnRateRule, BurnWindow
from prodml.monitoring.alerts import DEFAULT_BURN_WINDOWS, RuleState, rule_from_dict


def run(rule: AlertRule, seq: list[tuple[float, float]], traffic: float = 1e9) -> list:
    state = RuleState()
    return [(t, state.step(rule, v, traffic=traffic, now=t)) for t, v in seq]


def test_for_duration_delays_firing_and_a_blip_resets_it() -> None:
    rule = AlertRule("r", metric="accuracy", op="<", fire=0.8, for_s=30)
    seq = [(0, 0.7), (20, 0.7), (25, 0.9), (30, 0.7), (59, 0.7), (60, 0.7), (70, 0.6)]
    changes = [(t, c) for t, c in run(rule, seq) if c]
    assert changes == [(60, "firing")]  # pending restarted at 30 after the blip at 25


def test_hysteresis_holds_between_levels() -> None:
    rule = AlertRule("r", metric="latency_p99", op=">", fire=0.5, clear=0.3)
    seq = [(0, 0.6), (1, 0.45), (2, 0.31), (3, 0.55), (4, 0.3), (5, 0.4), (6, 0.51)]
    changes = [(t, c) for t, c in run(rule, seq) if c]
    assert changes == [(0, "firing"), (4, "resolved"), (6, "firing")]


def test_without_clear_level_resolves_at_fire_level() -> None:
    rule = AlertRule("r", metric="accuracy", op="<", fire=0.8)
    changes = [c for _, c in run(rule, [(0, 0.79), (1, 0.8)]) if c]
    assert changes == ["firing", "resolved"]


def test_minimum_traffic_guard() -> None:
    rule = AlertRule("r", metric="accuracy", op="<", fire=0.8, for_s=10, min_count=100)
    state = RuleState()
    assert state.step(rule, 0.1, traffic=99, now=0) is None
    assert state.state == "inactive"
    assert state.step(rule, 0.1, traffic=100, now=1) is None
    assert state.state == "pending"
    assert state.step(rule, 0.1, traffic=5, now=5) is None  # dip: back to inactive
    assert state.state == "inactive"
    assert state.step(rule, 0.1, traffic=100, now=6) is None
    assert state.step(rule, 0.1, traffic=100, now=16) == "firing"
    assert state.step(rule, 0.95, traffic=3, now=20) is None  # firing holds below traffic
    assert state.state == "firing"
    assert state.step(rule, math.nan, traffic=500, now=21) is None  # nan is "no data"
    assert state.step(rule, 0.95, traffic=500, now=22) == "resolved"


@given(st.lists(st.floats(0, 1, allow_nan=False), max_size=60), st.floats(0, 5))
def test_events_alternate_and_never_repeat(values: list[float], for_s: float) -> None:
    rule = AlertRule("r", metric="accuracy", op="<", fire=0.5, clear=0.6, for_s=for_s)
    changes = [c for _, c in run(rule, [(float(i), v) for i, v in enumerate(values)]) if c]
    assert all(a != b for a, b in itertools.pairwise(changes))
    assert not changes or changes[0] == "firing"


def test_set_firing_for_burn_rules() -> None:
    state = RuleState()
    assert state.set_firing(True, 20.0, 1.0, "page") == "firing"
    assert state.set_firing(True, 30.0, 2.0, "ticket") is None
    assert state.severity == "page"
    assert state.set_firing(False, 0.5, 3.0) == "resolved"
    assert state.set_firing(False, 0.5, 4.0) is None


def test_burn_alerts_escalate_but_never_step_down() -> None:
    ranks = ("page", "page", "ticket")
    state = RuleState()
    assert state.set_firing(True, 3.0, 1.0, "ticket", ranks) == "firing"
    assert state.set_firing(True, 3.5, 2.0, "ticket", ranks) is None
    assert state.set_firing(True, 20.0, 3.0, "page", ranks) == "firing"  # escalates
    assert (state.severity, state.since, state.fired_at) == ("page", 1.0, 3.0)
    assert state.set_firing(True, 4.0, 4.0, "ticket", ranks) is None  # stays a page
    assert state.severity == "page"
    assert state.set_firing(True, 30.0, 5.0, "other", ranks) is None  # unranked: no change
    assert state.set_firing(False, 0.5, 6.0) == "resolved"


def test_rule_state_round_trip() -> None:
    state = RuleState("firing", since=3.0, fired_at=4.0, value=0.2, severity="page")
    assert RuleState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    blank = RuleState.from_dict(json.loads(json.dumps(RuleState().to_dict())))
    assert blank.state == "inactive"
    assert math.isnan(blank.value)
    saved = RuleState().to_dict()
    with pytest.raises(ConfigError, match="RuleState state field 'state' must be one of"):
        RuleState.from_dict({**saved, "state": "exploded"})
    with pytest.raises(ConfigError, match="'fired_at' must be a time exactly when firing"):
        RuleState.from_dict({**state.to_dict(), "fired_at": None})
    with pytest.raises(ConfigError, match="'since' must be a finite number"):
        RuleState.from_dict({**state.to_dict(), "since": float("inf")})


@pytest.mark.parametrize(
    "rule",
    [
        AlertRule("a", metric="accuracy", op="<", fire=0.8, clear=0.9, for_s=60, min_count=50),
        BurnRateRule("b", objective=0.99, sli="latency", latency_threshold_s=0.2),
        BurnRateRule("c", windows=(BurnWindow(600, 60, 2.0, "ticket"),), min_count=10),
    ],
)
def test_rule_round_trip(rule: AlertRule | BurnRateRule) -> None:
    assert rule_from_dict(json.loads(json.dumps(rule.to_dict()))) == rule


def test_burn_rate_defaults_are_the_sre_workbook_pairs() -> None:
    rule = BurnRateRule("slo")
    assert [(w.long_s, w.short_s, w.factor) for w in rule.windows] == [
        (3600.0, 300.0, 14.4),
        (21600.0, 1800.0, 6.0),
        (259200.0, 21600.0, 1.0),
    ]
    assert rule.windows == DEFAULT_BURN_WINDOWS
    assert rule.horizon_s == 259200.0
    # Windows given as dicts are accepted and normalised.
    r2 = BurnRateRule("x", windows=({"long_s": 60, "short_s": 10, "factor": 2},))  # type: ignore[arg-type]
    assert r2.windows == (BurnWindow(60, 10, 2),)


def test_alert_event_fingerprint_and_dict() -> None:
    e = AlertEvent("acc", "firing", 0.5, 10.0, "page", "churn", "low")
    assert e.fingerprint == "churn/acc"
    assert e.to_dict()["state"] == "firing"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: AlertRule("", metric="accuracy"), "'name' parameter of AlertRule"),
        (lambda: AlertRule(3, metric="accuracy"), "'name' parameter of AlertRule"),
        (lambda: AlertRule("r", metric="accuracy", op="<="), "'op' parameter of AlertRule"),
        (lambda: AlertRule("r", metric="accuracy", fire=math.nan), "'fire' parameter"),
        (lambda: AlertRule("r", metric="accuracy", for_s=-1), "'for_s' parameter"),
        (lambda: AlertRule("r", metric="accuracy", min_count=1.5), "'min_count' parameter"),
        (lambda: AlertRule("r", metric=None), "'metric' parameter"),
        (
            lambda: AlertRule("r", metric="accuracy", op="<", fire=0.8, clear=0.7),
            "'clear' level of AlertRule 'r' must be >= fire=0.8",
        ),
        (
            lambda: AlertRule("r", metric="latency_p99", op=">", fire=0.5, clear=0.7),
            "must be <= fire=0.5",
        ),
        (lambda: AlertRule("r", metric="accuracy", clear="x"), "'clear' parameter"),
        (lambda: BurnRateRule("b", objective=1.0), "'objective' parameter of BurnRateRule"),
        (lambda: BurnRateRule("b", sli="cost"), "'sli' parameter"),
        (lambda: BurnRateRule("b", sli="latency"), "'latency_threshold_s' parameter"),
        (lambda: BurnRateRule("b", resolution_s=0), "'resolution_s' parameter"),
        (lambda: BurnRateRule("b", windows=()), "'windows' parameter"),
        (lambda: BurnRateRule("b", windows=(BurnWindow(60, 600, 2),)), "short_s <= long_s"),
        (lambda: BurnRateRule("b", windows=(BurnWindow(600, 60, 0),)), "factor > 0"),
        (lambda: rule_from_dict({"type": "magic"}), "Unknown alert rule type 'magic'"),
    ],
)
def test_bad_rules(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]
