"""Rollout benchmark: prodml bandits vs MABWiser, and the cost of sticky routing.

Workloads (the same for both libraries, in one run):

* single update: one ``(arm, reward)`` at a time (prodml ``update`` vs MABWiser
  ``partial_fit([arm], [reward])``);
* single decision: one arm at a time (prodml ``choose`` vs MABWiser ``predict()``), with
  no update in between;
* decide+update: the serving loop, one ``choose`` then one ``update`` per request;
* batch update: ``n`` pairs at once (``update_many`` vs ``partial_fit``);
* prodml's Gaussian Thompson sampling is compared with MABWiser's (Beta-Bernoulli only)
  Thompson sampling on the same 0/1 rewards;
* ``Router.route(key)`` and ``Canary.route(key)``: per-call latency percentiles.

Run ``python benchmarks/bench_rollout.py`` (``--quick`` for a smoke run). Figures go to
stdout and, as JSON, to ``--out`` (default ``benchmarks/results/rollout.json``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from prodml.rollout import UCB1, Canary, EpsilonGreedy, Router, ThompsonSampling

ARMS = ["a", "b", "c"]


def rate(fn: Callable[[int], None], n: int, repeat: int = 3) -> float:
    """Best-of-``repeat`` calls per second of ``fn(i)`` over ``n`` iterations."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - t0)
    return n / best


def percentiles_ns(fn: Callable[[str], object], keys: list[str]) -> dict[str, float]:
    clock = time.perf_counter_ns
    overhead = []
    for _ in range(2000):
        t0 = clock()
        overhead.append(clock() - t0)
    base = statistics.median(overhead)
    samples = []
    for k in keys:
        t0 = clock()
        fn(k)
        samples.append(clock() - t0 - base)
    arr = np.asarray(samples, dtype=float)
    return {
        "p50_us": float(np.percentile(arr, 50)) / 1000,
        "p99_us": float(np.percentile(arr, 99)) / 1000,
        "timer_overhead_us": base / 1000,
    }


def mabwiser_models(seed: int) -> dict[str, Any] | None:
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        return None
    models = {
        "EpsilonGreedy": MAB(ARMS, LearningPolicy.EpsilonGreedy(epsilon=0.1), seed=seed),
        "UCB1": MAB(ARMS, LearningPolicy.UCB1(alpha=1.0), seed=seed),
        "ThompsonSampling": MAB(ARMS, LearningPolicy.ThompsonSampling(), seed=seed),
        # MABWiser's Thompson sampling is Beta-Bernoulli only: it is the reference for
        # prodml's Gaussian variant too (same 0/1 rewards, same workload).
        "ThompsonSampling (gaussian)": MAB(ARMS, LearningPolicy.ThompsonSampling(), seed=seed),
    }
    warm_arms = ARMS * 10
    warm_rewards = [float(i % 2) for i in range(len(warm_arms))]
    for m in models.values():
        m.fit(warm_arms, warm_rewards)
    return models


def prodml_models(seed: int) -> dict[str, Any]:
    models = {
        "EpsilonGreedy": EpsilonGreedy(ARMS, epsilon=0.1, seed=seed),
        "UCB1": UCB1(ARMS, seed=seed),
        "ThompsonSampling": ThompsonSampling(ARMS, seed=seed),
        "ThompsonSampling (gaussian)": ThompsonSampling(ARMS, reward="gaussian", seed=seed),
    }
    warm_arms = ARMS * 10
    warm_rewards = [float(i % 2) for i in range(len(warm_arms))]
    for m in models.values():
        m.update_many(warm_arms, warm_rewards)
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--out", default="benchmarks/results/rollout.json")
    args = parser.parse_args()
    n_single = 2_000 if args.quick else 20_000
    n_single_mab = 500 if args.quick else 3_000
    n_batch = 10_000 if args.quick else 200_000
    n_keys = 20_000 if args.quick else 200_000

    rng = np.random.default_rng(0)
    arms = [ARMS[i] for i in rng.integers(0, 3, n_batch)]
    rewards = (rng.random(n_batch) < 0.3).astype(float).tolist()
    ours = prodml_models(0)
    theirs = mabwiser_models(0)
    if theirs is None:
        print("MABWiser is not installed (pip install mabwiser): showing prodml figures only.")
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "sizes": {"single": n_single, "single_mabwiser": n_single_mab, "batch": n_batch},
        "bandits": {},
    }
    header = f"{'policy':<29}{'workload':<17}{'prodml /s':>14}{'MABWiser /s':>14}{'ratio':>9}"
    print(header)
    print("-" * len(header))
    for name, model in ours.items():
        rows = {
            "single update": (
                lambda i, m=model: m.update(arms[i], rewards[i]),
                None
                if theirs is None
                else (lambda i, m=theirs[name]: m.partial_fit([arms[i]], [rewards[i]])),
                n_single,
            ),
            "single decision": (
                lambda i, m=model: m.choose(),
                None if theirs is None else (lambda i, m=theirs[name]: m.predict()),
                n_single,
            ),
            # The serving loop: decide, then learn from the reward (no caching helps here).
            "decide+update": (
                lambda i, m=model: m.update(m.choose(), rewards[i]),
                None
                if theirs is None
                else (lambda i, m=theirs[name]: m.partial_fit([m.predict()], [rewards[i]])),
                n_single,
            ),
        }
        figures: dict[str, Any] = {}
        for workload, (ours_fn, theirs_fn, n) in rows.items():
            ours_rate = rate(ours_fn, n)
            theirs_rate = float("nan")
            if theirs_fn is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs_rate = rate(theirs_fn, n_single_mab, repeat=2)
            ratio = ours_rate / theirs_rate
            figures[workload] = {"prodml": ours_rate, "mabwiser": theirs_rate, "ratio": ratio}
            print(f"{name:<29}{workload:<17}{ours_rate:>14,.0f}{theirs_rate:>14,.0f}{ratio:>8.1f}x")
        # Batch update: rewards per second.
        t0 = time.perf_counter()
        model.update_many(arms, rewards)
        ours_rate = n_batch / (time.perf_counter() - t0)
        theirs_rate = float("nan")
        if theirs is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                theirs[name].partial_fit(arms, rewards)
                theirs_rate = n_batch / (time.perf_counter() - t0)
        ratio = ours_rate / theirs_rate
        figures["batch update"] = {"prodml": ours_rate, "mabwiser": theirs_rate, "ratio": ratio}
        print(
            f"{name:<29}{'batch update':<17}{ours_rate:>14,.0f}{theirs_rate:>14,.0f}{ratio:>8.1f}x"
        )
        results["bandits"][name] = figures

    keys = [f"user-{i}" for i in range(n_keys)]
    router = Router({"candidate": 0.05, "stable": 0.95}, salt="bench")
    canary = Canary(clock=lambda: 0.0)
    routes = {"Router.route": router.route, "Canary.route": canary.route}
    print()
    print(f"{'routing':<16}{'p50 us':>10}{'p99 us':>10}   (target p50 <= 2 us)")
    results["routing"] = {}
    for label, fn in routes.items():
        fn(keys[0])
        figures = percentiles_ns(fn, keys)
        results["routing"][label] = figures
        print(f"{label:<16}{figures['p50_us']:>10.3f}{figures['p99_us']:>10.3f}")
    t0 = time.perf_counter()
    router.route_many(keys)
    per_key = (time.perf_counter() - t0) / n_keys * 1e6
    results["routing"]["Router.route_many_us_per_key"] = per_key
    print(f"{'route_many':<16}{per_key:>10.3f} us per key")

    # Policy bookkeeping per request (no competitor: for sizing a service).
    canary = Canary(clock=lambda: 0.0)
    flags = (rng.random(n_single) < 0.05).astype(float).tolist()
    observe_rate = rate(lambda i: canary.observe("candidate", error_rate=flags[i]), n_single)
    evaluate_rate = rate(lambda i: canary.evaluate(), n_single // 10)
    results["canary"] = {"observe_per_s": observe_rate, "evaluate_per_s": evaluate_rate}
    print(f"{'Canary.observe':<16}{observe_rate:>12,.0f} /s")
    print(f"{'Canary.evaluate':<16}{evaluate_rate:>12,.0f} /s")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, allow_nan=True))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
