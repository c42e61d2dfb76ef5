"""A wrong PostgreSQL password: a clear error that never shows the password.

The test PostgreSQL ($PRODML_TEST_POSTGRES_URL) trusts every connection, so any password
works there. This file starts a second, throwaway cluster with password authentication
(scram-sha-256) on a free loopback port, from the same server binaries .ci/services.sh
uses, once per session, and deletes it afterwards.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodml.cli import main
from prodml.errors import ProdMLError
from prodml.registry import ModelRegistry

pytest.importorskip("psycopg", reason="the 'postgres' extra (psycopg) is not installed")


def _bindir() -> str | None:
    """The newest PostgreSQL server binaries (initdb, pg_ctl), as .ci/services.sh finds them."""
    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(f"{d}/initdb", os.X_OK)]
    found.sort(key=lambda d: [int(p) for p in Path(d).parent.name.split(".") if p.isdigit()])
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return str(Path(initdb).parent) if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def password_cluster() -> Iterator[tuple[int, str]]:
    """(port, password) of a PostgreSQL cluster that checks passwords (user postgres)."""
    bindir = _bindir()
    if bindir is None:
        reason = (
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed "
            "(apt-get install postgresql, as .ci/services.sh does)"
        )
        if os.environ.get("PRODML_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="prodml-pgauth-"))
    password = secrets.token_urlsafe(18)
    (root / "pw").write_text(password + "\n")
    if as_pg:  # initdb refuses to run as root: the cluster belongs to postgres
        for p in (root, root / "pw"):
            shutil.chown(p, "postgres")
    data, port = root / "data", _free_port()
    started = False
    try:
        subprocess.run(
            [*as_pg, f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "-A",
             "scram-sha-256", f"--pwfile={root / 'pw'}", "--no-sync", "-E", "UTF8"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [*as_pg, f"{bindir}/pg_ctl", "-D", str(data), "-w", "-t", "60",
             "-l", str(root / "server.log"),
             "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off",
             "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        started = True
        yield port, password
    finally:
        if started:
            subprocess.run(
                [*as_pg, f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)


def url(port: int, password: str) -> str:
    return f"postgresql+psycopg://postgres:{password}@127.0.0.1:{port}/postgres"


def test_a_wrong_password_says_authentication_failed_without_the_password(
    password_cluster: tuple[int, str], tmp_path: Path
) -> None:
    port, password = password_cluster
    wrong = "wr0ng-" + secrets.token_urlsafe(12)
    with pytest.raises(ProdMLError) as info:
        ModelRegistry(url(port, wrong), f"file://{tmp_path}", lock_timeout=5)
    text = str(info.value)
    assert "authentication failed" in text
    assert "check the user name and password" in text
    assert wrong not in text
    assert password not in text
    chain, cause = [], info.value.__cause__ or info.value.__context__
    while cause is not None:  # nothing up the chain quotes it either
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    assert not any(wrong in c for c in chain)


def test_the_right_password_works(password_cluster: tuple[int, str], tmp_path: Path) -> None:
    port, password = password_cluster
    with ModelRegistry(url(port, password), f"file://{tmp_path}") as reg:
        assert reg.models() == []
        assert password not in repr(reg)


def test_cli_with_a_wrong_password_exits_2_with_one_line(
    password_cluster: tuple[int, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port, _ = password_cluster
    wrong = "wr0ng-" + secrets.token_urlsafe(12)
    args = ["registry", "list", "--db", url(port, wrong), "--artifacts", f"file://{tmp_path}"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "authentication failed" in lines[0]
    assert wrong not in err
