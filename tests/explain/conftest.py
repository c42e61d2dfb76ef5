"""Shared data for the explain tests: a seeded churn-like table and its pipeline."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml.features import FeaturePipeline, steps


def churn_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": np.where(rng.random(n) < 0.05, np.nan, rng.uniform(18, 80, n)),
            "income": rng.lognormal(3.0, 1.0, n),
            "plan": rng.choice(["basic", "pro", "team", "free", "edu"], n),
            "city": rng.choice([f"c{i}" for i in range(30)], n),
            "tenure": rng.integers(0, 120, n).astype(float),
            "signup_at": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 700 * 24, n), unit="h"),
        }
    )


def churn_target(df: pd.DataFrame, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    age = df["age"].fillna(40.0).to_numpy()
    logit = (
        0.04 * (age - 45)
        - 0.6 * (df["plan"] == "pro").to_numpy()
        + 0.8 * (df["plan"] == "free").to_numpy()
        - 0.02 * df["tenure"].to_numpy()
        + 0.3 * np.log1p(df["income"].to_numpy())
        + 0.1 * (df["signup_at"].dt.month.to_numpy() > 6)
    )
    return (rng.random(len(df)) < 1 / (1 + np.exp(-logit))).astype(int)


def churn_pipeline() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["age"], strategy="median"),
            steps.StandardScale(["age"]),
            steps.Log1p(["income"]),
            steps.OneHot(["plan"]),
            steps.Hashing(["city"], n_features=8),
            steps.Bucketize(["tenure"], n_bins=4, encode="onehot"),
            steps.DateParts(["signup_at"], parts=["month", "dayofweek", "hour"]),
        ]
    )


@pytest.fixture(scope="module")
def churn() -> tuple[pd.DataFrame, np.ndarray, FeaturePipeline]:
    df = churn_frame(800)
    return df, churn_target(df), churn_pipeline().fit(df)


def records(df: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        for rec in df.to_dict("records")
    ]


def shap_grouped(values: np.ndarray, pipe: FeaturePipeline) -> np.ndarray:
    """shap's per-feature values summed over each raw column's outputs (the hand grouping)."""
    return np.column_stack([values[:, idx].sum(axis=1) for idx in pipe.output_groups().values()])


def legacy_state(ex: Any) -> dict[str, Any]:
    """``ex``'s state as prodml wrote it before format 5 (a JSON list per tree and field).

    Format 1 (2 with zero_as_missing, 4 interventional): the layout the fingerprint
    hashes, and the one the format-1 to 4 loaders read.
    """
    return json.loads(json.dumps(ex._state_dict(savable=True, packed=False)))
