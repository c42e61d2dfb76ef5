"""Window metrics against scikit-learn on the same inputs, to 1e-12."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm

from prodml.monitoring import metrics as m

scores = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=200)


@st.composite
def binary_windows(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    s = np.array(draw(scores))
    # Round some scores so ties (the hard case for AUC) occur often.
    if draw(st.booleans()):
        s = np.round(s, 1)
    y = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=s.size, max_size=s.size)))
    return y, s


@given(binary_windows())
def test_binary_metrics_match_sklearn(window: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = window
    pred = (s >= 0.5).astype(float)
    assert m.accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert m.log_loss(y, s) == pytest.approx(skm.log_loss(y, s, labels=[0, 1]), abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on zero division; we return nan
        sk_p = skm.precision_score(y, pred, zero_division=np.nan)
        sk_r = skm.recall_score(y, pred, zero_division=np.nan)
    for ours, theirs in [(m.precision(y, pred), sk_p), (m.recall(y, pred), sk_r)]:
        if math.isnan(theirs):
            assert math.isnan(ours)
        else:
            assert ours == pytest.approx(theirs, abs=1e-12)
    if len(set(y)) == 2:
        assert m.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    else:
        assert math.isnan(m.roc_auc(y, s))


@given(
    st.lists(
        st.tuples(st.floats(-1e6, 1e6, allow_nan=False), st.floats(-1e6, 1e6, allow_nan=False)),
        min_size=1,
        max_size=200,
    )
)
def test_regression_metrics_match_sklearn(pairs: list[tuple[float, float]]) -> None:
    y, p = np.array(pairs).T
    assert m.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12, abs=1e-12)
    sk_rmse = skm.root_mean_squared_error(y, p)
    assert m.rmse(y, p) == pytest.approx(sk_rmse, rel=1e-12, abs=1e-12)


def test_golden_values_on_a_seeded_window() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 1000).astype(float)
    s = np.clip(0.3 * y + rng.uniform(0, 0.7, 1000), 0, 1)
    assert m.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m.log_loss(y, s) == pytest.approx(skm.log_loss(y, s), abs=1e-12)


def test_empty_and_degenerate_windows_are_nan() -> None:
    empty = np.array([], dtype=float)
    for f in (m.accuracy, m.mae, m.rmse, m.log_loss, m.roc_auc, m.precision, m.recall):
        assert math.isnan(f(empty, empty))
    ones = np.ones(5)
    assert math.isnan(m.roc_auc(ones, np.linspace(0, 1, 5)))  # one class only
    assert math.isnan(m.precision(ones, np.zeros(5)))  # no positive prediction
    assert m.recall(ones, np.zeros(5)) == 0.0


def test_log_loss_is_finite_on_confident_mistakes() -> None:
    y = np.array([1.0, 0.0])
    s = np.array([0.0, 1.0])
    assert math.isfinite(m.log_loss(y, s))
    assert m.log_loss(y, s) == pytest.approx(skm.log_loss(y, s, labels=[0, 1]), abs=1e-12)


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["a", "b", "c", "e"])),
        min_size=1,
        max_size=100,
    )
)
def test_macro_precision_recall_match_sklearn(pairs: list[tuple[str, str]]) -> None:
    y, p = (np.array(c, dtype=object) for c in zip(*pairs, strict=True))
    labels = sorted(set(y) | set(p))
    sk_p = skm.precision_score(y, p, labels=labels, average="macro", zero_division=0)
    sk_r = skm.recall_score(y, p, labels=labels, average="macro", zero_division=0)
    assert m.macro_precision(y, p) == pytest.approx(sk_p, abs=1e-12)
    assert m.macro_recall(y, p) == pytest.approx(sk_r, abs=1e-12)
    assert math.isnan(m.macro_precision(np.array([]), np.array([])))
