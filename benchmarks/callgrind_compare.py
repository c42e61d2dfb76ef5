"""Instruction counts of prodml's hot paths at two (or more) source trees, by callgrind.

Wall time on a shared machine moves by 2-3x between runs; the instructions a call executes
do not depend on the load. This script runs one process per tree under
``valgrind --tool=callgrind``, with ``PYTHONPATH=<tree>/src``, ``PYTHONHASHSEED=0`` and one
BLAS thread. In that process each workload builds its data, warms up (caches, Python's
specialising interpreter, first-call imports), then runs ``n`` calls with garbage
collection off. ``os.getppid()`` marks the start and the end of the calls and valgrind runs
with ``--dump-before=getppid``, so one dump holds exactly the calls (the loop included);
the figure is that dump's instructions divided by ``n``, minus an empty loop's cost.

Typical use, against an older commit checked out as a separate worktree::

    git worktree add --detach /work/wt/perf35-old 3505226
    python benchmarks/callgrind_compare.py --tree old=/work/wt/perf35-old --tree new=.
    git worktree remove /work/wt/perf35-old

``--only NAME ...`` runs some workloads (``--list`` names them), ``--jobs 2`` runs the trees
in parallel (the counts are per process, so parallel runs do not disturb them), ``--json``
keeps every figure, ``PRODML_CG_KEEP=<folder>`` keeps the callgrind dumps there (for
``callgrind_annotate``). PostgreSQL workloads run when ``PRODML_TEST_POSTGRES_URL`` is set. A
workload the older tree cannot run (a missing API) is reported as an error, not counted.
Workloads are small (callgrind runs Python about 50x slower) but keep the shape of the
benchmark each one stands for; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MARK = "getppid"  # libc's getppid, called by os.getppid(): callgrind dumps before each call

# --------------------------------------------------------------------------- data


def _frame(rows: int, *, tz: str | None = None, text: str = "object", seed: int = 0) -> Any:
    """Floats, an int, three low-cardinality text columns and a datetime column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {f"f{i}": rng.normal(i, 1 + i, rows) for i in range(5)}
    data["i0"] = rng.integers(0, 1000, rows)
    labels = np.array([f"cat_{k:02d}" for k in range(30)], dtype=object)
    for i in range(3):
        col = labels[rng.integers(0, 30, rows)]
        data[f"s{i}"] = pd.Series(col, dtype="str") if text == "str" else col
    start = pd.Timestamp("2024-01-01")
    t = start + pd.to_timedelta(rng.integers(0, 365 * 86_400, rows), unit="s")
    # DST gaps and repeats (none at 2,000 rows) resolved rather than raised
    data["t"] = t.tz_localize(tz, nonexistent="shift_forward", ambiguous=False) if tz else t
    if text == "category":
        for i in range(3):
            data[f"s{i}"] = pd.Categorical(data[f"s{i}"])
    return pd.DataFrame(data)


def _records(frame: Any) -> list[dict[str, Any]]:
    return list(frame.astype(object).where(frame.notna(), None).to_dict("records"))


# ---------------------------------------------------------------------- workloads
# Each returns (call, n, warm): call(i) is one call of the workload.

Setup = Callable[[Path], tuple[Callable[[int], object], int, int]]
WORKLOADS: dict[str, tuple[str, Setup]] = {}


def workload(name: str, doc: str) -> Callable[[Setup], Setup]:
    def deco(fn: Setup) -> Setup:
        WORKLOADS[name] = (doc, fn)
        return fn

    return deco


@workload("loop", "an empty call: subtracted from every other figure")
def _loop(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    return (lambda i: None), 1000, 10


def _validate_frame(tz: str | None, text: str, arrow: bool = False) -> Setup:
    def setup(tmp: Path) -> tuple[Callable[[int], object], int, int]:
        import pyarrow as pa

        from prodml.schema import Schema

        df = _frame(2000, tz=tz, text=text)
        schema = Schema.infer(df)
        data = pa.Table.from_pandas(df, preserve_index=False) if arrow else df
        return (lambda i: schema.validate(data)), 10, 2

    return setup


for _name, _tz, _text, _arrow in (
    ("validate frame naive", None, "object", False),
    ("validate frame tz-aware", "Europe/Paris", "object", False),
    ("validate frame str", None, "str", False),
    ("validate arrow table", None, "str", True),
):
    workload(_name, f"Schema.validate, 2,000 rows: {_name[9:]}")(
        _validate_frame(_tz, _text, _arrow)
    )


@workload("validate W1 wide", "Schema.validate of W1, 200 columns x 500 rows (bench_wide)")
def _validate_wide(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    sys.path.insert(0, str(HERE))
    from bench_wide import make_w1

    from prodml.schema import Schema

    df = make_w1(200, rows=500)
    schema = Schema.infer(df)
    return (lambda i: schema.validate(df)), 3, 1


@workload("validate F1 chunk arrow", "Schema.validate of a 20,000-row F1 Arrow table (score)")
def _validate_f1_arrow(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    import pyarrow as pa

    sys.path.insert(0, str(HERE))
    from bench_features import make_f1

    from prodml.schema import Schema

    df = make_f1(20_000, seed=6)
    schema = Schema.infer(df)
    table = pa.Table.from_pandas(df, preserve_index=False)
    return (lambda i: schema.validate(table)), 3, 1


def _validate_record(tz: str | None) -> Setup:
    def setup(tmp: Path) -> tuple[Callable[[int], object], int, int]:
        from prodml.schema import Schema

        df = _frame(500, tz=tz)
        schema = Schema.infer(df)
        recs = _records(df)
        return (lambda i: schema.validate(recs[i])), 500, 200

    return setup


workload("validate record naive", "Schema.validate of one dict record")(_validate_record(None))
workload("validate record tz-aware", "the same, the datetime zoned")(
    _validate_record("Europe/Paris")
)


def _f1_served(compiled: bool, monitor: bool) -> tuple[Any, list[dict[str, Any]]]:
    sys.path.insert(0, str(HERE))
    from bench_features import make_f1, prodml_pipeline
    from sklearn.linear_model import LogisticRegression

    from prodml.monitoring import ModelMonitor
    from prodml.serving import Predictor

    train = make_f1(2000, seed=1)
    pipe = prodml_pipeline().fit(train)
    y = (train["f0"].fillna(0) > train["f0"].median()).astype(int)
    est = LogisticRegression(max_iter=200).fit(pipe.transform(train), y)
    mon = ModelMonitor("f1", max_pending=100_000, evaluate_every_s=None) if monitor else None
    pred = Predictor(pipe, est, name="f1", version=1, monitor=mon, compiled=compiled)
    return pred, _records(make_f1(500, seed=11))


@workload("predict_record", "Predictor.predict_record, F1, monitor on, compiled=False")
def _predict(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    pred, recs = _f1_served(False, True)
    return (lambda i: pred.predict_record(recs[i])), 300, 200


@workload("predict_record compiled", "the same, compiled=True, no monitor")
def _predict_compiled(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    pred, recs = _f1_served(True, False)
    return (lambda i: pred.predict_record(recs[i])), 300, 200


@workload("serving check + features", "the served variant's compiled check and features")
def _served_features(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    pred, recs = _f1_served(False, False)
    served = pred.variants["default"]
    return (lambda i: served.features(recs[i])), 300, 200


@workload("predict_record tz-aware", "float + Europe/Paris datetime record, as 2026-12-04")
def _predict_zoned(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from prodml.features import FeaturePipeline, steps
    from prodml.serving import Predictor

    rng = np.random.default_rng(0)
    t = pd.Timestamp("2024-01-01", tz="Europe/Paris") + pd.to_timedelta(
        rng.integers(0, 86_400 * 30, 500), unit="s"
    )
    df = pd.DataFrame({"x": rng.normal(size=500), "t": t})
    pipe = FeaturePipeline([steps.StandardScale(["x"]), steps.DateParts(["t"], parts=["hour"])])
    pipe.fit(df)
    est = LogisticRegression().fit(pipe.transform(df), rng.integers(0, 2, 500))
    pred = Predictor(pipe, est, name="z", version=1, compiled=False)
    recs = _records(df)
    return (lambda i: pred.predict_record(recs[i])), 200, 100


def _w1_unfitted() -> tuple[Any, Callable[[], Any]]:
    """W1 at 200 columns x 500 rows, and a maker of its unfitted pipeline (bench_wide)."""
    sys.path.insert(0, str(HERE))
    from bench_wide import make_w1

    from prodml.features import FeaturePipeline, steps

    df = make_w1(200, rows=500)
    floats = [c for c in df.columns if c.startswith("f")]
    strings = [c for c in df.columns if c.startswith("s")]
    return df, lambda: FeaturePipeline([steps.StandardScale(floats), steps.OneHot(strings)])


@workload("transform wide str", "FeaturePipeline.transform, W1 at 200 columns x 500 rows")
def _wide(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    df, pipeline = _w1_unfitted()
    pipe = pipeline().fit(df)
    return (lambda i: pipe.transform(df)), 3, 1


@workload("fit wide str", "FeaturePipeline.fit, W1 at 200 columns x 500 rows")
def _wide_fit(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    df, pipeline = _w1_unfitted()
    return (lambda i: pipeline().fit(df)), 3, 1


@workload("transform F1", "FeaturePipeline.transform, F1 at 5,000 rows")
def _f1_transform(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    sys.path.insert(0, str(HERE))
    from bench_features import make_f1, prodml_pipeline

    df = make_f1(5000, seed=2)
    pipe = prodml_pipeline().fit(df)
    return (lambda i: pipe.transform(df)), 3, 1


def _drift(text: str, part: str) -> Setup:
    def setup(tmp: Path) -> tuple[Callable[[int], object], int, int]:
        from prodml.drift import DriftDetector

        ref = _frame(20_000, text=text, seed=3)
        cur = _frame(20_000, text=text, seed=4)
        if text == "numeric":
            ref = ref[[f"f{i}" for i in range(5)] + ["i0"]]
            cur = cur[list(ref.columns)]
        else:
            ref = ref[["s0", "s1", "s2"]]
            cur = cur[list(ref.columns)]
        if part == "fit":
            return (lambda i: DriftDetector().fit(ref)), 2, 1
        det = DriftDetector().fit(ref)
        return (lambda i: det.detect(cur)), 2, 1

    return setup


for _text in ("numeric", "object", "category", "str"):
    for _part in ("fit", "detect"):
        workload(f"drift {_part} {_text}", f"DriftDetector {_part}, 20,000 rows, {_text} columns")(
            _drift(_text, _part)
        )


@workload("log_prediction", "ModelMonitor.log_prediction of an F1 record")
def _log(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    sys.path.insert(0, str(HERE))
    from bench_features import make_f1

    from prodml.monitoring import ModelMonitor

    recs = _records(make_f1(2000, seed=5))
    mon = ModelMonitor("m", max_pending=100_000, evaluate_every_s=None)

    def call(i: int) -> None:
        mon.log_prediction(i, recs[i], 0.5, latency_s=1e-4, timestamp=1.7e9 + i)

    for i in range(1000, 2000):  # warm on other ids than the counted ones
        mon.log_prediction(i + 10**6, recs[i], 0.5, latency_s=1e-4, timestamp=1.7e9)
    return call, 1000, 0


def _small_model() -> Any:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    return LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))


def _registry(tmp: Path, url: str | None) -> Any:
    from prodml.registry import ModelRegistry

    if url is None:
        return ModelRegistry.local(tmp / "registry", actor="bench")
    return ModelRegistry(url, f"file://{tmp / 'artifacts'}", actor="bench")


@workload("registry register sqlite", "ModelRegistry.local: register a small sklearn model")
def _reg_register(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    reg, model = _registry(tmp, None), _small_model()
    return (lambda i: reg.register("m", model, environment=False)), 4, 2


@workload("registry load sqlite", "ModelRegistry.local: load 'm@1'")
def _reg_load(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    reg, model = _registry(tmp, None), _small_model()
    reg.register("m", model, environment=False)
    return (lambda i: reg.load("m@1")), 10, 3


def _pg_url() -> str | None:
    return os.environ.get("PRODML_TEST_POSTGRES_URL")


def _pg_clean(url: str, schema: str) -> str:
    """A fresh PostgreSQL schema for the registry (its own tables, nobody else's)."""
    import sqlalchemy as sa

    eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.begin() as con:
        con.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        con.execute(sa.text(f"CREATE SCHEMA {schema}"))
    eng.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@workload("registry load postgresql", "ModelRegistry on PostgreSQL: load 'm@1'")
def _reg_load_pg(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    url = _pg_url()
    if url is None:
        raise RuntimeError("PRODML_TEST_POSTGRES_URL not set")
    reg = _registry(tmp, _pg_clean(url, f"perf_cg_{os.getpid()}"))
    reg.register("m", _small_model(), environment=False)
    return (lambda i: reg.load("m@1")), 10, 3


def _online(url: str, tmp: Path, part: str) -> tuple[Callable[[int], object], int, int]:
    from prodml.store.backends import online_store_for
    from prodml.store.online import OnlineRecord

    store = online_store_for(url)
    view = f"perfcg{os.getpid()}"
    payload = json.dumps([1.5, 2.5, "abc", None, 7])

    def batch(i: int) -> list[Any]:
        return [OnlineRecord(f"k{j}", "v1", 10**15 + i, 10**15 + i, payload) for j in range(50)]

    for i in range(3):
        store.write(view, batch(i))
    if part == "write":
        return (lambda i: store.write(view, batch(i + 10))), 20, 0
    pairs = [(view, f"k{j}") for j in range(3)]
    return (lambda i: store.read(pairs)), 200, 50


@workload("online write sqlite", "SQLite online store: write 50 newer records")
def _ow_sqlite(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    return _online(f"sqlite:///{tmp / 'online.db'}", tmp, "write")


@workload("online read sqlite", "SQLite online store: read 3 (view, key) pairs")
def _or_sqlite(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    return _online(f"sqlite:///{tmp / 'online2.db'}", tmp, "read")


@workload("online write postgresql", "PostgreSQL online store: write 50 newer records")
def _ow_pg(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    url = _pg_url()
    if url is None:
        raise RuntimeError("PRODML_TEST_POSTGRES_URL not set")
    return _online(url, tmp, "write")


@workload("online read postgresql", "PostgreSQL online store: read 3 (view, key) pairs")
def _or_pg(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    url = _pg_url()
    if url is None:
        raise RuntimeError("PRODML_TEST_POSTGRES_URL not set")
    return _online(url, tmp, "read")


@workload("lineage JsonLinesSink.emit", "append one OpenLineage event to a JSON-lines file")
def _sink(tmp: Path) -> tuple[Callable[[int], object], int, int]:
    from prodml.lineage import JsonLinesSink, run_event

    sink = JsonLinesSink(tmp / "events.jsonl")
    event = run_event("COMPLETE", job="j", run_id="0191e4a6-0000-7000-8000-000000000000")
    return (lambda i: sink.emit(event)), 200, 20


# ------------------------------------------------------------------------- worker


def worker(names: list[str], out: Path) -> None:
    """Runs under valgrind: two marks per workload, the second ends its counted calls."""
    import warnings

    warnings.simplefilter("ignore")
    import prodml

    result: dict[str, Any] = {"prodml": prodml.__file__, "workloads": []}
    for name in names:
        entry: dict[str, Any] = {"name": name}
        with tempfile.TemporaryDirectory(prefix="prodml-cg-") as d:
            call: Callable[[int], object] | None = None
            try:
                call, n, warm = WORKLOADS[name][1](Path(d))
                for i in range(warm):
                    call(i % n)
            except Exception as err:  # noqa: BLE001 - an old tree may lack an API
                entry["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
                call, n = None, 0
            gc.collect()
            gc.disable()
            os.getppid()  # dump: setup and warm-up
            if call is not None:
                try:
                    for i in range(n):
                        call(i)
                except Exception as err:  # noqa: BLE001
                    entry["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
            os.getppid()  # dump: the n calls
            gc.enable()
            entry["n"] = n
            result["workloads"].append(entry)
    out.write_text(json.dumps(result))


# ------------------------------------------------------------------------- driver


def run_tree(label: str, tree: Path, names: list[str], work: Path) -> dict[str, Any]:
    """One valgrind process for ``tree``: instructions per call of each workload."""
    out = work / f"cg-{label}.out"
    res_file = work / f"cg-{label}.json"
    env = {
        **os.environ,
        "PYTHONPATH": f"{tree / 'src'}",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PRODML_NO_JIT": "1",
    }
    cmd = [
        "valgrind",
        "--tool=callgrind",
        f"--dump-before={MARK}",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(res_file),
        "--only",
        *names,
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if proc.returncode != 0 or not res_file.exists():
        raise SystemExit(f"{label}: worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(res_file.read_text())
    dumps = sorted(work.glob(f"cg-{label}.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    if len(dumps) != 2 * len(names):
        raise SystemExit(f"{label}: {len(dumps)} dumps for {len(names)} workloads")
    for i, entry in enumerate(result["workloads"]):
        text = dumps[2 * i + 1].read_text()
        m = re.search(r"^totals: (\d+)", text, re.M) or re.search(r"^summary: (\d+)", text, re.M)
        assert m is not None
        entry["instructions"] = int(m.group(1))
    result["seconds"] = time.perf_counter() - t0
    for p in work.glob(f"cg-{label}.out*"):
        keep = os.environ.get("PRODML_CG_KEEP")
        if keep:
            shutil.move(str(p), os.path.join(keep, p.name))
        else:
            p.unlink()
    return result


def per_call(result: dict[str, Any]) -> dict[str, float | str]:
    rows = {e["name"]: e for e in result["workloads"]}
    loop = rows.get("loop")
    base = loop["instructions"] / loop["n"] if loop and loop["n"] else 0.0
    out: dict[str, float | str] = {}
    for name, e in rows.items():
        if name == "loop":
            continue
        if "error" in e or not e["n"]:
            out[name] = e.get("error", "no calls")
        else:
            out[name] = e["instructions"] / e["n"] - base
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", action="append", default=[], help="LABEL=PATH of a source tree")
    ap.add_argument("--only", nargs="+", help="workload names (default: all)")
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--jobs", type=int, default=1, help="trees run in parallel")
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    names = args.only or list(WORKLOADS)
    if args.worker:
        worker(names, args.worker)
        return
    if args.list:
        for name, (doc, _) in WORKLOADS.items():
            print(f"{name:28s} {doc}")
        return
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workloads: {unknown} (see --list)")
    if "loop" not in names:
        names = ["loop", *names]
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found")
    trees = [t.split("=", 1) for t in args.tree] or [["here", str(HERE.parent)]]
    from concurrent.futures import ThreadPoolExecutor

    with (
        tempfile.TemporaryDirectory(prefix="prodml-cg-") as d,
        ThreadPoolExecutor(max(1, args.jobs)) as pool,
    ):
        futs = {
            label: pool.submit(run_tree, label, Path(path).resolve(), names, Path(d))
            for label, path in trees
        }
        results = {label: f.result() for label, f in futs.items()}
    labels = list(results)
    table = {label: per_call(r) for label, r in results.items()}
    head = "".join(f"{lab:>14s}" for lab in labels)
    ratio_head = f"{labels[-1]}/{labels[0]}" if len(labels) > 1 else ""
    print(f"{'instructions per call (k)':30s}{head}  {ratio_head}")
    for name in table[labels[0]]:
        cells, vals = "", []
        for lab in labels:
            v = table[lab].get(name)
            cells += f"{v / 1e3:14.1f}" if isinstance(v, float) else f"{'error':>14s}"
            vals.append(v)
        ratio = ""
        if len(vals) > 1 and all(isinstance(v, float) for v in (vals[0], vals[-1])):
            ratio = f"{vals[-1] / vals[0]:.3f}"  # type: ignore[operator]
        print(f"{name:30s}{cells}  {ratio}")
    for lab in labels:
        for name, v in table[lab].items():
            if isinstance(v, str):
                print(f"  {lab}: {name}: {v}")
        print(f"  {lab}: {results[lab]['prodml']} ({results[lab]['seconds']:.0f} s under valgrind)")
    if args.json:
        args.json.write_text(json.dumps({"per_call": table, "raw": results}, indent=1))


if __name__ == "__main__":
    main()
