"""``prodml schema FOLDER`` on a folder of Parquet files, against what a user does without it.

What: the schema and a column profile (type, time zone, nullability, personal data) of a
folder of Parquet files that pandas 3 wrote (``DataFrame.to_parquet``; text columns read
back as Arrow-backed ``str``, as users get them). ``--files`` files (default 8; 4 with
``--quick``) of ``--rows`` rows each (default 1,000,000; 200,000), row groups of 250,000
(50,000), columns: an int id, four floats with 10 % NaN, a city (30 values), a free-text
note with nulls, an e-mail address (personal data) and a UTC timestamp.

How: stop 40 made ``prodml schema FOLDER`` sample a folder (every footer, the first
64 MiB of row groups over the files, float columns scanned for NaN beyond the sample)
instead of reading it whole. Each round times, one after another in an order that
alternates between rounds:

- ``prodml``: ``prodml._schema_parquet.infer_parquet(folder, nullable="observed")``, the
  function behind ``prodml schema FOLDER`` (in this process, warm);
- ``arrow+pandas``: what a user would otherwise write for the same facts:
  ``pyarrow.dataset.dataset(folder).schema`` for the types, then a pandas read of the same
  sample (``dataset.head(rows)`` with the rows of the row groups prodml samples, then
  ``to_pandas()``), ``dtypes`` and ``isna().any()`` for nullability. It sees nullability
  in the sample only and finds no personal data;
- ``row groups``: the cheapest equivalent, for a user who knows which row groups to take:
  ``pq.ParquetFile(f).read_row_groups(ids).to_pandas()`` of exactly the row groups prodml
  reads, then the same profile (``Dataset.head`` reads ahead across files and costs more);
- ``pandas whole``: ``pd.read_parquet(folder)`` + ``dtypes`` + ``isna().any()`` (what
  ``prodml schema`` did before stop 40, and what many users do): one run per round;
- ``pandera``: ``pandera.infer_schema`` of the same sample read the same way, in its own
  virtualenv (pandera pins its own pandas), driven as a subprocess that times only its
  own calls (``--setup-pandera`` builds ``/work/benchvenv/pandera``). Great Expectations
  1.x has no schema inference (its profilers went in 1.0), so it is not run;
- the command line end to end, ``python -m prodml schema FOLDER`` against
  ``python -c`` of the arrow+pandas lines (new processes: imports included).

Each round gives one median per tool (of ``--reps`` calls, after a warm-up), in wall time
and in CPU time (the process's, all threads; a command's from its rusage), which a shared
machine disturbs less; the ratios printed are medians over the rounds of the per-round
ratios competitor / prodml (above 1: prodml is faster). The files are in the page cache
after the first read: the figures are CPU, not disk. The machine is shared: the load
average is printed with the figures.

Run::

    python benchmarks/bench_schema_folder.py --setup-pandera   # once
    python benchmarks/bench_schema_folder.py [--quick] [--rounds 5] [--reps 3]

Figures go to stdout and ``benchmarks/results/schema_folder.json``.
"""

# S603: the subprocesses run this script's own worker, prodml's CLI or a venv it built.
# ruff: noqa: S603

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "schema_folder.json"
PANDERA = Path(os.environ.get("PRODML_BENCH_PANDERA_VENV", "/work/benchvenv/pandera"))
SAMPLE_BYTES = 64 * 2**20  # prodml._schema_parquet.SAMPLE_BYTES, restated to stay a user

PANDAS_SNIPPET = """
import sys, pyarrow.dataset as pds
dataset = pds.dataset(sys.argv[1], format="parquet", partitioning="hive")
schema = dataset.schema
frame = dataset.head(int(sys.argv[2])).to_pandas()
profile = (frame.dtypes, frame.isna().any())
for field in schema:
    print(field.name, field.type, "nullable" if profile[1][field.name] else "not null")
"""

PANDERA_WORKER = r"""
import json, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd, pyarrow.dataset as pds
import pandera
import pandera.pandas as pa

folder, rows, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def once():
    c0, t0 = time.process_time(), time.perf_counter()
    frame = pds.dataset(folder, format="parquet", partitioning="hive").head(rows).to_pandas()
    t1 = time.perf_counter()
    schema = pa.infer_schema(frame)
    t2, c2 = time.perf_counter(), time.process_time()
    return t1 - t0, t2 - t1, c2 - c0, schema

once()
reads, infers, cpus = [], [], []
for _ in range(reps):
    r, i, c, schema = once()
    reads.append(r)
    infers.append(i)
    cpus.append(c)
print(json.dumps({
    "read_s": statistics.median(reads), "infer_s": statistics.median(infers),
    "total_s": statistics.median(a + b for a, b in zip(reads, infers)),
    "cpu_s": statistics.median(cpus),
    "pandera": pandera.__version__,
    "pandas": pd.__version__, "columns": len(schema.columns),
    "dtypes": {k: str(v.dtype) for k, v in schema.columns.items()},
}))
"""


def make_folder(root: Path, files: int, rows: int, group: int) -> Path:
    """``files`` Parquet files written by pandas, as a user's pipeline leaves them."""
    import numpy as np
    import pandas as pd

    folder = root / "events"
    folder.mkdir()
    rng = np.random.default_rng(0)
    cities = np.array([f"city_{i:02d}" for i in range(30)], dtype=object)
    for f in range(files):
        n0 = f * rows
        floats = rng.normal(size=(rows, 4))
        floats[rng.random((rows, 4)) < 0.1] = np.nan
        note = rng.choice(
            np.array(["ok", "late", "refund asked", "gift", None], dtype=object), rows
        )
        users = rng.integers(0, 50_000, rows)
        frame = pd.DataFrame(
            {
                "id": np.arange(n0, n0 + rows, dtype=np.int64),
                **{f"x{i}": floats[:, i] for i in range(4)},
                "city": pd.array(cities[rng.integers(0, 30, rows)], dtype="str"),
                "note": pd.array(note, dtype="str"),
                "email": pd.array([f"user{u}@example.com" for u in users], dtype="str"),
                "ts": pd.to_datetime(n0 + np.arange(rows), unit="s", utc=True),
            }
        )
        frame.to_parquet(folder / f"part-{f:04d}.parquet", row_group_size=group, index=False)
    return folder


def sample_groups(folder: Path) -> dict[Path, list[int]]:
    """The row groups prodml samples, by file: the first, then up to 64 MiB more."""
    import pyarrow.parquet as pq

    total, groups = 0, {}
    for path in sorted(folder.glob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        for i in range(meta.num_row_groups):
            size = meta.row_group(i).total_byte_size
            if groups and total + size > SAMPLE_BYTES:
                return groups
            total += size
            groups.setdefault(path, []).append(i)
    return groups


def timeit(fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    """Median wall and CPU seconds (this process, all threads) of ``reps`` calls, warm."""
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def prodml_schema(folder: Path) -> Any:
    from prodml._schema_parquet import infer_parquet
    from prodml.privacy import PersonalDataWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PersonalDataWarning)
        return infer_parquet(folder, nullable="observed")


def arrow_pandas(folder: Path, rows: int) -> tuple[Any, Any, Any]:
    import pyarrow.dataset as pds

    dataset = pds.dataset(folder, format="parquet", partitioning="hive")
    frame = dataset.head(rows).to_pandas()
    return dataset.schema, frame.dtypes, frame.isna().any()


def row_groups_pandas(groups: dict[Path, list[int]]) -> tuple[Any, Any, Any]:
    """The exact row groups prodml reads, read file by file: the cheapest equivalent."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = [pq.ParquetFile(p).read_row_groups(ids).to_pandas() for p, ids in groups.items()]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return pq.read_schema(next(iter(groups))), frame.dtypes, frame.isna().any()


def pandas_whole(folder: Path) -> tuple[Any, Any]:
    import pandas as pd

    frame = pd.read_parquet(folder)
    return frame.dtypes, frame.isna().any()


def run_pandera(folder: Path, rows: int, reps: int) -> dict[str, Any] | None:
    python = PANDERA / "bin" / "python"
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", PANDERA_WORKER, str(folder), str(rows), str(reps)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"  pandera worker failed: {proc.stderr.strip()[-600:]}", flush=True)
        return None
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def cli_once(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, from the child's rusage) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def setup_pandera() -> int:
    subprocess.run([sys.executable, "-m", "venv", str(PANDERA)], check=True)
    pip = [str(PANDERA / "bin" / "pip"), "install", "--quiet"]
    subprocess.run([*pip, "pandera[pandas]", "pyarrow"], check=True)
    print(f"pandera virtualenv ready at {PANDERA}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 files of 200,000 rows")
    parser.add_argument("--files", type=int, default=None)
    parser.add_argument("--rows", type=int, default=None, help="rows per file")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--reps", type=int, default=3, help="timed calls per tool and round")
    parser.add_argument("--setup-pandera", action="store_true", help="build pandera's venv")
    args = parser.parse_args(argv)
    if args.setup_pandera:
        return setup_pandera()
    files = args.files or (4 if args.quick else 8)
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    rounds = args.rounds or (2 if args.quick else 5)
    group = 50_000 if args.quick else 250_000
    print(f"load average at start: {os.getloadavg()}", flush=True)
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="bench-schema-") as tmp:
        folder = make_folder(Path(tmp), files, rows, group)
        size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
        groups = sample_groups(folder)
        n_sample = sum(
            pq.ParquetFile(p).metadata.row_group(i).num_rows
            for p, ids in groups.items()
            for i in ids
        )
        print(
            f"{files} files x {rows:,} rows, {size / 2**20:.0f} MiB on disk; "
            f"prodml samples {n_sample:,} rows",
            flush=True,
        )
        schema = prodml_schema(folder)
        print("prodml: " + ", ".join(f"{c.name} {c.dtype.value}" for c in schema.columns))
        print(
            "  not null: " + ", ".join(c.name for c in schema.columns if not c.nullable),
            "| sensitive: " + ", ".join(c.name for c in schema.columns if c.sensitive),
        )
        _, dtypes, _ = arrow_pandas(folder, n_sample)
        print("pandas: " + ", ".join(f"{k} {v}" for k, v in dtypes.items()))
        cli = {
            "prodml": [sys.executable, "-m", "prodml", "schema", str(folder)],
            "arrow+pandas": [sys.executable, "-c", PANDAS_SNIPPET, str(folder), str(n_sample)],
        }
        per_round: list[dict[str, Any]] = []
        versions: dict[str, str] = {}
        for r in range(rounds):
            got: dict[str, Any] = {}
            order = ["prodml", "arrow+pandas"] if r % 2 == 0 else ["arrow+pandas", "prodml"]
            for tool in order:
                if tool == "prodml":
                    timed = timeit(lambda: prodml_schema(folder), args.reps)
                else:
                    timed = timeit(lambda: arrow_pandas(folder, n_sample), args.reps)
                got[tool], got[f"{tool} cpu"] = timed
            timed = timeit(lambda: row_groups_pandas(groups), args.reps)
            got["row groups"], got["row groups cpu"] = timed
            got["pandas whole"], got["pandas whole cpu"] = timeit(lambda: pandas_whole(folder), 1)
            theirs = run_pandera(folder, n_sample, args.reps)
            if theirs is not None:
                got["pandera"], got["pandera cpu"] = theirs["total_s"], theirs["cpu_s"]
                got["pandera infer only"] = theirs["infer_s"]
                versions = {"pandera": theirs["pandera"], "pandera_pandas": theirs["pandas"]}
            for tool in order:
                runs = [cli_once(cli[tool]) for _ in range(3)]
                got[f"cli {tool}"] = statistics.median(w for w, _ in runs)
                got[f"cli {tool} cpu"] = statistics.median(c for _, c in runs)
            got["load"] = os.getloadavg()[0]
            per_round.append(got)
            shown = ", ".join(f"{k} {v:.3f}" for k, v in got.items() if k != "load")
            print(f"round {r + 1} (s, load {got['load']:.1f}): {shown}", flush=True)
    if "pandera" not in per_round[0]:
        print(f"no pandera virtualenv at {PANDERA} (--setup-pandera): pandera not run")
    med = statistics.median
    rows_out = [
        ("arrow+pandas (same sample)", "arrow+pandas", "prodml"),
        ("pq row groups + pandas (same groups)", "row groups", "prodml"),
        ("pandas whole folder", "pandas whole", "prodml"),
        ("pandera infer_schema (same sample)", "pandera", "prodml"),
        ("cli: python -c arrow+pandas", "cli arrow+pandas", "cli prodml"),
    ]
    print(
        f"\nschema of {files} x {rows:,} rows: seconds (median of {rounds} rounds) and ratios "
        "theirs/prodml (medians of the per-round ratios; above 1x prodml is faster)"
    )
    print(f"{'competitor':<36}{'prodml':>9}{'theirs':>9}{'wall ratio':>12}{'CPU ratio':>11}")
    summary: dict[str, Any] = {}
    for label, theirs_key, ours_key in rows_out:
        if theirs_key not in per_round[0]:
            continue
        ours_s = med(g[ours_key] for g in per_round)
        theirs_s = med(g[theirs_key] for g in per_round)
        ratio = med(g[theirs_key] / g[ours_key] for g in per_round)
        cpu = med(g[f"{theirs_key} cpu"] / g[f"{ours_key} cpu"] for g in per_round)
        summary[theirs_key] = {
            "prodml_s": ours_s,
            "theirs_s": theirs_s,
            "wall_ratio": ratio,
            "cpu_ratio": cpu,
        }
        print(f"{label:<36}{ours_s:>9.3f}{theirs_s:>9.3f}{ratio:>11.2f}x{cpu:>10.2f}x")
    loads = [g["load"] for g in per_round]
    print(f"load average (1 min) over the rounds: {min(loads):.1f}-{max(loads):.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "files": files,
        "rows_per_file": rows,
        "sample_rows": n_sample,
        "bytes_on_disk": size,
        "rounds": per_round,
        "summary": summary,
        "versions": versions,
        "cores": os.cpu_count(),
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
