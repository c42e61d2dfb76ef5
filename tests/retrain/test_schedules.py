"""Seeded random schedules of ``step(now)``: guards, registrations and restarts hold.

Each schedule moves the clock forward by random amounts, sometimes repeats an instant or
steps back; a scripted trigger fires or not (with or without a measured drop); ``train``
succeeds, raises, returns bad output or a model the registry cannot save; the candidate
passes or fails the checks, and its canary passes, fails or stays inconclusive. After
every step: every decision has a reason and is in the state file, the state round-trips,
there are never more runs than the guards allow (counted in the order of the steps,
whatever the clock did), and every registered version is one run's only candidate. A
second schedule, with the controller rebuilt from its state file midway, takes exactly
the same decisions as the uninterrupted one.
"""

from __future__ import annotations

import json
import math
import random
import re
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from prodml.registry import MetricThreshold
from prodml.retrain import Guards, RetrainController, RetrainCost, RetrainState, Signal
from prodml.retrain._controller import RUN_TAG
from prodml.retrain._state import ACTIONS
from prodml.rollout import Canary, Gate, Step

from .helpers import registry

HOUR = 3600.0
COST = RetrainCost(40.0, value_per_unit=1_000.0, horizon=timedelta(days=7))
GUARDS = Guards(
    min_interval=6 * HOUR,
    max_runs=3,
    period=timedelta(days=2),
    budget=100.0,  # two runs' cost per period: binds before max_runs
    backoff=2 * HOUR,
    max_backoff=8 * HOUR,
    max_canary=timedelta(hours=20),
)
MIN_INTERVAL, PERIOD, BUDGET = 6 * HOUR, 2 * 24 * HOUR, 100.0


def _draw(seed: int, *key: object) -> random.Random:
    return random.Random(f"{seed}-" + "-".join(map(str, key)))


class Scripted:
    """Fires at some instants, a pure function of the time (survives a rebuild)."""

    name = "scripted"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def check(self, context: Any) -> Signal | None:
        r = _draw(self.seed, "trigger", context.now)
        roll = r.random()
        if roll < 0.45:
            return None
        drop = None if roll < 0.7 else r.choice([0.0001, 0.02, 0.3])  # 0.0001 does not pay
        return Signal("scripted", "the plan says so", drop=drop)


def _train_for(seed: int):
    def train(data: pd.DataFrame, context: Any) -> Any:
        r = _draw(seed, "train", context.now)
        kind = r.choice(["good", "good", "good", "raise", "shape", "nan", "unsaveable"])
        model = DummyRegressor().fit(data[["y"]], data["y"])
        quality = float(r.choice([0, 1, 2]))  # canary: passes, fails, no traffic
        accuracy = r.choice([0.9, 0.9, 0.3])  # 0.3 fails the check
        if kind == "raise":
            raise RuntimeError("the training cluster is down")
        if kind == "shape":
            return model, {"accuracy": accuracy}
        if kind == "nan":
            return None, model, {"accuracy": math.nan}
        if kind == "unsaveable":
            return None, object(), {"accuracy": accuracy}
        return None, model, {"accuracy": accuracy, "quality": quality}

    return train


def _controller(reg, path, seed: int) -> RetrainController:
    return RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=_train_for(seed),
        triggers=[Scripted(seed)],
        checks=[MetricThreshold("accuracy", min=0.5)],
        canary=Canary(
            [Step(0.5, min_samples=60)],
            [Gate("error_rate", ratio=1.1)],
            min_samples=60,
            salt="schedules",
        ),
        cost=COST,
        data=lambda ctx: pd.DataFrame({"y": np.arange(20.0)}),
        guards=GUARDS,
        state_path=path,
    )


def _times(seed: int, n: int) -> list[float]:
    r = _draw(seed, "clock")
    t, out = 10 * 24 * HOUR, []
    for _ in range(n):
        roll = r.random()
        if roll < 0.08:
            pass  # the same instant again
        elif roll < 0.16:
            t -= r.choice([60.0, 2 * HOUR, 30 * HOUR])  # the clock steps back
        else:
            t += r.choice([60.0, HOUR, 3 * HOUR, 6 * HOUR, 6 * HOUR + 1, 13 * HOUR, 2 * 24 * HOUR])
        out.append(t)
    return out


def _feed(ctl: RetrainController, reg, seed: int, t: float) -> None:
    if ctl.rollout is None or ctl.state.run is None or ctl.state.phase != "canary":
        return
    quality = reg.get("m", ctl.state.run["version"]).metrics.get("quality", 2.0)
    if quality == 2.0:
        return  # inconclusive: no traffic, the canary times out
    rate = 0.05 if quality == 0.0 else 0.6
    r = _draw(seed, "traffic", t)
    for i in range(150):
        variant = ctl.rollout.route(f"{t}-{i}")
        bad = r.random() < (rate if variant == "candidate" else 0.2)
        ctl.rollout.observe(variant, error_rate=float(bad))


def _check_invariants(ctl: RetrainController, reg, path) -> None:
    decisions = ctl.state.decisions
    assert all(d["action"] in ACTIONS and d["reason"].strip() for d in decisions)
    saved = RetrainState.from_dict(json.loads(path.read_text()))
    assert saved.decisions == decisions  # every decision is in the file
    assert RetrainState.from_dict(ctl.state.to_dict()) == ctl.state
    # The guards, in the order the runs started (whatever the clock did).
    starts = [d["at"] for d in decisions if d["action"] == "retrain"]
    for i, t in enumerate(starts):
        earlier = starts[:i]
        if earlier:
            assert t >= earlier[-1] + MIN_INTERVAL - 1e-6, (earlier[-1], t)
            assert t >= max(earlier)  # never a run behind a later one
        window = [s for s in earlier if t - s < PERIOD - 1e-6] + [t]
        assert len(window) <= 3
        assert len(window) * COST.retrain_cost <= BUDGET + 1e-9
    # One candidate per run, and each registered candidate is a run's decision.
    versions = list(reg.search("m")) if "m" in reg.models() else []
    runs = [v.tags[RUN_TAG] for v in versions]
    assert len(runs) == len(set(runs))
    registered = [d["run_id"] for d in decisions if d["action"] == "register"]
    assert sorted(registered) == sorted(runs)
    retrained = {d["run_id"] for d in decisions if d["action"] == "retrain"}
    assert set(registered) <= retrained


def _normalised(decisions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    ids: dict[str, str] = {}

    def rename(text: str) -> str:
        return re.sub(
            r"\d+-[0-9a-f]{12}", lambda m: ids.setdefault(m.group(0), f"run{len(ids)}"), text
        )

    return [
        (d["action"], d["at"], d["version"], d["trigger"], d["repeats"], rename(d["reason"]))
        for d in decisions
    ]


def _play(tmp_path, seed: int, *, rebuild_at: int | None) -> list[dict[str, Any]]:
    reg = registry()
    path = tmp_path / f"state-{seed}-{rebuild_at}.json"
    ctl = _controller(reg, path, seed)
    for i, t in enumerate(_times(seed, 70)):
        if i == rebuild_at:
            ctl = _controller(reg, path, seed)  # a restart: only the file survives
        _feed(ctl, reg, seed, t)
        action = ctl.step(t)
        assert action.reason
        _check_invariants(ctl, reg, path)
    return ctl.state.decisions


@pytest.mark.parametrize("seed", range(6))
def test_random_schedules_keep_the_guards_and_a_rebuilt_controller_agrees(tmp_path, seed):
    straight = _play(tmp_path, seed, rebuild_at=None)
    kinds = {d["action"] for d in straight}
    assert {"retrain", "register", "fail"} <= kinds  # the schedule exercised the paths
    rebuilt = _play(tmp_path, seed, rebuild_at=_draw(seed, "rebuild").randrange(10, 60))
    assert _normalised(rebuilt) == _normalised(straight)


def test_the_schedules_cover_every_outcome(tmp_path):
    kinds: set[str] = set()
    for seed in range(6):
        kinds |= {d["action"] for d in _play(tmp_path, seed, rebuild_at=None)}
    assert kinds >= {"retrain", "register", "fail", "refuse", "canary", "promote", "rollback"}
    assert kinds >= {"skip", "none", "advance"}
