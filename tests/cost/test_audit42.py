"""Out-of-scale inputs: a ConfigError naming the estimator's own parameter at fault.

An overflow (a price per second read as per hour a million times over, a latency of
1e308 s) named the cost part ("compute"), an internal quantity ("servers", "mtbf",
"details") or an internal input name ("price_per_gb"); a wide triangular input drew
-inf from numpy's sampler.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from prodml.cost import (
    batch_scoring_cost,
    egress_cost,
    serving_cost,
    simulate,
    spot_cost,
    storage_cost,
    training_cost,
    training_cost_from_run,
)
from prodml.cost._inputs import as_input
from prodml.errors import ConfigError

TRAINING = {
    "params": 7e9,
    "tokens": 2e12,
    "peak_flops": 312e12,
    "mfu": 0.4,
    "devices": 512,
    "price_per_device_hour": 4.1,
}
SERVING = {"peak_rps": 100.0, "latency_s": 0.05, "price_per_replica_hour": 0.17}
SPOT = {
    "work_hours": 100.0,
    "spot_price_per_hour": 1.0,
    "on_demand_price_per_hour": 3.0,
    "mtbf_hours": 10.0,
    "checkpoint_hours": 0.1,
}
BATCH = {"predictions": 1e6, "rows_per_second": 1000.0, "price_per_instance_hour": 0.17}
STORAGE = {"gb": 1000.0, "price_per_gb_month": 0.023}
FROM_RUN = {
    "run_seconds": 130.0,
    "run_steps": 100,
    "total_steps": 5e4,
    "price_per_device_hour": 2.0,
}

CASES: list[tuple[Callable[..., Any], dict[str, Any], str, object]] = [
    (training_cost, TRAINING, "price_per_device_hour", 1e308),
    (training_cost, TRAINING, "mfu", 1e-308),
    (training_cost, TRAINING, "tokens", 1e308),
    (serving_cost, SERVING, "latency_s", 1e308),
    (serving_cost, SERVING, "latency_s", (1.0, 1e300, 1e308)),
    (serving_cost, SERVING, "peak_rps", 1e308),
    (serving_cost, SERVING, "peak_rps", (1.0, 1e300, 1e308)),
    (serving_cost, SERVING, "price_per_replica_hour", 1e308),
    (storage_cost, STORAGE, "price_per_gb_month", 1e308),
    (storage_cost, STORAGE, "gb", (1.0, 1e300, 1e308)),
    (egress_cost, {"gb": 1000.0, "price": 0.09}, "price", 1e308),
    (egress_cost, {"gb": 1000.0, "price": 0.09}, "price", -1.0),
    (egress_cost, {"gb": 1000.0, "price": 0.09}, "price", math.nan),
    (batch_scoring_cost, BATCH, "rows_per_second", 1e-308),
    (spot_cost, SPOT, "on_demand_price_per_hour", 1e308),
    (spot_cost, SPOT, "spot_price_per_hour", 1e308),
    (spot_cost, SPOT, "work_hours", 1e308),
    (spot_cost, SPOT, "mtbf_hours", 1e-308),
    (spot_cost, SPOT, "interval_hours", -1.0),
    (spot_cost, SPOT, "interval_hours", math.nan),
    (training_cost_from_run, FROM_RUN, "total_steps", 0),
    (training_cost_from_run, FROM_RUN, "total_steps", math.inf),
    (training_cost_from_run, FROM_RUN, "run_seconds", 1e308),
]


@pytest.mark.parametrize(
    ("estimator", "base", "name", "value"),
    CASES,
    ids=[f"{f.__name__}-{n}={v!r}" for f, _, n, v in CASES],
)
def test_out_of_scale_inputs_are_refused_naming_the_parameter(
    estimator: Callable[..., Any], base: dict[str, Any], name: str, value: object
) -> None:
    with pytest.raises(ConfigError) as info:
        estimator(**{**base, name: value})
    assert info.value.parameter == name, str(info.value)
    assert name in str(info.value)


def test_a_division_by_a_zero_input_names_it() -> None:
    with pytest.raises(ConfigError, match="check 'b'") as info:
        simulate(lambda x: {"p": x["a"] / x["b"]}, {"a": 5.0, "b": 0.0})
    assert info.value.parameter == "b"


@pytest.mark.parametrize(
    "triple", [(1.0, 1e300, 1e308), (-1.7e308, 0.0, 1.7e308), (0.0, 0.0, 1e200), (-1e160, 5.0, 1.0)]
)
def test_wide_triangular_inputs_draw_inside_their_bounds(
    triple: tuple[float, float, float],
) -> None:
    low, mode, high = sorted(triple) if triple[1] > triple[2] else triple
    x = as_input("a", (low, mode, high)).sample(20_000, np.random.default_rng(0))
    assert np.isfinite(x).all()
    assert low <= x.min()
    assert x.max() <= high
    # the mean of a triangular distribution is (low + mode + high) / 3
    scale = high / 2 - low / 2
    assert np.mean(x / scale) == pytest.approx((low / 3 + mode / 3 + high / 3) / scale, abs=0.01)


def test_narrow_triangular_inputs_draw_as_before() -> None:
    x = as_input("a", (1.0, 2.0, 6.0)).sample(1000, np.random.default_rng(3))
    assert np.array_equal(x, np.random.default_rng(3).triangular(1.0, 2.0, 6.0, size=1000))


def test_estimates_in_scale_are_unchanged() -> None:
    # hand-computed: 6 N D / (devices * peak * mfu) s, times devices and the hourly price
    est = training_cost(**TRAINING)
    assert est.expected == pytest.approx(6 * 7e9 * 2e12 / (312e12 * 0.4) / 3600 * 4.1, rel=1e-12)
    assert storage_cost(gb=1e308, price_per_gb_month=1.0).expected == 1e308
