"""Storage, egress, the comparison table and plot, and break-even volumes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.cost import (
    BatchOption,
    CostEstimate,
    RealtimeOption,
    break_even_volume,
    compare,
    egress_cost,
    load_catalog,
    plot_comparison,
    serving_cost,
    storage_cost,
)
from prodml.errors import ConfigError


def test_storage_with_growth_and_copies():
    price = load_catalog(max_age_days=None).storage_price("aws-s3-standard")
    est = storage_cost(gb=500, growth_gb_per_month=50, months=6, copies=2, price_per_gb_month=price)
    gb_months = 2 * (6 * 500 + 50 * 36 / 2)
    assert est.details["gb_months"] == pytest.approx(gb_months)
    assert est.expected == pytest.approx(gb_months * 0.023)
    assert est.unit == "per 6 months"
    with pytest.raises(ConfigError, match="'months'"):
        storage_cost(gb=1, price_per_gb_month=0.02, months=0)
    with pytest.raises(ConfigError, match="'gb'"):
        storage_cost(gb=-1, price_per_gb_month=0.02)


def test_egress_flat_tiered_and_bad_price():
    assert egress_cost(gb=100, price=0.09).expected == pytest.approx(9.0)
    gcp = load_catalog(max_age_days=None).egress_price("gcp-internet-premium")
    assert egress_cost(gb=2048, price=gcp).expected == pytest.approx(1024 * 0.12 + 1024 * 0.11)
    with pytest.raises(ConfigError, match="'price'"):
        egress_cost(gb=1, price="cheap")  # type: ignore[arg-type]
    est = egress_cost(gb=(1000, 5000, 20_000), price=gcp)
    assert est.low < est.expected < est.high


@given(a=st.floats(0, 1e6), b=st.floats(0, 1e6), growth=st.floats(0, 1e3))
def test_more_data_never_costs_less(a, b, growth):
    lo, hi = sorted((a, b))
    aws = load_catalog(max_age_days=None).egress_price("aws-internet")
    assert egress_cost(gb=lo, price=aws).expected <= egress_cost(gb=hi, price=aws).expected
    assert (
        storage_cost(gb=lo, growth_gb_per_month=growth, price_per_gb_month=0.02).expected
        <= storage_cost(gb=hi, growth_gb_per_month=growth, price_per_gb_month=0.02).expected
    )


OPTIONS = [
    RealtimeOption("cpu", price_per_replica_hour=0.17, latency_s=0.02, min_replicas=2),
    RealtimeOption("gpu", price_per_replica_hour=0.526, latency_s=0.004, concurrency=8),
    BatchOption("batch", price_per_instance_hour=0.17, rows_per_second=2000, startup_s=120),
]


def test_relative_beside_a_free_option():
    free = CostEstimate.point({"compute": 0.0}, currency="USD", unit="per month")
    paid = CostEstimate.point({"compute": 10.0}, currency="USD", unit="per month")
    table = compare({"paid": paid, "free": free, "also free": free})
    assert list(table.index) == ["free", "also free", "paid"]
    assert table["relative"].tolist() == [1.0, 1.0, math.inf]
    credit = CostEstimate.point({"compute": -5.0}, currency="USD", unit="per month")
    table = compare({"paid": paid, "credit": credit})
    assert math.isnan(table.loc["paid", "relative"])
    assert math.isnan(table.loc["credit", "relative"])


def test_compare_table_is_sorted_with_parts_and_per_1k():
    table = compare(OPTIONS, predictions_per_month=5e7)
    assert list(table.index) == ["batch", "cpu", "gpu"]
    assert table["expected"].is_monotonic_increasing
    assert table.loc["batch", "relative"] == 1.0
    assert table.loc["cpu", "expected"] == pytest.approx(2 * 0.17 * 730)
    assert table.loc["cpu", "startup"] == 0.0  # cpu has no startup part
    parts = ["compute", "startup"]
    np.testing.assert_allclose(table[parts].sum(axis=1), table["expected"], rtol=1e-12)
    np.testing.assert_allclose(table["per_1k"], table["expected"] / 5e4, rtol=1e-12)
    assert set(table["unit"]) == {"per month"}


def test_compare_named_estimates_and_errors():
    a = serving_cost(peak_rps=10, latency_s=0.1, price_per_replica_hour=1.0)
    b = serving_cost(peak_rps=100, latency_s=0.1, price_per_replica_hour=1.0)
    table = compare({"small": a, "big": b})
    assert list(table.index) == ["small", "big"]
    assert "per_1k" not in table
    with pytest.raises(ConfigError, match="differ in unit"):
        compare({"a": a, "b": a.scale(1.0, unit="per day")})
    with pytest.raises(ConfigError, match="predictions_per_month"):
        compare(OPTIONS)
    with pytest.raises(ConfigError, match="at least one"):
        compare({})
    with pytest.raises(ConfigError, match="appears twice"):
        compare([OPTIONS[0], OPTIONS[0]], predictions_per_month=1e6)
    with pytest.raises(ConfigError, match="not a CostEstimate"):
        compare({"a": 3.0})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="RealtimeOption or BatchOption"):
        compare([a], predictions_per_month=1e6)  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="'predictions_per_month'"):
        compare(OPTIONS, predictions_per_month=0)


def test_plot_bar_heights_match_the_table():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = compare(OPTIONS, predictions_per_month=2e8)
    fig = plot_comparison(table, title="test")
    try:
        ax = fig.axes[0]
        parts = ["compute", "startup"]
        bars = list(ax.patches)
        assert len(bars) == len(parts) * len(table)
        heights = np.array([b.get_height() for b in bars]).reshape(len(parts), len(table))
        np.testing.assert_allclose(heights.sum(axis=0), table["expected"], rtol=1e-12)
        np.testing.assert_allclose(heights[0], table["compute"], rtol=1e-12)
        assert [t.get_text() for t in ax.get_xticklabels()] == list(table.index)
        assert ax.get_ylabel() == "USD per month"
        assert ax.get_title() == "test"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == parts
    finally:
        plt.close(fig)
    with pytest.raises(ConfigError, match="'expected'"):
        plot_comparison(pd.DataFrame({"x": [1]}))


def test_break_even_cpu_vs_gpu():
    cpu = RealtimeOption("cpu", price_per_replica_hour=0.17, latency_s=0.05, concurrency=2)
    gpu = RealtimeOption("gpu", price_per_replica_hour=0.526, latency_s=0.01, concurrency=8)
    be = break_even_volume(cpu, gpu)
    assert (be.cheaper_below, be.cheaper_above) == ("cpu", "gpu")
    # CPU needs a 4th replica (124.1 * 4 > 384.0) once peak > 3 * 28 rps: mean 28 rps.
    assert be.volume == pytest.approx(28 * 3600 * 730, rel=1e-9)
    assert (
        cpu.monthly_cost(be.volume * 0.999).expected < gpu.monthly_cost(be.volume * 0.999).expected
    )
    assert (
        cpu.monthly_cost(be.volume * 1.001).expected > gpu.monthly_cost(be.volume * 1.001).expected
    )


def test_break_even_realtime_vs_batch_with_functions():
    rt = RealtimeOption("rt", price_per_replica_hour=0.17, latency_s=0.02)

    def batch(v):
        return 1e-5 * v  # a per-prediction managed service

    be = break_even_volume(batch, rt)
    fixed = 0.17 * 730
    assert be.volume == pytest.approx(fixed / 1e-5, rel=1e-9)
    assert (be.cheaper_below, be.cheaper_above) == ("batch", "rt")
    assert break_even_volume(rt, lambda v: 1e9) is None
    with pytest.raises(ConfigError, match="'high' must exceed"):
        break_even_volume(rt, batch, low=10, high=1)
    with pytest.raises(ConfigError, match="must be RealtimeOption"):
        break_even_volume(rt, 3.0)  # type: ignore[arg-type]


def test_option_volume_must_be_positive():
    with pytest.raises(ConfigError, match="'predictions_per_month'"):
        OPTIONS[0].monthly_cost(0.0)
    assert math.isfinite(OPTIONS[2].monthly_cost(1.0).expected)
