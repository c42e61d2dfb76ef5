"""Trigger state in the controller's JSON state: round trips, hostile input, kill and reload.

An ``ErrorRateTrigger`` saved with the controller's state and restored in a new process
goes on exactly as the one that was never stopped: the same alarms, the same follow-up
watch, the same decisions.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, ProdMLError
from prodml.retrain import (
    ErrorRateTrigger,
    Guards,
    RetrainController,
    RetrainStateError,
    ScheduleTrigger,
    Signal,
    TriggerContext,
)
from prodml.testing.state_mutations import check_state_mutations

from .helpers import DAY, Trainer, data, registry


class DriftOn:
    """A drift co-signal the test switches on and off."""

    name = "drift"

    def __init__(self, fire: bool = False) -> None:
        self.fire = fire

    def check(self, context: object) -> Signal | None:
        return Signal("drift", "2 of 3 columns drifted (a, b)") if self.fire else None


class Served:
    def __init__(self, version: int) -> None:
        self.version = version
        self.metrics = {"accuracy": 0.88}


def roundtrip(trig: ErrorRateTrigger, drift: DriftOn, **kw: Any) -> ErrorRateTrigger:
    """A new trigger (as a restarted process builds it) loaded with ``trig``'s saved state."""
    text = json.dumps(trig.state_dict(), allow_nan=False)
    fresh = ErrorRateTrigger(drift=drift, **kw)
    fresh.load_state_dict(json.loads(text), path="triggers.error_rate")
    return fresh


# A day: (error rate, labelled predictions, drift on, production version, reset before)
DAYS = st.lists(
    st.tuples(
        st.sampled_from([0.08, 0.1, 0.2, 0.35]),
        st.integers(0, 700),
        st.booleans(),
        st.integers(1, 3),
        st.sampled_from(["", "", "reset"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(days=DAYS, stop=st.integers(0, 12), seed=st.integers(0, 2**16))
def test_a_restored_trigger_goes_on_exactly_like_the_uninterrupted_one(
    days: list[tuple[float, int, bool, int, str]], stop: int, seed: int
) -> None:
    kw: dict[str, Any] = {"warmup": 300, "baseline_metric": "accuracy", "baseline_samples": 400}
    drift_a, drift_b = DriftOn(), DriftOn()
    a = ErrorRateTrigger(drift=drift_a, **kw)
    b = ErrorRateTrigger(drift=drift_b, **kw)
    rng = np.random.default_rng(seed)
    for i, (rate, n, fire, version, reset) in enumerate(days):
        if i == stop:
            b = roundtrip(b, drift_b, **kw)
        errors = (rng.random(n) < rate).astype(float)
        drift_a.fire = drift_b.fire = fire
        if reset:
            a.reset()
            b.reset()
        assert a.update_many(errors) == b.update_many(errors)
        ctx = TriggerContext(i * DAY, 0.0, None, current=Served(version))
        sa, sb = a.check(ctx), b.check(ctx)
        assert (sa is None) == (sb is None)
        if sa is not None and sb is not None:
            assert (sa.reason, sa.drop, sa.evidence) == (sb.reason, sb.drop, sb.evidence)
    assert a.state_dict() == b.state_dict()


def _watched() -> tuple[ErrorRateTrigger, DriftOn]:
    """A trigger part-way through a follow-up watch, with an SPRT and a CUSUM running."""
    drift = DriftOn()
    trig = ErrorRateTrigger(warmup=300, drift=drift)
    rng = np.random.default_rng(0)
    trig.update_many(rng.random(1_000) < 0.1)
    trig.check(TriggerContext(DAY, 0.0, None, current=Served(1)))
    assert trig.update_many(rng.random(2_000) < 0.3)
    assert trig.check(TriggerContext(2 * DAY, 0.0, None, current=Served(1))) is not None
    trig.reset()
    trig.reset()  # version 2 promoted: its watch begins at its first look
    trig.update_many(rng.random(400) < 0.2)
    assert trig.check(TriggerContext(3 * DAY, 0.0, None, current=Served(2))) is None
    drift.fire = True  # drift (here: not yet a look of the watch: it is consumed below)
    return trig, drift


def test_the_saved_state_holds_the_watch_and_the_sums() -> None:
    trig, _ = _watched()
    state = trig.state_dict()
    assert state["settle"] is not None
    assert state["settle"]["on"] == 2
    assert state["settle"]["since"] == 3 * DAY
    assert state["settle"]["count"] == 0
    assert len(state["cusum"]) == len(state["since"]) == trig._drops.size
    assert state["baseline"] == trig.baseline_
    json.dumps(state, allow_nan=False)  # JSON-safe, or this raises


HOSTILE = [
    (lambda s: s.update(kind="DriftTrigger"), "triggers.error_rate.kind"),
    (lambda s: s.update(seen=-1), "triggers.error_rate.seen"),
    (lambda s: s.update(seen=True), "triggers.error_rate.seen"),
    (lambda s: s.update(seen_sum=1e12), "triggers.error_rate.seen_sum"),
    (lambda s: s.update(seen=10**400), "triggers.error_rate.seen"),
    (lambda s: s.update(seen=2**60), "triggers.error_rate.seen"),
    (lambda s: s.update(warm_sum=10**400), "triggers.error_rate.warm_sum"),
    (lambda s: s.update(sprt_since=[10**400, 0]), "triggers.error_rate.sprt_since"),
    (lambda s: s.update(baseline=1.5), "triggers.error_rate.baseline"),
    (lambda s: s.update(baseline="0.1"), "triggers.error_rate.baseline"),
    (lambda s: s["cusum"].append(0.0), "triggers.error_rate.cusum"),
    (lambda s: s["cusum"].__setitem__(0, float("inf")), "triggers.error_rate.cusum[0]"),
    (lambda s: s["cusum"].__setitem__(0, -2.0), "triggers.error_rate.cusum[0]"),
    (lambda s: s["since"].__setitem__(1, [3.0]), "triggers.error_rate.since[1]"),
    (lambda s: s["since"].__setitem__(1, [3.0, 9.0]), "triggers.error_rate.since[1]"),
    (lambda s: s.update(cusum=list(range(10**6))), "triggers.error_rate.cusum"),
    (lambda s: s.update(sprt=["x"]), "triggers.error_rate.sprt"),
    (lambda s: s.update(drift_reason=7), "triggers.error_rate.drift_reason"),
    (lambda s: s.update(alarm={"by": "magic"}), "triggers.error_rate.alarm.by"),
    (lambda s: s.update(alarm=[1]), "triggers.error_rate.alarm"),
    (
        lambda s: s.update(
            alarm={"by": "follow-up", "before": 0.1, "drop_design": None, "at": 0, "n": 0}
            | {"errors": 0.0, "reason": "drift"}
        ),
        "triggers.error_rate.alarm.n",
    ),
    (lambda s: s["settle"].update(count=-3), "triggers.error_rate.settle.count"),
    (lambda s: s["settle"].update(since="yesterday"), "triggers.error_rate.settle.since"),
    (lambda s: s["settle"].update(on=[2]), "triggers.error_rate.settle.on"),
    (lambda s: s["settle"].update(before=2.0), "triggers.error_rate.settle.before"),
    (lambda s: s.update(version={"v": 1}), "triggers.error_rate.version"),
]


@pytest.mark.parametrize(("spoil", "path"), HOSTILE)
def test_hostile_trigger_state_is_refused_naming_the_path_and_changes_nothing(
    spoil: Any, path: str
) -> None:
    trig, _ = _watched()
    state = copy.deepcopy(trig.state_dict())
    spoil(state)
    before = trig.state_dict()
    with pytest.raises(RetrainStateError) as err:
        trig.load_state_dict(state, path="triggers.error_rate")
    assert isinstance(err.value, ProdMLError)
    assert err.value.field == path
    assert f"'{path}'" in str(err.value)
    assert trig.state_dict() == before


# ---------------------------------------------------------------------- the controller
def _controller(reg: Any, path: Path, drift: DriftOn) -> tuple[RetrainController, ErrorRateTrigger]:
    errors = ErrorRateTrigger(
        baseline_metric="accuracy", baseline_samples=400, warmup=500, drift=drift
    )
    ctl = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=Trainer(),
        triggers=[ScheduleTrigger(timedelta(days=365)), errors],
        data=lambda ctx: data(seed=int(ctx.now // DAY)),
        guards=Guards(min_interval=0, backoff=3600, max_backoff=4 * 3600),
        state_path=path,
    )
    return ctl, errors


# Per day: (error rate above production's held-out error, predictions), and the drift.
# Day 2's alarm retrains; version 2's watch looks on days 3-5 with no drift, day 6 sees
# drift: a follow-up; version 3's watch then sees none.
SCENARIO = [(0.0, 1_500), (0.3, 3_000), (0.0, 600), (0.0, 600), (0.0, 600), (0.0, 600)]
SCENARIO += [(0.0, 600)] * 3
DRIFT = [False] * 5 + [True] + [False] * 3


def _held_out(reg: Any) -> float:
    """The error rate production's version achieved on its held-out rows."""
    return 1.0 - float(reg.get("churn@production").metrics["accuracy"])


def _run(tmp: Path, reload_at: set[int]) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    reg, drift = registry(), DriftOn()
    path = tmp / "state.json"
    ctl, errors = _controller(reg, path, drift)
    ctl.step(0.0)  # version 1
    rng = np.random.default_rng(7)
    for day, ((extra, n), fire) in enumerate(zip(SCENARIO, DRIFT, strict=True), start=1):
        if day in reload_at:  # the process dies after its last step; a new one starts
            drift = DriftOn()
            ctl, errors = _controller(reg, path, drift)
        drift.fire = fire
        errors.update_many((rng.random(n) < _held_out(reg) + extra).astype(float))
        ctl.step(day * DAY)
    decisions = [(d.action, d.at, d.version, d.trigger, d.reason) for d in ctl.decisions]
    return decisions, errors.state_dict()


def test_killed_and_reloaded_mid_watch_the_controller_decides_as_if_never_stopped(
    tmp_path: Path,
) -> None:
    straight, straight_state = _run(tmp_path / "a", set())
    follow = [d for d in straight if d[0] == "retrain" and "follow-up" in d[4]]
    assert [d[1] for d in follow] == [6 * DAY]  # the watch's drift, three looks in
    for reload_at in ({4}, {5}, {6}, set(range(1, 10))):
        again, state = _run(tmp_path / f"b{min(reload_at)}-{len(reload_at)}", reload_at)
        assert again == straight
        assert state == straight_state


def test_a_reload_without_the_trigger_state_would_lose_the_watch(tmp_path: Path) -> None:
    """The control for the test above: strip the saved trigger state and the watch is gone."""
    reg, drift = registry(), DriftOn()
    path = tmp_path / "state.json"
    ctl, errors = _controller(reg, path, drift)
    ctl.step(0.0)
    rng = np.random.default_rng(7)
    for day, ((extra, n), fire) in enumerate(zip(SCENARIO[:5], DRIFT, strict=False), start=1):
        drift.fire = fire
        errors.update_many((rng.random(n) < _held_out(reg) + extra).astype(float))
        ctl.step(day * DAY)
    state = json.loads(path.read_text())
    assert state["triggers"]["error_rate"]["settle"]["on"] == 2
    state["triggers"] = {}
    path.write_text(json.dumps(state))
    drift = DriftOn(fire=True)
    ctl, errors = _controller(reg, path, drift)
    errors.update_many((rng.random(600) < _held_out(reg)).astype(float))
    assert ctl.step(6 * DAY).action == "none"


def test_a_state_file_with_hostile_trigger_state_is_refused_naming_the_path(
    tmp_path: Path,
) -> None:
    reg = registry()
    path = tmp_path / "state.json"
    ctl, _ = _controller(reg, path, DriftOn())
    ctl.step(0.0)
    ctl.step(DAY)
    state = json.loads(path.read_text())
    assert "error_rate" in state["triggers"]
    state["triggers"]["error_rate"]["warm_n"] = "lots"
    path.write_text(json.dumps(state))
    with pytest.raises(RetrainStateError) as err:
        _controller(reg, path, DriftOn())
    assert err.value.field == "triggers.error_rate.warm_n"
    state["triggers"] = {"error_rate": [1, 2]}
    with pytest.raises(RetrainStateError) as err2:
        ctl.load_state(state)
    assert err2.value.field == "triggers.error_rate"


def test_triggers_with_state_need_distinct_names() -> None:
    with pytest.raises(ConfigError, match="two triggers with a saved state are both named"):
        RetrainController(
            registry=registry(),
            model="churn",
            alias="production",
            train=Trainer(),
            triggers=[ErrorRateTrigger(), ErrorRateTrigger()],
        )


class _Saved:
    """``state_dict`` as the ``to_dict`` that prodml's hostile-state check mutates."""

    def __init__(self, trig: ErrorRateTrigger) -> None:
        self.trig = trig

    def to_dict(self) -> dict[str, Any]:
        return self.trig.state_dict()


def _load_saved(state: Any) -> _Saved:
    trig = ErrorRateTrigger(warmup=300, drift=DriftOn(fire=True))
    trig.load_state_dict(state, path="triggers.error_rate")
    return _Saved(trig)


def _use_saved(saved: _Saved) -> None:
    saved.trig.update_many([0.0, 1.0, 0.0, 1.0])
    saved.trig.check(TriggerContext(4 * DAY, 0.0, None, current=Served(2)))
    saved.trig.check(TriggerContext(5 * DAY, 0.0, None, current=Served(3)))


@pytest.mark.parametrize("when", ["watching", "alarmed"])
def test_every_hostile_leaf_is_refused_or_gives_a_working_trigger(when: str) -> None:
    trig, _ = _watched()
    if when == "alarmed":  # a follow-up alarm pending, with the SPRT running
        trig.update_many(np.random.default_rng(1).random(300) < 0.2)
        assert trig.check(TriggerContext(4 * DAY, 0.0, None, current=Served(2))) is not None
    report = check_state_mutations(_Saved(trig), use=_use_saved, load=_load_saved)
    assert report.mutations > 100
    assert report.failures == []
