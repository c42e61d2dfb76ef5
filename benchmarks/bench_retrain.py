"""Retraining simulation: RetrainController vs a weekly schedule vs an Evidently-style rule.

52 simulated weeks of the demo's churn data (:func:`prodml._demo.data.make_churn_data`),
300 customers a day, labels known at the end of each day. Three worlds:

* ``drift``: from week 20 the data drifts (``shift``) and the concept changes
  (``concept``), both ramping from 0 to 1 over six weeks and staying there;
* ``concept only``: the same concept change with no data drift (what drives churn
  changes, the customers do not): a data-drift rule cannot see it;
* ``control``: nothing changes all year (every retraining is a false one).

Each strategy starts from the same model (trained on the two weeks before day 0) and
retrains on the last 14 days of labelled data (the controller: from the change it
dated, 7 to 14 days; see below). Value: ``VALUE_PER_DAY * accuracy`` of
the model(s) serving each day's traffic; every retraining costs ``RETRAIN_COST``. Net
value = value - retraining costs. Strategies:

* ``weekly``: retrain every 7 days, promote at once;
* ``evidently``: Evidently's default data-drift rule, reimplemented with scipy (evidently
  itself is not installed here): per column, normed Wasserstein distance (numbers) or
  Jensen-Shannon distance (categories) >= 0.1 between the last 7 days and the training
  data; retrain when the share of drifted columns >= 0.5, promote at once. Checked daily
  (the controller's cadence) or weekly, with the controller's minimum of 7 days between
  retrainings;
* ``controller``: :class:`prodml.retrain.RetrainController` stepped daily with an
  :class:`~prodml.retrain.ErrorRateTrigger` on production's error stream (its baseline
  capped by the held-out accuracy ``train`` measures on its last two days), whose
  data-drift co-signal is a :class:`~prodml.retrain.DriftTrigger` on prodml's
  :class:`~prodml.drift.DriftDetector` (defaults; the last 7 days' inputs and labels
  against the training data: half the inputs drifted, or the label; refitted on the new
  version's training window at each promotion), and whose follow-up watch after a
  promotion on its alarm (14 days, at most 3 follow-ups a chain) asks whether *any*
  column still drifted against the new version's training data (``settle``), weighed by
  :class:`~prodml.retrain.RetrainCost`, a sanity check and a canary that routes real
  traffic before promoting; ``Guards(min_interval=7 days, max_canary=5 days,
  canary_timeout="conclude")``: a canary still inconclusive after five days promotes
  the candidate when its error rate so far is within the gate's 1.2 x production's
  (:meth:`~prodml.rollout.Canary.conclude`), else rolls it back. It trains on
  :func:`~prodml.retrain.change_window`: from the change its trigger dated (the
  CUSUM's last zero, or the drift co-signal's start; for a follow-up, the replaced
  version's training), 7 to 14 days. ``--no-since-change``: always the last
  14 days, as the other strategies (which do not know when a change began).

Every strategy fits the same model on the same window, so a fitted window is shared.
Run ``python benchmarks/bench_retrain.py`` (``--seeds 5`` by default; ``--quick``: 20
weeks, onset at week 8, one seed; ``--worlds drift`` runs one world, and ``--merge a.json
b.json`` tables several runs). Figures go to stdout and, as JSON, to ``--out`` (default
benchmarks/results/retrain.json): mean ± standard deviation over the seeds.
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
from prodml.drift import DriftDetector
from prodml.registry import MetricThreshold, ModelRegistry
from prodml.retrain import (
    DriftTrigger,
    ErrorRateTrigger,
    Guards,
    RetrainController,
    RetrainCost,
    change_window,
)
from prodml.retrain._controller import TRAINED_AT_TAG
from prodml.rollout import Canary, Gate, Step

DAY = 86_400.0
PER_DAY = 300
VALUE_PER_DAY = 10_000.0  # currency per day at accuracy 1.0
RETRAIN_COST = 2_000.0  # compute, validation and review of one retraining
WINDOW_DAYS = 14
RAMP_WEEKS = 6
MIN_INTERVAL_DAYS = 7  # the controller's Guards(min_interval); the drift rule gets the same
MIN_WINDOW_DAYS = 7  # the controller's change_window: never fewer days (2 of them held out)
SINCE_CHANGE = True  # the controller trains on change_window (--no-since-change: 14 days)
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
    # newton-cholesky: the same optimum as lbfgs here, 10x faster on these 21 features
    model = LogisticRegression(solver="newton-cholesky", max_iter=100).fit(
        pipe.transform(x), data[LABEL].to_numpy()
    )
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
        self._fits: dict[int, Pair] = {}

    def window(self, day: int, start: int | None = None) -> pd.DataFrame:
        """Days ``[start, day)``; by default the last ``WINDOW_DAYS`` before ``day``."""
        first = day - WINDOW_DAYS if start is None else start
        return pd.concat(self.days[max(0, first) : day], ignore_index=True)

    def fit_window(self, day: int) -> Pair:
        """The model fitted on ``window(day)`` (deterministic, so shared by the strategies)."""
        if day not in self._fits:
            self._fits[day] = fit(self.window(day))
        return self._fits[day]


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


def run_schedule(
    world: World, rule: Callable[[World, int, pd.DataFrame], bool], *, every: int = 7
) -> dict[str, Any]:
    """Check ``rule`` every ``every`` days (and at least 7 days after the last retraining)."""
    pair, reference = world.initial, world.warmup
    acc, retrains = [], []
    for day, data in enumerate(world.days):
        acc.append(float(correct(pair, data).mean()))
        due = (day + 1) % every == 0 and day >= 6
        rested = not retrains or day + 1 - retrains[-1] >= MIN_INTERVAL_DAYS
        if due and rested and rule(world, day, reference):
            reference = world.window(day + 1)
            pair = world.fit_window(day + 1)
            retrains.append(day + 1)
    return result(world, acc, retrains, retrains)


def weekly(world: World, day: int, reference: pd.DataFrame) -> bool:
    return True


def evidently(world: World, day: int, reference: pd.DataFrame) -> bool:
    """Evidently's dataset-drift rule on the last 7 days against the training data."""
    current = pd.concat(world.days[day - 6 : day + 1], ignore_index=True)
    return evidently_share(reference, current) >= 0.5


def run_controller(
    world: World, *, canary: bool = True, since_change: bool | None = None
) -> dict[str, Any]:
    """The controller; ``since_change``: train on ``change_window`` (default ``SINCE_CHANGE``)."""
    since_change = SINCE_CHANGE if since_change is None else since_change
    reg = ModelRegistry("memory://", f"memory://bench-retrain-{world.world}-{world.seed}")
    initial = world.initial
    v1 = reg.register(
        "churn",
        initial,
        tags={TRAINED_AT_TAG: "0.0"},
        metrics={"accuracy": float(correct(initial, world.days[0]).mean())},
    )
    reg.set_alias("churn", "production", v1.version)
    models: dict[int, Pair] = {v1.version: initial}
    cost = RetrainCost(RETRAIN_COST, value_per_unit=VALUE_PER_DAY, horizon=timedelta(days=28))
    # The drift co-signal: prodml's DriftDetector (defaults) on the last 7 days of served
    # inputs and their labels against the production model's training data, asked at each
    # step; it fires when half the inputs drifted or the label did (the churn rate moved).
    watched = [*FEATURES, LABEL]
    reference = [DriftDetector().fit(world.warmup[watched])]
    served: list[pd.DataFrame] = []

    def report() -> Any:
        if len(served) < 7:
            return None
        return reference[0].detect(pd.concat(served[-7:], ignore_index=True)[watched])

    errors = ErrorRateTrigger(
        min_drop=cost.break_even_drop,
        drift=DriftTrigger(report, min_share=0.5, columns=[LABEL]),
        # after a promotion on its alarm: any column still drifted means the change
        # had not settled when the training window was cut (a lower bar than the
        # co-signal's, as the chain's alarm already says a change is under way)
        settle=DriftTrigger(report, min_share=None, columns=watched),
        baseline_metric="accuracy",  # measured by train() on its last two days
        baseline_samples=2 * PER_DAY,
    )

    starts: dict[int, int] = {}  # a run's day -> the first day of its training window

    def data_for(ctx: Any) -> pd.DataFrame:
        day = int(ctx.now // DAY)
        start = day - WINDOW_DAYS
        if since_change:  # from the change the trigger dated, 7 to 14 days
            first, _ = change_window(
                ctx, window=timedelta(days=WINDOW_DAYS), min_window=timedelta(days=MIN_WINDOW_DAYS)
            )
            start = int(np.ceil(first / DAY - 1e-9))  # whole days from the start on
        starts[day] = start
        return world.window(day, start)

    def train(data: pd.DataFrame, ctx: Any) -> tuple[Any, Any, dict[str, float]]:
        pipe, model = fit(data.iloc[: -2 * PER_DAY])
        held = data.iloc[-2 * PER_DAY :]
        return pipe, model, {"accuracy": float(correct((pipe, model), held).mean())}

    ctl = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=train,
        triggers=[errors],
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
        data=data_for,
        guards=Guards(
            min_interval=timedelta(days=MIN_INTERVAL_DAYS),
            backoff=timedelta(days=3),
            max_canary=timedelta(days=5),
            canary_timeout="conclude",  # no verdict in 5 days: decide on the estimates
        ),
    )
    acc, retrains, promotions = [], [], []
    for day, data in enumerate(world.days):
        prod = reg.aliases("churn")["production"]
        if prod not in models:
            models[prod] = reg.load(f"churn@{prod}", trusted=True)
        ok_base = correct(models[prod], data)
        served_ok = ok_base.copy()
        rollout = ctl.rollout
        if rollout is not None and ctl.state.run is not None:
            cand_v = ctl.state.run["version"]
            if cand_v not in models:
                models[cand_v] = reg.load(f"churn@{cand_v}", trusted=True)
            ok_cand = correct(models[cand_v], data)
            for i in range(len(data)):
                variant = rollout.route(f"{day}-{i}")
                ok = ok_cand[i] if variant == "candidate" else ok_base[i]
                served_ok[i] = ok
                rollout.observe(variant, error_rate=1.0 - ok)
        acc.append(float(served_ok.mean()))
        served.append(data)
        errors.update_many(1.0 - ok_base)  # production's errors (labels at the end of the day)
        action = ctl.step((day + 1) * DAY)
        if any(d.action == "retrain" and d.at == (day + 1) * DAY for d in ctl.decisions[-6:]):
            retrains.append(day + 1)
        if action.action == "promote":
            promotions.append(day + 1)
            trained = int(float(reg.get("churn@production").tags[TRAINED_AT_TAG]) // DAY)
            reference[0] = DriftDetector().fit(world.window(trained, starts.get(trained))[watched])
    out = result(world, acc, sorted(set(retrains)), promotions)
    out["decisions"] = [f"day {d.at / DAY:g}: {d.action}: {d.reason}" for d in ctl.decisions
                        if d.action not in ("none", "hold", "skip")]  # fmt: skip
    return out


STRATEGIES: dict[str, Callable[[World], dict[str, Any]]] = {
    "controller": run_controller,
    "weekly": lambda w: run_schedule(w, weekly),
    "evidently (daily check)": lambda w: run_schedule(w, evidently, every=1),
    "evidently (weekly check)": lambda w: run_schedule(w, evidently),
}
WORLDS = ("drift", "concept only", "control")


def summarise(rows: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Per world and strategy: mean and spread over seeds, net value as a ratio to weekly."""
    summary: dict[str, Any] = {}
    for world_name, strategies in rows.items():
        weekly_net = np.array([r["net_value"] for r in strategies["weekly"]])
        for name, results in strategies.items():
            ratio = np.array([r["net_value"] for r in results]) / weekly_net
            summary.setdefault(world_name, {})[name] = {
                "net_value": [r["net_value"] for r in results],
                "net_vs_weekly": ratio.tolist(),
                "retrains": [r["retrains"] for r in results],
                "false_retrains": [r["false_retrains"] for r in results],
                "weeks_onset_to_promotion": [r["weeks_onset_to_promotion"] for r in results],
                "mean_accuracy": [r["mean_accuracy"] for r in results],
            }
    return summary


def _ms(values: list[float], fmt: str = ".3f") -> str:
    arr = np.asarray(values, dtype=float)
    return f"{arr.mean():{fmt}} ± {arr.std(ddof=1) if arr.size > 1 else 0.0:{fmt}}"


def table(summary: dict[str, Any]) -> list[str]:
    """Markdown rows: mean ± standard deviation over seeds (min-max for counts)."""
    head = "| world | strategy | net value vs weekly | net value (mean) | retrains"
    lines = [
        f"{head} | false retrains | weeks onset -> promotion | mean accuracy |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for world_name, strategies in summary.items():
        for name, e in strategies.items():
            lags = [x for x in e["weeks_onset_to_promotion"] if x is not None]
            never = len(e["weeks_onset_to_promotion"]) - len(lags)
            lag = "-" if world_name == "control" else (_ms(lags, ".1f") if lags else "never")
            if never and world_name != "control" and lags:
                lag += f" ({never} never)"
            lines.append(
                f"| {world_name} | {name} | {_ms(e['net_vs_weekly'])}x | "
                f"{np.mean(e['net_value']):,.0f} | {_ms(e['retrains'], '.1f')} | "
                f"{sum(e['false_retrains'])} in {len(e['false_retrains'])} "
                f"(max {max(e['false_retrains'])}) | {lag} | {_ms(e['mean_accuracy'])} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--worlds", nargs="*", choices=WORLDS, default=list(WORLDS))
    parser.add_argument("--merge", nargs="*", default=[], help="result JSON files to table")
    parser.add_argument(
        "--since-change",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the controller trains on change_window: from the change its trigger dated, "
        "7 to 14 days (default); --no-since-change: the last 14 days, as the others",
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "retrain.json"))
    args = parser.parse_args(argv)
    global SINCE_CHANGE  # noqa: PLW0603 - a benchmark's switch, read by run_controller
    SINCE_CHANGE = args.since_change
    weeks, onset = (20, 8) if args.quick else (52, 20)
    seeds = 1 if args.quick else args.seeds
    if args.merge:  # worlds run in separate processes, tabled together
        summary = {}
        for path in args.merge:
            summary.update(json.loads(Path(path).read_text())["summary"])
        print("\n".join(table(summary)))
        return 0
    start = time.perf_counter()
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    decisions: dict[str, list[str]] = {}
    for world_name in args.worlds:
        for seed in range(seeds):
            world = World(world_name, weeks, onset, seed)
            for name, fn in STRATEGIES.items():
                out = fn(world)
                if "decisions" in out:
                    decisions[f"{world_name}, seed {seed}"] = out.pop("decisions")
                rows.setdefault(world_name, {}).setdefault(name, []).append(out)
    print(f"# Retraining simulation: {weeks} weeks, {PER_DAY} customers/day, onset week "
          f"{onset}, {seeds} seed(s); retrain cost {RETRAIN_COST:,.0f}, value "
          f"{VALUE_PER_DAY:,.0f}/day at accuracy 1")  # fmt: skip
    print(f"# {platform.platform()}, Python {platform.python_version()}, 2 cores (shared)")
    summary = summarise(rows)
    print("\n".join(table(summary)))
    print(f"# {time.perf_counter() - start:.0f} s")
    for key, lines in decisions.items():
        for line in lines:
            if ": retrain: " in line or ": rollback: " in line or ": refuse: " in line:
                print(f"  controller, {key}:", line[:200])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"summary": summary, "weeks": weeks, "decisions": decisions}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
