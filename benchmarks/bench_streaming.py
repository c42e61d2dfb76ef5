"""Streaming drift detectors: prodml vs river on workload D2, side by side in one run.

Workload D2 (seed 0): 1,000,000 floats, N(0, 1) then N(0.5, 1) from index 500,000.
Error-rate detectors (DDM, EDDM, HDDM_A, HDDM_W) take 0/1 values, so they run on D2-binary
(seed 0): 1,000,000 errors at rate 0.2, then 0.3 from index 500,000.

For each detector it prints updates/s of prodml's ``update`` loop, prodml's
``update_many`` and river's ``update`` loop (each with the detector's defaults), the
ratios, the first alarm after the change (delay) and the false alarms before it. With
``--repeat N`` each round times the three paths back to back, and the rates and the
ratios printed are medians over the rounds (the machine's load shifts between rounds,
a round's ratios share it).
KSWIN's loops are slow on both sides (a KS test per value), so they run on a prefix.

Usage::

    python benchmarks/bench_streaming.py [--quick] [--repeat 3] [--only ADWIN,PageHinkley]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from prodml.drift.streaming import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    HDDM_W,
    KSWIN,
    PageHinkley,
    _adwin_jit,
)

try:
    from river import drift as river_drift
    from river.drift import binary as river_binary
except ImportError:  # pragma: no cover - depends on the environment
    river_drift = river_binary = None


def workloads(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    real = rng.standard_normal(n)
    real[n // 2 :] += 0.5
    rng = np.random.default_rng(0)
    rates = np.where(np.arange(n) < n // 2, 0.2, 0.3)
    errors = (rng.random(n) < rates).astype(np.float64)
    return {"D2": real, "D2-binary": errors}


def river_factory(name: str) -> Callable[[], Any] | None:
    if river_drift is None:
        return None
    return {
        "ADWIN": river_drift.ADWIN,
        "PageHinkley": river_drift.PageHinkley,
        "KSWIN": lambda: river_drift.KSWIN(seed=0),
        "DDM": river_binary.DDM,
        "EDDM": river_binary.EDDM,
        "HDDM_A": river_binary.HDDMA,
        "HDDM_W": river_binary.HDDMW,
    }.get(name)


DETECTORS: list[tuple[str, Callable[[], Any], str, int | None]] = [
    # name, prodml factory, workload, loop prefix (None = whole stream)
    ("ADWIN", ADWIN, "D2", None),
    ("PageHinkley", PageHinkley, "D2", None),
    ("CUSUM", CUSUM, "D2", None),
    ("KSWIN", KSWIN, "D2", 20_000),
    ("DDM", DDM, "D2-binary", None),
    ("EDDM", EDDM, "D2-binary", None),
    ("HDDM_A", HDDM_A, "D2-binary", None),
    ("HDDM_W", HDDM_W, "D2-binary", None),
]


def loop_prodml(det: Any, xs: list[float]) -> tuple[float, list[int]]:
    update = det.update
    alarms = []
    start = time.perf_counter()
    for i, x in enumerate(xs):
        if update(x):
            alarms.append(i)
    return time.perf_counter() - start, alarms


def loop_river(det: Any, xs: list[Any]) -> tuple[float, list[int]]:
    update = det.update
    alarms = []
    start = time.perf_counter()
    for i, x in enumerate(xs):
        update(x)
        if det.drift_detected:
            alarms.append(i)
    return time.perf_counter() - start, alarms


def timed_many(det: Any, values: np.ndarray) -> tuple[float, list[int]]:
    start = time.perf_counter()
    alarms = det.update_many(values).tolist()
    return time.perf_counter() - start, alarms


def median(xs: list[float]) -> float:
    return float(np.median(xs))


def summary(alarms: list[int], change: int, n: int) -> str:
    early = sum(a < change for a in alarms)
    late = [a for a in alarms if a >= change]
    delay = str(late[0] - change) if late else "none"
    if n <= change:
        return f"{early} false alarms (change not reached)"
    return f"delay {delay}, {early} false alarms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 values instead of 1M")
    parser.add_argument("--only", default="", help="comma-separated detector names")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds; rates and ratios are medians over rounds"
    )
    args = parser.parse_args(argv)
    n = 100_000 if args.quick else 1_000_000
    change = n // 2
    only = {s for s in args.only.split(",") if s}
    data = workloads(n)
    if river_drift is None:
        print("river is not installed (pip install river): printing prodml figures only.")
    print(f"n = {n:,}; change at index {change:,}; updates/s in millions (M/s)")
    engine = "pure Python" if _adwin_jit.compiled() is None else "compiled (numba)"
    print(f"ADWIN engine: {engine} (prodml[fast] installs numba; PRODML_NO_JIT=1 turns it off)\n")
    header = f"{'detector':<12} {'path':<22} {'M upd/s':>8}  alarms"
    print(header)
    print("-" * len(header))
    ratios = []
    for name, factory, work, prefix in DETECTORS:
        if only and name not in only:
            continue
        values = data[work]
        m = n if prefix is None or args.quick else min(n, prefix)
        xs = values[:m].tolist()
        make_river = river_factory(name)
        mr = m if name != "KSWIN" or args.quick else min(m, 5_000)
        rxs = values[:mr].astype(int).tolist() if work == "D2-binary" else values[:mr].tolist()
        # Each round times the three paths back to back on fresh detectors, so that the
        # ratios of one round share the machine's load; the medians over rounds count.
        loops, manys, rivers, r_loop, r_many = [], [], [], [], []
        for _ in range(max(1, args.repeat)):
            t_loop, a_loop = loop_prodml(factory(), xs)
            t_many, a_many = timed_many(factory(), values)
            if m == n:
                assert a_many == a_loop, f"{name}: update_many and the loop disagree"
            loops.append(m / t_loop / 1e6)
            manys.append(n / t_many / 1e6)
            if make_river is not None:
                t_river, a_river = loop_river(make_river(), rxs)
                rivers.append(mr / t_river / 1e6)
                r_loop.append(loops[-1] / rivers[-1])
                r_many.append(manys[-1] / rivers[-1])
        rate_loop, rate_many = median(loops), median(manys)
        print(f"{name:<12} {'prodml update':<22} {rate_loop:>8.2f}  {summary(a_loop, change, m)}")
        print(
            f"{'':<12} {'prodml update_many':<22} {rate_many:>8.2f}  {summary(a_many, change, n)}"
        )
        if make_river is None:
            if river_drift is not None:
                print(f"{'':<12} {'river':<22} {'-':>8}  (river has no {name})")
            continue
        rate_river = median(rivers)
        print(f"{'':<12} {'river update':<22} {rate_river:>8.2f}  {summary(a_river, change, mr)}")
        ratios.append((name, median(r_loop), median(r_many)))
    if ratios:
        print("\nmedians of per-round ratios against river's update loop (higher is faster;")
        print("targets: update >= 1x,", end=" ")
        print("update_many >= 10x):")
        for name, r_loop, r_many in ratios:
            print(f"  {name:<12} update ratio {r_loop:6.2f}x   update_many ratio {r_many:7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
