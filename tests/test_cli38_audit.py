"""The ``prodml`` command as a user of other tools' CLIs expects it (audit of stop 38).

Exit codes tell a bug (70, ``EX_SOFTWARE``) from an error the user can fix (2, as
argparse's usage errors); ``prodml schema`` shows a file's column names without sending
their control characters to the terminal, and says what it marks sensitive.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from prodml import cli


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people ünïcode.parquet"
    pd.DataFrame(
        {
            "email": [f"user{i}@example.com" for i in range(20)],
            "age": list(range(20)),
            "note\n\x1b[31mred": ["x"] * 20,
        }
    ).to_parquet(path)
    return path


def test_a_bug_and_a_user_error_exit_with_distinct_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both exited 2: a script could not tell "fix the command" from "report a bug"."""
    assert cli.main(["schema", str(tmp_path / "missing.parquet")]) == 2
    assert capsys.readouterr().err == f"error: no such file: {tmp_path / 'missing.parquet'}\n"
    assert cli.main(["schema", "--nullable", "sometimes", "x.parquet"]) == 2  # usage
    capsys.readouterr()

    def broken(args: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "_cmd_schema", broken)
    assert cli.main(["schema", str(tmp_path / "missing.parquet")]) == cli.EXIT_BUG == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.splitlines()[-1] == "error: a bug in prodml (ZeroDivisionError): please report it"


def test_exit_codes_are_stated_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "70 a bug in prodml" in " ".join(capsys.readouterr().out.split())


def test_schema_quotes_names_a_terminal_would_run(
    people: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column name holding a newline and an ANSI escape went to stdout raw: the escape
    recoloured the terminal and the newline split the one-line-per-column output."""
    assert cli.main(["schema", str(people)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("'note\\n\\x1b[31mred'  string")
    assert lines[1].startswith("age ")


def test_schema_says_what_it_marks_sensitive_on_one_line(
    people: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The text output left out ``sensitive`` (the JSON had it), and the warning came as
    Python's two lines: the source file, line and the call in prodml's code."""
    assert cli.main(["schema", str(people)]) == 0
    captured = capsys.readouterr()
    email = captured.out.splitlines()[0]
    assert email.split() == ["email", "string", "not", "null", "sensitive"]
    (warning,) = captured.err.splitlines()
    assert warning.startswith("warning: column 'email' looks like it holds personal data")
    assert "cli.py" not in captured.err
    assert "example.com" not in captured.err


def test_schema_json_is_the_inferred_schema(
    people: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prodml.privacy import PersonalDataWarning
    from prodml.schema import Schema

    assert cli.main(["schema", str(people), "--json"]) == 0
    shown = Schema.from_json(capsys.readouterr().out)
    with pytest.warns(PersonalDataWarning, match="'email'"):
        assert shown == Schema.infer(pd.read_parquet(people), nullable="observed")
    assert shown["email"].sensitive


def test_python_dash_m_exits_70_on_a_bug(tmp_path: Path) -> None:
    """The same codes from a real process (``python -m prodml``), not only from main()."""
    path = tmp_path / "a.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    code = (
        "import sys, prodml.cli as c\n"
        "def broken(args): raise RuntimeError('boom')\n"
        "c._cmd_schema = broken\n"
        f"sys.exit(c.main(['schema', {str(path)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 70
    assert done.stderr.splitlines()[-1] == "error: a bug in prodml (RuntimeError): please report it"
    ok = subprocess.run(
        [sys.executable, "-m", "prodml", "schema", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "a  int  not null\n", "")


@pytest.mark.parametrize(
    ("code", "expected", "err"),
    [
        (None, 0, ""),
        (0, 0, ""),
        (3, 3, ""),
        ("the server stopped", 2, "error: the server stopped\n"),
    ],
)
def test_a_command_that_calls_sys_exit_keeps_python_s_meaning(
    code: object,
    expected: int,
    err: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``sys.exit()`` (a library's clean stop, uvicorn's) returned 2, an error, and
    ``sys.exit("message")`` returned 2 without the message Python would have printed."""

    def stops(args: object) -> int:
        sys.exit(code)

    monkeypatch.setattr(cli, "_cmd_version", stops)
    assert cli.main(["version"]) == expected
    assert capsys.readouterr().err == err


@pytest.mark.skipif(sys.platform != "linux", reason="file names of any bytes: Linux's rule")
@pytest.mark.parametrize("command", [["schema"], ["fingerprint", "--content"], ["drift"]])
def test_a_file_name_that_is_not_utf8_is_an_error_not_a_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """pyarrow raised ``UnicodeEncodeError`` on the path: a traceback and "a bug"."""
    import os

    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.parquet")  # Latin-1 bytes
    with open(os.fsencode(name), "wb") as out:
        pd.DataFrame({"a": [1]}).to_parquet(out)
    argv = [*command, name] if command != ["drift"] else ["drift", name, name]
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: cannot read ")
    assert line.endswith(
        "its name is not UTF-8 text, which pyarrow needs; rename it (or link it under a UTF-8 name)"
    )
