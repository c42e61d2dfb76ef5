"""Benchmark S1: prodml serving vs a hand-written FastAPI app and MLServer, and batch scoring.

Workload: the F1 feature pipeline (``bench_features.py``: 10 floats, 5 strings, 1 datetime;
113 features) with a LogisticRegression and a 100-tree GradientBoostingClassifier, trained
on the same rows. Three servers, each in its own process pinned to core 0 with taskset,
driven by ``wrk`` pinned to core 1, over loopback, with a Lua script POSTing 200 F1 records
in turn (bounded runs of ``--seconds`` each):

* ``prodml serve``: the (pipeline, model) pair from a local registry, uvicorn, one worker.
* FastAPI + scikit-learn, as users write it today: a pydantic model of the record, a
  one-row DataFrame, a ``sklearn.pipeline.Pipeline`` (ColumnTransformer + model) from
  joblib, a sync endpoint; uvicorn, one worker.
* MLServer's scikit-learn runtime (the same joblib Pipeline, V2 inference protocol with the
  pandas codec, ``predict_proba`` output, ``parallel_workers=0``), from its own virtualenv
  (it pins other versions of our dependencies). Build it once with::

      python3 -m venv /work/benchvenv/mlserver
      /work/benchvenv/mlserver/bin/pip install mlserver==1.7.1 mlserver-sklearn==1.7.1

  The FastAPI app runs with this interpreter when it imports fastapi, else from
  ``/work/benchvenv/fastapi`` (``FASTAPI_VENV``; prodml's own environment does not install
  fastapi), built with the scikit-learn, pandas and numpy of this environment (the
  joblib Pipeline is pickled here)::

      python3 -m venv /work/benchvenv/fastapi
      /work/benchvenv/fastapi/bin/pip install fastapi "uvicorn[standard]" joblib \
          scikit-learn==<this one's> pandas==<this one's> numpy==<this one's>

Figures: p50/p99 latency and requests/s at 1, 8 and 64 connections; p99 at an equal paced
rate (each connection waits so that every server gets the same requests/s, half of the
slowest server's 8-connection throughput); the in-process ``Predictor.predict_record`` p50
and its overhead over the model's own ``predict_proba`` on a pre-built one-row array
(alternating rounds, median; measured with ``compiled=False``, the model's own method),
and for the gradient-boosted model the whole ``predict_record`` with the compiled tree
path (``compiled=True``, the default) against that ``predict_proba`` alone; orjson vs the
standard json module for prodml; and batch scoring of ``--rows`` Parquet rows (default
10M) with ``prodml.serving.score`` vs a pandas + scikit-learn loop over the same
100,000-row batches, each in its own process (rows/s and peak RSS).

Run::

    python benchmarks/bench_serving.py            # 10M batch rows, 5 s per wrk run
    python benchmarks/bench_serving.py --quick    # 200k rows, 2 s runs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import FLOATS, STRINGS, TS, make_f1, prodml_pipeline

MLSERVER = Path(os.environ.get("MLSERVER_VENV", "/work/benchvenv/mlserver"))
FASTAPI = Path(os.environ.get("FASTAPI_VENV", "/work/benchvenv/fastapi"))
SERVER_CPU, LOAD_CPU = "0", "1"
TREE = "sklearn.tree._tree.Tree"  # skops asks to name it before loading tree ensembles

DATEPARTS = """
import numpy as np
import pandas as pd

def date_parts(frame):
    t = pd.to_datetime(frame["ts"])
    return np.column_stack([t.dt.hour, t.dt.day_of_week, t.dt.month]).astype(np.float64)
"""

FASTAPI_APP = """
import os
from datetime import datetime
from typing import Optional

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

model = joblib.load(os.environ["MODEL_PATH"])


class Record(BaseModel):
{fields}
    ts: datetime


app = FastAPI()


@app.post("/predict")
def predict(record: Record):
    frame = pd.DataFrame([record.model_dump()])
    return {{"value": float(model.predict_proba(frame)[0, 1])}}
"""

LUA = """
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "%s", nil, bodies[i])
end
%s
"""


def label(df: pd.DataFrame, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = np.nan_to_num(df["f0"].to_numpy()) / 5 + (df["s0"] == "cat_000").to_numpy()
    return (z + rng.normal(0, 1, len(df)) > 0.5).astype(int)


def sklearn_pipeline(model: Any) -> Any:
    import f1_dateparts
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    num = Pipeline([("imp", SimpleImputer(strategy="median")), ("sc", StandardScaler())])
    onehot = OneHotEncoder(
        max_categories=20, handle_unknown="infrequent_if_exist", sparse_output=False
    )
    cat = Pipeline([("imp", SimpleImputer(strategy="most_frequent")), ("oh", onehot)])
    dates = FunctionTransformer(f1_dateparts.date_parts)
    features = ColumnTransformer([("num", num, FLOATS), ("cat", cat, STRINGS), ("dt", dates, [TS])])
    return Pipeline([("features", features), ("model", model)])


def models() -> dict[str, Any]:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "lr": lambda: LogisticRegression(max_iter=1000),
        "gbc": lambda: GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0),
    }


# -------------------------------------------------------------------------------- setup


def build(work: Path, n_train: int) -> dict[str, Any]:
    import joblib

    from prodml.registry import ModelRegistry

    (work / "f1_dateparts.py").write_text(DATEPARTS)
    sys.path.insert(0, str(work))
    df = make_f1(n_train, seed=0)
    y = label(df)
    pipe = prodml_pipeline().fit(df)
    X = pipe.transform(df)
    reg = ModelRegistry.local(work / "registry")
    fitted: dict[str, Any] = {"pipe": pipe}
    for name, make in models().items():
        model = make().fit(X, y)
        reg.register(f"f1-{name}", (pipe, model), signature=pipe.input_schema)
        reg.set_alias(f"f1-{name}", "production", 1)
        sk = sklearn_pipeline(make()).fit(df, y)
        joblib.dump(sk, work / f"sk-{name}.joblib")
        mdir = work / "mlserver" / f"f1-{name}"
        mdir.mkdir(parents=True)
        shutil.copy(work / f"sk-{name}.joblib", mdir / "model.joblib")
        settings = {
            "name": f"f1-{name}",
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
        }
        (mdir / "model-settings.json").write_text(json.dumps(settings))
        fitted[name] = model
        fitted[f"sk-{name}"] = sk
    reg.close()
    (work / "mlserver" / "settings.json").write_text(
        json.dumps({"parallel_workers": 0, "metrics_endpoint": None, "debug": False})
    )
    fields = "\n".join(
        [f"    {c}: Optional[float] = None" for c in FLOATS]
        + [f"    {c}: Optional[str] = None" for c in STRINGS]
    )
    (work / "fastapi_app.py").write_text(FASTAPI_APP.format(fields=fields))
    sample = make_f1(2000, seed=7).dropna().head(200)
    recs = [
        {**{c: float(r[c]) for c in FLOATS}, **{c: r[c] for c in STRINGS}, TS: r[TS].isoformat()}
        for _, r in sample.iterrows()
    ]
    fitted["records"] = recs
    fitted["frame"] = sample.reset_index(drop=True)
    return fitted


def v2_body(name: str, rec: dict[str, Any]) -> dict[str, Any]:
    inputs = [{"name": c, "shape": [1], "datatype": "FP64", "data": [rec[c]]} for c in FLOATS] + [
        {"name": c, "shape": [1], "datatype": "BYTES", "data": [rec[c]]} for c in [*STRINGS, TS]
    ]
    return {
        "inputs": inputs,
        "parameters": {"content_type": "pd"},
        "outputs": [{"name": "predict_proba"}],
    }


# ------------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fastapi_python(how: str = "see the docstring") -> str:
    """This interpreter when it has fastapi, else the one of ``FASTAPI`` (a venv).

    ``how`` says, in the error, how to build that venv.
    """
    import importlib.util

    if importlib.util.find_spec("fastapi") is not None:
        return sys.executable
    python = FASTAPI / "bin" / "python"
    if not python.exists():
        raise RuntimeError(f"fastapi is not installed here nor in {FASTAPI} ({how})")
    return str(python)


class Server:
    def __init__(
        self,
        kind: str,
        model: str,
        work: Path,
        extra: list[str] | None = None,
        src: Path | None = None,
    ) -> None:
        self.kind, self.model, self.work = kind, model, work
        self.port = free_port()
        model_path = str(work / f"sk-{model}.joblib")
        path = str(work) if src is None else f"{work}{os.pathsep}{src}"  # src: which prodml
        env = {**os.environ, "PYTHONPATH": path, "MODEL_PATH": model_path}
        if kind == "prodml":
            cmd = [sys.executable, "-m", "prodml.cli", "serve", f"f1-{model}@production",
                   "--registry", str(work / "registry"), "--port", str(self.port),
                   "--watch-every", "0", "--trust", TREE, *(extra or [])]  # fmt: skip
            self.path, self.ready = "/v1/predict", "/readyz"
        elif kind == "fastapi":
            cmd = [fastapi_python(), "-m", "uvicorn", "fastapi_app:app", "--port", str(self.port),
                   "--log-level", "warning", "--no-access-log"]  # fmt: skip
            self.path, self.ready = "/predict", "/docs"
        else:
            cmd = [str(MLSERVER / "bin" / "mlserver"), "start", str(work / "mlserver")]
            env["MLSERVER_HTTP_PORT"] = str(self.port)
            env["MLSERVER_GRPC_PORT"] = str(free_port())
            env["MLSERVER_METRICS_PORT"] = str(free_port())
            env["MLSERVER_LOAD_MODELS_AT_STARTUP"] = "true"
            self.path = f"/v2/models/f1-{model}/infer"
            self.ready = f"/v2/models/f1-{model}/ready"
        self.proc = subprocess.Popen(  # noqa: S603 - our own command line
            ["taskset", "-c", SERVER_CPU, *cmd],  # noqa: S607 - taskset from PATH
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(self.url + self.ready, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server did not start")
            time.sleep(0.2)

    def body(self, rec: dict[str, Any]) -> dict[str, Any]:
        return v2_body(f"f1-{self.model}", rec) if self.kind == "mlserver" else rec

    def value(self, response: dict[str, Any]) -> float:
        if self.kind == "mlserver":
            return float(response["outputs"][0]["data"][1])
        return float(response["value"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(
    server: Server, bodies: Path, conns: int, seconds: float, delay_ms: float = 0
) -> dict[str, float]:
    script = bodies.with_suffix(f".{conns}.{int(delay_ms)}.lua")
    pacing = f"delay = function() return {delay_ms:.3f} end" if delay_ms else ""
    script.write_text(LUA % (bodies, server.path, pacing))
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s",
           "--timeout", "30s", "--latency", "-s", str(script), server.url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout  # noqa: S603
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))

    def ms(v: str) -> float:
        m = re.match(r"([\d.]+)(\w+)", v)
        assert m is not None
        return float(m.group(1)) * _UNITS[m.group(2)]

    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {
        "p50_ms": ms(lat["50"]),
        "p99_ms": ms(lat["99"]),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "non2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def show(what: str, r: dict[str, float]) -> None:
    print(
        f"  {what:30s} p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  "
        f"{r['rps']:8.0f} req/s  non-2xx {r['non2xx']:.0f}",
        flush=True,
    )


def http_bench(work: Path, fitted: dict[str, Any], seconds: float, quick: bool) -> dict[str, Any]:
    import httpx

    results: dict[str, Any] = {}
    conns = [1, 8] if quick else [1, 8, 64]
    kinds = ["prodml", "fastapi"]
    if (MLSERVER / "bin" / "mlserver").exists():
        kinds.append("mlserver")
    for model in ("lr", "gbc"):
        sk = fitted[f"sk-{model}"]
        expected = sk.predict_proba(fitted["frame"].head(1))[0, 1]
        for kind in kinds:
            server = Server(kind, model, work)
            try:
                bodies = work / f"bodies-{kind}-{model}.txt"
                bodies.write_text("\n".join(json.dumps(server.body(r)) for r in fitted["records"]))
                first = server.body(fitted["records"][0])
                got = server.value(httpx.post(server.url + server.path, json=first).json())
                # The same kind of model on each side's own features: close, not equal.
                assert abs(got - expected) < 0.05, (kind, model, got, expected)
                wrk(server, bodies, 8, 1)  # warm-up
                for c in conns:
                    results[f"{model}/{kind}/c{c}"] = r = wrk(server, bodies, c, seconds)
                    show(f"{model} {kind} c={c}", r)
            finally:
                server.stop()
        rate = 0.5 * min(results[f"{model}/{k}/c8"]["rps"] for k in kinds)
        for kind in kinds:
            server = Server(kind, model, work)
            try:
                bodies = work / f"bodies-{kind}-{model}.txt"
                wrk(server, bodies, 8, 1)  # warm-up
                r = wrk(server, bodies, 8, 2 * seconds, delay_ms=8 / rate * 1000)
                results[f"{model}/{kind}/paced"] = r
                show(f"{model} {kind} paced at ~{rate:.0f}/s", r)
            finally:
                server.stop()
    return results


def json_bench(work: Path, fitted: dict[str, Any], seconds: float, rounds: int) -> dict[str, Any]:
    """prodml with orjson and with the json module, both up, runs alternating."""
    servers = {
        lib: Server("prodml", "lr", work, ["--json-library", lib]) for lib in ("json", "orjson")
    }
    bodies = work / "bodies-prodml-lr.txt"
    bodies.write_text("\n".join(json.dumps(r) for r in fitted["records"]))
    runs: dict[str, list[dict[str, float]]] = {"json": [], "orjson": []}
    try:
        for server in servers.values():
            wrk(server, bodies, 8, 1)
        for _ in range(rounds):
            for lib, server in servers.items():
                runs[lib].append(wrk(server, bodies, 8, seconds))
    finally:
        for server in servers.values():
            server.stop()
    out: dict[str, Any] = {
        lib: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for lib, rs in runs.items()
    }
    for lib in runs:
        show(f"prodml lr json={lib} c=8 (median)", out[lib])
    pairs = list(zip(runs["json"], runs["orjson"], strict=True))
    out["rps_ratio"] = statistics.median(b["rps"] / a["rps"] for a, b in pairs)
    out["p50_ratio"] = statistics.median(a["p50_ms"] / b["p50_ms"] for a, b in pairs)
    return out


def guard_bench(
    work: Path, fitted: dict[str, Any], seconds: float, rounds: int, before: Path
) -> dict[str, Any]:
    """``prodml serve`` from two source trees (``--before-src`` and this one), both up,
    runs alternating: what a change to the server's per-request path (the header guard,
    the app it is wrapped in) costs over HTTP. LogisticRegression, 1 and 8 connections."""
    trees = {"before": before, "after": Path(__file__).resolve().parents[1] / "src"}
    servers = {name: Server("prodml", "lr", work, src=src) for name, src in trees.items()}
    bodies = work / "bodies-prodml-lr.txt"
    bodies.write_text("\n".join(json.dumps(r) for r in fitted["records"]))
    out: dict[str, Any] = {}
    try:
        for server in servers.values():
            wrk(server, bodies, 8, 1)
        for c in (1, 8):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for _ in range(rounds):
                for name, server in servers.items():
                    runs[name].append(wrk(server, bodies, c, seconds))
            for name, rs in runs.items():
                out[f"{name}/c{c}"] = med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                show(f"prodml lr {name} c={c} (median)", med)
            pairs = list(zip(runs["before"], runs["after"], strict=True))
            ratio = statistics.median(b["rps"] / a["rps"] for a, b in pairs)
            out[f"rps_ratio/c{c}"] = ratio
            print(f"  after/before requests/s, c={c}: {ratio:.3f} (median of {rounds} pairs)")
    finally:
        for server in servers.values():
            server.stop()
    return out


# --------------------------------------------------------------------------- in-process


def in_process(work: Path, fitted: dict[str, Any], n: int, rounds: int) -> dict[str, Any]:
    from prodml.monitoring import ModelMonitor
    from prodml.registry import ModelRegistry
    from prodml.serving import Predictor

    reg = ModelRegistry.local(work / "registry")
    frame = make_f1(n, seed=11)
    recs = frame.astype(object).where(frame.notna(), None).to_dict("records")
    out: dict[str, Any] = {}
    for model in ("lr", "gbc"):
        preds = {}
        for kind, compiled in (("own", False), ("compiled", True)):
            mon = ModelMonitor(f"f1-{model}", max_pending=n + 1, evaluate_every_s=None)
            preds[kind] = Predictor.from_registry(
                reg, f"f1-{model}@production", monitor=mon, watch_every_s=None,
                trusted=[TREE], compiled=compiled,
            )  # fmt: skip
        fast = preds["compiled"].variants["default"].compiled
        if not fast:
            preds["compiled"].close()
            del preds["compiled"]
        est = preds["own"].variants["default"].model
        x1 = np.ascontiguousarray(fitted["pipe"].transform(frame.head(1)))
        sk = fitted[f"sk-{model}"]
        overheads, p50s, base50, fast50 = [], [], [], []
        for _ in range(rounds):
            t_model, t_pred, t_fast = [], [], []
            for r in recs:
                t0 = time.perf_counter()
                est.predict_proba(x1)
                t1 = time.perf_counter()
                preds["own"].predict_record(r)
                t2 = time.perf_counter()
                t_model.append(t1 - t0)
                t_pred.append(t2 - t1)
                if fast:
                    t2 = time.perf_counter()
                    preds["compiled"].predict_record(r)
                    t_fast.append(time.perf_counter() - t2)
            m50, p50 = statistics.median(t_model) * 1e6, statistics.median(t_pred) * 1e6
            base50.append(m50)
            p50s.append(p50)
            overheads.append(p50 - m50)
            if fast:
                fast50.append(m50 / (statistics.median(t_fast) * 1e6))
        sk_times = []
        for i in range(50):
            t0 = time.perf_counter()
            sk.predict_proba(frame.iloc[i : i + 1])
            sk_times.append(time.perf_counter() - t0)
        out[model] = {
            "model_predict_p50_us": statistics.median(base50),
            "predict_record_p50_us": statistics.median(p50s),
            "overhead_us": statistics.median(overheads),
            "overhead_rounds_us": overheads,
            "sklearn_pipeline_one_row_p50_us": statistics.median(sk_times) * 1e6,
        }
        r = out[model]
        rounds_us = [round(o, 1) for o in overheads]
        print(
            f"  {model:3s} model.predict_proba(1 row) p50 {r['model_predict_p50_us']:.1f} us, "
            f"predict_record p50 {r['predict_record_p50_us']:.1f} us, overhead "
            f"{r['overhead_us']:.1f} us (rounds {rounds_us}); sklearn Pipeline on a 1-row "
            f"DataFrame {r['sklearn_pipeline_one_row_p50_us']:.0f} us",
            flush=True,
        )
        if fast:
            # The compiled path replaces the model's own call: its whole predict_record
            # (schema, features, trees, monitor) against the model's predict_proba alone.
            r["compiled_speedup_rounds"] = fast50
            r["compiled_speedup"] = statistics.median(fast50)
            r["compiled_predict_record_p50_us"] = r["model_predict_p50_us"] / r["compiled_speedup"]
            print(
                f"      compiled trees: predict_record p50 "
                f"{r['compiled_predict_record_p50_us']:.1f} us = {r['compiled_speedup']:.1f}x "
                "faster than model.predict_proba alone "
                f"(median of per-round ratios {[round(v, 1) for v in fast50]})",
                flush=True,
            )
        for p in preds.values():
            p.close()
    reg.close()
    return out


# --------------------------------------------------------------------------- callgrind

CG_RECORDS = 200
CG_MARK = "math_lcm"  # callgrind dumps its counts each time math.lcm is called


def cg_worker(pkl: Path) -> None:
    """Runs under valgrind: one region per figure, each ended by ``math.lcm`` (a dump)."""
    import gc
    import math
    import pickle

    from prodml.monitoring import ModelMonitor
    from prodml.serving import Predictor

    with open(pkl, "rb") as f:
        data = pickle.load(f)  # noqa: S301 - written by this script a moment ago
    pipe, recs = data["pipe"], data["records"]
    xs = [pipe.transform_record(r)[None, :] for r in recs]
    regions: list[str] = []
    # A collection's cost depends on the whole heap, not on the call: off while counting.
    gc.collect()
    gc.disable()

    def region(name: str, fn: Any, args: list[Any]) -> None:
        for a in args:  # warm-up: caches, and Python's specialising interpreter
            fn(a)
        math.lcm(1)  # ends the previous region (setup, warm-up)
        for a in args:
            fn(a)
        math.lcm(1)
        regions.append(name)

    def nothing(a: Any) -> None:
        return None

    region("loop", nothing, recs)
    if data.get("part") == "access":
        asgi_regions(data, region)
        print(json.dumps(regions))
        return
    for model in ("lr", "gbc"):
        est = data[model]
        preds = {}
        for kind, compiled in (("own", False), ("compiled", True)):
            mon = ModelMonitor(f"f1-{model}", max_pending=100_000, evaluate_every_s=None)
            preds[kind] = Predictor(pipe, est, name=f"f1-{model}", version=1, monitor=mon,
                                    compiled=compiled)  # fmt: skip
        region(f"{model}/model", est.predict_proba, xs)
        region(f"{model}/record", preds["own"].predict_record, recs)
        bare = Predictor(pipe, est, name=f"f1-{model}", version=1, compiled=False)
        region(f"{model}/record, no monitor", bare.predict_record, recs)
        if preds["compiled"].variants["default"].compiled:
            region(f"{model}/compiled", preds["compiled"].predict_record, recs)
        if model == "lr":
            served = preds["own"].variants["default"]
            region("transform_record", pipe.transform_record, recs)
            region("check + features", served.features, recs)
            mon = ModelMonitor("parts", max_pending=100_000, evaluate_every_s=None)
            ids = iter(range(10**9))

            def log(r: Any, mon: Any = mon, ids: Any = ids) -> None:
                mon.log_prediction(next(ids), r, 0.5, latency_s=1e-4)

            region("log_prediction", log, recs)
        for p in preds.values():
            p.close()
    print(json.dumps(regions))


def asgi_regions(data: dict[str, Any], region: Any) -> None:
    """One POST /v1/predict through the ASGI app (no server, no socket), per record.

    The app with no access log, with ``access_log=True`` logging (a handler writing to
    /dev/null) and silent (the logger below INFO); the body in one message and in 16
    (what the body limit's running count costs per chunk).
    """
    import asyncio
    import logging

    from prodml.serving import Predictor, create_app
    from prodml.serving._access import ACCESS_LOGGER

    access = logging.getLogger(ACCESS_LOGGER)
    access.propagate = False
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    pred = Predictor(data["pipe"], data["lr"], name="f1-lr", version=1, compiled=False)
    apps = {"off": create_app(pred, json_library="json"),
            "on": create_app(pred, json_library="json", access_log=True)}  # fmt: skip
    bodies = [json.dumps(r, default=str).encode() for r in data["records"]]
    loop = asyncio.new_event_loop()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/predict",
             "raw_path": b"/v1/predict", "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip

    def post(app: Any, body: bytes, parts: int) -> int:
        step = -(-len(body) // parts)
        messages = [{"type": "http.request", "body": body[i : i + step], "more_body": True}
                    for i in range(0, len(body), step)]  # fmt: skip
        messages[-1]["more_body"] = False
        it = iter(messages)
        status = [0]

        async def receive() -> dict[str, Any]:
            return next(it)

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]

        headers = [(b"content-type", b"application/json")]
        if parts == 1:
            headers.append((b"content-length", str(len(body)).encode()))
        loop.run_until_complete(app({**scope, "headers": headers}, receive, send))
        assert status[0] == 200, status
        return status[0]

    region("asgi/no access log", lambda b: post(apps["off"], b, 1), bodies)
    region("asgi/body in 16 chunks", lambda b: post(apps["off"], b, 16), bodies)
    access.setLevel(logging.WARNING)
    region("asgi/access_log, logger silent", lambda b: post(apps["on"], b, 1), bodies)
    access.setLevel(logging.INFO)
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    region("asgi/access log on", lambda b: post(apps["on"], b, 1), bodies)
    access.removeHandler(handler)


def callgrind_bench(
    work: Path, fitted: dict[str, Any], part: str = "callgrind"
) -> dict[str, Any] | None:
    """Instructions per call (valgrind's callgrind): exact, and the load does not move them."""
    import pickle

    if shutil.which("valgrind") is None:
        print("  valgrind not found: no instruction counts", flush=True)
        return None
    frame = make_f1(CG_RECORDS, seed=11)
    recs = frame.astype(object).where(frame.notna(), None).to_dict("records")
    pkl = work / "callgrind.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"pipe": fitted["pipe"], "lr": fitted["lr"], "gbc": fitted["gbc"],
                     "records": recs, "part": part}, f)  # fmt: skip
    out = work / "callgrind.out"
    cmd = ["valgrind", "--tool=callgrind", f"--dump-before={CG_MARK}",
           f"--callgrind-out-file={out}", sys.executable, __file__, "--callgrind-worker",
           str(pkl)]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)  # noqa: S603
    names = json.loads(res.stdout.strip().splitlines()[-1])
    totals = {}
    for i, name in enumerate(names):
        # Dump 2k+1 holds setup and warm-up, dump 2k+2 the region itself.
        dump = Path(f"{out}.{2 * i + 2}")
        text = dump.read_text()
        totals[name] = int(re.search(r"^totals: (\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    for f in work.glob("callgrind.out*"):
        f.unlink()
    loop = totals.pop("loop")
    per = {k: (v - loop) / CG_RECORDS for k, v in totals.items()}
    for k, v in per.items():
        print(f"  {k:22s} {v / 1e3:9.1f} k instructions per call", flush=True)
    result: dict[str, Any] = {"per_call": per}
    if part == "access":
        base = per["asgi/no access log"]
        for k, v in per.items():
            print(f"  {k:32s} {v / base:6.3f} x the app with no access log", flush=True)
        return result
    for model in ("lr", "gbc"):
        result[f"{model}_overhead"] = o = per[f"{model}/record"] - per[f"{model}/model"]
        result[f"{model}_overhead_no_monitor"] = (
            per[f"{model}/record, no monitor"] - per[f"{model}/model"]
        )
        print(f"  {model}: predict_record - predict_proba = {o / 1e3:.1f} k instructions "
              "(compiled=False)", flush=True)  # fmt: skip
    return result


# ------------------------------------------------------------------------------- batch


def write_batch_input(path: Path, rows: int) -> None:
    step = 1_000_000
    writer = None
    for i, start in enumerate(range(0, rows, step)):
        df = make_f1(min(step, rows - start), seed=100 + i)
        table = pa.Table.from_pandas(df, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=250_000)
    assert writer is not None
    writer.close()


def batch_worker(kind: str, work: Path, source: Path, dest: Path, chunk: int) -> None:
    """Runs in a child process, so that its peak RSS is its own."""
    sys.path.insert(0, str(work))
    t0 = time.perf_counter()
    if kind == "prodml":
        from prodml.registry import ModelRegistry
        from prodml.serving import Predictor, score

        reg = ModelRegistry.local(work / "registry")
        pred = Predictor.from_registry(reg, "f1-lr@production", watch_every_s=None)
        t0 = time.perf_counter()
        rows = score(pred, source, dest, chunk_rows=chunk, resume=False, progress=False).rows
    else:
        import joblib

        sk = joblib.load(work / "sk-lr.joblib")
        t0 = time.perf_counter()
        dest.mkdir()
        rows = 0
        for i, batch in enumerate(pq.ParquetFile(source).iter_batches(batch_size=chunk)):
            frame = batch.to_pandas()
            scores = sk.predict_proba(frame)[:, 1]
            pd.DataFrame({"prediction": scores}).to_parquet(dest / f"part-{i:06d}.parquet")
            rows += len(frame)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak}))


def batch_bench(work: Path, rows: int) -> dict[str, Any]:
    source = work / "batch.parquet"
    t0 = time.perf_counter()
    write_batch_input(source, rows)
    print(f"  wrote {rows:,} F1 rows ({source.stat().st_size / 1e6:.0f} MB Parquet) in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    out: dict[str, Any] = {}
    for kind in ("prodml", "pandas"):
        dest = work / f"scored-{kind}"
        shutil.rmtree(dest, ignore_errors=True)
        cmd = [sys.executable, __file__, "--batch-worker", kind, str(work), str(source), str(dest)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)  # noqa: S603
        out[kind] = r = json.loads(res.stdout.strip().splitlines()[-1])
        r["rows_per_s"] = r["rows"] / r["seconds"]
        print(
            f"  {kind:7s} {r['rows']:,} rows in {r['seconds']:.1f} s = "
            f"{r['rows_per_s']:,.0f} rows/s, peak RSS {r['peak_mb']:.0f} MB",
            flush=True,
        )
    a = pq.read_table(work / "scored-prodml").column("prediction").to_numpy()
    b = pq.read_table(work / "scored-pandas").column("prediction").to_numpy()
    out["max_abs_diff"] = float(np.max(np.abs(a - b)))
    return out


# --------------------------------------------------------------------------------- main


def invalid_workload() -> tuple[Any, list[dict[str, Any]], Any]:
    """The F1 schema, 200 invalid F1 records (one wrong value each, of six kinds), the checks.

    The third value answers a record's problems as ``Schema.validate`` does since
    2026-12-04: ``record_problems`` first, the table path for what it cannot decide.
    """
    from prodml._data import as_columns, record_problems
    from prodml.schema import Column, Schema

    frame = make_f1(200)
    schema = Schema(
        [
            *(Column(f, "float", min=-1_000, max=1_000) for f in FLOATS),
            *(Column(c, "string", nullable=False) for c in STRINGS),
            Column(TS, "datetime"),
        ]
    )
    rows = frame[[*FLOATS, *STRINGS, TS]].astype(object)
    records = rows.where(rows.notna(), None).to_dict("records")
    wrong = [("f0", "1.5"), ("f1", 1e9), ("s0", None), ("s1", 3), ("zz", 1), (TS, "2024")]
    bad = []
    for i, row in enumerate(records):
        rec = {**row, "s0": row["s0"] or "a"}
        key, value = wrong[i % len(wrong)]
        rec[key] = value
        bad.append(rec)

    def direct(schema: Schema, rec: dict[str, Any]) -> list[Any]:
        found = record_problems(schema.columns, rec, strict=True)
        return schema.problems(as_columns(rec), strict=True) if found is None else found

    return schema, bad, direct


def invalid_bench(rounds: int) -> dict[str, Any]:
    """Checking one invalid record: the one-row table path vs ``Schema.validate`` (which reads
    the problems from the dict since 2026-12-04), median of runs."""
    from prodml._data import as_columns
    from prodml.errors import SchemaError

    schema, bad, direct = invalid_workload()
    for rec in bad:  # the same problems either way
        if direct(schema, rec) != schema.problems(rec, strict=True):
            raise SystemExit(f"record_problems differs from the table path on {rec}")

    def table() -> None:
        for rec in bad:
            schema.problems(as_columns(rec), strict=True)

    def fast() -> None:
        for rec in bad:
            with contextlib.suppress(SchemaError):
                schema.validate(rec, strict=True)

    out: dict[str, Any] = {}
    for name, fn in (("table", table), ("validate", fast)):
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) / len(bad))
        out[name] = statistics.median(times)
        print(f"  {name:>8}: {out[name] * 1e6:9.1f} us per invalid record (median of {rounds})")
    print(f"  ratio: {out['table'] / out['validate']:.0f}x")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", type=int, default=None, help="batch scoring rows (10M)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per wrk run (5)")
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--repeat", type=int, default=1, help="HTTP runs (medians of ratios)")
    parts = ("inprocess", "callgrind", "http", "json", "batch", "invalid", "guard", "access")
    ap.add_argument("--only", nargs="+", choices=parts, default=parts, help="run these parts")
    ap.add_argument("--before-src", type=Path, default=Path("/work/main/src"),
                    help="the prodml source tree 'guard' compares this one with")  # fmt: skip
    ap.add_argument("--batch-worker", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--callgrind-worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.callgrind_worker:
        cg_worker(args.callgrind_worker)
        return
    if args.batch_worker:
        kind, work, source, dest = args.batch_worker
        batch_worker(kind, Path(work), Path(source), Path(dest), 100_000)
        return
    rows = args.rows or (200_000 if args.quick else 10_000_000)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    import sklearn

    import prodml

    print(
        f"prodml {prodml.__version__}, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} cores (shared)"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        n, rounds = (1000, 3) if args.quick else (5000, 5)
        results: dict[str, Any] = {}
        if "invalid" in args.only:
            print("\ninvalid records (the one-row table path vs Schema.validate):")
            results["invalid"] = invalid_bench(rounds)
            if args.only == ["invalid"]:
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1))
                return
        t0 = time.perf_counter()
        fitted = build(work, 5_000 if args.quick else 20_000)
        print(f"trained and registered in {time.perf_counter() - t0:.0f} s", flush=True)
        if "inprocess" in args.only:
            print("\nin-process:", flush=True)
            results["in_process"] = in_process(work, fitted, n, rounds)
        if "callgrind" in args.only:
            print("\ninstructions per call (callgrind, 200 F1 records):", flush=True)
            results["callgrind"] = callgrind_bench(work, fitted)
        if "access" in args.only:
            print("\nthe ASGI app per request, access log and chunked body (callgrind):")
            results["access"] = callgrind_bench(work, fitted, part="access")
        if "http" in args.only:
            print("\nHTTP (server on core 0, wrk on core 1):", flush=True)
            runs = []
            for i in range(args.repeat):
                if args.repeat > 1:
                    print(f"run {i + 1} of {args.repeat}, load average {os.getloadavg()}")
                runs.append(http_bench(work, fitted, seconds, args.quick))
            results["http"] = runs[0]
            if args.repeat > 1:
                results["http_runs"] = runs
                results["http_medians"] = http_medians(runs)
        if "json" in args.only:
            print("\norjson vs the json module (prodml, LogisticRegression):", flush=True)
            results["json"] = json_bench(work, fitted, seconds, 2 if args.quick else 5)
        if "guard" in args.only:
            print(f"\nprodml serve, {args.before_src} vs this tree (LogisticRegression):")
            results["guard"] = guard_bench(work, fitted, seconds, 2 if args.quick else 5,
                                           args.before_src)  # fmt: skip
        if "batch" in args.only:
            print(f"\nbatch scoring ({rows:,} rows, LogisticRegression, 100k chunks):", flush=True)
            results["batch"] = batch_bench(work, rows)
        summarise(results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def http_medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs, and each ratio against prodml's median of runs."""
    out: dict[str, Any] = {}
    for key in runs[0]:
        out[key] = {k: statistics.median(r[key][k] for r in runs) for k in runs[0][key]}
    print(f"\nHTTP, medians of {len(runs)} runs (p50 ms / p99 ms / req/s):")
    for key, r in out.items():
        print(f"  {key:24s} {r['p50_ms']:8.2f} / {r['p99_ms']:8.2f} / {r['rps']:8.1f}")
    print("ratios, median of per-run ratios (and each run's):")
    for key in runs[0]:
        model, kind, how = key.split("/")
        if kind == "prodml":
            continue
        mine = f"{model}/prodml/{how}"
        if how == "paced":
            vals = [r[key]["p99_ms"] / r[mine]["p99_ms"] for r in runs]
            what = f"p99 {kind} / prodml at equal rate"
        else:
            vals = [r[mine]["rps"] / r[key]["rps"] for r in runs]
            what = f"throughput prodml / {kind} at {how}"
        out[f"ratio {model} {what}"] = statistics.median(vals)
        shown = ", ".join(f"{v:.1f}" for v in vals)
        print(f"  {model} {what}: {statistics.median(vals):.1f}x ({shown})")
    return out


def summarise(results: dict[str, Any]) -> None:
    print("\nratios:")
    for model in ("lr", "gbc"):
        if "in_process" in results:
            r = results["in_process"][model]
            print(
                f"  {model}: predict_record overhead over the model's own 1-row predict: "
                f"{r['overhead_us']:.1f} us (target <= 20; compiled=False)"
            )
            if "compiled_speedup" in r:
                print(
                    f"  {model}: predict_record with compiled trees vs the model's own 1-row "
                    f"predict_proba: {r['compiled_speedup']:.1f}x faster in total"
                )
        http = results.get("http", {})
        for other in ("fastapi", "mlserver"):
            if f"{model}/{other}/paced" not in http:
                continue
            mine, theirs = http[f"{model}/prodml/paced"], http[f"{model}/{other}/paced"]
            print(f"  {model}: p99 at equal paced rate: {other} / prodml = "
                  f"{theirs['p99_ms'] / mine['p99_ms']:.1f}x")  # fmt: skip
            for c in (1, 8, 64):
                key = f"{model}/%s/c{c}"
                if key % other in http:
                    a, b = http[key % "prodml"], http[key % other]
                    print(
                        f"  {model} c={c}: throughput prodml / {other} = "
                        f"{a['rps'] / b['rps']:.1f}x, p99 {other} / prodml = "
                        f"{b['p99_ms'] / a['p99_ms']:.1f}x"
                    )
    if "json" in results:
        j = results["json"]
        print(
            f"  orjson vs json (prodml, c=8, median of paired runs): throughput "
            f"{j['rps_ratio']:.2f}x, p50 {j['p50_ratio']:.2f}x"
        )
    if "batch" not in results:
        return
    b = results["batch"]
    speed = b["prodml"]["rows_per_s"] / b["pandas"]["rows_per_s"]
    print(
        f"  batch scoring: prodml / pandas loop = {speed:.1f}x rows/s; peak RSS "
        f"{b['prodml']['peak_mb']:.0f} MB vs {b['pandas']['peak_mb']:.0f} MB; "
        f"max |diff| of scores {b['max_abs_diff']:.1e}"
    )


if __name__ == "__main__":
    main()
