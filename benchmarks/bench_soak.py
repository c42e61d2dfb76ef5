"""Soak: drive each long-lived component for many events and print what it holds.

A service embeds prodml for weeks. This drives each component with a fixed number of
events (simulated time where it has windows or periods) and prints, at checkpoints:

* ``py_kib``: Python heap allocated now (``tracemalloc``), the figure that shows growth;
* ``rss_mib``: peak resident set size of the process so far (``resource``);
* ``fds``: open file descriptors (``/proc/self/fd``), ``threads``: live threads;
* ``state``: a size that should stay bounded (entries, bytes of saved state...);
* ``growth``: py_kib gained per million events since the first checkpoint.

Nothing here is asserted: the tests (``tests/**/test_soak*.py``) assert the deterministic
facts (sizes after N distinct keys, fds after N reloads, errors at a limit). Memory is
measured here because it is noisy and machine-dependent.

Usage::

    python benchmarks/bench_soak.py               # every component, 1,000,000 events each
    python benchmarks/bench_soak.py --events 200000 --only monitor,rollout
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def checkpoints(total: int, n: int = 5) -> list[int]:
    return sorted({max(1, round(total * k / n)) for k in range(1, n + 1)})


class Probe:
    """Prints one line per checkpoint of one component."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.first: tuple[int, float] | None = None
        gc.collect()
        tracemalloc.reset_peak()

    def __call__(self, done: int, state: object = "") -> None:
        gc.collect()
        now = tracemalloc.get_traced_memory()[0] / 1024
        if self.first is None:
            self.first = (done, now)
            growth = "-"
        else:
            d0, m0 = self.first
            growth = f"{(now - m0) / max(done - d0, 1) * 1e6:,.0f}"
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{self.name:<26} {done:>11,} py_kib={now:>10,.0f} rss_mib={rss:>7,.0f} "
            f"fds={fds():>4} threads={threading.active_count():>3} "
            f"growth_kib_per_M={growth:>8} state={state}",
            flush=True,
        )


def loop(
    total: int, step: Callable[[int], None], probe: Probe, state: Callable[[], object]
) -> None:
    marks = iter(checkpoints(total))
    mark = next(marks)
    for i in range(total):
        step(i)
        if i + 1 == mark:
            probe(i + 1, state())
            mark = next(marks, -1)


# ---------------------------------------------------------------------- components


def monitor(total: int) -> None:
    from prodml.monitoring import AlertRule, BurnRateRule, InMemorySink, ModelMonitor, TimeWindow

    t = [0.0]
    sink = InMemorySink()
    mon = ModelMonitor(
        "m",
        window=TimeWindow(3600.0),
        rules=[
            AlertRule("acc", metric="accuracy", op="<", fire=0.6, clear=0.61),
            BurnRateRule("lat", objective=0.99, sli="latency", latency_threshold_s=0.1),
        ],
        sinks=[sink],
        clock=lambda: t[0],
        evaluate_every_s=10.0,
        pending_ttl_s=600.0,
    )
    rng = np.random.default_rng(0)
    scores = rng.random(1 << 16).tolist()

    def step(i: int) -> None:
        t[0] = i * 0.01  # 100 predictions a second: 1e6 events = 2.8 hours
        mon.log_prediction(f"req-{i}", None, scores[i & 0xFFFF], latency_s=0.02)
        if i % 3:  # two thirds get a label, the rest expire
            mon.log_label(f"req-{i}", int(scores[i & 0xFFFF] > 0.45))

    loop(
        total,
        step,
        Probe("monitor"),
        lambda: (
            f"pending={int(mon.metrics()['pending'])} "
            f"events={len(sink.events)} json={len(mon.to_json()):,}B"
        ),
    )


def monitor_groups(total: int) -> None:
    from prodml.errors import ProdMLError
    from prodml.monitoring import ModelMonitor

    t = [0.0]
    mon = ModelMonitor("m", group_by=["user"], clock=lambda: t[0], evaluate_every_s=60.0)
    errors = [0]

    def step(i: int) -> None:
        t[0] = i * 0.01
        try:  # a distinct group value per prediction: the monitor's max_groups applies
            mon.log_prediction(i, {"user": f"u{i}"}, 0.7, latency_s=0.01)
            mon.log_label(i, 1)
        except ProdMLError:
            errors[0] += 1

    loop(total, step, Probe("monitor group_by distinct"), lambda: f"errors={errors[0]:,}")


def prometheus(total: int) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from prodml.monitoring import ModelMonitor
    from prodml.monitoring.prometheus import PrometheusSink

    registry = CollectorRegistry()
    sink = PrometheusSink(registry, max_label_values=100)
    n = max(total // 100, 1)  # one monitor per model version, each sending one snapshot
    size = [0]

    def step(i: int) -> None:
        mon = ModelMonitor(f"churn-v{i}", sinks=[sink], clock=lambda: 0.0, evaluate_every_s=None)
        mon.log_prediction("a", None, 0.5, latency_s=0.01)
        mon.evaluate()
        if i % 100 == 0:
            size[0] = len(generate_latest(registry))

    loop(
        n,
        step,
        Probe("prometheus models"),
        lambda: f"snapshots={len(sink._snapshots):,} scrape={size[0]:,}B",
    )


def canary(total: int) -> None:
    from prodml.rollout import Canary, Step

    t = [0.0]
    c = Canary(steps=[Step(0.05, min_samples=10**12)], clock=lambda: t[0])

    def step(i: int) -> None:
        t[0] = float(i)
        c.observe("candidate" if i % 20 == 0 else "baseline", error_rate=float(i % 7 == 0))
        if i % 10 == 0:
            c.evaluate()

    loop(
        total,
        step,
        Probe("canary observe+evaluate"),
        lambda: f"log={len(c.decisions):,} json={len(c.to_json()):,}B",
    )


def router_and_bandits(total: int) -> None:
    from prodml.rollout import ABTest, ThompsonSampling

    ab = ABTest({"a": 0.5, "b": 0.5}, metric="y")
    ts = ThompsonSampling(["a", "b", "c"], seed=0)

    def step(i: int) -> None:
        v = ab.route(f"user-{i}")  # a million distinct keys
        ab.observe(v, y=float(i % 2))
        arm = ts.choose()
        ts.update(arm, float(i % 3 == 0))

    loop(
        total,
        step,
        Probe("abtest route + thompson"),
        lambda: f"ab_json={len(ab.to_json()):,}B ts_json={len(ts.to_json()):,}B",
    )


def streaming(total: int) -> None:
    from prodml.drift import ADWIN, CUSUM, DDM, EDDM, HDDM_A, KSWIN, PageHinkley

    rng = np.random.default_rng(1)
    for make, kind in (
        (ADWIN, "float"),
        (PageHinkley, "float"),
        (CUSUM, "float"),
        (KSWIN, "float"),
        (DDM, "bit"),
        (EDDM, "bit"),
        (HDDM_A, "float01"),
    ):
        det = make()
        probe = Probe(f"stream {make.__name__}")
        chunk = 100_000
        done = 0
        exact: list[float] = []
        marks = iter(checkpoints(total))
        mark = next(marks)
        alarms = 0
        while done < total:
            if kind == "bit":
                x = (rng.random(chunk) < 0.1).astype(np.float64)
            elif kind == "float01":
                x = rng.random(chunk)
            else:
                x = 1e6 + rng.standard_normal(chunk)
            alarms += len(det.update_many(x))
            exact.append(math.fsum(x))
            done += chunk
            if done >= mark:
                mark = next(marks, total + 1)
                while mark <= done:
                    mark = next(marks, total + 1)
                extra = ""
                if isinstance(det, PageHinkley):
                    s = det.to_dict()["state"]
                    err = (
                        s["sum"] / s["n"] - math.fsum(exact) / done if s["n"] == done else math.nan
                    )
                    extra = f" mean_err_vs_fsum={err:.2e}"
                probe(done, f"alarms={alarms} json={len(json.dumps(det.to_dict())):,}B{extra}")


def fairness(total: int) -> None:
    from prodml.errors import ProdMLError
    from prodml.fairness import GroupMetrics

    gm = GroupMetrics(["g"], max_groups=1000)
    errors = [0]
    y = np.array([0, 1, 1, 0] * 25)

    def step(i: int) -> None:
        try:  # 100 rows, each chunk a new group value: past max_groups, a clear error
            gm.update(y, y, {"g": np.full(len(y), f"g{i}")})
        except ProdMLError:
            errors[0] += 1

    n = max(total // 100, 10)
    loop(
        n,
        step,
        Probe("fairness distinct groups"),
        lambda: f"groups={len(gm.groups)} errors={errors[0]}",
    )


def store(total: int) -> None:
    from prodml.store._sqlite import SQLiteOnlineStore
    from prodml.store.online import OnlineRecord

    folder = tempfile.mkdtemp()
    url = f"sqlite:///{folder}/online.db"
    SQLiteOnlineStore(url).close()
    n = max(total // 1000, 10)

    def step(i: int) -> None:
        s = SQLiteOnlineStore(url)
        s.write("v", [OnlineRecord(str(i), "1", i, i, "[1.0]")])
        s.read([("v", str(i))])
        s.close()

    loop(n, step, Probe("sqlite open/write/close"), lambda: "")

    redis_url = os.environ.get("PRODML_TEST_REDIS_URL")
    if redis_url:
        from prodml.store._redis import RedisOnlineStore

        def rstep(i: int) -> None:
            s = RedisOnlineStore(redis_url + "?prefix=soak:")
            s.write("v", [OnlineRecord(str(i % 100), "1", i, i, "[1.0]")])
            s.read([("v", str(i % 100))])
            s.close()

        loop(n, rstep, Probe("redis open/write/close"), lambda: "")
        s = RedisOnlineStore(redis_url + "?prefix=soak:")
        s.delete_view("v")
        s.close()


def feature_store(total: int) -> None:
    from datetime import datetime, timedelta, timezone

    from prodml.store import Entity, FeatureStore, FeatureView, Source

    folder = tempfile.mkdtemp()
    fs = FeatureStore.local(os.path.join(folder, "fs"))
    names = [f"f{k}" for k in range(12)]
    at = datetime(2024, 1, 1, tzinfo=timezone.utc)
    frame = pd.DataFrame({"id": np.arange(100), **{n: np.arange(100.0) for n in names}})
    frame["ts"] = at
    os.mkdir(os.path.join(folder, "src"))
    frame.to_parquet(os.path.join(folder, "src", "part-0.parquet"))
    user = Entity("user", keys=["id"])
    source = Source.parquet(os.path.join(folder, "src"), timestamp="ts")
    fs.apply([user, FeatureView("v", entity=user, source=source, features=names)])
    fs.materialize(end=at + timedelta(days=1))
    n = max(total // 100, 10)
    rng = np.random.default_rng(2)

    def step(i: int) -> None:  # each request asks for its own subset of the features
        chosen = [f"v:{names[k]}" for k in np.flatnonzero(rng.random(12) < 0.5)] or ["v:f0"]
        fs.online({"id": i % 100}, chosen, at=at + timedelta(hours=1))

    loop(n, step, Probe("feature store online"), lambda: f"plans={len(fs._plans):,}")
    fs.close()


def predictor(total: int) -> None:
    from sklearn.linear_model import LogisticRegression

    from prodml.features import FeaturePipeline, steps
    from prodml.registry import ModelRegistry
    from prodml.serving import Predictor

    folder = tempfile.mkdtemp()
    reg = ModelRegistry.local(folder)
    train = pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40.0) % 3})
    pipe = FeaturePipeline([steps.StandardScale(["x", "y"])]).fit(train)
    model = LogisticRegression().fit(pipe.transform(train), (train.x > 20).astype(int))
    v1 = reg.register("m", (pipe, model)).version
    v2 = reg.register("m", (pipe, model)).version
    reg.set_alias("m", "production", v1)
    pred = Predictor.from_registry(reg, "m@production", watch_every_s=None)
    n = max(total // 10_000, 10)

    def step(i: int) -> None:  # a hot swap each cycle, with traffic in between
        reg.set_alias("m", "production", v2 if i % 2 == 0 else v1)
        pred.refresh()
        for k in range(20):
            pred.predict_record({"x": float(k), "y": 1.0})

    # Warm up first: the first reloads fill caches bounded by what is loaded, not by the
    # number of reloads (SQLAlchemy's compiled-statement LRU, 500 entries per engine;
    # abc's and scikit-learn's per-class caches). Measured from 0, 2 -> 10 reloads showed
    # +1.4 KiB a reload; from here on the heap is flat (60 -> 300 reloads: +1 KiB in all).
    for i in range(20):
        step(i)
    loop(
        n,
        lambda i: step(i + 20),
        Probe("predictor alias reloads"),
        lambda: f"reloads={pred.stats.reloads['loaded']}",
    )
    pred.close()


def retrain(total: int) -> None:
    from datetime import timedelta

    from sklearn.dummy import DummyRegressor

    from prodml.registry import ModelRegistry
    from prodml.retrain import RetrainController, ScheduleTrigger

    folder = tempfile.mkdtemp()
    reg = ModelRegistry("memory://", "memory://soak-retrain")
    state_path = os.path.join(folder, "state.json")
    ctl = RetrainController(
        registry=reg,
        model="m",
        alias="production",
        train=lambda data, ctx: (None, DummyRegressor().fit(data, data["x"]), {}),
        triggers=[ScheduleTrigger(timedelta(days=1))],
        data=lambda ctx: pd.DataFrame({"x": [1.0, 2.0]}),
        state_path=state_path,
    )
    n = max(total // 1000, 24 * 7)  # hourly steps: 1e6 events -> 1000 h, about six weeks

    def step(i: int) -> None:
        ctl.step(i * 3600.0)

    loop(
        n,
        step,
        Probe("retrain hourly steps"),
        lambda: f"decisions={len(ctl.decisions)} state={os.path.getsize(state_path):,}B",
    )


COMPONENTS: dict[str, Callable[[int], None]] = {
    "monitor": monitor,
    "groups": monitor_groups,
    "prometheus": prometheus,
    "rollout": canary,
    "bandits": router_and_bandits,
    "streaming": streaming,
    "fairness": fairness,
    "store": store,
    "feature_store": feature_store,
    "predictor": predictor,
    "retrain": retrain,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(COMPONENTS))
    args = parser.parse_args()
    chosen = [c for c in args.only.split(",") if c] or list(COMPONENTS)
    print(f"# {platform.python_version()} load={os.getloadavg()} events={args.events:,}")
    tracemalloc.start()
    for name in chosen:
        start = time.process_time()
        COMPONENTS[name](args.events)
        print(f"# {name}: {time.process_time() - start:.1f} s CPU", flush=True)


if __name__ == "__main__":
    main()
