"""Independent audit of rollout statistics against scipy / statsmodels, and under peeking.

Reference implementations: ``statsmodels.stats.proportion`` (z-test, Wald interval of a
difference), ``scipy.stats.ttest_ind_from_stats`` (Welch) and ``scipy.stats.chisquare``.
The peeking simulations are seeded; each rate is compared with alpha plus three binomial
standard deviations of the number of runs, so a calibrated test passes with room to
spare and a miscalibrated one (as found in the audit) does not.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from prodml.rollout import ABTest, Gate
from prodml.rollout._gates import MetricStore, evaluate_gate
from prodml.rollout._summary import MeanSummary
from prodml.rollout.stats import means_ttest, proportions_ztest, srm_sequential_test, srm_test

ALTERNATIVES = ("two-sided", "larger", "smaller")
SCIPY_ALT = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}


def _sm_proportion() -> Any:
    return pytest.importorskip(
        "statsmodels.stats.proportion", reason="needs statsmodels (the 'test' extra)"
    )


def _binomial_bound(alpha: float, runs: int) -> float:
    """alpha plus three standard deviations of an observed rate over ``runs`` runs."""
    return alpha + 3.0 * math.sqrt(alpha * (1 - alpha) / runs)


# -- fixed-horizon tests against their references -----------------------------------------
_N = st.one_of(st.integers(1, 50), st.integers(1, 10**12), st.sampled_from([1, 2, 10**12]))


@st.composite
def _two_groups(draw: st.DrawFn) -> tuple[int, int, int, int]:
    na, nb = draw(_N), draw(_N)
    edges = st.sampled_from(["zero", "all", "any"])

    def successes(n: int) -> int:
        kind = draw(edges)
        return 0 if kind == "zero" else n if kind == "all" else draw(st.integers(0, n))

    return successes(na), na, successes(nb), nb


@settings(max_examples=300, deadline=None)
@given(groups=_two_groups(), alpha=st.sampled_from([0.01, 0.05, 0.2]))
def test_proportions_ztest_equals_statsmodels_on_edges(
    groups: tuple[int, int, int, int], alpha: float
) -> None:
    sm = _sm_proportion()
    xa, na, xb, nb = groups
    for alt in ALTERNATIVES:
        r = proportions_ztest(xa, na, xb, nb, alternative=alt, alpha=alpha)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 when both rates are 0 or 1
            z, p = sm.proportions_ztest([xb, xa], [nb, na], alternative=alt)
        if math.isnan(z):
            # statsmodels gives nan when the pooled rate is 0 or 1 (identical arms, no
            # variance): no evidence either way, as a z of 0.
            assert xa * nb == xb * na
            assert r.statistic == 0.0
            assert r.p_value == (1.0 if alt == "two-sided" else 0.5)
            continue
        assert r.statistic == pytest.approx(z, rel=1e-9, abs=1e-12)
        assert r.p_value == pytest.approx(p, rel=1e-9, abs=1e-300)
    lo, hi = sm.confint_proportions_2indep(
        xb, nb, xa, na, method="wald", compare="diff", alpha=alpha
    )
    r = proportions_ztest(xa, na, xb, nb, alpha=alpha)
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    assert r.effect == pytest.approx(xb / nb - xa / na, abs=1e-15)


_MEAN = st.floats(-1e6, 1e6)
_STD = st.one_of(st.just(0.0), st.floats(1e-6, 1e4))
_TN = st.one_of(st.integers(2, 30), st.integers(2, 10**12))


@settings(max_examples=300, deadline=None)
@given(
    ma=_MEAN,
    sa=_STD,
    na=_TN,
    mb=st.one_of(_MEAN, st.just(None)),
    sb=_STD,
    nb=_TN,
    alpha=st.sampled_from([0.01, 0.05, 0.2]),
)
def test_welch_equals_scipy_on_edges(
    *, ma: float, sa: float, na: int, mb: float | None, sb: float, nb: int, alpha: float
) -> None:
    mb = ma if mb is None else mb  # identical means, often
    for alt in ALTERNATIVES:
        r = means_ttest(ma, sa, na, mb, sb, nb, alternative=alt, alpha=alpha)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 with zero variances
            ref = stats.ttest_ind_from_stats(
                mb, sb, nb, ma, sa, na, equal_var=False, alternative=SCIPY_ALT[alt]
            )
        if math.isnan(ref.statistic):
            # zero variance and equal means: scipy gives nan; we give z = 0 (as the
            # proportions test does): p = 1 two-sided, 0.5 one-sided.
            assert (r.statistic, r.p_value) == (0.0, 1.0 if alt == "two-sided" else 0.5)
            continue
        assert r.statistic == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
        assert r.p_value == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-300)
    va, vb = sa**2 / na, sb**2 / nb
    r = means_ttest(ma, sa, na, mb, sb, nb, alpha=alpha)
    if va + vb > 0:
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        half = stats.t.ppf(1 - alpha / 2, df) * math.sqrt(va + vb)
        assert (r.ci_low, r.ci_high) == pytest.approx(
            (mb - ma - half, mb - ma + half), rel=1e-9, abs=1e-9
        )


def test_welch_with_zero_variance_is_directional() -> None:
    # B is certainly above A: 'larger' has p 0, 'smaller' p 1 (as scipy), not p 0.
    assert means_ttest(1.0, 0.0, 5, 2.0, 0.0, 5, alternative="larger").p_value == 0.0
    assert means_ttest(1.0, 0.0, 5, 2.0, 0.0, 5, alternative="smaller").p_value == 1.0
    assert means_ttest(2.0, 0.0, 5, 1.0, 0.0, 5, alternative="larger").p_value == 1.0
    assert means_ttest(2.0, 0.0, 5, 1.0, 0.0, 5, alternative="two-sided").p_value == 0.0


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.one_of(st.integers(0, 100), st.integers(0, 10**12)), min_size=2, max_size=6),
    data=st.data(),
)
def test_srm_chi_square_equals_scipy(counts: list[int], data: st.DataObject) -> None:
    weights = data.draw(st.lists(st.floats(0.01, 1.0), min_size=len(counts), max_size=len(counts)))
    r = srm_test(counts, weights)
    if sum(counts) == 0:
        assert (r.p_value, r.mismatch) == (1.0, False)
        return
    expected = np.array(weights) / sum(weights) * sum(counts)
    ref = stats.chisquare(np.array(counts, dtype=float), expected, sum_check=False)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)


# -- gates under continuous evaluation ---------------------------------------------------
def _false_verdicts(
    gate: Gate, p_cand: float, p_base: float, *, runs: int, looks: int, nc: int, nb: int
) -> dict[str, float]:
    """Share of A/A runs (both at the gate's boundary) that ever pass / ever fail."""
    rng = np.random.default_rng(20251205)
    xc = rng.binomial(nc, p_cand, size=(runs, looks)).cumsum(axis=1)
    xb = rng.binomial(nb, p_base, size=(runs, looks)).cumsum(axis=1)
    out = {"pass": 0, "fail": 0}
    for i in range(runs):
        for j in range(looks):
            n_c, n_b = nc * (j + 1), nb * (j + 1)
            pc, pb = xc[i, j] / n_c, (xb[i, j] / n_b if n_b else 0.0)
            cand = MeanSummary(n_c, pc, n_c * pc * (1 - pc), True)
            base = MeanSummary(n_b, pb, n_b * pb * (1 - pb), True) if n_b else None
            verdict = evaluate_gate(gate, cand, base, alpha=0.05, min_samples=100)["verdict"]
            if verdict in out:
                out[verdict] += 1
                break
    return {k: v / runs for k, v in out.items()}


@pytest.mark.parametrize(
    ("gate", "p_cand", "p_base", "nb"),
    [
        # a rare error rate at an absolute threshold: passed falsely in 8 % of runs
        (Gate("error", threshold=0.001), 0.001, 0.001, 0),
        # the canary's 5 % step: a ratio gate against a baseline 19 x larger
        (Gate("error", ratio=1.0), 0.002, 0.002, 3800),
        # a common rate, for contrast (was already calibrated)
        (Gate("error", ratio=1.0), 0.1, 0.1, 200),
    ],
)
def test_binary_gates_keep_alpha_under_continuous_evaluation(
    gate: Gate, p_cand: float, p_base: float, nb: int
) -> None:
    runs = 2000
    rates = _false_verdicts(gate, p_cand, p_base, runs=runs, looks=150, nc=200, nb=nb)
    bound = _binomial_bound(0.05, runs)
    assert rates["pass"] <= bound, rates
    assert rates["fail"] <= bound, rates


def test_p999_quantile_gate_keeps_alpha_under_continuous_evaluation() -> None:
    # "p99.9(latency) <= T" with T the true 99.9th percentile: the gate tests the share
    # of requests above T (an indicator, rate 0.001) against 0.001. The store feeds it
    # as below (tested end to end in test_sketch_range / test_decision_gates).
    gate = Gate("latency", threshold=250.0, quantile=0.999)
    store = MetricStore(("base", "cand"), [gate])
    store.observe_many("cand", {"latency": [100.0, 300.0]})
    assert store.get("cand", gate.key).mean == 0.5  # the indicator the gate reads
    runs = 2000
    rates = _false_verdicts(gate, 0.001, 0.0, runs=runs, looks=150, nc=200, nb=0)
    bound = _binomial_bound(0.05, runs)
    assert rates["pass"] <= bound, rates
    assert rates["fail"] <= bound, rates


def test_binary_gate_still_passes_a_clearly_better_candidate() -> None:
    # The variance taken at the limit costs samples, not the verdict.
    cand = MeanSummary(20_000, 0.0005, 20_000 * 0.0005 * 0.9995, True)
    r = evaluate_gate(Gate("error", threshold=0.002), cand, None, alpha=0.05, min_samples=100)
    assert r["verdict"] == "pass"
    worse = MeanSummary(20_000, 0.004, 20_000 * 0.004 * 0.996, True)
    r = evaluate_gate(Gate("error", threshold=0.002), worse, None, alpha=0.05, min_samples=100)
    assert r["verdict"] == "fail"


# -- the A/B test end to end under peeking ------------------------------------------------
@pytest.mark.parametrize(
    ("weights", "kind"),
    [({"A": 0.5, "B": 0.5}, "proportion"), ({"A": 0.5, "B": 0.2, "C": 0.3}, "mean")],
)
def test_abtest_false_decision_rate_under_peeking(weights: dict[str, float], kind: str) -> None:
    # A/A/A: no variant differs. Evaluated after every batch; any promote or rollback
    # is a false positive, any pause a false SRM alarm.
    runs, looks, batch = 600, 40, 300
    rng = np.random.default_rng(99)
    names, shares = list(weights), np.array(list(weights.values()))
    acted = paused = 0
    for _ in range(runs):
        ab = ABTest(weights, metric="m", kind=kind, tuning_n=1000, clock=lambda: 0.0)
        for _ in range(looks):
            for v, c in zip(names, rng.multinomial(batch, shares), strict=True):
                if kind == "proportion":
                    ab.observe_summary(v, int(c), {"m": rng.binomial(c, 0.1) / max(c, 1)})
                else:  # unequal variances: Welch territory
                    ab.observe_many(v, m=rng.normal(5.0, 1.0 + names.index(v), int(c)))
            action = ab.evaluate().action
            if action != "hold":
                acted += action in ("promote", "rollback")
                paused += action == "pause"
                break
    assert acted / runs <= _binomial_bound(0.05, runs)
    assert paused / runs <= _binomial_bound(0.001, runs)


@pytest.mark.parametrize("kind", ["proportion", "mean"])
def test_abtest_fixed_horizon_interval_is_at_the_level_it_decides_at(kind: str) -> None:
    # Three treatments: each is decided at alpha / 3, so its interval is 1 - alpha / 3.
    weights = {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}
    ab = ABTest(weights, metric="m", kind=kind, alpha=0.06, sequential=False, horizon=500)
    rng = np.random.default_rng(3)
    for v in weights:
        values = (
            (rng.random(600) < 0.3).astype(float) if kind == "proportion" else rng.normal(size=600)
        )
        ab.observe_many(v, m=values)
    a, b = ab._store.get("A", "m"), ab._store.get("B", "m")
    if kind == "proportion":
        ref = proportions_ztest(round(a.mean * a.n), a.n, round(b.mean * b.n), b.n, alpha=0.02)
    else:
        sa, sb = math.sqrt(a.m2 / (a.n - 1)), math.sqrt(b.m2 / (b.n - 1))
        ref = means_ttest(a.mean, sa, a.n, b.mean, sb, b.n, alpha=0.02)
    assert ab.test("B") == ref
    d = ab.evaluate()
    assert (d.evidence["tests"]["B"]["ci_low"], d.evidence["tests"]["B"]["ci_high"]) == (
        ref.ci_low,
        ref.ci_high,
    )


def test_relative_quantile_gate_keeps_alpha_when_the_variants_are_equal() -> None:
    # "p99(candidate) <= 1.0 x p99(baseline)" with both from one distribution: the truth is
    # on the boundary, so neither verdict may come in more than alpha of the runs. Taking
    # the baseline's estimated p99 as exact passed 23 % of runs (a seeded 300-run probe).
    gate = Gate("latency", ratio=1.0, quantile=0.99)
    runs, looks, batch = 200, 30, 1000
    rng = np.random.default_rng(11)
    verdicts = {"pass": 0, "fail": 0}
    for _ in range(runs):
        store = MetricStore(("base", "cand"), [gate])
        for _ in range(looks):
            store.observe_many("cand", {"latency": rng.exponential(1.0, batch)})
            store.observe_many("base", {"latency": rng.exponential(1.0, batch)})
            v = store.evaluate(gate, "cand", "base", alpha=0.05, min_samples=100)["verdict"]
            if v in verdicts:
                verdicts[v] += 1
                break
    bound = _binomial_bound(0.05, runs)
    assert verdicts["pass"] / runs <= bound, verdicts
    assert verdicts["fail"] / runs <= bound, verdicts


def test_sequential_srm_false_alarm_rate_with_unequal_weights_under_peeking() -> None:
    # 2000 correctly split experiments (20/30/50), checked after every 250 units for
    # 100 looks: the always-valid check may alarm in at most alpha of them.
    runs, looks, batch, alpha = 2000, 100, 250, 0.05
    shares = [0.2, 0.3, 0.5]
    rng = np.random.default_rng(4)
    counts = rng.multinomial(batch, shares, size=(runs, looks)).cumsum(axis=1)
    alarms = 0
    for run in counts:
        alarms += any(srm_sequential_test(c.tolist(), shares, alpha=alpha).mismatch for c in run)
    assert alarms / runs <= _binomial_bound(alpha, runs)
    # and it is not asleep: a 22/30/48 split is caught in most runs within those looks
    bad = rng.multinomial(batch, [0.22, 0.30, 0.48], size=(200, looks)).cumsum(axis=1)
    caught = sum(
        any(srm_sequential_test(c.tolist(), shares, alpha=alpha).mismatch for c in run)
        for run in bad
    )
    assert caught >= 180


@settings(max_examples=25, deadline=None)
@given(
    rates=st.lists(st.sampled_from([0.10, 0.11, 0.12, 0.14]), min_size=3, max_size=3),
    seed=st.integers(0, 10_000),
)
def test_abtest_fixed_horizon_decision_equals_bonferroni_of_statsmodels(
    rates: list[float], seed: int
) -> None:
    multipletests = pytest.importorskip(
        "statsmodels.stats.multitest", reason="needs statsmodels (the 'test' extra)"
    ).multipletests
    weights = {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}
    ab = ABTest(weights, metric="m", sequential=False, horizon=3000, clock=lambda: 0.0)
    rng = np.random.default_rng(seed)
    for v, p in zip(weights, [0.10, *rates], strict=True):
        ab.observe_summary(v, 3000, {"m": rng.binomial(3000, p) / 3000})
    tests = {v: ab.test(v) for v in ("B", "C", "D")}
    reject = multipletests([t.p_value for t in tests.values()], alpha=0.05, method="bonferroni")[0]
    better = [v for (v, t), r in zip(tests.items(), reject, strict=True) if r and t.effect > 0]
    d = ab.evaluate()
    if better:
        assert d.action == "promote"
        assert d.evidence["winner"] == max(better, key=lambda v: tests[v].effect)
    else:
        assert d.action == "rollback"
