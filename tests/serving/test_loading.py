"""``prodml serve`` listens before the model has loaded: probes, 503s, retries, failures.

Real uvicorn servers on loopback (``BackgroundServer``, and ``prodml serve`` itself in a
thread and in a subprocess), with loaders slowed down by an event the test sets.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from prodml.cli import main
from prodml.errors import ConfigError, NotFoundError
from prodml.registry import ModelRegistry
from prodml.serving import BackgroundServer, Predictor, _loading, create_app
from prodml.serving._loading import Loading, load_failure

from .conftest import SCHEMA, make_data, records
from .test_cli import PRODML, free_port

PASSWORD = "hunter2pw"  # noqa: S105 - a made-up one, to look for in what is shown


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in record.items()}


REC = jsonable(records(make_data(3))[0])


def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def until_ready(url: str, proc: subprocess.Popen[str], timeout: float) -> None:
    """Wait for ``/readyz`` to answer 200, failing at once if the server process ended."""

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz").status_code == 200
        except httpx.TransportError:
            assert proc.poll() is None
            return False

    until(ready, timeout)


@pytest.fixture
def pred(pipe: Any, lr: Any) -> Predictor:
    return Predictor(pipe, lr, schema=SCHEMA, name="churn", version=3)


def test_probes_and_predictions_while_a_slow_model_loads(pred: Predictor) -> None:
    """Was: nothing listened until the model had loaded (a startupProbe was needed)."""
    gate = threading.Event()

    def load() -> Any:
        gate.wait(30)
        return create_app(pred, max_batch=4)

    loading = Loading(load, name="churn@production")
    with BackgroundServer(loading) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").status_code == 200  # liveness: alive while loading
        r = client.get("/readyz")
        assert (r.status_code, r.json()) == (
            503,
            {"status": "loading", "reason": "loading churn@production"},
        )
        assert r.headers["retry-after"] == "1"
        for method, path in (("POST", "/v1/predict"), ("GET", "/v1/model"),
                             ("GET", "/openapi.json"), ("GET", "/metrics")):  # fmt: skip
            r = client.request(method, path, json=REC, headers={"X-Request-ID": "abc"})
            assert r.status_code == 503, path
            assert r.headers["content-type"] == "application/problem+json"
            assert r.headers["retry-after"] == "1"
            assert r.headers["x-request-id"] == "abc"
            assert r.json()["detail"] == "the model is not loaded yet: loading churn@production"
        assert not loading.ready
        gate.set()
        until(lambda: client.get("/readyz").status_code == 200)
        r = client.post("/v1/predict", json=REC)
        assert r.status_code == 200, r.text
        assert r.json()["value"] == pred.predict_record(records(make_data(3))[:1][0]).value
        assert client.get("/v1/model").json()["version"] == 3
    assert loading.error is None


def test_a_registry_that_cannot_be_reached_is_retried_then_serves(
    pred: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_loading, "FIRST_DELAY_S", 0.2)
    failures = [0]
    seen: list[dict[str, Any]] = []

    def load() -> Any:
        if failures[0] < 3:
            failures[0] += 1
            raise ConnectionRefusedError(111, f"postgresql://ann:{PASSWORD}@db:5432 refused")
        return create_app(pred)

    with BackgroundServer(Loading(load, name="churn@production")) as server:

        def ready() -> bool:
            r = httpx.get(f"{server.url}/readyz")
            if r.status_code == 503:
                seen.append(r.json())
            return r.status_code == 200

        until(ready)
    failed = [s for s in seen if s["status"] == "failed"]
    assert failed, seen
    for state in failed:  # which attempts a poll sees depends on the machine's load
        assert re.fullmatch(
            r"the registry cannot be reached \(ConnectionRefusedError\); retrying in "
            r"(0\.2|0\.4|0\.8) s",
            state["reason"],
        ), state
    assert not any(PASSWORD in s["reason"] or "postgresql" in s["reason"] for s in seen)
    assert failures[0] == 3


@pytest.mark.parametrize("transient", [False, True])
def test_a_load_that_fails_for_good_stops_the_server(
    transient: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Permanent failures at once; transient ones once ``retry_for_s`` has passed."""
    monkeypatch.setattr(_loading, "FIRST_DELAY_S", 0.1)
    gate = threading.Event()

    def load() -> Any:
        gate.wait(30)
        if transient:
            raise TimeoutError(f"timed out reaching s3://ann:{PASSWORD}@bucket")
        raise NotFoundError(
            f"no alias 'production' on model 'churn' (db postgresql://ann:{PASSWORD}@h/db)"
        )

    loading = Loading(load, name="churn@production", retry_for_s=0.5)
    server = BackgroundServer(loading).start()
    try:
        assert httpx.get(f"{server.url}/readyz").json()["status"] == "loading"
        gate.set()
        until(lambda: loading.error is not None)
        until(lambda: server._thread is not None and not server._thread.is_alive())
    finally:
        server.stop()
    assert isinstance(loading.error, TimeoutError if transient else NotFoundError)
    status, reason = loading._status
    assert status == "failed"
    assert PASSWORD not in reason
    expected = (
        "the registry cannot be reached (TimeoutError)"
        if transient
        else "no alias 'production' on model 'churn' (db postgresql://ann:***@h/db)"
    )
    assert reason == expected


def test_load_failures_are_classified_and_never_quote_a_service_error() -> None:
    class OperationalError(Exception):  # as sqlalchemy names it
        pass

    assert load_failure(OperationalError(f"connection to postgresql://u:{PASSWORD}@h")) == (
        True,
        "the registry cannot be reached (OperationalError)",
    )
    assert load_failure(TypeError(f"odd {PASSWORD}")) == (
        False,
        "an unexpected TypeError (see the server's log)",
    )


def test_prodml_serve_listens_before_loading_and_exits_2_when_the_load_fails(
    tmp_path: Path,
    registry: ModelRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """In-process, so the load can be held: from_registry waits for the test's event.

    The reference resolves (a missing one fails before listening: see test_cli_errors); the
    load itself then fails, as an artifact that is not a servable pair does.
    """
    gate = threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        gate.wait(30)
        raise ConfigError("churn@production is a LinearRegression, not a (pipeline, model) pair")

    monkeypatch.setattr(Predictor, "from_registry", slow)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    registry_dir = str(tmp_path / "registry")
    argv = ["serve", "churn@production", "--registry", registry_dir, "--port", str(port)]
    code: list[int] = []
    thread = threading.Thread(target=lambda: code.append(main(argv)))
    thread.start()
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        until(up)
        assert httpx.get(f"{url}/readyz").json() == {
            "status": "loading",
            "reason": "loading churn@production",
        }
    finally:
        gate.set()
        thread.join(30)
    assert code == [2]
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"prodml serve: loading churn@production, listening on {url} (Ctrl-C to stop)",
        "error: churn@production is a LinearRegression, not a (pipeline, model) pair",
    ]


def test_prodml_serve_says_when_the_model_is_ready(tmp_path: Path, registry: ModelRegistry) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [*PRODML, "serve", "churn@production", "--registry", str(tmp_path / "registry"),
           "--port", str(port), "--watch-every", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        until_ready(url, proc, 60)
        assert httpx.post(f"{url}/v1/predict", json=REC).json()["version"] == 1
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert err.splitlines()[:2] == [
        f"prodml serve: loading churn@production, listening on {url} (Ctrl-C to stop)",
        "prodml serve: churn@production as Predictor(default=churn@1) is ready",
    ]


def test_registry_wait_0_listens_before_the_registry_is_opened(
    tmp_path: Path, registry: ModelRegistry
) -> None:
    """With the default wait a reference that does not exist is one line before listening
    (tests/serving/test_startup.py); with ``--registry-wait 0`` the server listens first,
    and the failed load then ends it, exit 2."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [*PRODML, "serve", "churn@staging", "--registry", str(tmp_path / "registry"),
           "--port", str(port), "--registry-wait", "0"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"prodml serve: loading churn@staging, listening on {url} (Ctrl-C to stop)",
        "error: model 'churn' has no alias 'staging'",
    ]


def test_registry_wait_keeps_the_port_closed_that_long_for_a_silent_database() -> None:
    """A database that accepts and never answers: the port opens after --registry-wait."""
    pytest.importorskip("psycopg", reason="needs the 'postgres' extra")
    pytest.importorskip("s3fs", reason="needs the 's3' extra")
    with socket.socket() as silent:  # the kernel accepts into the backlog; nobody answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        db = f"postgresql+psycopg://ann:{PASSWORD}@127.0.0.1:{silent.getsockname()[1]}/m"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [*PRODML, "serve", "churn@production", "--db", db, "--artifacts", "s3://m/r",
               "--port", str(port), "--watch-every", "0", "--registry-wait", "8"]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:

            def up() -> bool:
                try:
                    return httpx.get(f"{url}/healthz").status_code == 200
                except httpx.TransportError:
                    assert proc.poll() is None
                    return False

            until(up, 120)
            waited = time.monotonic() - started
            assert httpx.get(f"{url}/readyz").status_code == 503
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=60)
    assert waited >= 8, waited  # a lower bound: a slow machine only makes it longer
    assert err.splitlines()[0].startswith("prodml serve: loading churn@production, listening")
    assert PASSWORD not in err


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("soon", "invalid seconds 'soon': not a number"),
        ("-1", "invalid seconds -1: expected 0 (do not wait) to 86400"),
        ("nan", "invalid seconds nan: expected 0 (do not wait) to 86400"),
        ("inf", "invalid seconds inf: expected 0 (do not wait) to 86400"),
        ("1e9", "invalid seconds 1e+09: expected 0 (do not wait) to 86400"),
    ],
)
def test_a_bad_registry_wait_is_a_usage_error(
    value: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["serve", "churn@1", "--registry", str(tmp_path), "--registry-wait", value]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: prodml serve: argument --registry-wait: {said} (see 'prodml serve --help')\n"
    )
