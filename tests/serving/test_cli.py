"""``prodml serve`` and ``prodml score`` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from prodml.cli import main
from prodml.registry import ModelRegistry, PickleFallbackWarning

from .conftest import SCHEMA, make_data, records

PRODML = [sys.executable, "-m", "prodml.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[str], url: str) -> None:
    """Until ``url``'s /readyz answers 200; the server must not exit meanwhile (60 s)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_serve_answers_then_stops_on_sigterm(tmp_path: Path, registry: ModelRegistry) -> None:
    port = free_port()
    cmd = [*PRODML, "serve", "churn@production", "--registry", str(tmp_path / "registry"),
           "--port", str(port), "--watch-every", "0.2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url)
        rec = {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in records(make_data(3))[0].items()
        }
        assert httpx.post(f"{url}/v1/predict", json=rec).json()["version"] == 1
        registry.set_alias("churn", "production", 2)
        deadline = time.monotonic() + 30
        while httpx.post(f"{url}/v1/predict", json=rec).json()["version"] != 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    # uvicorn drains, then re-raises the signal so supervisors see how the process ended.
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err
    # One line says what is loading, where, and how to stop (printed once listening,
    # before the model has loaded), one what serves once it has; they name the model, not
    # the registry's path.
    assert err.splitlines()[:2] == [
        f"prodml serve: loading churn@production, listening on {url} (Ctrl-C to stop)",
        "prodml serve: churn@production as Predictor(default=churn@1) is ready",
    ]


def test_score_command_and_one_line_errors(
    tmp_path: Path, registry: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    df = make_data(900, seed=5).drop(columns=["y"]).assign(row_id=np.arange(900))
    df.to_parquet(tmp_path / "in.parquet")
    base = ["--registry", str(tmp_path / "registry")]
    paths = [str(tmp_path / "in.parquet"), str(tmp_path / "out")]
    options = ["--chunk-rows", "400", "--keep", "row_id", "--json"]
    cmd = [*PRODML, "score", "churn@production", *paths, *base, *options]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert (report["rows"], report["parts_written"], report["version"]) == (900, 3, 1)
    assert pq.read_table(tmp_path / "out").column_names == ["row_id", "prediction"]
    bad = [
        ["score", "churn@nope", str(tmp_path / "in.parquet"), str(tmp_path / "o"), *base],
        ["score", "churn@1", str(tmp_path / "none.parquet"), str(tmp_path / "o"), *base],
        [
            "score",
            "churn@1",
            str(tmp_path / "in.parquet"),
            str(tmp_path / "o"),
            "--chunk-rows",
            "0",
            *base,
        ],
        ["serve", "churn@1", "--registry", str(tmp_path / "no-registry")],
        ["serve", "churn@1", "--db", "sqlite://"],
        ["serve", "churn@1"],
    ]
    for args in bad:
        capsys.readouterr()
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: "), err
        assert err.count("\n") == 1, err


def test_score_of_a_pickled_model_says_how_to_trust_it(
    tmp_path: Path,
    registry: ModelRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The refusal said "pass trusted=True ... or install skops": neither is what a
    command-line user types."""
    pipe, lr = registry.load("churn@1", trusted=True)  # stored with skops
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    with pytest.warns(PickleFallbackWarning):
        registry.register("plain", (pipe, lr), signature=SCHEMA)
    make_data(5).drop(columns=["y"]).to_parquet(tmp_path / "in.parquet")
    argv = ["score", "plain@1", str(tmp_path / "in.parquet"), str(tmp_path / "out")]
    argv += ["--registry", str(tmp_path / "registry"), "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load plain version 1: ")
    for hint in ("--trusted", "pip install 'prodml[sklearn]'"):
        assert hint in err
    assert err.count("\n") == 1
    assert main([*argv, "--trusted", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 5


def test_score_checks_its_input_before_loading_the_model(
    tmp_path: Path,
    registry: ModelRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A missing input was reported only after the registry opened and the model loaded
    (15 s on a cold start; a pickled model's "use --trusted" came first)."""
    from prodml.serving import Predictor

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(Predictor, "from_registry", no_load)
    argv = ["score", "churn@1", str(tmp_path / "none"), str(tmp_path / "out")]
    assert main([*argv, "--registry", str(tmp_path / "registry")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: no such file: {tmp_path / 'none'}\n"  # as every command says it
    assert not (tmp_path / "out").exists()


def test_score_says_one_part_not_one_parts(
    tmp_path: Path, registry: ModelRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    make_data(5).drop(columns=["y"]).to_parquet(tmp_path / "in.parquet")
    argv = ["score", "churn@1", str(tmp_path / "in.parquet"), str(tmp_path / "out")]
    assert main([*argv, "--registry", str(tmp_path / "registry"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "(1 part written, 0 kept from before)" in out, out


@pytest.mark.parametrize("command", ["serve", "score"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0  # main returns argparse's exit code
    assert "--registry" in capsys.readouterr().out


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_serve_on_sigint_drains_and_exits_130(
    tmp_path: Path, registry: ModelRegistry, inherited: str
) -> None:
    """Also when started with SIGINT ignored, as a shell starts a background job: uvicorn
    handles SIGINT while serving, then raises it again, which that disposition swallowed
    (exit 0)."""
    port = free_port()
    cmd = [*PRODML, "serve", "churn@production", "--registry", str(tmp_path / "registry"),
           "--port", str(port), "--watch-every", "0"]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if inherited == "ignored" else None,  # noqa: PLW1509
    )
    try:
        _wait_ready(proc, f"http://127.0.0.1:{port}")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    # Ctrl-C is the command's documented 130 (docs/cli.md); it exited 0 under uvicorn.run.
    assert proc.returncode == 130, err
    first, second, *rest = err.splitlines()
    assert first.startswith("prodml serve: loading churn@production, listening on ")
    assert second.startswith("prodml serve: churn@production as ")
    assert rest == ["interrupted"]


def test_serve_applies_every_limit_flag(tmp_path: Path, registry: ModelRegistry) -> None:
    port = free_port()
    cmd = [*PRODML, "serve", "churn@production", "--registry", str(tmp_path / "registry"),
           "--port", str(port), "--watch-every", "0", "--max-records", "2",
           "--max-body-bytes", "3000", "--body-timeout", "0.5", "--max-header-bytes", "2048",
           "--header-timeout", "0.5", "--limit-concurrency", "50"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"

    def raw(data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(data)
            time.sleep(0.1)
            return sock.recv(1000)

    try:
        _wait_ready(proc, url)
        rec = {
            k: (v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in records(make_data(3))[0].items()
        }
        assert httpx.post(f"{url}/v1/predict", json=[rec, rec]).status_code == 200
        assert httpx.post(f"{url}/v1/predict", json=[rec] * 3).status_code == 413
        assert httpx.post(f"{url}/v1/predict", json={**rec, "pad": "x" * 3000}).status_code == 413
        assert raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 3000).startswith(
            b"HTTP/1.1 431 "
        )
        assert raw(b"GET /heal").startswith(b"HTTP/1.1 408 ")  # headers: 0.5 s
        stalled = b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"
        assert raw(stalled).startswith(b"HTTP/1.1 408 ")  # body: 0.5 s
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err


def test_serve_refuses_a_limit_out_of_range_in_one_line(
    tmp_path: Path, registry: ModelRegistry
) -> None:
    for flag, value in (("--max-records", "0"), ("--max-explain", "0"), ("--header-timeout", "0"),
                        ("--body-timeout", "-1")):  # fmt: skip
        done = subprocess.run(
            [*PRODML, "serve", "churn@production", "--registry", str(tmp_path / "registry"),
             "--port", str(free_port()), "--watch-every", "0", flag, value],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, (flag, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert flag.lstrip("-").replace("-", "_").split("_")[0] in done.stderr


@pytest.mark.parametrize("command", ["serve", "score"])
@pytest.mark.parametrize("ref", ["churn/1", "models:/churn/1"])
def test_an_mlflow_style_reference_says_what_to_type(
    tmp_path: Path,
    registry: ModelRegistry,
    capsys: pytest.CaptureFixture[str],
    command: str,
    ref: str,
) -> None:
    paths = [str(tmp_path / "in.parquet"), str(tmp_path / "out")] if command == "score" else []
    assert main([command, ref, *paths, "--registry", str(tmp_path / "registry")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert f"e.g. prodml {command} churn@1" in err
    assert not (tmp_path / "out").exists()  # refused before anything was written
