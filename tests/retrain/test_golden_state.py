"""The saved state of a seeded run, pinned byte for byte.

A controller driven through a scripted month (a schedule, a sequential test on the error
stream with its follow-up watch, an alert whose drop the cost model weighs, a minimum
interval, a training failure and its back-off) writes its state file after every step.
The digest of those files, in order, is pinned: a refactoring of the controller (the
trigger loop moved out of ``_controller.py``) must leave every byte where it was.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prodml.retrain import (
    ErrorRateTrigger,
    Guards,
    RetrainController,
    RetrainCost,
    ScheduleTrigger,
    Signal,
)

from .helpers import DAY, Trainer, data, registry

# sha256 of the state file after each step, joined by newlines, then hashed once more.
PINNED = "ef9010bd39310ce2cd8add6e2d3f2bc44ee941997aa103fa2805543ceb2a33e6"
# The same before the error trigger dated its change points: the states without the
# fields that added (the trigger's "fed" and "marks", its alarm's "change", the signal's
# "change_at") must still be these bytes, so dating changed no decision.
PINNED_UNDATED = "131bd39726a2fdf3b63a56dd8a29aa84bcd8ecc2fcfa12245b4ee0e4de1a62ad"
DATING = ("fed", "marks", "change", "change_at")


class Scripted:
    """A trigger that fires on given days with a given drop (the cost model weighs it)."""

    name = "alert"

    def __init__(self, days: dict[int, float]) -> None:
        self.days = days

    def check(self, context: Any) -> Signal | None:
        day = int(context.now // DAY)
        drop = self.days.get(day)
        if drop is None:
            return None
        return Signal(self.name, f"accuracy alert on day {day}", drop, {"day": day})


class DriftOn:
    name = "drift"

    def __init__(self) -> None:
        self.fire = False

    def check(self, context: Any) -> Signal | None:
        return Signal("drift", "2 of 3 columns drifted (a, b)") if self.fire else None


class FailsOn(Trainer):
    """The training cluster is down on the given days."""

    def __init__(self, days: set[int]) -> None:
        super().__init__()
        self.down = days

    def __call__(self, data: Any, context: Any) -> Any:
        if int(context.now // DAY) in self.down:
            raise RuntimeError("the training cluster is down")
        return super().__call__(data, context)


# Per day: (extra error rate over production's held-out error, predictions), drift.
ERRORS = [(0.0, 1_500), (0.3, 3_000)] + [(0.0, 600)] * 4 + [(0.0, 600)] * 3
ERRORS += [(0.0, 600)] * 12
DRIFT = {6}
ALERTS = {3: 0.2, 9: 0.2, 12: 0.2, 15: 0.3}  # 3: within min_interval of day 2
DOWN = {12}  # training fails: back-off until day 12 + 2 days


def _states(tmp: Path) -> list[str]:
    reg, drift = registry(), DriftOn()
    path = tmp / "state.json"
    errors = ErrorRateTrigger(
        baseline_metric="accuracy", baseline_samples=400, warmup=500, drift=drift
    )
    ctl = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=FailsOn(DOWN),
        triggers=[ScheduleTrigger(timedelta(days=20)), errors, Scripted(ALERTS)],
        cost=RetrainCost(100.0, value_per_unit=1_000.0, horizon=timedelta(days=7)),
        data=lambda ctx: data(seed=int(ctx.now // DAY)),
        guards=Guards(min_interval=timedelta(days=2), backoff=2 * DAY, max_backoff=8 * DAY),
        state_path=path,
    )
    texts = []
    ctl.step(0.0)
    texts.append(path.read_text(encoding="utf-8"))
    rng = np.random.default_rng(7)
    for day, (extra, n) in enumerate(ERRORS, start=1):
        drift.fire = day in DRIFT
        held_out = 1.0 - float(reg.get("churn@production").metrics["accuracy"])
        errors.update_many((rng.random(n) < held_out + extra).astype(float))
        ctl.step(day * DAY)
        texts.append(path.read_text(encoding="utf-8"))
    return texts


@pytest.fixture
def seeded_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))


def _digest(texts: list[str]) -> str:
    return hashlib.sha256(
        "\n".join(hashlib.sha256(t.encode()).hexdigest() for t in texts).encode()
    ).hexdigest()


def _undated(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _undated(v) for k, v in value.items() if k not in DATING}
    if isinstance(value, list):
        return [_undated(v) for v in value]
    return value


def test_the_seeded_run_writes_the_pinned_states(tmp_path: Path, seeded_uuid: None) -> None:
    texts = _states(tmp_path)
    kinds = [d["action"] for d in json.loads(texts[-1])["decisions"]]
    # The script reaches every branch of the trigger loop it pins.
    assert {"none", "skip", "retrain", "fail", "promote"} <= set(kinds)
    assert _digest(texts) == PINNED
    undated = [json.dumps(_undated(json.loads(t)), allow_nan=False, sort_keys=True) for t in texts]
    assert _digest(undated) == PINNED_UNDATED
