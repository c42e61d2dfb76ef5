"""One failing trigger does not silence the others; its failure is logged, counted and kept.

Before: a trigger that raised failed the whole decision and backed the controller off, so
no other trigger was asked until the back-off ended (an alert firing meanwhile waited
hours). Now, as one failing sensor in Airflow or Prefect fails its own task only, the
failure is a ``fail`` entry naming the trigger, a record in the state's
``trigger_failures`` (steps in a row, first and last time, last reason), and the other
triggers decide as if it were absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from prodml.retrain import Guards, RetrainController, RetrainStateError, Signal

from .helpers import registry

MIN = 60.0


class Flaky:
    """A trigger whose data source is down while ``down`` is set."""

    name = "drift"

    def __init__(self) -> None:
        self.down = True

    def check(self, context: Any) -> Signal | None:
        if self.down:
            raise ConnectionError("the warehouse timed out")
        return None


class FiresAt:
    """An alert that fires from ``at`` on."""

    name = "alert"

    def __init__(self, at: float) -> None:
        self.at = at

    def check(self, context: Any) -> Signal | None:
        if context.now < self.at or (context.last_run_at or -1.0) >= self.at:
            return None
        return Signal("alert", "accuracy below 0.8")


def _ctl(reg: Any, path: Path, triggers: list[Any]) -> RetrainController:
    return RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=lambda d, ctx: (None, DummyRegressor().fit(d[["y"]], d["y"]), {}),
        triggers=triggers,
        data=lambda ctx: pd.DataFrame({"y": np.arange(20.0)}),
        guards=Guards(min_interval=0, backoff=3600),
        state_path=path,
    )


def test_one_trigger_raising_does_not_stop_the_other_from_firing(tmp_path: Path) -> None:
    reg, path = registry(), tmp_path / "state.json"
    flaky = Flaky()
    ctl = _ctl(reg, path, [flaky, FiresAt(0.0)])
    action = ctl.step(0.0)
    # Before: "fail ... backing off 1 h" and no version; the alert waited an hour.
    assert action.action == "promote"
    assert reg.get("m@production").version == 1
    kinds = [(d.action, d.trigger) for d in ctl.decisions]
    assert kinds[:2] == [("fail", "drift"), ("retrain", "alert")]
    fail = ctl.decisions[0]
    assert fail.reason == (
        "trigger 'drift' failed: ConnectionError: the warehouse timed out; "
        "the other triggers were asked"
    )
    assert fail.run_id is None
    assert ctl.state.failures == 0
    assert ctl.state.backoff_until is None
    assert ctl.trigger_failures == {
        "drift": {
            "count": 1,
            "first_at": 0.0,
            "last_at": 0.0,
            "reason": "failed: ConnectionError: the warehouse timed out",
        }
    }


def test_a_crash_and_resume_keeps_the_failure_record_and_counts_on(tmp_path: Path) -> None:
    reg, path = registry(), tmp_path / "state.json"
    ctl = _ctl(reg, path, [Flaky(), FiresAt(10 * MIN)])
    assert ctl.step(0.0).action == "fail"  # nothing else fired: the failure is the news
    assert ctl.step(MIN).repeats == 2  # the same failure, folded into one entry
    saved = json.loads(path.read_text())
    assert saved["trigger_failures"]["drift"]["count"] == 2
    del ctl  # the process dies; a new one starts from the file

    flaky = Flaky()
    ctl = _ctl(reg, path, [flaky, FiresAt(10 * MIN)])
    assert ctl.trigger_failures["drift"] == {
        "count": 2,
        "first_at": 0.0,
        "last_at": MIN,
        "reason": "failed: ConnectionError: the warehouse timed out",
    }
    assert [(d.action, d.repeats) for d in ctl.decisions] == [("fail", 2)]
    action = ctl.step(10 * MIN)  # still failing; the alert now fires all the same
    assert action.action == "promote"
    assert ctl.trigger_failures["drift"]["count"] == 3
    assert ctl.trigger_failures["drift"]["first_at"] == 0.0
    flaky.down = False  # the warehouse is back: the trigger leaves the record
    assert ctl.step(11 * MIN).action == "none"
    assert ctl.trigger_failures == {}
    assert "trigger_failures" not in json.loads(path.read_text())
    # Its failures stay in the log: one entry, the same failure three steps in a row.
    fails = [(d.at, d.repeats) for d in ctl.decisions if d.action == "fail"]
    assert fails == [(10 * MIN, 3)]


def test_a_trigger_no_longer_configured_leaves_the_record(tmp_path: Path) -> None:
    reg, path = registry(), tmp_path / "state.json"
    _ctl(reg, path, [Flaky()]).step(0.0)
    ctl = _ctl(reg, path, [FiresAt(10 * MIN)])
    assert ctl.trigger_failures  # read back as it was...
    ctl.step(MIN)
    assert ctl.trigger_failures == {}  # ...and dropped at the next look at the triggers


def test_a_trigger_without_a_usable_name_is_keyed_by_its_position(tmp_path: Path) -> None:
    nameless = type("Nameless", (), {"name": 42, "check": lambda self, ctx: 1 / 0})()
    reg, path = registry(), tmp_path / "state.json"
    ctl = _ctl(reg, path, [FiresAt(10 * MIN), nameless])
    action = ctl.step(0.0)
    assert action.trigger == "triggers[1]"
    assert action.reason.startswith("trigger 42 failed: ZeroDivisionError")
    assert list(_ctl(reg, path, [FiresAt(10 * MIN), nameless]).trigger_failures) == ["triggers[1]"]


@pytest.mark.parametrize(
    ("records", "field"),
    [
        ([], "trigger_failures"),
        ({"": {}}, "trigger_failures"),
        ({"drift": "x"}, "trigger_failures.drift"),
        ({"drift": {"count": 0, "first_at": 0, "last_at": 0, "reason": ""}}, "count"),
        ({"drift": {"count": True, "first_at": 0, "last_at": 0, "reason": ""}}, "count"),
        ({"drift": {"count": 1, "first_at": "x", "last_at": 0, "reason": ""}}, "first_at"),
        ({"drift": {"count": 1, "first_at": 0, "last_at": float("nan"), "reason": ""}}, "last_at"),
        ({"drift": {"count": 1, "first_at": 0, "last_at": 0, "reason": 3}}, "reason"),
        ({"drift": {"count": 1, "first_at": 0, "last_at": 0, "reason": "x" * 4001}}, "reason"),
    ],
)
def test_a_hostile_failure_record_is_refused_naming_the_field(
    tmp_path: Path, records: Any, field: str
) -> None:
    reg, path = registry(), tmp_path / "state.json"
    _ctl(reg, path, [Flaky()]).step(0.0)
    state = json.loads(path.read_text())
    state["trigger_failures"] = records
    path.write_text(json.dumps(state))
    with pytest.raises(RetrainStateError) as err:
        _ctl(reg, path, [Flaky()])
    assert err.value.field is not None
    assert err.value.field.endswith(field)


class ResetFails(FiresAt):
    """Fires, but its reset (called when a run starts and at a promotion) raises."""

    def reset(self) -> None:
        raise OSError("cannot clear the alert queue")


def test_a_reset_that_raises_is_a_trigger_failure_not_a_stuck_controller(
    tmp_path: Path,
) -> None:
    reg, path = registry(), tmp_path / "state.json"
    ctl = _ctl(reg, path, [ResetFails(0.0)])
    # Before: OSError out of every step; the run was never saved, so each step decided it
    # again and raised again.
    action = ctl.step(0.0)
    assert action.action == "promote"
    assert ctl.trigger_failures["alert"]["reason"] == (
        "failed to reset: OSError: cannot clear the alert queue"
    )
    fails = [d for d in ctl.decisions if d.action == "fail"]
    assert fails[0].trigger == "alert"
    assert _ctl(reg, path, [ResetFails(0.0)]).trigger_failures["alert"]["count"] >= 1
