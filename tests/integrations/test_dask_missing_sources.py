"""A Parquet file short of a column is found through its reader: its filesystem, its columns.

The guard of ``_dask_guard.py`` checks a failed read task's files against the frame's
meta. Two ways that went wrong: a column that a later step of the fused task adds (a
path column, any ``assign``) is in the meta but in no file, and was reported missing
with the real one, or alone for a user's own ``KeyError``; and a file on S3 that needs
the ``storage_options`` the read was given could not have its footer read with
fsspec's defaults, so a missing column there stayed a bare ``PartitionError``. S3 runs
on the moto server at $PRODML_TEST_S3_ENDPOINT, one bucket per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")

import dask
import dask.dataframe as dd

from prodml.errors import SchemaError
from prodml.integrations import dask as pdask
from prodml.integrations.dask import PartitionError


@pytest.fixture(autouse=True)
def _sync() -> Iterator[None]:
    with dask.config.set(scheduler="sync"):
        yield


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": np.arange(float(n)), "y": rng.integers(0, 2, n)})


def _with_source(part: pd.DataFrame) -> pd.DataFrame:
    """A path-like column no file holds, added in the task that reads the file."""
    return part.assign(source="file")


def _missing_of(err: SchemaError) -> list[tuple[str, str]]:
    assert not isinstance(err, PartitionError)
    return [(p.column, p.kind) for p in err.problems]


def test_a_column_a_later_step_adds_is_not_reported_missing_from_the_file(
    tmp_path: Path,
) -> None:
    df = _table(40, seed=1)
    df.iloc[:20].to_parquet(tmp_path / "a.parquet")
    df.iloc[20:].drop(columns=["y"]).to_parquet(tmp_path / "b.parquet")
    ddf = dd.read_parquet(str(tmp_path)).map_partitions(
        _with_source, meta=df.iloc[:0].assign(source="file")
    )
    with pytest.raises(SchemaError) as info:
        pdask.profile(ddf, progress=False)
    assert _missing_of(info.value) == [("y", "missing")]
    assert "missing from partition 1" in str(info.value)


def _lookup_on_second_partition(part: pd.DataFrame) -> pd.DataFrame:
    part = part.assign(source="file")
    if len(part) and part["x"].iloc[0] >= 20:
        labels = {"x": "the feature"}
        part = part.assign(label=labels["source"])  # the user's bug: a dict without it
    return part


def test_a_users_key_error_naming_an_added_column_is_no_missing_column(tmp_path: Path) -> None:
    df = _table(40, seed=2)
    df.iloc[:20].to_parquet(tmp_path / "a.parquet")
    df.iloc[20:].to_parquet(tmp_path / "b.parquet")
    meta = df.iloc[:0].assign(source="file")
    ddf = dd.read_parquet(str(tmp_path)).map_partitions(_lookup_on_second_partition, meta=meta)
    # every file holds every column it was asked for: the KeyError is the user's
    with pytest.raises(PartitionError, match=r"partition 1 .*KeyError: .*'source'") as info:
        pdask.profile(ddf, progress=False)
    assert isinstance(info.value.__cause__, KeyError)


def test_the_files_asked_columns_decide(tmp_path: Path) -> None:
    from prodml.integrations._dask_guard import _missing, _Source

    path = tmp_path / "part.parquet"
    _table(5, seed=3).drop(columns=["y"]).to_parquet(path)
    needed = ["x", "y", "source"]
    asked = _Source(str(path), asked=frozenset({"x", "y"}))
    assert _missing(KeyError("anything"), needed, (), (asked,)) == ["y"]
    # the reader did not ask for 'y' either: nothing of the file's is missing
    assert _missing(KeyError("y"), needed, (), (_Source(str(path), asked=frozenset("x")),)) == []
    # a reader whose schema cannot be read: no guess
    gone = _Source(str(path), schema=lambda: (_ for _ in ()).throw(OSError("denied")))
    assert _missing(KeyError("y"), needed, (), (gone,)) == []


def test_a_file_on_s3_short_of_a_column_is_found_with_the_reads_storage_options(
    s3_bucket: tuple[str, dict[str, Any]],
) -> None:
    import s3fs

    name, options = s3_bucket
    fs = s3fs.S3FileSystem(**options)
    df = _table(40, seed=4)
    with fs.open(f"{name}/a.parquet", "wb") as f:
        df.iloc[:20].to_parquet(f)
    with fs.open(f"{name}/b.parquet", "wb") as f:
        df.iloc[20:].drop(columns=["y"]).to_parquet(f)
    # fsspec's default options do not reach the moto server: the read task's must be used
    ddf = dd.read_parquet(f"s3://{name}/", storage_options=options)
    with pytest.raises(SchemaError) as info:
        pdask.profile(ddf, progress=False)
    assert _missing_of(info.value) == [("y", "missing")]
    text = str(info.value)
    assert f"missing from partition 1 of the Dask DataFrame (file '{name}/b.parquet')" in text
    assert "testing" not in text  # no credential in the message


def test_the_arrow_readers_fragment_gives_the_files_own_schema(tmp_path: Path) -> None:
    from dask._task_spec import convert_legacy_graph

    from prodml.integrations._dask_guard import _sources

    df = _table(10, seed=5)
    df.to_parquet(tmp_path / "a.parquet")
    df.drop(columns=["y"]).to_parquet(tmp_path / "b.parquet")
    ddf = dd.read_parquet(str(tmp_path), filesystem="arrow")
    graph = convert_legacy_graph(dict(ddf.optimize().__dask_graph__()))
    found = {Path(s.path).name: s for node in graph.values() for s in _sources(node, 8)}
    assert sorted(found) == ["a.parquet", "b.parquet"]
    # each file's own footer, not the dataset's schema; asked: what the task reads
    assert found["b.parquet"].columns() == {"x"}
    assert {"x", "y"} <= (found["a.parquet"].columns() or set())
    assert found["b.parquet"].asked is not None
    assert "x" in found["b.parquet"].asked
