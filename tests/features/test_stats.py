"""Mergeable fit statistics: exactness, chunking independence, sketch error bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.features._stats import BLOCK, Counts, Extremes, Moments, Quantiles

finite = st.floats(-1e9, 1e9, allow_nan=False, width=64)


@given(st.lists(finite, min_size=1, max_size=3 * BLOCK + 5), st.lists(st.integers(0, 3500)))
def test_moments_are_chunking_independent(values: list[float], cuts: list[int]) -> None:
    x = np.array(values)
    one = Moments()
    one.update(x)
    chunked = Moments()
    bounds = sorted({min(c, x.size) for c in cuts})
    for a, b in zip([0, *bounds], [*bounds, x.size], strict=True):
        chunked.update(x[a:b])
    assert (chunked.mean(), chunked.var()) == (one.mean(), one.var())
    np.testing.assert_allclose(one.mean(), x.mean(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(one.var(), x.var(), rtol=1e-7, atol=1e-3)


def test_moments_merge_agrees_with_one_pass() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(1e6, 3.0, 10_000)
    a, b, whole = Moments(), Moments(), Moments()
    a.update(x[:3333])
    b.update(x[3333:])
    whole.update(x)
    a.merge(b)
    assert a.n == whole.n
    assert a.mean() == pytest.approx(whole.mean(), rel=1e-15)
    assert a.var() == pytest.approx(whole.var(), rel=1e-12)
    assert whole.var() == pytest.approx(np.var(x), rel=1e-12)
    empty = Moments()
    empty.merge(whole)
    assert empty.mean() == whole.mean()
    assert np.isnan(Moments().mean())


def test_moments_overflow_is_flagged() -> None:
    m = Moments()
    # Shifted by the first value, the spread 1.5e308 - -1.5e308 overflows float64.
    m.update(np.full(BLOCK, 1.5e308) * np.resize([1.0, -1.0], BLOCK))
    assert m.overflow
    assert m.var() == np.inf
    assert m.std() == np.inf


def test_moments_std_where_the_variance_is_not_a_float() -> None:
    big = Moments()
    big.update(np.full(BLOCK + 3, 1e300) * np.resize([1.0, -1.0], BLOCK + 3))
    assert not big.overflow
    assert big.var() == np.inf  # 1e600 is no float64; its square root is
    assert big.std() == pytest.approx(1e300 * np.sqrt(1 - (1 / (BLOCK + 3)) ** 2), rel=1e-15)
    tiny = Moments()
    tiny.update(np.array([1e-300, 2e-300, 3e-300, 0.0]))
    assert tiny.var() == 0.0  # 1.25e-600 underflows
    assert tiny.std() == pytest.approx(np.sqrt(1.25) * 1e-300, rel=1e-15)


def test_extremes_and_counts_merge_exactly() -> None:
    e1, e2 = Extremes(), Extremes()
    e1.update(np.array([3.0, -1.0]))
    e2.update(np.array([7.0]))
    e1.merge(e2)
    assert (e1.low, e1.high, e1.n) == (-1.0, 7.0, 3)
    c1, c2 = Counts(), Counts()
    c1.update(np.array([1.0, 2.0, 2.0]))
    c2.add(["x", 1.0], [1, 2])
    c1.merge(c2)
    assert c1.counts == {1.0: 3, 2.0: 2, "x": 1}
    tie = Counts()
    tie.add(["b", "a"], [2, 2])
    assert tie.most_frequent() == "a"


@given(st.lists(finite, min_size=1, max_size=200), st.lists(st.integers(0, 200)))
def test_quantiles_exact_below_capacity(values: list[float], cuts: list[int]) -> None:
    x = np.array(values)
    q = Quantiles(capacity=256)
    bounds = sorted({min(c, x.size) for c in cuts})
    for a, b in zip([0, *bounds], [*bounds, x.size], strict=True):
        q.update(x[a:b])
    assert q.exact
    assert q.rank_error_bound == 0.0
    qs = [0.0, 0.1, 0.5, 0.9, 1.0]
    assert q.quantiles(qs) == np.quantile(x, qs).tolist()


def test_quantile_sketch_respects_its_error_bound() -> None:
    rng = np.random.default_rng(0)
    x = rng.lognormal(0, 2, 200_000)
    q = Quantiles(capacity=1024)
    for a in range(0, x.size, 7777):
        q.update(x[a : a + 7777])
    assert not q.exact
    assert q.n == x.size
    bound = q.rank_error_bound
    assert 0 < bound < 0.01
    ranks = np.sort(x)
    probs = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    for p, est in zip(probs, q.quantiles(probs), strict=True):
        rank = np.searchsorted(ranks, est, side="right") / x.size
        assert abs(rank - p) <= bound + 1.0 / x.size, (p, rank, bound)


def test_quantile_sketch_is_chunking_independent_and_mergeable() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=50_000)
    a, b = Quantiles(capacity=512), Quantiles(capacity=512)
    a.update(x)
    for i in range(0, x.size, 999):
        b.update(x[i : i + 999])
    probs = [0.05, 0.5, 0.95]
    assert a.quantiles(probs) == b.quantiles(probs)
    left, right = Quantiles(capacity=512), Quantiles(capacity=512)
    left.update(x[:20_000])
    right.update(x[20_000:])
    left.merge(right)
    assert left.n == x.size
    for p, est in zip(probs, left.quantiles(probs), strict=True):
        rank = np.mean(x <= est)
        assert abs(rank - p) <= left.rank_error_bound + 2.0 / x.size
    small, other = Quantiles(capacity=512), Quantiles(capacity=512)
    small.update(x[:100])
    other.update(x[100:300])
    small.merge(other)
    assert small.exact
    assert small.quantiles([0.5]) == [float(np.quantile(x[:300], 0.5))]
    assert np.isnan(Quantiles().quantiles([0.5])[0])


@pytest.mark.parametrize(
    ("spread", "constant"),
    # mean 1e9, n 8: the bound is about (8 * eps * 1e9) ** 2, a deviation of 1.8e-6.
    [(0.0, True), (2**-23, True), (2**-20, True), (2**-18, False), (1.0, False)],
)
def test_moments_near_constant_is_the_bound_on_the_whole_stream(
    spread: float, constant: bool
) -> None:
    x = 1e9 + np.tile([0.0, spread], 4)
    one = Moments()
    one.update(x)
    assert one.near_constant() is constant
    halves = [Moments(), Moments()]
    halves[0].update(x[:3])
    halves[1].update(x[3:])
    halves[0].merge(halves[1])
    assert halves[0].near_constant() is constant
    # The bound is relative: the same values times 2**-900 (variance 0.0 in float64) or
    # 2**960 (inf) decide the same (a power of two scales them exactly).
    for factor in (2.0**-900, 2.0**960):
        far = Moments()
        far.update(x * factor)
        assert far.near_constant() is constant


@settings(deadline=None, max_examples=300)
@given(
    center=st.floats(-1e12, 1e12, allow_nan=False),
    spread=st.floats(0.0, 1e6, allow_nan=False),
    scale=st.sampled_from([1.0, 2.0**-600, 2.0**600]),
    n=st.integers(2, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_moments_near_constant_fast_path_agrees_with_the_exact_bound(
    center: float, spread: float, scale: float, n: int, seed: int
) -> None:
    # near_constant(std, mean) answers "not near-constant" from floats when the variance is
    # clearly above the bound; it must never answer differently from the exact test.
    x = (center + spread * np.random.default_rng(seed).standard_normal(n)) * scale
    m = Moments()
    m.update(x[np.isfinite(x)])
    if m.n == 0 or m.overflow:
        return
    assert m.near_constant(m.std(), m.mean()) is m.near_constant()
