"""Cost of the privacy defaults on drift ``detect`` and monitor ``log_prediction``.

prodml with its default :class:`~prodml.privacy.Privacy` policy (personal-data patterns,
hashing past 1,000 categories, k=5 report labels) against prodml with the policy off
(``Privacy(detect=False, max_categories=None, k=1)``), same data, alternating runs; the
figure is the median of the per-round time ratios, of wall time and of CPU time (process
time: less moved by other processes on a shared machine). Target: <= 5% slower.

Workloads (seed 0):

* P1, typical: ``n`` rows, 8 normal float columns and 3 text columns of 20 Zipf
  categories; reference and current of ``n`` rows each; ``fit`` + ``detect``.
* P2, an identifier column: P1 plus a column of ``n`` distinct e-mail addresses, which
  the default policy hashes whole (the worst case: every distinct value is hashed; the
  profile keeps the tokens as 64-bit ids).
* M1: ``log_prediction`` with a feature record (P1's columns) on a monitor with a drift
  reference and windows of 1,000 rows, per call (the window test runs at ``evaluate``).

Usage::

    python benchmarks/bench_privacy.py           # n = 200,000, 5 rounds
    python benchmarks/bench_privacy.py --quick   # n = 20,000, 3 rounds
    python benchmarks/bench_privacy.py --only P2 # one workload (P1, P2 or M1)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

from prodml.drift import DriftDetector
from prodml.monitoring import ModelMonitor
from prodml.privacy import Privacy

OFF = Privacy(detect=False, max_categories=None, k=1)


def table(n: int, seed: int, shift: float, ids: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {f"x{j}": rng.normal(shift, 1.0, n) for j in range(8)}
    cats = np.array([f"cat{i:02d}" for i in range(20)])
    for j in range(3):
        cols[f"c{j}"] = cats[np.minimum(rng.zipf(1.5, n) - 1, 19)]
    if ids:
        cols["email"] = [f"user{seed}.{i}@example.com" for i in range(n)]
    return pd.DataFrame(cols)


def time_detect(
    ref: pd.DataFrame, cur: pd.DataFrame, privacy: Privacy | None
) -> tuple[float, float]:
    """Wall and CPU seconds of fit + detect."""
    start, cpu = time.perf_counter(), time.process_time()
    DriftDetector(privacy=privacy).fit(ref).detect(cur)
    return time.perf_counter() - start, time.process_time() - cpu


def bench_detect(name: str, n: int, rounds: int, ids: bool) -> None:
    ref, cur = table(n, 0, 0.0, ids), table(n, 1, 0.05, ids)
    time_detect(ref, cur, None)  # warm-up (imports, caches)
    on, off, ratios, cpu_on, cpu_off, cpu_ratios = [], [], [], [], [], []
    for r in range(rounds):
        pair = {}
        for label in ("on", "off") if r % 2 == 0 else ("off", "on"):
            pair[label] = time_detect(ref, cur, None if label == "on" else OFF)
        on.append(pair["on"][0])
        off.append(pair["off"][0])
        ratios.append(pair["on"][0] / pair["off"][0])
        cpu_on.append(pair["on"][1])
        cpu_off.append(pair["off"][1])
        cpu_ratios.append(pair["on"][1] / pair["off"][1])
    print(
        f"{name}: detect n={n:,}  privacy on {np.median(on):.3f} s  off {np.median(off):.3f} s"
        f"  ratio on/off {np.median(ratios):.3f} (rounds {', '.join(f'{x:.3f}' for x in ratios)})"
        f"  cpu on {np.median(cpu_on):.3f} s  off {np.median(cpu_off):.3f} s"
        f"  cpu ratio on/off {np.median(cpu_ratios):.3f} "
        f"(rounds {', '.join(f'{x:.3f}' for x in cpu_ratios)})"
    )


def time_log(records: list[dict[str, object]], ref: pd.DataFrame, privacy: Privacy | None) -> float:
    mon = ModelMonitor(
        reference=ref,
        drift_detector=DriftDetector(privacy=privacy),
        drift_window=1000,
        evaluate_every_s=None,
        clock=lambda: 0.0,
    )
    log = mon.log_prediction
    start = time.perf_counter_ns()
    for i, rec in enumerate(records):
        log(i, rec, 0.5)
    return (time.perf_counter_ns() - start) / len(records)


def bench_log(n: int, rounds: int) -> None:
    ref = table(5000, 0, 0.0, False)
    records = table(n, 1, 0.0, False).to_dict("records")
    on, off, ratios = [], [], []
    for r in range(rounds):
        pair = {}
        for label in ("on", "off") if r % 2 == 0 else ("off", "on"):
            pair[label] = time_log(records, ref, None if label == "on" else OFF)
        on.append(pair["on"])
        off.append(pair["off"])
        ratios.append(pair["on"] / pair["off"])
    print(
        f"M1: log_prediction x{n:,}  privacy on {np.median(on):.0f} ns/call  "
        f"off {np.median(off):.0f} ns/call  ratio on/off {np.median(ratios):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["P1", "P2", "M1"])
    args = parser.parse_args()
    n, rounds = (20_000, 3) if args.quick else (200_000, 5)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {platform.python_version()}, {platform.machine()}, load average {load}")
    if args.only in (None, "P1"):
        bench_detect("P1 typical", n, rounds, ids=False)
    if args.only in (None, "P2"):
        bench_detect("P2 with an e-mail id column", n, rounds, ids=True)
    if args.only in (None, "M1"):
        bench_log(n, rounds)


if __name__ == "__main__":
    main()
