"""A column missing from a partition is a SchemaError on every entry point, not a
``PartitionError`` wrapping Dask's ``KeyError``; and the Dask paths agree with the eager
ones on repeated column names and on the input ``historical`` reads.

The two ways a partition lacks a column of the frame's meta: ``dd.from_delayed`` (it does
not check partitions against the meta) and a Parquet file written without the column
(Dask's default reader selects the meta's columns from each file). Both fail inside
Dask's tasks, upstream of prodml's: the guard of ``_dask_guard.py`` names them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
pytest.importorskip("distributed", reason="needs the 'dask' extra")

import dask
import dask.dataframe as dd

from prodml.drift import Profile
from prodml.errors import SchemaError
from prodml.fairness import GroupMetrics
from prodml.integrations import dask as pdask
from prodml.integrations.dask import PartitionError


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": rng.choice(["a", "b"], n),
            "y": rng.integers(0, 2, n),
            "p": rng.integers(0, 2, n),
        }
    )


def _parts(parts: list[pd.DataFrame]) -> Any:
    return dd.from_delayed(
        [dask.delayed(p) for p in parts], meta=parts[0].iloc[:0], verify_meta=False
    )


def _missing_y() -> tuple[pd.DataFrame, Any]:
    df = _table(60, seed=1)
    return df, _parts([df.iloc[:20], df.iloc[20:40].drop(columns=["y"]), df.iloc[40:]])


def _assert_missing(err: SchemaError, column: str, partition: int) -> None:
    assert not isinstance(err, PartitionError)
    assert [(p.column, p.kind) for p in err.problems] == [(column, "missing")]
    assert f"missing from partition {partition}" in str(err)


@pytest.mark.parametrize(
    "columns", [["y"], ["y", "x"], ["x", "y"]], ids=["only", "reordered", "all"]
)
def test_profile_columns_of_a_from_delayed_partition_that_lacks_one(scheduler, columns) -> None:
    df, ddf = _missing_y()
    with pytest.raises(SchemaError) as info:
        pdask.profile(ddf, columns=columns, progress=False)
    _assert_missing(info.value, "y", 1)
    # the eager profile of the same rows names a missing column with a SchemaError too
    with pytest.raises(SchemaError, match="'y'"):
        Profile(columns=columns).update(df.iloc[20:40].drop(columns=["y"]))


def test_group_metrics_of_a_from_delayed_partition_that_lacks_the_label(scheduler) -> None:
    _, ddf = _missing_y()
    with pytest.raises(SchemaError) as info:
        pdask.group_metrics(GroupMetrics(["c"]), ddf, y_true="y", y_pred="p")
    _assert_missing(info.value, "y", 1)


def test_a_parquet_file_without_a_profiled_column(scheduler, tmp_path) -> None:
    df = _table(60, seed=2)
    df.iloc[:30].to_parquet(tmp_path / "a.parquet")
    df.iloc[30:].drop(columns=["y"]).to_parquet(tmp_path / "b.parquet")
    paths = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    for call in (
        lambda: pdask.profile(paths, columns=["y"], progress=False),
        lambda: pdask.profile(paths, columns=["x", "y"], progress=False),
        lambda: pdask.group_metrics(GroupMetrics(["c"]), paths, y_true="y", y_pred="p"),
    ):
        with pytest.raises(SchemaError) as info:
            call()
        _assert_missing(info.value, "y", 1)
        assert f"(file '{paths[1]}')" in str(info.value)


def test_a_key_error_about_another_column_stays_a_partition_error(scheduler) -> None:
    df = _table(60, seed=3)

    def lookup(part: pd.DataFrame) -> pd.DataFrame:
        if len(part) and part.index[0] == 20:
            part = part.assign(x=part["nope"])  # a bug of the user's: no such column
        return part

    ddf = dd.from_pandas(df, npartitions=3).map_partitions(lookup, meta=df.iloc[:0])
    with pytest.raises(PartitionError, match=r"partition 1 .*KeyError: .*nope") as info:
        pdask.profile(ddf, progress=False)
    assert isinstance(info.value.__cause__, KeyError)

    def drop_then_read(part: pd.DataFrame) -> pd.DataFrame:
        if len(part) and part.index[0] == 20:
            part = part.assign(y=part.drop(columns=["y"])["y"])  # the input has 'y'
        return part

    ddf = dd.from_pandas(df, npartitions=3).map_partitions(drop_then_read, meta=df.iloc[:0])
    with pytest.raises(PartitionError, match=r"partition 1 .*KeyError: .*'y'"):
        pdask.profile(ddf, progress=False)


def test_group_metrics_with_a_repeated_column_name(scheduler) -> None:
    df = _table(80, seed=4)
    ddf = dd.from_pandas(df, npartitions=3)
    # the label as its own prediction, and a label that is also the sensitive column
    for sensitive, y_true, y_pred in ((["c"], "y", "y"), (["y"], "y", "p")):
        got = pdask.group_metrics(
            GroupMetrics(sensitive, min_count=1), ddf, y_true=y_true, y_pred=y_pred
        )
        want = GroupMetrics(sensitive, min_count=1).update(df[y_true], df[y_pred], df)
        assert got == want


def _store(tmp_path: Any) -> Any:
    import pyarrow as pa

    from prodml.store import Entity, FeatureStore, FeatureView

    store = FeatureStore.local(str(tmp_path / "store"))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = pa.table({"user_id": [1, 2], "at": [t0, t0], "spend": [5.0, 7.0]})
    src = store.offline_store.write_source("spend", rows, timestamp="at")
    user = Entity("user", keys=["user_id"])
    store.apply([user, FeatureView("s", entity=user, source=src, features=["spend"])])
    return store


def test_historical_reads_parquet_entity_rows(scheduler, tmp_path) -> None:
    store = _store(tmp_path)
    t1 = datetime(2024, 1, 2, tzinfo=UTC)
    entities = pd.DataFrame(
        {"user_id": [1, 2, 2, 1], "event_timestamp": [t1, t1, t1 - timedelta(days=2), t1]}
    )
    entities.iloc[:2].to_parquet(tmp_path / "a.parquet")
    entities.iloc[2:].to_parquet(tmp_path / "b.parquet")
    paths = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    got = pdask.historical(store, paths, ["s:spend"]).compute()
    assert got["spend"].tolist()[:2] == [5.0, 7.0]
    assert np.isnan(got["spend"].iloc[2])  # before the feature's first value
    assert got["spend"].iloc[3] == 5.0
    store.close()


@pytest.mark.parametrize("wrong", [42, {"user_id": [1]}, None])
def test_historical_refuses_what_is_not_entity_rows(tmp_path, wrong) -> None:
    store = _store(tmp_path)
    with pytest.raises(SchemaError, match="expected a dask DataFrame"):
        pdask.historical(store, wrong, ["s:spend"])
    store.close()


# -- the guard of the lazy outputs keeps Dask's fusion --------------------------------


def _tasks_run(collection: Any) -> int:
    from dask.callbacks import Callback

    class Count(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def _posttask(self, *args: Any) -> None:
            self.n += 1

    with dask.config.set(scheduler="sync"), Count() as count:
        collection.compute()
    return count.n


def test_lazy_outputs_keep_the_input_fused_with_prodml_tasks(tmp_path, monkeypatch) -> None:
    from prodml.features import FeaturePipeline, steps
    from prodml.integrations import _dask_guard

    df = _table(60, seed=5)
    for i in range(4):
        df.iloc[i * 15 : (i + 1) * 15].to_parquet(tmp_path / f"{i}.parquet")
    pipe = FeaturePipeline([steps.StandardScale(["x"]), steps.OneHot(["c"])]).fit(df)
    frames = {
        "parquet": lambda: dd.read_parquet(str(tmp_path)),
        "pandas": lambda: dd.from_pandas(df, npartitions=4),
    }
    for name, frame in frames.items():
        outputs = {
            "array": lambda f=frame: pdask.transform(pipe, f()),
            "frame": lambda f=frame: pdask.transform(pipe, f(), output="frame"),
        }
        guarded = {k: _tasks_run(build()) for k, build in outputs.items()}
        with monkeypatch.context() as m:  # the guard replaced by the identity
            m.setattr(_dask_guard, "guarded", lambda c, columns=None: c)
            bare = {k: _tasks_run(build()) for k, build in outputs.items()}
        # an array runs the tasks it would unguarded; a frame one alias per partition more
        # (dd.from_graph's), the input's tasks still fused with prodml's
        assert guarded["array"] == bare["array"], name
        assert guarded["frame"] <= bare["frame"] + 4, name


def test_eager_paths_run_no_more_tasks_than_unguarded(tmp_path, monkeypatch) -> None:
    from prodml.integrations import _dask_fairness

    df = _table(60, seed=6)
    for i in range(4):
        df.iloc[i * 15 : (i + 1) * 15].to_parquet(tmp_path / f"{i}.parquet")
    frames = {
        "parquet": lambda: dd.read_parquet(str(tmp_path)),
        "pandas": lambda: dd.from_pandas(df, npartitions=4),
    }

    for name, frame in frames.items():
        guarded = [_eager_tasks(lambda f=frame: pdask.profile(f(), progress=False))]
        guarded.append(_eager_tasks(lambda f=frame: _counted(f())))
        with monkeypatch.context() as m:  # the guard replaced by Dask's own partitions
            for module in (pdask, _dask_fairness):
                m.setattr(module, "guarded_parts", lambda f: list(f.to_delayed()))
            bare = [_eager_tasks(lambda f=frame: pdask.profile(f(), progress=False))]
            bare.append(_eager_tasks(lambda f=frame: _counted(f())))
        assert guarded == bare, name


def _counted(frame: Any) -> Any:
    return pdask.group_metrics(GroupMetrics(["c"], min_count=1), frame, y_true="y", y_pred="p")


def _eager_tasks(call: Any) -> int:
    """Tasks Dask runs for an eager function's ``dask.compute`` calls."""
    from dask.callbacks import Callback

    class Count(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def _posttask(self, *args: Any) -> None:
            self.n += 1

    with dask.config.set(scheduler="sync"), Count() as count:
        call()
    return count.n
