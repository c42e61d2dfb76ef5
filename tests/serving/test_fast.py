"""The compiled one-row path for gradient boosting equals scikit-learn's own, bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)

from prodml.serving import Predictor
from prodml.serving._fast import _kernel, predict_trees

from .conftest import records

pytestmark = pytest.mark.skipif(
    _kernel() is None, reason="needs numba (the 'fast' extra), or PRODML_NO_JIT is set"
)


@pytest.fixture(scope="module")
def gbr(data: pd.DataFrame, pipe: Any) -> GradientBoostingRegressor:
    X = pipe.transform(data.drop(columns=["y"]))
    target = X[:, 0] * 3.0 + np.sin(X[:, 1])
    return GradientBoostingRegressor(n_estimators=40, max_depth=4, random_state=0).fit(X, target)


def _served(pipe: Any, model: Any, output: str = "auto") -> Any:
    pred = Predictor(pipe, model, output=output)
    return pred, pred.variants["default"]


def test_records_score_as_predict_proba_bit_for_bit(pipe: Any, gbc: Any, data: Any) -> None:
    pred, served = _served(pipe, gbc)
    assert served.compiled
    recs = records(data.iloc[:300])
    got = np.array([pred.predict_record(r).value for r in recs])
    X = pipe.transform(data.iloc[:300].drop(columns=["y"]))
    assert got.tobytes() == gbc.predict_proba(X)[:, 1].tobytes()
    own = Predictor(pipe, gbc, compiled=False)
    assert not own.variants["default"].compiled
    assert [own.predict_record(r).value for r in recs[:50]] == got[:50].tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64),
        min_size=1,
        max_size=1,
    ),
    st.integers(0, 2**32 - 1),
)
def test_any_finite_row_equals_the_model(
    gbc: Any, gbr: Any, pipe: Any, scale: Any, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    rows = rng.normal(0.0, 1.0, (20, len(pipe.feature_names_out))) * scale[0]
    rows[:, rng.integers(0, rows.shape[1], 5)] = 0.0  # ties with thresholds stay possible
    for model, output, own in (
        (gbc, "auto", lambda X: gbc.predict_proba(X)[:, 1]),
        (gbc, "decision_function", gbc.decision_function),
        (gbr, "auto", gbr.predict),
    ):
        _, served = _served(pipe, model, output)
        assert served.compiled
        got = np.array([served.score_one(r) for r in rows])
        assert got.tobytes() == np.asarray(own(rows), dtype=np.float64).tobytes()


def test_thresholds_are_compared_in_float32_as_scikit_learn_does(pipe: Any, gbc: Any) -> None:
    _, served = _served(pipe, gbc)
    tree = gbc.estimators_[0, 0].tree_
    feature, threshold = int(tree.feature[0]), float(tree.threshold[0])
    row = np.zeros(len(pipe.feature_names_out))
    for v in (threshold, np.nextafter(threshold, np.inf), np.nextafter(threshold, -np.inf)):
        row[feature] = v
        assert served.score_one(row) == gbc.predict_proba(row[None, :])[0, 1]


def test_rows_scikit_learn_rejects_get_its_own_error(pipe: Any, gbc: Any, data: Any) -> None:
    _, served = _served(pipe, gbc)
    row = np.zeros(len(pipe.feature_names_out))
    for bad in (np.nan, np.inf, 1e300):  # 1e300 is infinite as float32
        row[3] = bad
        with pytest.raises(ValueError, match=r"[Ii]nfinity|NaN"), np.errstate(over="ignore"):
            served.score_one(row)  # numpy warns of the overflow in scikit-learn's cast
    with np.errstate(over="ignore"):  # the kernel as plain Python: numpy's float32 cast
        raw = predict_trees(row, np.zeros(3, np.int64), np.zeros(2), np.zeros(1, np.int64), 0.0)
    assert np.isnan(raw)


def test_unsupported_models_serve_through_their_own_method(pipe: Any, data: Any) -> None:
    X, y = pipe.transform(data.drop(columns=["y"])), data["y"].to_numpy()
    stratified = GradientBoostingClassifier(
        n_estimators=5, init=DummyClassifier(strategy="stratified"), random_state=0
    ).fit(X, y)
    multi = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(
        X, (y + np.arange(len(y))) % 3
    )
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    exponential = GradientBoostingClassifier(n_estimators=5, loss="exponential").fit(X, y)
    for model in (stratified, multi, forest, exponential):
        _, served = _served(pipe, model)
        assert not served.compiled, type(model).__name__
    _, served = _served(pipe, GradientBoostingClassifier(n_estimators=5).fit(X, y), "predict")
    assert not served.compiled  # class labels: the model's own predict


def test_a_compiled_path_that_differs_is_dropped(
    pipe: Any, gbc: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from prodml.serving import _fast

    real = _fast.compiled_scorer

    def off_by_one_ulp(model: Any, output: str, own: Any) -> Any:
        fast = real(model, output, own)
        return lambda x: np.nextafter(fast(x), 2.0)

    monkeypatch.setattr("prodml.serving._served.compiled_scorer", off_by_one_ulp)
    _, served = _served(pipe, gbc)
    assert not served.compiled
    assert "differs from the model's own predictions" in caplog.text
    row = np.zeros(len(pipe.feature_names_out))
    assert served.score_one(row) == gbc.predict_proba(row[None, :])[0, 1]
