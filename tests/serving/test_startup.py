"""``prodml serve`` on a database: the port answers at once, whatever the database does.

The registry was opened, and the reference resolved, before listening: a database that
accepted the connection and never answered kept the port closed (no liveness, no
``/readyz`` saying why), and a refused connection was a ``RegistryError`` that the load
counted as permanent, so it was never retried. Now the open is waited for at most
``OPEN_WAIT_S`` seconds before listening, then goes on on the load thread (its connect
bounded by the driver's timeout, retried while ``/readyz`` says why); what the registry
says within that time (a reference that does not exist) is still one line, exit 2.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prodml.errors import RegistryError
from prodml.registry import ModelRegistry
from prodml.registry._cli import open_registry
from prodml.serving._loading import load_failure

from .test_cli import PRODML, free_port
from .test_loading import PASSWORD, until


@pytest.fixture
def silent_database() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung database)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):  # the timeout: look at stop again
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def _up(url: str, proc: subprocess.Popen[str]) -> bool:
    try:
        return httpx.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        assert proc.poll() is None, proc.communicate()
        return False


def test_a_database_that_hangs_does_not_keep_the_port_closed(silent_database: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = f"postgresql+psycopg://ann:{PASSWORD}@127.0.0.1:{silent_database}/models"
    cmd = [*PRODML, "serve", "churn@production", "--db", db, "--artifacts", "s3://models/reg",
           "--port", str(port), "--watch-every", "0", "--access-log"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        until(lambda: _up(url, proc), 180)  # the database has not answered (its timeout: 30 s)
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] in ("loading", "failed")
        predict = httpx.post(f"{url}/v1/predict", json={})
        assert predict.status_code == 503
        assert predict.headers["content-type"] == "application/problem+json"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    # The access log covers the answers given while loading.
    logged = [(line["path"], line["status"]) for line in map(json.loads, out.splitlines())]
    assert ("/readyz", 503) in logged
    assert ("/v1/predict", 503) in logged
    assert err.splitlines()[0] == (
        f"prodml serve: loading churn@production, listening on {url} (Ctrl-C to stop)"
    )
    assert PASSWORD not in err


def test_a_reference_that_does_not_exist_on_a_database_exits_2_in_one_line(
    tmp_path: Path, registry: ModelRegistry
) -> None:
    """The database answers at once: the error comes before listening, as before."""
    port = free_port()
    root = tmp_path / "registry"
    cmd = [*PRODML, "serve", "churn@staging", "--db", f"sqlite:///{root / 'registry.db'}",
           "--artifacts", f"file://{root / 'artifacts'}", "--port", str(port)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert "staging" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_refused_database_connection_is_retried_not_final() -> None:
    """The registry's RegistryError is raised from the driver's OperationalError."""
    db = f"postgresql+psycopg://ann:{PASSWORD}@127.0.0.1:{free_port()}/models"
    with pytest.raises(RegistryError) as info:
        open_registry(None, db, "s3://models/reg")
    assert load_failure(info.value) == (True, "the registry cannot be reached (OperationalError)")
    # A prodml error raised from a file that is not there is not a reachability problem.
    missing = Path("/nonexistent/prodml/artifact.bin")
    with pytest.raises(FileNotFoundError) as cause:
        missing.read_bytes()
    err = RegistryError(f"artifact {missing} is missing")
    err.__cause__ = cause.value
    assert load_failure(err) == (False, f"artifact {missing} is missing")
