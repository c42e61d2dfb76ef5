"""What a type-checked user of prodml.integrations.dask sees (run by tests/test_typing_user.py).

Dask's own annotations are partial: ``dd.from_pandas`` and ``compute`` are untyped (their
results are ``Any``), but ``dd.DataFrame`` and ``da.Array`` are classes a user can name, so
prodml's lazy results are typed with them (``transform`` by its ``output``).
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from typing import Literal

import dask.array as da
import dask.config
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.linear_model import LogisticRegression
from typing_extensions import assert_type

import prodml.integrations.dask as pdask
from prodml.drift import DriftDetector, DriftReport, Profile
from prodml.fairness import GroupMetrics
from prodml.features import FeaturePipeline, steps
from prodml.serving import Predictor
from prodml.store import Entity, FeatureStore, FeatureView


def table(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame: pd.DataFrame = pd.DataFrame(
        {"amount": rng.normal(shift, 1.0, n), "country": rng.choice(["de", "fr"], n)}
    )
    return frame


def lazy_results(
    pipe: FeaturePipeline, train: dd.DataFrame, kind: Literal["array", "frame"]
) -> None:
    x = pdask.transform(pipe, train)
    assert_type(x, da.Array)
    assert isinstance(x, da.Array)
    assert x.compute().shape == (2_000, 3)
    frame = pdask.transform(pipe, train, output="frame")
    assert_type(frame, dd.DataFrame)
    assert isinstance(frame, dd.DataFrame)
    assert list(frame.columns) == pipe.feature_names_out
    either = pdask.transform(pipe, train, output=kind)
    assert_type(either, "da.Array | dd.DataFrame")
    assert isinstance(either, dd.DataFrame if kind == "frame" else da.Array)
    # a pandas frame or Parquet paths are read as a Dask DataFrame: the result is lazy too
    assert_type(pdask.transform(pipe, table(10), output="frame"), dd.DataFrame)


def scoring(pipe: FeaturePipeline, train: dd.DataFrame) -> None:
    labels = (table(2_000)["amount"] > 0).astype(int)
    model = LogisticRegression().fit(pipe.transform(table(2_000)), labels)
    scored = pdask.score(Predictor(pipe, model), train, keep_columns=["country"])
    assert_type(scored, dd.DataFrame)
    assert list(scored.columns) == ["country", "prediction"]
    assert scored.compute()["prediction"].between(0.0, 1.0).all()  # probabilities
    outcomes = pd.DataFrame({"y": [1, 0, 1, 1], "p": [1, 0, 0, 1], "country": list("ddff")})
    gm = pdask.group_metrics(
        GroupMetrics(["country"], min_count=1),
        dd.from_pandas(outcomes, npartitions=2),
        y_true="y",
        y_pred="p",
    )
    assert_type(gm, GroupMetrics)
    assert gm == GroupMetrics(["country"], min_count=1).update(
        outcomes["y"], outcomes["p"], outcomes
    )


def training_set() -> None:
    store = FeatureStore.local(tempfile.mkdtemp())
    day = datetime(2024, 1, 2, tzinfo=timezone.utc)
    rows = pa.table({"user_id": [1, 2], "at": [day, day], "spend": [5.0, 7.0]})
    src = store.offline_store.write_source("spend", rows, timestamp="at")
    user = Entity("user", keys=["user_id"])
    store.apply([user, FeatureView("s", entity=user, source=src, features=["spend"])])
    entities = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [day, day]})
    out = pdask.historical(store, entities, ["s:spend"])
    assert_type(out, dd.DataFrame)
    assert "spend" in out.columns
    store.close()


def main() -> None:
    with dask.config.set(scheduler="synchronous"):  # no threads left behind
        train: dd.DataFrame = dd.from_pandas(table(2_000), npartitions=4)
        pipe = FeaturePipeline([steps.StandardScale(["amount"]), steps.OneHot(["country"])])
        fitted = pdask.fit_pipeline(pipe, train)
        assert_type(fitted, FeaturePipeline)
        assert fitted is pipe
        lazy_results(pipe, train, "frame")
        scoring(pipe, train)
        training_set()

        detector = pdask.fit_detector(DriftDetector(), train)
        assert_type(detector, DriftDetector)
        serving = dd.from_pandas(table(1_000, shift=0.5, seed=1), npartitions=2)
        report = pdask.detect(detector, serving)
        assert_type(report, DriftReport)
        assert report.drifted_columns == ["amount"]
        prof = pdask.profile(serving)
        assert_type(prof, Profile)
        assert prof.n_rows == 1_000


if __name__ == "__main__":
    main()
