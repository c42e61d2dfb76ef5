"""Model registry: prodml vs MLflow, both on SQLite metadata and local artifact files.

Part 1, at ``--versions`` versions of one model (200; 40 with ``--quick``):

- register a small scikit-learn model (prodml ``register`` vs MLflow ``log_model`` with
  ``registered_model_name`` and ``pip_requirements`` given, so MLflow does not spend seconds
  inferring requirements; MLflow's metadata-only ``create_model_version`` is shown too);
- resolve an alias (``get("m@production")`` vs ``get_model_version_by_alias``);
- tag search over every version;
- load by alias (prodml verifies every file's sha256 first) vs MLflow ``load_model``, and
  vs the raw deserialisation of the same file (skops, or joblib without skops).

Part 2, scale: the same model with 200, 10,000 and 100,000 versions (``--quick``: 200 and
2,000), each version tagged ``i_mod`` (10 values) and ``run`` (unique), 5 of them deleted:

- a selective tag search (``tags={"run": ...}``: one hit) vs ``search_model_versions``
  with ``tags.run = ...``;
- a page of 50 versions, first and from the middle (keyset token vs MLflow's offset
  token);
- ``history`` (the newest 100 audit events) and ``gc(dry_run=True)``: MLflow has no audit
  log and no garbage collection of model versions, so those rows show prodml alone.

Seeding: the versions are bulk-inserted through each store's own schema (prodml's
``prodml_*`` tables, MLflow's ``model_versions`` and ``model_version_tags``, copying a row
each tool wrote itself), in one transaction, because registering 100,000 versions one by
one takes hours with MLflow. Every timed call then goes through the public API.

MLflow pins older numpy, pandas and pyarrow than prodml, so it runs in its own
virtualenv, driven as a subprocess of this script (``--mlflow-worker``). Build it once::

    python benchmarks/bench_registry.py --setup-mlflow
    # = python3 -m venv /work/benchvenv/mlflow
    #   /work/benchvenv/mlflow/bin/pip install mlflow scikit-learn

and point elsewhere with ``--mlflow-python`` or ``$PRODML_BENCH_MLFLOW_PYTHON``.

Usage: ``python benchmarks/bench_registry.py [--quick] [--versions N] [--reps N]``.
Figures go to stdout and ``benchmarks/results/registry.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "registry.json"
MLFLOW_PYTHON = os.environ.get("PRODML_BENCH_MLFLOW_PYTHON", "/work/benchvenv/mlflow/bin/python")
DELETED = 5
SCALE = ["tag_search_selective", "search_page", "search_page_deep", "history", "gc_dry_run"]


def timeit(fn: Callable[[], Any], reps: int, warmup: int = 2) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def small_model() -> Any:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    return LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))


# ------------------------------------------------------------------------------ prodml


def bench_prodml(root: Path, model: Any, versions: int, reps: int) -> dict[str, float]:
    from prodml.registry import ModelRegistry

    reg = ModelRegistry.local(root / "prodml", actor="bench")
    out: dict[str, float] = {}
    counter = iter(range(10**9))
    out["register"] = timeit(
        lambda: reg.register("bench", model, tags={"i_mod": str(next(counter) % 10)}), reps
    )
    registered = reg.search("bench", page_size=1).items[0].version
    for i in range(registered, versions):
        reg.register("bench", model, tags={"i_mod": str(i % 10)})
    reg.set_alias("bench", "production", 1)
    out["alias_lookup"] = timeit(lambda: reg.get("bench@production"), reps * 4)
    out["tag_search"] = timeit(
        lambda: reg.search("bench", tags={"i_mod": "3"}, page_size=versions), reps
    )
    out["load_by_alias"] = timeit(lambda: reg.load("bench@production"), reps)
    mv = reg.get("bench@production")
    path = root / "prodml" / "artifacts" / mv.artifact_key / next(iter(mv.files))
    if mv.flavour_meta.get("format") == "skops":
        import skops.io as sio

        out["raw_deserialise"] = timeit(lambda: sio.load(path, trusted=[]), reps)
    else:
        import joblib

        out["raw_deserialise"] = timeit(lambda: joblib.load(path), reps)
    hits = len(reg.search("bench", tags={"i_mod": "3"}, page_size=versions))
    out["search_hits"] = float(hits)
    reg.close()
    return out


def seed_prodml(root: Path, n: int) -> tuple[Any, float]:
    """A local registry holding ``n`` versions of ``bench``, bulk-inserted; and the seconds."""
    from prodml.registry import ModelRegistry
    from prodml.schema import Column, Schema

    reg = ModelRegistry.local(root, actor="bench")
    first = reg.register("bench", Schema([Column("x", "float")]), tags=_tags(1), metrics=_auc(1))
    started = time.perf_counter()
    base = first.model_dump(mode="json")
    at = base["created_at"]
    versions, tags, metrics, events = [], [], [], []
    for i in range(2, n + 1):
        record = dict(base, version=i, tags=_tags(i), metrics=_auc(i))
        versions.append(("bench", i, "ready", first.artifact_key, json.dumps(record)))
        tags += [("bench", i, k, v) for k, v in _tags(i).items()]
        metrics.append(("bench", i, "auc", _auc(i)["auc"]))
        events.append(("bench", "register", i, None, None, "bench", at, "{}"))
    dead = [(f"bench/{i:013d}-{i:032x}", i) for i in range(n - DELETED + 1, n + 1)]
    raw = reg.metadata._engine.raw_connection()  # type: ignore[attr-defined]
    try:
        cur = raw.cursor()
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany("INSERT INTO prodml_versions VALUES (?, ?, ?, ?, ?)", versions)
        cur.executemany("INSERT INTO prodml_tags VALUES (?, ?, ?, ?)", tags)
        cur.executemany("INSERT INTO prodml_metrics VALUES (?, ?, ?, ?)", metrics)
        cur.executemany(
            "INSERT INTO prodml_events (name, action, version, alias, previous_version, actor,"
            " at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        cur.executemany(
            "UPDATE prodml_versions SET status = 'deleted', artifact_key = ? "
            "WHERE name = 'bench' AND version = ?",
            dead,
        )
        cur.executemany(
            "INSERT INTO prodml_pending VALUES (?, 'bench', 'deleted', 0.0)",
            [(key,) for key, _ in dead],
        )
        cur.execute("COMMIT")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as a registry grown over time
    finally:
        raw.close()
    return reg, time.perf_counter() - started


def _tags(i: int) -> dict[str, str]:
    return {"i_mod": str(i % 10), "run": f"r{i}"}


def _auc(i: int) -> dict[str, float]:
    return {"auc": (i % 1000) / 1000}


def scale_prodml(
    root: Path, sizes: list[int], reps: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    """Per size and workload, one median per round; rounds interleave the sizes."""
    regs, out = {}, {}
    for n in sizes:
        regs[n], seconds = seed_prodml(root / f"prodml-{n}", n)
        out[str(n)] = {"seed_seconds": [seconds]}
    for _ in range(rounds):
        for n in sizes:
            for row, ms in _time_prodml(regs[n], n, reps).items():
                out[str(n)].setdefault(row, []).append(ms)
    for reg in regs.values():
        reg.close()
    return out


def _time_prodml(reg: Any, n: int, reps: int) -> dict[str, float]:
    run, middle = {"run": f"r{n // 2}"}, f"bench@{n // 2}"
    assert len(reg.search("bench", tags=run)) == 1
    assert len(reg.gc(dry_run=True).deleted_versions) == DELETED
    assert [mv.version for mv in reg.search("bench", page_token=middle, page_size=2)] == [
        n // 2 - 1,
        n // 2 - 2,
    ]
    return {
        "tag_search_selective": timeit(lambda: reg.search("bench", tags=run), reps),
        "search_page": timeit(lambda: reg.search("bench", page_size=50), reps),
        "search_page_deep": timeit(
            lambda: reg.search("bench", page_size=50, page_token=middle), reps
        ),
        "history": timeit(lambda: reg.history("bench"), reps),
        "gc_dry_run": timeit(lambda: reg.gc(dry_run=True), reps),
    }


# ------------------------------------------------------------------------------ MLflow


def mlflow_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Everything MLflow does, run inside MLflow's own virtualenv."""
    import logging
    import warnings

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    import mlflow

    root = Path(spec["root"])
    out: dict[str, Any] = {"version": mlflow.__version__}
    out["base"] = _mlflow_base(root, spec["versions"], spec["reps"])
    clients = {n: _mlflow_seed(root, n) for n in spec["sizes"]}
    scale: dict[str, dict[str, list[float]]] = {
        str(n): {"seed_seconds": [seconds]} for n, (_, seconds) in clients.items()
    }
    for _ in range(spec["rounds"]):
        for n, (client, _) in clients.items():
            for row, ms in _mlflow_time(client, n, spec["reps"]).items():
                scale[str(n)].setdefault(row, []).append(ms)
    out["scale"] = scale
    return out


def _mlflow_base(root: Path, versions: int, reps: int) -> dict[str, float]:
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    model = small_model()
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    os.chdir(root)
    mlflow.set_experiment("bench")
    client = MlflowClient()
    out: dict[str, float] = {}
    counter = iter(range(10**9))
    sources: list[str] = []

    def log_and_register() -> None:
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name="bench",
                pip_requirements=["scikit-learn"],
            )
            sources.append(info.model_uri)
            client.set_model_version_tag(
                "bench", str(info.registered_model_version), "i_mod", str(next(counter) % 10)
            )

    out["register"] = timeit(log_and_register, reps)
    run_id = mlflow.search_runs(output_format="list")[0].info.run_id
    out["register_metadata_only"] = timeit(
        lambda: client.create_model_version(
            "bench", sources[0], run_id=run_id, tags={"i_mod": str(next(counter) % 10)}
        ),
        reps,
    )
    existing = len(client.search_model_versions("name='bench'", max_results=10_000))
    for i in range(existing, versions):
        client.create_model_version("bench", sources[0], run_id=run_id, tags={"i_mod": str(i % 10)})
    client.set_registered_model_alias("bench", "production", "1")
    out["alias_lookup"] = timeit(
        lambda: client.get_model_version_by_alias("bench", "production"), reps * 4
    )
    out["tag_search"] = timeit(
        lambda: client.search_model_versions(
            "name='bench' and tags.i_mod='3'", max_results=versions
        ),
        reps,
    )
    out["load_by_alias"] = timeit(
        lambda: mlflow.sklearn.load_model("models:/bench@production"), reps
    )
    return out


def _mlflow_seed(root: Path, n: int) -> tuple[Any, float]:
    import mlflow
    import sqlalchemy as sa
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / f'mlflow-{n}.db'}"
    mlflow.set_registry_uri(uri)
    client = MlflowClient(registry_uri=uri)
    client.create_registered_model("bench")
    client.create_model_version("bench", f"file://{root}/src", tags=_tags(1))
    started = time.perf_counter()
    engine = sa.create_engine(uri)
    with engine.connect() as conn:
        first = dict(conn.exec_driver_sql("SELECT * FROM model_versions").mappings().one())
        tag_row = dict(conn.exec_driver_sql("SELECT * FROM model_version_tags").mappings().first())
    rows, tags = [], []
    for i in range(2, n + 1):
        rows.append({**first, "version": i, "creation_time": first["creation_time"] + i})
        tags += [{**tag_row, "version": i, "key": k, "value": v} for k, v in _tags(i).items()]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cols = list(first)
        cur.executemany(  # column names read from MLflow's own table, not from input
            f"INSERT INTO model_versions ({', '.join(cols)}) VALUES "  # noqa: S608
            f"({', '.join('?' for _ in cols)})",
            [tuple(r[c] for c in cols) for r in rows],
        )
        tcols = list(tag_row)
        cur.executemany(
            f"INSERT INTO model_version_tags ({', '.join(tcols)}) VALUES "  # noqa: S608
            f"({', '.join('?' for _ in tcols)})",
            [tuple(t[c] for c in tcols) for t in tags],
        )
        raw.commit()
    finally:
        raw.close()
    seconds = time.perf_counter() - started
    hits = client.search_model_versions(f"name='bench' and tags.run='r{n // 2}'")
    assert len(hits) == 1, len(hits)
    return client, seconds


def _mlflow_time(client: Any, n: int, reps: int) -> dict[str, float]:
    from mlflow.utils.search_utils import SearchUtils

    middle = SearchUtils.create_page_token(n // 2)
    run = f"name='bench' and tags.run='r{n // 2}'"
    return {
        "tag_search_selective": timeit(
            lambda: client.search_model_versions(run, max_results=50), reps
        ),
        "search_page": timeit(
            lambda: client.search_model_versions("name='bench'", max_results=50), reps
        ),
        "search_page_deep": timeit(
            lambda: client.search_model_versions("name='bench'", max_results=50, page_token=middle),
            reps,
        ),
    }


def run_mlflow(python: str, spec: dict[str, Any]) -> dict[str, Any] | None:
    if not Path(python).exists():
        print(f"no MLflow virtualenv at {python}: run --setup-mlflow first. Skipping MLflow.")
        return None
    cmd = [python, __file__, "--mlflow-worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        print(f"MLflow worker failed:\n{proc.stderr[-3000:]}")
        return None
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def setup_mlflow(python: str) -> int:
    venv = Path(python).parent.parent
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    pip = [str(venv / "bin" / "pip"), "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)  # noqa: S603
    subprocess.run([*pip, "mlflow", "scikit-learn"], check=True)  # noqa: S603
    print(f"MLflow virtualenv ready at {venv}")
    return 0


# ------------------------------------------------------------------------------ report


def report(
    ours: dict[str, float],
    scale: dict[str, dict[str, list[float]]],
    theirs: dict[str, Any] | None,
    versions: int,
    reps: int,
) -> None:
    base = theirs["base"] if theirs else {}
    print(f"\nmodel registry, {versions} versions, median of {reps} reps (ms)")
    print(f"{'workload':<26}{'prodml':>10}{'mlflow':>10}{'mlflow/prodml':>15}")
    for row in ["register", "alias_lookup", "tag_search", "load_by_alias"]:
        other = base.get(row)
        ratio = f"{other / ours[row]:.1f}x" if other else "-"
        shown = f"{other:.2f}" if other else "-"
        print(f"{row:<26}{ours[row]:>10.3f}{shown:>10}{ratio:>15}")
    if base:
        print(f"{'mlflow create_model_version':<26}{'':>10}{base['register_metadata_only']:>10.2f}")
    print(
        f"\nprodml load / raw deserialisation: {ours['load_by_alias']:.3f} / "
        f"{ours['raw_deserialise']:.3f} ms = {ours['load_by_alias'] / ours['raw_deserialise']:.2f}x"
        f"  (search hits: {int(ours['search_hits'])})"
    )
    sizes = list(scale)
    small, large = sizes[0], sizes[-1]
    mid = "10000" if "10000" in scale else sizes[len(sizes) // 2]
    other_scale = theirs["scale"] if theirs else {}
    rounds = len(scale[small]["search_page"])
    med = statistics.median
    print(
        f"\nat scale: ms per call (median of {reps} reps, median of {rounds} rounds; "
        "prodml / mlflow); ratios are medians of the per-round ratios"
    )
    header = "".join(f"{n + ' versions':>24}" for n in sizes)
    print(f"{'workload':<22}{header}{f'prodml {large}/{small}':>18}{f'mlflow/prodml@{mid}':>22}")
    for row in SCALE:
        cells = ""
        for n in sizes:
            mine = med(scale[n][row])
            other = other_scale.get(n, {}).get(row)
            cells += f"{mine:>12.3f} / {med(other):>8.2f}" if other else f"{mine:>12.3f} /        -"
        growth = med(a / b for a, b in zip(scale[large][row], scale[small][row], strict=True))
        vs = other_scale.get(mid, {}).get(row)
        vs_text = "-"
        if vs:
            vs_text = f"{med(a / b for a, b in zip(vs, scale[mid][row], strict=False)):.1f}x"
        print(f"{row:<22}{cells}{growth:>17.2f}x{vs_text:>22}")
    seeds = ", ".join(
        f"{n}: {scale[n]['seed_seconds'][0]:.1f} s"
        + (f" (mlflow {other_scale[n]['seed_seconds'][0]:.1f} s)" if n in other_scale else "")
        for n in sizes
    )
    print(f"bulk seeding: {seeds}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke size")
    parser.add_argument("--versions", type=int, default=None, help="versions for part 1")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions")
    parser.add_argument("--sizes", type=int, nargs="*", default=None, help="scale sizes")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved scale rounds")
    parser.add_argument("--mlflow-python", default=MLFLOW_PYTHON, help="MLflow's python")
    parser.add_argument("--setup-mlflow", action="store_true", help="build MLflow's virtualenv")
    parser.add_argument("--mlflow-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mlflow_worker is not None:
        print(json.dumps(mlflow_worker(json.loads(args.mlflow_worker))))
        return 0
    if args.setup_mlflow:
        return setup_mlflow(args.mlflow_python)
    versions = args.versions or (40 if args.quick else 200)
    reps = args.reps or (5 if args.quick else 30)
    sizes = args.sizes or ([200, 2_000] if args.quick else [200, 10_000, 100_000])
    rounds = args.rounds or (2 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        root = Path(tmp)
        ours = bench_prodml(root, small_model(), versions, reps)
        scale = scale_prodml(root, sizes, reps, rounds)
        (root / "mlflow").mkdir()
        spec = {
            "root": str(root / "mlflow"),
            "versions": versions,
            "reps": reps,
            "sizes": sizes,
            "rounds": rounds,
        }
        theirs = run_mlflow(args.mlflow_python, spec)
    report(ours, scale, theirs, versions, reps)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "versions": versions,
        "reps": reps,
        "sizes": sizes,
        "rounds": rounds,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "mlflow": theirs["version"] if theirs else None,
        "prodml_ms": ours,
        "prodml_scale_ms": scale,
        "mlflow_ms": theirs["base"] if theirs else None,
        "mlflow_scale_ms": theirs["scale"] if theirs else None,
    }
    RESULTS.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
