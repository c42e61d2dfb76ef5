"""A controller run in its own process, for the crash tests (run as a script).

``python _child.py DIR [CRASH_AT] [SLOW]``: steps a RetrainController over 18 simulated
days, twice a day (a first version, a good candidate that a canary promotes, a bad one
that it rolls back), resuming from DIR's state; with CRASH_AT it SIGKILLs itself the first
time the controller reaches that checkpoint. SLOW adds a pause to training (random kills).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from prodml.registry import MetricThreshold, ModelRegistry
from prodml.retrain import Guards, RetrainController, ScheduleTrigger
from prodml.rollout import Canary, Gate, Step
from prodml.schema import Column, Schema

DAY = 86_400.0


def main(root: Path, crash_at: str | None, slow: float) -> None:
    if crash_at is not None:
        original = RetrainController._checkpoint

        def checkpoint(self: RetrainController, point: str) -> None:
            if point == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)
            original(self, point)

        RetrainController._checkpoint = checkpoint  # type: ignore[method-assign]

    def train(data: pd.DataFrame, ctx: object) -> tuple[None, Schema, dict[str, float]]:
        time.sleep(slow)
        model = Schema([Column("x", "float")])  # a stand-in: any registrable object
        with (root / "train_calls.txt").open("a") as fh:
            fh.write(ctx.run_id + "\n")  # type: ignore[attr-defined]
        return None, model, {"accuracy": 0.9}

    reg = ModelRegistry.local(root / "registry")
    canary = Canary(
        [Step(0.2, min_samples=150), Step(0.5, min_samples=300)],
        [Gate("error_rate", ratio=1.1)],
        min_samples=100,
        salt="crash",
    )
    ctl = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=train,
        triggers=[ScheduleTrigger(timedelta(days=7))],
        checks=[MetricThreshold("accuracy", min=0.5)],
        canary=canary,
        data=lambda ctx: pd.DataFrame({"x": np.arange(20.0), "y": np.arange(20) % 2}),
        guards=Guards(min_interval=DAY, backoff=timedelta(days=30)),
        state_path=root / "state.json",
    )
    rng = np.random.default_rng(0)
    print("ready", flush=True)  # imports done: the parent's random kill starts counting
    for hour in range(0, 18 * 24, 12):
        t = hour * 3600.0
        if ctl.state.last_step_at is not None and t < ctl.state.last_step_at:
            continue  # stepped before the crash
        if ctl.rollout is not None and ctl.state.run is not None:
            bad = ctl.state.run["version"] != 2
            for i in range(800):
                variant = ctl.rollout.route(f"{hour}-{i}")
                rate = (0.5 if bad else 0.1) if variant == "candidate" else 0.2
                ctl.rollout.observe(variant, error_rate=float(rng.random() < rate))
        ctl.step(t)
    reg.close()


if __name__ == "__main__":
    main(
        Path(sys.argv[1]),
        sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None,
        float(sys.argv[3]) if len(sys.argv) > 3 else 0.0,
    )
