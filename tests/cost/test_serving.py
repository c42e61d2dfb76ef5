"""Serving: Little's law sizing, Erlang C, M/M/c latency, batch scoring, monotonicity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

from prodml.cost import (
    BatchOption,
    RealtimeOption,
    batch_scoring_cost,
    erlang_c,
    mmc_response_quantile,
    mmc_response_survival,
    serving_cost,
)
from prodml.errors import ConfigError


def erlang_c_textbook(c: int, a: float) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (math.fsum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize(
    ("c", "a", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: P(wait) = rho
        (2, 1.0, 1.0 / 3.0),
        (3, 2.0, 4.0 / 9.0),  # Kleinrock (1975) / standard Erlang C table
        (10, 8.0, 0.4092),  # Erlang C table, 10 agents, 8 Erlangs (4 d.p.)
    ],
)
def test_erlang_c_table_values(c, a, expected):
    assert float(erlang_c(c, a)) == pytest.approx(expected, abs=5e-5)


@given(c=st.integers(1, 40), frac=st.floats(0.0, 0.99))
def test_erlang_c_matches_the_factorial_formula(c, frac):
    a = frac * c
    assert float(erlang_c(c, a)) == pytest.approx(erlang_c_textbook(c, a), rel=1e-9, abs=1e-300)


def test_erlang_c_is_stable_for_large_fleets():
    got = erlang_c(np.array([2000.0]), np.array([1900.0]))
    assert 0.0 < float(got[0]) < 1.0
    with pytest.raises(ConfigError, match="unstable"):
        erlang_c(2, 2.0)
    with pytest.raises(ConfigError, match="whole number of servers"):
        erlang_c(0, 0.5)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_mm1_response_quantile_closed_form(q):
    got = float(mmc_response_quantile(q, servers=1, arrival_rate=6.0, service_time=0.1))
    assert got == pytest.approx(-math.log(1 - q) / (10.0 - 6.0), rel=1e-10)


@pytest.mark.parametrize(
    ("c", "lam", "s"), [(1, 5.0, 0.1), (4, 30.0, 0.1), (8, 70.0, 0.1), (3, 1.0, 1.0)]
)
def test_mean_response_time_identity(c, lam, s):
    # E[T] = C(c, a) / (c mu - lambda) + 1 / mu; and Little: L = lambda E[T].
    mean_t = integrate.quad(
        lambda t: float(mmc_response_survival(t, servers=c, arrival_rate=lam, service_time=s)),
        0,
        np.inf,
    )[0]
    expected = float(erlang_c(c, lam * s)) / (c / s - lam) + s
    assert mean_t == pytest.approx(expected, rel=1e-7)


def test_quantile_inverts_survival():
    q = mmc_response_quantile(
        0.95, servers=np.array([2, 16]), arrival_rate=np.array([15.0, 150.0]), service_time=0.1
    )
    sf = mmc_response_survival(
        q, servers=np.array([2, 16]), arrival_rate=np.array([15.0, 150.0]), service_time=0.1
    )
    np.testing.assert_allclose(sf, 0.05, rtol=1e-9)
    with pytest.raises(ConfigError, match="quantile"):
        mmc_response_quantile(1.0, servers=1, arrival_rate=1.0, service_time=0.1)


def test_littles_law_sizing_golden():
    est = serving_cost(
        peak_rps=200.0,
        mean_rps=80.0,
        latency_s=0.05,
        concurrency=4,
        price_per_replica_hour=0.526,
        min_replicas=2,
        slo_s=0.25,
    )
    d = est.details
    assert d["throughput_per_replica"] * 0.05 == pytest.approx(4.0)  # L = lambda W
    assert d["replicas"] == 4.0  # ceil(200 / (0.7 * 80)) = ceil(3.57)
    assert d["utilization"] == pytest.approx(200.0 / (4 * 80.0))
    assert est.expected == pytest.approx(4 * 0.526 * 730)
    assert d["predictions"] == pytest.approx(80.0 * 3600 * 730)
    assert d["cost_per_1k"] == pytest.approx(est.expected / d["predictions"] * 1000)
    assert d["p_wait"] == pytest.approx(erlang_c_textbook(16, 10.0), rel=1e-9)
    assert d["slo_met"] == 1.0
    assert d["latency_quantile_s"] > -math.log(0.01) * 0.05  # at least the service p99


def test_per_1k_equals_the_detail():
    kw = {"peak_rps": 50.0, "latency_s": 0.1, "price_per_replica_hour": 1.0, "fixed_per_month": 20}
    month = serving_cost(**kw)
    per_1k = serving_cost(**kw, per="1k")
    assert per_1k.expected == pytest.approx(month.details["cost_per_1k"], rel=1e-12)
    assert per_1k.unit == "per 1k predictions"
    assert set(per_1k.breakdown) == {"compute", "fixed"}


def test_min_replicas_and_exact_fit():
    assert (
        serving_cost(
            peak_rps=0.1, latency_s=0.1, price_per_replica_hour=1.0, min_replicas=3
        ).details["replicas"]
        == 3.0
    )
    # 70 rps on 100 rps replicas at 0.7 fits exactly in one replica.
    assert (
        serving_cost(
            peak_rps=70.0, latency_s=0.01, price_per_replica_hour=1.0, target_utilization=0.7
        ).details["replicas"]
        == 1.0
    )


def test_slo_missed_when_tighter_than_service_time():
    est = serving_cost(
        peak_rps=10.0, latency_s=0.2, price_per_replica_hour=1.0, slo_s=0.1, slo_quantile=0.9
    )
    assert est.details["slo_met"] == 0.0
    assert "M/M/c" in est.assumptions["latency model"]


def test_uncertain_traffic_gives_an_slo_probability():
    est = serving_cost(
        peak_rps=(50.0, 100.0, 400.0),
        latency_s=0.05,
        concurrency=2,
        price_per_replica_hour=0.5,
        slo_s=0.3,
        target_utilization=0.9,
        seed=1,
    )
    assert 0.0 < est.details["slo_met"] < 1.0
    assert list(est.sensitivity) == ["peak_rps"]
    assert est.low < est.high


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_utilization": 1.0}, "'target_utilization'"),
        ({"concurrency": 0}, "'concurrency'"),
        ({"min_replicas": 0}, "'min_replicas'"),
        ({"per": "year"}, "'per'"),
        ({"slo_s": 0.0}, "'slo_s'"),
        ({"slo_quantile": 1.0}, "'slo_quantile'"),
        ({"peak_rps": -1.0}, "'peak_rps'"),
        ({"peak_rps": math.nan}, "'peak_rps'"),
        ({"mean_rps": -0.5}, "'mean_rps'"),
        ({"latency_s": -1.0}, "'latency_s'"),
        ({"price_per_replica_hour": None}, "'price_per_replica_hour'"),
    ],
)
def test_bad_serving_inputs(kwargs, match):
    base = {"peak_rps": 10.0, "latency_s": 0.1, "price_per_replica_hour": 1.0}
    with pytest.raises(ConfigError, match=match):
        serving_cost(**{**base, **kwargs})


def test_an_idle_endpoint_costs_its_min_replicas():
    # A staging endpoint, or one not launched yet: no traffic, min_replicas always on.
    est = serving_cost(
        peak_rps=0.0, latency_s=0.05, price_per_replica_hour=0.5, min_replicas=2, slo_s=0.5
    )
    assert est.expected == pytest.approx(2 * 0.5 * 730)
    assert est.details["replicas"] == 2.0
    assert est.details["utilization"] == 0.0
    assert est.details["p_wait"] == 0.0
    assert est.details["predictions"] == 0.0
    assert "cost_per_1k" not in est.details  # nothing to divide by
    # With no queue, response time is the service time: exponential, p99 = -ln(0.01) s.
    assert est.details["latency_quantile_s"] == pytest.approx(-math.log(0.01) * 0.05)
    assert est.details["slo_met"] == 1.0


def test_no_mean_traffic_keeps_the_peak_sizing():
    busy = serving_cost(peak_rps=100.0, latency_s=0.05, price_per_replica_hour=0.5)
    quiet = serving_cost(peak_rps=100.0, mean_rps=0.0, latency_s=0.05, price_per_replica_hour=0.5)
    assert quiet.expected == busy.expected
    assert "cost_per_1k" in busy.details
    assert "cost_per_1k" not in quiet.details


def test_cost_per_1k_without_traffic_is_refused():
    with pytest.raises(ConfigError, match="per='1k' needs traffic") as info:
        serving_cost(peak_rps=0.0, latency_s=0.05, price_per_replica_hour=0.5, per="1k")
    assert info.value.parameter == "per"


def test_batch_scoring_golden():
    est = batch_scoring_cost(
        predictions=3.6e7,
        rows_per_second=1000,
        price_per_instance_hour=0.5,
        jobs=10,
        instances=2,
        startup_s=180,
    )
    assert est.breakdown["compute"] == pytest.approx(10 * 0.5)
    assert est.breakdown["startup"] == pytest.approx(10 * 2 * 0.05 * 0.5)
    assert est.details["instance_hours"] == pytest.approx(11.0)
    assert est.details["job_wall_hours"] == pytest.approx(0.5 + 0.05)
    with pytest.raises(ConfigError, match="'jobs'"):
        batch_scoring_cost(predictions=1, rows_per_second=1, price_per_instance_hour=1, jobs=0)


@given(
    a=st.floats(0.01, 1e4),
    b=st.floats(0.01, 1e4),
    conc=st.integers(1, 16),
    util=st.floats(0.05, 0.95),
)
def test_more_traffic_never_costs_less(a, b, conc, util):
    lo, hi = sorted((a, b))

    def cost(rps):
        return serving_cost(
            peak_rps=rps,
            latency_s=0.03,
            concurrency=conc,
            price_per_replica_hour=0.7,
            target_utilization=util,
            fixed_per_month=10.0,
        ).expected

    assert cost(lo) <= cost(hi)


@given(a=st.floats(1e3, 1e11), b=st.floats(1e3, 1e11))
def test_more_volume_never_costs_less_for_any_option(a, b):
    lo, hi = sorted((a, b))
    options = [
        RealtimeOption("rt", price_per_replica_hour=0.5, latency_s=0.02, concurrency=4),
        BatchOption("batch", price_per_instance_hour=0.17, rows_per_second=2000, startup_s=60),
    ]
    for opt in options:
        assert opt.monthly_cost(lo).expected <= opt.monthly_cost(hi).expected


def test_mean_above_peak_is_rejected():
    with pytest.raises(ConfigError, match="'mean_rps' must not exceed 'peak_rps'"):
        serving_cost(peak_rps=10.0, mean_rps=20.0, latency_s=0.1, price_per_replica_hour=1.0)
    with pytest.raises(ConfigError, match="'peak_to_mean'"):
        RealtimeOption(
            "x", price_per_replica_hour=1.0, latency_s=0.1, peak_to_mean=0.5
        ).monthly_cost(1e6)


def test_mmc_quantile_matches_a_discrete_event_simulation():
    import heapq

    rng = np.random.default_rng(5)
    c, lam, s, n = 4, 30.0, 0.1, 100_000
    arrivals = np.cumsum(rng.exponential(1 / lam, n))
    services = rng.exponential(s, n)
    free = [0.0] * c  # FCFS: each arrival takes the server that frees up first
    response = np.empty(n)
    for i in range(n):
        start = max(arrivals[i], heapq.heappop(free))
        heapq.heappush(free, start + services[i])
        response[i] = start + services[i] - arrivals[i]
    response = response[n // 10 :]  # drop the warm-up
    for q in (0.5, 0.9, 0.99):
        model = float(mmc_response_quantile(q, servers=c, arrival_rate=lam, service_time=s))
        assert np.quantile(response, q) == pytest.approx(model, rel=0.04)
    waited = np.mean(response > services[n // 10 :] + 1e-12)
    assert waited == pytest.approx(float(erlang_c(c, lam * s)), abs=0.02)
