"""XGBoost attributions are exact: equal to a brute-force Shapley enumeration to 1e-9.

shap hands XGBoost models to XGBoost's own ``pred_contribs``, which works in float32, so
the cross-check with shap (tests/test_trees.py) holds to float32 precision only. This test
checks prodml's float64 values against the definition instead: the path-dependent game of
each tree, read from XGBoost's own JSON dump (not through prodml's parser), with every
coalition enumerated.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml.explain import Explainer
from prodml.features import FeaturePipeline, steps

xgb = pytest.importorskip("xgboost", reason="needs xgboost (in the test extra)")

COLUMNS = ["a", "b", "c", "d", "e"]


def _value(node: dict[str, Any], x: np.ndarray, coalition: frozenset[int]) -> float:
    """The tree's expected output with the features in ``coalition`` fixed to ``x``."""
    if "leaf" in node:  # XGBoost stores float32 leaves; the dump prints them in decimal
        return float(np.float32(node["leaf"]))
    feature = int(node["split"][1:])  # trained on a numpy array: names are f0, f1, ...
    kids = {child["nodeid"]: child for child in node["children"]}
    yes, no = kids[node["yes"]], kids[node["no"]]
    if feature in coalition:  # XGBoost goes "yes" when float32(x) < float32(threshold)
        go_yes = np.float32(x[feature]) < np.float32(node["split_condition"])
        return _value(yes if go_yes else no, x, coalition)
    # Each child's share is its cover over its parent's (as TreeSHAP reads a tree; the
    # dump's covers are float32 sums, so the two children's need not add up to it exactly).
    cover = float(np.float32(node["cover"]))
    share_yes, share_no = (float(np.float32(c["cover"])) / cover for c in (yes, no))
    return share_yes * _value(yes, x, coalition) + share_no * _value(no, x, coalition)


def _shapley(trees: list[dict[str, Any]], x: np.ndarray, n: int) -> np.ndarray:
    def game(coalition: frozenset[int]) -> float:
        return math.fsum(_value(t, x, coalition) for t in trees)

    values = {
        frozenset(s): game(frozenset(s))
        for k in range(n + 1)
        for s in itertools.combinations(range(n), k)
    }
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for k in range(n):
            weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for s in itertools.combinations(others, k):
                phi[i] += weight * (values[frozenset((*s, i))] - values[frozenset(s)])
    return phi


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_xgboost_values_equal_the_enumerated_shapley_values(kind: str) -> None:
    rng = np.random.default_rng(7)
    df = pd.DataFrame(rng.normal(size=(400, len(COLUMNS))), columns=COLUMNS)
    signal = df["a"] * df["b"] + np.sin(3 * df["c"]) + 0.5 * (df["d"] > 0.3) - 0.2 * df["e"]
    pipe = FeaturePipeline([steps.StandardScale(COLUMNS)]).fit(df)
    X = np.asarray(pipe.transform(df), dtype=np.float64)
    if kind == "regressor":
        model = xgb.XGBRegressor(n_estimators=12, max_depth=4, random_state=0)
        model.fit(X, signal.to_numpy())
    else:
        model = xgb.XGBClassifier(n_estimators=12, max_depth=4, random_state=0)
        model.fit(X, (signal > signal.median()).to_numpy().astype(int))
    got = Explainer(pipe, model).fit().explain_batch(df.iloc[:25])
    booster = model.get_booster()
    trees = [json.loads(d) for d in booster.get_dump(dump_format="json", with_stats=True)]
    for row in range(25):
        x = X[row]
        expected = _shapley(trees, x, len(COLUMNS))
        np.testing.assert_allclose(got.values[row], expected, rtol=0, atol=1e-9)
        # Efficiency: the values add up to the game's full minus empty coalition, in float64.
        full = math.fsum(_value(t, x, frozenset(range(5))) for t in trees)
        empty = math.fsum(_value(t, x, frozenset()) for t in trees)
        assert got.prediction[row] - got.base == pytest.approx(full - empty, abs=1e-9)
    # The constant (XGBoost's base margin) is read from XGBoost, which predicts in float32.
    margin = booster.predict(xgb.DMatrix(X[:25]), output_margin=True)
    np.testing.assert_allclose(got.prediction, margin, rtol=0, atol=2e-6 * np.abs(margin).max())
