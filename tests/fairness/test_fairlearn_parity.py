"""The numbers equal fairlearn's on the same data, to 1e-12 (fairlearn is the reference)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.fairness import (
    GroupMetrics,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
)

from .conftest import Case, cases

fairlearn = pytest.importorskip(
    "fairlearn.metrics", reason="parity tests need fairlearn (test extra)"
)
skm = pytest.importorskip("sklearn.metrics")

TOL = 1e-12
METRICS = ["selection_rate", "tpr", "fpr", "fnr", "tnr", "precision", "accuracy", "error_rate"]


def reference(case: Case, **kw: Any) -> Any:
    fl = fairlearn
    functions = {
        "selection_rate": fl.selection_rate,
        "tpr": fl.true_positive_rate,
        "fpr": fl.false_positive_rate,
        "fnr": fl.false_negative_rate,
        "tnr": fl.true_negative_rate,
        "precision": lambda y, p: skm.precision_score(y, p, zero_division=np.nan),
        "accuracy": skm.accuracy_score,
        "error_rate": skm.zero_one_loss,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fl.MetricFrame(
            metrics={m: functions[m] for m in METRICS},
            y_true=case.y_true,
            y_pred=case.y_pred,
            sensitive_features=case.groups,
            **kw,
        )


def quiet(f: Any, *args: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kw)


def assert_close(ours: Any, theirs: Any) -> None:
    """Equal to TOL where ours is defined; where a rate's base is empty (ours: nan),
    fairlearn reports 0 (its confusion-matrix rates) or nan: prodml does not invent a 0."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    assert a.shape == b.shape
    ok = ~np.isnan(a)
    assert not np.isnan(b[ok]).any(), (a, b)
    assert np.all((b[~ok] == 0) | np.isnan(b[~ok])), (a, b)
    assert np.max(np.abs(a[ok] - b[ok]), initial=0.0) <= TOL, (a, b)


@settings(max_examples=20, deadline=None)
@given(case=cases(min_size=2, max_size=200))
def test_metricframe_numbers_are_equal(case: Case) -> None:
    mf = reference(case)
    report = (
        GroupMetrics(case.names, METRICS, min_count=1)
        .update(case.y_true, case.y_pred, case.groups)
        .report()
    )
    # fairlearn lists every combination of the features' values, empty ones as nan rows;
    # prodml lists the groups it has seen.
    theirs = mf.by_group.reindex(report.by_group.index)
    assert mf.by_group.drop(report.by_group.index).isna().all().all()
    assert list(report.by_group.columns) == METRICS
    assert_close(report.by_group[METRICS], theirs[METRICS])
    assert_close(report.overall[METRICS], mf.overall[METRICS])
    if report.by_group.isna().any().any() or len(report.by_group) < 2:
        # fairlearn's gaps then include its zeros for undefined rates, or (one group)
        # are 0 and 1 where prodml says there is no gap to measure (nan)
        return
    for method in ("between_groups", "to_overall"):
        assert_close(report.difference(method=method), quiet(mf.difference, method=method))
        assert_close(report.ratio(method=method), quiet(mf.ratio, method=method))
        expected = quiet(mf.difference, method=method)
        for m in METRICS:
            assert abs(report.difference(m, method=method).value - expected[m]) <= TOL


@settings(max_examples=12, deadline=None)
@given(
    case=cases(min_size=2, max_size=200),
    method=st.sampled_from(["between_groups", "to_overall"]),
    agg=st.sampled_from(["worst_case", "mean"]),
)
def test_disparity_functions_equal_fairlearns(case: Case, method: str, agg: str) -> None:
    y, p, sf = case.y_true, case.y_pred, case.groups
    defined = GroupMetrics(case.names, ["tpr", "fpr"], min_count=1).update(y, p, sf)
    if len(defined.groups) < 2:
        return  # one group: fairlearn says 0 and 1, prodml nan (no gap to measure)
    for ours, theirs in [
        (demographic_parity_difference, fairlearn.demographic_parity_difference),
        (demographic_parity_ratio, fairlearn.demographic_parity_ratio),
    ]:
        expected = quiet(theirs, y, p, sensitive_features=sf, method=method)
        assert_close(ours(y, p, sensitive_features=sf, method=method), expected)
    r = defined.report()
    if r.by_group.isna().any().any() or r.ratio().isna().any():
        # An empty tpr/fpr base (fairlearn counts it as 0, prodml leaves it out), or a
        # 0/0 ratio, which fairlearn's worst case min() turns into nan whatever the other.
        return
    for ours, theirs in [
        (equalized_odds_difference, fairlearn.equalized_odds_difference),
        (equalized_odds_ratio, fairlearn.equalized_odds_ratio),
    ]:
        expected = quiet(theirs, y, p, sensitive_features=sf, method=method, agg=agg)
        assert_close(ours(y, p, sensitive_features=sf, method=method, agg=agg), expected)


def test_unnamed_sensitive_features_get_fairlearns_default_names() -> None:
    y, p = np.array([1, 0, 1, 0]), np.array([1, 1, 0, 0])
    arr = np.array([["a", 1], ["a", 2], ["b", 1], ["b", 2]], dtype=object)
    assert demographic_parity_difference(y, p, sensitive_features=arr) == quiet(
        fairlearn.demographic_parity_difference, y, p, sensitive_features=arr
    )
    s = pd.Series(["a", "a", "b", "b"])
    assert demographic_parity_ratio(y, p, sensitive_features=s) == quiet(
        fairlearn.demographic_parity_ratio, y, p, sensitive_features=s
    )


@settings(max_examples=40, deadline=None)
@given(case=cases(min_size=4, n_features=1))
def test_auc_from_histograms_equals_sklearn_on_binned_scores(case: Case) -> None:
    bins = 10
    rng = np.random.default_rng(len(case.y_true))
    scores = (rng.integers(0, bins, len(case.y_true)) + 0.5) / bins  # one score per bin
    gm = GroupMetrics(case.names, ["auc"], threshold=0.5, bins=bins, min_count=1)
    report = gm.update(case.y_true, scores, case.groups).report()
    col = case.groups[case.names[0]]
    for key, value in report.by_group["auc"].items():
        mask = (col == key).to_numpy()
        if len(set(case.y_true[mask].tolist())) < 2:
            assert np.isnan(value)
            continue
        assert abs(value - skm.roc_auc_score(case.y_true[mask], scores[mask])) <= TOL
    if len(set(case.y_true.tolist())) == 2:
        assert abs(report.overall["auc"] - skm.roc_auc_score(case.y_true, scores)) <= TOL
