"""One rule for a CSV file's types in ``prodml schema`` and ``prodml drift``.

pyarrow's streaming reader (which ``prodml drift`` reads with, in bounded memory) takes a
column's type from the first 1 MB block; its whole-file reader (``prodml schema``) widens
it when a later value needs it. Both commands now follow the whole-file rule.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from prodml import _cli_errors, _cli_files, cli

ROWS = 40_000  # lines of 58 bytes: well past the first 1 MB block

# column -> (the value of the first ROWS rows, the one value at the end)
LATE = {
    "int_then_float": ("1", "1.5"),
    "int_then_text": ("2", "x"),
    "empty_then_int": ("", "7"),
    "int_then_bool": ("1", "true"),
    "date_then_time": ("2024-01-01", "2024-01-01 10:00:00"),
    "int_then_empty": ("3", ""),
    "plain": ("a", "b"),
}


@pytest.fixture(scope="module")
def late_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("csv") / "late types.csv"  # a space in the name too
    head = ",".join(v for v, _ in LATE.values())
    lines = [",".join(LATE), *([head] * ROWS), ",".join(v for _, v in LATE.values())]
    path.write_text("\n".join(lines) + "\n")
    return path


def _streamed_types(path: Path) -> dict[str, pa.DataType]:
    def first_schema(batches: object) -> pa.Schema:
        schema = None
        for batch in batches:  # type: ignore[attr-defined]
            schema = batch.schema
        return schema

    schema = _cli_files.read_streamed(str(path), first_schema, progress=False)
    return {f.name: f.type for f in schema}


def test_drift_reads_a_csv_with_the_types_of_the_whole_file(late_csv: Path) -> None:
    whole = pcsv.read_csv(late_csv).schema
    assert {f.name: f.type for f in whole} == _streamed_types(late_csv)
    assert whole.field("int_then_float").type == pa.float64()  # not the first block's int


def test_schema_and_drift_give_the_same_file_the_same_types(
    late_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["schema", str(late_csv), "--json"]) == 0
    by_schema = {c["name"]: c["dtype"] for c in json.loads(capsys.readouterr().out)["columns"]}
    # Before: "cannot read ...: CSV conversion error to int64: invalid value '1.5'", exit 2.
    code = cli.main(["drift", str(late_csv), str(late_csv), "-q"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "0 of 7 columns drifted" in out
    methods = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:-1]}
    numeric = {name for name, dtype in by_schema.items() if dtype in ("float", "int")}
    assert numeric == {"int_then_float", "int_then_empty", "empty_then_int"}
    for name in numeric:
        assert methods[name] == "ks", (name, methods)
    assert by_schema["int_then_text"] == by_schema["plain"] == "string"


def test_a_value_no_type_reads_is_still_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n" + "1,2\n" * (ROWS * 10) + "1,2,3\n")
    with pytest.raises(_cli_errors._errors(), match=r"ragged\.csv as CSV: .*Expected 2 columns"):
        _cli_files.read_streamed(str(path), list, progress=False)
