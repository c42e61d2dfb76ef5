"""Retraining cadence: closed form vs numeric optimum, decay fits, the retrain trigger."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from prodml.cost import (
    DecayCurve,
    fit_decay,
    optimal_retrain_interval,
    should_retrain,
)
from prodml.errors import ConfigError, SchemaError


@given(
    retrain_cost=st.floats(1.0, 1e6),
    slope=st.floats(1e-5, 1e-1),
    value=st.floats(1.0, 1e5),
)
def test_closed_form_matches_the_numeric_optimiser(retrain_cost, slope, value):
    curve = DecayCurve("linear", initial=0.9, rate=slope)
    closed = optimal_retrain_interval(retrain_cost, decay_rate=slope * value)
    numeric = optimal_retrain_interval(
        retrain_cost, curve=curve, value_per_unit=value, max_interval=1e9
    )
    assert closed.interval == pytest.approx(math.sqrt(2 * retrain_cost / (slope * value)))
    assert numeric.method == "numeric"
    assert not numeric.at_bound
    assert numeric.interval == pytest.approx(closed.interval, rel=1e-9)
    assert numeric.cost_rate == pytest.approx(closed.cost_rate, rel=1e-9)


def test_numeric_optimum_of_an_exponential_curve_beats_a_grid():
    curve = DecayCurve("exponential", initial=0.90, rate=0.05, floor=0.80)
    plan = optimal_retrain_interval(200.0, curve=curve, value_per_unit=1000.0, max_interval=1e4)

    def g(t):
        return (200.0 + 1000.0 * float(curve.cumulative_drop(t))) / t

    grid = np.linspace(0.5, 500, 20_000)
    assert plan.cost_rate <= min(g(t) for t in grid) + 1e-9
    assert plan.cost_rate == pytest.approx(g(plan.interval), rel=1e-12)
    # First-order condition: T l(T) = C_r + L(T).
    lhs = plan.interval * 1000.0 * float(curve.drop(plan.interval))
    assert lhs == pytest.approx(200.0 + 1000.0 * float(curve.cumulative_drop(plan.interval)))


def test_callable_curve_uses_quadrature():
    plan = optimal_retrain_interval(500.0, curve=lambda t: 0.001 * t, value_per_unit=10_000)
    assert plan.interval == pytest.approx(10.0, rel=1e-9)


def test_saturating_decay_can_make_retraining_never_worth_it():
    curve = DecayCurve("exponential", initial=0.9, rate=1.0, floor=0.8999)
    plan = optimal_retrain_interval(1e6, curve=curve, value_per_unit=1.0, max_interval=1e3)
    assert plan.at_bound
    assert plan.interval == pytest.approx(1e3, rel=1e-5)


def test_cumulative_drop_matches_quadrature():
    for curve in (
        DecayCurve("linear", 0.9, 0.002),
        DecayCurve("exponential", 0.9, 0.07, 0.7),
        DecayCurve("exponential", 0.1, 0.07, 0.3, higher_is_better=False),
    ):
        got = float(curve.cumulative_drop(30.0))
        ref = integrate.quad(lambda t, c=curve: float(c.drop(t)), 0, 30.0)[0]
        assert got == pytest.approx(ref, rel=1e-10)
        assert float(curve.drop(0.0)) == 0.0
        assert float(curve.drop(30.0)) > 0.0


def test_linear_fit_is_exact_on_noiseless_data():
    t = np.arange(0, 60, 5.0)
    curve = fit_decay(t, 0.92 - 0.0015 * t, kind="linear")
    assert curve.initial == pytest.approx(0.92)
    assert curve.rate == pytest.approx(0.0015)
    assert curve.rmse == pytest.approx(0.0, abs=1e-12)
    rmse_up = fit_decay(t, 0.3 + 0.002 * t, kind="linear", higher_is_better=False)
    assert rmse_up.rate == pytest.approx(0.002)
    assert float(rmse_up.drop(10)) == pytest.approx(0.02)


def test_exponential_fit_recovers_parameters_from_noisy_history():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 120, 60)
    y = 0.80 + 0.10 * np.exp(-0.04 * t) + rng.normal(0, 0.002, t.size)
    curve = fit_decay(t, y)
    assert curve.kind == "exponential"
    assert curve.initial == pytest.approx(0.90, abs=0.005)
    assert curve.floor == pytest.approx(0.80, abs=0.005)
    assert curve.rate == pytest.approx(0.04, rel=0.1)
    assert curve.rmse == pytest.approx(0.002, rel=0.3)


def test_fit_from_a_table():
    t = np.arange(10.0)
    df = pd.DataFrame({"days": t, "auc": 0.9 - 0.01 * t})
    a = fit_decay(df, age="days", metric="auc", kind="linear")
    b = fit_decay(pa.Table.from_pandas(df), age="days", metric="auc", kind="linear")
    assert a.rate == pytest.approx(0.01)
    assert b == a
    with pytest.raises(SchemaError, match="auc2"):
        fit_decay(df, age="days", metric="auc2")


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1, 2, 3], [1, 2]), {}, "equal length"),
        (([1, 2, 3], [1, 2, 3]), {}, "at least 4"),
        (([1, 2, np.nan, 4], [1, 2, 3, 4]), {}, "finite"),
        (([1, 1, 1], [1, 2, 3]), {"kind": "linear"}, "ages must not all be equal"),
        (([1, 2], [1, 2]), {"kind": "quadratic"}, "'kind'"),
        (([1, 2], None), {}, "a table"),
        ((["a", "b"], [1, 2]), {}, "numeric"),
    ],
)
def test_bad_histories(args, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        fit_decay(*args, **kwargs)


def test_retrain_trigger_golden_and_boundary():
    curve = DecayCurve("linear", initial=0.9, rate=0.001)
    d = should_retrain(30, curve=curve, horizon=7, retrain_cost=500, value_per_unit=10_000)
    # value * rate / 2 * ((a + h)^2 - a^2 - h^2) = value * rate * a * h
    assert d.expected_loss == pytest.approx(10_000 * 0.001 * 30 * 7)
    assert d.retrain
    assert "> retraining cost" in d.reason
    fresh = should_retrain(0, curve=curve, horizon=7, retrain_cost=1, value_per_unit=10_000)
    assert fresh.expected_loss == pytest.approx(0.0)
    assert not fresh.retrain
    assert "<=" in fresh.reason


@given(age=st.floats(0, 1e3), extra=st.floats(0, 1e3))
def test_an_older_model_never_needs_retraining_less(age, extra):
    curve = DecayCurve("exponential", initial=0.9, rate=0.02, floor=0.7)

    def loss(a):
        return should_retrain(a, curve=curve, horizon=14, retrain_cost=1.0).expected_loss

    assert loss(age) <= loss(age + extra) + 1e-9


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of"),
        ({"decay_rate": 1.0, "curve": DecayCurve("linear", 0.9, 0.1)}, "exactly one of"),
        ({"decay_rate": -1.0}, "'decay_rate'"),  # 0 is no drift: see test_audit_retraining
        ({"curve": "linear"}, "curve must be"),
        ({"decay_rate": 1.0, "value_per_unit": 0.0}, "'value_per_unit'"),
    ],
)
def test_bad_plans(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        optimal_retrain_interval(100.0, **kwargs)
    with pytest.raises(ConfigError, match="'retrain_cost'"):
        optimal_retrain_interval(0.0, decay_rate=1.0)
