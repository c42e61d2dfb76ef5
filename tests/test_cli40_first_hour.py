"""A new user's first hour with the CLI: what read badly, fixed.

A usage error repeats the argument argparse refused; when that argument was a store URL
with a password, the password was printed (every other error masks it as ``***``).
"""

from __future__ import annotations

import pytest

from prodml import cli

URL = "postgresql://bob:s3cr3tpass@db.example/registry"


@pytest.mark.parametrize(
    "argv",
    [
        ["version", URL],  # unrecognized arguments: ...
        ["demo", "--seed", URL],  # invalid seed '...'
        ["schema", "--nullable", URL, "x.csv"],  # invalid choice: '...'
        ["drift", f"--alpha={URL}", "a.csv", "b.csv"],  # a subcommand's own parser
        ["registry", "card", "x", "y", URL],  # the registry's inner parsers
    ],
    ids=["unrecognized", "type", "choice", "plugin", "inner"],
)
def test_a_usage_error_never_echoes_a_password(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "s3cr3tpass" not in err  # before: printed as typed
    assert "postgresql://bob:***@db.example/registry" in err
    assert err.startswith("error: prodml ")
    assert err.count("\n") == 1


def test_a_usage_error_masks_a_secret_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PGPASSWORD", "hunter2-but-longer")
    assert cli.main(["demo", "--seed", "hunter2-but-longer"]) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "invalid seed '***'" in err


def test_the_command_list_says_schema_reads_a_parquet_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "schema infer the schema of a Parquet or CSV file, or a folder of Parquet files" in out
