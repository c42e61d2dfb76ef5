"""The opt-in access log: one JSON line per request, and nothing a request carried.

Real uvicorn on loopback (``BackgroundServer``) for ``create_app(access_log=True)``, and
``prodml serve --access-log`` in a subprocess, whose stdout must be JSON lines only.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from prodml.registry import ModelRegistry
from prodml.serving import BackgroundServer, Predictor, create_app
from prodml.serving._access import ACCESS_LOGGER

from .conftest import SCHEMA
from .test_cli import PRODML, free_port
from .test_loading import REC, until, until_ready

KEYS = {"time", "method", "path", "status", "duration_s", "bytes", "request_id"}
TOKEN = "tok3nSECRETvalue"  # noqa: S105 - made up, looked for in the log
EMAIL = "ann.lee@example.com"


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]


def test_one_json_line_per_request_without_what_the_request_carried(
    pipe: Any, lr: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Predictor(pipe, lr, schema=SCHEMA, name="churn"), access_log=True,
                     max_body_bytes=50_000)  # fmt: skip
    secret_rec = {**REC, "f0": EMAIL}  # a feature value (refused, 422): never logged
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        secret = {"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "r-1"}
        ok = client.post(f"/v1/predict?token={TOKEN}", json=REC, headers=secret)
        bad = client.post("/v1/predict", json=secret_rec)
        big = client.post("/v1/predict", content=b"[" + b"1," * 40_000 + b"1]",
                          headers={"content-type": "application/json"})  # fmt: skip
        lost = client.get(f"/v1/users/{EMAIL}/x")
        ready = client.get("/readyz")
        until(lambda: len(_lines(caplog)) >= 5)
    answers = [ok, bad, big, lost, ready]
    assert [r.status_code for r in answers] == [200, 422, 413, 404, 200]
    lines = _lines(caplog)
    assert len(lines) == 5
    for line, answer in zip(lines, answers, strict=True):
        assert set(line) == KEYS
        assert line["status"] == answer.status_code
        assert line["bytes"] == len(answer.content)  # the body as sent
        assert line["request_id"] == answer.headers["x-request-id"]
        assert line["method"] == answer.request.method
        assert 0 <= line["duration_s"] < 60
        assert line["time"].endswith("+00:00")
    assert lines[0]["request_id"] == "r-1"
    assert [line["path"] for line in lines] == [
        "/v1/predict", "/v1/predict", "/v1/predict", "/v1/users/<redacted>/x", "/readyz",
    ]  # fmt: skip
    text = "\n".join(r.getMessage() for r in caplog.records)
    for leaked in (TOKEN, EMAIL, "token=", "Bearer"):
        assert leaked not in text


def test_off_by_default_and_silent_below_info(pipe: Any, lr: Any, caplog: Any) -> None:
    pred = Predictor(pipe, lr, schema=SCHEMA, name="churn")
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    with BackgroundServer(create_app(pred)) as server:
        assert httpx.post(f"{server.url}/v1/predict", json=REC).status_code == 200
    caplog.set_level(logging.WARNING, logger=ACCESS_LOGGER)
    with BackgroundServer(create_app(pred, access_log=True)) as server:
        assert httpx.post(f"{server.url}/v1/predict", json=REC).status_code == 200
    assert _lines(caplog) == []


def test_prodml_serve_access_log_writes_json_lines_to_stdout(
    tmp_path: Path, registry: ModelRegistry
) -> None:
    """On a database URL (here SQLite): answers while loading are logged too."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    root = tmp_path / "registry"
    cmd = [*PRODML, "serve", "churn@production", "--db", f"sqlite:///{root / 'registry.db'}",
           "--artifacts", f"file://{root / 'artifacts'}", "--port", str(port),
           "--watch-every", "0", "--access-log"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    try:
        until_ready(url, proc, 240)
        r = httpx.post(f"{url}/v1/predict?api_key={TOKEN}", json={**REC, "s1": EMAIL})
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    lines = [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON
    assert all(set(line) == KEYS for line in lines)
    assert lines[-1]["path"] == "/v1/predict"
    assert lines[-1]["status"] == 200
    assert lines[-1]["request_id"] == r.headers["x-request-id"]
    assert [line["status"] for line in lines[:-1] if line["path"] == "/readyz"][-1] == 200
    assert TOKEN not in out + err
    assert EMAIL not in out + err
    assert "is ready" in err
