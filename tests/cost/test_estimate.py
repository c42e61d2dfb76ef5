"""CostEstimate, uncertain inputs and the Monte Carlo engine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from prodml.cost import CostEstimate, pert, simulate, triangular
from prodml.cost._inputs import as_input
from prodml.errors import ConfigError, ProdMLError


def bill(x):
    return {"gpu": x["hours"] * x["price"], "ops": x["hours"] * 0.5}


def test_point_inputs_are_deterministic_and_exact():
    est = simulate(bill, {"hours": 10.0, "price": 2.0}, unit="per run")
    assert est.is_certain
    assert est.n_samples == 0
    assert est.breakdown == {"gpu": 20.0, "ops": 5.0}
    assert est.low == est.median == est.expected == est.high == 25.0
    assert est.sensitivity == {}
    assert est.assumptions == {"hours": "10", "price": "2"}
    assert est.unit == "per run"
    assert est.currency == "USD"


def test_monte_carlo_is_seeded_and_reproducible():
    a = simulate(bill, {"hours": (5.0, 10.0, 20.0), "price": 2.0}, seed=3)
    b = simulate(bill, {"hours": (5.0, 10.0, 20.0), "price": 2.0}, seed=3)
    c = simulate(bill, {"hours": (5.0, 10.0, 20.0), "price": 2.0}, seed=4)
    assert a == b
    assert a.expected != c.expected
    assert a.n_samples == 10_000


def test_quantiles_match_the_analytic_triangular():
    est = simulate(bill, {"hours": (5.0, 10.0, 20.0), "price": 2.0}, n_samples=200_000, seed=1)
    tri = triangular(5.0, 10.0, 20.0)
    for got, q in ((est.low, 0.1), (est.median, 0.5), (est.high, 0.9)):
        assert got == pytest.approx(2.5 * tri.ppf(q), rel=5e-3)
    assert est.expected == pytest.approx(2.5 * 35.0 / 3.0, rel=3e-3)


def test_sensitivity_is_spearman_and_ranks_the_driver_first():
    inputs = {"hours": (90.0, 100.0, 110.0), "price": stats.uniform(1.0, 3.0)}
    est = simulate(bill, inputs, n_samples=5000, seed=7)
    assert list(est.sensitivity) == ["price", "hours"]
    # Recompute from the same draws (the engine samples inputs in the order given).
    rng = np.random.default_rng(7)
    hours = rng.triangular(90.0, 100.0, 110.0, size=5000)
    price = stats.uniform(1.0, 3.0).rvs(size=5000, random_state=rng)
    total = hours * price + hours * 0.5
    assert est.sensitivity["price"] == pytest.approx(stats.spearmanr(price, total)[0], abs=1e-12)
    assert est.sensitivity["hours"] == pytest.approx(stats.spearmanr(hours, total)[0], abs=1e-12)
    assert est.expected == pytest.approx(float(np.mean(total)), rel=1e-12)


def test_pert_and_triangular_match_their_formulas():
    assert float(pert(1.0, 2.0, 9.0).mean()) == pytest.approx((1 + 4 * 2 + 9) / 6)
    assert float(pert(1.0, 2.0, 9.0, lamb=2.0).mean()) == pytest.approx((1 + 2 * 2 + 9) / 4)
    assert float(triangular(1.0, 2.0, 6.0).mean()) == pytest.approx(3.0)
    # The mode of the Beta is at `mode`.
    xs = np.linspace(1.0, 9.0, 8001)
    assert xs[np.argmax(pert(1.0, 2.0, 9.0).pdf(xs))] == pytest.approx(2.0, abs=1e-3)
    with pytest.raises(ConfigError, match="'low' must be below 'high'"):
        pert(3.0, 3.0, 3.0)
    with pytest.raises(ConfigError, match="'low' must be below 'high'"):
        triangular(3.0, 3.0, 3.0)
    with pytest.raises(ConfigError, match="lamb"):
        pert(1.0, 2.0, 3.0, lamb=0.0)
    with pytest.raises(ConfigError, match="low <= mode <= high"):
        pert(1.0, 5.0, 3.0)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (math.nan, "finite number"),
        (math.inf, "finite number"),
        (-1.0, "must be a finite number"),
        (True, "must be a number"),
        ("3", "must be a number"),
        (None, "must be a number"),
        ((1.0, 2.0), "triple"),
        ((3.0, 2.0, 1.0), "low <= mode <= high"),
        ((1.0, math.nan, 2.0), "triple"),
        ((1.0, 2.0, 10**400), "triple"),  # an int beyond the float range: not finite
        (10**400, "finite number"),
        ((-1.0, 0.0, 2.0), "bounds must both be"),
        (object(), "must be a number"),
    ],
)
def test_bad_inputs_name_the_input(value, match):
    from prodml._params import Interval

    with pytest.raises(ConfigError, match=match) as info:
        as_input("hours", value, Interval(float, 0, None, "neither"))
    assert info.value.parameter == "hours"
    assert "'hours'" in str(info.value)


def test_distribution_draws_outside_the_allowed_range_are_rejected():
    from prodml.cost import training_cost

    with pytest.raises(ConfigError, match="'mfu' input drew") as info:
        training_cost(
            flops=1e20, peak_flops=1e14, mfu=stats.norm(0.4, 0.3), price_per_device_hour=2
        )
    assert info.value.parameter == "mfu"


def test_multivariate_distribution_is_rejected():
    with pytest.raises(ConfigError, match="univariate"):
        simulate(bill, {"hours": stats.multivariate_normal([1, 2]), "price": 1.0})


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"n_samples": 10}, "n_samples"), ({"seed": -1}, "seed")]
)
def test_bad_engine_settings(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        simulate(bill, {"hours": (1.0, 2.0, 3.0), "price": 1.0}, **kwargs)


def test_bad_models():
    with pytest.raises(ConfigError, match="mapping of part"):
        simulate(lambda x: 3.0, {"a": 1.0})
    with pytest.raises(ConfigError, match="at least one part"):
        simulate(lambda x: {}, {"a": 1.0})
    with pytest.raises(ConfigError, match="not finite"):
        simulate(lambda x: {"p": 1.0 / (x["a"] - 1.0)}, {"a": 1.0})


def test_round_trip_scale_and_str():
    est = simulate(bill, {"hours": (5.0, 10.0, 20.0), "price": 2.0}, unit="per run")
    assert CostEstimate.from_dict(est.to_dict()) == est
    half = est.scale(0.5, unit="per half run")
    assert half.expected == pytest.approx(est.expected / 2)
    assert half.low == est.low / 2
    assert half.unit == "per half run"
    assert "p10" in str(est)
    assert str(est).startswith("USD ")
    with pytest.raises(ConfigError, match="format_version"):
        CostEstimate.from_dict({**est.to_dict(), "format_version": 99})
    with pytest.raises(ConfigError, match="factor"):
        est.scale(-1.0, unit="x")
    with pytest.raises(ValueError, match="frozen"):
        est.expected = 3.0  # type: ignore[misc]


def test_degenerate_triple_is_a_point():
    est = simulate(bill, {"hours": (4.0, 4.0, 4.0), "price": 1.0})
    assert est.is_certain
    assert est.expected == 6.0


def test_input_errors_are_prodml_value_errors():
    with pytest.raises(ProdMLError):
        as_input("x", "bad")
    with pytest.raises(ValueError, match="'x'"):
        as_input("x", [1, 2, 3, 4])


@given(
    hours=st.tuples(st.floats(0.1, 100), st.floats(0.1, 100), st.floats(0.1, 100)).map(sorted),
    price=st.floats(0.0, 50.0),
    seed=st.integers(0, 2**31),
)
def test_parts_always_sum_to_expected(hours, price, seed):
    est = simulate(bill, {"hours": tuple(hours), "price": price}, n_samples=200, seed=seed)
    assert math.fsum(est.breakdown.values()) == est.expected
    assert est.low <= est.median <= est.high


triples = st.tuples(st.floats(0.1, 10), st.floats(0.1, 10), st.floats(0.1, 10)).map(
    lambda t: tuple(sorted(t))
)


@given(price=triples, mfu=triples, overhead=st.floats(0, 1), seed=st.integers(0, 10))
def test_training_parts_sum_to_expected(price, mfu, overhead, seed):
    from prodml.cost import training_cost

    est = training_cost(
        params=1e9,
        tokens=1e10,
        peak_flops=1e14,
        mfu=tuple(m / 10 for m in mfu),
        price_per_device_hour=price,
        overhead=overhead,
        power_watts=300,
        grid_kg_per_kwh=0.4,
        energy_price_per_kwh=0.1,
        carbon_price_per_tonne=80,
        n_samples=200,
        seed=seed,
    )
    assert set(est.breakdown) == {"compute", "overhead", "energy", "carbon"}
    assert math.fsum(est.breakdown.values()) == est.expected
    assert all(v >= 0 for v in est.breakdown.values())


@given(rps=triples, price=triples, fixed=st.floats(0, 100), per=st.sampled_from(["month", "1k"]))
def test_serving_and_spot_parts_sum_to_expected(rps, price, fixed, per):
    from prodml.cost import serving_cost as serve
    from prodml.cost import spot_cost

    est = serve(
        peak_rps=rps,
        latency_s=0.05,
        price_per_replica_hour=price,
        fixed_per_month=fixed,
        per=per,
        n_samples=200,
    )
    assert math.fsum(est.breakdown.values()) == est.expected
    spot = spot_cost(
        work_hours=50.0,
        spot_price_per_hour=price,
        on_demand_price_per_hour=3.0,
        mtbf_hours=rps,
        checkpoint_hours=0.05,
        n_samples=200,
    )
    assert math.fsum(spot.breakdown.values()) == spot.expected
    assert spot.breakdown["lost"] >= 0
