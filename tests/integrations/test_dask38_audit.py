"""An independent audit of prodml.integrations.dask: the in-memory answer on any partitioning.

The same pandas frame (nullable ``Int64``, tz-aware timestamps, pandas 3 ``str``,
categoricals, NaN) is cut at random boundaries (hypothesis: empty and one-row partitions,
known and unknown divisions), and every function is compared with its in-memory
counterpart on the same rows: ``==`` where the in-memory path is exact, a tight relative
tolerance where the result is a float sum whose rounding depends on the split (weighted
group metrics, a model's predictions on batches of other sizes).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="needs the 'dask' extra")
pytest.importorskip("distributed", reason="needs the 'dask' extra")


import dask
import dask.dataframe as dd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.drift import DriftDetector, Profile
from prodml.fairness import GroupMetrics
from prodml.features import FeaturePipeline, steps
from prodml.integrations import dask as pdask

N = 240


def _table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    c = rng.choice(["a", "b", "c"], n).astype(object)
    c[rng.random(n) < 0.1] = None
    i = pd.array(rng.integers(0, 50, n), dtype="Int64")
    i[rng.random(n) < 0.1] = pd.NA
    t = pd.Timestamp("2024-03-30", tz="Europe/Berlin") + pd.to_timedelta(
        rng.integers(0, 10**6, n), "s"
    )  # crosses the change to summer time
    tn = pd.Series(t).mask(rng.random(n) < 0.1)
    return pd.DataFrame(
        {
            "x": x,
            "c": pd.Series(c, dtype="str"),
            "k": pd.Categorical(rng.choice(["u", "v", "w"], n), categories=["w", "v", "u"]),
            "i": i,
            "t": t,
            "tn": tn,
            "y": rng.integers(0, 2, n),
            "p": rng.integers(0, 2, n),
            "s": rng.random(n),
            "g": rng.choice(["F", "M", "X"], n, p=[0.5, 0.45, 0.05]),
            "w": rng.random(n) * 3.0,
        }
    )


DF = _table(N, seed=38)


def _pipe() -> FeaturePipeline:
    return FeaturePipeline(
        [
            steps.Impute(["x"], strategy="mean"),
            steps.StandardScale(["x"]),
            steps.Impute(["i"], strategy="median"),
            steps.RobustScale(["i"]),
            steps.Impute(["c"], strategy="most_frequent"),
            steps.OneHot(["c", "k"], handle_unknown="ignore"),
            steps.DateParts(["t"]),
        ]
    )


def _parts(parts: list[pd.DataFrame]) -> Any:
    """A Dask DataFrame of exactly these partitions (``from_delayed``: unknown divisions)."""
    return dd.from_delayed(
        [dask.delayed(p) for p in parts], meta=parts[0].iloc[:0], verify_meta=False
    )


def _cut(df: pd.DataFrame, cuts: list[int]) -> list[pd.DataFrame]:
    bounds = [0, *sorted(cuts), len(df)]
    return [df.iloc[a:b] for a, b in itertools.pairwise(bounds)]


def _split(df: pd.DataFrame, cuts: list[int], known: bool) -> Any:
    """``df`` cut at ``cuts``: known divisions by ``repartition``, else ``from_delayed``
    (repeated cuts give empty partitions, adjacent ones one-row partitions)."""
    if not known:
        return _parts(_cut(df, cuts))
    inner = sorted({c for c in cuts if 0 < c < len(df)})
    return dd.from_pandas(df, npartitions=1).repartition(divisions=[0, *inner, len(df) - 1])


def _weighted_close(got: GroupMetrics, expected: GroupMetrics) -> None:
    """Counts equal; weight sums equal to rounding (float sums split at other places)."""
    assert got.groups == expected.groups
    assert got.counts() == expected.counts()
    assert got.dropped == expected.dropped
    mine, theirs = got.weights(), expected.weights()
    for key, sums in theirs.items():
        np.testing.assert_allclose(mine[key], sums, rtol=1e-12, atol=0)


def _predictor(df: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    from prodml.serving import Predictor

    cols = ["x", "c", "k", "i", "t"]
    pipe = _pipe().fit(df[cols])
    return Predictor(pipe, LogisticRegression().fit(pipe.transform(df[cols]), df["y"]))


PREDICTOR = _predictor(DF)
REFERENCE = DriftDetector().fit(_table(N, seed=1).drop(columns=["tn"]))


def _same_as_in_memory(ddf: Any, full: pd.DataFrame) -> None:
    local = _pipe().fit(full)
    remote = pdask.fit_pipeline(_pipe(), ddf, progress=False)
    assert remote.to_dict() == local.to_dict()
    expected_x = local.transform(full)
    assert np.array_equal(pdask.transform(remote, ddf).compute(), expected_x)
    frame = pdask.transform(remote, ddf, output="frame").compute()
    assert frame.index.equals(full.index)
    assert np.array_equal(frame.to_numpy(), expected_x)
    assert pdask.profile(ddf, progress=False) == Profile().update(full)
    no_tn = ddf.drop(columns=["tn"])
    got = pdask.detect(REFERENCE, no_tn).to_dict()
    assert got == REFERENCE.detect(full.drop(columns=["tn"])).to_dict()
    gm = pdask.group_metrics(GroupMetrics(["g", "k"], min_count=1), ddf, y_true="y", y_pred="p")
    assert gm == GroupMetrics(["g", "k"], min_count=1).update(full["y"], full["p"], full)
    scored = GroupMetrics(["g"], min_count=1, threshold=0.5)
    expected = scored.clone().update(full["y"], full["s"], full)
    assert pdask.group_metrics(scored, ddf, y_true="y", y_pred="s") == expected
    weighted = GroupMetrics(["g"], min_count=1, weighted=True)
    got_w = pdask.group_metrics(weighted.clone(), ddf, y_true="y", y_pred="p", sample_weight="w")
    _weighted_close(got_w, weighted.update(full["y"], full["p"], full, sample_weight=full["w"]))
    out = pdask.score(PREDICTOR, ddf, keep_columns=["g"]).compute()
    assert out.index.equals(full.index)
    assert out["g"].tolist() == full["g"].tolist()
    np.testing.assert_allclose(
        out["prediction"].to_numpy(), PREDICTOR.predict_batch(full), rtol=1e-12, atol=1e-15
    )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cuts=st.lists(st.integers(0, N), max_size=7), known=st.booleans())
def test_any_partition_boundaries_give_the_in_memory_answer(cuts: list[int], known: bool) -> None:
    with dask.config.set(scheduler="sync"):
        _same_as_in_memory(_split(DF, cuts, known), DF)


LAYOUTS = {
    "empty first and last": lambda df: [df.iloc[:0], df.iloc[:120], df.iloc[120:], df.iloc[:0]],
    "one row each": lambda df: [df.iloc[[j]] for j in range(len(df))],
    "Int64 all NA in one": lambda df: [df.iloc[:80].assign(i=pd.NA).astype({"i": "Int64"}), df],
    "timestamps all NaT in one": lambda df: [
        df.iloc[:80].assign(tn=pd.Series(pd.NaT, index=df.index[:80], dtype=df["tn"].dtype)),
        df.iloc[80:],
    ],
    "str all null in one": lambda df: [
        df.iloc[:80].assign(c=pd.Series(np.nan, index=df.index[:80], dtype="str")),
        df.iloc[80:],
    ],
    "a category missing from one": lambda df: [
        df[df["k"] != "u"],
        df[df["k"] == "u"].assign(k=lambda d: d["k"].cat.remove_unused_categories()),
    ],
    "a group missing from one": lambda df: [df[df["g"] != "X"], df[df["g"] == "X"]],
}


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_messy_partitions_give_the_in_memory_answer(scheduler: str, layout: str) -> None:
    small = DF.iloc[:40] if layout == "one row each" else DF
    parts = LAYOUTS[layout](small)
    # the rows the partitions hold, as pandas concatenates them (categories that differ
    # between partitions make a text column, as Schema.infer over the partitions does)
    full = pd.concat(parts)
    with dask.config.set(scheduler=scheduler, num_workers=4):
        _same_as_in_memory(_parts(parts), full)


def test_weighted_group_rates_agree_with_fairlearn() -> None:
    fairlearn = pytest.importorskip("fairlearn.metrics", reason="needs the 'fairness' extra")
    ddf = _split(DF, [17, 17, 18, 150], known=False)
    with dask.config.set(scheduler="sync"):
        gm = pdask.group_metrics(
            GroupMetrics(["g"], min_count=1, weighted=True),
            ddf,
            y_true="y",
            y_pred="p",
            sample_weight="w",
        )
    rows = gm.report().to_dict()["groups"]
    for metric, func in (
        ("selection_rate", fairlearn.selection_rate),
        ("tpr", fairlearn.true_positive_rate),
    ):
        frame = fairlearn.MetricFrame(
            metrics=func,
            y_true=DF["y"],
            y_pred=DF["p"],
            sensitive_features=DF["g"],
            sample_params={"sample_weight": DF["w"].to_numpy()},
        )
        got = {r["g"]: r["value"] for r in rows if r["metric"] == metric}
        assert set(got) == set(frame.by_group.index)
        for group, value in frame.by_group.items():
            assert got[group] == pytest.approx(value, rel=1e-12, abs=0)


def _files(folder: Path) -> pd.DataFrame:
    """Parquet files as pandas 3 writes them, each messy its own way; their rows in order."""
    folder.mkdir()
    pieces = _cut(DF, [60, 60, 61, 150])  # an empty file, a one-row file
    pieces[3] = pieces[3].assign(x=np.nan, i=pd.NA).astype({"i": "Int64"})  # all null here
    last = pieces[4]
    pieces[4] = last.assign(k=last["k"].astype(str).astype("category"))  # other categories
    for j, piece in enumerate(pieces):
        piece.to_parquet(folder / f"part-{j}.parquet")
    return pd.concat([pd.read_parquet(folder / f"part-{j}.parquet") for j in range(len(pieces))])


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_a_parquet_dataset_of_several_files(scheduler: str, tmp_path: Path) -> None:
    full = _files(tmp_path / "data")
    ddf = dd.read_parquet(tmp_path / "data")
    assert ddf.npartitions == 5
    text = ddf["c"].dtype  # Arrow-backed text (Dask: NA-valued, pandas' own read: NaN)
    assert isinstance(text, pd.StringDtype)
    assert text.storage == "pyarrow"
    with dask.config.set(scheduler=scheduler, num_workers=4):
        _same_as_in_memory(ddf, full)


def test_worker_processes_give_the_in_memory_answer(processes: Any, tmp_path: Path) -> None:
    full = _files(tmp_path / "data")
    with dask.config.set(scheduler=processes.get):
        _same_as_in_memory(dd.read_parquet(tmp_path / "data"), full)
