"""The model-agnostic fallback: seeded permutation sampling with a stated error."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from prodml.errors import ConfigError
from prodml.explain import Explainer
from prodml.features import FeaturePipeline, steps

from .conftest import records


def _small() -> tuple[pd.DataFrame, np.ndarray, FeaturePipeline]:
    rng = np.random.default_rng(3)
    n = 300
    df = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "plan": rng.choice(["x", "y", "z"], n),
            "c": rng.uniform(0, 3, n),
        }
    )
    y = df["a"] * df["b"] + (df["plan"] == "y") * df["c"] + np.sin(3 * df["c"])
    pipe = FeaturePipeline([steps.StandardScale(["a", "b", "c"]), steps.OneHot(["plan"])])
    return df, y.to_numpy(), pipe.fit(df)


def _exact_group_shapley(f, x: np.ndarray, bg: np.ndarray, groups: list[list[int]]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Interventional Shapley values of the column groups, by enumerating all orders."""
    g = len(groups)
    phi = np.zeros(g)
    orders = list(itertools.permutations(range(g)))
    for order in orders:
        z = bg.copy()
        prev = f(z).mean()
        for col in order:
            z[:, groups[col]] = x[groups[col]]
            now = f(z).mean()
            phi[col] += now - prev
            prev = now
    return phi / math.factorial(g)


def test_additive_model_is_exact_and_equals_the_linear_explainer() -> None:
    df, y, pipe = _small()
    model = LinearRegression().fit(pipe.transform(df), y)
    bg = df.iloc[:40]
    sampled = Explainer(
        pipe, model, background=bg, method="sampling", n_permutations=4, n_background=40
    ).fit()
    exact = Explainer(pipe, model, background=bg).fit()
    a, b = sampled.explain_batch(df.iloc[:30]), exact.explain_batch(df.iloc[:30])
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-9)
    assert a.base == pytest.approx(b.base, abs=1e-9)
    assert a.error is not None
    assert float(np.abs(a.error).max()) < 1e-9  # every walk gives the same answer
    assert a.method == "sampling"


def test_estimate_is_within_its_stated_error_of_the_exact_shapley_values() -> None:
    df, y, pipe = _small()
    X = pipe.transform(df)
    model = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(X, y)
    bg = df.iloc[:25]
    groups = list(pipe.output_groups().values())
    Xbg = pipe.transform(bg)
    ex = Explainer(
        pipe, model, background=bg, method="sampling", n_permutations=64, n_background=25
    ).fit()
    batch = ex.explain_batch(df.iloc[100:110])
    assert batch.error is not None
    z_scores = []
    for i in range(10):
        exact = _exact_group_shapley(model.predict, X[100 + i], Xbg, groups)
        z_scores.extend(np.abs(batch.values[i] - exact) / np.maximum(batch.error[i], 1e-12))
        # Additivity holds exactly whatever the sampling error.
        assert batch.base + batch.values[i].sum() == pytest.approx(batch.prediction[i], abs=1e-9)
        assert batch.prediction[i] == pytest.approx(model.predict(X[100 + i : 101 + i])[0])
    # 40 values: about 95% within 2 standard errors; none beyond 5.
    z = np.array(z_scores)
    assert (z <= 2.0).mean() >= 0.8
    assert z.max() < 5.0
    # 64 >= 4! = 24 orders of the 4 columns: each order is walked once, the values are
    # exact and their error 0. Below 24, random orders: more of them, smaller error.
    assert float(np.abs(batch.error).max()) == 0.0
    errors = [
        Explainer(pipe, model, background=bg, method="sampling", n_permutations=k, n_background=25)
        .fit()
        .explain_batch(df.iloc[100:110])
        .error
        for k in (6, 22)
    ]
    assert errors[1].mean() < 0.7 * errors[0].mean()  # type: ignore[union-attr]


def test_seeded_record_equals_batch_and_json_round_trip() -> None:
    df, y, pipe = _small()
    model = KNeighborsClassifier(n_neighbors=7).fit(pipe.transform(df), y > 0)
    ex = Explainer(pipe, model, background=df, method="sampling", n_permutations=8).fit()
    assert ex.scale == "probability"
    batch = ex.explain_batch(df.iloc[:15])
    for i, rec in enumerate(records(df.iloc[:15])):
        e = ex.explain_record(rec)
        assert np.array(list(e.values.values())).tobytes() == batch.values[i].tobytes()
        assert e.prediction == batch.prediction[i]
        assert e.error == batch.row(i).error
    again = Explainer(pipe, model, background=df, method="sampling", n_permutations=8).fit()
    assert again.explain_batch(df.iloc[:15]).values.tobytes() == batch.values.tobytes()
    other = Explainer(pipe, model, background=df, method="sampling", n_permutations=8, seed=1)
    assert other.fit().explain_batch(df.iloc[:15]).values.tobytes() != batch.values.tobytes()
    text = ex.to_json()
    unbound = Explainer.from_json(text)
    assert unbound.base == ex.base
    with pytest.raises(ConfigError, match="call set_model"):
        unbound.explain_record(records(df)[0])
    assert unbound.set_model(model).explain_batch(df.iloc[:15]).values.tobytes() == (
        batch.values.tobytes()
    )
    back = Explainer.from_json(text, model=model)
    assert back.explain_batch(df.iloc[:15]).values.tobytes() == batch.values.tobytes()
    assert back.fingerprint == ex.fingerprint
    regressor = KNeighborsRegressor().fit(pipe.transform(df), y)
    with pytest.raises(ConfigError, match="'probability' outputs"):
        Explainer.from_json(text, model=regressor)
    another = KNeighborsClassifier(n_neighbors=2).fit(pipe.transform(df), y > 0.5)
    with pytest.raises(ConfigError, match="not the model the explainer was fitted on"):
        Explainer.from_json(text).set_model(another)
    exact = Explainer(pipe, LinearRegression().fit(pipe.transform(df), y), background=df).fit()
    with pytest.raises(ConfigError, match="only 'sampling' explainers take a model"):
        exact.set_model(model)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_permutations": 3}, "must be even"),
        ({"n_permutations": 0}, "'n_permutations' parameter"),
        ({"n_background": 0}, "'n_background' parameter"),
        ({"seed": "x"}, "'seed' parameter"),
        ({"background": None}, "needs background"),
        ({"class_index": 5}, "'class_index' parameter"),
    ],
)
def test_sampling_settings_are_checked(kwargs: dict[str, object], message: str) -> None:
    df, y, pipe = _small()
    model = KNeighborsClassifier().fit(pipe.transform(df), y > 0)
    settings: dict[str, object] = {"background": df, "method": "sampling", **kwargs}
    with pytest.raises(ConfigError, match=message):
        Explainer(pipe, model, **settings).fit()  # type: ignore[arg-type]


def test_unsupported_model_error_names_the_fallback() -> None:
    df, y, pipe = _small()
    model = KNeighborsRegressor().fit(pipe.transform(df), y)
    with pytest.raises(ConfigError, match="method='sampling'"):
        Explainer(pipe, model, background=df).fit()
