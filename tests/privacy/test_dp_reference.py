"""DP releases against independent references: textbook formulas, scipy, OpenDP.

An audit of ``prodml.privacy_dp``: each noise scale against the published calibration,
the samplers' empirical distributions against the declared ones (seeded, so the
goodness-of-fit tests are deterministic), the budget's never-overspend property, and the
sensitivity of every declared domain (adding one row, whatever its value, moves one
count of each part by one).
"""

from __future__ import annotations

import math
from fractions import Fraction
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from prodml.drift import Profile
from prodml.errors import ConfigError
from prodml.privacy_dp import (
    Bins,
    Categories,
    Groups,
    Noise,
    PrivacyBudget,
    PrivacyBudgetError,
    calibrate,
    privacy_loss,
    release_counts,
)
from prodml.privacy_dp import _noise as noise_module
from prodml.privacy_dp import _sources as sources_module
from prodml.privacy_dp._noise import discrete_gaussian, discrete_laplace, sample
from prodml.privacy_dp._sources import profile_counts

dp = pytest.importorskip("opendp.prelude", reason="needs the 'privacy' extra (OpenDP)")
dp.enable_features("contrib")


# -- calibration against the textbook ------------------------------------------------


@pytest.mark.parametrize("n_parts", [1, 4, 17])
@pytest.mark.parametrize("epsilon", [0.01, 0.3, 1.0, 8.0])
def test_laplace_scale_is_the_textbook_one_and_minimal(n_parts: int, epsilon: float) -> None:
    # Dwork et al. 2006: b = sensitivity / epsilon; n parts of sensitivity 1 each, basic
    # composition: b = n / epsilon.
    scale = calibrate("laplace", epsilon, 0.0, n_parts)
    assert scale == pytest.approx(n_parts / epsilon, rel=1e-10)  # nudged for rounding
    assert privacy_loss("laplace", scale, n_parts) <= epsilon
    # Not wasteful: a scale 1e-9 smaller would overspend.
    assert privacy_loss("laplace", scale * (1 - 1e-9), n_parts) > epsilon


def _cks_delta(rho: float, epsilon: float) -> float:
    """Canonne, Kamath and Steinke 2020 (Prop. 12): delta of rho-zCDP at epsilon."""

    def log_delta(log_am1: float) -> float:
        a = 1.0 + math.exp(log_am1)
        return (a - 1) * (a * rho - epsilon) - math.log(a - 1) + a * math.log1p(-1 / a)

    res = optimize.minimize_scalar(
        log_delta, bounds=(-20.0, 20.0), method="bounded", options={"xatol": 1e-12}
    )
    return min(math.exp(float(res.fun)), 1.0)


@pytest.mark.parametrize("n_parts", [1, 3])
@pytest.mark.parametrize(("epsilon", "delta"), [(1.0, 1e-6), (0.2, 1e-5), (4.0, 1e-9)])
def test_gaussian_scale_against_zcdp_formulas(n_parts: int, epsilon: float, delta: float) -> None:
    scale = calibrate("gaussian", epsilon, delta, n_parts)
    rho = n_parts / (2 * scale**2)  # Bun and Steinke 2016: rho = sensitivity^2 / (2 sigma^2)
    # The conversion OpenDP uses (CKS20), recomputed here: the release meets delta at epsilon.
    assert _cks_delta(rho, epsilon) <= delta * (1 + 1e-6)
    assert _cks_delta(rho, epsilon) == pytest.approx(delta, rel=1e-2)  # and is tight
    # ... and it is tighter than the classic conversion rho + 2 sqrt(rho ln(1/delta)).
    assert rho + 2 * math.sqrt(rho * math.log(1 / delta)) >= epsilon
    # The classic analytic Gaussian (Balle and Wang 2018) of the same sigma for the
    # L2 sensitivity sqrt(n) is (epsilon', delta)-DP with epsilon' below epsilon:
    # continuous and discrete Gaussians of one sigma cost alike to within a small slack.
    sens = math.sqrt(n_parts)

    def bw_delta(eps: float) -> float:
        a, b = sens / (2 * scale), eps * scale / sens
        return float(stats.norm.cdf(a - b) - math.exp(eps) * stats.norm.cdf(-a - b))

    assert bw_delta(epsilon) <= delta * 1.05


# -- the samplers' distributions -----------------------------------------------------


def _dlaplace_pmf(scale: float, support: np.ndarray) -> np.ndarray:
    a = math.exp(-1 / scale)
    return (1 - a) / (1 + a) * a ** np.abs(support)


def _dgauss_pmf(sigma: float, support: np.ndarray) -> np.ndarray:
    wide = np.arange(-int(40 * sigma) - 40, int(40 * sigma) + 41)
    z = np.exp(-(wide.astype(float) ** 2) / (2 * sigma**2)).sum()
    return np.exp(-(support.astype(float) ** 2) / (2 * sigma**2)) / z


def _chi_square_p(draws: np.ndarray, pmf: np.ndarray, support: np.ndarray) -> float:
    """Goodness of fit on the support, tails pooled so every expected count is >= 20."""
    n = draws.size
    counts = np.array([(draws == k).sum() for k in support], dtype=float)
    expected = pmf * n
    keep = expected >= 20
    obs = [*counts[keep], n - counts[keep].sum()]
    exp = [*expected[keep], n - expected[keep].sum()]
    return float(stats.chisquare(obs, exp).pvalue)


def _discrete_ks_p(draws: np.ndarray, cdf: object, support: np.ndarray) -> float:
    """KS distance of the empirical CDF at the support points; its continuous-case p-value
    is conservative for a discrete law (scipy's kstest assumes no ties, so not it)."""
    empirical = np.searchsorted(np.sort(draws), support, side="right") / draws.size
    d = float(np.max(np.abs(empirical - cdf(support))))  # type: ignore[operator]
    return float(stats.kstwo.sf(d, draws.size))


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5, 40.0])
def test_seeded_discrete_laplace_is_the_declared_distribution(scale: float) -> None:
    draws = discrete_laplace(np.random.default_rng(11), scale, 200_000)
    support = np.arange(-int(30 * scale) - 5, int(30 * scale) + 6)
    assert _chi_square_p(draws, _dlaplace_pmf(scale, support), support) > 1e-3
    # scipy's own discrete Laplace, P(k) ~ exp(-a |k|) with a = 1 / scale: KS (discrete,
    # so conservative) and the variance Noise declares.
    ref = stats.dlaplace(1 / scale)
    assert _discrete_ks_p(draws, ref.cdf, support) > 1e-3
    assert Noise("laplace", scale).variance == pytest.approx(ref.var(), rel=1e-12)


@pytest.mark.parametrize("sigma", [0.4, 1.0, 3.0, 25.0])
def test_seeded_discrete_gaussian_is_the_declared_distribution(sigma: float) -> None:
    draws = discrete_gaussian(np.random.default_rng(12), sigma, 200_000)
    support = np.arange(-int(8 * sigma) - 3, int(8 * sigma) + 4)
    pmf = _dgauss_pmf(sigma, support)
    assert _chi_square_p(draws, pmf, support) > 1e-3
    var = float((pmf * support.astype(float) ** 2).sum())
    assert var <= Noise("gaussian", sigma).variance * (1 + 1e-12)  # sigma^2 bounds it (CKS20)


@pytest.mark.parametrize(("mechanism", "scale"), [("laplace", 2.0), ("gaussian", 2.0)])
def test_opendp_sampler_is_the_declared_distribution(mechanism: str, scale: float) -> None:
    # The secure path (rng=None) is not seeded: a strict threshold keeps it from flaking.
    draws = sample(mechanism, scale, np.zeros(100_000, dtype=np.int64), None)
    support = np.arange(-60, 61)
    pmf = _dlaplace_pmf(scale, support) if mechanism == "laplace" else _dgauss_pmf(scale, support)
    assert _chi_square_p(draws, pmf, support) > 1e-6


# -- the budget: never overspent, and a refusal changes nothing -----------------------


spends = st.lists(
    st.tuples(
        st.floats(1e-6, 0.7, allow_nan=False),
        st.sampled_from([0.0, 0.0, 1e-7, 4e-7]),
    ),
    max_size=25,
)


def _within(spent: list[float], more: float, total: float) -> bool:
    return sum(Fraction(repr(x)) for x in [*spent, more]) <= Fraction(repr(total))


@settings(max_examples=200, deadline=None)
@given(total=st.floats(0.05, 3.0), total_delta=st.sampled_from([0.0, 1e-6]), seq=spends)
def test_budget_is_never_overspent_and_refusals_change_nothing(
    total: float, total_delta: float, seq: list[tuple[float, float]]
) -> None:
    budget = PrivacyBudget(total, total_delta)
    for eps, dlt in seq:
        before = budget.to_dict()
        # Exact sums of the amounts as written (stop 40: no tolerance any more).
        fits = _within([s.epsilon for s in budget.ledger], eps, total) and _within(
            [s.delta for s in budget.ledger], dlt, total_delta
        )
        if fits:
            budget.spend(eps, dlt)
        else:
            with pytest.raises(PrivacyBudgetError):
                budget.spend(eps, dlt)
            assert budget.to_dict() == before
        assert budget.spent[0] <= total * (1 + 1e-12)
        assert budget.spent[1] <= total_delta * (1 + 1e-12)


def test_float_splits_of_a_total_fit_exactly_and_nothing_more_does() -> None:
    budget = PrivacyBudget(0.3)
    budget.spend(0.1)
    budget.spend(0.2)  # 0.1 + 0.2 > 0.3 in floats, by one ulp
    assert not budget.can_spend(0.3 * 1e-11)
    assert not budget.can_spend(1e-300 + 0.3 * 2e-12)
    ten = PrivacyBudget(1.0)
    for _ in range(10):
        ten.spend(0.1)
    with pytest.raises(PrivacyBudgetError):
        ten.spend(1e-11)


@settings(max_examples=40, deadline=None)
@given(eps=st.lists(st.floats(0.05, 1.5), min_size=1, max_size=8))
def test_a_refused_release_draws_no_noise(eps: list[float]) -> None:
    draws: list[int] = []
    real = sources_module.sample

    def counting(*args: object) -> object:
        draws.append(1)
        return real(*args)  # type: ignore[arg-type]

    with mock.patch.object(sources_module, "sample", counting):
        budget = PrivacyBudget(1.0)
        for e in eps:
            before, n_draws = budget.to_dict(), len(draws)
            try:
                release_counts(
                    {"x": [3, 4, 0]}, {"x": Bins([0, 1, 2])}, epsilon=e, budget=budget, seed=0
                )
            except PrivacyBudgetError:
                assert len(draws) == n_draws  # refused before any noise
                assert budget.to_dict() == before
            else:
                assert len(draws) == n_draws + 1
    assert budget.spent[0] <= 1.0 * (1 + 1e-12)


# -- sensitivity: one more row moves one count of each part by one --------------------


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(finite, max_size=30),
    extra=finite,
    edges=st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=6, unique=True),
)
def test_bins_any_extra_value_changes_one_count_by_one(
    values: list[float], extra: float, edges: list[float]
) -> None:
    dom = Bins(sorted(edges))
    base = dom.count(np.asarray(values, dtype=float), None, 0)
    more = dom.count(np.asarray([*values, extra], dtype=float), None, 0)
    assert np.abs(more - base).sum() == 1


scalars = st.one_of(
    st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5]), st.sampled_from("ab")
)


@settings(max_examples=300, deadline=None)
@given(
    declared=st.lists(scalars, min_size=1, max_size=5),
    rows=st.lists(scalars, max_size=20),
    extra=scalars,
)
def test_categories_any_extra_value_changes_one_count_by_one(
    declared: list[object], rows: list[object], extra: object
) -> None:
    try:
        dom = Categories(declared)
    except ConfigError:
        return  # repeated or key-equal values (1, 1.0, True) are refused

    def counts(values: list[object]) -> np.ndarray:
        table: dict[object, int] = {}
        for v in values:
            table[v] = table.get(v, 0) + 1
        return dom.count(table, 0)

    base, more = counts(rows), counts([*rows, extra])
    assert (base >= 0).all()
    assert base.sum() == len(rows)
    assert np.abs(more - base).sum() == 1


@pytest.mark.parametrize("values", [[1, True], [1, 1.0], [0, False, "a"], [2.0, 2]])
def test_categories_equal_as_keys_are_refused(values: list[object]) -> None:
    # Before the fix Categories([1, True]) counted a row of 1 in both cells (sensitivity
    # 2 with noise calibrated for 1) and a negative '<other>'.
    with pytest.raises(ConfigError, match="equal as counting keys"):
        Categories(values)


@settings(max_examples=100, deadline=None)
@given(
    keys=st.lists(st.sampled_from([("F",), ("M",), ("X",), (1,), (True,)]), max_size=12),
    extra=st.sampled_from([("F",), ("M",), ("X",), (1,), (True,)]),
    cell=st.integers(0, 3),
)
def test_groups_any_extra_row_changes_one_count_by_one(
    keys: list[tuple[object, ...]], extra: tuple[object, ...], cell: int
) -> None:
    dom = Groups(["F", "M", True])

    def counts(rows: list[tuple[tuple[object, ...], int]]) -> np.ndarray:
        table: dict[tuple[object, ...], list[int]] = {}
        for key, c in rows:
            table.setdefault(key, [0, 0, 0, 0])[c] += 1
        return dom.count(table)

    rows = [(k, i % 4) for i, k in enumerate(keys)]
    assert np.abs(counts([*rows, (extra, cell)]) - counts(rows)).sum() == 1


def test_release_scale_is_calibrated_to_the_number_of_parts() -> None:
    # Two columns share epsilon: each gets Laplace noise of scale 2 / epsilon.
    rel = release_counts(
        {"a": [1, 2, 3], "b": [0, 5, 1, 0]},
        {"a": Bins([0, 1, 2]), "b": Categories(["x", "y"])},
        epsilon=0.5,
        seed=0,
    )
    assert {p.noise[0].scale for p in rel.parts.values()} == {4.0}
    assert noise_module.privacy_loss("laplace", 4.0, 2) <= 0.5


def test_one_more_row_at_max_exact_moves_one_count() -> None:
    # 10,000 exact values just above the edge 20, then one row more: the column switches
    # to the sketch. Binning exact values exactly and sketched ones by representative
    # moved all 10,000 to the other bin (an L1 change of 20,001 for noise calibrated to 1).
    dom = {"x": Bins([0, 20, 40])}
    values = np.full(10_000, 20.0053)  # its bucket's representative is below 20
    exact = Profile(max_exact=10_000).update(pd.DataFrame({"x": values}))
    sketched = Profile(max_exact=10_000).update(pd.DataFrame({"x": np.append(values, 5.0)}))
    assert exact.columns["x"].exact
    assert not sketched.columns["x"].exact
    a, b = profile_counts(exact, dom)["x"], profile_counts(sketched, dom)["x"]
    assert np.abs(b - a).sum() == 1


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40), extra=st.floats(-1e3, 1e3))
def test_profile_release_counts_change_by_one_per_row(values: list[float], extra: float) -> None:
    dom = {"x": Bins([-500, -20, 0, 0.5, 20, 500])}
    a = profile_counts(Profile().update(pd.DataFrame({"x": values})), dom)["x"]
    b = profile_counts(Profile().update(pd.DataFrame({"x": [*values, extra]})), dom)["x"]
    assert np.abs(b - a).sum() == 1


def test_a_hashed_column_without_its_salt_is_refused_not_released_as_other() -> None:
    from prodml.privacy import Privacy
    from prodml.privacy_dp import release_profile

    df = pd.DataFrame({"plan": ["free"] * 50 + ["pro"] * 30})
    made = Profile(privacy=Privacy(sensitive=["plan"], salt="salt-one")).update(df)
    dom = {"plan": Categories(["free", "pro"])}
    assert profile_counts(made, dom)["plan"].tolist() == [50, 30, 0, 0]
    # Reloaded without the salt: all 80 rows used to count as '<other>'.
    loaded = Profile.from_json(made.to_json())
    with pytest.raises(ConfigError, match="salt this process does not have"):
        release_profile(loaded, dom, epsilon=1.0, seed=0)
    again = Profile.from_json(made.to_json(), privacy=Privacy(sensitive=["plan"], salt="salt-one"))
    assert profile_counts(again, dom)["plan"].tolist() == [50, 30, 0, 0]


def test_groups_match_int_and_float_codes_but_not_bools() -> None:
    from prodml.fairness import GroupMetrics
    from prodml.privacy_dp import release_group_counts

    y = np.array([0, 1, 1, 0, 1, 1])
    codes = pd.Series([1.0, 2.0, 1.0, 2.0, 1.0, 1.0])  # a float column of group codes
    metrics = GroupMetrics(["s"]).update(y, y, codes)
    rel = release_group_counts(metrics, [1, 2], epsilon=1e9, seed=0)
    # Declared as ints, counted from float keys: they used to land in '<other>'.
    assert rel.parts["groups"].noisy.reshape(-1, 4).tolist() == [
        [1, 0, 0, 3],
        [1, 0, 0, 1],
        [0, 0, 0, 0],
    ]
    with pytest.raises(ConfigError, match="repeats"):
        Groups([1, 1.0])
    both = Groups([True, 1])  # a bool group and a number group stay apart
    rows = both.count({(True,): [1, 0, 0, 0]}).reshape(-1, 4).tolist()
    assert rows == [[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    rows = both.count({(1.0,): [0, 0, 0, 2], (np.int64(2),): [0, 1, 0, 0]}).reshape(-1, 4)
    assert rows.tolist() == [[0, 0, 0, 0], [0, 0, 0, 2], [0, 1, 0, 0]]
