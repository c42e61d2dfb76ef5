"""Data, fitted models, registries and live servers for the serving tests.

Servers are real: uvicorn on a free loopback port (``BackgroundServer``), driven over HTTP
with httpx. The serving extra (starlette, uvicorn, httpx) is in the test extra.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from prodml.features import FeaturePipeline, steps
from prodml.registry import ModelRegistry
from prodml.schema import Column, Schema

FLOATS = ["f0", "f1", "f2"]
STRINGS = ["s0", "s1"]


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    """A small F1-like table: floats with NaN, strings with None, a datetime, a label."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for name in FLOATS:
        x = rng.normal(0, 2, n)
        x[rng.random(n) < 0.05] = np.nan
        data[name] = x
    cats = np.array([f"c{k}" for k in range(6)], dtype=object)
    for name in STRINGS:
        col = cats[rng.integers(0, 6, n)].copy()
        col[rng.random(n) < 0.05] = None
        data[name] = col
    start = np.datetime64("2024-01-01T00:00:00", "s").astype("datetime64[ns]")
    data["ts"] = start + rng.integers(0, 365 * 86_400, n).astype("timedelta64[s]")
    f0 = np.nan_to_num(data["f0"])
    data["y"] = (f0 + (data["s0"] == "c1") + rng.normal(0, 1, n) > 0.5).astype(int)
    return pd.DataFrame(data)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as request records: None for missing values, timestamps as pd.Timestamp."""
    frame = df.drop(columns=["y"]).astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def fit_pipeline(df: pd.DataFrame) -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(FLOATS, strategy="median"),
            steps.StandardScale(FLOATS),
            steps.Impute(STRINGS, strategy="most_frequent"),
            steps.OneHot(STRINGS),
            steps.DateParts(["ts"], parts=["hour", "month"]),
        ]
    ).fit(df.drop(columns=["y"]))


SCHEMA = Schema(
    [
        *(Column(f, "float", min=-50, max=50) for f in FLOATS),
        *(Column(s, "string") for s in STRINGS),
        Column("ts", "datetime"),
    ]
)


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    return make_data(600)


@pytest.fixture(scope="session")
def pipe(data: pd.DataFrame) -> FeaturePipeline:
    return fit_pipeline(data)


@pytest.fixture(scope="session")
def lr(data: pd.DataFrame, pipe: FeaturePipeline) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(pipe.transform(data.drop(columns=["y"])), data.y)


@pytest.fixture(scope="session")
def lr2(data: pd.DataFrame, pipe: FeaturePipeline) -> LogisticRegression:
    return LogisticRegression(C=0.01, max_iter=500).fit(
        pipe.transform(data.drop(columns=["y"])), data.y
    )


@pytest.fixture(scope="session")
def gbc(data: pd.DataFrame, pipe: FeaturePipeline) -> GradientBoostingClassifier:
    X = pipe.transform(data.drop(columns=["y"]))
    return GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, data.y)


@pytest.fixture
def registry(tmp_path: Path, pipe: FeaturePipeline, lr: Any, lr2: Any) -> Iterator[ModelRegistry]:
    """A local registry with churn v1 (lr) as production and v2 (lr2) registered."""
    reg = ModelRegistry.local(tmp_path / "registry")
    reg.register("churn", (pipe, lr), signature=SCHEMA)
    reg.register("churn", (pipe, lr2), signature=SCHEMA)
    reg.set_alias("churn", "production", 1)
    yield reg
    reg.close()


class Slow:
    """A model wrapper that blocks in predict_proba while ``gate`` is clear (for drains)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.n_features_in_ = inner.n_features_in_
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def predict(self, X: Any) -> Any:
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        self.entered.set()
        self.gate.wait(10)
        return self.inner.predict_proba(X)


class Broken:
    """A model that answers its load-time check and then raises on a poisoned input."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.n_features_in_ = inner.n_features_in_

    def predict(self, X: Any) -> Any:
        return self.inner.predict(X)

    def predict_proba(self, X: Any) -> Any:
        if (X[:, 0] > 15).any():  # raw f0 = 45 (scaled > 15): the "poisoned" request
            raise RuntimeError("secret internal detail 12345")
        return self.inner.predict_proba(X)
