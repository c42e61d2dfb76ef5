"""M/M/c formulas against independent references: exact arithmetic and a simulation.

The references are written from the textbook definitions, not from prodml's code:

- Erlang C from the factorial sums ``a^c / c! * c / (c - a)`` over ``sum_{k<c} a^k / k!``
  in 60-digit mpmath arithmetic (no overflow of ``c^c / c!`` there);
- the response-time survival ``P(W + S > t)`` from the same sums, and its quantile by
  mpmath's root finder;
- a seeded discrete-event simulation of a FCFS queue with ``c`` servers (numpy draws,
  each arrival taking the earliest free server).
"""

from __future__ import annotations

import heapq

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.cost import erlang_c, mmc_response_quantile, mmc_response_survival, serving_cost
from prodml.errors import ConfigError

mp.mp.dps = 60


def erlang_c_exact(c: int, a: float) -> mp.mpf:
    am = mp.mpf(a)
    below = mp.fsum(am**k / mp.factorial(k) for k in range(c))
    top = am**c / mp.factorial(c) * c / (c - am)
    return top / (below + top)


def survival_exact(t: float, c: int, lam: float, s: float) -> mp.mpf:
    """P(W + S > t): W = 0 w.p. 1 - C, else Exp(c mu - lam); S ~ Exp(mu)."""
    pw = erlang_c_exact(c, mp.mpf(lam) * mp.mpf(s))
    mu = 1 / mp.mpf(s)
    theta = c * mu - mp.mpf(lam)
    tm = mp.mpf(t)
    if abs(theta - mu) < mp.mpf(10) ** -40:
        both = mp.exp(-mu * tm) * (1 + mu * tm)  # the Erlang-2 tail
    else:
        both = (theta * mp.exp(-mu * tm) - mu * mp.exp(-theta * tm)) / (theta - mu)
    return (1 - pw) * mp.exp(-mu * tm) + pw * both


# -- Erlang C --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "a"),
    [
        (1, 0.5),
        (3, 2.0),
        (1, 0.9999999),  # utilisation 0.9999999
        (2, 1.9999998),
        (10, 9.999999),
        (100, 99.99999),
        (170, 150.0),  # 170! is the last factorial below the float limit
        (171, 150.0),  # 171! and 171^171 overflow a float
        (1000, 999.9),
        (5000, 4999.0),
        (20000, 19000.0),
    ],
)
def test_erlang_c_matches_exact_arithmetic_at_small_and_huge_fleets(c: int, a: float) -> None:
    # scipy's Poisson log-cdf loses digits as c grows: 1e-15 relative at c ~ 100, 1e-12
    # measured at c = 1e5; 1e-10 is the stated tolerance over this range.
    assert float(erlang_c(c, a)) == pytest.approx(float(erlang_c_exact(c, a)), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 400), util=st.floats(0.0, 1.0, exclude_max=True))
def test_erlang_c_matches_exact_arithmetic_for_any_utilisation(c: int, util: float) -> None:
    a = util * c
    if a >= c:  # util * c rounds up to c for util within an ulp of 1
        return
    assert float(erlang_c(c, a)) == pytest.approx(float(erlang_c_exact(c, a)), rel=1e-10)


def test_erlang_c_for_a_million_servers_is_a_probability_and_increases_with_load() -> None:
    c = 1e6
    got = erlang_c(c, np.array([999_000.0, 999_900.0, 999_990.0, 999_999.9]))
    assert np.all(np.isfinite(got))
    assert np.all((got > 0) & (got < 1))
    assert np.all(np.diff(got) > 0)


def test_a_fraction_of_a_server_is_refused_not_a_zero_wait() -> None:
    # Before: erlang_c(2.5, 1.0) was 0.0 (the Poisson pmf is 0 off the integers).
    with pytest.raises(ConfigError, match="whole number of servers") as err:
        erlang_c(2.5, 1.0)
    assert err.value.parameter == "servers"
    with pytest.raises(ConfigError, match="whole number of servers"):
        mmc_response_quantile(0.99, servers=[2.0, 3.5], arrival_rate=1.0, service_time=0.1)


@pytest.mark.parametrize(("c", "a"), [(2, 2.0), (3, 4.5), (1, 1.0000001)])
def test_an_unstable_queue_is_refused_with_its_utilisation(c: int, a: float) -> None:
    with pytest.raises(ConfigError, match="unstable") as err:
        erlang_c(c, a)
    assert err.value.parameter == "load"
    assert f"{a / c:.6g}" in str(err.value)
    with pytest.raises(ConfigError, match="unstable"):
        mmc_response_quantile(0.5, servers=c, arrival_rate=a / 0.1, service_time=0.1)


def test_a_negative_load_is_refused() -> None:
    with pytest.raises(ConfigError, match="load must be >= 0") as err:
        erlang_c(3, -0.5)
    assert err.value.parameter == "load"


# -- response time ---------------------------------------------------------------------

_QUEUES = [
    (1, 5.0, 0.1),
    (3, 20.0, 0.1),  # theta = mu: the Erlang-2 branch
    (4, 30.0, 0.1),
    (1, 9.99999, 0.1),  # utilisation 0.999999
    (100, 999.0, 0.1),
    (1000, 9999.0, 0.1),
]


@pytest.mark.parametrize(("c", "lam", "s"), _QUEUES)
@pytest.mark.parametrize("q", [0.5, 0.99, 0.999999])
def test_response_quantile_solves_the_exact_survival(
    c: int, lam: float, s: float, q: float
) -> None:
    got = float(mmc_response_quantile(q, servers=c, arrival_rate=lam, service_time=s))
    ref = mp.findroot(lambda t: survival_exact(t, c, lam, s) - (1 - q), got)
    # The reference uses mu = 1/s exactly; the float 1/s has a relative error of ~1e-16,
    # which theta = c mu - lambda magnifies by c mu / theta (1e6 at utilisation 0.999999).
    cond = c / s / (c / s - lam)
    assert got == pytest.approx(float(ref), rel=1e-13 * max(cond, 1.0))


def test_survival_of_a_negative_time_is_one() -> None:
    # Before: P(R > -1) was 9788.8 for an M/M/1 queue at mu = 10, lambda = 5.
    got = mmc_response_survival([-1.0, -1e-9, 0.0], servers=1, arrival_rate=5.0, service_time=0.1)
    assert got.tolist() == [1.0, 1.0, 1.0]


def simulate_mmc(c: int, lam: float, s: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Waits and response times of ``n`` customers of a FCFS M/M/c queue (after warm-up)."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / lam, size=n))
    service = rng.exponential(s, size=n)
    free = [0.0] * c  # the time each server next becomes free, as a heap
    waits = np.empty(n)
    for i in range(n):
        start = max(arrivals[i], free[0])
        waits[i] = start - arrivals[i]
        heapq.heapreplace(free, start + service[i])
    warm = n // 10
    return waits[warm:], waits[warm:] + service[warm:]


@pytest.mark.parametrize(("c", "lam", "s"), [(1, 7.0, 0.1), (4, 30.0, 0.1), (16, 140.0, 0.1)])
def test_waiting_probability_and_quantiles_match_a_simulation(c: int, lam: float, s: float) -> None:
    waits, response = simulate_mmc(c, lam, s, n=200_000, seed=7)

    def agrees(hits: np.ndarray, p: float) -> bool:
        # Customers in a queue are correlated; 60 batch means give an honest standard
        # error. The tolerance is 4 of them (plus 2e-3 for the warm-up's small bias).
        batches = hits.reshape(60, -1).mean(axis=1)
        se = batches.std(ddof=1) / np.sqrt(batches.size)
        return bool(abs(batches.mean() - p) < 4.0 * se + 2e-3)

    assert agrees(waits > 0, float(erlang_c(c, lam * s)))
    for q in (0.5, 0.9, 0.99):
        model = float(mmc_response_quantile(q, servers=c, arrival_rate=lam, service_time=s))
        # The model's q-quantile leaves 1 - q of the simulated response times above it.
        assert agrees(response > model, 1.0 - q)


def test_serving_slo_uses_the_same_quantile_as_the_queue() -> None:
    est = serving_cost(
        peak_rps=200.0, latency_s=0.05, concurrency=4, price_per_replica_hour=1.0, slo_s=0.25
    )
    c = int(est.details["replicas"]) * 4
    ref = mp.findroot(
        lambda t: survival_exact(t, c, 200.0, 0.05) - mp.mpf("0.01"),
        est.details["latency_quantile_s"],
    )
    assert est.details["latency_quantile_s"] == pytest.approx(float(ref), rel=1e-12)
