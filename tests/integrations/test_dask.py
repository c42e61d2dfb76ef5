"""prodml.integrations.dask on a real distributed.LocalCluster with worker processes."""

from __future__ import annotations

import importlib
import logging
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
distributed = pytest.importorskip("distributed", reason="needs the 'dask' extra")

import dask  # noqa: E402 - after the importorskip
import dask.dataframe as dd  # noqa: E402

from prodml.drift import DriftDetector, Profile  # noqa: E402
from prodml.errors import (  # noqa: E402
    ConfigError,
    DriftError,
    MissingExtraError,
    NotFittedError,
    SchemaError,
)
from prodml.features import ExtraColumnWarning, FeaturePipeline, steps  # noqa: E402
from prodml.integrations import dask as pdask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=":0",  # a free port: no "port 8787 in use" warning
        silence_logs=logging.ERROR,
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _table(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.1] = np.nan
    c = rng.choice(["red", "green", "blue", "grey"], n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    c[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "x": x,
            "n": rng.integers(0, 1000, n),
            "c": pd.array(c, dtype="string"),
            "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), "s"),
        }
    )


def _exact_pipeline() -> FeaturePipeline:
    """Steps whose fit states merge exactly (quantiles, extremes, counts)."""
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="median"),
            steps.RobustScale(["x"]),
            steps.MinMaxScale(["n"]),
            steps.Impute(["c"], strategy="most_frequent"),
            steps.OneHot(["c"], max_categories=3),
            steps.DateParts(["t"], parts=["month", "dayofweek"]),
        ]
    )


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return _table(6000, seed=1)


@pytest.fixture(scope="module")
def ddf(df: pd.DataFrame):
    return dd.from_pandas(df, npartitions=5)


# -- feature pipelines ---------------------------------------------------------------


def test_fit_equals_single_machine_fingerprint(client, df, ddf) -> None:
    local = _exact_pipeline().fit(ddf.compute())
    with distributed.get_task_stream(client) as stream:
        remote = pdask.fit_pipeline(_exact_pipeline(), ddf, split_every=2)
    # the partition states were computed by the worker processes
    workers = set(client.scheduler_info()["workers"])
    assert len(workers) == 2
    ran = [t for t in stream.data if "partition_states" in str(t["key"])]
    assert len(ran) == 5 * 2  # 5 partitions x 2 passes (Impute, then the scalers/encoders)
    assert {t["worker"] for t in ran} <= workers
    assert remote.fingerprint == local.fingerprint
    assert remote.to_dict() == local.to_dict()
    assert remote.feature_names_out == local.feature_names_out


def test_transform_equals_single_machine_exactly(client, df, ddf) -> None:
    pipe = pdask.fit_pipeline(_exact_pipeline(), ddf)
    expected = pipe.transform(ddf.compute())
    arr = pdask.transform(pipe, ddf).compute()
    assert arr.dtype == np.float64
    assert np.array_equal(arr, expected)
    frame = pdask.transform(pipe, ddf, output="frame")
    assert list(frame.columns) == pipe.feature_names_out
    got = frame.compute()
    assert np.array_equal(got.to_numpy(), expected)
    assert got.index.equals(df.index)
    # and every row equals the single-record path
    rec = {k: (None if pd.isna(v) else v) for k, v in df.iloc[17].to_dict().items()}
    assert np.array_equal(arr[17], pipe.transform_record(rec))


def test_moments_fit_is_exact_too(client, df, ddf) -> None:
    # means/variances: a counting round gives each partition its place in the stream
    def make() -> FeaturePipeline:
        return FeaturePipeline(
            [
                steps.Impute(["x"], strategy="mean"),
                steps.StandardScale(["x", "n"]),
                steps.Impute(["c"], strategy="most_frequent"),
                steps.OneHot(["c"], handle_unknown="ignore"),
            ]
        )

    local = make().fit(ddf.compute())
    remote = pdask.fit_pipeline(make(), dd.from_pandas(df, npartitions=7), split_every=3)
    assert remote.fingerprint == local.fingerprint
    assert np.array_equal(pdask.transform(remote, ddf).compute(), local.transform(df))


def test_fit_from_parquet_paths(client, df, tmp_path) -> None:
    paths = []
    for i, part in enumerate(np.array_split(np.arange(len(df)), 3)):
        path = tmp_path / f"part-{i}.parquet"
        df.iloc[part].to_parquet(path)
        paths.append(path)
    local = _exact_pipeline().fit(pd.concat([pd.read_parquet(p) for p in paths]))
    from_list = pdask.fit_pipeline(_exact_pipeline(), paths)
    from_dir = pdask.fit_pipeline(_exact_pipeline(), str(tmp_path))
    assert from_list.fingerprint == local.fingerprint == from_dir.fingerprint
    assert pdask.profile(paths) == Profile().update(df)
    arr = pdask.transform(from_list, [str(p) for p in paths]).compute()
    assert np.array_equal(arr, local.transform(df))


def test_schema_merges_across_partitions(client) -> None:
    # An int partition and a float partition, a partition where the text is all null:
    # the schema inferred on the workers equals the single-machine one.
    parts = [
        pd.DataFrame({"v": [1, 2, 3], "s": pd.Series([None, None, None], dtype=object)}),
        pd.DataFrame({"v": pd.Series([], dtype="int64"), "s": pd.Series([], dtype=object)}),
        pd.DataFrame({"v": [1.5, np.nan], "s": pd.Series(["a", None], dtype=object)}),
    ]
    ddf = dd.from_delayed(
        [dask.delayed(p) for p in parts], meta=parts[1].iloc[:0], verify_meta=False
    )
    assert [p.compute()["v"].dtype.kind for p in ddf.to_delayed()] == ["i", "i", "f"]

    def make() -> FeaturePipeline:
        return FeaturePipeline(
            [
                steps.Impute(["v"], strategy="median"),
                steps.Impute(["s"], strategy="constant", fill_value="none"),
                steps.OneHot(["s"]),
            ]
        )

    remote = pdask.fit_pipeline(make(), ddf)
    local = make().fit(ddf.compute())
    assert remote.fingerprint == local.fingerprint
    assert remote.input_schema == local.input_schema
    assert [c.dtype.value for c in remote.input_schema.columns] == ["float", "string"]
    assert pdask.profile(ddf) == Profile().update(ddf.compute())  # empty partition too


# -- drift ---------------------------------------------------------------------------


def test_profile_equals_single_machine(client, df, ddf) -> None:
    got, want = pdask.profile(ddf), Profile().update(df)
    assert got == want
    # categories keep the order of first appearance, as one pass (chi-square sums follow it)
    assert list(got.columns["c"].counts) == list(want.columns["c"].counts)
    assert pdask.profile(ddf, columns=["x", "c"]) == Profile(columns=["x", "c"]).update(df)


def test_private_profile_equals_single_machine(client) -> None:
    from prodml.privacy import Privacy, is_token

    n = 900
    table = pd.DataFrame(
        {
            "who": [f"person{i % 300}@example.com" for i in range(n)],  # hashed one by one
            "ref": [f"r{i // 5}" for i in range(n)],  # 30 a partition, 180 in all
            "plan": ["free", "pro", "team"] * (n // 3),
        }
    )
    policy = Privacy(max_categories=100, sensitive=["plan"])
    got = pdask.profile(dd.from_pandas(table, npartitions=6), privacy=policy)
    want = Profile(privacy=policy).update(table)
    assert got == want
    assert list(got.columns["ref"].counts) == list(want.columns["ref"].counts)
    assert got.columns["ref"].hashed
    assert all(map(is_token, got.columns["who"].counts))
    det = pdask.fit_detector(DriftDetector(privacy=policy), dd.from_pandas(table, npartitions=3))
    assert det.reference_ == want


def test_sketched_profile_equals_single_machine(client) -> None:
    big = _table(30_000, seed=4)
    got = pdask.profile(dd.from_pandas(big, npartitions=4), max_exact=10_000)
    want = Profile(max_exact=10_000).update(big)
    assert not got.columns["x"].exact  # the sketch is in use
    assert got == want


def test_detector_equals_single_machine(client, df, ddf) -> None:
    cur = _table(5000, seed=2, shift=0.3)
    cur_dd = dd.from_pandas(cur, npartitions=3)
    local = DriftDetector().fit(df).detect(cur)
    det = pdask.fit_detector(DriftDetector(), ddf)
    report = pdask.detect(det, cur_dd)
    assert report.to_dict() == local.to_dict()
    assert report.drifted_columns == local.drifted_columns
    assert "x" in report.drifted_columns
    assert "t" not in report.drifted_columns
    # the fitted reference is the single-machine profile
    assert det.reference_ == DriftDetector().fit(df).reference_
    some = pdask.fit_detector(DriftDetector(columns=["c", "x"], correction="bonferroni"), ddf)
    got = pdask.detect(some, cur_dd)
    want = DriftDetector(columns=["c", "x"], correction="bonferroni").fit(df).detect(cur)
    assert got.to_dict() == want.to_dict()
    assert [r.column for r in got.results] == ["c", "x"]


# -- errors --------------------------------------------------------------------------


def test_bad_inputs(client, df, ddf, tmp_path) -> None:
    with pytest.raises(SchemaError, match="expected a dask DataFrame"):
        pdask.profile(42)
    with pytest.raises(SchemaError, match="cannot read Parquet"):
        pdask.profile(tmp_path / "nope.parquet")
    with pytest.raises(ConfigError, match="'pipe' parameter of fit_pipeline must be a prodml"):
        pdask.fit_pipeline("pipe", ddf)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'pipe' parameter of transform"):
        pdask.transform(None, ddf)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'detector' parameter"):
        pdask.fit_detector(Profile(), ddf)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'detector' parameter of detect"):
        pdask.detect("det", ddf)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'split_every' parameter of fit_pipeline"):
        pdask.fit_pipeline(_exact_pipeline(), ddf, split_every=1)
    with pytest.raises(ConfigError, match="'output' parameter of transform"):
        pdask.transform(pdask.fit_pipeline(_exact_pipeline(), ddf), ddf, output="numpy")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="zzz"):
        pdask.profile(ddf, columns=["x", "zzz"])


def test_unfitted_and_missing_columns(client, ddf) -> None:
    with pytest.raises(NotFittedError):
        pdask.transform(_exact_pipeline(), ddf)
    with pytest.raises(NotFittedError):
        pdask.detect(DriftDetector(), ddf)
    pipe = pdask.fit_pipeline(_exact_pipeline(), ddf)
    with pytest.raises(SchemaError, match=r"'x'.*missing"):
        pdask.transform(pipe, ddf.drop(columns=["x"]))
    extra = ddf.assign(z=1.0)
    with pytest.warns(ExtraColumnWarning, match="'z'"):
        out = pdask.transform(pipe, extra).compute()
    assert np.array_equal(out, pipe.transform(ddf.compute()))
    pipe.strict = True
    with pytest.raises(SchemaError, match=r"'z'.*not seen at fit"):
        pdask.transform(pipe, extra)


def test_worker_errors_reach_the_client(client, ddf) -> None:
    # a null reaching StandardScale (no Impute) is found on a worker, raised here
    with pytest.raises(SchemaError, match=r"'x'.*null") as info:
        pdask.fit_pipeline(FeaturePipeline([steps.StandardScale(["x"])]), ddf)
    assert info.value.column == "x"
    bad = ddf.assign(x=ddf["x"].fillna(np.inf))
    with pytest.raises(DriftError, match="infinite"):
        pdask.profile(bad)


def test_multivariate_needs_rows(client, ddf) -> None:
    with pytest.raises(DriftError, match="multivariate"):
        pdask.fit_detector(DriftDetector(multivariate=True), ddf)


def test_missing_dask_names_the_extra(monkeypatch) -> None:
    import prodml.integrations

    # a fresh import of the module with dask unimportable: importing works, use raises
    monkeypatch.setattr(prodml.integrations, "dask", pdask)
    monkeypatch.delitem(sys.modules, "prodml.integrations.dask")
    for name in ("dask", "dask.dataframe"):
        monkeypatch.setitem(sys.modules, name, None)
    fresh = importlib.import_module("prodml.integrations.dask")
    assert fresh is not pdask
    with pytest.raises(MissingExtraError, match=r"pip install 'prodml\[dask\]'"):
        fresh.profile("x.parquet")
    with pytest.raises(MissingExtraError, match="dask"):
        fresh.fit_pipeline(_exact_pipeline(), "x.parquet")
