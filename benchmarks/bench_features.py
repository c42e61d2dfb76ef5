"""Benchmark F1: prodml FeaturePipeline vs scikit-learn (and polars by hand).

Workload F1 (seed 0): N rows; 10 float columns with 5% NaN, 5 string columns of 100
Zipf-distributed categories (5% missing), 1 datetime column. Pipeline: median impute +
standard scale on the floats, most-frequent impute + one-hot capped at 20 on the
strings, hour/dayofweek/month on the datetime (113 outputs).

Run::

    python benchmarks/bench_features.py            # 1,000,000 rows
    python benchmarks/bench_features.py --quick    # 20,000 rows, smoke run
    python benchmarks/bench_features.py --rows 200000 --json out.json

Prints fit and transform times, single-record p50/p99, peak memory during transform
(tracemalloc) relative to the output, and the ratios prodml / competitor.
"""

from __future__ import annotations

import os

# Transparent huge pages make the first touch of a fresh ~1 GB output take anywhere from
# 0.6 s to 10 s on a busy machine (kernel compaction), for every tool alike; switch numpy's
# madvise off (before numpy is imported) so that the figures measure the tools, not the
# kernel. Run with NUMPY_MADVISE_HUGEPAGE=1 to keep it.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import argparse
import gc
import json
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from prodml.features import FeaturePipeline, steps

FLOATS = [f"f{i}" for i in range(10)]
STRINGS = [f"s{i}" for i in range(5)]
TS = "ts"


def make_f1(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for name in FLOATS:
        x = rng.normal(rng.uniform(-10, 10), rng.uniform(0.5, 5), n)
        x[rng.random(n) < 0.05] = np.nan
        data[name] = x
    labels = np.array([f"cat_{k:03d}" for k in range(100)], dtype=object)
    for name in STRINGS:
        codes = np.minimum(rng.zipf(1.3, n), 100) - 1
        col = labels[codes].copy()
        col[rng.random(n) < 0.05] = None
        data[name] = col
    start = np.datetime64("2024-01-01T00:00:00", "s").astype("datetime64[ns]")
    data[TS] = start + rng.integers(0, 365 * 86_400, n).astype("timedelta64[s]")
    return pd.DataFrame(data)


def prodml_pipeline() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(FLOATS, strategy="median"),
            steps.StandardScale(FLOATS),
            steps.Impute(STRINGS, strategy="most_frequent"),
            steps.OneHot(STRINGS, max_categories=20),
            steps.DateParts([TS], parts=["hour", "dayofweek", "month"]),
        ]
    )


def _date_parts(frame: pd.DataFrame) -> np.ndarray:
    t = pd.to_datetime(frame[TS])
    return np.column_stack([t.dt.hour, t.dt.day_of_week, t.dt.month]).astype(np.float64)


def sklearn_pipeline() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            (
                "num",
                Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())]),
                FLOATS,
            ),
            (
                "cat",
                Pipeline(
                    [
                        ("imp", SimpleImputer(strategy="most_frequent")),
                        (
                            "oh",
                            OneHotEncoder(
                                max_categories=20,
                                handle_unknown="infrequent_if_exist",
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                STRINGS,
            ),
            ("dt", FunctionTransformer(_date_parts), [TS]),
        ]
    )


class PolarsByHand:
    """The same features computed with polars expressions, as a user would write them."""

    def __init__(self) -> None:
        import polars as pl

        self.pl = pl

    def fit(self, df: Any) -> PolarsByHand:
        pl = self.pl
        med = df.select([pl.col(c).median() for c in FLOATS]).row(0)
        self.medians = dict(zip(FLOATS, med, strict=True))
        imputed = df.select([pl.col(c).fill_null(self.medians[c]) for c in FLOATS])
        self.means = dict(zip(FLOATS, imputed.mean().row(0), strict=True))
        self.stds = dict(zip(FLOATS, imputed.std(ddof=0).row(0), strict=True))
        self.modes: dict[str, str] = {}
        self.cats: dict[str, list[str]] = {}
        for c in STRINGS:
            counts = df.get_column(c).value_counts(sort=True)
            self.modes[c] = counts.drop_nulls(c).row(0)[0]
            filled = df.get_column(c).fill_null(self.modes[c]).value_counts(sort=True)
            self.cats[c] = sorted(filled.get_column(c).head(19).to_list())
        return self

    def transform(self, df: Any) -> np.ndarray:
        pl = self.pl
        exprs = [
            ((pl.col(c).fill_null(self.medians[c]) - self.means[c]) / self.stds[c]).alias(c)
            for c in FLOATS
        ]
        for c in STRINGS:
            filled = pl.col(c).fill_null(self.modes[c])
            exprs += [(filled == k).cast(pl.Float64).alias(f"{c}={k}") for k in self.cats[c]]
            exprs.append((~filled.is_in(self.cats[c])).cast(pl.Float64).alias(f"{c}=other"))
        t = pl.col(TS)
        exprs += [
            t.dt.hour().cast(pl.Float64).alias("hour"),
            (t.dt.weekday() - 1).cast(pl.Float64).alias("dow"),
            t.dt.month().cast(pl.Float64).alias("month"),
        ]
        return df.select(exprs).to_numpy()


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        out = None  # free the previous output first: two 1 GB outputs at once distort timings
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_memory(fn: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    out = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, out


def record_latency(
    fn: Callable[[dict[str, Any]], Any], records: list[dict[str, Any]]
) -> tuple[float, float]:
    for r in records[:50]:
        fn(r)
    times = []
    for r in records:
        t0 = time.perf_counter_ns()
        fn(r)
        times.append(time.perf_counter_ns() - t0)
    times.sort()
    p50 = statistics.median(times) / 1e3
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))] / 1e3
    return p50, p99


def to_records(df: pd.DataFrame, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        rec: dict[str, Any] = {}
        for c in df.columns:
            v = df[c].iloc[i]
            rec[c] = None if v is None or (isinstance(v, float) and np.isnan(v)) else v
            if isinstance(rec[c], np.generic):
                rec[c] = rec[c].item()
        rec[TS] = pd.Timestamp(df[TS].iloc[i]).to_pydatetime()
        out.append(rec)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, fewer records")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    n = 20_000 if args.quick else args.rows
    n_rec = 500 if args.quick else args.records
    print(
        f"F1: {n:,} rows, python {platform.python_version()}, {os.cpu_count()} cpus, "
        f"NUMPY_MADVISE_HUGEPAGE={os.environ['NUMPY_MADVISE_HUGEPAGE']}"
    )
    df = make_f1(n)
    records = to_records(df, n_rec)
    res: dict[str, Any] = {"rows": n}

    pipe = prodml_pipeline()
    res["prodml_fit_s"], _ = timed(lambda: pipe.fit(df))
    res["prodml_transform_s"], X = timed(lambda: pipe.transform(df), repeat=2)
    res["outputs"] = X.shape[1]
    peak, _ = peak_memory(lambda: pipe.transform(df))
    res["prodml_peak_over_output"] = peak / X.nbytes
    res["prodml_record_p50_us"], res["prodml_record_p99_us"] = record_latency(
        pipe.transform_record, records
    )
    for i in (0, 1, n_rec - 1):
        assert (pipe.transform_record(records[i]) == X[i]).all(), "record != batch row"

    try:
        skl = sklearn_pipeline()
    except ImportError:
        print("scikit-learn is not installed: skipping it")
        skl = None
    if skl is not None:
        res["sklearn_fit_s"], _ = timed(lambda: skl.fit(df))
        res["sklearn_transform_s"], Xs = timed(lambda: skl.transform(df))
        np.testing.assert_allclose(Xs[:, :10], X[:, :10], rtol=1e-9, atol=1e-9)
        peak, _ = peak_memory(lambda: skl.transform(df))
        res["sklearn_peak_over_output"] = peak / Xs.nbytes
        few = records[: max(50, n_rec // 20)]
        res["sklearn_record_p50_us"], res["sklearn_record_p99_us"] = record_latency(
            lambda r: skl.transform(pd.DataFrame([r])), few
        )
    try:
        import polars as pl
    except ImportError:
        print("polars is not installed (pip install polars): skipping it")
    else:
        pdf = pl.from_pandas(df)
        by_hand = PolarsByHand()
        res["polars_fit_s"], _ = timed(lambda: by_hand.fit(pdf))
        res["polars_transform_s"], _ = timed(lambda: by_hand.transform(pdf), repeat=2)

    print(f"{'figure':32s}{'prodml':>12s}{'sklearn':>12s}{'polars':>12s}")
    for key, unit in [
        ("fit_s", "s"),
        ("transform_s", "s"),
        ("record_p50_us", "us"),
        ("record_p99_us", "us"),
        ("peak_over_output", "x"),
    ]:
        cells = [res.get(f"{who}_{key}") for who in ("prodml", "sklearn", "polars")]
        shown = "".join(f"{c:12.4g}" if c is not None else f"{'-':>12s}" for c in cells)
        print(f"{key + ' (' + unit + ')':32s}{shown}")
    print("ratios (competitor / prodml, > 1 means prodml is faster):")
    for who in ("sklearn", "polars"):
        for key in ("fit_s", "transform_s", "record_p50_us", "record_p99_us"):
            theirs, ours = res.get(f"{who}_{key}"), res.get(f"prodml_{key}")
            if theirs is not None and ours:
                ratio = theirs / ours
                res[f"ratio_{who}_{key}"] = ratio
                verdict = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
                print(f"  {key:16s} prodml is {verdict} than {who}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
