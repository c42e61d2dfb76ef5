"""Retraining economics against a brute-force optimum, and its edge cases.

The reference cost rate is built from the definition, ``g(T) = (C_r + v * integral_0^T
drop) / T`` with the integral by ``scipy.integrate.quad`` of the curve's *performance*
(not prodml's closed-form cumulative drop), and minimised by brute force: a log grid of
801 points, then ``scipy.optimize.minimize_scalar`` between the grid neighbours of the
best point (or ``t_max`` itself when that is cheaper).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize
from scipy.integrate import IntegrationWarning

from prodml.cost import DecayCurve, optimal_retrain_interval, should_retrain
from prodml.errors import ConfigError


def drop_ref(curve: DecayCurve, t: float) -> float:
    """The metric drop from the textbook curve, written out here."""
    if curve.kind == "linear":
        perf0, perf = (
            curve.initial,
            curve.initial - (1 if curve.higher_is_better else -1) * (curve.rate * t),
        )
    else:
        perf0 = curve.initial
        perf = curve.floor + (curve.initial - curve.floor) * math.exp(-curve.rate * t)
    return (perf0 - perf) if curve.higher_is_better else (perf - perf0)


def brute_force(curve: DecayCurve, cost: float, value: float, t_max: float) -> tuple[float, float]:
    def g(t: float) -> float:
        with warnings.catch_warnings():  # quad's round-off notice at its 1e-13 target
            warnings.simplefilter("ignore", IntegrationWarning)
            area = integrate.quad(
                lambda s: drop_ref(curve, s), 0.0, t, limit=200, epsabs=0, epsrel=1e-13
            )[0]
        return (cost + value * area) / t

    grid = np.logspace(math.log10(t_max) - 12, math.log10(t_max), 801)
    vals = np.array([g(t) for t in grid])
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(
        lambda lt: g(math.exp(lt)),
        bounds=(math.log(lo), math.log(hi)),
        method="bounded",
        options={"xatol": 1e-12},
    )
    # A bounded search stops within its tolerance of a bound: try the bound itself too.
    return min((float(res.fun), math.exp(float(res.x))), (g(t_max), t_max))[::-1]


curves = st.one_of(
    st.builds(
        DecayCurve,
        st.just("linear"),
        st.floats(0.5, 1.0),
        st.floats(1e-5, 0.05),
        higher_is_better=st.booleans(),
    ),
    st.builds(
        DecayCurve,
        st.just("exponential"),
        st.floats(0.85, 0.95),
        st.floats(1e-3, 0.5),
        st.floats(0.5, 0.84),
    ),
)


@settings(max_examples=25, deadline=None)
@given(curve=curves, cost=st.floats(1.0, 1e5), value=st.floats(10.0, 1e6))
def test_numeric_optimum_matches_a_brute_force_search(
    curve: DecayCurve, cost: float, value: float
) -> None:
    t_max = 1e4
    plan = optimal_retrain_interval(cost, curve=curve, value_per_unit=value, max_interval=t_max)
    t_ref, g_ref = brute_force(curve, cost, value, t_max)
    # The cost rate is flat at its minimum: compare costs tightly, intervals loosely
    # (a relative error e in T moves g by ~e^2).
    assert plan.cost_rate <= g_ref * (1 + 1e-9)
    assert plan.cost_rate == pytest.approx(g_ref, rel=1e-9)
    if not plan.at_bound and t_ref < t_max * 0.99:
        assert plan.interval == pytest.approx(t_ref, rel=1e-4)


@settings(max_examples=50, deadline=None)
@given(
    cost=st.floats(1e-3, 1e7),
    d=st.floats(1e-6, 1e6),
    t_max=st.sampled_from([1.0, 100.0, 1e6]),
)
def test_closed_form_and_numeric_give_one_answer_within_max_interval(
    cost: float, d: float, t_max: float
) -> None:
    # Before: the closed form ignored max_interval, the numeric path stopped at it, so the
    # same linear decay gave two answers past it.
    closed = optimal_retrain_interval(cost, decay_rate=d, max_interval=t_max)
    numeric = optimal_retrain_interval(
        cost, curve=DecayCurve("linear", 1.0, d), value_per_unit=1.0, max_interval=t_max
    )
    assert closed.at_bound == numeric.at_bound or math.isclose(closed.interval, t_max, rel_tol=1e-6)
    assert closed.interval == pytest.approx(numeric.interval, rel=1e-6)
    assert closed.cost_rate == pytest.approx(numeric.cost_rate, rel=1e-9)


@pytest.mark.parametrize(
    ("cost", "d"),
    [(1e308, 1e-300), (1e-300, 1e300), (1e200, 1e-200), (1e-200, 1e-200), (1e300, 1e300)],
)
def test_closed_form_survives_extreme_but_finite_inputs(cost: float, d: float) -> None:
    # Before: 2 C / d overflowed (interval inf, cost rate inf for C = 1e308) or underflowed
    # (interval 0.0 for C = 1e-300, d = 1e300) although the optimum is representable.
    plan = optimal_retrain_interval(cost, decay_rate=d, max_interval=1.7e308)
    t_ref = math.sqrt(2) * math.sqrt(cost) / math.sqrt(d)
    assert plan.interval == pytest.approx(t_ref, rel=1e-15)
    assert plan.cost_rate == pytest.approx(math.sqrt(2) * math.sqrt(cost) * math.sqrt(d), rel=1e-15)
    assert 0 < plan.interval < math.inf


def test_an_optimum_far_below_the_search_window_is_found() -> None:
    # T* = sqrt(2 * 1e-30 / (1e4 * 1e-3)) = 4.47e-16, 40 e-folds below 1e6 is 4.2e-12.
    # Before: the numeric search returned 4.2e-12, its window's end, as the optimum.
    curve = DecayCurve("linear", initial=0.9, rate=1e-3)
    plan = optimal_retrain_interval(1e-30, curve=curve, value_per_unit=1e4)
    assert plan.interval == pytest.approx(math.sqrt(2e-30 / 10.0), rel=1e-8)
    assert not plan.at_bound


def test_zero_drift_never_pays_for_a_retrain_on_either_path() -> None:
    # Before: decay_rate=0 was a ConfigError while the same curve= answered max_interval.
    closed = optimal_retrain_interval(500.0, decay_rate=0.0, max_interval=1e4)
    numeric = optimal_retrain_interval(
        500.0, curve=DecayCurve("linear", 0.9, 0.0), max_interval=1e4
    )
    assert closed.at_bound
    assert numeric.at_bound
    assert closed.interval == 1e4
    assert numeric.interval == pytest.approx(1e4, rel=1e-6)
    assert closed.cost_rate == pytest.approx(500.0 / 1e4)
    decision = should_retrain(
        1e9, curve=DecayCurve("linear", 0.9, 0.0), horizon=1e9, retrain_cost=0.0
    )
    assert decision.expected_loss == 0.0
    assert not decision.retrain


def test_a_cost_in_another_unit_is_not_silently_ignored() -> None:
    # decay_rate is already currency / time^2: a value_per_unit beside it was ignored.
    with pytest.raises(ConfigError, match="value_per_unit") as err:
        optimal_retrain_interval(500.0, decay_rate=10.0, value_per_unit=1000.0)
    assert err.value.parameter == "value_per_unit"


def test_zero_retrain_cost_and_infinite_horizons_are_refused_by_name() -> None:
    curve = DecayCurve("linear", 0.9, 0.01)
    with pytest.raises(ConfigError, match="'retrain_cost'"):
        optimal_retrain_interval(0.0, curve=curve)
    with pytest.raises(ConfigError, match="'horizon'"):
        should_retrain(3.0, curve=curve, horizon=math.inf, retrain_cost=1.0)
    with pytest.raises(ConfigError, match="'max_interval'"):
        optimal_retrain_interval(1.0, curve=curve, max_interval=math.inf)


def test_a_free_retrain_pays_as_soon_as_the_model_has_aged() -> None:
    curve = DecayCurve("linear", 0.9, 0.01)
    assert should_retrain(1.0, curve=curve, horizon=1.0, retrain_cost=0.0).retrain
    assert not should_retrain(0.0, curve=curve, horizon=1.0, retrain_cost=0.0).retrain


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "exponential", "initial": 0.9, "rate": 0.1}, "floor"),  # floor left NaN
        ({"kind": "linear", "initial": math.nan, "rate": 0.1}, "initial"),
        ({"kind": "linear", "initial": 0.9, "rate": math.inf}, "rate"),
        ({"kind": "exponential", "initial": 0.9, "rate": -0.1, "floor": 0.5}, "rate"),
        ({"kind": "cubic", "initial": 0.9, "rate": 0.1}, "kind"),
        ({"kind": "linear", "initial": "0.9", "rate": 0.1}, "initial"),
        ({"kind": "linear", "initial": 0.9, "rate": 0.1, "higher_is_better": "yes"}, "higher"),
    ],
)
def test_a_decay_curve_that_would_give_nan_costs_is_refused(kwargs: dict, field: str) -> None:
    # Before: DecayCurve("exponential", initial=0.9, rate=0.1) (floor NaN) made every
    # cost NaN: should_retrain said "no" and optimal_retrain_interval returned a plan.
    with pytest.raises(ConfigError, match=field) as err:
        DecayCurve(**kwargs)
    assert str(err.value.parameter).startswith(field)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_a_curve_function_returning_nan_is_refused_not_a_no() -> None:
    def broken(t: float) -> float:
        return math.nan

    with pytest.raises(ConfigError, match="not a finite number") as err:
        should_retrain(10.0, curve=broken, horizon=5.0, retrain_cost=1.0)
    assert err.value.parameter == "curve"
    with pytest.raises(ConfigError, match="not a finite number"):
        optimal_retrain_interval(5.0, curve=broken)
