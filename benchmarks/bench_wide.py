"""Benchmark W1: cost per column of wide tables (issue 15 §2), in one run.

Workload W1, seed 0: tables of 1,000 rows and 10, 1,000 or 10,000 columns, half N(0, 1)
floats, half strings of three values (pandas ``str`` dtype, as pandas 3 builds them).
Operations, each on the same table: ``Schema.infer``, ``Schema.validate``,
``fingerprint_table``, ``FeaturePipeline.fit`` and ``transform`` (StandardScale on the
floats, OneHot on the strings), ``DriftDetector.fit`` and ``detect`` (the table against
itself).

Every operation must cost O(columns): the figure is the time per column, and the ratio is
the largest time per column over the smallest across the widths (target: within 2x).
Before issue 15, ``DriftDetector`` took 133 s at 2,000 columns (cubic: it built a table
view per column, and each view checked duplicate names with ``list.count``).

Each width is timed ``--repeat`` times (default 3; small widths repeat until 0.2 s) and
the median is kept. Times are CPU seconds of this process (``time.process_time``), so that
neighbours on a shared machine do not land in the figures. Writes ``benchmarks/results/wide.json``.

    python benchmarks/bench_wide.py            # 10, 1,000 and 10,000 columns
    python benchmarks/bench_wide.py --quick    # 10, 300 and 1,000 columns
    python benchmarks/bench_wide.py --sklearn --parquet   # fit/transform vs scikit-learn

``--sklearn`` times only ``FeaturePipeline.fit`` and ``transform`` against scikit-learn's
ColumnTransformer (StandardScaler on the floats, OneHotEncoder on the strings) on the same
frame, interleaved, ``--repeat`` rounds, and prints the median of the per-round ratios
(sklearn / prodml). ``--parquet`` reads the table back from Parquet (pandas 3: chunked
Arrow-backed ``str``), ``--text category`` converts the strings to ``category``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prodml.drift import DriftDetector
from prodml.features import FeaturePipeline, steps
from prodml.fingerprint import fingerprint_table
from prodml.schema import Schema


def make_w1(n_columns: int, rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Half float columns, half three-valued string columns."""
    rng = np.random.default_rng(seed)
    half = n_columns // 2
    labels = np.array(["low", "mid", "high"], dtype=object)
    data: dict[str, Any] = {f"f{i}": rng.normal(size=rows) for i in range(half)}
    for i in range(n_columns - half):
        data[f"s{i}"] = pd.Series(labels[rng.integers(0, 3, rows)], dtype="str")
    return pd.DataFrame(data)


def _time(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU seconds of ``repeat`` runs (more while a run is under 0.2 s in total)."""
    times: list[float] = []
    spent = 0.0
    while len(times) < repeat or spent < 0.2:
        t0 = time.process_time()
        fn()
        dt = time.process_time() - t0
        times.append(dt)
        spent += dt
    return statistics.median(times)


def as_read(df: pd.DataFrame, *, parquet: bool, text: str) -> pd.DataFrame:
    """W1 as a user holds it: read back from Parquet, or with category strings."""
    if parquet:
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
        buf.seek(0)
        df = pd.read_parquet(buf)
    if text == "category":
        df = df.assign(**{c: df[c].astype("category") for c in df if c.startswith("s")})
    return df


def sklearn_width(df: pd.DataFrame, repeat: int) -> dict[str, list[float]]:
    """CPU seconds of prodml and scikit-learn fit/transform, ``repeat`` interleaved rounds."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    floats = [c for c in df.columns if c.startswith("f")]
    strings = [c for c in df.columns if c.startswith("s")]

    def ours() -> FeaturePipeline:
        return FeaturePipeline([steps.StandardScale(floats), steps.OneHot(strings)])

    def theirs() -> ColumnTransformer:
        return ColumnTransformer(
            [
                ("num", StandardScaler(), floats),
                ("cat", OneHotEncoder(sparse_output=False, handle_unknown="ignore"), strings),
            ]
        )

    pipe, skl = ours().fit(df), theirs().fit(df)
    jobs: dict[str, Callable[[], object]] = {
        "prodml fit": lambda: ours().fit(df),
        "sklearn fit": lambda: theirs().fit(df),
        "prodml transform": lambda: pipe.transform(df),
        "sklearn transform": lambda: skl.transform(df),
    }
    out: dict[str, list[float]] = {k: [] for k in jobs}
    for _ in range(repeat):
        for name, fn in jobs.items():
            t0 = time.process_time()
            fn()
            out[name].append(time.process_time() - t0)
    return out


def main_sklearn(widths: list[int], repeat: int, *, parquet: bool, text: str) -> None:
    print(f"W1 vs scikit-learn: 1,000 rows, strings {text}, parquet={parquet}, CPU seconds")
    print(f"{'columns':>8s} {'op':10s} {'prodml':>9s} {'sklearn':>9s}  ratios (median)")
    for w in widths:
        res = sklearn_width(as_read(make_w1(w), parquet=parquet, text=text), repeat)
        for op in ("fit", "transform"):
            p, k = res[f"prodml {op}"], res[f"sklearn {op}"]
            ratios = [b / a for a, b in zip(p, k, strict=True)]
            print(
                f"{w:8,d} {op:10s} {statistics.median(p):9.3f} {statistics.median(k):9.3f}  "
                + ", ".join(f"{r:.1f}" for r in ratios)
                + f" ({statistics.median(ratios):.1f}x)"
            )


def run_width(n_columns: int, repeat: int) -> dict[str, float]:
    """Seconds per column of every operation at one width."""
    df = make_w1(n_columns)
    floats = [c for c in df.columns if c.startswith("f")]
    strings = [c for c in df.columns if c.startswith("s")]
    schema = Schema.infer(df)
    pipe = FeaturePipeline([steps.StandardScale(floats), steps.OneHot(strings)]).fit(df)
    det = DriftDetector().fit(df)
    ops: dict[str, Callable[[], object]] = {
        "Schema.infer": lambda: Schema.infer(df),
        "Schema.validate": lambda: schema.validate(df),
        "fingerprint_table": lambda: fingerprint_table(df),
        "FeaturePipeline.fit": lambda: FeaturePipeline(
            [steps.StandardScale(floats), steps.OneHot(strings)]
        ).fit(df),
        "FeaturePipeline.transform": lambda: pipe.transform(df),
        "DriftDetector.fit": lambda: DriftDetector().fit(df),
        "DriftDetector.detect": lambda: det.detect(df),
    }
    return {name: _time(fn, repeat) / n_columns for name, fn in ops.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10, 300 and 1,000 columns")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--sklearn", action="store_true", help="fit/transform vs scikit-learn")
    parser.add_argument("--parquet", action="store_true", help="read W1 back from Parquet")
    parser.add_argument("--text", choices=["str", "category"], default="str")
    args = parser.parse_args()
    widths = [10, 300, 1000] if args.quick else [10, 1000, 10_000]
    if args.sklearn:
        main_sklearn(widths, args.repeat, parquet=args.parquet, text=args.text)
        return
    per_col = {w: run_width(w, args.repeat) for w in widths}
    ops = list(per_col[widths[0]])
    print(f"W1: 1,000 rows; time per column (ms), median of {args.repeat}+ runs")
    header = f"{'operation':28s}" + "".join(f"{w:>10,d}" for w in widths) + "  max/min ratio"
    print(header)
    ratios: dict[str, float] = {}
    for op in ops:
        row = [per_col[w][op] * 1e3 for w in widths]
        ratios[op] = max(row) / min(row)
        print(f"{op:28s}" + "".join(f"{v:10.3f}" for v in row) + f"  {ratios[op]:.2f}x")
    worst = max(ratios, key=ratios.__getitem__)
    print(f"worst per-column ratio across widths: {ratios[worst]:.2f}x ({worst}); target <= 2x")
    out = args.json or Path(__file__).resolve().parent / "results" / "wide.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": f"{platform.platform()}, Python {platform.python_version()}",
                "rows": 1000,
                "ms_per_column": {
                    str(w): {k: v * 1e3 for k, v in per_col[w].items()} for w in widths
                },
                "ratio": ratios,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
