"""Benchmark X2: interventional TreeSHAP, prodml vs shap, on one forest and one background.

Workload (seed 0): 10 standard-normal columns, a regression target with an interaction,
a ``--trees``-tree (100) ``RandomForestRegressor`` (``--depth``, 8 by default) on the pipeline's
output, and ``--background`` rows as the background of both tools:
``Explainer(pipe, model, background=..., feature_perturbation="interventional")`` against
``shap.TreeExplainer(model, data=<transformed background>,
feature_perturbation="interventional")`` on the transformed rows (shap's side is what a
user writes without prodml). Figures: one record (median of ``--repeats``), a batch of
``--rows`` rows (median of 3), the ratio of each, the largest difference between the two
tools' values, and prodml's numpy-only path (numba off) against its compiled one.

``--runs`` repeats the whole comparison (3 by default) and reports the median of each
ratio, the machine being shared and noisy. ``--fit-memory`` times only the fit instead
(``--trees`` trees, ``--background`` rows, median of ``--runs``) and its peak traced
memory (tracemalloc; run under ``/usr/bin/time -v`` for the resident peak as well).

Run::

    python benchmarks/bench_explain_interventional.py
    python benchmarks/bench_explain_interventional.py --rows 200 --repeats 5   # smoke run
    python benchmarks/bench_explain_interventional.py --fit-memory --trees 500 \
        --background 10000 --depth 8 --runs 1
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pandas as pd
import shap
from sklearn.ensemble import RandomForestRegressor

from prodml.explain import Explainer
from prodml.features import FeaturePipeline, steps


def _median(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _fit_memory(ex: Explainer, runs: int) -> None:
    """Fit time (median of ``runs``) and the peak traced memory of one more fit."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        ex.fit()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    ex.fit()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    kernel = ex.kernel_
    pairs = int(kernel._pair_leaf.size)
    print(f"forest: {len(kernel.trees)} trees, {kernel.n_leaves} leaves, depth {kernel.depth}; "
          f"{len(kernel.background)} background rows; {pairs} (leaf, pattern) pairs")  # fmt: skip
    print(f"fit: {statistics.median(times):.2f} s (median of {runs}); "
          f"peak traced memory {peak / 2**20:,.0f} MiB")  # fmt: skip


def _compare(args: argparse.Namespace, ours: Explainer, theirs: object, pipe: FeaturePipeline,
             test: pd.DataFrame) -> dict[str, float]:  # fmt: skip
    record = test.iloc[0].to_dict()

    def shap_record() -> object:
        return theirs.shap_values(pipe.transform_record(record)[None, :], check_additivity=False)  # type: ignore[attr-defined]

    def shap_batch() -> object:
        return theirs.shap_values(pipe.transform(test), check_additivity=False)  # type: ignore[attr-defined]

    ours.explain_record(record)  # compile the kernels before timing
    rec_p = _median(lambda: ours.explain_record(record), args.repeats)
    rec_s = _median(shap_record, args.repeats)
    batch_p = _median(lambda: ours.explain_batch(test), 3)
    batch_s = _median(shap_batch, 3)
    compiled = ours.explain_batch(test).values  # noqa: PD011 - an Explanations array
    diff = np.abs(compiled - np.asarray(shap_batch())).max()
    kernel = ours.kernel_
    kernel.jit = False  # the numpy path, as without numba
    rec_n = _median(lambda: ours.explain_record(record), max(3, args.repeats // 2))
    batch_n = _median(lambda: ours.explain_batch(test), 1)
    numpy_diff = np.abs(ours.explain_batch(test).values - compiled).max()  # noqa: PD011
    kernel.jit = True
    print(f"one record: prodml {rec_p * 1e3:.1f} ms, shap {rec_s * 1e3:.1f} ms, "
          f"ratio {rec_p / rec_s:.2f}")  # fmt: skip
    print(f"{args.rows} rows: prodml {batch_p:.2f} s, shap {batch_s:.2f} s, "
          f"ratio {batch_p / batch_s:.2f}")  # fmt: skip
    print(f"numpy path (no numba): one record {rec_n * 1e3:.1f} ms, {args.rows} rows "
          f"{batch_n:.2f} s; max |numpy - compiled| {numpy_diff:.1e}")  # fmt: skip
    print(f"max |prodml - shap| {diff:.1e}")
    return {"record": rec_p / rec_s, "batch": batch_p / batch_s, "diff": float(diff)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--background", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fit-memory", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    cols = [f"x{i}" for i in range(10)]
    n_train = max(3_000, args.background)
    df = pd.DataFrame(rng.normal(size=(n_train + args.rows, 10)), columns=cols)
    y = df.x0 * df.x1 + np.sin(df.x2) + df.x3 + rng.normal(size=len(df)) * 0.1
    pipe = FeaturePipeline([steps.StandardScale(cols)]).fit(df)
    model = RandomForestRegressor(
        n_estimators=args.trees, max_depth=args.depth, random_state=0, n_jobs=1
    ).fit(pipe.transform(df), y)
    background = df.iloc[: args.background]
    ours = Explainer(
        pipe,
        model,
        background=background,
        feature_perturbation="interventional",
        n_background=args.background,
    )
    if args.fit_memory:
        _fit_memory(ours, args.runs)
        return
    ours.fit()
    theirs = shap.TreeExplainer(
        model, data=pipe.transform(background), feature_perturbation="interventional"
    )
    print(f"forest: {args.trees} trees, max_depth={args.depth}, {ours.kernel_.n_leaves} "
          f"leaves; {args.background} background rows")  # fmt: skip
    test = df.iloc[n_train:]
    ratios = []
    for run in range(args.runs):
        print(f"-- run {run + 1}")
        ratios.append(_compare(args, ours, theirs, pipe, test))
    print(f"median of {args.runs} runs: one record ratio "
          f"{statistics.median(r['record'] for r in ratios):.2f}, {args.rows} rows ratio "
          f"{statistics.median(r['batch'] for r in ratios):.2f} (prodml / shap time)")  # fmt: skip


if __name__ == "__main__":
    main()
