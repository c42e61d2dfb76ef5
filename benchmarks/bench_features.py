"""Benchmark F1: prodml FeaturePipeline vs scikit-learn, ONNX, polars and numpy by hand.

Workload F1 (seed 0): N rows; 10 float columns with 5% NaN, 5 string columns of 100
Zipf-distributed categories (5% missing), 1 datetime column. Pipeline: median impute +
standard scale on the floats, most-frequent impute + one-hot capped at 20 on the
strings, hour/dayofweek/month on the datetime (113 outputs).

Run::

    python benchmarks/bench_features.py            # 1,000,000 rows
    python benchmarks/bench_features.py --quick    # 20,000 rows, smoke run
    python benchmarks/bench_features.py --rows 200000 --json out.json
    python benchmarks/bench_features.py --rows 200000 --paired 3 --parquet   # str from Parquet

``--paired N`` times only fit and transform of prodml and the scikit-learn
ColumnTransformer, in N interleaved rounds on the same frame, in CPU seconds
(``time.process_time``, so that neighbours on a shared machine land less in the figures),
and prints each round's ratio and the median of the ratios. The string columns are pandas
3's ``str`` (what ``pd.DataFrame`` and ``pd.read_parquet`` build); ``--parquet`` round-trips
the frame through Parquet (row groups of 65,536 rows: chunked Arrow-backed ``str``, as a
user reads them), ``--text category`` converts them to ``category`` instead.

Prints fit and transform times, single-record p50/p99, peak memory during transform
(tracemalloc) relative to the output, and the ratios prodml / competitor. The fast record
paths (prodml, ONNX, numpy by hand) are timed in ``--rounds`` alternating rounds (default
3) over the same records and the best p50 and p99 of each are kept, so that a busy
neighbour on a shared machine does not land on one tool only; every round is printed.

Single-record competitors (one dict record in, one feature row out, all timed the same way):

* scikit-learn: ``transform(pd.DataFrame([record]))`` on the fitted ColumnTransformer.
* ONNX (``pip install skl2onnx onnxruntime``): the same fitted scikit-learn estimators
  converted with skl2onnx and run with onnxruntime (one thread). skl2onnx cannot convert
  three parts of F1, so, as a user would, the record-to-input code does them in Python
  before ``session.run``: the date parts (FunctionTransformer has no converter), and the
  most-frequent imputation of the strings (the string SimpleImputer converter needs a
  string ``missing_values`` and a OneHotEncoder with infrequent categories converts only
  when it reads its columns directly; the fitted modes are used). Numbers go in as
  float32 (onnxruntime's Imputer has no float64 kernel), so outputs are compared to
  scikit-learn's to 1e-5.
* numpy by hand: the fitted medians, means, scales, modes and category-to-column dicts
  taken out of scikit-learn and applied in a few lines of Python, no library.
"""

from __future__ import annotations

import os

# Transparent huge pages make the first touch of a fresh ~1 GB output take anywhere from
# 0.6 s to 10 s on a busy machine (kernel compaction), for every tool alike; switch numpy's
# madvise off (before numpy is imported) so that the figures measure the tools, not the
# kernel. Run with NUMPY_MADVISE_HUGEPAGE=1 to keep it.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import argparse
import copy
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
# The date parts computed outside the ONNX graph, fed to it as three numeric inputs.
TS_PARTS = [f"{TS}_hour", f"{TS}_dayofweek", f"{TS}_month"]


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


class OnnxRecord:
    """One dict record through the fitted scikit-learn F1 transformer converted to ONNX.

    Raises ImportError when skl2onnx or onnxruntime is missing.
    """

    note = (
        "onnx: date parts and string most-frequent imputation done in Python before "
        "session.run (skl2onnx cannot convert them for F1); float32 inputs; 1 thread"
    )

    def __init__(self, skl: Any) -> None:
        import onnxruntime as ort
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType

        cat = skl.named_transformers_["cat"]
        self.modes = dict(zip(STRINGS, cat.named_steps["imp"].statistics_, strict=True))
        # The fitted estimators themselves; only the parts skl2onnx cannot convert move out.
        exportable = copy.copy(skl)
        exportable.transformers_ = [
            ("num", skl.named_transformers_["num"], FLOATS),
            ("cat", cat.named_steps["oh"], STRINGS),
            ("dt", "passthrough", TS_PARTS),
        ]
        inputs = [(c, FloatTensorType([None, 1])) for c in FLOATS]
        inputs += [(c, StringTensorType([None, 1])) for c in STRINGS]
        inputs += [(c, FloatTensorType([None, 1])) for c in TS_PARTS]
        t0 = time.perf_counter()
        model = convert_sklearn(exportable, initial_types=inputs, target_opset=18)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # skl2onnx declares 513 outputs (all categories)
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.convert_s = time.perf_counter() - t0

    def __call__(self, record: dict[str, Any]) -> np.ndarray:
        feed: dict[str, np.ndarray] = {}
        for c in FLOATS:
            v = record[c]
            feed[c] = np.array([[np.nan if v is None else v]], dtype=np.float32)
        for c in STRINGS:
            v = record[c]
            feed[c] = np.array([[self.modes[c] if v is None else v]], dtype=object)
        t = record[TS]
        feed[TS_PARTS[0]] = np.array([[t.hour]], dtype=np.float32)
        feed[TS_PARTS[1]] = np.array([[t.weekday()]], dtype=np.float32)
        feed[TS_PARTS[2]] = np.array([[t.month]], dtype=np.float32)
        out: np.ndarray = self.session.run(None, feed)[0][0]
        return out


class NumpyByHand:
    """One dict record with the fitted scikit-learn statistics, written directly."""

    def __init__(self, skl: Any) -> None:
        num = skl.named_transformers_["num"]
        cat = skl.named_transformers_["cat"]
        self.floats = list(
            zip(
                FLOATS,
                num.named_steps["imp"].statistics_.tolist(),
                num.named_steps["sc"].mean_.tolist(),
                num.named_steps["sc"].scale_.tolist(),
                strict=True,
            )
        )
        oh = cat.named_steps["oh"]
        self.strings: list[tuple[str, str, dict[str, int | None], int | None]] = []
        pos = len(FLOATS)
        for i, (c, mode) in enumerate(
            zip(STRINGS, cat.named_steps["imp"].statistics_, strict=True)
        ):
            kept = oh._compute_transformed_categories(i).tolist()
            other = pos + len(kept) - 1 if "infrequent_sklearn" in kept else None
            index: dict[str, int | None] = {
                k: pos + j for j, k in enumerate(kept) if k != "infrequent_sklearn"
            }
            for k in oh.categories_[i].tolist():
                index.setdefault(k, other)
            self.strings.append((c, mode, index, other))
            pos += len(kept)
        self.width = pos + 3

    def __call__(self, record: dict[str, Any]) -> np.ndarray:
        out = np.zeros(self.width)
        for i, (c, med, mean, scale) in enumerate(self.floats):
            v = record[c]
            out[i] = ((med if v is None else v) - mean) / scale
        for c, mode, index, other in self.strings:
            v = record[c]
            j = index.get(mode if v is None else v, other)
            if j is not None:  # an unknown category without an infrequent column: zeros
                out[j] = 1.0
        t = record[TS]
        out[-3:] = (t.hour, t.weekday(), t.month)
        return out


def as_read(df: pd.DataFrame, *, parquet: bool, text: str) -> pd.DataFrame:
    """F1 as a user holds it: through Parquet (chunked ``str``), or with category strings."""
    if parquet:
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        table = pa.Table.from_pandas(df, preserve_index=False)
        pq.write_table(table, buf, row_group_size=65_536)
        buf.seek(0)
        df = pd.read_parquet(buf)
    if text == "category":
        df = df.assign(**{c: df[c].astype("category") for c in STRINGS})
    return df


def paired(df: pd.DataFrame, rounds: int) -> dict[str, Any]:
    """prodml and scikit-learn fit and transform in ``rounds`` interleaved CPU-time rounds."""
    out: dict[str, Any] = {k: [] for k in ("prodml_fit", "sklearn_fit", "prodml_tr", "sklearn_tr")}
    pipe, skl = prodml_pipeline().fit(df), sklearn_pipeline().fit(df)
    jobs = {
        "prodml_fit": lambda: prodml_pipeline().fit(df),
        "sklearn_fit": lambda: sklearn_pipeline().fit(df),
        "prodml_tr": lambda: pipe.transform(df),
        "sklearn_tr": lambda: skl.transform(df),
    }
    for _ in range(rounds):
        for name, fn in jobs.items():
            gc.collect()
            t0 = time.process_time()
            fn()
            out[name].append(time.process_time() - t0)
    for op in ("fit", "tr"):
        ratios = [s / p for s, p in zip(out[f"sklearn_{op}"], out[f"prodml_{op}"], strict=True)]
        out[f"ratio_{op}"] = ratios
        out[f"median_ratio_{op}"] = statistics.median(ratios)
    return out


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


RecordFn = Callable[[dict[str, Any]], Any]


def record_competitors(
    skl: Any, Xs: np.ndarray, records: list[dict[str, Any]], res: dict[str, Any]
) -> dict[str, RecordFn]:
    """Single-record ONNX and numpy-by-hand paths built from the fitted scikit-learn.

    Each is checked against scikit-learn's batch output on every record first.
    """
    by_hand = NumpyByHand(skl)
    got = np.vstack([by_hand(r) for r in records])
    np.testing.assert_allclose(got, Xs[: len(records)], rtol=1e-12, atol=1e-12)
    paths: dict[str, RecordFn] = {"numpy": by_hand}
    try:
        onnx = OnnxRecord(skl)
    except ImportError as exc:
        print(f"ONNX skipped ({exc.name} is missing: pip install skl2onnx onnxruntime)")
        return paths
    print(f"{onnx.note}; converted in {onnx.convert_s:.2f} s")
    got = np.vstack([onnx(r) for r in records])
    res["onnx_max_abs_diff"] = float(np.abs(got - Xs[: len(records)]).max())
    np.testing.assert_allclose(got, Xs[: len(records)], rtol=1e-5, atol=1e-5)
    paths["onnx"] = onnx
    return paths


def record_rounds(
    paths: dict[str, RecordFn], records: list[dict[str, Any]], rounds: int, res: dict[str, Any]
) -> None:
    """Time every record path in turn, ``rounds`` times; keep the best p50 and p99 of each.

    Alternating the tools spreads a busy neighbour over all of them instead of one.
    """
    seen: dict[str, list[tuple[float, float]]] = {who: [] for who in paths}
    for _ in range(rounds):
        for who, fn in paths.items():
            seen[who].append(record_latency(fn, records))
    for who, runs in seen.items():
        res[f"{who}_record_p50_us"] = min(p50 for p50, _ in runs)
        res[f"{who}_record_p99_us"] = min(p99 for _, p99 in runs)
        res[f"{who}_record_rounds_us"] = runs
        shown = ", ".join(f"{p50:.3g}/{p99:.3g}" for p50, p99 in runs)
        print(f"record p50/p99 (us) per round, {who}: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, fewer records")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of the fast record paths"
    )
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument(
        "--paired", type=int, default=0, help="only fit/transform vs scikit-learn, N rounds"
    )
    parser.add_argument("--parquet", action="store_true", help="read F1 back from Parquet")
    parser.add_argument("--text", choices=["str", "category"], default="str")
    args = parser.parse_args()
    n = 20_000 if args.quick else args.rows
    if args.paired:
        frame = as_read(make_f1(n), parquet=args.parquet, text=args.text)
        dtypes = sorted({str(frame[c].dtype) for c in STRINGS})
        print(f"F1: {n:,} rows, strings {dtypes}, parquet={args.parquet}, CPU seconds")
        res = paired(frame, args.paired)
        for op, label in (("fit", "fit"), ("tr", "transform")):
            p, k = res[f"prodml_{op}"], res[f"sklearn_{op}"]
            print(
                f"  {label:9s} prodml {statistics.median(p):.3f} s  sklearn "
                f"{statistics.median(k):.3f} s  ratios "
                + ", ".join(f"{r:.1f}" for r in res[f"ratio_{op}"])
                + f"  median {res[f'median_ratio_{op}']:.1f}x (sklearn / prodml)"
            )
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(res, f, indent=2, sort_keys=True)
        return
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
    for i in (0, 1, n_rec - 1):
        assert (pipe.transform_record(records[i]) == X[i]).all(), "record != batch row"
    paths: dict[str, RecordFn] = {"prodml": pipe.transform_record}

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
        paths.update(record_competitors(skl, Xs, records, res))
    try:
        import polars as pl
    except ImportError:
        print("polars is not installed (pip install polars): skipping it")
    else:
        pdf = pl.from_pandas(df)
        by_hand = PolarsByHand()
        res["polars_fit_s"], _ = timed(lambda: by_hand.fit(pdf))
        res["polars_transform_s"], _ = timed(lambda: by_hand.transform(pdf), repeat=2)

    del X
    record_rounds(paths, records, args.rounds, res)

    tools = ("prodml", "sklearn", "onnx", "polars", "numpy")
    print(f"{'figure':24s}" + "".join(f"{who:>12s}" for who in tools))
    for key, unit in [
        ("fit_s", "s"),
        ("transform_s", "s"),
        ("record_p50_us", "us"),
        ("record_p99_us", "us"),
        ("peak_over_output", "x"),
    ]:
        cells = [res.get(f"{who}_{key}") for who in tools]
        shown = "".join(f"{c:12.4g}" if c is not None else f"{'-':>12s}" for c in cells)
        print(f"{key + ' (' + unit + ')':24s}{shown}")
    if "onnx_max_abs_diff" in res:
        print(f"onnx vs sklearn max |diff| over the records: {res['onnx_max_abs_diff']:.2g}")
    print("ratios (competitor / prodml, > 1 means prodml is faster):")
    for who in tools[1:]:
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
