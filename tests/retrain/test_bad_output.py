"""Bad input to the controller: each is a failed run with a reason naming it, backed off.

``train`` returning wrong types, non-finite or unnamed metrics, an unfitted pipeline or
model; a promotion check raising; a trigger raising (a failed sensor: logged and counted,
not backed off); a clock that goes back; the guards at their
exact boundaries; cost inputs at their edges. Nothing raises out of ``step`` and the
state file keeps every decision.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LogisticRegression

from prodml.errors import ConfigError
from prodml.registry import MetricThreshold
from prodml.retrain import Guards, RetrainController, RetrainCost, RetrainState, Signal
from prodml.rollout import Canary, Gate, Step

from .helpers import pipeline, registry


class Fires:
    """A trigger that fires at every step, with an optional measured drop."""

    def __init__(self, drop: float | None = None, name: str = "fires") -> None:
        self.name = name
        self.drop = drop

    def check(self, context: object) -> Signal:
        return Signal(self.name, "fires at every step", drop=self.drop)


def _model(data: pd.DataFrame) -> DummyRegressor:
    return DummyRegressor().fit(data[["y"]], data["y"])


def _ctl(reg, train, tmp_path=None, **kw):
    kw.setdefault("triggers", [Fires()])
    kw.setdefault("guards", Guards(min_interval=0, backoff=3600, max_backoff=4 * 3600))
    return RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=train,
        data=lambda ctx: pd.DataFrame({"y": np.arange(20.0)}),
        state_path=None if tmp_path is None else tmp_path / "state.json",
        **kw,
    )


def _assert_failed_and_kept(ctl, action, tmp_path, *, kind="fail"):
    assert action.action == kind
    assert ctl.state.phase == "idle"
    assert ctl.state.failures == 1
    assert ctl.state.backoff_until == action.at + 3600
    saved = RetrainState.from_dict(json.loads((tmp_path / "state.json").read_text()))
    assert saved.decisions[-1]["action"] == kind
    assert saved.decisions[-1]["reason"] == action.reason
    assert ctl.step(action.at + 60).reason.startswith("backing off after 1 failed run(s)")


@pytest.mark.parametrize(
    ("metrics", "named"),
    [
        ({"rows": "abc"}, "train's metric 'rows' must be a finite number. Got 'abc'"),
        ({"rows": None}, "train's metric 'rows' must be a finite number. Got None"),
        ({"rows": True}, "train's metric 'rows' must be a finite number. Got True"),
        ({"rows": 10**400}, "train's metric 'rows' must be a finite number"),
        ({"rows": float("nan")}, "metric 'rows'"),
        ({1: 2.0}, "train's metrics must be named by non-empty strs. Got the key 1"),
        ({"": 2.0}, "train's metrics must be named by non-empty strs"),
    ],
)
def test_bad_metrics_fail_the_run_naming_the_metric(tmp_path, metrics, named):
    reg = registry()
    ctl = _ctl(reg, lambda d, ctx: (None, _model(d), metrics), tmp_path)
    action = ctl.step(0.0)
    # Before: a str or None metric was a bare ValueError/TypeError from float() reported
    # as "train failed", and an int key was silently renamed "1".
    assert "ConfigError" in action.reason
    assert named in action.reason
    assert "m" not in reg.models()
    _assert_failed_and_kept(ctl, action, tmp_path)


@pytest.mark.parametrize(
    ("out", "named"),
    [
        (lambda d: (pipeline(), _model(d), {}), "a pipeline that is not fitted"),
        (lambda d: (None, LogisticRegression(), {}), "a model that is not fitted"),
        (lambda d: (None, None, {}), "train returned no model"),
        (lambda d: [None, _model(d), {}], "Got list"),
        (lambda d: (None, _model(d), [("rows", 1.0)]), "Got a tuple of 3"),
        (lambda d: (None, lambda x: x, {}), "no flavour can save"),
    ],
)
def test_bad_train_output_fails_the_run_naming_it(tmp_path, out, named):
    reg = registry()
    ctl = _ctl(reg, lambda d, ctx: out(d), tmp_path)
    action = ctl.step(0.0)
    # Before: an unfitted pipeline or model was registered and promoted.
    assert named in action.reason
    assert "m" not in reg.models()
    _assert_failed_and_kept(ctl, action, tmp_path)


def test_a_check_that_raises_refuses_the_candidate_instead_of_sticking(tmp_path):
    reg = registry()

    def broken(candidate, current):
        raise RuntimeError("the metrics service is down")

    ctl = _ctl(reg, lambda d, ctx: (None, _model(d), {}), tmp_path, checks=[broken])
    action = ctl.step(0.0)
    # Before: the RuntimeError left step() and the run stayed at "checking" for ever.
    assert action.reason.startswith(
        "m@1 refused by the promotion checks: checks[0] (broken) raised RuntimeError: "
        "the metrics service is down"
    )
    assert reg.get("m", 1).status == "archived"
    _assert_failed_and_kept(ctl, action, tmp_path, kind="refuse")


def test_a_check_returning_a_bool_refuses_saying_what_a_check_returns(tmp_path):
    reg = registry()
    ctl = _ctl(
        reg,
        lambda d, ctx: (None, _model(d), {}),
        tmp_path,
        checks=[lambda candidate, current: True],
    )
    action = ctl.step(0.0)
    # Before: refused with the reason "True", which reads as if the check had passed.
    assert action.action == "refuse"
    assert "checks[0] (<lambda>) returned True, not None (it passes) or a str" in action.reason


def test_a_check_that_raises_only_at_promotion_refuses_too(tmp_path):
    reg = registry()
    calls = []

    def flaky(candidate, current):
        calls.append(candidate.version)
        if len(calls) > 1:  # the registry runs the checks again when it promotes
            raise ConnectionError("timed out")

    ctl = _ctl(reg, lambda d, ctx: (None, _model(d), {}), tmp_path, checks=[flaky])
    action = ctl.step(0.0)
    assert action.action == "refuse"
    assert "refused at promotion: checks[0] (flaky) raised ConnectionError: timed out" in (
        action.reason
    )
    assert "production" not in reg.aliases("m")


def _assert_trigger_failed_and_kept(ctl, action, tmp_path, key):
    """A failed trigger is logged and counted, not a failed run: nothing backs off."""
    assert action.action == "fail"
    assert action.run_id is None
    assert action.trigger == key
    assert ctl.state.phase == "idle"
    assert ctl.state.failures == 0
    assert ctl.state.backoff_until is None
    saved = RetrainState.from_dict(json.loads((tmp_path / "state.json").read_text()))
    assert saved.decisions[-1]["action"] == "fail"
    assert saved.decisions[-1]["reason"] == action.reason
    assert saved.trigger_failures[key]["count"] == 1
    again = ctl.step(action.at + 60)  # asked again at once, the same failure folded
    assert (again.action, again.reason, again.repeats) == ("fail", action.reason, 2)
    assert ctl.trigger_failures[key]["count"] == 2


@pytest.mark.parametrize(
    ("check", "named"),
    [
        (lambda self, ctx: 1 / 0, "trigger 'broken' failed: ZeroDivisionError: division by zero"),
        (lambda self, ctx: True, "trigger 'broken' returned bool, not a Signal or None"),
    ],
)
def test_a_trigger_that_raises_or_returns_junk_is_a_failed_decision(tmp_path, check, named):
    broken = type("Broken", (), {"name": "broken", "check": check})()
    reg = registry()
    ctl = _ctl(reg, lambda d, ctx: (None, _model(d), {}), tmp_path, triggers=[broken])
    action = ctl.step(0.0)
    # Before: the exception (or an AttributeError on the junk) left step().
    assert action.reason.startswith(named)
    _assert_trigger_failed_and_kept(ctl, action, tmp_path, "broken")


@pytest.mark.parametrize(
    ("signal", "named"),
    [
        (Signal(123, "x"), "Signal whose trigger must be a non-empty str"),  # type: ignore[arg-type]
        (Signal("a" * 5000, "x"), "Signal whose trigger must be a non-empty str"),
        (Signal("a", None), "Signal whose reason must be a str, not NoneType"),  # type: ignore[arg-type]
        (Signal("a", "x", drop=float("nan")), "Signal whose drop must be a finite number"),
        (Signal("a", "x", drop="x"), "Signal whose drop must be a finite number"),  # type: ignore[arg-type]
    ],
)
def test_a_trigger_returning_a_bad_signal_is_a_failed_decision(tmp_path, signal, named):
    junk = type("Junk", (), {"name": "junk", "check": lambda self, ctx: signal})()
    reg = registry()
    ctl = _ctl(
        reg,
        lambda d, ctx: (None, _model(d), {}),
        tmp_path,
        triggers=[junk],
        cost=RetrainCost(1.0, value_per_unit=1.0),
    )
    action = ctl.step(0.0)
    # Before: an int or 5000-character trigger name was saved and the state file could
    # not be read back; a str drop raised ValueError out of step; a NaN drop was a skip.
    assert action.reason.startswith(f"trigger 'junk' returned a {named}")
    assert "m" not in reg.models()
    _assert_trigger_failed_and_kept(ctl, action, tmp_path, "junk")
    assert _ctl(reg, _model, tmp_path).trigger_failures["junk"]["count"] == 2  # reads back


def test_a_clock_that_goes_back_starts_no_run_and_says_why():
    reg = registry()
    ctl = _ctl(reg, lambda d, ctx: (None, _model(d), {}))
    assert ctl.step(100.0).action == "promote"
    back = ctl.step(40.0)
    assert back.action == "skip"
    assert "the clock (40) is 1 min behind the start of the last run (100)" in back.reason
    assert ctl.step(100.0).action == "promote"  # the same instant again: min_interval=0
    assert [v.version for v in reg.search("m")] == [2, 1]


def test_the_budget_allows_exactly_as_many_runs_as_it_pays_for():
    reg = registry()
    cost = RetrainCost(0.1, value_per_unit=1.0)
    ctl = _ctl(
        reg,
        lambda d, ctx: (None, _model(d), {}),
        cost=cost,
        guards=Guards(min_interval=0, budget=0.3, period=timedelta(days=1)),
    )
    actions = [ctl.step(float(t)).action for t in range(4)]
    # Before: 0.1 + 0.1 + 0.1 > 0.3 in floats, so a budget of three runs allowed two.
    assert actions == ["promote", "promote", "promote", "skip"]
    assert "would exceed the budget of 0.30" in ctl.decisions[-1].reason


def test_min_interval_and_period_boundaries_survive_float_timestamps():
    reg = registry()
    start = 1_733_000_000.1  # a timestamp: now - start rounds below the interval
    gap = 0.3
    assert (start + gap) - start < gap
    ctl = _ctl(
        reg,
        lambda d, ctx: (None, _model(d), {}),
        guards=Guards(min_interval=gap, max_runs=1, period=gap),
    )
    assert ctl.step(start).action == "promote"
    assert ctl.step(start + gap / 2).action == "skip"
    # Before: blocked at exactly min_interval (and the run a period ago still counted).
    assert ctl.step(start + gap).action == "promote"


@pytest.mark.parametrize(
    ("cost", "drop", "expected"),
    [
        (RetrainCost(0.0, value_per_unit=1.0), 1e-12, "promote"),  # free: any drop pays
        (RetrainCost(0.0, value_per_unit=1.0), 0.0, "skip"),  # no drop: nothing to gain
        (RetrainCost(1.0, value_per_unit=1e308, horizon=timedelta(days=30)), 1e-300, "promote"),
        (RetrainCost(1e308, value_per_unit=1e-300), 1.0, "skip"),
    ],
)
def test_cost_inputs_at_their_edges_decide_without_overflow(tmp_path, cost, drop, expected):
    reg = registry()
    ctl = _ctl(
        reg,
        lambda d, ctx: (None, _model(d), {"rows": 20.0}),
        tmp_path,
        triggers=[Fires(drop=drop)],
        cost=cost,
        checks=[MetricThreshold("rows", min=1)],
    )
    action = ctl.step(0.0)
    assert action.action == expected
    assert "inf" not in action.reason.lower()
    assert "nan" not in action.reason.lower()
    saved = RetrainState.from_dict(json.loads((tmp_path / "state.json").read_text()))
    assert saved.decisions[-1]["reason"] == action.reason


@pytest.mark.parametrize("now", [1e200, -1e200, 1e16])
def test_an_absurd_clock_is_refused_before_the_state_changes(tmp_path, now):
    reg = registry()
    ctl = _ctl(
        reg,
        lambda d, ctx: (None, _model(d), {}),
        tmp_path,
        canary=Canary([Step(0.5, min_samples=10)], [Gate("error_rate", ratio=1.1)]),
    )
    assert ctl.step(0.0).action == "promote"
    saved = (tmp_path / "state.json").read_text()
    # Before: a canary started at 1e200 saved a run id of 200+ characters, and the file
    # could no longer be read back ("run.id must be a non-empty str of at most 200").
    with pytest.raises(ConfigError, match="now must be a datetime or seconds since the epoch"):
        ctl.step(now)
    assert (tmp_path / "state.json").read_text() == saved
    assert _ctl(reg, _model, tmp_path).state.phase == "idle"  # the file reads back
