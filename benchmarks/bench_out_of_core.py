"""Benchmark O1: drift between two Parquet datasets larger than the memory budget.

Generates a reference/current Parquet pair of ``--gb`` GB in total (default 5; ``--quick``
0.2) under a temporary directory in ``/tmp``, then, each in a fresh process so that peak
memory is that step's own:

* ``prodml``: ``DriftDetector().fit(batches(ref)).detect(batches(cur))`` where
  :func:`batches` streams 65,536-row record batches with pyarrow (no read-ahead, no
  pre-buffering); each batch updates a mergeable profile (exact up to ``max_exact`` values
  per column, then a log-bucket sketch), so memory is O(batch + profile), not O(data).
* ``prodml-dataset``: the same on ``ds.dataset(path)`` passed directly, which prodml
  scans with one batch and one file of read-ahead; ``--skip-defaults`` skips it (and the
  two runs below).
* ``prodml-parquetfile``: the same on ``pyarrow.parquet.ParquetFile(path)`` passed
  directly, which prodml reads one row group at a time.
* ``prodml-directory``: the same on ``ds.dataset(directory)``, a directory holding the
  file (a hard link), as a partitioned dataset is passed.
* ``naive`` (only up to ``--naive-max-gb``, default 0.5): ``pandas.read_parquet`` of both
  files, then ``scipy.stats.ks_2samp`` per numeric column and ``chi2_contingency`` per
  categorical column, the way a user would write it with everything in memory.

Prints wall time and peak RSS (``resource.getrusage(...).ru_maxrss`` of each process)
against the target (< 1 GB), ratios, and whether the two agree on the drifted columns.
The files are deleted afterwards (``--keep`` keeps them).

    python benchmarks/bench_out_of_core.py            # 5 GB pair
    python benchmarks/bench_out_of_core.py --quick    # 0.2 GB pair, with the naive run
    python benchmarks/bench_out_of_core.py --gb 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TARGET_MB = 1024
ROW_GROUP = 500_000
NUMERIC = [f"num_{i}" for i in range(8)]
INTS = ["int_0", "int_1"]
CATS = ["cat_0", "cat_1"]
DRIFTED = ["num_0", "num_1", "cat_0"]  # shifted in the current data
BYTES_PER_ROW = 72  # measured: 8 float64 + 2 int64 (dictionary-encoded) + 2 categorical codes


def _peak_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _batch(rng: np.random.Generator, n: int, current: bool) -> pa.RecordBatch:
    cols: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        shift = 0.1 if current and name in DRIFTED else 0.0
        if i % 2:
            cols[name] = rng.lognormal(shift, 1.0, n)
        else:
            cols[name] = rng.normal(shift, 1.0, n)
    for name in INTS:
        cols[name] = rng.integers(0, 1000, n)
    cats = np.array([f"v{i}" for i in range(20)])
    for name in CATS:
        p = np.linspace(2.0, 1.0, 20)
        if current and name in DRIFTED:
            p[:5] *= 1.2
        idx = rng.choice(20, n, p=p / p.sum())
        cols[name] = pa.DictionaryArray.from_arrays(pa.array(idx.astype(np.int8)), cats)
    return pa.RecordBatch.from_pydict(cols)


def generate(path: Path, rows: int, seed: int, current: bool) -> None:
    """Write ``rows`` rows in row groups of ROW_GROUP rows, holding one at a time."""
    rng = np.random.default_rng(seed)
    writer = None
    done = 0
    while done < rows:
        batch = _batch(rng, min(ROW_GROUP, rows - done), current)
        if writer is None:
            writer = pq.ParquetWriter(path, batch.schema, compression="none")
        writer.write_batch(batch)
        done += batch.num_rows
    assert writer is not None
    writer.close()


def batches(path: Path, batch_rows: int = 65_536) -> Any:
    """Record batches of a Parquet dataset, one at a time (no read-ahead, no pre-buffer).

    pyarrow's scanner defaults read ahead 16 batches and pre-buffer whole files, which
    holds hundreds of MB in its memory pool; this keeps one batch in flight.
    """
    import pyarrow.dataset as ds

    return ds.dataset(path).to_batches(
        batch_size=batch_rows,
        batch_readahead=0,
        fragment_readahead=0,
        fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
    )


def _as_directory(path: Path) -> Path:
    """A directory holding ``path`` (a hard link, no copy), for a directory dataset."""
    folder = path.with_suffix(".dir")
    folder.mkdir(exist_ok=True)
    link = folder / path.name
    if not link.exists():
        os.link(path, link)
    return folder


def run_prodml(ref: Path, cur: Path, which: str) -> dict[str, Any]:
    import pyarrow.dataset as ds

    from prodml.drift import DriftDetector

    start = time.perf_counter()
    if which == "prodml":
        report = DriftDetector().fit(batches(ref)).detect(batches(cur))
    elif which == "prodml-parquetfile":
        report = DriftDetector().fit(pq.ParquetFile(ref)).detect(pq.ParquetFile(cur))
    elif which == "prodml-directory":
        report = (
            DriftDetector()
            .fit(ds.dataset(_as_directory(ref)))
            .detect(ds.dataset(_as_directory(cur)))
        )
    else:
        report = DriftDetector().fit(ds.dataset(ref)).detect(ds.dataset(cur))
    return {"seconds": time.perf_counter() - start, "drifted": sorted(report.drifted_columns)}


def run_naive(ref: Path, cur: Path) -> dict[str, Any]:
    import pandas as pd
    from scipy import stats

    start = time.perf_counter()
    a, b = pd.read_parquet(ref), pd.read_parquet(cur)
    pvalues = {}
    for name in NUMERIC + INTS:
        pvalues[name] = float(stats.ks_2samp(a[name].to_numpy(), b[name].to_numpy()).pvalue)
    for name in CATS:
        table = pd.concat([a[name].value_counts(), b[name].value_counts()], axis=1).fillna(0)
        pvalues[name] = float(stats.chi2_contingency(table.to_numpy().T, correction=False)[1])
    # Bonferroni, so that both sides correct for multiple tests
    drifted = sorted(n for n, p in pvalues.items() if p * len(pvalues) < 0.05)
    return {"seconds": time.perf_counter() - start, "drifted": drifted}


def child(which: str, ref: Path, cur: Path) -> None:
    """Run one step in this (fresh) process and print its figures as JSON."""
    out = run_naive(ref, cur) if which == "naive" else run_prodml(ref, cur, which)
    out["peak_mb"] = _peak_mb()
    print(json.dumps(out))


def _spawn(which: str, ref: Path, cur: Path) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--child", which, str(ref), str(cur)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 - our own script
    if proc.returncode != 0:
        print(f"{which} failed:\n{proc.stderr[-2000:]}")
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--gb", type=float, default=5.0, help="total size of the pair")
    parser.add_argument("--quick", action="store_true", help="a 0.2 GB pair")
    parser.add_argument("--naive-max-gb", type=float, default=0.5)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--skip-defaults", action="store_true", help="skip the run with pyarrow scan defaults"
    )
    parser.add_argument("--child", nargs=3, metavar=("WHICH", "REF", "CUR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    gb = 0.2 if args.quick else args.gb
    rows = max(1, int(gb * 1e9 / 2 / BYTES_PER_ROW))
    free = shutil.disk_usage(args.dir).free / 1e9
    if free < gb * 1.2:
        sys.exit(f"not enough space in {args.dir}: {free:.1f} GB free, {gb:.1f} GB needed")
    root = Path(tempfile.mkdtemp(prefix="prodml-ooc-", dir=args.dir))
    try:
        ref, cur = root / "reference.parquet", root / "current.parquet"
        start = time.perf_counter()
        generate(ref, rows, args.seed, current=False)
        generate(cur, rows, args.seed + 1, current=True)
        size = (ref.stat().st_size + cur.stat().st_size) / 1e9
        print(
            f"O1 pair: 2 x {rows:,} rows, {len(NUMERIC) + len(INTS)} numeric + {len(CATS)} "
            f"categorical columns, {size:.2f} GB on disk (generated in "
            f"{time.perf_counter() - start:.0f} s); machine: {os.cpu_count()} cores"
        )
        mine = _spawn("prodml", ref, cur)
        if mine is not None:
            verdict = "met" if mine["peak_mb"] < TARGET_MB else "MISSED"
            print(
                f"prodml DriftDetector on bounded pyarrow batches: {mine['seconds']:.1f} s, "
                f"peak RSS {mine['peak_mb']:.0f} MB (target < {TARGET_MB} MB: {verdict}); "
                f"peak RSS / data size = {mine['peak_mb'] / (size * 1e3):.3f}"
            )
            print(f"  drifted: {mine['drifted']} (planted: {sorted(DRIFTED)})")
        if not args.skip_defaults:
            for which, what in (
                ("prodml-dataset", "ds.dataset(file)"),
                ("prodml-parquetfile", "pq.ParquetFile(file)"),
                ("prodml-directory", "ds.dataset(directory)"),
            ):
                dflt = _spawn(which, ref, cur)
                if dflt is not None:
                    verdict = "met" if dflt["peak_mb"] < TARGET_MB else "MISSED"
                    print(
                        f"prodml DriftDetector on {what} (passed directly): "
                        f"{dflt['seconds']:.1f} s, peak RSS {dflt['peak_mb']:.0f} MB (target < "
                        f"{TARGET_MB} MB: {verdict}); drifted: {dflt['drifted']}"
                    )
        if size > args.naive_max_gb:
            print(
                f"naive pandas + scipy: skipped above --naive-max-gb {args.naive_max_gb} "
                f"(it holds both tables in memory: > {size:.1f} GB)"
            )
            return
        naive = _spawn("naive", ref, cur)
        if naive is not None and mine is not None:
            print(
                f"naive pandas.read_parquet + scipy: {naive['seconds']:.1f} s, peak RSS "
                f"{naive['peak_mb']:.0f} MB; drifted: {naive['drifted']}"
            )
            print(
                f"peak memory ratio: prodml uses {naive['peak_mb'] / mine['peak_mb']:.1f}x "
                "less RSS than naive pandas + scipy"
            )
            speed = naive["seconds"] / mine["seconds"]
            word = "faster" if speed >= 1 else "slower"
            ratio = speed if speed >= 1 else 1 / speed
            print(f"prodml is {ratio:.1f}x {word} than naive pandas + scipy")
            print(f"same drifted columns: {mine['drifted'] == naive['drifted']}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
