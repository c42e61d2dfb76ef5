"""Independent audit: group values equal fairlearn's on the inputs real users pass.

Sensitive features as pandas 3 ``str`` (Arrow-backed) columns with missing values,
categoricals with unused categories, object columns holding None / NaN / empty strings,
floats with NaN, several features at once (intersections), groups of one record or of one
class, and thousands of groups. fairlearn gets the same data with every missing value
spelled ``"<missing>"`` (prodml's label for that group under ``missing="group"``), so the
two group the records identically; a rate whose base is empty must be undefined (``nan``
and "no data"), never fairlearn's 0.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.fairness import GroupMetrics

fairlearn = pytest.importorskip(
    "fairlearn.metrics", reason="parity tests need fairlearn (test extra)"
)

TOL = 1e-12
RATES = ["selection_rate", "tpr", "fpr", "fnr", "tnr", "precision", "npv", "accuracy"]
KINDS = ["arrow_str", "categorical", "object", "int", "float"]


def _reference_rates(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Each rate straight from its definition; nan where its base is empty."""
    tp = int(((y == 1) & (p == 1)).sum())
    tn = int(((y == 0) & (p == 0)).sum())
    fp = int(((y == 0) & (p == 1)).sum())
    fn = int(((y == 1) & (p == 0)).sum())

    def rate(k: int, n: int) -> float:
        return k / n if n else float("nan")

    return {
        "selection_rate": rate(tp + fp, len(y)),
        "tpr": rate(tp, tp + fn),
        "fpr": rate(fp, fp + tn),
        "fnr": rate(fn, tp + fn),
        "tnr": rate(tn, tn + fp),
        "precision": rate(tp, tp + fp),
        "npv": rate(tn, tn + fn),
        "accuracy": rate(tp + tn, len(y)),
    }


def _column(kind: str, codes: np.ndarray, missing: np.ndarray) -> tuple[Any, np.ndarray]:
    """A sensitive column of ``kind`` and the plain object labels fairlearn gets."""
    words = np.array(["", "a", "b c", "Ä", "d"], dtype=object)  # "" is a real group
    if kind == "arrow_str":
        values = words[codes].astype(object)
        values[missing] = None
        col: Any = pd.Series(values, dtype="str")
    elif kind == "categorical":
        values = words[codes].astype(object)
        values[missing] = None
        # Unused categories (and an order unlike the data's) must not become groups.
        col = pd.Series(pd.Categorical(values, categories=["zz", *words[::-1], "unused"]))
    elif kind == "object":
        values = words[codes].astype(object)
        values[missing] = [None if i % 2 else float("nan") for i in range(int(missing.sum()))]
        col = values
    elif kind == "int":
        col = codes.astype(np.int64) * 7 - 3
        missing[:] = False  # an int column has no missing values
        values = col.astype(object)
    else:
        values = codes.astype(np.float64) / 2
        values[missing] = np.nan
        col = values
        values = values.astype(object)
    labels = np.array(values, dtype=object)
    labels[missing] = "<missing>"
    return col, labels


@st.composite
def audit_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, dict[str, Any], pd.DataFrame]:
    n = draw(st.integers(1, 120))
    k = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = (rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))).astype(np.int64)
    p = (rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))).astype(np.int64)
    groups: dict[str, Any] = {}
    labels: dict[str, np.ndarray] = {}
    for j in range(k):
        kind = draw(st.sampled_from(KINDS))
        levels = draw(st.integers(1, 5))
        # Skewed codes: some groups get one record, or none.
        codes = np.minimum(rng.geometric(0.5, n) - 1, levels - 1)
        missing = rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.3]))
        groups[f"{kind}{j}"], labels[f"{kind}{j}"] = _column(kind, codes, missing)
    return y, p, groups, pd.DataFrame(labels)


@settings(max_examples=60, deadline=None)
@given(case=audit_cases())
def test_every_group_value_equals_its_definition_and_fairlearns_grouping(
    case: tuple[np.ndarray, np.ndarray, dict[str, Any], pd.DataFrame],
) -> None:
    y, p, groups, labels = case
    names = list(groups)
    gm = GroupMetrics(names, [*RATES, "count"], missing="group", min_count=1)
    report = gm.update(y, p, groups).report()
    # The record path (values as iterating the columns yields them) counts the same.
    by_record = GroupMetrics(names, [*RATES, "count"], missing="group", min_count=1)
    columns = {c: list(v) for c, v in groups.items()}
    for i in range(len(y)):
        by_record.update_record(int(y[i]), int(p[i]), {c: columns[c][i] for c in names})
    assert by_record.counts() == gm.counts()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fairlearn.MetricFrame(
            metrics={"count": fairlearn.count},
            y_true=y,
            y_pred=p,
            sensitive_features=labels.map(str),  # fairlearn sorts labels: one type a column
        )
    expected_counts = mf.by_group["count"].dropna()
    expected_counts = expected_counts[expected_counts > 0]
    # The same groups (no unused category, no group lost to a missing value) of the same sizes.
    got = report.by_group["count"]
    assert sorted(got.tolist()) == sorted(expected_counts.astype(int).tolist())
    for key in report.by_group.index:
        key_t = key if isinstance(key, tuple) else (key,)
        mask = np.ones(len(y), dtype=bool)
        for name, v in zip(names, key_t, strict=True):
            mask &= np.array([x == v for x in labels[name]], dtype=bool)
        assert int(mask.sum()) == got.loc[key]
        want = _reference_rates(y[mask], p[mask])
        row = report.by_group.loc[key]
        status = report.status.loc[key]
        for m in RATES:
            if np.isnan(want[m]):
                assert np.isnan(row[m]), (m, key)
                assert status[m] == "no data"
            else:
                assert abs(row[m] - want[m]) <= TOL, (m, key)
                assert status[m] == "ok"
    overall = _reference_rates(y, p)
    for m in RATES:
        if np.isnan(overall[m]):
            assert np.isnan(report.overall[m])
        else:
            assert abs(report.overall[m] - overall[m]) <= TOL


def test_thousands_of_groups_equal_fairlearn() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    region = rng.integers(0, 400, n)
    band = rng.choice(["<25", "25-40", "40-60", "60+", ""], n)
    y = rng.integers(0, 2, n)
    p = (rng.random(n) < 0.3 + 0.002 * region).astype(int)
    sf = pd.DataFrame({"region": region, "band": pd.Series(band, dtype="str")})
    gm = GroupMetrics(
        ["region", "band"], ["selection_rate", "accuracy"], min_count=1, max_groups=5000
    )
    report = gm.update(y, p, sf).report()
    assert len(report.by_group) == 2000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = fairlearn.MetricFrame(
            metrics={"selection_rate": fairlearn.selection_rate, "accuracy": _accuracy},
            y_true=y,
            y_pred=p,
            sensitive_features=sf,
        )
    theirs = mf.by_group.reindex(report.by_group.index)
    for m in ("selection_rate", "accuracy"):
        np.testing.assert_allclose(report.by_group[m], theirs[m], rtol=0, atol=TOL)
        assert abs(report.difference(m).value - mf.difference()[m]) <= TOL
        assert abs(report.ratio(m).value - mf.ratio()[m]) <= TOL
        for method in ("between_groups", "to_overall"):
            assert abs(report.difference(m, method=method).value - mf.difference(method)[m]) <= TOL
    # Marginal groups: summing the intersections over "band" equals grouping by region alone.
    by_region = gm.report(by="region").by_group["selection_rate"]
    direct = pd.Series(p).groupby(region).mean()
    np.testing.assert_allclose(by_region.to_numpy(), direct.to_numpy(), rtol=0, atol=TOL)


def _accuracy(y_true: Any, y_pred: Any) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
