"""Training cost: FLOPs and measured-step paths, energy, CO2, uncertainty."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.cost import load_catalog, training_cost, training_cost_from_run
from prodml.errors import ConfigError

A100 = {"peak_flops": 312e12, "mfu": 0.4}


def test_six_n_d_golden():
    est = training_cost(params=1e9, tokens=2e10, devices=8, price_per_device_hour=2.0, **A100)
    flops = 6 * 1e9 * 2e10
    wall_h = flops / (8 * 312e12 * 0.4) / 3600
    assert est.details["flops"] == pytest.approx(flops)
    assert est.details["wall_hours"] == pytest.approx(wall_h, rel=1e-12)
    assert est.details["device_hours"] == pytest.approx(8 * wall_h, rel=1e-12)
    assert est.expected == pytest.approx(8 * wall_h * 2.0, rel=1e-12)
    assert est.breakdown == {"compute": est.expected}
    assert "6 * params * tokens" in est.assumptions["flops model"]
    assert est.unit == "per training run"


def test_flops_and_params_tokens_agree():
    a = training_cost(params=1e9, tokens=2e10, price_per_device_hour=2.0, **A100)
    b = training_cost(flops=1.2e20, price_per_device_hour=2.0, **A100)
    assert a.expected == pytest.approx(b.expected, rel=1e-12)


def test_measured_steps_path():
    est = training_cost(step_time_s=0.5, steps=72_000, devices=4, price_per_device_hour=3.0)
    assert est.details["wall_hours"] == pytest.approx(10.0)
    assert est.expected == pytest.approx(10.0 * 4 * 3.0)
    assert "flops" not in est.details


def test_energy_co2_and_their_prices():
    est = training_cost(
        step_time_s=1.0,
        steps=3600 * 100,
        devices=2,
        price_per_device_hour=1.0,
        overhead=0.25,
        power_watts=500.0,
        pue=1.2,
        grid_kg_per_kwh=0.4,
        energy_price_per_kwh=0.1,
        carbon_price_per_tonne=50.0,
    )
    device_h = 100 * 2 * 1.25
    kwh = device_h * 0.5 * 1.2
    assert est.details["device_hours"] == pytest.approx(device_h)
    assert est.details["energy_kwh"] == pytest.approx(kwh)
    assert est.details["co2_kg"] == pytest.approx(kwh * 0.4)
    assert est.breakdown["compute"] == pytest.approx(200.0)
    assert est.breakdown["overhead"] == pytest.approx(50.0)
    assert est.breakdown["energy"] == pytest.approx(kwh * 0.1)
    assert est.breakdown["carbon"] == pytest.approx(kwh * 0.4 / 1000 * 50)
    assert math.fsum(est.breakdown.values()) == est.expected


def test_catalog_prices_feed_the_estimator():
    cat = load_catalog(max_age_days=None)
    gpu = cat.accelerator_of("p4d.24xlarge")
    est = training_cost(
        params=7e9,
        tokens=1e11,
        peak_flops=gpu.peak_flops,
        mfu=0.4,
        devices=64,
        price_per_device_hour=cat.instance("p4d.24xlarge").price_per_accelerator_hour,
        power_watts=gpu.power_watts,
    )
    hours = 6 * 7e9 * 1e11 / (64 * 312e12 * 0.4) / 3600
    assert est.expected == pytest.approx(hours * 64 * 32.7726 / 8, rel=1e-12)


def test_from_run_extrapolates_the_step_time():
    est = training_cost_from_run(
        run_seconds=130.0,
        run_steps=100,
        startup_seconds=10.0,
        total_steps=50_000,
        devices=8,
        price_per_device_hour=2.0,
        power_watts=300.0,
    )
    assert est.details["wall_hours"] == pytest.approx(1.2 * 50_000 / 3600)
    assert est.details["energy_kwh"] == pytest.approx(1.2 * 50_000 / 3600 * 8 * 0.3)


def test_uncertain_mfu_drives_the_spread():
    est = training_cost(
        params=1e9,
        tokens=(1.8e10, 2e10, 2.2e10),
        peak_flops=312e12,
        mfu=(0.2, 0.35, 0.5),
        price_per_device_hour=(1.9, 2.0, 2.1),
        seed=0,
    )
    assert next(iter(est.sensitivity)) == "mfu"
    assert est.sensitivity["mfu"] < 0 < est.sensitivity["tokens"]
    assert est.low < est.median < est.high
    assert est.details["wall_hours"] > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one way"),
        ({"flops": 1e20, "params": 1e9, "tokens": 1e9, **A100}, "exactly one way"),
        ({"params": 1e9, **A100}, "'tokens' is required"),
        ({"steps": 10}, "'step_time_s' is required"),
        ({"flops": 1e20, "mfu": 0.4}, "'peak_flops' is required"),
        ({"flops": 1e20, "peak_flops": 1e14}, "'mfu' is required"),
        ({"step_time_s": 1.0, "steps": 10, "mfu": 0.4}, "'mfu' is only used"),
        ({"flops": 1e20, "peak_flops": 1e14, "mfu": 1.5}, "'mfu' input must be"),
        ({"flops": 1e20, "peak_flops": 1e14, "mfu": 0.0}, r"\(0, 1\]"),
        ({"step_time_s": 1.0, "steps": 10, "pue": 0.9}, "'pue'"),
        ({"step_time_s": 1.0, "steps": 10, "devices": 0}, "'devices' parameter"),
        ({"step_time_s": 1.0, "steps": 10, "grid_kg_per_kwh": 0.4}, "needs 'power_watts'"),
        ({"step_time_s": 1.0, "steps": 10, "energy_price_per_kwh": 0.1}, "needs 'power_watts'"),
        (
            {"step_time_s": 1.0, "steps": 10, "power_watts": 300, "carbon_price_per_tonne": 50},
            "needs 'grid_kg_per_kwh'",
        ),
    ],
)
def test_bad_training_inputs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        training_cost(price_per_device_hour=2.0, **kwargs)


def test_bad_run_measurements():
    with pytest.raises(ConfigError, match="'startup_seconds'"):
        training_cost_from_run(
            run_seconds=10,
            run_steps=5,
            startup_seconds=10,
            total_steps=100,
            price_per_device_hour=1.0,
        )
    with pytest.raises(ConfigError, match="'run_steps'"):
        training_cost_from_run(
            run_seconds=10, run_steps=0, total_steps=100, price_per_device_hour=1.0
        )


@given(
    tokens=st.floats(1e8, 1e13),
    extra=st.floats(0, 1e13),
    mfu=st.floats(0.05, 1.0),
)
def test_more_tokens_never_cost_less(tokens, extra, mfu):
    def cost(d):
        return training_cost(
            params=1e9, tokens=d, peak_flops=1e14, mfu=mfu, price_per_device_hour=2.0
        ).expected

    assert cost(tokens) <= cost(tokens + extra)
