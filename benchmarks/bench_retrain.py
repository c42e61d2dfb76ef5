"""Retraining simulation: RetrainController vs a weekly schedule vs an Evidently-style rule.

52 simulated weeks of the demo's churn data (:func:`prodml._demo.data.make_churn_data`),
300 customers a day, labels known at the end of each day. Two worlds:

* ``drift``: from week 20 the data drifts (``shift``) and the concept changes
  (``concept``), both ramping from 0 to 1 over six weeks and staying there;
* ``concept only``: the same concept change with no data drift (what drives churn
  changes, the customers do not): a data-drift rule cannot see it;
* ``control``: nothing changes all year (every retraining is a false one).

Each strategy starts from the same model (trained on the two weeks before day 0) and
retrains on the last 14 days of labelled data. Value: ``VALUE_PER_DAY * accuracy`` of
the model(s) serving each day's traffic; every retraining costs ``RETRAIN_COST``. Net
value = value - retraining costs. Strategies:

* ``weekly``: retrain every 7 days, promote at once;
* ``evidently``: Evidently's default data-drift rule, reimplemented with scipy (evidently
  itself is not installed here): each week, per column, normed Wasserstein distance
  (numbers) or Jensen-Shannon distance (categories) >= 0.1 against the training data;
  retrain when the share of drifted columns >= 0.5, promote at once;
* ``controller``: :class:`prodml.retrain.RetrainController` stepped daily with a
  :class:`~prodml.retrain.ConceptDriftTrigger` (DDM on the error stream) and an
  :class:`~prodml.retrain.AlertTrigger` on a :class:`~prodml.monitoring.ModelMonitor`
  accuracy rule, both weighed by :class:`~prodml.retrain.RetrainCost`, a sanity check
  and a canary that routes real traffic before promoting.

Run ``python benchmarks/bench_retrain.py`` (``--quick``: 20 weeks, onset at week 8).
Figures go to stdout and, as JSON, to ``--out`` (default benchmarks/results/retrain.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance
from sklearn.linear_model import LogisticRegression

from prodml._demo.data import make_churn_data
from prodml._demo.scenario import CATEGORICAL, LABEL, NUMERIC, make_pipeline
from prodml.drift import DDM
from prodml.monitoring import AlertRule, CountWindow, InMemorySink, ModelMonitor
from prodml.registry import MetricThreshold, ModelRegistry
from prodml.retrain import (
    AlertTrigger,
    ConceptDriftTrigger,
    Guards,
    RetrainController,
    RetrainCost,
)
from prodml.rollout import Canary, Gate, Step

DAY = 86_400.0
PER_DAY = 300
VALUE_PER_DAY = 10_000.0  # currency per day at accuracy 1.0
RETRAIN_COST = 2_000.0  # compute, validation and review of one retraining
WINDOW_DAYS = 14
RAMP_WEEKS = 6
FEATURES = NUMERIC + CATEGORICAL

Pair = tuple[Any, Any]


def day_data(world: str, day: int, onset_week: int, seed: int) -> pd.DataFrame:
    level = 0.0
    if world != "control":
        level = float(np.clip((day / 7 - onset_week) / RAMP_WEEKS, 0.0, 1.0))
    shift = level if world == "drift" else 0.0
    return make_churn_data(PER_DAY, seed=seed * 1_000 + day + 100, shift=shift, concept=level)


def fit(data: pd.DataFrame) -> Pair:
    x = data.drop(columns=[LABEL])
    pipe = make_pipeline().fit(x)
    model = LogisticRegression(max_iter=1000).fit(pipe.transform(x), data[LABEL].to_numpy())
    return pipe, model


def correct(pair: Pair, data: pd.DataFrame) -> np.ndarray:
    pipe, model = pair
    pred = model.predict(pipe.transform(data.drop(columns=[LABEL])))
    return np.asarray(pred == data[LABEL].to_numpy(), dtype=float)


def evidently_share(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    """Share of drifted columns by Evidently's defaults for samples over 1000 rows."""
    drifted = 0
    for col in FEATURES:
        ref, cur = reference[col].dropna(), current[col].dropna()
        if col in NUMERIC:
            scale = float(np.std(ref)) or 1.0
            drifted += wasserstein_distance(ref, cur) / scale >= 0.1
        else:
            cats = sorted(set(ref) | set(cur))
            p = ref.value_counts().reindex(cats, fill_value=0).to_numpy(float)
            q = cur.value_counts().reindex(cats, fill_value=0).to_numpy(float)
            drifted += float(jensenshannon(p / p.sum(), q / q.sum())) >= 0.1
    return drifted / len(FEATURES)


class World:
    """One simulated year: the days' data, the running value and the retrainings."""

    def __init__(self, world: str, weeks: int, onset_week: int, seed: int) -> None:
        self.world, self.weeks, self.onset_week, self.seed = world, weeks, onset_week, seed
        self.days = [day_data(world, d, onset_week, seed) for d in range(weeks * 7)]
        self.warmup = pd.concat([day_data(world, -d, onset_week, seed) for d in range(1, 15)])
        self.initial = fit(self.warmup)

    def window(self, day: int) -> pd.DataFrame:
        return pd.concat(self.days[max(0, day - WINDOW_DAYS) : day], ignore_index=True)


def result(world: World, daily_acc: list[float], retrain_days: list[int],
           promote_days: list[int]) -> dict[str, Any]:  # fmt: skip
    value = VALUE_PER_DAY * float(np.sum(daily_acc))
    cost = RETRAIN_COST * len(retrain_days)
    onset_day = world.onset_week * 7
    after = [d for d in promote_days if d >= onset_day]
    return {
        "value": value,
        "retrain_cost": cost,
        "net_value": value - cost,
        "retrains": len(retrain_days),
        "false_retrains": len(retrain_days)
        if world.world == "control"
        else sum(d < onset_day for d in retrain_days),
        "promotions": len(promote_days),
        "weeks_onset_to_promotion": None
        if world.world == "control" or not after
        else (after[0] - onset_day) / 7,
        "mean_accuracy": float(np.mean(daily_acc)),
    }


def run_schedule(world: World, rule: Callable[[World, int, pd.DataFrame], bool]) -> dict[str, Any]:
    pair, reference = world.initial, world.warmup
    acc, retrains = [], []
    for day, data in enumerate(world.days):
        acc.append(float(correct(pair, data).mean()))
        if day % 7 == 6 and rule(world, day, reference):
            reference = world.window(day + 1)
            pair = fit(reference)
            retrains.append(day + 1)
    return result(world, acc, retrains, retrains)


def weekly(world: World, day: int, reference: pd.DataFrame) -> bool:
    return True


def evidently(world: World, day: int, reference: pd.DataFrame) -> bool:
    current = pd.concat(world.days[day - 6 : day + 1], ignore_index=True)
    return evidently_share(reference, current) >= 0.5


def run_controller(world: World, *, canary: bool = True) -> dict[str, Any]:
    reg = ModelRegistry("memory://", f"memory://bench-retrain-{world.world}-{world.seed}")
    initial = world.initial
    holdout_error = 1.0 - float(correct(initial, world.days[0]).mean())
    v1 = reg.register("churn", initial, tags={"prodml.retrain.trained_at": "0.0"})
    reg.set_alias("churn", "production", v1.version)
    models: dict[int, Pair] = {v1.version: initial}
    baseline_acc = [1.0 - holdout_error]
    clock = [0.0]
    cost = RetrainCost(RETRAIN_COST, value_per_unit=VALUE_PER_DAY, horizon=timedelta(days=28))
    watch = [make_monitor(baseline_acc[0], cost, clock)]
    ddm = ConceptDriftTrigger(DDM(), baseline_error=holdout_error)

    def train(data: pd.DataFrame, ctx: Any) -> tuple[Any, Any, dict[str, float]]:
        pipe, model = fit(data.iloc[: -2 * PER_DAY])
        held = data.iloc[-2 * PER_DAY :]
        return pipe, model, {"accuracy": float(correct((pipe, model), held).mean())}

    ctl = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=train,
        triggers=[watch[0][1], ddm],
        checks=[MetricThreshold("accuracy", min=0.55)],
        canary=None
        if not canary
        else Canary(
            [Step(0.5, min_samples=150)],
            [Gate("error_rate", ratio=1.2)],  # a guardrail: refuse a clearly worse model
            min_samples=60,
            sequential=False,  # one look a day: a fixed-sample test, not a confidence sequence
            salt="bench",
        ),
        cost=cost,
        data=lambda ctx: world.window(int(ctx.now // DAY)),
        guards=Guards(
            min_interval=timedelta(days=7),
            backoff=timedelta(days=3),
            max_canary=timedelta(days=5),
        ),
    )
    acc, retrains, promotions = [], [], []
    for day, data in enumerate(world.days):
        prod = reg.aliases("churn")["production"]
        if prod not in models:
            models[prod] = reg.load(f"churn@{prod}", trusted=True)
        base = models[prod]
        ok_base = correct(base, data)
        served = ok_base.copy()
        rollout = ctl.rollout
        if rollout is not None and ctl.state.run is not None:
            cand_v = ctl.state.run["version"]
            if cand_v not in models:
                models[cand_v] = reg.load(f"churn@{cand_v}", trusted=True)
            cand = models[cand_v]
            ok_cand = correct(cand, data)
            for i in range(len(data)):
                variant = rollout.route(f"{day}-{i}")
                ok = ok_cand[i] if variant == "candidate" else ok_base[i]
                served[i] = ok
                rollout.observe(variant, error_rate=1.0 - ok)
        acc.append(float(served.mean()))
        # The monitor watches production's errors (labels at the end of the day).
        ddm.update_many(1.0 - ok_base)
        monitor = watch[0][0]
        for i, row_ok in enumerate(ok_base):
            clock[0] = day * DAY + i * (DAY / PER_DAY)
            monitor.log_prediction(f"{day}-{i}", {}, float(row_ok), latency_s=0.01)
            monitor.log_label(f"{day}-{i}", 1)
        action = ctl.step((day + 1) * DAY)
        if action.action == "retrain" or any(
            d.action == "retrain" and d.at == (day + 1) * DAY for d in ctl.decisions[-6:]
        ):
            retrains.append(day + 1)
        if action.action == "promote":
            promotions.append(day + 1)
            new = reg.get("churn@production")
            baseline_acc[0] = new.metrics["accuracy"]
            ddm.baseline_error = 1.0 - baseline_acc[0]
            watch[0] = make_monitor(baseline_acc[0], cost, clock)  # a new model, a new monitor
            ctl.triggers[0] = watch[0][1]
    out = result(world, acc, sorted(set(retrains)), promotions)
    out["decisions"] = [f"day {d.at / DAY:g}: {d.action}: {d.reason}" for d in ctl.decisions
                        if d.action not in ("none", "hold", "skip")]  # fmt: skip
    return out


def make_monitor(
    baseline: float, cost: RetrainCost, clock: list[float]
) -> tuple[ModelMonitor, AlertTrigger]:
    """A monitor whose accuracy alert fires at a drop that pays for a retraining.

    The threshold is the larger of 1.5 x the drop that pays for one retraining (the cost
    model's break-even) and three standard errors of the window's accuracy, so noise
    alone rarely fires it.
    """
    pays = cost.retrain_cost / (cost.value_per_unit * cost.horizon_units)
    noise = 3.0 * float(np.sqrt(baseline * (1.0 - baseline) / 1200))
    sink = InMemorySink()
    rule = AlertRule(
        "accuracy",
        metric="accuracy",
        op="<",
        fire=baseline - max(1.5 * pays, noise),
        clear=baseline - 0.5 * max(1.5 * pays, noise),
        for_s=DAY,
        min_count=300,
    )
    monitor = ModelMonitor(
        "churn",
        window=CountWindow(1200),
        rules=[rule],
        sinks=[sink],
        clock=lambda: clock[0],
        evaluate_every_s=DAY / 4,
    )
    return monitor, AlertTrigger(sink, baseline=baseline)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "retrain.json"))
    args = parser.parse_args(argv)
    weeks, onset = (20, 8) if args.quick else (52, 20)
    seeds = 1 if args.quick else args.seeds
    start = time.perf_counter()
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for world_name in ("drift", "concept only", "control"):
        for seed in range(seeds):
            world = World(world_name, weeks, onset, seed)
            for name, fn in (
                ("controller", run_controller),
                ("controller, no canary", lambda w: run_controller(w, canary=False)),
                ("weekly", lambda w: run_schedule(w, weekly)),
                ("evidently", lambda w: run_schedule(w, evidently)),
            ):
                rows.setdefault(world_name, {}).setdefault(name, []).append(fn(world))
    print(f"# Retraining simulation: {weeks} weeks, {PER_DAY} customers/day, onset week "
          f"{onset} (drift world), {seeds} seed(s); retrain cost {RETRAIN_COST:,.0f}, value "
          f"{VALUE_PER_DAY:,.0f}/day at accuracy 1")  # fmt: skip
    print(f"# {platform.platform()}, Python {platform.python_version()}, 2 cores (shared)")
    print("| world | strategy | net value (median) | vs weekly | retrains | false retrains "
          "| weeks onset -> promotion | mean accuracy |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    summary: dict[str, Any] = {}
    for world_name, strategies in rows.items():
        weekly_net = float(np.median([r["net_value"] for r in strategies["weekly"]]))
        for name, results in strategies.items():
            net = float(np.median([r["net_value"] for r in results]))
            lag = [r["weeks_onset_to_promotion"] for r in results]
            lag_s = "-" if world_name == "control" else ", ".join(
                "never" if x is None else f"{x:.1f}" for x in lag)  # fmt: skip
            entry = {
                "net_value_median": net,
                "net_vs_weekly_ratio": net / weekly_net,
                "retrains": [r["retrains"] for r in results],
                "false_retrains": [r["false_retrains"] for r in results],
                "weeks_onset_to_promotion": lag,
                "mean_accuracy": [r["mean_accuracy"] for r in results],
            }
            summary.setdefault(world_name, {})[name] = entry
            print(f"| {world_name} | {name} | {net:,.0f} | {net / weekly_net:.3f}x | "
                  f"{'/'.join(map(str, entry['retrains']))} | "
                  f"{'/'.join(map(str, entry['false_retrains']))} | {lag_s} | "
                  f"{np.median(entry['mean_accuracy']):.3f} |")  # fmt: skip
    print(f"# {time.perf_counter() - start:.0f} s")
    for line in rows["drift"]["controller"][0]["decisions"]:
        print("  controller, drift, seed 0:", line[:160])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": summary, "weeks": weeks}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
