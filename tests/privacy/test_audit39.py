"""Privacy audit (stop 39): findings in the DP releases, the budget and the PII policy.

Each test here failed before its fix, except the empirical privacy checks, which guard
the calibration with a test that a wrong scale would fail.
"""

from __future__ import annotations

import json
import math
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from prodml.drift import Profile
from prodml.errors import ConfigError, ProdMLError, StateError
from prodml.privacy import Privacy, find_personal_data, redact, redact_personal
from prodml.privacy_dp import (
    Bins,
    Categories,
    DPRelease,
    PrivacyBudget,
    PrivacyBudgetError,
    calibrate,
    release_counts,
    release_window,
)
from prodml.privacy_dp._noise import discrete_laplace

pytest.importorskip("opendp.prelude", reason="needs the 'privacy' extra (OpenDP)")

NO_NOISE = 1e6  # epsilon so large that the seeded noise is 0: the exact counts show

# -- counts the sampler cannot take, epsilons no release can be saved with ------------


def test_counts_beyond_32_bits_are_released_by_the_secure_sampler() -> None:
    # OpenDP's T=int is i32: a count of 2**31 or more raised a bare ValueError after the
    # budget had been charged.
    budget = PrivacyBudget(1.0)
    rel = release_counts({"x": [2**40, 3, 0]}, {"x": Bins([0, 1, 2])}, epsilon=1.0, budget=budget)
    noisy = rel.part("x").noisy
    assert abs(int(noisy[0]) - 2**40) < 200  # scale 1: |noise| >= 200 has chance e**-200
    assert budget.spent == (1.0, 0.0)
    assert DPRelease.from_json(rel.to_json()) == rel


@pytest.mark.parametrize("seed", [None, 0])
def test_counts_past_2_53_are_refused_before_the_budget_is_charged(seed: int | None) -> None:
    # 2**63 - 1 was accepted: the seeded path could wrap to a negative count and the
    # release (counts above 2**53) could not be loaded back.
    budget = PrivacyBudget(1.0)
    with pytest.raises(ConfigError, match=r"'x'.*2\*\*53"):
        release_counts(
            {"x": [2**63 - 1, 0, 0]}, {"x": Bins([0, 1, 2])}, epsilon=0.5, budget=budget,
            seed=seed,
        )  # fmt: skip
    assert budget.spent == (0.0, 0.0)
    assert budget.ledger == []


def test_noisy_counts_at_the_limit_stay_loadable() -> None:
    rel = release_counts({"x": [2**53, 2**53, 0]}, {"x": Bins([0, 1, 2])}, epsilon=0.1, seed=3)
    assert (np.abs(rel.part("x").noisy) <= 2**53).all()
    assert DPRelease.from_json(rel.to_json()) == rel


# (A Gaussian release at delta 1e-6 needs only scale 6e5 at any epsilon: delta covers it.)
@pytest.mark.parametrize(("mechanism", "delta"), [("laplace", 0.0), ("gaussian", 1e-12)])
def test_an_epsilon_too_small_to_save_is_refused_before_spending(
    mechanism: str, delta: float
) -> None:
    # Epsilon 1e-10 gave scale 1e10: released and charged, but its JSON failed to load
    # (scales are capped at 1e9 when loaded).
    budget = PrivacyBudget(1.0, 1e-3)
    with pytest.raises(ConfigError, match="too small") as err:
        release_counts(
            {"x": [5, 1, 0]}, {"x": Bins([0, 1, 2])}, epsilon=1e-10, delta=delta,
            mechanism=mechanism, budget=budget, seed=0,
        )  # fmt: skip
    assert err.value.parameter == "epsilon"
    assert budget.ledger == []


def test_every_release_that_is_made_can_be_loaded() -> None:
    # The smallest epsilon that is allowed for one part still round-trips.
    eps = 1 / 1e9 * (1 + 1e-9)
    rel = release_counts({"x": [5, 1, 0]}, {"x": Bins([0, 1, 2])}, epsilon=eps, seed=0)
    assert DPRelease.from_json(rel.to_json()) == rel


# -- monitor windows: nulls of every kind, values out of range -------------------------


def _window(labels: list[object]) -> object:
    from prodml.monitoring.windows import CountWindow

    win = CountWindow(100)
    for i, v in enumerate(labels):
        win.add(float(i), v, 0.5)  # type: ignore[arg-type]
    return win


@pytest.mark.parametrize("null", [np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT"), None])
def test_window_nulls_of_any_kind_count_in_the_null_cell(null: object) -> None:
    # np.float32 NaN was refused as "infinite", pd.NA and NaT as "not numeric".
    win = _window([0.5, 1.5, null, 1.5])
    bins = release_window(win, {"label": Bins([0, 1, 2])}, epsilon=NO_NOISE, seed=0)
    assert bins.part("label").noisy.tolist() == [1, 2, 1]
    cats = release_window(win, {"label": Categories([1.5])}, epsilon=NO_NOISE, seed=0)
    assert cats.part("label").noisy.tolist() == [2, 1, 1]


@pytest.mark.parametrize(
    ("value", "match"), [(10**400, "numeric"), (math.inf, "infinite")], ids=["10**400", "inf"]
)
def test_window_values_bins_cannot_take_are_refused_naming_the_column(
    value: object, match: str
) -> None:
    # 10**400 raised a bare OverflowError; neither message named the column.
    budget = PrivacyBudget(1.0)
    with pytest.raises(ConfigError, match=rf"'label'.*{match}|{match}.*'label'") as err:
        release_window(_window([1.0, value]), {"label": Bins([0, 1, 2])}, epsilon=1.0,
                       budget=budget)  # fmt: skip
    assert "1000000" not in str(err.value)  # the value itself is not shown
    assert budget.ledger == []


# -- the budget: the float range, hostile state, threads -------------------------------


def test_a_budget_near_the_float_range_is_never_overspent() -> None:
    # The tolerance was total * (1 + 1e-12): inf for the largest float, so anything fit.
    budget = PrivacyBudget(sys.float_info.max)
    budget.spend(1e308)
    with pytest.raises(PrivacyBudgetError):
        budget.spend(1e308)
    assert budget.spent == (1e308, 0.0)


def test_a_saved_ledger_whose_sum_overflows_is_refused_as_state() -> None:
    entry = {"label": "a", "epsilon": 1e308, "delta": 0.0, "at": "2026-01-01T00:00:00+00:00"}
    state = {"format_version": 1, "epsilon": 1.7e308, "delta": 0.0, "ledger": [entry, entry]}
    with pytest.raises(StateError, match="ledger"):  # was a bare OverflowError
        PrivacyBudget.from_json(json.dumps(state))


def test_threads_spending_at_once_never_overspend() -> None:
    budget = PrivacyBudget(epsilon=1.0)
    won: list[bool] = []
    start = threading.Barrier(8)

    def one() -> bool:
        try:
            budget.spend(0.01, label="t")
        except PrivacyBudgetError:
            return False
        return True

    def worker() -> None:
        start.wait()
        won.extend(one() for _ in range(50))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(won) == len(budget.ledger) == 100  # 100 spends of 0.01 fit, none more
    assert budget.spent[0] <= 1.0 * (1 + 1e-12)


# -- empirical privacy: neighbouring datasets, seeded ---------------------------------


def _tail_log_ratio(scale: float, n: int, seed: int) -> tuple[float, float]:
    """log P[out >= c+1 | count c+1] / P[out >= c+1 | count c], and its standard error.

    For discrete Laplace noise of scale ``s`` the ratio is exactly ``exp(1/s)``, the
    privacy loss of one row: an estimate of it checks the scale both ways.
    """
    rng = np.random.default_rng(seed)
    c = 100
    d = c + discrete_laplace(rng, scale, n)  # dataset D
    d1 = c + 1 + discrete_laplace(rng, scale, n)  # D plus one row
    k0, k1 = int((d >= c + 1).sum()), int((d1 >= c + 1).sum())
    return math.log(k1 / k0), math.sqrt(1 / k0 - 1 / n + 1 / k1 - 1 / n)


@pytest.mark.parametrize(("epsilon", "n_parts"), [(1.0, 1), (0.5, 1), (2.0, 4)])
def test_neighbouring_datasets_are_epsilon_apart_at_the_calibrated_scale(
    epsilon: float, n_parts: int
) -> None:
    scale = calibrate("laplace", epsilon, 0.0, n_parts)
    est, se = _tail_log_ratio(scale, 200_000, seed=11)
    per_part = epsilon / n_parts
    assert abs(est - per_part) < 5 * se  # not more loss than promised, nor less noise
    # The same test fails a scale off by a factor of 2 either way.
    for wrong in (scale / 2, scale * 2):
        est_w, se_w = _tail_log_ratio(wrong, 200_000, seed=11)
        assert abs(est_w - per_part) > 5 * se_w


def test_secure_sampler_output_is_integer_so_no_float_attack_applies() -> None:
    # Mironov (2012) reads the low bits of float Laplace noise; OpenDP's discrete
    # samplers return integers, so a released count has no low bits to read.
    rel = release_counts({"x": [7, 7, 7]}, {"x": Bins([0, 1, 2])}, epsilon=1.0)
    assert rel.secure
    assert rel.part("x").noisy.dtype == np.int64


# -- the PII policy: look-alikes, case, split values ----------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("\u0664\u0661\u0661\u0661" + "\u0661" * 12, "card"),  # Arabic-Indic digits
        ("ann\uff20example.com", "email"),  # fullwidth @
        ("ann@example.\uff43\uff4f\uff4d", "email"),  # fullwidth com
        ("ann@exa\u200bmple.com", "email"),  # zero-width space
        ("ann\u00ad@example.com", "email"),  # soft hyphen
        ("ann@ex\u0430mple.com", "email"),  # Cyrillic a
        ("\u043f\u0435\u0442\u0440@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "email"),
        ("gb82 west 1234 5698 7654 32", "iban"),
        ("ab 12 34 56 c", "nino"),
        ("078\u2011\u200b05-1120", "ssn"),  # non-breaking hyphen is not a hyphen: see below
    ],
)
def test_look_alikes_do_not_hide_personal_data(text: str, kind: str) -> None:
    if kind == "ssn":  # U+2011 folds to U+2010, not "-": this one must stay undetected
        assert find_personal_data(text) is None
        return
    assert find_personal_data(text) == kind
    assert redact_personal(f"from {text} today") == "from <redacted> today"


def test_redaction_maps_folded_matches_back_to_the_original_text() -> None:
    text = "ok \u00e9t\u00e9 ann\u200b@example.com, card \u0664111 1111 1111 1111 end"
    assert redact_personal(text) == "ok \u00e9t\u00e9 <redacted>, card <redacted> end"


def test_look_alike_values_never_reach_an_error_message() -> None:
    with pytest.raises(ConfigError) as err:
        Categories([["ann\uff20example.com"]])  # a list is not a category value
    assert "example" not in str(err.value)
    # repr writes the zero-width space as "\u200b": a text value is scanned itself.
    assert redact("ann@exa\u200bmple.com") == "<redacted>"


@pytest.mark.parametrize("spelt", ["Email", "EMAIL", " email ", "\uff45mail"])
def test_sensitive_names_match_whatever_their_case(spelt: str) -> None:
    policy = Privacy(sensitive=["email"], salt="not-a-real-salt")
    assert policy.is_sensitive(spelt)
    assert policy.protect_value(spelt, "plain") == policy.token("plain")
    assert policy.protect_counts(spelt, {"plain": 2}) == {policy.token("plain"): 2}
    # allow_raw stays exact: only the column named there is opted in.
    opted = Privacy(sensitive=["email"], allow_raw=["Email"], salt="not-a-real-salt")
    assert not opted.is_sensitive("Email")
    assert opted.is_sensitive("EMAIL")


def test_a_profile_keeps_no_raw_value_of_a_sensitive_column_spelt_otherwise() -> None:
    df = pd.DataFrame({"Customer": ["zed-alpha", "zed-beta", "zed-alpha"] * 10})
    policy = Privacy(sensitive=["customer"], salt="not-a-real-salt")
    text = Profile(privacy=policy).update(df).to_json()
    assert "zed-" not in text


def test_errors_carry_no_value_about_a_person() -> None:
    with pytest.raises(ProdMLError) as err:
        release_window(_window(["ann@example.com"]), {"label": Bins([0, 1])}, epsilon=1.0)
    assert "ann" not in str(err.value)
