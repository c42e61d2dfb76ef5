"""prodml.integrations.dask on the partitions users really have: empty, one-row, all-null,
dtypes and time zones that differ between partitions, a meta that lies, failing workers.

Each result is compared with the in-memory one on the same rows (``==``: the Dask path is
documented exact), or must be a ProdMLError naming what is wrong and where.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
distributed = pytest.importorskip("distributed", reason="needs the 'dask' extra")

import dask  # noqa: E402 - after the importorskip
import dask.dataframe as dd  # noqa: E402

from prodml.drift import Profile  # noqa: E402
from prodml.errors import DriftError, NotFittedError, SchemaError  # noqa: E402
from prodml.fairness import GroupMetrics  # noqa: E402
from prodml.features import FeaturePipeline, steps  # noqa: E402
from prodml.integrations import dask as pdask  # noqa: E402
from prodml.integrations.dask import PartitionError  # noqa: E402


def _parts(parts: list[pd.DataFrame], meta: pd.DataFrame | None = None) -> Any:
    """A Dask DataFrame of exactly these partitions (``from_delayed`` checks no meta)."""
    meta = parts[0].iloc[:0] if meta is None else meta
    return dd.from_delayed([dask.delayed(p) for p in parts], meta=meta, verify_meta=False)


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    c = rng.choice(["a", "b", "c"], n).astype(object)
    c[rng.random(n) < 0.1] = None
    return pd.DataFrame(
        {
            "x": x,
            "c": c,
            "y": rng.integers(0, 2, n),
            "p": rng.integers(0, 2, n),
            "g": rng.choice(["F", "M"], n),
        }
    )


def _pipe() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="mean"),
            steps.StandardScale(["x"]),
            steps.Impute(["c"], strategy="most_frequent"),
            steps.OneHot(["c"], handle_unknown="ignore"),
        ]
    )


def _same_as_in_memory(ddf: Any) -> None:
    """Every Dask function's result equals the in-memory one on ``ddf.compute()``."""
    full = ddf.compute()
    local = _pipe().fit(full)
    remote = pdask.fit_pipeline(_pipe(), ddf)
    assert remote.fingerprint == local.fingerprint
    expected = local.transform(full)
    got = pdask.transform(remote, ddf).compute()
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)
    frame = pdask.transform(remote, ddf, output="frame").compute()
    assert np.array_equal(frame.to_numpy(), expected)
    assert frame.index.equals(full.index)
    assert pdask.profile(ddf) == Profile().update(full)
    gm = pdask.group_metrics(GroupMetrics(["g"], min_count=1), ddf, y_true="y", y_pred="p")
    assert gm == GroupMetrics(["g"], min_count=1).update(full["y"], full["p"], full)


# -- the same answer on any partitioning ---------------------------------------------


def _empty_like(df: pd.DataFrame) -> pd.DataFrame:
    return df.iloc[:0]


LAYOUTS = {
    "empty first": lambda df: [_empty_like(df), df.iloc[:100], df.iloc[100:]],
    "empty middle": lambda df: [df.iloc[:100], _empty_like(df), df.iloc[100:]],
    "empty last": lambda df: [df.iloc[:100], df.iloc[100:], _empty_like(df)],
    "all but one empty": lambda df: [_empty_like(df), df, _empty_like(df), _empty_like(df)],
    "one row each": lambda df: [df.iloc[[i]] for i in range(40)],
    "a partition of nulls": lambda df: [
        df.iloc[:60].assign(x=np.nan, c=None),
        df.iloc[60:],
    ],
    "null in some partitions only": lambda df: [
        df.iloc[:50].assign(c=None),
        df.iloc[50:150],
        df.iloc[150:].assign(c=None),
    ],
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_from_delayed_layouts_equal_in_memory(scheduler, layout) -> None:
    # transform(output="array") of any dd.from_delayed frame used to fail inside Dask's
    # array fusion (KeyError: 'pop from an empty set' / "Missing dependency")
    _same_as_in_memory(_parts(LAYOUTS[layout](_table(200))))


def test_dtypes_that_differ_between_partitions(scheduler) -> None:
    df = _table(120, seed=3)
    ints = df.iloc[:40].assign(x=np.arange(40, dtype="int64"))
    arrow = df.iloc[40:80].assign(c=df["c"].iloc[40:80].astype("str"))
    _same_as_in_memory(_parts([ints, df.iloc[40:80]]))  # int64, then float64 with NaN
    _same_as_in_memory(_parts([df.iloc[40:80], ints]))
    _same_as_in_memory(_parts([arrow, df.iloc[:40]]))  # pandas 3 str, then object
    _same_as_in_memory(_parts([df.iloc[:40], arrow]))
    # categoricals with unknown categories, and a repartitioned frame of unknown divisions
    known = dd.from_pandas(df.assign(c=df["c"].astype("category")), npartitions=4)
    _same_as_in_memory(known.assign(c=known["c"].cat.as_unknown()))
    _same_as_in_memory(known.clear_divisions().repartition(npartitions=7))
    # a meta that lies about a dtype
    _same_as_in_memory(_parts([df.iloc[:60], df.iloc[60:]], meta=df.iloc[:0].astype({"x": "i8"})))


def test_categories_that_differ_between_partitions(scheduler) -> None:
    df = _table(60, seed=4)
    one = df.iloc[:30].assign(c=pd.Categorical(["a", "b"] * 15, categories=["b", "a"]))
    two = df.iloc[30:].assign(c=pd.Categorical(["z", None] * 15, categories=["z", "y"]))
    ddf = _parts([one, two])
    # The fit equals the fit in memory on pandas' concatenation, which makes the column
    # text (the categories differ); it was `category` (Dask's concatenation unions them).
    full = pd.concat([one, two])
    assert not isinstance(full["c"].dtype, pd.CategoricalDtype)
    remote = pdask.fit_pipeline(_pipe(), ddf)
    local = _pipe().fit(full)
    assert remote.input_schema["c"].dtype.value == "string"
    assert remote.fingerprint == local.fingerprint
    assert np.array_equal(pdask.transform(remote, ddf).compute(), local.transform(full))
    union = ddf.compute()  # the profile counts values: equal to either concatenation
    assert isinstance(union["c"].dtype, pd.CategoricalDtype)
    assert pdask.profile(ddf) == Profile().update(full) == Profile().update(union)


def test_parquet_written_by_pandas(scheduler, tmp_path) -> None:
    df = _table(150, seed=5)
    df.iloc[:50].assign(c=df["c"].iloc[:50].astype("str")).to_parquet(tmp_path / "a.parquet")
    df.iloc[50:100].assign(x=np.arange(50)).to_parquet(tmp_path / "b.parquet")  # int64
    df.iloc[100:][["c", "x", "y", "p", "g"]].to_parquet(tmp_path / "c.parquet")  # reordered
    _same_as_in_memory(dd.read_parquet(str(tmp_path)))


# -- partitions that do not match the meta -------------------------------------------


def test_reordered_columns_are_aligned_to_the_meta(scheduler) -> None:
    df = _table(90, seed=6)
    ddf = _parts([df.iloc[:30], df.iloc[30:60][["g", "p", "y", "c", "x"]], df.iloc[60:]])
    _same_as_in_memory(ddf)  # was: SchemaError "chunks have different columns"


def test_missing_or_extra_columns_name_the_partition(scheduler) -> None:
    df = _table(90, seed=7)
    missing = _parts([df.iloc[:30], df.iloc[30:60].drop(columns=["c"]), df.iloc[60:]])
    for call in (lambda: pdask.fit_pipeline(_pipe(), missing), lambda: pdask.profile(missing)):
        with pytest.raises(SchemaError, match=r"column 'c'.*missing from partition 1") as info:
            call()
        assert info.value.column == "c"
    extra = _parts([df.iloc[:30], df.iloc[30:].assign(z=1.0)])
    with pytest.raises(SchemaError, match=r"column 'z'.*partition 1 is not in the frame's meta"):
        pdask.fit_pipeline(_pipe(), extra)
    # profiling chosen columns does not mind a column it does not read
    assert pdask.profile(extra, columns=["x"]) == Profile(columns=["x"]).update(df)


# -- time zones ----------------------------------------------------------------------


def _times(tz: str | None, start: str) -> pd.DataFrame:
    t = pd.date_range(start, periods=24, freq="h")
    return pd.DataFrame({"t": t if tz is None else t.tz_localize(tz), "x": np.arange(24.0)})


@pytest.mark.parametrize(
    ("zones", "first", "second"),
    [
        ((None, "UTC"), "naive", "'UTC'"),
        (("UTC", None), "'UTC'", "naive"),
        (("UTC", "Europe/Paris"), "'UTC'", "'Europe/Paris'"),
    ],
)
def test_time_zones_must_agree_between_partitions(scheduler, zones, first, second) -> None:
    # was: fitted and profiled silently (DateParts would read hours in two zones)
    ddf = _parts([_times(zones[0], "2024-01-01"), _times(zones[1], "2024-01-02")])
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["hour"])])
    pattern = rf"column 't': timestamps are .*{first}.* partition 0 and .*{second}.* partition 1"
    with pytest.raises(SchemaError, match=pattern) as info:
        pdask.fit_pipeline(pipe, ddf)
    assert info.value.column == "t"
    with pytest.raises(NotFittedError):
        pipe.feature_names_out  # noqa: B018 - left unfitted, as before the call
    with pytest.raises(SchemaError, match=pattern):
        pdask.profile(ddf)


def test_one_time_zone_and_all_null_partitions_equal_in_memory(scheduler) -> None:
    utc = [_times("UTC", "2024-01-01"), _times("UTC", "2024-03-01")]
    nulls = utc[0].assign(t=pd.Series(pd.NaT, index=utc[0].index, dtype="datetime64[ns]"))
    full = pd.concat(utc)
    pipe = FeaturePipeline([steps.DateParts(["t"], parts=["month", "hour"])])
    remote = pdask.fit_pipeline(pipe, _parts(utc))
    assert remote.fingerprint == FeaturePipeline(pipe.steps).fit(full).fingerprint
    assert pdask.profile(_parts(utc)) == Profile().update(full)
    # a partition of NaT only (naive by default) has no zone to disagree with
    with_nulls = _parts([*utc, nulls])
    assert pdask.profile(with_nulls, columns=["x"]) == Profile(columns=["x"]).update(
        pd.concat([*utc, nulls])
    )
    pdask.fit_pipeline(FeaturePipeline([steps.StandardScale(["x"])]), with_nulls)


# -- failing workers -----------------------------------------------------------------


def _failing(ddf: Any, bad_start: int) -> Any:
    def boom(part: pd.DataFrame) -> pd.DataFrame:
        if len(part) and part.index[0] == bad_start:
            raise RuntimeError("disk on fire")
        return part

    return ddf.map_partitions(boom, meta=ddf._meta)


def test_a_failing_partition_is_a_partition_error(scheduler) -> None:
    df = _table(200, seed=8)
    ddf = _failing(dd.from_pandas(df, npartitions=4), bad_start=100)
    calls = [
        lambda: pdask.fit_pipeline(_pipe(), ddf),
        lambda: pdask.profile(ddf),
        lambda: pdask.group_metrics(GroupMetrics(["g"]), ddf, y_true="y", y_pred="p"),
    ]
    for call in calls:
        with pytest.raises(PartitionError, match=r"RuntimeError: 'disk on fire'") as info:
            call()
        assert isinstance(info.value.__cause__, RuntimeError)  # the cause, chained
    gm = GroupMetrics(["g"], min_count=1).update(df["y"], df["p"], df)
    before = gm.to_dict()
    with pytest.raises(PartitionError):
        pdask.group_metrics(gm, ddf, y_true="y", y_pred="p")
    assert gm.to_dict() == before  # nothing half-added


def test_a_failed_fit_leaves_the_pipeline_as_it_was(scheduler, tmp_path) -> None:
    df = _table(200, seed=9)
    impute = steps.Impute(["x"], strategy="mean")
    pipe = FeaturePipeline([impute, steps.StandardScale(["x"])]).fit(df)
    fitted, stats = pipe.to_dict(), dict(impute.statistics_)
    reads = tmp_path / "reads"  # a byte a read: counted across worker threads
    reads.write_bytes(b"")

    def flaky(part: pd.DataFrame) -> pd.DataFrame:
        with reads.open("ab") as f:
            f.write(b".")
        if reads.stat().st_size > 6:  # schema round, then pass 1 (counts, states): 6 reads
            raise OSError("connection reset")
        return part

    other = dd.from_pandas(_table(100, seed=10), npartitions=2)
    with pytest.raises(PartitionError, match="connection reset"):
        pdask.fit_pipeline(pipe, other.map_partitions(flaky, meta=other._meta))
    assert reads.stat().st_size > 6
    # was: the pipeline was left unfitted, its previous fit lost
    assert pipe.to_dict() == fitted
    assert pipe.steps[0] is impute
    assert impute.statistics_ == stats
    assert np.array_equal(pipe.transform(df), FeaturePipeline.from_dict(fitted).transform(df))


def test_prodml_errors_from_a_worker_name_the_partition(scheduler) -> None:
    df = _table(90, seed=11).assign(x=np.arange(90.0))
    where = r"in partition 2 of the Dask DataFrame"
    nulls = _parts([df.iloc[:30], df.iloc[30:60], df.iloc[60:].assign(x=np.nan)])
    with pytest.raises(SchemaError, match=rf"'x'.*null.*{where}") as info:
        pdask.fit_pipeline(FeaturePipeline([steps.StandardScale(["x"])]), nulls)
    assert info.value.column == "x"
    infinite = _parts([df.iloc[:30], df.iloc[30:60], df.iloc[60:].assign(x=np.inf)])
    with pytest.raises(DriftError, match=rf"infinite.*{where}"):
        pdask.profile(infinite)
    text = _parts([df.iloc[:30], df.iloc[30:60], df.iloc[60:].assign(x=["oops"] * 30)])
    lazy = pdask.transform(_pipe().fit(df), text)
    with pytest.raises(SchemaError, match=rf"'x'.*'oops'.*{where}"):
        lazy.compute()


def test_partition_error_pickles() -> None:
    err = PartitionError("partition 3 of the Dask DataFrame failed: OSError", partition=3)
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), str(back), back.partition) == (PartitionError, str(err), 3)


# -- scoring -------------------------------------------------------------------------


def test_score_with_empty_partitions(scheduler) -> None:
    from sklearn.linear_model import LogisticRegression

    from prodml.serving import Predictor

    df = _table(120, seed=12).assign(id=np.arange(120))
    pipe = _pipe().fit(df[["x", "c"]])
    model = LogisticRegression().fit(pipe.transform(df[["x", "c"]]), df["y"])
    pred = Predictor(pipe, model)
    df = df[["x", "c"]].set_axis(np.arange(1000, 1120))
    e = df.iloc[:0]
    ddf = _parts([e, df.iloc[:70], e, df.iloc[70:], e])
    # was: the model refused the empty partitions' zero rows (ModelError)
    got = pdask.score(pred, ddf, keep_columns=["c"]).compute()
    assert got.index.equals(df.index)
    assert got["c"].tolist() == df["c"].tolist()
    assert np.array_equal(got["prediction"].to_numpy(), pred.predict_batch(df))
    # One name is one column, as in the eager score (was: 'r', 'o', ... missing).
    named = ddf.assign(row_id=7)
    one = pdask.score(pred, named, keep_columns="row_id").compute()
    assert one.equals(pdask.score(pred, named, keep_columns=["row_id"]).compute())
    assert list(one.columns) == ["row_id", "prediction"]
    labels = pdask.score(Predictor(pipe, model, output="predict"), ddf).compute()
    assert labels["prediction"].dtype == model.classes_.dtype
    assert labels["prediction"].tolist() == list(model.predict(pipe.transform(df)))
