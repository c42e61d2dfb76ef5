"""``prodml.cli`` split into ``_cli_files`` and ``_cli_errors``: ``--help`` loads neither.

The file helpers and the failure reporting moved out of ``cli.py`` into two private modules
that ``cli.py`` imports only when a command runs or fails, so that ``prodml --help``
imports exactly the modules it did before the split.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prodml import _cli_errors, cli

_REPORT = "\nimport sys\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('prodml'))))"


def _prodml_modules_after(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code + _REPORT], capture_output=True, text=True, check=True
    )
    return set(proc.stdout.split())


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["version"]])
def test_help_and_version_load_neither_split_module(argv: list[str]) -> None:
    loaded = _prodml_modules_after(f"from prodml.cli import main\nmain({argv!r})")
    assert "prodml.cli" in loaded
    assert loaded.isdisjoint({"prodml._cli_files", "prodml._cli_errors"}), sorted(loaded)


def test_a_usage_error_loads_neither_split_module() -> None:
    # argparse reports it and exits 2: nothing for _cli_errors to say.
    loaded = _prodml_modules_after("from prodml.cli import main\nmain(['no-such-command'])")
    assert loaded.isdisjoint({"prodml._cli_files", "prodml._cli_errors"}), sorted(loaded)


def test_a_failure_is_reported_through_cli_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["schema", str(tmp_path / "missing.parquet")]) == 2
    assert capsys.readouterr().err == f"error: no such file: {tmp_path / 'missing.parquet'}\n"


def test_a_bug_exits_with_the_code_cli_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_cmd_version", broken)
    assert cli.main(["version"]) == cli.EXIT_BUG == 70
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.splitlines()[-1] == "error: a bug in prodml (RuntimeError): please report it"


def test_report_keeps_the_order_of_the_old_except_clauses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from prodml.errors import AuthorizationError

    # An AuthorizationError is a PermissionError too: the OSError branch reads it first,
    # as the `except OSError` before `except Exception` did.
    err = AuthorizationError("no write access to the registry")
    assert _cli_errors.report(err, [], bug=70) == 2
    assert capsys.readouterr().err == "error: no write access to the registry\n"
    assert _cli_errors.report(SystemExit("the server stopped"), [], bug=70) == 2
    assert capsys.readouterr().err == "error: the server stopped\n"


def test_report_masks_a_credential_of_argv(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["registry", "postgresql://user:s3cretpassw0rd@db/reg"]
    err = OSError(13, "Permission denied", "postgresql://user:s3cretpassw0rd@db/reg")
    assert _cli_errors.report(err, argv, bug=70) == 2
    shown = capsys.readouterr().err
    assert "s3cretpassw0rd" not in shown
    assert shown.startswith("error: Permission denied: ")
