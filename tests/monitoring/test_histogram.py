"""Histogram buckets, quantile estimate error bound, state round trip, bad input."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import ConfigError
from prodml.monitoring import Histogram
from prodml.monitoring.histogram import DEFAULT_LATENCY_BUCKETS

BOUNDS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)
values = st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=300)


def _bucket_of(x: float, bounds: tuple[float, ...]) -> tuple[float, float]:
    lower = -math.inf
    for b in bounds:
        if x <= b:
            return lower, b
        lower = b
    return lower, math.inf


@given(values, st.sampled_from([0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0]))
def test_quantile_lies_in_the_bucket_of_the_exact_quantile(xs: list[float], q: float) -> None:
    h = Histogram(BOUNDS)
    h.observe_many(xs)
    exact = float(np.quantile(np.array(xs), q, method="inverted_cdf"))
    lower, upper = _bucket_of(exact, BOUNDS)
    lower, upper = max(lower, min(xs)), min(upper, max(xs))
    est = h.quantile(q)
    assert lower - 1e-12 <= est <= upper + 1e-12
    assert abs(est - exact) <= (upper - lower) + 1e-12


@given(values)
def test_counts_sum_min_max(xs: list[float]) -> None:
    h = Histogram(BOUNDS)
    h.observe_many(xs)
    assert h.count == len(xs) == sum(h.bucket_counts) == h.cumulative_counts()[-1]
    assert h.sum == pytest.approx(sum(xs))
    assert (h.min, h.max) == (min(xs), max(xs))
    ref = np.histogram(xs, bins=[-np.inf, *BOUNDS, np.inf])[0]
    # numpy bins are [a, b); ours are (a, b] (Prometheus le): compare away from edges.
    if not set(xs) & set(BOUNDS):
        assert h.bucket_counts == ref.tolist()


def test_value_on_a_bound_goes_to_that_bucket() -> None:
    h = Histogram((1.0, 2.0))
    h.observe(1.0)
    h.observe(2.0)
    h.observe(2.5)
    assert h.bucket_counts == [1, 1, 1]


@given(values, values)
def test_merge_equals_one_pass(a: list[float], b: list[float]) -> None:
    ha, hb, hab = Histogram(BOUNDS), Histogram(BOUNDS), Histogram(BOUNDS)
    ha.observe_many(a)
    hb.observe_many(b)
    hab.observe_many(a + b)
    ha.merge(hb)
    assert ha.bucket_counts == hab.bucket_counts
    assert (ha.count, ha.min, ha.max) == (hab.count, hab.min, hab.max)
    assert ha.sum == pytest.approx(hab.sum)


def test_observe_repeated_equals_repeated_observe() -> None:
    a, b = Histogram(BOUNDS), Histogram(BOUNDS)
    a.observe_repeated(0.02, 5)
    a.observe_repeated(0.02, 0)
    for _ in range(5):
        b.observe(0.02)
    assert a.to_dict() == b.to_dict()


def test_round_trip_through_json() -> None:
    h = Histogram(DEFAULT_LATENCY_BUCKETS)
    h.observe_many([0.003, 0.2, 12.0])
    back = Histogram.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back.to_dict() == h.to_dict()
    empty = Histogram.from_dict(json.loads(json.dumps(Histogram().to_dict())))
    assert empty.count == 0
    assert math.isnan(empty.quantile(0.5))


def test_reset_and_copy_are_independent() -> None:
    h = Histogram(BOUNDS)
    h.observe(0.2)
    c = h.copy()
    h.reset()
    assert h.count == 0
    assert c.count == 1


@pytest.mark.parametrize(
    ("buckets", "match"),
    [
        ((), "at least one finite"),
        ((0.1, math.inf), "at least one finite"),
        ((0.1, 0.1), "strictly increasing"),
        ((0.2, 0.1), "strictly increasing"),
        (("a",), "sequence of numbers"),
        (None, "sequence of numbers"),
    ],
)
def test_bad_buckets(buckets: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Histogram(buckets)  # type: ignore[arg-type]


def test_bad_quantile_and_bad_state() -> None:
    h = Histogram(BOUNDS)
    with pytest.raises(ConfigError, match=r"quantile must be in \[0, 1\]"):
        h.quantile(1.5)
    state = h.to_dict()
    state["bucket_counts"][0] = 3
    with pytest.raises(ConfigError, match=r"'count' must be the sum of bucket_counts \(3\)"):
        Histogram.from_dict(state)
    state = h.to_dict()
    state["bucket_counts"][1] = -1
    with pytest.raises(ConfigError, match=r"'bucket_counts\[1\]' must be an int >= 0"):
        Histogram.from_dict(state)
    with pytest.raises(ConfigError, match="different buckets"):
        h.merge(Histogram((1.0,)))


@given(values)
def test_quantile_is_monotone_in_q_and_bounded_by_min_max(xs: list[float]) -> None:
    h = Histogram(BOUNDS)
    h.observe_many(xs)
    qs = [h.quantile(q) for q in np.linspace(0.0, 1.0, 21)]
    assert all(a <= b + 1e-15 for a, b in itertools.pairwise(qs))
    assert qs[0] == min(xs)
    assert qs[-1] <= max(xs)
