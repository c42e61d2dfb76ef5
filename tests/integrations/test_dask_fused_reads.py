"""Partitions that read several Parquet files at once, on real files.

Dask 2026.7 gives one partition several files in two ways: its optimizer fuses small
files into one partition (``FusedIO``, when a projection of few columns is read before
a ``map_partitions`` or an ``assign``: the partition's task concatenates the files'
frames), and ``read_parquet(aggregate_files=True)`` with ``split_row_groups`` or
``blocksize`` (the reader concatenates the files' Arrow tables). ``split_row_groups`` and
``blocksize`` alone split one file into several partitions. On each layout the fitted
pipeline, its output and the drift profile are the single-machine ones on the same rows
(``==``, bit for bit), and a file short of a column is a ``SchemaError`` naming the
column, the partition and the file, not a ``PartitionError`` about concatenation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")

import dask
import dask.dataframe as dd

from prodml.drift import DriftDetector, Profile
from prodml.errors import DriftError, NotFittedError, SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.integrations import dask as pdask
from prodml.integrations.dask import PartitionError

N_FILES = 8
ROWS = 40


@pytest.fixture(autouse=True)
def _sync() -> Iterator[None]:
    with dask.config.set(scheduler="sync"):
        yield


def _file(i: int) -> pd.DataFrame:
    rng = np.random.default_rng(100 + i)
    x = rng.normal(size=ROWS) * 10.0 ** (i % 4)  # magnitudes that make sums round
    x[rng.random(ROWS) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "c": pd.array(rng.choice(["de", "fr", "nl"], ROWS), dtype="str"),
            "u": rng.normal(size=ROWS),
            "v": rng.normal(size=ROWS),
            "w": rng.normal(size=ROWS),
        }
    )


def _write(folder: Path, *, short: int | None = None, row_group_size: int = 20) -> list[Path]:
    """``N_FILES`` small files; file ``short`` is written without column ``c``."""
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(N_FILES):
        frame = _file(i)
        if i == short:
            frame = frame.drop(columns=["c"])
        path = folder / f"part-{i:02d}.parquet"
        frame.to_parquet(path, row_group_size=row_group_size)
        paths.append(path)
    return paths


def _tag(part: pd.DataFrame) -> pd.DataFrame:
    return part.assign(k=1.0)


# Each layout: how the frame is built, and how many files its partitions read at most.
LAYOUTS: dict[str, Callable[[Path], Any]] = {
    "fused, columns + map_partitions": lambda d: dd.read_parquet(
        d, columns=["x", "c"]
    ).map_partitions(_tag),
    "fused, projection + assign": lambda d: dd.read_parquet(d)[["x", "c"]].assign(k=1.0),
    "aggregate_files, split_row_groups": lambda d: dd.read_parquet(
        d, split_row_groups=4, aggregate_files=True
    )[["x", "c"]],
    "aggregate_files, blocksize": lambda d: dd.read_parquet(
        d, blocksize="4KiB", aggregate_files=True
    )[["x", "c"]],
    # every column: a projection would let the optimizer fuse the row groups back
    "split_row_groups": lambda d: dd.read_parquet(d, split_row_groups=True),
    "blocksize": lambda d: dd.read_parquet(d, blocksize="1KiB"),
}


def _pipe() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="mean"),
            steps.StandardScale(["x"]),
            steps.OneHot(["c"]),
        ]
    )


def _in_memory(paths: list[Path], columns: list[str]) -> pd.DataFrame:
    """The files read one by one with pandas and concatenated, in file order."""
    return pd.concat([pd.read_parquet(p, columns=columns) for p in paths], ignore_index=True)


def test_the_layouts_read_what_they_say(tmp_path: Path) -> None:
    # the tests below are about these partitionings: check Dask still makes them
    _write(tmp_path)
    sizes = {
        name: make(tmp_path).optimize().map_partitions(len).compute().tolist()
        for name, make in LAYOUTS.items()
    }
    several_files = ROWS + 1
    assert len(sizes["fused, columns + map_partitions"]) < N_FILES
    assert max(sizes["fused, columns + map_partitions"]) >= several_files
    assert max(sizes["fused, projection + assign"]) >= several_files
    assert max(sizes["aggregate_files, split_row_groups"]) >= several_files
    assert max(sizes["aggregate_files, blocksize"]) >= several_files
    assert max(sizes["split_row_groups"]) < ROWS  # one file: several partitions
    assert max(sizes["blocksize"]) < ROWS
    for rows in sizes.values():
        assert sum(rows) == N_FILES * ROWS


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_fit_transform_and_profile_equal_one_machine(tmp_path: Path, layout: str) -> None:
    paths = _write(tmp_path)
    ddf = LAYOUTS[layout](tmp_path)
    full = _in_memory(paths, [c for c in ddf.columns if c != "k"])
    if "k" in ddf.columns:
        full = full.assign(k=1.0)
    local = _pipe().fit(full)
    remote = pdask.fit_pipeline(_pipe(), ddf, progress=False)
    # golden: the fitted state to the bit (means and variances included)
    assert remote.to_dict() == local.to_dict()
    assert remote.fingerprint == local.fingerprint
    assert remote.input_schema == local.input_schema
    assert np.array_equal(pdask.transform(remote, ddf).compute(), local.transform(full))
    assert pdask.profile(ddf, progress=False) == Profile().update(full)
    reference = full.iloc[: 3 * ROWS]
    report = pdask.detect(DriftDetector().fit(reference), ddf)
    assert report.to_dict() == DriftDetector().fit(reference).detect(full).to_dict()


MISSING_LAYOUTS = [
    "fused, columns + map_partitions",
    "fused, projection + assign",
    "aggregate_files, split_row_groups",
    "aggregate_files, blocksize",
]


@pytest.mark.parametrize("layout", MISSING_LAYOUTS)
def test_a_file_short_of_a_column_is_named_in_a_multi_file_partition(
    tmp_path: Path, layout: str
) -> None:
    paths = _write(tmp_path, short=5)
    ddf = LAYOUTS[layout](tmp_path)
    fitted = _pipe().fit(_in_memory(paths[:2], ["x", "c"]).assign(k=1.0)[list(ddf.columns)])
    calls = {
        "fit_pipeline": lambda: pdask.fit_pipeline(_pipe(), ddf, progress=False),
        "profile": lambda: pdask.profile(ddf, progress=False),
        "transform": lambda: pdask.transform(fitted, ddf).compute(),
    }
    for name, call in calls.items():
        with pytest.raises(SchemaError) as info:
            call()
        err = info.value
        assert not isinstance(err, PartitionError), name
        assert [(p.column, p.kind) for p in err.problems] == [("c", "missing")], name
        # the one file that lacks it, of the several the partition reads
        assert f"(file '{paths[5]}')" in str(err), name
        assert "missing from partition " in str(err), name


def test_files_that_differ_by_type_only_stay_a_partition_error(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    _file(3).astype({"u": "float32"}).to_parquet(paths[3], row_group_size=20)
    ddf = dd.read_parquet(tmp_path, split_row_groups=4, aggregate_files=True)
    # every file holds every column: no column is said missing, the files are named
    with pytest.raises(PartitionError, match="ArrowInvalid") as info:
        pdask.profile(ddf, progress=False)
    assert str(paths[3]) in info.value.files


def test_a_bad_value_names_column_partition_and_files(tmp_path: Path) -> None:
    paths = _write(tmp_path)
    for i, path in enumerate(paths):  # nulls in file 5 only, infinity in file 2 only
        frame = pd.read_parquet(path)
        frame["x"] = frame["x"].fillna(0.0) if i != 5 else frame["x"]
        frame.assign(u=np.inf if i == 2 else 0.0).to_parquet(path)
    ddf = dd.read_parquet(tmp_path, columns=["x", "c"]).map_partitions(_tag)
    parts = ddf.optimize().map_partitions(len).compute().tolist()
    assert parts[2] == 2 * ROWS  # files 4 and 5 in partition 2
    pipe = FeaturePipeline([steps.StandardScale(["x"])])  # no Impute: file 5 has nulls
    with pytest.raises(SchemaError) as info:
        pdask.fit_pipeline(pipe, ddf, progress=False)
    assert [(p.column, p.kind) for p in info.value.problems] == [("x", "null")]
    assert str(info.value).endswith(
        f"(in partition 2 of the Dask DataFrame, files '{paths[4]}', '{paths[5]}')"
    )
    with pytest.raises(NotFittedError):  # a failed fit leaves it unfitted
        _ = pipe.feature_names_out
    # one file per partition: that file
    with pytest.raises(DriftError) as drift:
        pdask.profile(dd.read_parquet(tmp_path), progress=False)
    assert str(drift.value).endswith(f"(in partition 2 of the Dask DataFrame, file '{paths[2]}')")
