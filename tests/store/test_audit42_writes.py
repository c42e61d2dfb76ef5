"""Appending to a Parquet source loses no file: gaps in the numbering, writers at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prodml.store import _duckdb
from prodml.store.backends import offline_store_for

from .conftest import T0


def _rows(first: int, n: int) -> pa.Table:
    return pa.table({"k": pa.array(range(first, first + n), pa.int64()), "event_at": [T0] * n})


def _keys(folder: Path) -> list[int]:
    keys: list[int] = []
    for p in sorted(folder.glob("part-*.parquet")):
        keys += pq.read_table(p).column("k").to_pylist()
    return keys


def test_a_removed_file_does_not_make_the_next_write_replace_the_last(tmp_path: Path) -> None:
    store = offline_store_for(f"duckdb://{tmp_path}")
    src = None
    for i in range(3):
        src = store.write_source("s", _rows(10 * i, 2), timestamp="event_at")
    assert src is not None
    folder = Path(src.path)
    (folder / "part-000001.parquet").unlink()  # e.g. a bad batch taken out by hand
    store.write_source("s", _rows(30, 2), timestamp="event_at")
    # Counting the files named the new one part-000002: the old part-000002 was lost.
    assert _keys(folder) == [0, 1, 20, 21, 30, 31]
    assert sorted(p.name for p in folder.iterdir()) == [
        "part-000000.parquet",
        "part-000002.parquet",
        "part-000003.parquet",
    ]


def test_a_writer_starting_while_another_writes_keeps_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = offline_store_for(f"duckdb://{tmp_path}")
    second = offline_store_for(f"duckdb://{tmp_path}")
    write = pq.write_table
    calls = []

    def slow_write(table: pa.Table, where: Any, **kwargs: Any) -> None:
        calls.append(where)
        if len(calls) == 1:  # the other writer runs from start to end meanwhile
            second.write_source("s", _rows(100, 3), timestamp="event_at")
        write(table, where, **kwargs)

    monkeypatch.setattr(_duckdb.pq, "write_table", slow_write)
    src = first.write_source("s", _rows(0, 2), timestamp="event_at")
    # Both used .part-000000.tmp and renamed it to part-000000.parquet: one file was lost.
    assert sorted(_keys(Path(src.path))) == [0, 1, 100, 101, 102]
    assert [p.name for p in Path(src.path).iterdir() if p.name.startswith(".")] == []


def _append(root: str, first: int) -> None:
    store = offline_store_for(f"duckdb://{root}")
    for i in range(8):
        store.write_source("s", _rows(first + 10 * i, 10), timestamp="event_at")


def test_processes_appending_at_once_keep_every_row(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(str(tmp_path), 1000 * j)) for j in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    want = sorted(1000 * j + 10 * i + r for j in range(3) for i in range(8) for r in range(10))
    assert sorted(_keys(tmp_path / "sources" / "s")) == want
