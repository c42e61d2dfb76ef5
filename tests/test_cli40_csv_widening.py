"""A CSV whose columns widen after the first block is read again once, not once a column.

``read_streamed`` (``prodml drift``) gave each widened column its own full re-read: the
profile of the whole file started over once per column. Now the first conversion error
leads to one read of the file as raw bytes that finds every column's whole-file type,
and the consumer starts over once. The types stay pyarrow's whole-file ones (golden:
``pyarrow.csv.read_csv`` of the same file), on files made to be tricky.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from prodml import _cli_files

ROWS = 40_000  # well past pyarrow's first 1 MB block

# column -> (the value of the first ROWS rows, the values at the end)
TRICKY = {
    "int_float": ("1", ["1.5"]),
    "int_text": ("2", ["x"]),
    "empty_int": ("", ["7"]),
    "bit_bool": ("1", ["true"]),  # 1 reads as a bool too: bool
    "int_bool_text": ("2", ["true"]),  # 2 does not: past bool, past float: string
    "date_ts": ("2024-01-01", ["2024-01-01 10:00:00"]),
    "ts_ns": ("2024-01-01 10:00:00", ["2024-01-01 10:00:00.123456789"]),
    "ts_utc": ("2024-01-01 10:00:00", ["2024-01-01 10:00:00Z"]),
    "int_na": ("3", ["NA", ""]),
    "int_huge": ("4", ["99999999999999999999"]),  # past int64
    "float_nan_text": ("1.5", ["nan", "n/a"]),
    "plain": ("a", ["b"]),
    "null_text": ("", ["NULL", "z"]),
}


def _write(path: Path, columns: dict[str, tuple[str, list[str]]], rows: int = ROWS) -> Path:
    head = ",".join(v for v, _ in columns.values())
    tail = max(len(late) for _, late in columns.values())
    late = [
        ",".join(late[i] if i < len(late) else first for first, late in columns.values())
        for i in range(tail)
    ]
    path.write_text("\n".join([",".join(columns), *([head] * rows), *late]) + "\n")
    return path


def _streamed(path: Path) -> tuple[dict[str, pa.DataType], int]:
    calls = []

    def last_schema(batches: object) -> pa.Schema:
        calls.append(1)
        schema = None
        for batch in batches:  # type: ignore[attr-defined]
            schema = batch.schema
        return schema

    schema = _cli_files.read_streamed(str(path), last_schema, progress=False)
    return {f.name: f.type for f in schema}, len(calls)


def _whole(path: Path) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in pcsv.read_csv(path).schema}


def test_many_columns_widen_with_one_start_over(tmp_path: Path) -> None:
    path = _write(tmp_path / "tricky.csv", TRICKY)
    types, consumed = _streamed(path)
    # Before: 12 starts of the consumer (one per column the first block typed too narrow).
    assert consumed == 2
    assert types == _whole(path)
    assert types["int_bool_text"] == pa.string()
    assert types["bit_bool"] == pa.bool_()


def test_no_widening_reads_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "plain.csv", {"a": ("1", ["2"]), "b": ("x", ["y"])})
    assert _streamed(path) == ({"a": pa.int64(), "b": pa.string()}, 1)


def test_bytes_that_are_not_utf8_late_make_binary(tmp_path: Path) -> None:
    path = tmp_path / "bytes.csv"
    path.write_bytes(b"t,n\n" + b"a,1\n" * (ROWS * 8) + b"\xff\xfe,1.5\n")  # past 1 MB
    types, consumed = _streamed(path)
    assert types == _whole(path) == {"t": pa.binary(), "n": pa.float64()}
    assert consumed == 2


POOL = [
    "0", "1", "7", "-3", "1.5", "1e3", "nan", "true", "False", "", "NA", "null", "x",
    "2024-01-01", "2024-01-01 10:00:00", "2024-01-01T10:00:00.5", "2024-01-01 10:00:00+01:00",
    "10:00:00", "99999999999999999999",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(8))
def test_random_late_values_give_the_whole_file_types(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    columns = {
        f"c{i}": (str(rng.choice(POOL)), [str(v) for v in rng.choice(POOL, rng.integers(1, 4))])
        for i in range(10)
    }
    path = _write(tmp_path / "r.csv", columns, rows=30_000)
    types, consumed = _streamed(path)
    assert types == _whole(path), columns
    assert consumed <= 2
