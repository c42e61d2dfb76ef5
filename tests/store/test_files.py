"""The embedded stores' files: unusable paths are ConfigErrors naming them, and nothing is lost.

A folder that is a file, a parent that does not exist, a file that is not a database, an
output path that is a folder: each is refused with a :class:`ConfigError` naming the
path, and leaves what was there as it was.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.store.conftest import T0, H, txn_rows

from prodml.errors import ConfigError, MissingExtraError, SchemaError
from prodml.store import FeatureStore, _training

ENTITY = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [T0 + 4 * H, T0 + 4 * H]})
REFS = ["txn:amount", "txn:country"]


def _a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


def test_local_store_in_a_file_or_under_one(tmp_path: Path) -> None:
    file = _a_file(tmp_path)
    for path, why in ((file, "it is a file, not a folder"), (file / "fs", "Not a directory")):
        with pytest.raises(ConfigError, match=f"feature store's folder .*a-file.*: {why}"):
            FeatureStore.local(path)
    assert file.read_text() == "not a folder"


def test_local_store_without_the_extra_makes_no_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # a core install
    with pytest.raises(MissingExtraError, match=r"prodml\[store\]"):
        FeatureStore.local(tmp_path / "fs")
    assert not (tmp_path / "fs").exists()


def test_online_store_on_a_folder_or_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("hello world " * 200)
    cases = [
        (junk, "as SQLite: file is not a database"),
        (tmp_path, "as SQLite: unable to open database file"),
        (
            _a_file(tmp_path) / "online.db",
            "online store's folder .*a-file.*: it is a file, not a folder",
        ),
    ]
    for path, match in cases:
        with pytest.raises(ConfigError, match=match) as info:
            FeatureStore("duckdb://", f"sqlite:///{path}")
        assert info.value.parameter == "url"
    assert junk.read_text() == "hello world " * 200


def test_write_source_takes_dataframes_and_tables(tmp_path: Path) -> None:
    fs = FeatureStore.local(tmp_path / "fs")
    frame = txn_rows().to_pandas()
    frame.index = frame.index + 100  # not written
    a = fs.offline_store.write_source("a", frame, timestamp="event_at", created="created_at")
    b = fs.offline_store.write_source("b", txn_rows(), timestamp="event_at", created="created_at")
    read_a = pq.read_table(Path(a.path) / "part-000000.parquet")
    read_b = pq.read_table(Path(b.path) / "part-000000.parquet")
    assert read_a.column_names == read_b.column_names == txn_rows().column_names
    assert read_a.to_pylist() == read_b.to_pylist()


@pytest.mark.parametrize(
    ("table", "kwargs", "error", "match"),
    [
        ([1, 2], {"timestamp": "event_at"}, ConfigError, "pyarrow Table or a pandas DataFrame"),
        (txn_rows(), {"timestamp": "at"}, SchemaError, "column 'at': source 'txn' has no such"),
        (
            txn_rows(),
            {"timestamp": "event_at", "created": "made_at"},
            SchemaError,
            "column 'made_at'",
        ),
        (txn_rows(), {"timestamp": "event_at", "created": "event_at"}, ConfigError, "different"),
    ],
)
def test_a_refused_source_writes_nothing(
    tmp_path: Path, table: object, kwargs: dict[str, str], error: type, match: str
) -> None:
    fs = FeatureStore.local(tmp_path / "fs")
    first = fs.offline_store.write_source("txn", txn_rows(), timestamp="event_at")
    before = sorted(p.name for p in Path(first.path).iterdir())
    with pytest.raises(error, match=match):
        fs.offline_store.write_source("txn", table, **kwargs)  # type: ignore[arg-type]
    assert sorted(p.name for p in Path(first.path).iterdir()) == before == ["part-000000.parquet"]


def test_write_source_into_a_store_whose_folder_became_a_file(tmp_path: Path) -> None:
    file = _a_file(tmp_path)
    fs = FeatureStore(f"duckdb://{file / 'sub'}", "sqlite:///:memory:")
    with pytest.raises(ConfigError, match=r"folder of source 'txn' .*: Not a directory"):
        fs.offline_store.write_source("txn", txn_rows(), timestamp="event_at")


def test_historical_output_paths_that_cannot_be_written(
    store: FeatureStore, tmp_path: Path
) -> None:
    cases = [
        (tmp_path, "is a folder; give a file path"),
        (tmp_path / "no-such-folder" / "train.parquet", "No such file or directory"),
        (_a_file(tmp_path) / "train.parquet", "Not a directory"),
    ]
    for out, match in cases:
        with pytest.raises(ConfigError, match=match) as info:
            store.historical(ENTITY, REFS, output=out)
        assert info.value.parameter == "output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "fs"]  # no scratch left


def test_historical_output_replaces_a_file_only_when_complete(
    store: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "train.parquet"
    pq.write_table(pa.table({"old": [1]}), out)
    # A write that fails half-way (a fault injected into the second batch's join, after
    # the output's schema is made): the old file stays, and no scratch file is left.
    real, calls = _training.joined, []

    def failing(*args: Any) -> pa.Table:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*args)

    with monkeypatch.context() as patch:
        patch.setattr(_training, "joined", failing)
        with pytest.raises(OSError, match="No space left"):
            store.historical(ENTITY, REFS, output=out)
    assert len(calls) == 2
    assert pq.read_table(out).column_names == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fs", "train.parquet"]
    store.historical(ENTITY, REFS, output=out)
    got = pd.read_parquet(out)
    assert got["amount"].tolist() == [20.0, 5.0]  # user 1's backfilled 99.0 was not yet known
    assert got["country"].tolist() == ["de", "fr"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fs", "train.parquet"]
