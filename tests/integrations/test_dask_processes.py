"""prodml on a ``LocalCluster`` of two worker *processes*: everything crosses a pickle.

The other Dask tests use threads (``conftest.py``), where a worker shares the client's
objects. Here the pipeline, the profile parameters, the group metrics and the served
model travel to other processes and back, and so do the errors: a worker's error must
reach the client as the same ``ProdMLError`` subclass with the same message, problems,
partition and files as on Dask's synchronous scheduler, chained to a cause of the same
type, and not as a wrapped remote traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
pytest.importorskip("distributed", reason="needs the 'dask' extra")

import dask
import dask.dataframe as dd

from prodml.drift import DriftDetector
from prodml.errors import DriftError, ProdMLError, SchemaError
from prodml.fairness import GroupMetrics
from prodml.features import FeaturePipeline, steps
from prodml.integrations import dask as pdask
from prodml.integrations.dask import PartitionError


def _on(client: Any, call: Callable[[], Any]) -> Any:
    with dask.config.set(scheduler=client.get):
        return call()


def _sync(call: Callable[[], Any]) -> Any:
    with dask.config.set(scheduler="sync"):
        return call()


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    if seed == 2:  # one file with nulls: the partition a pipeline without Impute fails on
        x[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "c": pd.array(rng.choice(["de", "fr", "nl"], n), dtype="str"),
            "y": rng.integers(0, 2, n),
            "p": rng.integers(0, 2, n),
            "g": pd.array(rng.choice(["F", "M"], n), dtype="str"),
            "t": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "h"),
        }
    )


def _write(folder: Path, n_files: int = 6) -> list[Path]:
    paths = []
    for i in range(n_files):
        path = folder / f"part-{i}.parquet"
        _table(30, i).to_parquet(path)
        paths.append(path)
    return paths


def _pipe() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="mean"),
            steps.StandardScale(["x"]),
            steps.OneHot(["c"]),
            steps.DateParts(["t"], parts=["hour", "dayofweek"]),
        ]
    )


def test_results_cross_processes_unchanged(processes: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from prodml.serving import Predictor

    paths = _write(tmp_path)
    full = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    ddf = dd.read_parquet(tmp_path)
    fused = dd.read_parquet(tmp_path, columns=["x", "c", "t"]).assign(k=1.0)  # FusedIO
    local = _pipe().fit(full)
    features = full[["x", "c", "t"]]
    served = _pipe().fit(features)
    predictor = Predictor(served, LogisticRegression().fit(served.transform(features), full["y"]))
    calls: dict[str, Callable[[], Any]] = {
        "fit": lambda: pdask.fit_pipeline(_pipe(), ddf, progress=False).to_dict(),
        "fit fused": lambda: pdask.fit_pipeline(_pipe(), fused, progress=False).to_dict(),
        "transform": lambda: pdask.transform(served, ddf[["x", "c", "t"]]).compute(),
        "profile": lambda: pdask.profile(ddf, progress=False),
        "detect": lambda: pdask.detect(DriftDetector().fit(full[["x", "c"]]), fused).to_dict(),
        "group_metrics": lambda: pdask.group_metrics(
            GroupMetrics(["g"], min_count=1), ddf, y_true="y", y_pred="p"
        ),
        "score": lambda: pdask.score(predictor, ddf[["x", "c", "t"]]).compute(),
    }
    for name, call in calls.items():
        got, expected = _on(processes, call), _sync(call)
        if isinstance(got, np.ndarray):
            assert np.array_equal(got, expected), name
        elif isinstance(got, pd.DataFrame):
            assert got.equals(expected), name
        else:
            assert got == expected, name
    assert _on(processes, calls["fit"]) == local.to_dict()  # and equal to one machine


def _raise_in_partition_two(
    part: pd.DataFrame, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    if partition_info is not None and partition_info["number"] == 2:
        raise ValueError("bad batch")
    return part


def _failures(folder: Path) -> dict[str, tuple[type[ProdMLError], Callable[[], Any]]]:
    paths = _write(folder)
    ddf = dd.read_parquet(folder)
    no_impute = FeaturePipeline([steps.StandardScale(["x"])])
    fitted = _sync(lambda: pdask.fit_pipeline(_pipe(), ddf, progress=False))
    # file 3 without 'c'; file 5 in another time zone; file 4 with an infinite value
    short = folder / "short"
    short.mkdir()
    zoned = folder / "zoned"
    zoned.mkdir()
    infinite = folder / "infinite"
    infinite.mkdir()
    for i, path in enumerate(paths):
        frame = pd.read_parquet(path)
        frame.drop(columns=["c"] if i == 3 else []).to_parquet(short / path.name)
        if i == 5:
            frame = frame.assign(t=frame["t"].dt.tz_convert("Europe/Berlin"))
        frame.to_parquet(zoned / path.name)
        pd.read_parquet(path).assign(x=np.inf if i == 4 else 0.0).to_parquet(infinite / path.name)
    failing = ddf.map_partitions(_raise_in_partition_two)
    return {
        "missing column": (SchemaError, lambda: pdask.profile(short, progress=False)),
        "missing column, lazy": (
            SchemaError,
            lambda: pdask.transform(fitted, dd.read_parquet(short)).compute(),
        ),
        "null in a worker": (
            SchemaError,
            lambda: pdask.fit_pipeline(no_impute, ddf, progress=False),
        ),
        "time zones": (SchemaError, lambda: pdask.fit_pipeline(_pipe(), zoned, progress=False)),
        "infinite value": (DriftError, lambda: pdask.profile(infinite, progress=False)),
        "user's code": (PartitionError, lambda: pdask.profile(failing, progress=False)),
        "user's code, lazy": (
            PartitionError,
            lambda: pdask.transform(fitted, failing).compute(),
        ),
    }


def _identity(err: BaseException) -> tuple[Any, ...]:
    return (
        type(err),
        str(err),
        [(p.column, p.kind, p.message, p.row) for p in getattr(err, "problems", [])],
        getattr(err, "partition", None),
        getattr(err, "files", None),
        type(err.__cause__),
    )


def test_errors_from_worker_processes_are_the_local_ones(processes: Any, tmp_path: Path) -> None:
    for name, (kind, call) in _failures(tmp_path).items():
        with pytest.raises(kind) as remote:
            _on(processes, call)
        with pytest.raises(kind) as local:
            _sync(call)
        assert type(remote.value) is kind, name  # the class itself, not a wrapper
        assert _identity(remote.value) == _identity(local.value), name
        text = str(remote.value)
        assert "Traceback" not in text, name
        assert "partition" in text, name  # where it happened, in the message itself
