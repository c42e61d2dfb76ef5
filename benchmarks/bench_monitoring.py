"""Per-call overhead of ModelMonitor.log_prediction next to a bare prometheus_client histogram.

What a serving process pays per request to be monitored: ``log_prediction`` (join store,
latency histogram, throughput slot, drift feature buffer) and ``log_label``, against the
minimum a user would otherwise add: ``prometheus_client.Histogram.observe`` (bare, and with
a ``model`` label, which is how it is used in practice).

Timing: calls are timed in batches of ``BATCH`` with ``perf_counter_ns``; each batch gives
one per-call figure (batch time / BATCH), and p50/p99 are taken over the batches, so the
timer's own cost (~50-100 ns) is spread over the batch rather than added to each call. A
second, per-call measurement (one timer pair per call, minus the cost of an empty timer
pair) gives the single-call tail. Target: log_prediction p50 <= 5 us.

Reload: ``ModelMonitor.from_json`` of a monitor whose 10,000-prediction window is full
(3 rules, latency and throughput histograms over 24 slots), which validates every field,
next to ``json.loads`` of the same text (the floor any reload pays). CPU time per call
(``process_time``), median over ``--reloads`` calls, as wall time swings with the load.

Usage::

    python benchmarks/bench_monitoring.py           # 400 batches of 1000 calls per case
    python benchmarks/bench_monitoring.py --quick   # 40 batches
    python benchmarks/bench_monitoring.py --reload-only --reloads 200
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import platform
import time
from collections.abc import Callable

import numpy as np

from prodml.monitoring import AlertRule, BurnRateRule, CountWindow, ModelMonitor

BATCH = 1000


def batched(fn: Callable[[int], object], batches: int) -> np.ndarray:
    """Per-call ns of ``fn(i)``, one figure per batch of BATCH calls."""
    out = np.empty(batches)
    perf = time.perf_counter_ns
    i = 0
    for b in range(batches):
        start = perf()
        for _ in range(BATCH):
            fn(i)
            i += 1
        out[b] = (perf() - start) / BATCH
    return out


def single(fn: Callable[[int], object], n: int) -> np.ndarray:
    """Per-call ns with one timer pair per call, minus the median empty timer pair."""
    perf = time.perf_counter_ns
    empty = np.empty(n)
    for k in range(n):
        a = perf()
        empty[k] = perf() - a
    out = np.empty(n)
    for k in range(n):
        a = perf()
        fn(k)
        out[k] = perf() - a
    return out - np.median(empty)


def monitors(n_labels: int) -> dict[str, Callable[[int], object]]:
    """The prodml cases: name -> one call; ``n_labels`` predictions wait for a label."""
    rng = np.random.default_rng(0)
    scores = rng.random(1 << 16).tolist()
    lat = rng.uniform(0.001, 0.2, 1 << 16).tolist()
    mask = (1 << 16) - 1
    features = {"age": 42.0, "plan": "pro", "tenure": 17}

    bare = ModelMonitor("m", evaluate_every_s=None)

    def log_bare(i: int) -> None:
        # 1000 predictions per second of event time.
        bare.log_prediction(
            i, features, scores[i & mask], latency_s=lat[i & mask], timestamp=i * 0.001
        )

    rules = [
        AlertRule("acc", metric="accuracy", op="<", fire=0.8, clear=0.85, for_s=60),
        AlertRule("p99", metric="latency_p99", op=">", fire=0.5),
        BurnRateRule("lat-slo", sli="latency", latency_threshold_s=0.15, objective=0.99),
    ]
    full = ModelMonitor("m", window=CountWindow(1000), rules=rules, evaluate_every_s=10.0)

    def log_full(i: int) -> None:
        # Real clock, rules evaluated every 10 s of it (amortised into the calls).
        full.log_prediction(i, features, scores[i & mask], latency_s=lat[i & mask])

    labelled = ModelMonitor("m", evaluate_every_s=None, max_pending=n_labels)
    for i in range(n_labels):
        labelled.log_prediction(i, None, scores[i & mask], timestamp=0.0)

    counter = iter(range(n_labels))  # each call labels the next pending prediction

    def log_label(i: int) -> None:
        labelled.log_label(next(counter), i & 1, timestamp=1.0)

    return {
        "log_prediction (no rules, timestamp given)": log_bare,
        "log_prediction (3 rules, clock, auto-evaluate)": log_full,
        "log_label (join + window + metrics state)": log_label,
    }


def competitors() -> dict[str, Callable[[int], object]] | None:
    """The prometheus_client cases, or None when it is missing."""
    try:
        from prometheus_client import CollectorRegistry, Histogram
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    lat = rng.uniform(0.001, 0.2, 1 << 16).tolist()
    mask = (1 << 16) - 1
    registry = CollectorRegistry()
    h = Histogram("bench_latency_seconds", "latency", registry=registry)
    hl = Histogram("bench_latency_l_seconds", "latency", ["model"], registry=registry)

    def observe(i: int) -> None:
        h.observe(lat[i & mask])

    def observe_labels(i: int) -> None:
        hl.labels(model="m").observe(lat[i & mask])

    return {
        "prometheus Histogram.observe": observe,
        "prometheus Histogram.labels().observe": observe_labels,
    }


def full_monitor(size: int = 10_000) -> ModelMonitor:
    """A monitor with a full ``size``-prediction window, rules and histogram slots."""
    rng = np.random.default_rng(0)
    rules = [
        AlertRule("acc", metric="accuracy", op="<", fire=0.8, clear=0.85, for_s=60),
        AlertRule("p99", metric="latency_p99", op=">", fire=0.5),
        BurnRateRule("lat-slo", sli="latency", latency_threshold_s=0.15, objective=0.99),
    ]
    clock = itertools.count(0.0, 0.01).__next__
    mon = ModelMonitor(
        "m", window=CountWindow(size), rules=rules, evaluate_every_s=None, clock=clock
    )
    n = size + size // 5
    scores, lat = rng.random(n).tolist(), rng.uniform(0.001, 0.2, n).tolist()
    for i in range(n):
        mon.log_prediction(i, None, scores[i], latency_s=lat[i])
        mon.log_label(i, int(scores[i] > 0.5))
    mon.evaluate()
    return mon


def reload_case(reloads: int) -> None:
    """CPU ms per ``from_json`` of a full 10k window, next to ``json.loads`` of it."""
    text = full_monitor().to_json()

    def cpu_ms(fn: Callable[[], object]) -> float:
        for _ in range(3):
            fn()
        times = []
        for _ in range(reloads):
            a = time.process_time()
            fn()
            times.append(time.process_time() - a)
        return 1000 * float(np.median(times))

    ours = cpu_ms(lambda: ModelMonitor.from_json(text))
    floor = cpu_ms(lambda: json.loads(text))
    print(f"\nreload of a full 10,000-prediction window ({len(text) / 1e3:.0f} kB of JSON)")
    print(f"{'ModelMonitor.from_json (validated)':<50}{ours:>10.2f} ms CPU")
    print(f"{'json.loads of the same text':<50}{floor:>10.2f} ms CPU")
    print(f"ratio reload / json.loads: {ours / floor:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 batches instead of 400")
    parser.add_argument("--reloads", type=int, default=100, help="from_json calls timed")
    parser.add_argument("--reload-only", action="store_true", help="only the reload case")
    args = parser.parse_args()
    if args.reload_only:
        reload_case(args.reloads)
        return
    batches = 40 if args.quick else 400
    n_single = 20_000 if args.quick else 200_000
    print(f"Python {platform.python_version()} on {platform.platform()}")
    print(f"{batches} batches x {BATCH} calls per case; single-call tail over {n_single} calls\n")

    warmup = max(batches // 10, 5)
    cases = monitors((warmup + batches) * BATCH + n_single)
    theirs = competitors()
    if theirs is None:
        print("prometheus_client is not installed: pip install 'prodml[prometheus]'.")
        print("Reporting prodml's figures alone.\n")
        theirs = {}
    results: dict[str, tuple[float, float, float]] = {}
    gc.disable()  # collections land in random batches; both sides run without them
    try:
        for name, fn in {**cases, **theirs}.items():
            batched(fn, warmup)
            per_batch = batched(fn, batches)
            tail = single(fn, n_single)
            results[name] = (
                float(np.percentile(per_batch, 50)),
                float(np.percentile(per_batch, 99)),
                float(np.percentile(tail, 99)),
            )
    finally:
        gc.enable()

    print(f"{'case':<50}{'p50 ns':>10}{'p99 ns':>10}{'1-call p99 ns':>15}")
    for name, (p50, p99, tail99) in results.items():
        print(f"{name:<50}{p50:>10.0f}{p99:>10.0f}{tail99:>15.0f}")
    print()
    base = "prometheus Histogram.observe"
    if base in results:
        for name in cases:
            for ref in theirs:
                ratio = results[name][0] / results[ref][0]
                print(f"ratio p50 {name} / {ref}: {ratio:.1f}x")
    target = results["log_prediction (no rules, timestamp given)"][0]
    verdict = "meets" if target <= 5000 else "MISSES"
    print(f"\nlog_prediction p50 = {target / 1000:.2f} us: {verdict} the 5 us target")
    reload_case(args.reloads)


if __name__ == "__main__":
    main()
