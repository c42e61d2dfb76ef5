"""The controller's JSON state: round trip, validation of hostile input, properties."""

from __future__ import annotations

import copy
import errno
import itertools
import json
import os
from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError, ProdMLError
from prodml.monitoring import AlertEvent
from prodml.retrain import (
    AlertTrigger,
    Guards,
    RetrainController,
    RetrainCost,
    RetrainState,
    RetrainStateError,
    ScheduleTrigger,
)
from prodml.schema import Column, Schema

from .helpers import DAY, registry


def _train(data, ctx):
    return None, Schema([Column("x", "float")]), {"accuracy": 0.9}


def _ctl(reg, **kw):
    kw.setdefault("triggers", [ScheduleTrigger(timedelta(days=7))])
    return RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=_train,
        data=lambda ctx: pd.DataFrame({"x": [1.0, 2.0]}),
        **kw,
    )


def _saved() -> dict:
    ctl = _ctl(registry())
    ctl.step(0.0)
    ctl.step(DAY)
    return ctl.to_dict()


def test_round_trip_through_a_file(tmp_path):
    reg = registry()
    path = tmp_path / "s" / "state.json"
    ctl = _ctl(reg, state_path=path)
    ctl.step(0.0)
    again = _ctl(reg, state_path=path)
    assert again.to_dict() == ctl.to_dict()
    assert again.step(DAY).action == "none"
    # no temporary left; the lock file (one writer per state file) stays, empty
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json", "state.json.lock"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(type="Canary"), "type"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d.update(phase="deploying"), "phase"),
        (lambda d: d.update(phase="training"), "run"),
        (lambda d: d.update(failures=-1), "failures"),
        (lambda d: d.update(failures=True), "failures"),
        (lambda d: d.update(last_run_at=float("nan")), "last_run_at"),
        (lambda d: d.update(runs="0"), "runs"),
        (lambda d: d.update(spent=[[0.0]]), "spent[0]"),
        (lambda d: d["decisions"][0].update(action="deploy"), "decisions[0].action"),
        (lambda d: d["decisions"][0].update(reason=None), "decisions[0].reason"),
        (lambda d: d["decisions"][0].update(reason="x" * 5000), "decisions[0].reason"),
        (lambda d: d.update(decisions=[{}] * 1001), "decisions"),
        (lambda d: d.update(canary=[1]), "canary"),
    ],
)
def test_hostile_state_is_refused_naming_the_field(change, field):
    data = copy.deepcopy(_saved())
    change(data)
    with pytest.raises(RetrainStateError) as err:
        RetrainState.from_dict(data)
    assert err.value.field == field
    assert isinstance(err.value, ProdMLError)


def test_run_in_flight_is_validated():
    data = copy.deepcopy(_saved())
    data["phase"] = "canary"
    data["run"] = {"id": "r", "trigger": "t", "reason": "x", "started_at": 0.0, "version": None}
    with pytest.raises(RetrainStateError, match="needs the run's version"):
        RetrainState.from_dict(data)
    data["run"]["id"] = ""
    with pytest.raises(RetrainStateError, match=r"run\.id"):
        RetrainState.from_dict(data)


def test_a_broken_or_foreign_state_file_is_refused(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(RetrainStateError, match="cannot read"):
        _ctl(registry(), state_path=path)
    other = RetrainState(model="fraud", alias="production")
    path.write_text(json.dumps(other.to_dict()))
    with pytest.raises(ConfigError, match="belongs to fraud@production"):
        _ctl(registry(), state_path=path)


def test_load_state_replaces_the_state():
    ctl = _ctl(registry())
    saved = _saved()
    ctl.load_state(saved)
    assert ctl.to_dict() == saved
    with pytest.raises(ConfigError, match="another model"):
        ctl.load_state({**saved, "model": "fraud"})


@given(
    fires=st.lists(st.tuples(st.floats(0.0, 3.0), st.booleans()), min_size=1, max_size=25),
    max_runs=st.integers(1, 4),
    min_gap=st.sampled_from([0.0, 0.5, 1.0]),
    budget=st.sampled_from([None, 150.0, 1000.0]),
)
def test_guards_hold_and_every_version_is_a_decision(fires, max_runs, min_gap, budget):
    reg = registry()
    events: list[AlertEvent] = []
    period = 5 * DAY
    ctl = _ctl(
        reg,
        triggers=[AlertTrigger(lambda: events)],
        cost=RetrainCost(100.0, value_per_unit=1.0),
        guards=Guards(min_interval=min_gap * DAY, max_runs=max_runs, period=period, budget=budget),
    )
    t = 0.0
    for gap, fire in fires:
        t += gap * DAY
        if fire:
            events.append(AlertEvent("a", "firing", 0.0, t, "page", "churn", "bad"))
        ctl.step(t)
    starts = [d.at for d in ctl.decisions if d.action == "retrain"]
    versions = [mv.version for mv in reg.search("churn")] if "churn" in reg.models() else []
    registered = [d.version for d in ctl.decisions if d.action == "register"]
    assert sorted(versions) == sorted(registered)  # every version is a logged decision
    assert len(starts) == len(registered)
    for a, b in itertools.pairwise(starts):
        assert b - a >= min_gap * DAY
    for s in starts:
        window = [x for x in starts if s - period < x <= s]
        assert len(window) <= max_runs
        if budget is not None:
            assert 100.0 * len(window) <= budget
    assert RetrainState.from_dict(json.loads(json.dumps(ctl.to_dict()))).to_dict() == ctl.to_dict()


def test_an_unwritable_state_path_is_a_config_error_and_keeps_the_saved_state(
    tmp_path, monkeypatch
):
    reg = registry()
    path = tmp_path / "state.json"
    ctl = _ctl(reg, state_path=path)
    ctl.step(0.0)
    saved = path.read_text()
    blocker = tmp_path / "blocker"
    blocker.write_text("keep")
    stuck = _ctl(reg, state_path=blocker / "state.json")
    with pytest.raises(
        ConfigError, match=r"state folder '.*blocker.*': it is a file, not a folder"
    ) as info:
        stuck.step(0.0)
    assert info.value.parameter == "state_path"
    assert blocker.read_text() == "keep"

    # A write the OS refuses (a full disk, here) keeps the earlier state whole.
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(ConfigError, match=r"state file '.*state\.json': No space left on device"):
        ctl.step(8 * DAY)
    assert path.read_text() == saved
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "blocker",
        "state.json",
        "state.json.lock",  # the lock of one writer per state file, empty
    ]


def test_an_unreadable_state_file_names_it_quoted(tmp_path):
    folder = tmp_path / "state.json"
    folder.mkdir()  # a folder where the file should be
    with pytest.raises(RetrainStateError, match=r"state file '.*state\.json': Is a directory"):
        _ctl(registry(), state_path=folder)
