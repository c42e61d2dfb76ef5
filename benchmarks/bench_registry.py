"""Model registry: prodml vs MLflow, both on SQLite metadata and local artifact files.

Workloads (same model, same machine, one run):

- register a small scikit-learn model (prodml ``register`` vs MLflow ``log_model`` with
  ``registered_model_name`` and ``pip_requirements`` given, so MLflow does not spend seconds
  inferring requirements; MLflow's metadata-only ``create_model_version`` is shown too);
- resolve an alias (``get("m@production")`` vs ``get_model_version_by_alias``);
- tag search over ``--versions`` versions of one model;
- load by alias (prodml verifies every file's sha256 first) vs MLflow ``load_model``, and
  vs the raw deserialisation of the same file (skops, or joblib without skops).

Usage: ``python benchmarks/bench_registry.py [--quick] [--versions N] [--reps N]``.
Figures go to stdout and ``benchmarks/results/registry.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from prodml.registry import ModelRegistry

RESULTS = Path(__file__).parent / "results" / "registry.json"


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


def small_model() -> LogisticRegression:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    return LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))


def bench_prodml(root: Path, model: Any, versions: int, reps: int) -> dict[str, float]:
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


def bench_mlflow(root: Path, model: Any, versions: int, reps: int) -> dict[str, float] | None:
    try:
        import mlflow
        import mlflow.sklearn
        from mlflow import MlflowClient
    except ImportError as err:
        print(f"MLflow is not installed ({err}); pip install mlflow to compare. Skipping it.")
        return None
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
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
        with mlflow.start_run() as run:
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
            del run

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke size")
    parser.add_argument("--versions", type=int, default=None, help="versions for search")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions")
    args = parser.parse_args(argv)
    versions = args.versions or (40 if args.quick else 200)
    reps = args.reps or (5 if args.quick else 30)
    model = small_model()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        root = Path(tmp)
        ours = bench_prodml(root, model, versions, reps)
        try:
            theirs = bench_mlflow(root, model, versions, reps)
        finally:
            os.chdir(cwd)
    rows = ["register", "alias_lookup", "tag_search", "load_by_alias"]
    print(f"\nmodel registry, {versions} versions, median of {reps} reps (ms)")
    print(f"{'workload':<26}{'prodml':>10}{'mlflow':>10}{'mlflow/prodml':>15}")
    for row in rows:
        theirs_v = theirs.get(row) if theirs else None
        ratio = f"{theirs_v / ours[row]:.1f}x" if theirs_v else "-"
        shown = f"{theirs_v:.2f}" if theirs_v else "-"
        print(f"{row:<26}{ours[row]:>10.3f}{shown:>10}{ratio:>15}")
    if theirs:
        print(
            f"{'mlflow create_model_version':<26}{'':>10}{theirs['register_metadata_only']:>10.2f}"
        )
    print(
        f"\nprodml load / raw deserialisation: {ours['load_by_alias']:.3f} / "
        f"{ours['raw_deserialise']:.3f} ms = {ours['load_by_alias'] / ours['raw_deserialise']:.2f}x"
        f"  (search hits: {int(ours['search_hits'])})"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "versions": versions,
        "reps": reps,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "prodml_ms": ours,
        "mlflow_ms": theirs,
    }
    RESULTS.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
