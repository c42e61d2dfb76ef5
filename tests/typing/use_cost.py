"""What a type-checked user of prodml.cost sees (run by tests/test_typing_user.py)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from typing_extensions import assert_type

from prodml.cost import (
    CostEstimate,
    DecayCurve,
    Distribution,
    PriceCatalog,
    RetrainDecision,
    RetrainPlan,
    compare,
    fit_decay,
    load_catalog,
    markdown_table,
    optimal_retrain_interval,
    pert,
    plot_comparison,
    serving_cost,
    should_retrain,
    simulate,
    training_cost,
    triangular,
)

Floats = npt.NDArray[np.float64]


def labelling(x: Mapping[str, Floats]) -> dict[str, Floats]:
    return {"labels": x["items"] * x["price_per_label"], "review": x["items"] * 0.002}


def main() -> None:
    prices = load_catalog("sample", max_age_days=None)
    assert_type(prices, PriceCatalog)
    gpu = prices.accelerator_of("p4d.24xlarge")
    est = training_cost(
        params=7e9,
        tokens=(1.5e12, 2e12, 2.5e12),
        peak_flops=gpu.peak_flops,
        mfu=pert(0.3, 0.4, 0.5),
        devices=512,
        price_per_device_hour=prices.instance("p4d.24xlarge").price_per_accelerator_hour,
    )
    assert_type(est, CostEstimate)
    assert_type(est.expected, float)
    assert_type(est.breakdown, dict[str, float])
    assert_type(est.sensitivity, dict[str, float])
    assert est.low <= est.expected <= est.high
    assert abs(sum(est.breakdown.values()) - est.expected) <= 1e-6 * est.expected

    spread = triangular(1.0, 2.0, 4.0)
    assert_type(spread, Distribution)
    assert isinstance(spread, Distribution)
    assert isinstance(pert(0.3, 0.4, 0.5), Distribution)
    assert abs(float(spread.mean()) - 7.0 / 3.0) < 1e-12

    labels = simulate(labelling, {"items": (40_000, 50_000, 80_000), "price_per_label": 0.04})
    assert_type(labels, CostEstimate)
    assert sorted(labels.breakdown) == ["labels", "review"]

    serve = serving_cost(
        peak_rps=200.0, mean_rps=80.0, latency_s=0.05, concurrency=4, price_per_replica_hour=0.5
    )
    assert_type(serve, CostEstimate)
    small = serving_cost(
        peak_rps=100.0, mean_rps=40.0, latency_s=0.05, concurrency=4, price_per_replica_hour=0.5
    )
    table = compare({"large": serve, "small": small})
    assert_type(table, pd.DataFrame)
    assert_type(markdown_table(table), str)
    figure = plot_comparison(table)
    assert_type(figure, Figure)
    assert isinstance(figure, Figure)
    import matplotlib.pyplot as plt

    plt.close(figure)

    days = np.arange(0, 90, 3.0)
    curve = fit_decay(days, 0.80 + 0.10 * np.exp(-0.03 * days), kind="exponential")
    assert_type(curve, DecayCurve)
    plan = optimal_retrain_interval(800.0, curve=curve, value_per_unit=20_000.0)
    assert_type(plan, RetrainPlan)
    assert_type(plan.interval, float)
    decision = should_retrain(45, curve=curve, horizon=14, retrain_cost=800.0, value_per_unit=2e4)
    assert_type(decision, RetrainDecision)
    assert_type(decision.retrain, bool)


if __name__ == "__main__":
    main()
