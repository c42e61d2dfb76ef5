"""The pipeline's output-to-input map, on hypothesis-generated pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps


@st.composite
def number_chain(draw: Any, col: str) -> list[Any]:
    chain: list[Any] = [steps.Impute([col], strategy=draw(st.sampled_from(["mean", "median"])))]
    middle = draw(st.sampled_from(["none", "standard", "minmax", "robust", "clip_log"]))
    if middle == "standard":
        chain.append(steps.StandardScale([col]))
    elif middle == "minmax":
        chain.append(steps.MinMaxScale([col]))
    elif middle == "robust":
        chain.append(steps.RobustScale([col]))
    elif middle == "clip_log":
        chain += [steps.Clip([col], lower=0.0), steps.Log1p([col])]
    end = draw(st.sampled_from(["none", "ordinal", "onehot"]))
    if end != "none":
        chain.append(steps.Bucketize([col], n_bins=draw(st.integers(2, 5)), encode=end))
    return chain


@st.composite
def text_chain(draw: Any, col: str) -> list[Any]:
    enc = draw(st.sampled_from(["onehot", "onehot_cap", "ordinal", "hashing"]))
    last: Any
    if enc == "onehot":
        last = steps.OneHot([col])
    elif enc == "onehot_cap":
        last = steps.OneHot([col], max_categories=3, handle_unknown="infrequent")
    elif enc == "ordinal":
        last = steps.Ordinal([col], handle_unknown="use_value")
    else:
        last = steps.Hashing([col], n_features=draw(st.integers(1, 6)))
    return [steps.Impute([col], strategy="most_frequent"), last]


@st.composite
def pipelines(draw: Any) -> tuple[FeaturePipeline, list[str]]:
    chains = [
        draw(number_chain("x")),
        draw(number_chain("y")),
        draw(text_chain("s")),
        draw(text_chain("k")),
        [steps.DateParts(["t"], parts=draw(st.sampled_from([["hour"], ["month", "day"]])))],
    ]
    used = draw(st.lists(st.integers(0, 4), min_size=1, max_size=5, unique=True))
    flat = [s for j in used for s in chains[j]]
    return FeaturePipeline(flat), [["x", "y", "s", "k", "t"][j] for j in used]


def _frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "y": rng.exponential(size=n),
            "s": rng.choice(["a", "b", "c", "d", "e"], n),
            "k": rng.choice(["p", "q"], n),
            "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 9000, n), unit="h"),
        }
    )


@settings(max_examples=40, deadline=None)
@given(pipelines(), st.integers(0, 2**16), st.integers(0, 30))
def test_every_output_maps_to_the_one_column_that_moves_it(
    built: tuple[FeaturePipeline, list[str]], seed: int, row: int
) -> None:
    pipe, used = built
    df = _frame(seed, 31)
    try:
        pipe.fit(df)
    except SchemaError:
        assume(False)
    groups = pipe.output_groups()
    width = len(pipe.feature_names_out)
    # Columns in order of first appearance; every output listed exactly once.
    assert list(groups) == used
    assert sorted(j for idx in groups.values() for j in idx) == list(range(width))
    assert pipe.feature_sources_out == [
        (next(c for c, idx in groups.items() if j in idx),) for j in range(width)
    ]
    # Changing one raw column of a record moves only the outputs mapped to it.
    recs = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]
    base = recs[row]
    other = recs[(row + 7) % len(recs)]
    x0 = pipe.transform_record(base)
    for col, idx in groups.items():
        x1 = pipe.transform_record({**base, col: other[col]})
        moved = np.flatnonzero(x0 != x1)
        assert set(moved.tolist()) <= set(idx), (col, moved, idx)


def test_names_follow_the_map() -> None:
    df = _frame(0, 50)
    pipe = FeaturePipeline(
        [
            steps.Impute(["x"]),
            steps.Bucketize(["x"], n_bins=3, encode="onehot"),
            steps.Hashing(["s"], n_features=3),
            steps.DateParts(["t"], parts=["month", "hour"]),
            steps.Impute(["y"]),
        ]
    ).fit(df)
    assert pipe.output_groups() == {"x": [0, 1, 2], "s": [3, 4, 5], "t": [6, 7], "y": [8]}
    assert [s[0] for s in pipe.feature_sources_out] == ["x"] * 3 + ["s"] * 3 + ["t"] * 2 + ["y"]
    assert steps.Log1p(["y"]).sources_out("y") == [("y",)]


@settings(max_examples=15, deadline=None)
@given(pipelines(), st.integers(0, 2**16), st.sampled_from(["tree", "linear"]))
def test_explainer_on_random_pipelines_is_additive_and_record_equals_batch(
    built: tuple[FeaturePipeline, list[str]], seed: int, kind: str
) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.tree import DecisionTreeRegressor

    from prodml.explain import Explainer

    pipe, used = built
    df = _frame(seed, 40)
    try:
        pipe.fit(df)
    except SchemaError:
        assume(False)
    X = pipe.transform(df)
    y = np.random.default_rng(seed).normal(size=len(df)) + X.sum(axis=1)
    model = DecisionTreeRegressor(max_depth=4, random_state=0) if kind == "tree" else Ridge()
    ex = Explainer(pipe, model.fit(X, y), background=df).fit()
    batch = ex.explain_batch(df)
    assert batch.columns == used
    np.testing.assert_allclose(batch.prediction, model.predict(X), rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        batch.base + batch.values.sum(axis=1), batch.prediction, rtol=0, atol=1e-9
    )
    recs = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in df.to_dict("records")
    ]
    for i, rec in enumerate(recs):
        e = ex.explain_record(rec)
        assert np.array(list(e.values.values())).tobytes() == batch.values[i].tobytes()
        assert e.prediction == batch.prediction[i]
