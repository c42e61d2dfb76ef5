"""Stop the controller at every checkpoint (in process) and resume from the file alone.

The subprocess tests (test_crash.py) kill a real process on a scenario without refusals;
this one covers every checkpoint, the refusal's among them, by raising a BaseException at
the checkpoint (nothing in the controller catches it, as nothing survives a SIGKILL) and
rebuilding the controller from its state file. Each resumed run ends as the uninterrupted
one: the same versions, statuses and aliases, the same decisions, one candidate per run.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from prodml.registry import MetricThreshold
from prodml.retrain import Guards, RetrainController, Signal
from prodml.retrain._controller import RUN_TAG
from prodml.rollout import Canary, Gate, Step

from .helpers import DAY, registry

# version 1: promoted (no canary); 2: refused by the checks; 3: canary rolls it back;
# 4: canary promotes it.
ACCURACY = {1: 0.9, 2: 0.3, 3: 0.9, 4: 0.9}
CANDIDATE_ERRORS = {3: 0.6, 4: 0.05}
POINTS = [
    "decided",
    "trained",
    "registered",
    "registered_saved",
    "promoted",
    "refuse_saved",
    "refuse_archived",
    "canary_saved",
    "canary_hold",
    "canary_advance",
    "canary_promote",
    "canary_rollback",
    "rollback_alias",
]


class Killed(BaseException):
    """Stands for SIGKILL: no ``except Exception`` in the controller catches it."""


class Daily:
    name = "daily"

    def check(self, context: Any) -> Signal | None:
        if context.last_run_at is None or context.now - context.last_run_at >= 2 * DAY:
            return Signal("daily", "two days since the last run")
        return None


def _ctl(reg, path, crash_at: str | None, fired: list[str]):
    class Controller(RetrainController):
        def _checkpoint(self, point: str) -> None:
            if point == crash_at and not fired:
                fired.append(point)
                raise Killed(point)

    def train(data: pd.DataFrame, context: Any) -> Any:
        number = len(list(reg.search("m"))) + 1 if "m" in reg.models() else 1
        return None, DummyRegressor().fit(data[["y"]], data["y"]), {"accuracy": ACCURACY[number]}

    return Controller(
        registry=reg,
        model="m",
        alias="production",
        train=train,
        triggers=[Daily()],
        checks=[MetricThreshold("accuracy", min=0.5)],
        canary=Canary(
            [Step(0.2, min_samples=60), Step(0.5, min_samples=60)],
            [Gate("error_rate", ratio=1.1)],
            min_samples=60,
        ),
        data=lambda ctx: pd.DataFrame({"y": np.arange(20.0)}),
        guards=Guards(min_interval=0, backoff=0),
        state_path=path,
    )


def _play(tmp_path, crash_at: str | None) -> tuple[Any, ...]:
    reg = registry()
    path = tmp_path / f"state-{crash_at}.json"
    fired: list[str] = []
    ctl = _ctl(reg, path, crash_at, fired)
    rng = np.random.default_rng(0)
    t, retry = 0.0, False
    while t <= 8 * DAY:  # the fourth run is promoted by then
        if ctl.rollout is not None and ctl.state.phase == "canary" and not retry:
            rate = CANDIDATE_ERRORS[ctl.state.run["version"]]
            for i in range(400):
                variant = ctl.rollout.route(f"{t}-{i}")
                bad = rng.random() < (rate if variant == "candidate" else 0.2)
                ctl.rollout.observe(variant, error_rate=float(bad))
        try:
            ctl.step(t)
        except Killed:
            ctl = _ctl(reg, path, crash_at, fired)  # restart: the file and the registry
            retry = True  # the same instant again (its traffic was observed and saved)
            continue
        t, retry = t + DAY / 2, False
    assert fired == ([] if crash_at is None else [crash_at])
    versions = sorted(reg.search("m"), key=lambda v: v.version)
    runs = [v.tags[RUN_TAG] for v in versions]
    assert len(runs) == len(set(runs))
    decisions = json.loads(path.read_text())["decisions"]
    key = [
        (d["action"], d["at"], d["version"])
        for d in decisions
        if d["action"] in {"retrain", "register", "refuse", "canary", "promote", "rollback", "fail"}
    ]
    return (
        [(v.version, v.status) for v in versions],
        dict(reg.aliases("m")),
        key,
        [d["reason"].split(";")[0] for d in decisions if d["action"] in {"refuse", "rollback"}],
    )


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    return _play(tmp_path_factory.mktemp("straight"), None)


def test_the_scenario_reaches_every_outcome(straight):
    statuses, aliases, key, _ = straight
    assert statuses == [(1, "ready"), (2, "archived"), (3, "archived"), (4, "ready")]
    assert aliases == {"production": 4}
    assert [a for a, _, _ in key].count("retrain") == 4
    assert {"refuse", "rollback", "canary", "promote"} <= {a for a, _, _ in key}


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_each_checkpoint_resumes_to_the_same_end(tmp_path, straight, point):
    assert _play(tmp_path, point) == straight


def test_a_refusal_at_promotion_interrupted_after_the_archive_keeps_its_reason(tmp_path):
    reg = registry()
    path = tmp_path / "state.json"
    calls: list[int] = []

    def passes_once(candidate, current):
        calls.append(candidate.version)
        return "the holdout got worse" if len(calls) == 2 else None  # the registry's run

    fired: list[str] = []
    ctl = _ctl(reg, path, "refuse_archived", fired)
    ctl.checks = [passes_once]
    with pytest.raises(Killed):
        ctl.step(0.0)
    assert reg.get("m", 1).status == "archived"
    again = _ctl(reg, path, None, [])
    again.checks = [passes_once]
    action = again.step(0.0)
    # Before: the resumed step promoted the archived version, and the registry's refusal
    # became "'production' moved meanwhile", losing the checks' reason.
    assert (action.action, action.version) == ("refuse", 1)
    assert action.reason.startswith("m@1 refused at promotion: the holdout got worse")
    assert calls == [1, 1]  # the checks are not run again on resume
    assert [d.action for d in again.decisions].count("refuse") == 1
