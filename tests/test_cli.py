from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from prodml import __version__
from prodml.cli import main
from prodml.fingerprint import fingerprint_table

if TYPE_CHECKING:
    from tests.conftest import DemoRun


@pytest.fixture
def table_files(tmp_path: Path) -> tuple[Path, Path]:
    df = pd.DataFrame({"x": [1.5, None, 3.0], "n": [1, 2, 3], "c": ["a", "b", "a"]})
    parquet = tmp_path / "t.parquet"
    csv = tmp_path / "t.csv"
    df.to_parquet(parquet, index=False)
    df.to_csv(csv, index=False)
    return parquet, csv


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == __version__


def test_schema_command(table_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    parquet, csv = table_files
    assert main(["schema", str(parquet)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["x  float", "n  int  not null", "c  string  not null"]
    assert main(["schema", str(csv), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [c["dtype"] for c in d["columns"]] == ["float", "int", "string"]


def test_fingerprint_command(
    table_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    parquet, csv = table_files
    assert main(["fingerprint", "--content", str(parquet)]) == 0
    from_parquet = capsys.readouterr().out.strip()
    assert main(["fingerprint", "--content", str(csv)]) == 0
    assert capsys.readouterr().out.strip() == from_parquet
    assert from_parquet == fingerprint_table(pd.read_parquet(parquet))
    assert main(["fingerprint", str(parquet)]) == 0
    assert capsys.readouterr().out.strip() != from_parquet  # file bytes, not content


def test_errors_exit_2_with_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", str(tmp_path / "missing.parquet")]) == 2
    assert "error: no such file" in capsys.readouterr().err
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert main(["schema", str(bad)]) == 2
    assert "expected a .parquet or .csv file" in capsys.readouterr().err


def test_demo_command_prints_its_outcome(demo_run: DemoRun) -> None:
    # The whole story is checked in tests/test_demo.py; here, the command and its output.
    # demo_run ran `python -m prodml.cli demo --out DIR --quiet` and checked its exit code.
    assert demo_run.stdout.startswith("prodml demo: 6000 requests served, 2 rejected;")
    assert "production is v2" in demo_run.stdout
    assert demo_run.summary["production_version"] == 2  # summary.json, as the fixture read it


def test_the_registry_subcommands_dispatched_are_those_with_a_parser() -> None:
    from prodml import cli
    from prodml.registry._cli import SUBCOMMANDS

    assert set(cli._REGISTRY_SUBCOMMANDS) == set(SUBCOMMANDS)


def test_help_tells_a_new_user_where_to_start(capsys: pytest.CaptureFixture[str]) -> None:
    # `prodml --help` said "demo and inspection tools" above serve, score and store.
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "serving and batch scoring, a feature store" in out
    assert "New here? 'prodml demo' runs the whole story" in out
    # `prodml demo --help` had no description: what it does, writes, and skips.
    assert main(["demo", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Writes report.html, drift.html, summary.json" in out
    assert "(store, sign, serve) are skipped" in out
    assert "'prodml registry OUT/registry churn'" in out


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("schema", "a Parquet or CSV file, or a folder of Parquet files"),
        ("fingerprint", "with --content a Parquet or CSV table"),
    ],
)
def test_path_arguments_say_what_they_take(
    command: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"]) == 0
    assert says in " ".join(capsys.readouterr().out.split())


def test_output_cut_short_by_its_reader_ends_quietly(
    table_files: tuple[Path, Path], tmp_path: Path
) -> None:
    # `prodml schema x.parquet | head -0` printed "error: Broken pipe" and exited 2, as if
    # prodml had failed; a shell tool stops quietly (killed by SIGPIPE: 141).
    import os
    import subprocess
    import sys

    parquet, _ = table_files
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "prodml.cli", "schema", str(parquet)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=tmp_path,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == ""


def test_python_dash_m_prodml_is_the_prodml_command(tmp_path: Path) -> None:
    # For an environment whose scripts folder is not on PATH: `python -m prodml` failed
    # with "No module named prodml.__main__".
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "prodml", "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("prodml ")
