"""A first hour with ``prodml``: an empty or wrong-format input, in every reading command.

Each message is one line that says what is wrong and what to do, the same words from
``schema``, ``fingerprint --content`` and ``drift``, exit code 2; paths with spaces and
non-ASCII letters are read as any other.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml import cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("first hour") / "dossier é ü"
    root.mkdir()
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0]}), root / "réf data.parquet")
    (root / "empty.parquet").write_bytes(b"")
    (root / "empty.csv").write_bytes(b"")
    (root / "text.parquet").write_text("a,b\n1,2\n")  # a CSV file under a Parquet name
    return root


def _commands(path: Path, ref: Path) -> list[list[str]]:
    return [
        ["schema", str(path)],
        ["fingerprint", "--content", str(path)],
        ["drift", str(ref), str(path), "-q"],
        ["drift", str(path), str(ref), "-q"],
    ]


def _one_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    return err.strip()


@pytest.mark.parametrize("name", ["empty.parquet", "empty.csv"])
def test_an_empty_file_is_named_empty_with_what_to_give(
    folder: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "Parquet file size is 0 bytes", "Empty CSV file", or pyarrow's "Error
    # creating dataset. Could not read schema from ...", depending on the command.
    for argv in _commands(folder / name, folder / "réf data.parquet"):
        line = _one_error(argv, capsys)
        assert line == (
            f"error: {folder / name} is empty (0 bytes): give a Parquet file, "
            "or a CSV file with a header row"
        )


def test_a_file_of_the_wrong_format_says_which_reader_and_what_to_do(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = folder / "text.parquet"
    lines = {_one_error(argv, capsys) for argv in _commands(path, folder / "réf data.parquet")}
    assert len(lines) == 1, lines  # the same words from every command
    (line,) = lines
    assert line.startswith(f"error: cannot read {path} as Parquet: ")
    assert "rename a CSV (.csv) file to match" in line
    assert "Error creating dataset" not in line
    assert "input source" not in line


def test_a_path_with_spaces_and_accents_reads(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = folder / "réf data.parquet"
    assert cli.main(["schema", str(ref)]) == 0
    assert capsys.readouterr().out.split() == ["x", "float", "not", "null"]
    assert cli.main(["drift", str(ref), str(ref), "-q"]) == 0
    assert "0 of 1 columns drifted" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("value", "says"),
    [("-1", "invalid count -1: expected 1 or more"), ("x", "invalid count 'x': not an integer")],
)
def test_drift_k_below_one_is_a_usage_error_naming_the_flag(
    folder: Path, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: "error: Invalid Privacy: k: Input should be greater than or equal to 1".
    ref = str(folder / "réf data.parquet")
    line = _one_error(["drift", ref, ref, "--k", value], capsys)
    assert line == f"error: prodml drift: argument --k: {says} (see 'prodml drift --help')"
