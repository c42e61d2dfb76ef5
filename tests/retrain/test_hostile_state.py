"""An independent tester's look at the controller: hostile state, clocks, currencies.

A state file's values outside what a controller writes are refused on load, by field:
each value below was accepted before and then misbehaved (a negative spend lifted the
budget, a time of 1e300 blocked every run behind a 300-digit reason, version 0 raised a
``ConfigError`` out of every ``step``). A budget and a cost in two currencies were
compared as numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from prodml.errors import ConfigError
from prodml.retrain import Guards, RetrainController, RetrainCost, RetrainState, Signal
from prodml.retrain import RetrainStateError as StateError

from .helpers import DAY, registry


class Always:
    name = "always"

    def check(self, context: object) -> Signal:
        return Signal("always", "fires at every step")


def _ctl(reg: Any, path: Path | None, **kw: Any) -> RetrainController:
    kw.setdefault("guards", Guards(min_interval=0))
    return RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=kw.pop("train", lambda d, ctx: (None, DummyRegressor().fit(d[["y"]], d["y"]), {})),
        triggers=[Always()],
        data=lambda ctx: pd.DataFrame({"y": np.arange(20.0)}),
        state_path=path,
        **kw,
    )


def _state() -> dict[str, Any]:
    run = {
        "id": "0-abc",
        "trigger": "always",
        "reason": "r",
        "started_at": 0.0,
        "parent": 1,
        "version": 2,
        "signal": {},
    }
    decision = {"action": "none", "reason": "r", "at": 0.0, "run_id": None, "version": None}
    return {
        **RetrainState(model="m", alias="production").to_dict(),
        "phase": "checking",
        "run": run,
        "decisions": [{**decision, "trigger": None, "repeats": 1}],
    }


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        (("spent",), [[0.0, -1e9]], "spent[0]"),
        (("last_run_at",), 1e300, "last_run_at"),
        (("backoff_until",), -1e300, "backoff_until"),
        (("last_step_at",), 1e300, "last_step_at"),
        (("runs",), [1e300], "runs[0]"),
        (("spent",), [[1e300, 1.0]], "spent[0]"),
        (("run", "started_at"), 1e300, "run.started_at"),
        (("run", "canary_at"), 1e300, "run.canary_at"),
        (("run", "version"), 0, "run.version"),
        (("run", "parent"), 0, "run.parent"),
        (("decisions", 0, "at"), 1e300, "decisions[0].at"),
        (("decisions", 0, "repeats"), 0, "decisions[0].repeats"),
        (("decisions", 0, "version"), 0, "decisions[0].version"),
        (("failures",), 10**400, "failures"),
    ],
)
def test_a_value_no_controller_writes_is_refused_naming_its_field(
    where: tuple[Any, ...], value: Any, field: str
) -> None:
    state = _state()
    target = state
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    RetrainState.from_dict(_state())  # the same state, unchanged, reads back
    with pytest.raises(StateError) as err:
        RetrainState.from_dict(state)
    assert err.value.field == field


def test_a_negative_spend_in_the_file_no_longer_lifts_the_budget(tmp_path: Path) -> None:
    reg, path = registry(), tmp_path / "state.json"
    cost = RetrainCost(100.0, value_per_unit=1.0)
    guards = Guards(min_interval=0, budget=150.0)
    ctl = _ctl(reg, path, cost=cost, guards=guards)
    assert ctl.step(0.0).action == "promote"
    assert "would exceed the budget" in ctl.step(DAY).reason
    state = json.loads(path.read_text())
    state["spent"].append([0.0, -1000.0])  # before: read back, and the next run started
    path.write_text(json.dumps(state))
    with pytest.raises(StateError, match=r"'spent\[1\]' must be a cost >= 0"):
        _ctl(reg, path, cost=cost, guards=guards)


def test_an_endless_back_off_writes_a_state_that_reads_back(tmp_path: Path) -> None:
    """A back-off of 1e300 s (forever) is capped to one the state file can hold."""

    def down(data: Any, context: Any) -> Any:
        raise RuntimeError("down")

    reg, path = registry(), tmp_path / "state.json"
    guards = Guards(min_interval=0, backoff=1e300, max_backoff=1e300)
    ctl = _ctl(reg, path, guards=guards, train=down)
    assert ctl.step(0.0).action == "fail"
    again = _ctl(reg, path, guards=guards, train=down)  # without the cap: refused on load
    assert again.state.backoff_until == 1e15
    assert again.step(DAY).reason.startswith("backing off after 1 failed run(s)")


def test_a_trigger_failing_while_the_clock_goes_back_keeps_a_readable_record(
    tmp_path: Path,
) -> None:
    broken = type("Broken", (), {"name": "b", "check": lambda self, ctx: 1 / 0})()
    reg, path = registry(), tmp_path / "state.json"
    ctl = RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=lambda d, ctx: (None, None, {}),
        triggers=[broken],
        state_path=path,
    )
    ctl.step(100.0)
    ctl.step(40.0)  # the clock went back: the record's last time is before its first
    record = RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=ctl.train,
        triggers=[broken],
        state_path=path,
    ).trigger_failures["b"]
    assert (record["count"], record["first_at"], record["last_at"]) == (2, 100.0, 40.0)


def test_a_budget_in_another_currency_than_the_cost_is_refused() -> None:
    cost = RetrainCost(100.0, value_per_unit=1.0, currency="EUR")
    # Before: no currency anywhere; 150 USD of budget took 100 EUR runs as 100 USD.
    with pytest.raises(ConfigError, match=r"Guards\(currency='USD'\) and RetrainCost"):
        _ctl(registry(), None, cost=cost, guards=Guards(budget=150.0, currency="USD"))
    same = _ctl(registry(), None, cost=cost, guards=Guards(budget=150.0, currency="EUR"))
    assert same.step(0.0).action == "promote"
    assert same.step(DAY).reason.endswith(
        "100.00 EUR spent in the last 30 days; one more run (100.00 EUR) would exceed the "
        "budget of 150.00 EUR"
    )
    assert cost.to_dict()["currency"] == "EUR"


@pytest.mark.parametrize("currency", ["", " USD", 3, "x" * 17, "US\nD"])
def test_a_currency_that_is_not_a_code_is_refused(currency: Any) -> None:
    with pytest.raises(ConfigError, match="'currency' parameter of Guards"):
        Guards(currency=currency)
    with pytest.raises(ConfigError, match="'currency' parameter of RetrainCost"):
        RetrainCost(1.0, value_per_unit=1.0, currency=currency)


def test_cost_settings_keep_every_field_of_the_curve() -> None:
    from prodml.cost import DecayCurve

    curve = DecayCurve("exponential", initial=0.9, rate=0.02, floor=0.6, higher_is_better=True)
    got = RetrainCost(100.0, value_per_unit=1_000.0, curve=curve).to_dict()["curve"]
    # The floor and the direction were dropped: an exponential curve read back from these
    # settings decayed to 0, not to its floor.
    assert got == {
        "kind": "exponential",
        "initial": 0.9,
        "rate": 0.02,
        "floor": 0.6,
        "higher_is_better": True,
        "rmse": None,
    }
    assert json.loads(json.dumps(got, allow_nan=False)) == got
