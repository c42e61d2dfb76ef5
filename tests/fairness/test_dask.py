"""GroupMetrics over Dask partitions and Parquet files equals one pass, exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodml.errors import SchemaError
from prodml.fairness import GroupMetrics

dd = pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
pdask = pytest.importorskip("prodml.integrations.dask")


def frame(n: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["F", "M", None], dtype=object), n, p=[0.45, 0.45, 0.1])
    return pd.DataFrame(
        {
            "y": rng.integers(0, 2, n),
            "score": rng.random(n),
            "sex": pd.array(sex, dtype="str"),
            "age": rng.choice(["18-30", "31-50", "51+"], n),
        }
    )


def settings() -> GroupMetrics:
    return GroupMetrics(["sex", "age"], ["tpr", "auc"], threshold=0.4, bins=20, missing="drop")


@pytest.mark.parametrize("npartitions", [1, 7])
def test_partitions_merge_to_the_single_pass(npartitions: int) -> None:
    df = frame()
    expected = settings().update(df["y"], df["score"], df)
    got = pdask.group_metrics(
        settings(), dd.from_pandas(df, npartitions=npartitions), y_true="y", y_pred="score",
        split_every=3,
    )  # fmt: skip
    assert got == expected
    assert got.dropped == expected.dropped
    assert got.dropped["sex"] > 0


def test_parquet_files_and_errors(tmp_path: Path) -> None:
    df = frame(2000, seed=1)
    paths = []
    for i, start in enumerate(range(0, len(df), 700)):
        paths.append(tmp_path / f"part{i}.parquet")
        df.iloc[start : start + 700].to_parquet(paths[-1])
    got = pdask.group_metrics(settings(), [str(p) for p in paths], y_true="y", y_pred="score")
    assert got == settings().update(df["y"], df["score"], df)
    with pytest.raises(SchemaError, match=r"'income'.*missing"):
        pdask.group_metrics(GroupMetrics(["income"]), df, y_true="y", y_pred="score")
    bad = df.assign(y=df["y"].where(df.index != 1500, 3))
    gm = settings()
    with pytest.raises(SchemaError, match=r"y_true.*0 or 1"):
        pdask.group_metrics(gm, dd.from_pandas(bad, npartitions=4), y_true="y", y_pred="score")
    assert gm.count == 0


def test_weights_over_partitions_equal_the_single_pass() -> None:
    # Integer weights: their sums are exact, so any partitioning gives the same bits.
    df = frame(2000, seed=3).assign(w=lambda d: np.arange(len(d)) % 4)
    gm = GroupMetrics(["sex"], ["tpr", "fpr"], threshold=0.4, missing="drop", weighted=True)
    expected = gm.clone().update(df["y"], df["score"], df, sample_weight=df["w"])
    got = pdask.group_metrics(
        gm.clone(), dd.from_pandas(df, npartitions=5), y_true="y", y_pred="score", sample_weight="w"
    )
    assert got == expected
    assert got.weights() == expected.weights()
    assert sum(sum(v) for v in got.weights().values()) == df["w"][df["sex"].notna()].sum()
    unweighted = gm.clone().update(df["y"], df["score"], df)
    assert got != unweighted


def test_weights_need_a_weighted_group_metrics() -> None:
    from prodml.errors import ConfigError

    df = frame(100).assign(w=1.0)
    with pytest.raises(ConfigError, match="weighted=True") as err:
        pdask.group_metrics(
            GroupMetrics(["sex"]), dd.from_pandas(df, 2), y_true="y", y_pred="score",
            sample_weight="w",
        )  # fmt: skip
    assert err.value.parameter == "sample_weight"
    with pytest.raises(SchemaError, match="missing"):
        pdask.group_metrics(
            GroupMetrics(["sex"], weighted=True), dd.from_pandas(df, 2), y_true="y",
            y_pred="score", sample_weight="weight",
        )  # fmt: skip
