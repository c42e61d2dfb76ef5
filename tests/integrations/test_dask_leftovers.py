"""The three leftovers of the Dask sweep (and their neighbours), on the synchronous scheduler
and on a ``distributed`` LocalCluster.

1. A column held as ``category`` in some partitions and ``str``/``object`` in others is
   fitted as the in-memory ``pd.concat`` of the partitions fits it, in any order.
2. A failure upstream of prodml's tasks (a user's ``map_partitions``, a missing file)
   is a ``PartitionError`` naming the partition, from the lazy outputs too.
3. A column missing from one Parquet file is a SchemaError naming the column, the
   partition and the file.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
distributed = pytest.importorskip("distributed", reason="needs the 'dask' extra")

import dask  # noqa: E402 - after the importorskip
import dask.dataframe as dd  # noqa: E402

from prodml._quote import short_repr  # noqa: E402
from prodml.drift import Profile  # noqa: E402
from prodml.errors import SchemaError  # noqa: E402
from prodml.fairness import GroupMetrics  # noqa: E402
from prodml.features import FeaturePipeline, steps  # noqa: E402
from prodml.integrations import dask as pdask  # noqa: E402
from prodml.integrations.dask import PartitionError  # noqa: E402


def _parts(parts: list[pd.DataFrame]) -> Any:
    """A Dask DataFrame of exactly these partitions (``from_delayed`` checks no meta)."""
    return dd.from_delayed(
        [dask.delayed(p) for p in parts], meta=parts[0].iloc[:0], verify_meta=False
    )


# -- 1. category next to str ---------------------------------------------------------

_LETTERS = list("abcd")


@st.composite
def _text_part(draw: Any, index: int) -> pd.DataFrame:
    """One partition's column ``c``: categorical, str, object, all-null or empty."""
    kind = draw(
        st.sampled_from(["category", "str", "object", "null object", "null category", "empty"])
    )
    n = 0 if kind == "empty" else draw(st.integers(1, 4))
    if kind in ("category", "null category"):
        cats = draw(st.lists(st.sampled_from(_LETTERS), min_size=0, max_size=4, unique=True))
        pick = st.sampled_from([*cats, None]) if kind == "category" else st.none()
        c: Any = pd.Categorical(draw(st.lists(pick, min_size=n, max_size=n)), categories=cats)
    elif kind == "null object":
        c = pd.Series([None] * n, dtype=object)
    else:
        values = draw(st.lists(st.sampled_from([*_LETTERS, None]), min_size=n, max_size=n))
        empty_dtype = draw(st.sampled_from(["str", "object", "category"]))
        dtype = empty_dtype if kind == "empty" else kind
        c = pd.Series(values, dtype=dtype)
    x = np.arange(n, dtype="float64") + 10.0 * index
    return pd.DataFrame({"x": x, "c": c}).set_axis(np.arange(n) + 10 * index)


@st.composite
def _text_parts(draw: Any, max_parts: int = 4) -> list[pd.DataFrame]:
    k = draw(st.integers(1, max_parts))
    parts = [draw(_text_part(i)) for i in range(k)]
    return draw(st.permutations(parts))


def _text_pipe() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["c"], strategy="constant", fill_value="?"),
            steps.OneHot(["c"]),
            steps.StandardScale(["x"]),
        ]
    )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(parts=_text_parts(max_parts=3))
def test_dask_fit_of_mixed_text_partitions_equals_in_memory(scheduler, parts) -> None:
    full = pd.concat(parts)
    if not len(full):
        return  # nothing to fit, in memory or not
    ddf = _parts(parts)
    remote = pdask.fit_pipeline(_text_pipe(), ddf, progress=False)
    local = _text_pipe().fit(full)
    assert remote.input_schema == local.input_schema
    assert remote.fingerprint == local.fingerprint
    assert _text_pipe().fit(parts).fingerprint == local.fingerprint  # chunked, in memory


def test_category_next_to_str_in_both_orders(scheduler) -> None:
    cat = pd.DataFrame({"x": [1.0, 2.0], "c": pd.Categorical(["a", "b"])})
    text = pd.DataFrame({"x": [3.0, 4.0], "c": pd.Series(["a", "z"], dtype="str")})
    for parts in ([cat, text], [text, cat]):
        remote = pdask.fit_pipeline(_text_pipe(), _parts(parts), progress=False)
        # was `category` (the merge of the partitions' kinds); pd.concat gives text
        assert remote.input_schema["c"].dtype.value == "string"
        assert remote.fingerprint == _text_pipe().fit(pd.concat(parts)).fingerprint
    same = [cat, cat.set_axis([2, 3])]  # one categorical dtype throughout: stays category
    remote = pdask.fit_pipeline(_text_pipe(), _parts(same), progress=False)
    assert remote.input_schema["c"].dtype.value == "category"
    assert remote.fingerprint == _text_pipe().fit(pd.concat(same)).fingerprint


# -- 2. failures upstream of the lazy outputs ----------------------------------------


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": rng.choice(["a", "b", "c"], n),
            "y": rng.integers(0, 2, n),
            "p": rng.integers(0, 2, n),
        }
    )


def _failing(ddf: Any, bad_start: int) -> Any:
    def boom(part: pd.DataFrame) -> pd.DataFrame:
        if len(part) and part.index[0] == bad_start:
            raise RuntimeError("disk on fire")
        return part

    return ddf.map_partitions(boom, meta=ddf._meta)


def _pipe() -> FeaturePipeline:
    return FeaturePipeline([steps.StandardScale(["x"]), steps.OneHot(["c"])])


def _predictor(df: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    from prodml.serving import Predictor

    pipe = _pipe().fit(df[["x", "c"]])
    return Predictor(pipe, LogisticRegression().fit(pipe.transform(df[["x", "c"]]), df["y"]))


def _lazy_outputs(df: pd.DataFrame, ddf: Any) -> dict[str, Any]:
    pipe = _pipe().fit(df)
    return {
        "transform array": lambda: pdask.transform(pipe, ddf),
        "transform frame": lambda: pdask.transform(pipe, ddf, output="frame"),
        "score": lambda: pdask.score(_predictor(df), ddf, keep_columns=["y"]),
    }


def _eager_calls(ddf: Any) -> dict[str, Any]:
    return {
        "fit_pipeline": lambda: pdask.fit_pipeline(_pipe(), ddf, progress=False),
        "profile": lambda: pdask.profile(ddf, progress=False),
        "group_metrics": lambda: pdask.group_metrics(
            GroupMetrics(["c"]), ddf, y_true="y", y_pred="p"
        ),
    }


def _raises_partition_error(compute: Any, partition: int | None, cause: type) -> PartitionError:
    """The PartitionError ``compute()`` raises; ``partition=None``: any partition."""
    with pytest.raises(PartitionError) as info:
        compute()
    err = info.value
    assert isinstance(err.partition, int)
    partition = err.partition if partition is None else partition
    assert err.partition == partition
    assert str(err).startswith(f"partition {partition} of the Dask DataFrame")
    assert isinstance(err.__cause__, cause)  # chained, on the cluster too
    return err


def test_lazy_outputs_name_the_partition_an_upstream_task_failed_in(scheduler) -> None:
    df = _table(200, seed=1)
    ddf = _failing(dd.from_pandas(df, npartitions=4), bad_start=100)
    for name, build in _lazy_outputs(df, ddf).items():
        lazy = build()  # building the output computes nothing
        err = _raises_partition_error(lazy.compute, 2, RuntimeError)
        assert "failed: RuntimeError: 'disk on fire'" in str(err), name
    # the eager paths said "computing the partitions ... failed", without a partition
    for call in _eager_calls(ddf).values():
        _raises_partition_error(call, 2, RuntimeError)


def test_a_persisted_frame(scheduler) -> None:
    # on the cluster its partitions are data held by the workers, outside the graph
    df = _table(200, seed=7)
    ddf = dd.from_pandas(df, npartitions=4).persist()
    pipe = _pipe().fit(df)
    assert np.array_equal(pdask.transform(pipe, ddf).compute(), pipe.transform(df))
    assert pdask.fit_pipeline(_pipe(), ddf, progress=False).fingerprint == pipe.fingerprint
    for build in _lazy_outputs(df, _failing(ddf, bad_start=100)).values():
        _raises_partition_error(build().compute, 2, RuntimeError)


def test_the_partition_is_the_one_of_the_frame_prodml_was_given(scheduler) -> None:
    df = _table(200, seed=2)
    # the failing task (input partition 2 of 4) is first needed by output partition 1 of 2
    ddf = _failing(dd.from_pandas(df, npartitions=4), bad_start=100).repartition(npartitions=2)
    for build in _lazy_outputs(df, ddf).values():
        _raises_partition_error(build().compute, 1, RuntimeError)
    _raises_partition_error(_eager_calls(ddf)["profile"], 1, RuntimeError)


def test_lazy_results_are_unchanged(scheduler, tmp_path) -> None:
    df = _table(150, seed=3)
    for i, rows in enumerate([df.iloc[:40], df.iloc[40:41], df.iloc[41:]]):
        rows.to_parquet(tmp_path / f"{i}.parquet")
    pipe = _pipe().fit(df)
    pred = _predictor(df)
    for ddf in (dd.read_parquet(str(tmp_path)), dd.from_pandas(df, npartitions=3)):
        full = ddf.compute()
        assert np.array_equal(pdask.transform(pipe, ddf).compute(), pipe.transform(full))
        frame = pdask.transform(pipe, ddf, output="frame").compute()
        assert frame.index.equals(full.index)
        assert np.array_equal(frame.to_numpy(), pipe.transform(full))
        got = pdask.score(pred, ddf, keep_columns=["y"]).compute()
        assert got["y"].tolist() == full["y"].tolist()
        assert np.allclose(got["prediction"].to_numpy(), pred.predict_batch(full), rtol=1e-12)


def test_a_file_gone_before_compute_names_partition_and_file(scheduler, tmp_path) -> None:
    df = _table(90, seed=4)
    paths = [tmp_path / f"{i}.parquet" for i in range(3)]
    for i, path in enumerate(paths):
        df.iloc[30 * i : 30 * (i + 1)].to_parquet(path)
    for reader in ({}, {"filesystem": "arrow"}):
        ddf = dd.read_parquet(str(tmp_path), **reader)
        # the partition reading 1.parquet (Dask's arrow reader orders the files its way)
        firsts = [p.compute()["x"].iloc[0] for p in ddf.to_delayed()]
        partition = firsts.index(df["x"].iloc[30])
        lazy = _lazy_outputs(df, ddf)
        eager = _eager_calls(ddf)
        expected = GroupMetrics(["c"]).update(df["y"], df["p"], df)
        assert eager["group_metrics"]() == expected  # and Dask has planned its reads
        paths[1].rename(tmp_path / "gone")  # deleted between planning and computing
        try:
            for name, build in [*lazy.items(), *eager.items()]:
                # group_metrics reads 3 columns: Dask's arrow reader fuses small files then
                where = None if name == "group_metrics" else partition
                err = _raises_partition_error(lambda b=build: _computed(b()), where, OSError)
                assert err.files == (str(paths[1]),), (name, reader)
                assert f"(file {short_repr(str(paths[1]), 400)}) failed" in str(err)
        finally:
            (tmp_path / "gone").rename(paths[1])


def _computed(value: Any) -> Any:
    return value.compute() if hasattr(value, "compute") else value


def test_an_upstream_prodml_error_names_its_partition_once(scheduler) -> None:
    df = _table(90, seed=5).assign(x=np.arange(90.0))
    text = _parts([df.iloc[:30], df.iloc[30:60], df.iloc[60:].assign(x=["oops"] * 30)])
    features = pdask.transform(_pipe().fit(df), text, output="frame")
    where = "(in partition 2 of the Dask DataFrame)"
    with pytest.raises(SchemaError, match=r"'x'.*'oops'") as info:
        pdask.profile(features, progress=False)
    assert str(info.value).count(where) == 1


def test_historical_names_the_failing_partition(scheduler, tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa

    from prodml.store import Entity, FeatureStore, FeatureView

    store = FeatureStore.local(str(tmp_path / "store"))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    rows = pa.table({"user_id": [1, 2], "at": [t0, t0], "spend": [5.0, 7.0]})
    src = store.offline_store.write_source("spend", rows, timestamp="at")
    user = Entity("user", keys=["user_id"])
    store.apply([user, FeatureView("s", entity=user, source=src, features=["spend"])])
    entities = pd.DataFrame(
        {"user_id": [1, 2] * 20, "event_timestamp": [t0 + timedelta(days=1)] * 40}
    )
    ddf = _failing(dd.from_pandas(entities, npartitions=4), bad_start=20)
    lazy = pdask.historical(store, ddf, ["s:spend"])
    _raises_partition_error(lazy.compute, 2, RuntimeError)
    good = pdask.historical(store, dd.from_pandas(entities, npartitions=4), ["s:spend"])
    assert good.compute()["spend"].tolist() == [5.0, 7.0] * 20
    store.close()


# -- 3. a column missing from one Parquet file ---------------------------------------


def test_a_column_missing_from_one_parquet_file(scheduler, tmp_path) -> None:
    df = _table(90, seed=6)
    # a folder name long enough that the path must be cut in the message
    folder = tmp_path / ("d" * 200) / ("e" * 200)
    folder.mkdir(parents=True)
    df.iloc[:30].to_parquet(folder / "a.parquet")
    df.iloc[30:60].drop(columns=["c"]).to_parquet(folder / "b.parquet")
    df.iloc[60:].to_parquet(folder / "c.parquet")
    ddf = dd.read_parquet(str(folder))  # (with filesystem="arrow", Dask reads nulls)
    bad = str(folder / "b.parquet")
    calls = [*_eager_calls(ddf).values(), *_lazy_outputs(df, ddf).values()]
    quoted = short_repr(bad, 400)
    assert "characters in all" in quoted  # cut, not the whole path
    for call in calls:
        # a schema problem, not a failure of the partition: the SchemaError every other
        # partition of other columns gets, naming the column, the partition and the file
        with pytest.raises(SchemaError) as info:
            _computed(call())
        err = info.value
        assert not isinstance(err, PartitionError)
        assert [(p.column, p.kind) for p in err.problems] == [("c", "missing")]
        assert str(err) == (
            "column 'c': column of the frame's meta is missing from partition 1 of the "
            f"Dask DataFrame (file {quoted})"
        )
    # profiling other columns reads only those: the missing one is no error (it was)
    assert pdask.profile(ddf, columns=["x"], progress=False) == Profile(columns=["x"]).update(df)


# -- PartitionError across processes -------------------------------------------------


def test_partition_error_pickles_with_its_cause_and_files() -> None:
    try:
        try:
            raise FileNotFoundError("no such file")
        except OSError as cause:
            raise PartitionError("partition 1 failed", partition=1, files=("a.parquet",)) from cause
    except PartitionError as err:
        back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.partition, back.files) == ("partition 1 failed", 1, ("a.parquet",))
    assert isinstance(back.__cause__, FileNotFoundError)
    assert str(back.__cause__) == "no such file"

    class LocalError(Exception):  # a cause that does not pickle: dropped, the message is kept
        pass

    err = PartitionError("partition 0 failed", partition=0)
    err.__cause__ = LocalError("x")
    # prodml's own reduction, called directly: a library may register its own pickling of
    # exceptions (tblib's, which distributed uses, pickles the cause itself)
    rebuild, args = err.__reduce__()
    back = rebuild(*args)
    assert (str(back), back.partition, back.__cause__) == ("partition 0 failed", 0, None)
