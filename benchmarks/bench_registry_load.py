"""Registry ``load`` from a local store: prodml against MLflow and OpenSSF model-signing.

What: stop 40 made a prodml ``load`` from a local artifact store copy each file into a
private 0700 directory while hashing it, and deserialise the copy (a file swapped between
the check and the read never reaches the model); it was measured only before/after. Here
the same load runs beside what a user would otherwise pick, for a small model (a
``LogisticRegression`` on 8 floats, a few kB) and a large one (a
``RandomForestRegressor`` grown to about ``--mb`` MB, 200 by default; 20 with ``--quick``):

- ``prodml load``: ``ModelRegistry.local(root, trust=policy).load("m@production")``, the
  registry signed with Ed25519 and read under a ``TrustPolicy``: the alias's signed
  record, the manifest's signature, every file's sha256 while it is copied, then skops
  loads the copy (``trusted=["sklearn.tree._tree.Tree"]`` for the forest);
- ``mlflow load``: ``mlflow.sklearn.load_model("models:/m@production")`` from a local
  file store (``file://`` tracking and registry URI, the model logged with
  ``log_model(registered_model_name=...)`` and the alias set; MLflow 3 wants
  ``MLFLOW_ALLOW_FILE_STORE=true`` for it, which the worker sets), which checks no hash
  and loads the file with skops (MLflow 3's default format for scikit-learn; the tree
  type trusted at ``log_model``);
- ``prodml verify`` against ``model-signing verify``: ``registry.verify("m@production")``
  (the same checks as the load, no copy, no deserialising) against OpenSSF
  ``model-signing``'s ``verifying.Config().use_elliptic_key_verifier(...).verify`` of the
  same artifact folder, signed beforehand with its ``use_elliptic_key_signer`` (ECDSA
  P-256, SHA-256 of every file);
- ``model-signing verify + skops load``: that verification plus skops loading the same
  file (timed here), what a user composes to get a checked load without prodml.

MLflow and model-signing pin their own dependencies, so each runs in its own virtualenv
(``/work/benchvenv/mlflow``, ``/work/benchvenv/model-signing``; ``--setup`` builds both,
as ``bench_registry.py --setup-mlflow`` and ``bench_signing.py --setup-model-signing``
do), driven as a subprocess of this script that times only its own calls and prints JSON.
The models are fitted here and handed to MLflow's worker as a joblib file (both
environments have the same scikit-learn).

Each round times every tool on both models (``--reps`` loads of the small model, 3 of the
large, after a warm-up; medians); ratios are medians over ``--rounds`` rounds of the
per-round ratios theirs/prodml (above 1: prodml is faster). Files are in the page cache
after the first read, so the figures are CPU and memory copies, not disk; the private
copy goes to ``TMPDIR``. The machine is shared: the load average is printed per round.

Run::

    python benchmarks/bench_registry_load.py --setup      # once: both virtualenvs
    python benchmarks/bench_registry_load.py [--quick] [--rounds 5] [--reps 20] [--mb 200]

Figures go to stdout and ``benchmarks/results/registry_load.json``.
"""

# S603: the subprocesses run this script's own workers in virtualenvs it built.
# ruff: noqa: S603

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

RESULTS = Path(__file__).parent / "results" / "registry_load.json"
MLFLOW = Path(os.environ.get("PRODML_BENCH_MLFLOW_VENV", "/work/benchvenv/mlflow"))
MODEL_SIGNING = Path(
    os.environ.get("PRODML_BENCH_MODEL_SIGNING_VENV", "/work/benchvenv/model-signing")
)
TREE = "sklearn.tree._tree.Tree"
SIZES = ("small", "large")


def timeit(fn: Callable[[], Any], reps: int) -> float:
    """Median seconds of ``reps`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def make_models(mb: int) -> dict[str, Any]:
    """A small logistic regression and a random forest of about ``mb`` MB pickled."""
    import pickle

    import numpy as np
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2_000, 8))
    small = LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))
    rows = 50_000
    X = rng.normal(size=(rows, 8))
    y = X[:, 0] + rng.normal(size=rows)  # noisy: trees grow to about one leaf per row
    forest = RandomForestRegressor(n_estimators=1, warm_start=True, random_state=0).fit(X, y)
    per_tree = len(pickle.dumps(forest)) / 2**20
    trees = max(1, round(mb / per_tree))
    if trees > 1:
        forest.set_params(n_estimators=trees).fit(X, y)
    return {"small": small, "large": forest}


# ------------------------------------------------------------------------------ prodml


def prodml_setup(root: Path, models: dict[str, Any]) -> dict[str, Any]:
    """A signed local registry holding both models, read back under a trust policy."""
    from prodml.registry import ModelRegistry
    from prodml.registry.signing import Ed25519Signer, TrustPolicy

    signer = Ed25519Signer.generate()
    with ModelRegistry.local(root, signer=signer) as writer:
        for size, model in models.items():
            writer.register(size, model)
            writer.set_alias(size, "production", 1)
    reader = ModelRegistry.local(root, trust=TrustPolicy([signer.verifier()]), read_only=True)
    out: dict[str, Any] = {"registry": reader}
    for size in models:
        mv = reader.get(f"{size}@production")
        out[size] = {
            "dir": root / "artifacts" / mv.artifact_key,
            "file": root / "artifacts" / mv.artifact_key / next(iter(mv.files)),
            "bytes": sum(
                (root / "artifacts" / mv.artifact_key / name).stat().st_size for name in mv.files
            ),
            "format": mv.flavour_meta.get("format"),
        }
    return out


def prodml_round(state: dict[str, Any], reps: dict[str, int]) -> dict[str, float]:
    import skops.io as sio

    reg = state["registry"]
    out: dict[str, float] = {}
    for size in SIZES:
        ref, trusted = f"{size}@production", [TREE] if size == "large" else []
        path, n = state[size]["file"], reps[size]
        out[f"prodml load/{size}"] = timeit(lambda r=ref, t=trusted: reg.load(r, trusted=t), n)
        out[f"prodml verify/{size}"] = timeit(lambda r=ref: reg.verify(r), n)
        out[f"skops load/{size}"] = timeit(lambda p=path, t=trusted: sio.load(p, trusted=t), n)
    return out


# ------------------------------------------------------------------------------ MLflow


def mlflow_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in MLflow's virtualenv: ``setup`` logs and registers, ``time`` loads."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    # MLflow 3 keeps its file store in maintenance mode and refuses it without this.
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow
    import mlflow.sklearn

    root = Path(spec["root"])
    uri = (root / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if spec["mode"] == "setup":
        import joblib
        from mlflow import MlflowClient

        mlflow.set_experiment("bench")
        client = MlflowClient()
        for size in SIZES:
            model = joblib.load(spec["models"][size])
            with mlflow.start_run():
                info = mlflow.sklearn.log_model(
                    model,
                    name="model",
                    registered_model_name=size,
                    pip_requirements=["scikit-learn"],
                    skops_trusted_types=[TREE] if size == "large" else None,
                )
            client.set_registered_model_alias(size, "production", info.registered_model_version)
        return {"version": mlflow.__version__}
    reps = spec["reps"]
    return {
        f"mlflow load/{size}": timeit(
            lambda s=size: mlflow.sklearn.load_model(f"models:/{s}@production"), reps[size]
        )
        for size in SIZES
    }


# ------------------------------------------------------------------------------ model-signing

MS_WORKER = r"""
import json, statistics, sys, time
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
import model_signing

spec = json.loads(sys.argv[1])
out = Path(spec["out"])
if spec["mode"] == "setup":
    key = ec.generate_private_key(ec.SECP256R1())
    (out / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (out / "pub.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    signing = model_signing.signing.Config().use_elliptic_key_signer(private_key=out / "key.pem")
    for size, folder in spec["dirs"].items():
        signing.sign(Path(folder), out / f"{size}.sig")
    print(json.dumps({"version": model_signing.__version__}))
else:
    checking = model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=out / "pub.pem")
    result = {}
    for size, folder in spec["dirs"].items():
        checking.verify(Path(folder), out / f"{size}.sig")  # warm-up
        times = []
        for _ in range(spec["reps"][size]):
            t0 = time.perf_counter()
            checking.verify(Path(folder), out / f"{size}.sig")
            times.append(time.perf_counter() - t0)
        result[f"model-signing verify/{size}"] = statistics.median(times)
    print(json.dumps(result))
"""


def worker(python: Path, args: list[str]) -> dict[str, Any] | None:
    if not python.exists():
        return None
    proc = subprocess.run([str(python), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  worker {python} failed: {proc.stderr.strip()[-800:]}", flush=True)
        return None
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_mlflow(spec: dict[str, Any]) -> dict[str, Any] | None:
    return worker(MLFLOW / "bin" / "python", [__file__, "--mlflow-worker", json.dumps(spec)])


def run_model_signing(spec: dict[str, Any]) -> dict[str, Any] | None:
    return worker(MODEL_SIGNING / "bin" / "python", ["-c", MS_WORKER, json.dumps(spec)])


def setup() -> int:
    for venv, packages in (
        (MLFLOW, ["mlflow", "scikit-learn"]),
        (MODEL_SIGNING, ["model-signing==1.1.*", "pyopenssl"]),
    ):
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", *packages], check=True)
        print(f"virtualenv ready at {venv}")
    return 0


# ------------------------------------------------------------------------------ report

ROWS = [
    ("mlflow load_model", "mlflow load", "prodml load"),
    ("model-signing verify", "model-signing verify", "prodml verify"),
    ("model-signing verify + skops load", "ms+skops", "prodml load"),
    ("skops load alone (no check)", "skops load", "prodml load"),
]


def report(rounds: list[dict[str, float]], sizes: dict[str, int]) -> dict[str, Any]:
    med = statistics.median
    for got in rounds:
        for size in SIZES:
            if f"model-signing verify/{size}" in got:
                got[f"ms+skops/{size}"] = (
                    got[f"model-signing verify/{size}"] + got[f"skops load/{size}"]
                )
    print(
        f"\nms per call (median of {len(rounds)} rounds) and ratios theirs/prodml (medians "
        "of the per-round ratios; above 1x prodml is faster)"
    )
    print(f"{'model':<7}{'competitor':<36}{'prodml':>10}{'theirs':>10}{'ratio':>9}")
    summary: dict[str, Any] = {}
    for size in SIZES:
        for label, theirs, ours in ROWS:
            key_t, key_o = f"{theirs}/{size}", f"{ours}/{size}"
            if key_t not in rounds[0]:
                print(f"{size:<7}{label:<36}{'(not run: no virtualenv)':>29}")
                continue
            o = med(g[key_o] for g in rounds) * 1e3
            t = med(g[key_t] for g in rounds) * 1e3
            ratio = med(g[key_t] / g[key_o] for g in rounds)
            summary[key_t] = {"prodml_ms": o, "theirs_ms": t, "ratio": ratio}
            print(f"{size:<7}{label:<36}{o:>10.2f}{t:>10.2f}{ratio:>8.2f}x")
    shown = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items())
    print(f"artifact sizes (skops): {shown}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 20 MB forest, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--reps", type=int, default=None, help="small-model loads per round")
    parser.add_argument("--mb", type=int, default=None, help="size of the large model")
    parser.add_argument("--setup", action="store_true", help="build both virtualenvs")
    parser.add_argument("--mlflow-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mlflow_worker is not None:
        print(json.dumps(mlflow_worker(json.loads(args.mlflow_worker))))
        return 0
    if args.setup:
        return setup()
    rounds = args.rounds or (2 if args.quick else 5)
    reps = {"small": args.reps or (10 if args.quick else 20), "large": 3}
    mb = args.mb or (20 if args.quick else 200)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-regload-") as tmp:
        root = Path(tmp)
        import joblib

        models = make_models(mb)
        files = {}
        for size, model in models.items():
            files[size] = str(root / f"{size}.joblib")
            joblib.dump(model, files[size])
        state = prodml_setup(root / "prodml", models)
        del models
        sizes = {size: state[size]["bytes"] for size in SIZES}
        (root / "mlflow").mkdir()
        (root / "ms").mkdir()
        versions: dict[str, Any] = {}
        got = run_mlflow({"mode": "setup", "root": str(root / "mlflow"), "models": files})
        have_mlflow = got is not None
        versions["mlflow"] = got and got["version"]
        dirs = {size: str(state[size]["dir"]) for size in SIZES}
        got = run_model_signing({"mode": "setup", "out": str(root / "ms"), "dirs": dirs})
        have_ms = got is not None
        versions["model_signing"] = got and got["version"]
        print(f"versions: {versions}", flush=True)
        per_round: list[dict[str, float]] = []
        for r in range(rounds):
            got_round: dict[str, float] = {"load": os.getloadavg()[0]}
            steps: list[Callable[[], dict[str, Any] | None]] = [lambda: prodml_round(state, reps)]
            if have_mlflow:
                spec = {"mode": "time", "root": str(root / "mlflow"), "reps": reps}
                steps.append(lambda spec=spec: run_mlflow(spec))  # type: ignore[misc]
            if have_ms:
                spec = {"mode": "time", "out": str(root / "ms"), "dirs": dirs, "reps": reps}
                steps.append(lambda spec=spec: run_model_signing(spec))  # type: ignore[misc]
            for step in steps[r % len(steps) :] + steps[: r % len(steps)]:
                got_round.update(step() or {})
            per_round.append(got_round)
            shown = ", ".join(f"{k} {v * 1e3:.1f}" for k, v in got_round.items() if k != "load")
            print(f"round {r + 1} (ms, load {got_round['load']:.1f}): {shown}", flush=True)
        state["registry"].close()
    summary = report(per_round, sizes)
    loads = [g["load"] for g in per_round]
    print(f"load average (1 min) over the rounds: {min(loads):.1f}-{max(loads):.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "rounds": per_round,
        "summary": summary,
        "bytes": sizes,
        "versions": versions,
        "reps": reps,
        "cores": os.cpu_count(),
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
