"""Every ``prodml`` subcommand fails with one line on stderr and exit code 2 (issue 16).

Each case drives a subcommand through a failure path (missing input, unwritable output,
bad flags, a missing or locked registry, a missing extra) and checks the exit code, that
stderr is exactly one line starting ``error:`` naming the problem, and that no traceback
is printed. Exit code 1 is reserved for ``prodml drift`` finding drift.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from prodml import cli
from prodml.features import FeaturePipeline, steps
from prodml.registry import ModelRegistry


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-errors")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(0, 1, 400), "c": rng.choice(["a", "b"], 400)})
    df.to_parquet(root / "ref.parquet")
    df.assign(x=df.x + 3).to_parquet(root / "drifted.parquet")
    pd.DataFrame({"y": [1.0]}).to_parquet(root / "other.parquet")
    (root / "corrupt.parquet").write_bytes(b"PAR1 not really parquet")
    (root / "defs.json").write_text("{not json")
    (root / "emptydir").mkdir()
    os.mkfifo(root / "fifo.parquet")  # reading it would block the command forever
    pipe = FeaturePipeline([steps.StandardScale(["x"]), steps.OneHot(["c"])]).fit(df)
    model = LogisticRegression().fit(pipe.transform(df), (df.x > 0).astype(int))
    with ModelRegistry.local(root / "reg") as reg:
        reg.register("churn", (pipe, model))
        reg.set_alias("churn", "production", 1)
        reg.register("bare", model)
    return root


# (argv, a fragment the one error line must contain). ``{w}`` is the work folder.
CASES: list[tuple[list[str], str]] = [
    (["nope"], "invalid choice: 'nope'"),
    ([], "required: COMMAND, one of: demo, schema, fingerprint, version, drift, registry"),
    (["--frobnicate"], "required: COMMAND, one of: demo,"),
    (["--frobnicate", "version"], "unrecognized arguments: --frobnicate"),
    (["demo", "--out", "/proc/forbidden"], "cannot create the folder /proc/forbidden"),
    (["demo", "--out", "{w}/ref.parquet"], "it is a file, not a folder"),
    (["demo", "--seed", "x"], "argument --seed: invalid seed 'x': not an integer"),
    (["schema", "{w}/missing.parquet"], "no such file"),
    (["schema", "{w}/defs.json"], "expected a .parquet or .csv file"),
    (["schema", "{w}/corrupt.parquet"], "cannot read"),
    (["schema", "{w}/ref.parquet", "--nullable", "sometimes"], "invalid choice: 'sometimes'"),
    (["fingerprint", "{w}/missing"], "no such file"),
    (["fingerprint", "--content", "{w}/corrupt.parquet"], "cannot read"),
    (["version", "extra"], "unrecognized arguments: extra"),
    (["drift", "{w}/missing.parquet", "{w}/ref.parquet"], "no such file"),
    (["drift", "{w}/ref.parquet"], "required: current"),
    (["drift", "{w}/corrupt.parquet", "{w}/ref.parquet"], "cannot read"),
    (["drift", "{w}/ref.parquet", "{w}/other.parquet"], "column 'x'"),
    (["drift", "{w}/ref.parquet", "{w}/ref.parquet", "--alpha", "2"], "--alpha: invalid level 2"),
    (["drift", "{w}/ref.parquet", "{w}/ref.parquet", "--alpha", "x"], "invalid level 'x'"),
    (["drift", "{w}/ref.parquet", "{w}/ref.parquet", "--columns", "zz"], "column 'zz'"),
    (
        ["drift", "{w}/ref.parquet", "{w}/drifted.parquet", "--html", "/nonexistent/dir/r.html"],
        "the folder /nonexistent/dir does not exist",
    ),
    (["drift", "{w}/ref.parquet", "{w}/ref.parquet", "--json", "/proc/r.json"], "/proc"),
    (["drift", "{w}/ref.parquet", "{w}/ref.parquet", "--json", "{w}/reg"], "it is a folder"),
    (["registry", "{w}/nowhere"], "no registry at"),
    (["registry"], "give a registry folder"),
    (["registry", "{w}/reg", "nomodel"], "'nomodel'"),
    (["registry", "--db", "sqlite:///{w}/none.db", "--artifacts", "file://{w}/a"], "none.db"),
    (["registry", "--db", "sqlite:///{w}/none.db"], "--db needs --artifacts"),
    (["serve", "churn@production"], "give a registry folder"),
    (["serve", "churn@production", "--registry", "{w}/nowhere"], "no registry at"),
    (["serve", "churn@canary", "--registry", "{w}/reg"], "no alias 'canary'"),
    (  # found only by loading the artifact: after the "listening" line (port 0: any)
        ["serve", "bare@latest", "--registry", "{w}/reg", "--port", "0"],
        "not a (pipeline, model) pair",
    ),
    (["serve", "churn@production", "--port", "http"], "invalid port 'http': not a number"),
    (["serve", "churn@production", "--port", "99999999"], "expected 0 to 65535"),
    (
        ["score", "churn@production", "{w}/missing.parquet", "{w}/out", "--registry", "{w}/reg"],
        "no such file: ",  # the words (and the path as shown) of every command
    ),
    (
        ["score", "churn@production", "{w}/corrupt.parquet", "{w}/out", "--registry", "{w}/reg"],
        "cannot read corrupt.parquet as Parquet",
    ),
    (
        ["score", "churn@production", "{w}/ref.parquet", "/proc/out", "--registry", "{w}/reg"],
        "cannot create the folder /proc/out",
    ),
    (
        ["score", "bare@latest", "{w}/ref.parquet", "{w}/out", "--registry", "{w}/reg"],
        "not a (pipeline, model) pair",
    ),
    (["score", "churn@production", "{w}/ref.parquet", "--registry", "{w}/reg"], "required: dest"),
    # Found by the CLI sweep (exploratory testing): each was a traceback, exit 0 on the
    # wrong input, a message without the path, or uvicorn's own line and exit 3.
    (["schema", ""], "the path is empty"),  # was: the current folder read as a table
    (["schema", "{w}/emptydir"], "the folder holds no Parquet files"),  # was: exit 0, nothing
    (["schema", "{w}/fifo.parquet"], "fifo.parquet is not a regular file or folder"),
    (["fingerprint", ""], "the path is empty"),  # was: the current folder's hash
    (["fingerprint", "{w}/fifo.parquet"], "is not a regular file or folder"),
    (["fingerprint", "--content", "{w}/emptydir"], "the folder holds no Parquet files"),
    (["drift", "", "{w}/ref.parquet"], "the path is empty"),
    (["drift", "{w}/ref.parquet", "{w}/fifo.parquet"], "is not a regular file or folder"),
    (["demo", "--seed", "-1"], "argument --seed: invalid seed -1: expected 0 to"),  # traceback
    (["demo", "--seed", "99999999999999999999"], "invalid seed 99999999999999999999"),
    (["demo", "--out", ""], "the output path is empty"),  # was: the demo written into "."
    (
        ["serve", "churn@production", "--registry", "{w}/reg", "--host", "256.1.1.1"],
        "cannot listen on 256.1.1.1:8000",  # was: uvicorn's "ERROR: ..." and exit 3
    ),
    (
        ["score", "churn@production", "", "{w}/out", "--registry", "{w}/reg"],
        "the path is empty",
    ),
    (
        ["score", "churn@production", "{w}/ref.parquet", "", "--registry", "{w}/reg"],
        "the output path is empty",
    ),
    (
        ["score", "churn@production", "{w}/fifo.parquet", "{w}/out", "--registry", "{w}/reg"],
        "is not a regular file or folder",  # was: "no such file or folder"
    ),
    (
        ["registry", "card", "{w}/reg", "churn@production", "--format", "pdf"],
        "invalid choice: 'pdf'",  # was: argparse's usage block, 4 lines
    ),
    (  # was "prodml: unrecognized ... (see 'prodml --help')": now the subcommand's
        ["schema", "{w}/ref.parquet", "extra"],
        "prodml schema: unrecognized arguments: extra (see 'prodml schema --help')",
    ),
    (
        ["store", "materialize", "{w}/nowhere", "--since", "x"],
        "prodml store materialize: unrecognized arguments: --since x",
    ),
    (["--frobnicate", "schema", "x"], "prodml: unrecognized arguments: --frobnicate"),
    (["store"], "required: ACTION"),
    (["store", "views"], "give a store folder"),
    (["store", "views", "{w}/nowhere"], "no feature store at"),
    (["store", "views", "--offline", "x://"], "--offline and --online go together"),
    (["store", "apply", "{w}/st", "--file", "{w}/defs.json"], "cannot read definitions from"),
    # Arguments are checked before the store is opened (and, for apply, created).
    (["store", "materialize", "{w}/nowhere", "--end", "x"], "--end 'x' is not an ISO time"),
    (["store", "materialize", "{w}/nowhere"], "no feature store at"),
    (["store", "online", "{w}/nowhere", "--entity", "{{", "--feature", "v:f"], "not JSON"),
    (["store", "online", "{w}/nowhere", "--entity", "[1]", "--feature", "v:f"], "JSON object"),
    (
        ["store", "online", "{w}/nowhere", "--entity", '{{"a": 1}', "--feature", "v:f"],
        "no feature",
    ),
]


def _argv(template: list[str], work: Path) -> list[str]:
    return [a.replace("{w}", str(work)).replace("{{", "{") for a in template]


@pytest.mark.parametrize(("argv", "fragment"), CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_failure_is_one_line_and_exit_2(
    work: Path, argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(_argv(argv, work))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    if argv[:1] == ["serve"] and "pair" in fragment:  # found by loading, after listening
        assert lines[0].startswith("prodml serve: loading bare@latest, listening on http://")
        lines.pop(0)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert fragment.replace("{w}", str(work)) in lines[0]


LONG = "a" * 5_000  # the system refuses it: "File name too long"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["schema", LONG], "cannot read 'aaa"),
        (["drift", f"{LONG}.parquet", "{w}/ref.parquet"], "cannot read 'aaa"),
        (["fingerprint", LONG], "cannot read 'aaa"),
        (["fingerprint", "--content", LONG], "cannot read 'aaa"),
        (["demo", "--out", f"{{w}}/{LONG}"], "File name too long: '"),
        (["schema", "{w}/bad\nname.parquet"], "no such file: '"),
        (["drift", "{w}/ref.parquet", "{w}/bad\rname.parquet"], "no such file: '"),
        (["schema", "{w}/bell\x07.parquet"], "\\x07.parquet'"),
    ],
    ids=[
        "schema-long",
        "drift-long",
        "fingerprint-long",
        "content-long",
        "demo-out-long",
        "newline",
        "carriage-return",
        "bell",
    ],
)
def test_a_hostile_path_is_shown_quoted_and_cut(
    work: Path, argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path too long for the system, or with control characters, is named on one line,
    quoted and cut at ``PATH_QUOTE`` characters: it used to be echoed whole (5,000
    characters), and the system's error for a long name escaped ``_input_path``."""
    from prodml._files import PATH_QUOTE

    code = cli.main(_argv(argv, work))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("error: ")
    assert fragment.replace("{w}", str(work)) in line
    assert len(line) < PATH_QUOTE + 200
    assert "characters in all" in line or "\\" in line


def test_every_subcommand_has_a_failure_case() -> None:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    covered = {argv[0] for argv, _ in CASES if argv and not argv[0].startswith("-")}
    assert set(action.choices) <= covered, set(action.choices) - covered


def test_drift_found_is_exit_1_and_no_drift_is_0(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["drift", str(work / "ref.parquet"), str(work / "ref.parquet")]) == 0
    assert cli.main(["drift", str(work / "ref.parquet"), str(work / "drifted.parquet")]) == 1
    out = capsys.readouterr()
    assert "1 of 2 columns drifted: x" in out.out
    assert out.err == ""


def test_registry_json_aliases_are_objects(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert cli.main(["registry", str(work / "reg"), "--json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["churn"]["aliases"] == {"production": 1}
    assert cli.main(["registry", str(work / "reg"), "churn", "--json"]) == 0
    (version,) = json.loads(capsys.readouterr().out)
    assert version["aliases"] == ["production"]


def test_registry_db_on_a_missing_database_creates_nothing(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = work / "absent.db"
    argv = ["registry", "--db", f"sqlite:///{db}", "--artifacts", f"file://{work}/absent"]
    assert cli.main(argv) == 2
    assert "absent.db" in capsys.readouterr().err
    assert not db.exists()
    assert not (work / "absent").exists()


def test_a_locked_registry_is_still_listed(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A writer holding the database lock does not stop a read-only listing (WAL readers).
    con = sqlite3.connect(work / "reg" / "registry.db", isolation_level=None)
    try:
        con.execute("BEGIN EXCLUSIVE")
        assert cli.main(["registry", str(work / "reg")]) == 0
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert "production->v1" in capsys.readouterr().out


def _run_without(modules: list[str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        f"for m in {modules!r}:\n"
        "    sys.modules[m] = None  # as if the extra were not installed\n"
        "from prodml.cli import main\n"
        f"sys.exit(main({argv!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def test_serve_without_the_serve_extra_names_it(work: Path) -> None:
    argv = ["serve", "churn@production", "--registry", str(work / "reg"), "--port", "0"]
    proc = _run_without(["starlette", "uvicorn"], argv)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert "pip install 'prodml[serve]'" in proc.stderr


def test_a_usage_error_in_a_real_process_is_one_line(work: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "prodml.cli", "drift", str(work / "ref.parquet")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    expected = "error: prodml drift: the following arguments are required: current"
    assert proc.stderr.splitlines() == [f"{expected} (see 'prodml drift --help')"]


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux's /proc/self/mem (EIO)")
@pytest.mark.parametrize(
    "argv",
    [
        ["fingerprint", "{w}/eio.parquet"],
        ["score", "churn@production", "{w}/eio.parquet", "{w}/out-eio", "--registry", "{w}/reg"],
    ],
)
def test_a_file_the_system_cannot_read_is_named(
    work: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    eio = work / "eio.parquet"
    if not eio.is_symlink():
        eio.symlink_to("/proc/self/mem")  # a regular file whose read fails with EIO
    assert cli.main(_argv(argv, work)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    # Was "error: Input/output error", naming no file.
    assert "cannot read" in line
    assert "eio.parquet" in line
    assert line.endswith("Input/output error")


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = ["serve", "churn@production", "--registry", str(work / "reg"), "--port", port]
        assert cli.main(argv) == 2  # was 3, from uvicorn
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"


SECRET = "env-secret-canary-c0ffee42"  # noqa: S105 - a canary, never printed


def test_a_bug_exits_70_after_its_traceback_with_credentials_masked(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in prodml raised out of main: the process exited 1, which `prodml drift` in a
    cron job means "drift found", and the traceback printed the URL's password. Then it
    exited 2, as a usage or input error does: 70 (EX_SOFTWARE) tells the two apart."""
    from prodml.drift import _cli as drift_cli

    url = "postgresql+psycopg://ann:pw-in-the-url-1234@db/registry"

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"unexpected while reading {url} with {SECRET}")

    monkeypatch.setenv("PGPASSWORD", SECRET)
    monkeypatch.setattr(drift_cli, "run", broken)
    argv = ["drift", str(work / "ref.parquet"), str(work / "drifted.parquet"), "--json", url]
    assert cli.main(argv) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "pw-in-the-url-1234" not in err
    assert SECRET not in err
    assert "postgresql+psycopg://ann:***@db/registry with ***" in err
    assert err.splitlines()[-1] == "error: a bug in prodml (RuntimeError): please report it"


def test_a_prodml_error_never_shows_a_credential_of_the_environment(
    work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from prodml.errors import ConfigError

    def echoes(args: object) -> int:
        raise ConfigError(f"the server said: bad token {SECRET}")

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setattr(cli, "_cmd_version", echoes)
    assert cli.main(["version"]) == 2
    assert capsys.readouterr().err == "error: the server said: bad token ***\n"


@pytest.mark.parametrize(
    "argv",
    [
        [
            "score",
            "churn@production",
            "{w}/ref.parquet",
            "s3://bucket/out",
            "--registry",
            "{w}/reg",
        ],
        ["drift", "{w}/ref.parquet", "{w}/ref.parquet", "--html", "s3://bucket/r.html"],
        ["demo", "--out", "gs://bucket/demo"],
        ["schema", "s3://bucket/t.parquet"],
        ["fingerprint", "s3://user:pw-1234@bucket/t.parquet"],
    ],
)
def test_a_url_where_a_local_path_goes_is_refused(
    work: Path,
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`score ... s3://bucket/out` made a folder named `s3:` in the current one and wrote
    the scores there, exit 0; the input side said "no such file"."""
    monkeypatch.chdir(work)
    assert cli.main(_argv(argv, work)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "is a URL: this command" in line
    assert "pw-1234" not in line
    assert not (work / "s3:").exists()
    assert not (work / "gs:").exists()
