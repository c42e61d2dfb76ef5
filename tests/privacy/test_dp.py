"""Differentially private releases (issue 21 §2): accounting, budget, noise, merge, drift."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.drift import Profile
from prodml.errors import ConfigError, ProdMLError, SchemaError, StateError
from prodml.privacy import Privacy
from prodml.privacy_dp import (
    Bins,
    Categories,
    DPRelease,
    PrivacyBudget,
    PrivacyBudgetError,
    calibrate,
    compare,
    opendp_measurement,
    privacy_loss,
    release_counts,
    release_group_counts,
    release_profile,
    release_window,
)
from prodml.privacy_dp._noise import discrete_gaussian, discrete_laplace

dp = pytest.importorskip("opendp.prelude", reason="needs the 'privacy' extra (OpenDP)")
dp.enable_features("contrib")

PLANS = ["free", "pro", "team"]
DOMAINS = {"age": Bins([0, 20, 40, 60, 100]), "plan": Categories(PLANS)}


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 12, n),
            "plan": rng.choice([*PLANS, "enterprise"], n, p=[0.5, 0.3, 0.15, 0.05]),
        }
    )


def _exact(df: pd.DataFrame) -> dict[str, list[int]]:
    age = np.clip(np.searchsorted([0, 20, 40, 60, 100], df["age"], side="right") - 1, 0, 3)
    ages = [int((age == i).sum()) for i in range(4)] + [0]
    plans = [int((df["plan"] == p).sum()) for p in PLANS]
    return {"age": ages, "plan": [*plans, len(df) - sum(plans), 0]}


# -- accounting against OpenDP -------------------------------------------------------


@pytest.mark.parametrize("n_parts", [1, 2, 5])
@pytest.mark.parametrize("epsilon", [1.0, 0.1])
def test_laplace_scale_is_what_opendp_charges(n_parts: int, epsilon: float) -> None:
    scale = calibrate("laplace", epsilon, 0.0, n_parts)
    assert scale == pytest.approx(n_parts / epsilon, rel=1e-9)
    # OpenDP's own accounting of one part at d_in = 1, composed n_parts times by hand.
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    one = dp.m.make_laplace(*space, scale=scale).map(1)
    assert n_parts * one == pytest.approx(epsilon, rel=1e-9)
    assert n_parts * one <= epsilon * (1 + 1e-12)
    assert privacy_loss("laplace", scale, n_parts) == pytest.approx(epsilon, rel=1e-9)


@pytest.mark.parametrize("n_parts", [1, 3])
@pytest.mark.parametrize(("epsilon", "delta"), [(1.0, 1e-6), (0.1, 1e-5)])
def test_gaussian_scale_is_what_opendp_charges(n_parts: int, epsilon: float, delta: float) -> None:
    scale = calibrate("gaussian", epsilon, delta, n_parts)
    # n parts of scale s cost rho = n / (2 s^2) in zCDP: one Gaussian of scale s / sqrt(n).
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l2_distance(T=int)
    rho = dp.m.make_gaussian(*space, scale=scale).map(1)
    assert rho == pytest.approx(1 / (2 * scale**2), rel=1e-9)
    single = dp.m.make_gaussian(*space, scale=scale / math.sqrt(n_parts))
    eps = dp.c.make_zCDP_to_approxDP(single).map(1).epsilon(delta)
    assert eps <= epsilon * (1 + 1e-9)
    assert eps == pytest.approx(epsilon, rel=1e-3)  # the search is tight, not wasteful


def test_release_records_the_calibrated_scale_and_spend() -> None:
    prof = Profile().update(_frame(np.random.default_rng(0), 500))
    budget = PrivacyBudget(epsilon=2.0, delta=1e-5)
    rel = release_profile(prof, DOMAINS, epsilon=0.5, budget=budget, seed=1)
    assert {p.noise[0].scale for p in rel.parts.values()} == {calibrate("laplace", 0.5, 0, 2)}
    assert rel.parts["age"].noise[0].scale == pytest.approx(4.0)
    g = release_profile(prof, DOMAINS, epsilon=1.0, delta=1e-5, mechanism="gaussian",
                        budget=budget, seed=1)  # fmt: skip
    assert g.parts["plan"].noise[0].scale == pytest.approx(calibrate("gaussian", 1.0, 1e-5, 2))
    assert [(s.label, s.epsilon, s.delta) for s in budget.ledger] == [
        ("profile", 0.5, 0.0),
        ("profile", 1.0, 1e-5),
    ]


def test_noise_variance_matches_the_samplers() -> None:
    rng = np.random.default_rng(3)
    from prodml.privacy_dp import Noise

    lap = discrete_laplace(rng, 2.5, 400_000)
    assert lap.var() == pytest.approx(Noise("laplace", 2.5).variance, rel=0.02)
    gau = discrete_gaussian(rng, 3.0, 400_000)
    assert abs(gau.mean()) < 0.02
    assert gau.var() == pytest.approx(Noise("gaussian", 3.0).variance, rel=0.02)


def test_secure_sampler_is_opendps() -> None:
    prof = Profile().update(_frame(np.random.default_rng(0), 300))
    rel = release_profile(prof, DOMAINS, epsilon=1.0)
    assert rel.secure
    assert rel.parts["plan"].noisy.dtype == np.int64
    assert rel.parts["plan"].noisy.size == 5
    assert not release_profile(prof, DOMAINS, epsilon=1.0, seed=0).secure


# -- the budget ----------------------------------------------------------------------


def test_budget_refuses_and_releases_nothing() -> None:
    prof = Profile().update(_frame(np.random.default_rng(0), 300))
    budget = PrivacyBudget(epsilon=1.0)
    release_profile(prof, DOMAINS, epsilon=0.6, budget=budget, seed=0, label="site a")
    with pytest.raises(PrivacyBudgetError, match=r"'site a again' needs epsilon 0\.6"):
        release_profile(prof, DOMAINS, epsilon=0.6, budget=budget, seed=0, label="site a again")
    assert len(budget.ledger) == 1
    assert budget.remaining == pytest.approx((0.4, 0.0))
    with pytest.raises(PrivacyBudgetError, match="delta 1e-06"):  # no delta to spend
        release_profile(prof, DOMAINS, epsilon=0.1, delta=1e-6, mechanism="gaussian",
                        budget=budget, seed=0)  # fmt: skip
    release_profile(prof, DOMAINS, epsilon=0.4, budget=budget, seed=0)  # exactly what is left
    assert budget.remaining == (0.0, 0.0)
    assert isinstance(PrivacyBudgetError("x"), ProdMLError)


def test_budget_state_round_trips_and_is_validated() -> None:
    budget = PrivacyBudget(epsilon=1.0, delta=1e-6)
    budget.spend(0.25, label="a")
    budget.spend(0.5, 1e-7, label="b")
    assert PrivacyBudget.from_json(budget.to_json()) == budget
    state = budget.to_dict()
    state["ledger"][1]["epsilon"] = 5.0
    with pytest.raises(StateError, match="ledger"):
        PrivacyBudget.from_dict(state)
    state = budget.to_dict()
    state["ledger"][0]["epsilon"] = -0.1
    with pytest.raises(ConfigError, match=r"ledger\[0\]\.epsilon"):
        PrivacyBudget.from_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epsilon": 0.0}, "'epsilon' parameter of PrivacyBudget must be a float > 0"),
        ({"epsilon": -1.0}, "must be a float > 0"),
        ({"epsilon": float("nan")}, "must be a float > 0"),
        ({"epsilon": 1.0, "delta": 1.0}, r"'delta' parameter of PrivacyBudget must be"),
        ({"epsilon": "1"}, "Got str instead"),
    ],
)  # fmt: skip
def test_budget_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PrivacyBudget(**kwargs)  # type: ignore[arg-type]


# -- no exact counts -----------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 39), min_size=1, max_size=400),
    st.integers(0, 2**32 - 1),
)
def test_released_counts_are_exact_plus_noise_never_raw(codes: list[int], seed: int) -> None:
    cats = [f"c{i}" for i in range(40)]
    prof = Profile().update(pd.DataFrame({"c": [cats[i] for i in codes]}))
    exact = np.array([codes.count(i) for i in range(40)] + [0, 0])
    rel = release_profile(prof, {"c": Categories(cats)}, epsilon=0.1, seed=seed)
    state = rel.to_dict()
    released = np.array(state["parts"]["c"]["counts"])
    # The noise is the mechanism's: the same seeded draw, added to the exact counts.
    noise = discrete_laplace(np.random.default_rng(seed), 10.0, 42)
    np.testing.assert_array_equal(released, exact + noise)
    assert not np.array_equal(released, exact)  # P(42 zero draws at scale 10) ~ 1e-55
    # Nothing else in the state holds a count: no row total, no exact vector.
    assert set(state) == {"format_version", "source", "unit", "epsilon", "delta",
                          "mechanism", "secure", "sites", "parts"}  # fmt: skip
    assert set(state["parts"]["c"]) == {"domain", "counts", "noise"}
    assert not any(v is prof for v in vars(rel).values())


def test_seeded_release_is_golden() -> None:
    df = _frame(np.random.default_rng(42), 1000)
    assert _exact(df) == {"age": [53, 445, 456, 46, 0], "plan": [512, 275, 159, 54, 0]}
    rel = release_profile(Profile().update(df), DOMAINS, epsilon=1.0, seed=7)
    # One age just under 40 is within the sketch's 0.1% of the edge: binned by its
    # bucket's representative (exact and sketched columns alike), it counts in [40, 60).
    assert rel.parts["age"].noisy.tolist() == [50, 448, 456, 43, -1]
    assert rel.parts["plan"].noisy.tolist() == [511, 265, 156, 54, -8]
    # Read with negative counts clamped at 0.
    assert rel.counts("plan") == {"free": 511, "pro": 265, "team": 156, "<other>": 54, "<null>": 0}
    assert DPRelease.from_json(rel.to_json()) == rel


def test_hashed_columns_are_counted_through_their_tokens() -> None:
    df = _frame(np.random.default_rng(1), 800)
    policy = Privacy(sensitive=["plan"], salt="not-a-real-salt")
    prof = Profile(privacy=policy).update(df)
    assert prof.columns["plan"].hashed
    rel = release_profile(prof, {"plan": Categories(PLANS)}, epsilon=1e9, seed=0)
    assert rel.parts["plan"].noisy.tolist() == _exact(df)["plan"]  # noise 0 at this scale


def test_nulls_and_out_of_range_values_count_once() -> None:
    df = pd.DataFrame({"age": [-5.0, 10.0, 150.0, None], "plan": ["free", None, "x", "pro"]})
    rel = release_profile(Profile().update(df), DOMAINS, epsilon=1e9, seed=0)
    assert rel.parts["age"].noisy.tolist() == [2, 0, 0, 1, 1]  # clamped into the end bins
    assert rel.parts["plan"].noisy.tolist() == [1, 1, 0, 1, 1]


def test_clamped_counts_and_proportions() -> None:
    rel = release_counts({"x": [0, 0, 5, 0, 0]}, {"x": Categories(["a", "b", "c"])},
                         epsilon=0.05, seed=2)  # fmt: skip
    part = rel.parts["x"]
    assert (part.noisy < 0).any()
    assert (part.counts >= 0).all()
    np.testing.assert_array_equal(part.counts, np.maximum(part.noisy, 0))
    assert part.proportions().sum() == pytest.approx(1.0)


# -- merge and drift -----------------------------------------------------------------


def test_merge_adds_noisy_counts_and_noises() -> None:
    rng = np.random.default_rng(5)
    a = release_profile(Profile().update(_frame(rng, 400)), DOMAINS, epsilon=1.0, seed=1)
    b = release_profile(Profile().update(_frame(rng, 600)), DOMAINS, epsilon=0.5, seed=2)
    m = a.merge(b)
    np.testing.assert_array_equal(m.parts["age"].noisy, a.parts["age"].noisy + b.parts["age"].noisy)
    assert m.parts["age"].variance == pytest.approx(
        a.parts["age"].variance + b.parts["age"].variance
    )
    assert (m.epsilon, m.sites) == (1.0, 2)
    assert DPRelease.from_dict(m.to_dict()) == m
    coarse = {"age": Bins([0, 50, 100]), "plan": DOMAINS["plan"]}
    other = release_profile(Profile().update(_frame(rng, 100)), coarse, epsilon=1.0)
    with pytest.raises(ConfigError, match="domains of column 'age' differ"):
        a.merge(other)
    with pytest.raises(ConfigError, match="needs a DPRelease"):
        a.merge(Profile())  # type: ignore[arg-type]


def _false_alarms(epsilon: float, reps: int) -> tuple[int, int]:
    alarms = tests = 0
    for i in range(reps):
        rng = np.random.default_rng(1000 + i)
        ref = None
        for _ in range(3):  # three sites
            site = release_profile(Profile().update(_frame(rng, 1500)), DOMAINS,
                                   epsilon=epsilon, seed=rng)  # fmt: skip
            ref = site if ref is None else ref.merge(site)
        cur = release_profile(Profile().update(_frame(rng, 1500)), DOMAINS, epsilon=epsilon,
                              seed=rng)  # fmt: skip
        report = compare(ref, cur, n_sim=199, seed=i, correction="none")
        alarms += sum(r.p_value <= 0.05 for r in report.results)
        tests += len(report.results)
    return alarms, tests


@pytest.mark.parametrize("epsilon", [1.0, 0.1])
def test_false_alarm_rate_stays_at_alpha(epsilon: float) -> None:
    alarms, tests = _false_alarms(epsilon, 120)
    # 240 tests at alpha 0.05: 12 expected; [4, 22] holds with probability > 0.99.
    assert 4 <= alarms <= 22, (alarms, tests)


def test_chi_square_ignoring_noise_would_alarm_far_more() -> None:
    from scipy.stats import chi2_contingency

    alarms = 0
    for i in range(60):
        rng = np.random.default_rng(i)
        a = release_profile(Profile().update(_frame(rng, 1500)), DOMAINS, epsilon=0.1, seed=rng)
        b = release_profile(Profile().update(_frame(rng, 1500)), DOMAINS, epsilon=0.1, seed=rng)
        t = np.vstack([a.parts["plan"].counts[:-1], b.parts["plan"].counts[:-1]]) + 1
        alarms += chi2_contingency(t)[1] <= 0.05
    assert alarms >= 15  # the naive test's false alarm rate is far above 5%


def test_drift_is_found_and_an_exact_profile_can_be_the_reference() -> None:
    rng = np.random.default_rng(9)
    ref_prof = Profile().update(_frame(rng, 20_000))
    cur = release_profile(Profile().update(_frame(rng, 5000, shift=6.0)), DOMAINS,
                          epsilon=1.0, seed=1)  # fmt: skip
    report = compare(ref_prof, cur)
    assert report.drifted_columns == ["age"]
    age = report.results[0]
    assert age.p_value == pytest.approx(1 / 1000)
    assert age.noise_sd_reference == 0.0
    assert age.effect > 0.1
    frame = report.to_frame()
    assert list(frame["column"]) == ["age", "plan"]


# -- other sources -------------------------------------------------------------------


def test_group_counts_match_group_metrics() -> None:
    from prodml.fairness import GroupMetrics

    rng = np.random.default_rng(4)
    n = 3000
    sex = rng.choice(["F", "M", "X"], n, p=[0.48, 0.48, 0.04])
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < 0.8, y, 1 - y)
    gm = GroupMetrics(["sex"], ["selection_rate", "tpr"]).update(y, pred, sex)
    rel = release_group_counts(gm, ["F", "M"], epsilon=1e9, seed=0)
    table = rel.group_counts()
    exact = gm.counts()
    assert table[("F",)] == dict(zip(["tn", "fp", "fn", "tp"], exact[("F",)], strict=True))
    assert sum(table["<other>"].values()) == sum(exact[("X",)])
    report = gm.report().by_group
    rates = rel.rates("selection_rate")
    assert rates[("F",)] == pytest.approx(report.loc["F", "selection_rate"], abs=1e-12)
    noisy = release_group_counts(gm, ["F", "M"], epsilon=1.0, seed=3)
    assert noisy.parts["groups"].noise[0].scale == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="one per sensitive feature"):
        release_group_counts(gm, [("F", "a")], epsilon=1.0)
    with pytest.raises(ConfigError, match="'metric' parameter"):
        rel.rates("auc")


def test_monitor_window_release() -> None:
    from prodml.monitoring import CountWindow, ModelMonitor

    clock = iter([float(t) for t in range(100)]).__next__
    mon = ModelMonitor("m", window=CountWindow(50), clock=clock, evaluate_every_s=None)
    for i, (score, label) in enumerate([(0.9, 1), (0.2, 0), (0.8, 0), (0.7, 1)] * 5):
        mon.log_prediction(i, None, score, latency_s=0.001)
        mon.log_label(i, label)
    doms = {"output": Bins([0, 0.5, 1]), "label": Categories([0, 1])}
    rel = release_window(mon, doms, epsilon=1e9, seed=0)
    assert rel.parts["output"].noisy.tolist() == [5, 15, 0]
    assert rel.parts["label"].noisy.tolist() == [10, 10, 0, 0]
    with pytest.raises(SchemaError, match="no column 'score'"):
        release_window(mon.window, {"score": Bins([0, 1])}, epsilon=1.0)


# -- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epsilon": 0.0}, ConfigError, "'epsilon' parameter of a DP release must be a float > 0"),
        ({"epsilon": -0.5}, ConfigError, "must be a float > 0"),
        ({"epsilon": float("nan")}, ConfigError, "not NaN"),
        ({"epsilon": True}, ConfigError, "Got bool instead"),
        ({"epsilon": 1.0, "delta": 1e-6}, ConfigError, "of a Laplace release must be 0"),
        ({"epsilon": 1.0, "mechanism": "gaussian"}, ConfigError, r"Gaussian release must be a"),
        ({"epsilon": 1.0, "delta": 1.5, "mechanism": "gaussian"}, ConfigError, "in \\(0, 1\\)"),
        ({"epsilon": 1.0, "mechanism": "exponential"}, ConfigError, "'mechanism' parameter"),
        ({"epsilon": 1.0, "budget": 1.0}, ConfigError, "'budget' parameter"),
    ],
)  # fmt: skip
def test_bad_release_settings(kwargs: dict[str, object], error: type, match: str) -> None:
    prof = Profile().update(_frame(np.random.default_rng(0), 50))
    with pytest.raises(error, match=match):
        release_profile(prof, DOMAINS, **kwargs)  # type: ignore[arg-type]


def test_bad_inputs_name_what_is_wrong() -> None:
    df = _frame(np.random.default_rng(0), 50)
    prof = Profile().update(df)
    with pytest.raises(SchemaError, match="the profile has no column 'salary'") as err:
        release_profile(prof, {"salary": Bins([0, 1])}, epsilon=1.0)
    assert err.value.column == "salary"
    with pytest.raises(ConfigError, match=r"needs a prodml\.drift\.Profile; got DataFrame"):
        release_profile(df, DOMAINS, epsilon=1.0)
    with pytest.raises(ConfigError, match="declare Categories, not Bins"):
        release_profile(prof, {"plan": Bins([0, 1])}, epsilon=1.0)
    with pytest.raises(ConfigError, match="declare Bins, not Categories"):
        release_profile(prof, {"age": Categories([1])}, epsilon=1.0)
    with pytest.raises(ConfigError, match="non-empty dict"):
        release_profile(prof, {}, epsilon=1.0)
    bad_counts = [
        [1.5, 2.0, 0.0, 0.0],
        [1, -2, 0, 0],
        [1, 2, 3],
        np.array([2**63, 0, 0, 0], dtype=np.uint64),  # negative after an int64 cast
    ]
    for counts in bad_counts:
        with pytest.raises(ConfigError, match="must be 4 non-negative integers"):
            release_counts({"x": counts}, {"x": Categories(["a", "b"])}, epsilon=1.0)
    with pytest.raises(ConfigError, match=r"needs a prodml\.fairness\.GroupMetrics"):
        release_group_counts({"F": [1, 2, 3, 4]}, ["F"], epsilon=1.0)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Bins([1.0]), "at least 2 finite, strictly increasing"),
        (lambda: Bins([0, 0, 1]), "strictly increasing"),
        (lambda: Bins([0, float("inf")]), "finite"),
        (lambda: Bins("ab"), "list of numbers"),
        (lambda: Categories([]), "at least one value"),
        (lambda: Categories(["a", "a"]), "repeats 'a'"),
        (lambda: Categories([None]), "str, bool, int or finite float"),
        (lambda: Categories("abc"), "list of values"),
    ],
)
def test_bad_domains(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]


def test_compare_checks_its_inputs() -> None:
    prof = Profile().update(_frame(np.random.default_rng(0), 200))
    rel = release_profile(prof, DOMAINS, epsilon=1.0, seed=0)
    with pytest.raises(ConfigError, match="'alpha' parameter"):
        compare(rel, rel, alpha=1.5)
    with pytest.raises(ConfigError, match="DPRelease or a Profile"):
        compare(pd.DataFrame(), rel)
    other = release_profile(prof, {"age": Bins([0, 50, 100]), "plan": DOMAINS["plan"]},
                            epsilon=1.0, seed=0)  # fmt: skip
    with pytest.raises(ConfigError, match="domain of column 'age' differs"):
        compare(other, rel)


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: calibrate("laplace", 10**400, 0.0, 1), "epsilon"),
        (lambda: calibrate("laplace", 0.0, 0.0, 1), "epsilon"),
        (lambda: calibrate("gauss", 1.0, 1e-6, 1), "mechanism"),
        (lambda: calibrate("gaussian", 1.0, 0.0, 1), "delta"),  # no finite noise at delta 0
        (lambda: calibrate("gaussian", 1.0, 1.0, 1), "delta"),
        (lambda: calibrate("laplace", 1.0, 0.0, 0), "n_parts"),
        (lambda: calibrate("laplace", 1.0, 0.0, 2.5), "n_parts"),
        (lambda: privacy_loss("laplace", -1.0, 1), "scale"),
        (lambda: privacy_loss("laplace", math.nan, 1), "scale"),
        (lambda: privacy_loss("laplace", None, 1), "scale"),
        (lambda: opendp_measurement("laplace", 1.0, 1, delta=-0.1), "delta"),
    ],
)
def test_noise_functions_name_the_bad_argument_before_opendp_sees_it(
    call: object, parameter: str
) -> None:
    with pytest.raises(ConfigError) as err:
        call()  # type: ignore[operator]
    assert err.value.parameter == parameter
    assert f"'{parameter}' parameter of" in str(err.value)
    assert len(str(err.value)) < 200


def test_calibrated_scales_are_unchanged_by_the_checks() -> None:
    # Laplace: n_parts / epsilon (nudged up until OpenDP agrees); Gaussian: within budget.
    assert calibrate("laplace", 1.0, 0.0, 3) == pytest.approx(3.0, rel=1e-9)
    scale = calibrate("gaussian", 1.0, 1e-6, 2)
    assert privacy_loss("gaussian", scale, 2, 1e-6) <= 1.0
    assert privacy_loss("gaussian", scale * 0.99, 2, 1e-6) > 1.0
