"""prodml.fairness vs fairlearn's MetricFrame on the same data, in one run.

Workload (issue 20), seed 0: ``--rows`` predictions (10,000,000) of a binary classifier,
two sensitive features read as pandas reads strings from Parquet (Arrow-backed ``str``):
``sex`` (2 values) and ``age_band`` (5 values), so 10 intersectional groups; 6 metrics:
selection rate, tpr, fpr, fnr, precision, accuracy.

1. **Batch.** ``MetricFrame`` (fairlearn's functions, scikit-learn's precision and
   accuracy) vs ``GroupMetrics.update`` + ``report()``, and GroupMetrics over 100,000-row
   chunks, one object updated chunk by chunk and one merged from a GroupMetrics per chunk
   (what Dask workers do). Each case runs in its own process: wall and CPU time, and the
   peak RSS above the loaded data (sampled every 2 ms). The numbers must be equal.
2. **Per record.** ``GroupMetrics.update_record`` per call (batches of 1,000 calls, p50 and
   p99 over the batches), with labels, with scores (histograms too), and as a sliding
   window (add one, take back the oldest); against recomputing a ``MetricFrame`` over a
   10,000-record window once a second. With ``--callgrind``, instructions per
   ``update_record`` (valgrind), which the machine's load does not move.
3. **Intervals.** Coverage of the true group values by prodml's Wilson intervals and by
   MetricFrame's bootstrap (``n_boot=200``, percentile), on simulated data of 2,000
   records in the 10 groups, and the time of each per dataset.
4. **Bias alerts.** The monitor's window arithmetic (docs/fairness.md) over many seeds:
   false alerts on fair data, and the delay to alert an injected 0.05 tpr gap.
5. **Personal-data check.** A report's check of 100,000 distinct group values for
   personal data: value by value against batched (``personal_check``).

The machine is shared: CPU time (``time.process_time``) is reported next to wall time, and
ratios use CPU time.

    python benchmarks/bench_fairness.py             # full (fairlearn takes ~10-15 min)
    python benchmarks/bench_fairness.py --quick     # 500,000 rows, few simulations
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from prodml.fairness import GroupMetrics

METRICS = ["selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy"]
SENSITIVE = ["sex", "age_band"]
CHUNK = 100_000

try:
    import fairlearn
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score
except ImportError:  # pragma: no cover - the bench extra installs it
    fairlearn = None


def fairlearn_metrics() -> dict[str, Callable[..., float]]:
    return {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "precision": lambda y, p: precision_score(y, p, zero_division=np.nan),
        "accuracy": accuracy_score,
    }


def workload(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Labels, predictions and the sensitive features (Arrow-backed strings)."""
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, rows)
    age = rng.integers(0, 5, rows)
    y = (rng.random(rows) < 0.3 + 0.05 * age).astype(np.int64)
    tpr = 0.75 + 0.03 * sex - 0.02 * age
    pred = np.where(y == 1, rng.random(rows) < tpr, rng.random(rows) < 0.1).astype(np.int64)
    groups = pd.DataFrame(
        {
            "sex": pd.array(np.array(["F", "M"])[sex], dtype="str"),
            "age_band": pd.array(
                np.array(["18-25", "26-35", "36-45", "46-60", "60+"])[age], dtype="str"
            ),
        }
    )
    return y, pred, groups


# ------------------------------------------------------------------ measuring
def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss(out: dict[str, float]) -> Iterator[None]:
    """Peak RSS above the RSS at entry, sampled every 2 ms, into ``out['peak_mb']``."""
    start = rss_bytes()
    peak = [start]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        peak[0] = max(peak[0], rss_bytes())
        out["peak_mb"] = (peak[0] - start) / 2**20


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - w, time.process_time() - c, result


# ------------------------------------------------------------------ 1. batch
def by_group_of_prodml(gm: GroupMetrics) -> pd.DataFrame:
    r = gm.report()
    r.difference()
    r.ratio()
    return r.by_group


def case_fairlearn(y: np.ndarray, p: np.ndarray, g: pd.DataFrame) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = MetricFrame(metrics=fairlearn_metrics(), y_true=y, y_pred=p, sensitive_features=g)
        mf.difference()
        mf.ratio()
    return mf.by_group[METRICS]


def case_prodml(y: np.ndarray, p: np.ndarray, g: pd.DataFrame) -> pd.DataFrame:
    return by_group_of_prodml(GroupMetrics(SENSITIVE, METRICS, min_count=1).update(y, p, g))


def case_chunks(y: np.ndarray, p: np.ndarray, g: pd.DataFrame) -> pd.DataFrame:
    gm = GroupMetrics(SENSITIVE, METRICS, min_count=1)
    for start in range(0, len(y), CHUNK):
        s = slice(start, start + CHUNK)
        gm.update(y[s], p[s], g.iloc[s])
    return by_group_of_prodml(gm)


def case_merged(y: np.ndarray, p: np.ndarray, g: pd.DataFrame) -> pd.DataFrame:
    total = GroupMetrics(SENSITIVE, METRICS, min_count=1)
    for start in range(0, len(y), CHUNK):
        s = slice(start, start + CHUNK)
        total.merge(GroupMetrics(SENSITIVE, METRICS, min_count=1).update(y[s], p[s], g.iloc[s]))
    return by_group_of_prodml(total)


CASES = {
    "fairlearn": case_fairlearn,
    "prodml": case_prodml,
    "prodml-chunks": case_chunks,
    "prodml-merged": case_merged,
}


def run_case(name: str, rows: int, repeats: int) -> dict[str, Any]:
    """One case, in this (fresh) process; printed as JSON for the parent."""
    before = rss_bytes()
    y, p, g = workload(rows)
    loaded = (rss_bytes() - before) / 2**20
    out: dict[str, Any] = {"case": name, "loaded_mb": loaded, "wall": [], "cpu": []}
    for i in range(repeats):
        mem: dict[str, float] = {}
        with peak_rss(mem):
            wall, cpu, frame = timed(lambda: CASES[name](y, p, g))
        out["wall"].append(wall)
        out["cpu"].append(cpu)
        if i == 0:
            out["peak_mb"] = mem["peak_mb"]
            out["by_group"] = frame.to_numpy().tolist()
    return out


def batch(rows: int, quick: bool) -> dict[str, Any]:
    results = {}
    names = ["prodml", "prodml-chunks", "prodml-merged"] + (["fairlearn"] if fairlearn else [])
    for name in names:
        repeats = 1 if name == "fairlearn" else 3
        cmd = [
            sys.executable,
            __file__,
            "--case",
            name,
            "--rows",
            str(rows),
            "--repeats",
            str(repeats),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)  # noqa: S603
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    ref = np.array(results["prodml"]["by_group"], dtype=float)
    print(f"\n1. Batch: {rows:,} predictions, 2 x 5 groups, 6 metrics (median of runs; CPU s)")
    print("| run | wall s | CPU s | peak RSS above loaded data | loaded | same numbers |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        same = np.allclose(
            np.array(r["by_group"], dtype=float), ref, rtol=0, atol=1e-12, equal_nan=True
        )
        print(
            f"| {name} | {np.median(r['wall']):.3f} | {np.median(r['cpu']):.3f} | "
            f"{r['peak_mb']:+.0f} MiB | {r['loaded_mb']:.0f} MiB | {same} |"
        )
    if "fairlearn" in results:
        fl = np.median(results["fairlearn"]["cpu"])
        for name in ("prodml", "prodml-chunks", "prodml-merged"):
            ratio = fl / np.median(results[name]["cpu"])
            print(f"{name} vs MetricFrame: {ratio:.0f}x faster (CPU)")
    return results


# ------------------------------------------------------------------ 2. per record
def per_call_ns(fn: Callable[[int], object], batches: int, batch: int = 1000) -> np.ndarray:
    out = np.empty(batches)
    i = 0
    for b in range(batches):
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn(i)
            i += 1
        out[b] = (time.perf_counter_ns() - start) / batch
    return out


def per_record(quick: bool) -> dict[str, Any]:
    batches = 40 if quick else 400
    n = batches * 1000 + 1
    y, p, g = workload(n, seed=1)
    yl, pl = y.tolist(), p.tolist()
    rows = g.to_dict(orient="records")
    scores = np.random.default_rng(2).random(n).tolist()
    results: dict[str, Any] = {}

    labels = GroupMetrics(SENSITIVE, METRICS)
    results["update_record (labels)"] = per_call_ns(
        lambda i: labels.update_record(yl[i], pl[i], rows[i]), batches
    )
    scored = GroupMetrics(SENSITIVE, METRICS, threshold=0.5)
    results["update_record (scores, histograms)"] = per_call_ns(
        lambda i: scored.update_record(yl[i], scores[i], rows[i]), batches
    )
    window = GroupMetrics(SENSITIVE, METRICS)
    keys = [(r["sex"], r["age_band"]) for r in rows]
    for i in range(10_000):
        window.update_record(yl[i], pl[i], keys[i])

    def slide(i: int) -> None:
        j = i + 10_000 if i + 10_000 < n else i
        window.update_record(yl[j], pl[j], keys[j])
        window.remove_record(yl[i], pl[i], keys[i])

    results["sliding window (add one, remove oldest)"] = per_call_ns(slide, batches)
    print("\n2. Per record (ns per call over batches of 1,000 calls)")
    print("| call | p50 | p99 |")
    print("| --- | --- | --- |")
    for name, ns in results.items():
        print(f"| {name} | {np.percentile(ns, 50):.0f} | {np.percentile(ns, 99):.0f} |")
    report_s = min(timed(lambda: window.report().to_metrics())[1] for _ in range(5))
    print(f"report() + to_metrics() of the 10,000-record window: {report_s * 1e3:.2f} ms CPU")
    summary = {k: float(np.percentile(v, 50)) for k, v in results.items()}
    summary["report_ms"] = report_s * 1e3
    if fairlearn:
        w = slice(0, 10_000)
        recompute = [
            timed(lambda: case_fairlearn(y[w], p[w], g.iloc[w]))[1]
            for _ in range(2 if quick else 5)
        ]
        fl = float(np.median(recompute))
        ours = summary["sliding window (add one, remove oldest)"] * 1e-9 * 1000 + report_s
        print(f"MetricFrame over a 10,000-record window: {fl * 1e3:.0f} ms CPU per recompute")
        print(
            f"At 1,000 records/s with the window re-read every second: prodml {ours * 1e3:.2f} ms "
            f"CPU per second, MetricFrame {fl * 1e3:.0f} ms: {fl / ours:.0f}x less CPU"
        )
        summary["metricframe_window_ms"] = fl * 1e3
    return summary


def callgrind(calls: tuple[int, int] = (20_000, 120_000)) -> float | None:
    """Instructions per update_record call: the difference of two callgrind runs."""
    code = (
        "import sys\nfrom prodml.fairness import GroupMetrics\n"
        "gm = GroupMetrics(['sex', 'age_band'])\nrow = {'sex': 'F', 'age_band': '26-35'}\n"
        "for i in range(int(sys.argv[1])):\n    gm.update_record(i & 1, (i >> 1) & 1, row)\n"
    )
    totals = []
    for n in calls:
        out = os.path.join(tempfile.gettempdir(), f"prodml-callgrind-{os.getpid()}-{n}.out")
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-c",
            code,
            str(n),
        ]
        try:
            subprocess.run(cmd, capture_output=True, check=True)  # noqa: S603
        except (OSError, subprocess.CalledProcessError):
            return None
        with open(out) as f:
            totals.append(next(int(line.split()[1]) for line in f if line.startswith("summary:")))
        os.remove(out)
    per_call = (totals[1] - totals[0]) / (calls[1] - calls[0])
    print(f"callgrind: {per_call:.0f} instructions per update_record call")
    return per_call


# ------------------------------------------------------------------ 3. intervals
def simulated(
    rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, dict[str, np.ndarray]]:
    """Data with known per-group true tpr and selection rate (10 groups)."""
    sex = rng.integers(0, 2, n)
    age = rng.integers(0, 5, n)
    cell = sex * 5 + age
    p_pos = 0.3 + 0.05 * (np.arange(10) % 5)
    tpr = 0.6 + 0.03 * np.arange(10)
    fpr = 0.1
    y = (rng.random(n) < p_pos[cell]).astype(np.int64)
    pred = np.where(y == 1, rng.random(n) < tpr[cell], rng.random(n) < fpr).astype(np.int64)
    groups = pd.DataFrame(
        {"sex": np.array(["F", "M"])[sex], "age_band": np.array(list("abcde"))[age]}
    )
    truth = {"tpr": tpr, "selection_rate": p_pos * tpr + (1 - p_pos) * fpr}
    return y, pred, groups, truth


def intervals(quick: bool, n: int = 2000) -> dict[str, Any]:
    sims_ours = 200 if quick else 1000
    sims_boot = 2 if quick else 20
    rng = np.random.default_rng(3)
    hits = total = 0
    cpu = []
    for _ in range(sims_ours):
        y, p, g, truth = simulated(rng, n)

        def ours_of(y: np.ndarray = y, p: np.ndarray = p, g: pd.DataFrame = g) -> Any:
            gm = GroupMetrics(SENSITIVE, ["tpr", "selection_rate"]).update(y, p, g)
            return gm.report(min_count=1)

        _, c, report = timed(ours_of)
        lower, upper = report.by_group_ci
        cpu.append(c)
        for m in ("tpr", "selection_rate"):
            t = truth[m]
            hits += int(((lower[m].to_numpy() <= t) & (t <= upper[m].to_numpy())).sum())
            total += 10
    ours = hits / total
    print(f"\n3. Intervals: 95 % intervals of tpr and selection rate in 10 groups, {n:,} records")
    print("| method | datasets | intervals | coverage | CPU s per dataset |")
    print("| --- | --- | --- | --- | --- |")
    se = np.sqrt(0.95 * 0.05 / total)
    row = f"{sims_ours} | {total:,} | {ours:.3f} (+-{2 * se:.3f}) | {np.median(cpu):.4f}"
    print(f"| prodml Wilson | {row} |")
    result = {"prodml_coverage": ours, "prodml_cpu_s": float(np.median(cpu))}
    if fairlearn:
        hits = total = 0
        cpu = []
        for s in range(sims_boot):
            y, p, g, truth = simulated(rng, n)

            def boot_of(
                y: np.ndarray = y, p: np.ndarray = p, g: pd.DataFrame = g, s: int = s
            ) -> Any:
                return MetricFrame(
                    metrics={"tpr": true_positive_rate, "selection_rate": selection_rate},
                    y_true=y, y_pred=p, sensitive_features=g,
                    n_boot=200, ci_quantiles=[0.025, 0.975], random_state=s,
                )  # fmt: skip

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, c, mf = timed(boot_of)
            cpu.append(c)
            lower, upper = mf.by_group_ci
            for m in ("tpr", "selection_rate"):
                t = truth[m]
                hits += int(((lower[m].to_numpy() <= t) & (t <= upper[m].to_numpy())).sum())
                total += 10
        boot = hits / total
        se = np.sqrt(0.95 * 0.05 / total)
        row = f"{sims_boot} | {total:,} | {boot:.3f} (+-{2 * se:.3f}) | {np.median(cpu):.2f}"
        print(f"| MetricFrame bootstrap, n_boot=200 | {row} |")
        ratio = np.median(cpu) / result["prodml_cpu_s"]
        print(f"prodml intervals vs MetricFrame bootstrap: {ratio:.0f}x faster (CPU)")
        result.update(bootstrap_coverage=boot, bootstrap_cpu_s=float(np.median(cpu)))
    return result


# ------------------------------------------------------------------ 4. bias alerts
def alert_study(quick: bool, window: int = 10_000, every: int = 500) -> dict[str, Any]:
    """False alerts and delays of ``tpr_difference_lower > 0`` at alpha=1e-4 (see docs)."""
    seeds = 20 if quick else 300

    def first(seed: int, n: int, change: int) -> int | None:
        rng = np.random.default_rng(seed)
        sex = np.where(rng.random(n) < 0.5, "F", "M")
        y = (rng.random(n) < 0.8).astype(np.int64)
        tpr = np.where((sex == "F") & (np.arange(n) >= change), 0.75, 0.80)
        pred = np.where(y == 1, rng.random(n) < tpr, rng.random(n) < 0.1).astype(np.int64)
        blocks = []
        for b in range(0, n, every):
            part = slice(b, b + every)
            gm = GroupMetrics(["sex"], ["tpr"], alpha=1e-4)
            blocks.append(gm.update(y[part], pred[part], {"sex": sex[part]}))
        per_window = window // every
        for i in range(per_window - 1, len(blocks)):
            gm = GroupMetrics(["sex"], ["tpr"], alpha=1e-4)
            for block in blocks[i + 1 - per_window : i + 1]:  # the window: its last blocks
                gm.merge(block)
            if gm.report().to_metrics(counts=False)["tpr_difference_lower"] > 0:
                return (i + 1) * every
        return None

    false = sum(first(s, window + 12_000, 10**9) is not None for s in range(seeds))
    delays = []
    for s in range(seeds):
        at = first(10_000 + s, window + 30_000, window)
        delays.append(np.inf if at is None else at - window)
    d = np.array(delays)
    print(
        f"\n4. Bias alerts (window {window:,}, evaluated every {every}, alpha=1e-4), {seeds} seeds"
    )
    print(f"fair data, 25 evaluations each: {false} of {seeds} runs alerted")
    print(
        f"0.05 tpr gap injected: delay median {np.median(d):,.0f}, 95th percentile "
        f"{np.percentile(d, 95):,.0f}, max {d.max():,.0f} labelled predictions; "
        f"{int(np.isinf(d).sum())} not alerted within 30,000"
    )
    return {"false_alerts": false, "seeds": seeds, "delay_median": float(np.median(d)),
            "delay_p95": float(np.percentile(d, 95)), "delay_max": float(d.max())}  # fmt: skip


def personal_check(quick: bool, groups: int = 100_000) -> dict[str, float]:
    """A report's personal-data check of its group values: one by one, or batched.

    100,000 distinct values (``customer-000123``, one in a thousand an e-mail address), as
    a report over 100,000 groups sees them: value by value through ``display`` (the
    check before stop 41; a cache of 4,096 cannot hold them) against ``shown_keys``
    (each column's distinct text screened at once by Arrow's RE2, then checked exactly).
    CPU seconds, median of the per-run ratios.
    """
    from prodml.fairness import _ingest

    values = [f"customer-{i:06d}" for i in range(groups)]
    values[::1000] = [f"c{i}@example.com" for i in range(len(values[::1000]))]
    keys = [(v,) for v in values]

    def one_by_one() -> object:
        _ingest._looks_personal.cache_clear()
        return [tuple(map(_ingest.display, k)) for k in keys]

    def batched() -> object:
        _ingest._looks_personal.cache_clear()
        return _ingest.shown_keys(keys)

    assert one_by_one() == batched()  # the same tokens either way
    ratios, slow, fast = [], [], []
    for _ in range(3 if quick else 5):
        a = time.process_time()
        one_by_one()
        b = time.process_time()
        batched()
        c = time.process_time()
        slow.append(b - a)
        fast.append(c - b)
        ratios.append((c - b) / (b - a))
    print(f"\n5. Personal-data check of {groups:,} distinct group values (CPU s)")
    print(
        f"   value by value {np.median(slow):.3f}   batched {np.median(fast):.3f}   "
        f"median ratio {np.median(ratios):.3f}"
    )
    return {"one_by_one_s": float(np.median(slow)), "batched_s": float(np.median(fast)),
            "ratio": float(np.median(ratios))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--callgrind", action="store_true", help="instructions per record update")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = args.rows or (500_000 if args.quick else 10_000_000)
    if args.case:
        print(json.dumps(run_case(args.case, rows, args.repeats)))
        return
    print(
        f"bench_fairness: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, numpy {np.__version__}, pandas {pd.__version__}, "
        f"fairlearn {getattr(fairlearn, '__version__', 'missing')}"
    )
    if fairlearn is None:
        print("fairlearn is not installed (pip install -e '.[bench]'): prodml figures only")
    batch(rows, args.quick)
    per_record(args.quick)
    if args.callgrind:
        callgrind()
    intervals(args.quick)
    alert_study(args.quick)
    personal_check(args.quick)


if __name__ == "__main__":
    main()
