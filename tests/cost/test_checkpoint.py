"""Checkpointing: Young/Daly intervals (Daly 2006 worked examples), wall time, spot."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, special

from prodml.cost import (
    daly_interval,
    daly_wall_time,
    simulate_wall_time,
    spot_break_even_ratio,
    spot_cost,
    young_interval,
)
from prodml.errors import ConfigError


@pytest.mark.parametrize(
    ("mtbf_min", "published_min", "digits"),
    [
        (24 * 60, 117, 0),  # Daly 2006, Fig. 3: M = 24 h, delta = 5 min -> tau_opt = 117 min
        (6 * 60, 57, 0),  # Daly 2006, Fig. 4: M = 6 h -> 57 min
        (15, 9.1, 1),  # Daly 2006, Fig. 5: M = 15 min -> 9.1 min
    ],
)
def test_daly_2006_published_examples(mtbf_min, published_min, digits):
    assert round(daly_interval(5.0, mtbf_min), digits) == published_min


def test_young_is_the_first_order_term():
    assert young_interval(5.0, 24 * 60) == pytest.approx(120.0)
    # Daly's estimate tends to Young's minus delta as delta / M -> 0.
    assert daly_interval(1e-6, 1e3) == pytest.approx(young_interval(1e-6, 1e3) - 1e-6, rel=1e-4)


def test_daly_caps_at_mtbf_when_checkpoints_are_slow():
    assert daly_interval(10.0, 5.0) == 5.0
    # Just below delta = 2M the perturbation series gives 2M (1 + 1/3 + 1/9) - 2M = 8M/9.
    assert daly_interval(10.0, 5.0 + 1e-9) == pytest.approx(40.0 / 9.0, rel=1e-6)


def exact_optimum(delta: float, m: float) -> float:
    # d T_w / d tau = 0  <=>  e^{(tau + delta)/M} (1 - tau/M) = 1, solved by Lambert W.
    return m * (1.0 + float(np.real(special.lambertw(-math.exp(-(1.0 + delta / m))))))


@pytest.mark.parametrize("ratio", [1e-4, 1e-3, 1e-2, 0.1, 0.3])
def test_daly_estimate_is_close_to_the_exact_optimum(ratio):
    m, delta = 100.0, 100.0 * ratio
    exact = exact_optimum(delta, m)

    def wall(tau):
        return daly_wall_time(1000.0, checkpoint_time=delta, restart_time=1.0, mtbf=m, interval=tau)

    numeric = optimize.minimize_scalar(
        wall, bounds=(1e-6, 5 * m), method="bounded", options={"xatol": 1e-10}
    ).x
    assert numeric == pytest.approx(exact, rel=1e-4)
    # The higher-order estimate loses almost nothing against the exact optimum.
    assert daly_interval(delta, m) == pytest.approx(exact, rel=0.02)
    assert wall(daly_interval(delta, m)) == pytest.approx(wall(exact), rel=1e-4)
    assert wall(daly_interval(delta, m)) <= wall(young_interval(delta, m)) * (1 + 1e-12)


def test_daly_wall_time_formula():
    got = daly_wall_time(
        500.0, checkpoint_time=5 / 60, restart_time=10 / 60, mtbf=24.0, interval=2.0
    )
    expected = 24.0 * math.exp((10 / 60) / 24.0) * math.expm1((2.0 + 5 / 60) / 24.0) * 500.0 / 2.0
    assert got == pytest.approx(expected, rel=1e-14)


def test_monte_carlo_matches_daly_for_exponential_interruptions():
    kw = {"interval": 2.0, "checkpoint_time": 0.1, "restart_time": 0.2, "mtbf": 5.0}
    sim = simulate_wall_time(100.0, n_runs=4000, seed=11, **kw)
    formula = daly_wall_time(100.0, **dict(kw.items()))
    assert abs(sim.mean - formula) < 4 * sim.std_error
    assert sim.p10 < sim.p50 < sim.p90
    assert sim.mean_interruptions > 0
    assert sim.break_even_ratio == pytest.approx(100.0 / sim.mean)


def test_weibull_simulation_is_seeded_and_handles_a_remainder():
    kw = {"interval": 3.0, "checkpoint_time": 0.1, "restart_time": 0.2, "mtbf": 8.0, "shape": 0.6}
    a = simulate_wall_time(100.0, seed=1, **kw)
    b = simulate_wall_time(100.0, seed=1, **kw)
    assert a == b
    # 33 full segments + a 1 h remainder, each with a checkpoint: a floor on wall time.
    assert a.p10 >= 100.0 + 34 * 0.1 - 1e-9
    no_fail = simulate_wall_time(
        100.0, interval=3.0, checkpoint_time=0.1, restart_time=0.2, mtbf=1e12, n_runs=10
    )
    assert no_fail.mean == pytest.approx(100.0 + 34 * 0.1)
    assert no_fail.mean_interruptions == 0.0


def test_weibull_runs_that_cannot_finish_raise():
    with pytest.raises(ConfigError, match="did not finish"):
        simulate_wall_time(
            100.0,
            interval=50.0,
            checkpoint_time=1.0,
            restart_time=1.0,
            mtbf=0.5,
            n_runs=10,
            max_events=200,
        )


def test_spot_cost_parts_and_break_even():
    est = spot_cost(
        work_hours=100.0,
        spot_price_per_hour=1.0,
        on_demand_price_per_hour=3.0,
        mtbf_hours=5.0,
        checkpoint_hours=0.1,
        restart_hours=0.2,
    )
    wall = daly_wall_time(100.0, checkpoint_time=0.1, restart_time=0.2, mtbf=5.0)
    tau = daly_interval(0.1, 5.0)
    assert est.expected == pytest.approx(wall * 1.0, rel=1e-12)
    assert est.breakdown["useful"] == pytest.approx(100.0)
    assert est.breakdown["checkpoints"] == pytest.approx(100.0 / tau * 0.1)
    assert math.fsum(est.breakdown.values()) == est.expected
    ratio = spot_break_even_ratio(100.0, checkpoint_time=0.1, restart_time=0.2, mtbf=5.0)
    assert est.details["break_even_ratio"] == pytest.approx(ratio)
    assert est.details["savings"] == pytest.approx(300.0 - wall)
    # At a price ratio just below / above the break-even, spot wins / loses.
    for factor, wins in ((0.999, 1.0), (1.001, 0.0)):
        e = spot_cost(
            work_hours=100.0,
            spot_price_per_hour=ratio * factor,
            on_demand_price_per_hour=1.0,
            mtbf_hours=5.0,
            checkpoint_hours=0.1,
            restart_hours=0.2,
        )
        assert e.details["spot_wins"] == wins


def test_spot_with_uncertain_interruptions():
    est = spot_cost(
        work_hours=100.0,
        spot_price_per_hour=1.0,
        on_demand_price_per_hour=1.2,
        mtbf_hours=(0.5, 3.0, 20.0),
        checkpoint_hours=0.1,
        restart_hours=0.2,
        interval_hours=None,
        seed=2,
    )
    assert 0.0 < est.details["spot_wins"] < 1.0
    assert est.sensitivity["mtbf_hours"] < 0
    fixed = spot_cost(
        work_hours=100.0,
        spot_price_per_hour=1.0,
        on_demand_price_per_hour=1.2,
        mtbf_hours=3.0,
        checkpoint_hours=0.1,
        interval_hours=1.0,
    )
    assert fixed.details["interval_hours"] == 1.0


@given(m1=st.floats(0.2, 1e3), m2=st.floats(0.2, 1e3), delta=st.floats(1e-3, 0.5))
def test_more_interruptions_never_cost_less(m1, m2, delta):
    lo, hi = sorted((m1, m2))

    def cost(m):
        return spot_cost(
            work_hours=50.0,
            spot_price_per_hour=1.0,
            on_demand_price_per_hour=3.0,
            mtbf_hours=m,
            checkpoint_hours=delta,
            restart_hours=0.1,
        ).expected

    assert cost(hi) <= cost(lo) * (1 + 1e-12)


@pytest.mark.parametrize(
    ("func", "kwargs", "match"),
    [
        (young_interval, {"checkpoint_time": 0.0, "mtbf": 1.0}, "'checkpoint_time'"),
        (daly_interval, {"checkpoint_time": 1.0, "mtbf": -1.0}, "'mtbf'"),
        (
            daly_wall_time,
            {"work": 1.0, "checkpoint_time": 1.0, "restart_time": -1.0, "mtbf": 1.0},
            "'restart_time'",
        ),
        (
            daly_wall_time,
            {
                "work": 1.0,
                "checkpoint_time": 1.0,
                "restart_time": 0.0,
                "mtbf": 1.0,
                "interval": 0.0,
            },
            "'interval'",
        ),
        (
            simulate_wall_time,
            {
                "work": 1.0,
                "interval": 1.0,
                "checkpoint_time": 0.1,
                "restart_time": 0.1,
                "mtbf": 1.0,
                "shape": 0.0,
            },
            "'shape'",
        ),
    ],
)
def test_bad_checkpoint_inputs(func, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        func(**kwargs)


def test_weibull_simulation_matches_a_plain_event_loop():
    # An independent, one-run-at-a-time implementation of the same model.
    rng = np.random.default_rng(21)
    work, tau, delta, r, m, k = 20.0, 2.0, 0.1, 0.3, 3.0, 0.7
    scale = m / special.gamma(1 + 1 / k)
    walls = []
    for _ in range(1500):
        wall, ttf = 0.0, rng.weibull(k) * scale
        for _seg in range(10):
            need = tau + delta
            while ttf < need:
                wall += ttf
                ttf = rng.weibull(k) * scale
                need = r + tau + delta
            wall += need
            ttf -= need
        walls.append(wall)
    ref = np.asarray(walls)
    sim = simulate_wall_time(
        work,
        interval=tau,
        checkpoint_time=delta,
        restart_time=r,
        mtbf=m,
        shape=k,
        n_runs=3000,
        seed=4,
    )
    se = math.hypot(sim.std_error, ref.std(ddof=1) / math.sqrt(ref.size))
    assert abs(sim.mean - ref.mean()) < 4 * se
