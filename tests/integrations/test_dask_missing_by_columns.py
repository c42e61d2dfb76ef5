"""A missing column is found by the partition's columns, never by the text of a KeyError.

The guard of ``_dask_guard.py`` turns a ``KeyError`` in a task whose partition lacks a
column of the frame's meta into a ``SchemaError`` naming it. It used to look for the
column's name in the error's text: pandas rewording its message would have turned every
missing column into a bare ``PartitionError``, and a user's own ``KeyError`` that
happened to name a column (a dict lookup) on a Parquet partition with every column was
reported as a missing column. Runs on Dask's synchronous scheduler, in this process,
so that the patched pandas is the one the tasks use.
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


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(size=n), "c": rng.choice(["a", "b"], n), "y": rng.integers(0, 2, n)}
    )


def _reworded(monkeypatch: pytest.MonkeyPatch) -> None:
    """pandas, with a KeyError for missing columns that names none of them."""
    original = pd.Index._raise_if_missing

    def raise_if_missing(self: pd.Index, *args: Any, **kwargs: Any) -> None:
        try:
            original(self, *args, **kwargs)
        except KeyError:
            raise KeyError("some requested labels are absent") from None

    monkeypatch.setattr(pd.Index, "_raise_if_missing", raise_if_missing)
    with pytest.raises(KeyError) as info:
        pd.DataFrame({"x": [1.0]})[["y"]]
    assert "'y'" not in str(info.value)  # the patch does what it says


def _assert_missing(err: SchemaError, column: str, partition: int) -> None:
    assert not isinstance(err, PartitionError)
    assert [(p.column, p.kind) for p in err.problems] == [(column, "missing")]
    assert f"missing from partition {partition}" in str(err)


def test_a_from_delayed_partition_short_of_a_column_whatever_pandas_says(monkeypatch) -> None:
    _reworded(monkeypatch)
    df = _table(60, seed=1)
    parts = [df.iloc[:20], df.iloc[20:40].drop(columns=["y"]), df.iloc[40:]]
    ddf = dd.from_delayed([dask.delayed(p) for p in parts], meta=df.iloc[:0], verify_meta=False)
    with pytest.raises(SchemaError) as info:
        pdask.profile(ddf, columns=["y"], progress=False)
    _assert_missing(info.value, "y", 1)
    assert isinstance(info.value.__cause__, KeyError)


def test_a_parquet_file_short_of_a_column_whatever_pandas_says(monkeypatch, tmp_path) -> None:
    _reworded(monkeypatch)
    df = _table(60, seed=2)
    df.iloc[:30].to_parquet(tmp_path / "a.parquet")
    df.iloc[30:].drop(columns=["y"]).to_parquet(tmp_path / "b.parquet")
    paths = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    with pytest.raises(SchemaError) as info:
        pdask.profile(paths, columns=["x", "y"], progress=False)
    _assert_missing(info.value, "y", 1)
    assert f"(file '{paths[1]}')" in str(info.value)


def _lookup_on_second_partition(part: pd.DataFrame) -> pd.DataFrame:
    if len(part) and part["x"].iloc[0] >= 30:
        labels = {"x": "the feature"}
        part = part.assign(label=labels["y"])  # the user's bug: a dict without 'y'
    return part


def test_a_users_key_error_on_a_parquet_partition_with_every_column_is_no_missing_column(
    tmp_path: Path,
) -> None:
    df = _table(60, seed=3).assign(x=np.arange(60.0))
    df.iloc[:30].to_parquet(tmp_path / "a.parquet")
    df.iloc[30:].to_parquet(tmp_path / "b.parquet")
    ddf = dd.read_parquet(str(tmp_path)).map_partitions(
        _lookup_on_second_partition, meta=df.iloc[:0]
    )
    # The KeyError names 'y', a column of the frame the file holds: a failure of the
    # partition (the user's), not a schema problem.
    with pytest.raises(PartitionError, match=r"partition 1 .*KeyError: .*'y'") as info:
        pdask.profile(ddf, progress=False)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(PartitionError, match=r"partition 1 .*KeyError: .*'y'"):
        pdask.transform(pdask.fit_pipeline(_pipe(), df), ddf).compute()


def _pipe() -> Any:
    from prodml.features import FeaturePipeline, steps

    return FeaturePipeline([steps.StandardScale(["x"]), steps.OneHot(["c"])])


def test_the_files_schemas_decide_and_a_hive_folder_supplies_its_column(tmp_path: Path) -> None:
    from prodml.integrations._dask_guard import _missing

    df = _table(10, seed=4)
    folder = tmp_path / "p=1"
    folder.mkdir()
    df.drop(columns=["y"]).to_parquet(folder / "part.parquet")
    path = str(folder / "part.parquet")
    needed = ["x", "y", "p", "c"]
    # 'p' comes from the folder (a hive partition), not the file: only 'y' is missing.
    assert _missing(KeyError("anything"), needed, (), (path,)) == ["y"]
    # not a KeyError, or no file to check: nothing is said missing
    assert _missing(ValueError("y"), needed, (), (path,)) == []
    assert _missing(KeyError("y"), needed, (), ()) == []
    # a file that cannot be read: no guess either
    assert _missing(KeyError("y"), needed, (), (str(tmp_path / "gone.parquet"),)) == []
    # input frames: a column none of them holds (a side frame may hold only some)
    part, side = df.drop(columns=["y"]), pd.DataFrame({"key": [1]})
    assert _missing(KeyError("no text"), needed[:2], (part, side), ()) == ["y"]
    assert _missing(KeyError("'y'"), needed[:2], (df, side), ()) == []
