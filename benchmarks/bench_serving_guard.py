"""The serving guard at the HTTP level: ``prodml serve`` against a plain FastAPI + uvicorn app.

What: stop 40 gave ``prodml serve`` limits against hostile clients (request headers over
64 KiB get 431, headers not done within 20 s get 408, more than 64 pipelined requests
close the connection, bodies over 1 MiB get 413, a stalled body 408), in a wrapper around
uvicorn's httptools protocol. ``bench_serving.py --only guard`` measured it only as
prodml before/after; this script puts it beside what a user would otherwise deploy.

Workload: one small model, so that the HTTP layer is most of a request's cost: a
scikit-learn ``LogisticRegression`` on 8 float columns, fitted once; prodml serves it behind
a ``FeaturePipeline([steps.Passthrough(cols)])`` (the columns as they are) from a local
registry, the FastAPI apps load the same fitted estimator with joblib. Four servers, each
one process, one worker, uvloop and (but for the last) httptools, all pinned to core 0 with
``taskset``, driven by ``wrk`` pinned to core 1 over loopback, POSTing 200 different
records in turn:

- ``prodml``: ``prodml serve m@production`` (the guard on, its defaults);
- ``prodml-noguard``: the same app, built as ``prodml serve`` builds it (the loading
  wrapper included), run by ``prodml.serving._server.run(..., http="httptools")``, which
  leaves uvicorn's protocol unwrapped: the difference to ``prodml`` is the guard alone;
- ``fastapi``: FastAPI + uvicorn as users write it: a pydantic model of the record (8
  required floats), a sync endpoint building a one-row array for ``predict_proba``;
- ``fastapi-limits``: the same app with the limits uvicorn and a few lines give a user:
  a pure-ASGI middleware answering bodies over 1 MiB with 413 (by ``Content-Length``, and
  counted while read), and uvicorn's h11 protocol with ``h11_max_incomplete_event_size``
  of 64 KiB (uvicorn has no header size limit with httptools, and no header timeout).

Before timing, each server gets one record (the answers must equal the estimator's own
``predict_proba``), a request with a 100 KiB header, one with a 1 MiB header and one with a
2 MiB body: the status each answers is printed (what the limits do; prodml's guard lets a
complete header section that arrives in one read of at most 256 KiB through, as its
``_protocol`` module says, so the 100 KiB one is served), then every round runs ``wrk``
for ``--seconds`` per server and connection count (1, 8 and 64; ``--quick``: 8), the
servers taken in an order that rotates between rounds. Printed: requests/s and p99
latency per server (medians over rounds), and the ratios theirs/prodml per round, their
median over ``--rounds`` (requests/s above 1: theirs serves more; p99 above 1: theirs is
slower), and the server process's CPU time per answered request (all its threads, from
``/proc``; ratio above 1: theirs costs more), which a loaded machine disturbs far less
than requests/s. The machine is shared: the load average is printed with each round.

The FastAPI apps run with this interpreter when it has fastapi, else from
``/work/benchvenv/fastapi`` (``FASTAPI_VENV``, shared with ``bench_serving.py``), which
needs this environment's scikit-learn, numpy and joblib (the estimator is pickled here):
build it once with ``python benchmarks/bench_serving_guard.py --setup-fastapi``.

Run::

    python benchmarks/bench_serving_guard.py [--quick] [--rounds 5] [--seconds 3]

Figures go to stdout and ``benchmarks/results/serving_guard.json``.
"""

# S603/S607: the subprocesses are this script's own servers, wrk and taskset from PATH.
# ruff: noqa: S603, S607

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the wrk driver and its Lua script; the FastAPI venv, shared with bench_serving.py
from bench_serving import FASTAPI, free_port, wrk
from bench_serving import fastapi_python as _fastapi_python

RESULTS = Path(__file__).parent / "results" / "serving_guard.json"
SERVER_CPU = "0"
COLUMNS = [f"x{i}" for i in range(8)]
KINDS = ["prodml", "prodml-noguard", "fastapi", "fastapi-limits"]

FASTAPI_APP = """
import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

model = joblib.load(os.environ["MODEL_PATH"])


class Record(BaseModel):
{fields}


api = FastAPI()


@api.post("/predict")
def predict(record: Record):
    row = np.array([[{values}]])
    return {{"value": float(model.predict_proba(row)[0, 1])}}


class BodyLimit:
    # Bodies over `limit` bytes get 413: by Content-Length, else counted while read.

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            return await self.refuse(send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ValueError("body over the limit")
            return message

        return await self.app(scope, counted, send)

    async def refuse(self, send):
        await send({{"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain"), (b"connection", b"close")]}})
        await send({{"type": "http.response.body", "body": b"request body too large"}})


app = BodyLimit(api, 1_048_576) if os.environ.get("BODY_LIMIT") else api
"""

NOGUARD = """
import sys

from prodml.registry import ModelRegistry
from prodml.serving import Predictor, create_app
from prodml.serving._loading import Loading
from prodml.serving._server import run

registry = ModelRegistry.local(sys.argv[1])


def load():
    return create_app(Predictor.from_registry(registry, "guard@production", watch_every_s=None))


# As prodml serve builds it, but http="httptools": uvicorn's protocol, not the guard.
run(Loading(load, name="guard@production"), port=int(sys.argv[2]), http="httptools",
    log_level="warning", timeout_keep_alive=5.0)
"""


def build(work: Path) -> dict[str, Any]:
    """The fitted estimator, registered for prodml and dumped for FastAPI; 200 records."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from prodml.features import FeaturePipeline, steps
    from prodml.registry import ModelRegistry

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(5_000, len(COLUMNS))), columns=COLUMNS)
    y = (frame["x0"] + 0.5 * frame["x1"] + rng.normal(size=len(frame)) > 0).astype(int)
    pipe = FeaturePipeline([steps.Passthrough(COLUMNS)]).fit(frame)
    model = LogisticRegression().fit(pipe.transform(frame), y)
    with ModelRegistry.local(work / "registry") as reg:
        reg.register("guard", (pipe, model), signature=pipe.input_schema)
        reg.set_alias("guard", "production", 1)
    joblib.dump(model, work / "model.joblib")
    fields = "\n".join(f"    {c}: float" for c in COLUMNS)
    values = ", ".join(f"record.{c}" for c in COLUMNS)
    (work / "fastapi_app.py").write_text(FASTAPI_APP.format(fields=fields, values=values))
    (work / "noguard.py").write_text(NOGUARD)
    records = [
        dict(zip(COLUMNS, map(float, row), strict=True)) for row in rng.normal(size=(200, 8))
    ]
    return {"model": model, "records": records}


def fastapi_python() -> str:
    return _fastapi_python("build it with --setup-fastapi")


class Server:
    """One server process on a free loopback port, pinned to ``SERVER_CPU``."""

    def __init__(self, kind: str, work: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        src = Path(__file__).resolve().parents[1] / "src"
        env = {
            **os.environ,
            "PYTHONPATH": f"{work}{os.pathsep}{src}",
            "MODEL_PATH": str(work / "model.joblib"),
        }
        port = str(self.port)
        if kind == "prodml":
            cmd = [sys.executable, "-m", "prodml", "serve", "guard@production", "--registry",
                   str(work / "registry"), "--port", port, "--watch-every", "0"]  # fmt: skip
            self.path, self.ready = "/v1/predict", "/readyz"
        elif kind == "prodml-noguard":
            cmd = [sys.executable, str(work / "noguard.py"), str(work / "registry"), port]
            self.path, self.ready = "/v1/predict", "/readyz"
        else:
            cmd = [fastapi_python(), "-m", "uvicorn", "fastapi_app:app", "--port", port,
                   "--log-level", "warning", "--no-access-log"]  # fmt: skip
            if kind == "fastapi-limits":
                env["BODY_LIMIT"] = "1"
                cmd += ["--http", "h11", "--h11-max-incomplete-event-size", "65536"]
            else:
                cmd += ["--http", "httptools"]
            self.path, self.ready = "/predict", "/docs"
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *cmd],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its threads so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_wrk(server: Server, bodies: Path, conns: int, seconds: float) -> dict[str, Any]:
    """``wrk``'s figures plus the server's CPU per answered request (microseconds).

    Requests per second on a loaded, shared machine measure the scheduler as much as the
    server; the server process's own CPU time per request does not.
    """
    before = cpu_seconds(server.proc.pid)
    got = wrk(server, bodies, conns, seconds)  # type: ignore[arg-type]
    used = cpu_seconds(server.proc.pid) - before
    answered = got["rps"] * seconds
    got["cpu_us"] = used / answered * 1e6 if answered else float("nan")
    return got


def raw_status(port: int, request: bytes) -> str:
    """The status line a server answers ``request`` with, or how it ended the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # closed while sending: an answer may be there
            sock.sendall(request)
        try:
            head = sock.recv(200)
        except TimeoutError:
            return "no answer within 10 s"
        except OSError as err:
            return f"connection reset ({type(err).__name__})"
    if not head:
        return "closed, no answer"
    return head.split(b"\r\n", 1)[0].decode("latin-1").removeprefix("HTTP/1.1 ")


def limits(server: Server, record: dict[str, float]) -> dict[str, str]:
    """Answers to a 100 KiB and a 1 MiB header, and to a 2 MiB body (one request each)."""
    body = json.dumps(record).encode()

    def with_header(size: int) -> bytes:
        return (
            f"POST {server.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Big: {'a' * size}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + body

    padded = body[:-1] + b',"pad":"' + b"a" * (2 << 20) + b'"}'
    big_body = (
        f"POST {server.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(padded)}\r\nConnection: close\r\n\r\n"
    ).encode() + padded
    return {
        "100 KiB header": raw_status(server.port, with_header(100 << 10)),
        "1 MiB header": raw_status(server.port, with_header(1 << 20)),
        "2 MiB body": raw_status(server.port, big_body),
    }


def setup_fastapi() -> int:
    import joblib
    import numpy
    import pandas
    import sklearn

    subprocess.run([sys.executable, "-m", "venv", str(FASTAPI)], check=True)
    pip = [str(FASTAPI / "bin" / "pip"), "install", "--quiet"]
    pins = [
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={numpy.__version__}",
        f"joblib=={joblib.__version__}",
        f"pandas=={pandas.__version__}",  # bench_serving.py's FastAPI app shares the venv
    ]
    subprocess.run([*pip, "fastapi", "uvicorn[standard]", *pins], check=True)
    print(f"FastAPI virtualenv ready at {FASTAPI}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import httpx

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 connections, 2 rounds of 2 s")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="per wrk run")
    parser.add_argument("--conns", type=int, nargs="*", default=None)
    parser.add_argument("--setup-fastapi", action="store_true", help="build FastAPI's venv")
    args = parser.parse_args(argv)
    if args.setup_fastapi:
        return setup_fastapi()
    rounds = args.rounds or (2 if args.quick else 5)
    seconds = args.seconds or (2.0 if args.quick else 3.0)
    conns = args.conns or ([8] if args.quick else [1, 8, 64])
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        work = Path(tmp)
        fitted = build(work)
        bodies = work / "bodies.txt"
        bodies.write_text("\n".join(json.dumps(r) for r in fitted["records"]))
        servers: dict[str, Server] = {}
        try:
            for kind in KINDS:
                servers[kind] = Server(kind, work)
            first = fitted["records"][0]
            expected = float(fitted["model"].predict_proba([list(first.values())])[0, 1])
            checks: dict[str, dict[str, str]] = {}
            for kind, server in servers.items():
                got = httpx.post(server.url + server.path, json=first).json()["value"]
                assert abs(got - expected) < 1e-12, (kind, got, expected)
                checks[kind] = limits(server, first)
            print("\nwhat each server answers to a hostile request (not timed)")
            for kind, answers in checks.items():
                print(f"  {kind:<16}" + "  ".join(f"{k}: {v}" for k, v in answers.items()))
            for server in servers.values():  # warm-up
                wrk(server, bodies, 8, 1)  # type: ignore[arg-type]
            runs: list[dict[str, Any]] = []
            for r in range(rounds):
                kinds = KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]
                got_round: dict[str, Any] = {"load": os.getloadavg()[0]}
                for c in conns:
                    for kind in kinds:
                        got_round[f"{kind}/c{c}"] = timed_wrk(servers[kind], bodies, c, seconds)
                runs.append(got_round)
                shown = "  ".join(
                    f"{k} {v['rps']:.0f}/s" for k, v in got_round.items() if k != "load"
                )
                print(f"round {r + 1} (load {got_round['load']:.1f}): {shown}", flush=True)
        finally:
            for server in servers.values():
                server.stop()
    med = statistics.median
    summary: dict[str, Any] = {}
    print(
        f"\nmedians over {rounds} rounds of {seconds:g} s wrk runs; ratios theirs/prodml are "
        "medians of the per-round ratios"
    )
    print(
        f"{'server':<16}{'conns':>6}{'req/s':>9}{'p99 ms':>9}{'non-2xx':>9}"
        f"{'req/s ratio':>13}{'p99 ratio':>11}{'CPU us/req':>12}{'CPU ratio':>11}"
    )
    for c in conns:
        for kind in KINDS:
            key = f"{kind}/c{c}"
            rps = med(g[key]["rps"] for g in runs)
            p99 = med(g[key]["p99_ms"] for g in runs)
            bad = sum(g[key]["non2xx"] for g in runs)
            rr = med(g[key]["rps"] / g[f"prodml/c{c}"]["rps"] for g in runs)
            pr = med(g[key]["p99_ms"] / g[f"prodml/c{c}"]["p99_ms"] for g in runs)
            cpu = med(g[key]["cpu_us"] for g in runs)
            cr = med(g[key]["cpu_us"] / g[f"prodml/c{c}"]["cpu_us"] for g in runs)
            summary[key] = {
                "rps": rps,
                "p99_ms": p99,
                "rps_ratio": rr,
                "p99_ratio": pr,
                "cpu_us": cpu,
                "cpu_ratio": cr,
            }
            print(
                f"{kind:<16}{c:>6}{rps:>9.0f}{p99:>9.2f}{bad:>9.0f}{rr:>12.2f}x{pr:>10.2f}x"
                f"{cpu:>12.0f}{cr:>10.2f}x"
            )
    loads = [g["load"] for g in runs]
    print(f"load average (1 min) over the rounds: {min(loads):.1f}-{max(loads):.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "rounds": runs,
        "summary": summary,
        "limits": checks,
        "seconds": seconds,
        "conns": conns,
        "cores": os.cpu_count(),
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
