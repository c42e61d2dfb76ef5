"""Parquet datasets as users have them, read with Dask's default reader.

pandas 3 ``str`` (Arrow-backed) columns, categoricals whose categories differ between
files, a file of zero rows, a file whose column is all null (written by pandas as Arrow's
``null`` type), timestamps of other units or time zones per file, files on S3 reached
through ``storage_options``, and ``include_path_column``, which Dask 2026.7 accepts and
ignores. Each gives the answer pandas gives on the same files read one by one
(``FeaturePipeline.fit`` and ``Profile.update`` take the list of per-file frames, as
Dask's partitions are), or a ``SchemaError`` naming the column and where it is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")

import dask
import dask.dataframe as dd

from prodml.drift import Profile
from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.integrations import dask as pdask


@pytest.fixture(autouse=True)
def _sync() -> Iterator[None]:
    with dask.config.set(scheduler="sync"):
        yield


def _frame(n: int, seed: int, text: Any = "str") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {"x": x, "c": pd.array(rng.choice(["de", "fr", "nl"], n), dtype=text)},
        index=pd.RangeIndex(n),
    )


def _pipe(*extra: Any) -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="mean"),
            steps.StandardScale(["x"]),
            steps.Impute(["c"], strategy="most_frequent"),
            steps.OneHot(["c"], handle_unknown="ignore"),
            *extra,
        ]
    )


def _write(folder: Path, frames: list[pd.DataFrame]) -> list[Path]:
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"part-{i:02d}.parquet"
        frame.to_parquet(path)
        paths.append(path)
    return paths


def _same_as_pandas(ddf: Any, paths: list[Any], pipe: Any = _pipe, read: Any = None) -> None:
    """Dask's fit, transform and profile equal pandas' on the files read one by one."""
    chunks = [(read or pd.read_parquet)(p) for p in paths]
    local = pipe().fit(chunks)
    remote = pdask.fit_pipeline(pipe(), ddf, progress=False)
    assert remote.to_dict() == local.to_dict()
    assert remote.fingerprint == local.fingerprint
    expected = np.concatenate([local.transform(c) for c in chunks])
    assert np.array_equal(pdask.transform(remote, ddf).compute(), expected, equal_nan=True)
    assert pdask.profile(ddf, progress=False) == Profile().update(chunks)


TEXT = {
    "str (pandas 3 default)": "str",
    "string[pyarrow]": "string[pyarrow]",
    "ArrowDtype(large_string)": pd.ArrowDtype(pa.large_string()),
    "object": object,
}


@pytest.mark.parametrize("text", list(TEXT))
def test_text_columns_of_any_pandas_dtype(tmp_path: Path, text: str) -> None:
    paths = _write(tmp_path, [_frame(30, seed, TEXT[text]) for seed in range(3)])
    _same_as_pandas(dd.read_parquet(tmp_path), paths)


def test_categories_that_differ_between_files(tmp_path: Path) -> None:
    frames = [
        _frame(20, 1).astype({"c": pd.CategoricalDtype(["de", "fr", "nl"])}),
        _frame(20, 2).assign(
            c=lambda f: pd.Categorical(f["c"].str.replace("nl", "it"), ["it", "fr", "de"])
        ),
        _frame(20, 3).astype({"c": pd.CategoricalDtype(["nl", "de", "fr", "pl"])}),
    ]
    paths = _write(tmp_path, frames)
    ddf = dd.read_parquet(tmp_path)
    _same_as_pandas(ddf, paths)
    # categories differ: the column is text, as over the pandas chunks
    fitted = pdask.fit_pipeline(_pipe(), ddf, progress=False)
    assert fitted.input_schema["c"].dtype == "string"


@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_file_of_zero_rows(tmp_path: Path, where: int) -> None:
    frames = [_frame(25, 1), _frame(25, 2)]
    frames.insert(where, _frame(0, 3))
    paths = _write(tmp_path, frames)
    _same_as_pandas(dd.read_parquet(tmp_path), paths)


@pytest.mark.parametrize("where", [0, 1])
@pytest.mark.parametrize(
    "nulls",
    [
        {"c": pd.Series([None] * 25, dtype=object)},  # written as Arrow's null type
        {"c": pd.Series([None] * 25, dtype="str")},
        {"x": np.nan},
    ],
    ids=["object None", "str NaN", "float NaN"],
)
def test_a_file_whose_column_is_all_null(tmp_path: Path, where: int, nulls: Any) -> None:
    frames = [_frame(25, 1), _frame(25, 2)]
    frames[where] = frames[where].assign(**nulls)
    paths = _write(tmp_path, frames)
    _same_as_pandas(dd.read_parquet(tmp_path), paths)


def _times(n: int, seed: int, unit: str, tz: str | None) -> pd.DataFrame:
    start = pd.Timestamp("2024-03-30 22:00", tz=tz) + pd.Timedelta(hours=seed * n)
    t = pd.Series(pd.date_range(start, periods=n, freq="37min")).astype(
        f"datetime64[{unit}]" if tz is None else f"datetime64[{unit}, {tz}]"
    )
    return _frame(n, seed).assign(t=t)


def _dates() -> FeaturePipeline:
    return _pipe(steps.DateParts(["t"], parts=["year", "month", "day", "hour", "dayofweek"]))


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_timestamps_of_other_units_per_file(tmp_path: Path, tz: str | None) -> None:
    frames = [_times(20, i, unit, tz) for i, unit in enumerate(["ns", "us", "ms", "s"])]
    paths = _write(tmp_path, frames)
    ddf = dd.read_parquet(tmp_path)
    _same_as_pandas(ddf, paths, pipe=_dates)


@pytest.mark.parametrize(
    ("zones", "words"),
    [
        (("UTC", "Europe/Berlin"), ("in time zone 'UTC'", "in time zone 'Europe/Berlin'")),
        ((None, "UTC"), ("naive (no time zone)", "in time zone 'UTC'")),
    ],
)
def test_time_zones_that_differ_between_files(
    tmp_path: Path, zones: tuple[str | None, str | None], words: tuple[str, str]
) -> None:
    paths = _write(tmp_path, [_times(10, 0, "us", zones[0]), _times(10, 1, "us", zones[1])])
    ddf = dd.read_parquet(tmp_path)
    for call in (
        lambda: pdask.fit_pipeline(_dates(), ddf, progress=False),
        lambda: pdask.profile(ddf, progress=False),
    ):
        with pytest.raises(SchemaError) as info:
            call()
        text = str(info.value)
        assert [(p.column, p.kind) for p in info.value.problems] == [("t", "type")]
        assert f"{words[0]} in partition 0 (file '{paths[0]}')" in text
        assert f"{words[1]} in partition 1 (file '{paths[1]}')" in text


def test_the_arrow_reader_changes_timestamps_of_another_zone(tmp_path: Path) -> None:
    # Documented (docs/scale-out.md): with filesystem="arrow", Dask casts every file to
    # one zone before prodml sees a row, so the values change and nothing can be
    # detected downstream. This pins Dask's behaviour the docs describe.
    _write(tmp_path, [_times(3, 0, "us", None), _times(3, 1, "us", "Europe/Berlin")])
    read = dd.read_parquet(tmp_path, filesystem="arrow").compute()["t"]
    assert str(read.dtype.tz) == "Europe/Berlin"
    naive = pd.read_parquet(tmp_path / "part-00.parquet")["t"]
    assert not read.iloc[:3].dt.tz_localize(None).reset_index(drop=True).equals(naive)


# -- include_path_column ---------------------------------------------------------------


@pytest.mark.parametrize(("option", "column"), [(True, "path"), ("source", "source")])
def test_include_path_column_that_dask_ignores_is_an_error(
    tmp_path: Path, option: Any, column: str
) -> None:
    paths = _write(tmp_path, [_frame(10, 1), _frame(10, 2)])
    ddf = dd.read_parquet(tmp_path, include_path_column=option)
    assert column not in ddf.columns  # Dask 2026.7: accepted, no column
    from sklearn.dummy import DummyClassifier

    from prodml.fairness import GroupMetrics
    from prodml.serving import Predictor

    first = pd.read_parquet(paths[0])
    fitted = _pipe().fit(first)
    predictor = Predictor(fitted, DummyClassifier().fit(fitted.transform(first), first["c"]))
    for call in (
        lambda: pdask.fit_pipeline(_pipe(), ddf, progress=False),
        lambda: pdask.profile(ddf, progress=False),
        lambda: pdask.transform(fitted, ddf),
        lambda: pdask.transform(fitted, ddf[["x", "c"]].assign(k=1)),  # through other steps
        lambda: pdask.score(predictor, ddf),
        lambda: pdask.group_metrics(GroupMetrics(["c"]), ddf, y_true="c", y_pred="c"),
    ):
        with pytest.raises(SchemaError, match="include_path_column") as info:
            call()
        assert [(p.column, p.kind) for p in info.value.problems] == [(column, "missing")]


def _read_with_path(path: str) -> pd.DataFrame:
    return pd.read_parquet(path).assign(path=path)


def test_the_path_column_added_with_from_map_is_kept(tmp_path: Path) -> None:
    paths = [str(p) for p in _write(tmp_path, [_frame(10, 1), _frame(10, 2)])]
    ddf = dd.from_map(_read_with_path, paths)
    chunks = [_read_with_path(p) for p in paths]
    assert pdask.profile(ddf, progress=False) == Profile().update(chunks)
    # without the option, or with it and the column present, nothing is refused
    assert pdask.profile(dd.read_parquet(tmp_path, include_path_column=False), progress=False)


# -- S3 (moto) -------------------------------------------------------------------------


def test_files_on_s3_fused_into_partitions(s3_bucket: tuple[str, dict[str, Any]]) -> None:
    import s3fs

    name, options = s3_bucket
    fs = s3fs.S3FileSystem(**options)
    frames = [_frame(20, i).assign(u=float(i), v=1.0, w=2.0) for i in range(6)]
    for i, frame in enumerate(frames):
        with fs.open(f"{name}/part-{i}.parquet", "wb") as f:
            frame.to_parquet(f)

    def read(path: str) -> pd.DataFrame:
        with fs.open(path, "rb") as f:
            return pd.read_parquet(f, columns=["x", "c"]).assign(k=1.0)

    url = f"s3://{name}/"
    ddf = dd.read_parquet(url, columns=["x", "c"], storage_options=options).assign(k=1.0)
    assert ddf.optimize().npartitions < len(frames)  # several files per partition
    _same_as_pandas(ddf, [f"{name}/part-{i}.parquet" for i in range(6)], read=read)

    with fs.open(f"{name}/part-3.parquet", "wb") as f:
        frames[3].drop(columns=["c"]).to_parquet(f)
    ddf = dd.read_parquet(url, columns=["x", "c"], storage_options=options).assign(k=1.0)
    with pytest.raises(SchemaError) as info:
        pdask.profile(ddf, progress=False)
    assert [(p.column, p.kind) for p in info.value.problems] == [("c", "missing")]
    assert f"(file '{name}/part-3.parquet')" in str(info.value)
    assert "testing" not in str(info.value)  # no credential in the message
