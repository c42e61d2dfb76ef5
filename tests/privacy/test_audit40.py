"""Privacy stop 40: a budget file that cannot be edited, exact accounting, bounded persons.

Each test here failed on main before its change (main had no ``key=``, no exact sums,
no ``release_rows`` nor ``max_rows_per_person``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import pickle
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import ConfigError, SchemaError, StateError
from prodml.privacy_dp import (
    Bins,
    BudgetIntegrityError,
    Categories,
    DPRelease,
    PrivacyBudget,
    PrivacyBudgetError,
    calibrate,
    compare,
    privacy_loss,
    release_counts,
    release_rows,
)
from prodml.privacy_dp._rows import bound_rows

dp = pytest.importorskip("opendp.prelude", reason="needs the 'privacy' extra (OpenDP)")
dp.enable_features("contrib")

KEY = "k3y-of-the-test-ledger-0123456789"
OTHER_KEY = "another-key-of-32-bytes-abcdefgh"


def _budget() -> PrivacyBudget:
    b = PrivacyBudget(1.0, 1e-6)
    b.spend(0.25, label="site-a")
    b.spend(0.125, 1e-7, label="site-b")
    return b


def _exact(x: float) -> Fraction:
    return Fraction(repr(x))


# -- 1. integrity: a MAC over the saved ledger ----------------------------------------


def test_a_keyed_ledger_round_trips_and_never_holds_the_key() -> None:
    b = _budget()
    text = b.to_json(key=KEY)
    state = json.loads(text)
    assert state["format_version"] == 2
    assert len(state["mac"]) == 64
    assert KEY not in text
    loaded = PrivacyBudget.from_json(text, key=KEY)
    assert loaded == b
    assert loaded.spent == b.spent
    assert KEY.encode() not in pickle.dumps(loaded)
    assert KEY not in repr(loaded)


def test_the_key_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODML_BUDGET_KEY", KEY)
    text = _budget().to_json()
    assert "mac" in json.loads(text)
    assert PrivacyBudget.from_json(text) == _budget()
    monkeypatch.delenv("PRODML_BUDGET_KEY")
    with pytest.raises(BudgetIntegrityError, match="no key was given"):
        PrivacyBudget.from_json(text)


def _edits() -> list[tuple[str, object]]:
    def spent_less(s: dict) -> None:
        s["ledger"][0]["epsilon"] = 0.0625

    def dropped(s: dict) -> None:
        del s["ledger"][1]

    def bigger_total(s: dict) -> None:
        s["epsilon"] = 10.0

    def relabelled(s: dict) -> None:
        s["ledger"][0]["label"] = "nothing to see"

    def new_mac(s: dict) -> None:
        s["mac"] = "0" * 64

    def mac_of_other_type(s: dict) -> None:
        s["mac"] = 12

    return [
        ("spent less", spent_less),
        ("dropped entry", dropped),
        ("bigger total", bigger_total),
        ("relabelled", relabelled),
        ("forged mac", new_mac),
        ("mac not text", mac_of_other_type),
    ]


@pytest.mark.parametrize(("what", "edit"), _edits(), ids=[w for w, _ in _edits()])
def test_an_edited_ledger_is_refused(
    what: str, edit: object, caplog: pytest.LogCaptureFixture
) -> None:
    state = _budget().to_dict(key=KEY)
    edit(state)  # type: ignore[operator]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BudgetIntegrityError, match="does not match its MAC") as err:
        PrivacyBudget.from_json(json.dumps(state), key=KEY)
    assert isinstance(err.value, StateError)
    for text in (str(err.value), caplog.text):
        assert KEY not in text
        assert str(state["mac"]) not in text or state["mac"] == 12


def test_another_key_is_refused_and_no_key_is_refused() -> None:
    text = _budget().to_json(key=KEY)
    with pytest.raises(BudgetIntegrityError, match="does not match") as err:
        PrivacyBudget.from_json(text, key=OTHER_KEY)
    assert OTHER_KEY not in str(err.value)
    assert KEY not in str(err.value)
    with pytest.raises(BudgetIntegrityError, match="no key was given"):
        PrivacyBudget.from_json(text)


def test_a_stripped_mac_is_refused_when_a_key_is_given() -> None:
    state = _budget().to_dict(key=KEY)
    del state["mac"]
    state["format_version"] = 1
    state["ledger"] = []  # the edit the stripping was for
    with pytest.raises(BudgetIntegrityError, match="has no MAC but a key was given"):
        PrivacyBudget.from_dict(state, key=KEY)
    # Without a key, a format-1 state loads as before (integrity is opt-in).
    assert PrivacyBudget.from_dict(state).ledger == []


def test_a_mac_of_another_prodml_object_does_not_verify_here() -> None:
    # The MAC is tagged with the class: the same JSON's HMAC without the tag is refused.
    import hashlib
    import hmac

    state = _budget().to_dict(key=KEY)
    body = {k: v for k, v in state.items() if k != "mac"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    state["mac"] = hmac.new(KEY.encode(), canon.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(BudgetIntegrityError):
        PrivacyBudget.from_dict(state, key=KEY)


@pytest.mark.parametrize("key", ["tiny-k3y", b"", 12345, ["k"]])
def test_bad_keys_are_refused_without_showing_them(key: object) -> None:
    with pytest.raises(ConfigError, match="'key' parameter") as err:
        _budget().to_json(key=key)  # type: ignore[arg-type]
    assert err.value.parameter == "key"
    if isinstance(key, str):
        assert key not in str(err.value)


def test_a_short_environment_key_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRODML_BUDGET_KEY", "tiny-secret")
    with pytest.raises(ConfigError, match="PRODML_BUDGET_KEY") as err:
        _budget().to_json()
    assert "tiny-secret" not in str(err.value)


def test_a_rolled_back_copy_is_refused_when_the_release_count_is_pinned() -> None:
    b = PrivacyBudget(1.0)
    b.spend(0.25, label="first")
    old = b.to_json(key=KEY)  # a valid copy, kept aside by someone
    b.spend(0.5, label="second")
    pinned = b.releases
    assert pinned == 2
    current = b.to_json(key=KEY)
    assert PrivacyBudget.from_json(current, key=KEY, min_releases=pinned) == b
    with pytest.raises(BudgetIntegrityError, match=r"1 release\(s\), fewer than.*min_releases=2"):
        PrivacyBudget.from_json(old, key=KEY, min_releases=pinned)
    # Unpinned, the older copy is valid: the MAC alone cannot tell it is old.
    assert PrivacyBudget.from_json(old, key=KEY).spent == (0.25, 0.0)


@pytest.mark.parametrize("pin", [-1, 1.5, True, "2"])
def test_min_releases_must_be_a_count(pin: object) -> None:
    with pytest.raises(ConfigError, match="'min_releases'"):
        PrivacyBudget.from_json(_budget().to_json(), min_releases=pin)  # type: ignore[arg-type]


def test_the_ledger_cannot_be_changed_in_place() -> None:
    b = _budget()
    b.ledger.clear()
    assert b.releases == 2
    assert b.spent == (0.375, 1e-7)


# -- 2. conservative accounting: exact sums, no tolerance --------------------------------


def test_after_the_whole_budget_even_a_tiny_spend_is_refused() -> None:
    # Main allowed 1e-12 of the total on top: a long run of tiny spends went over.
    b = PrivacyBudget(1.0)
    b.spend(1.0)
    with pytest.raises(PrivacyBudgetError):
        b.spend(1e-13)
    tiny = PrivacyBudget(1e-3)
    for _ in range(1000):
        tiny.spend(1e-6)
    assert not tiny.can_spend(1e-18)


def test_amounts_count_as_written() -> None:
    b = PrivacyBudget(1.0)
    for _ in range(10):
        b.spend(0.1)  # ten tenths fill a total of 1.0 exactly (decimals, not floats)
    assert b.remaining == (0.0, 0.0)
    assert not b.can_spend(5e-324)
    c = PrivacyBudget(0.3)
    c.spend(0.1)
    c.spend(0.2)
    assert not c.can_spend(5e-324)


amounts = st.one_of(
    st.floats(1e-6, 0.7),
    st.floats(1e-17, 1e-11),  # the tiny spends a relative tolerance let through
    st.just(0.1),
)


@settings(max_examples=300, deadline=None)
@given(
    total=st.one_of(st.floats(1e-3, 3.0), st.sampled_from([0.3, 1.0, 1e-300, 1e300])),
    total_delta=st.sampled_from([0.0, 1e-6, 0.3]),
    seq=st.lists(st.tuples(amounts, st.sampled_from([0.0, 1e-7, 1e-18])), max_size=40),
    fill=st.booleans(),
)
def test_granted_spends_never_add_up_to_more_than_the_budget(
    total: float, total_delta: float, seq: list[tuple[float, float]], fill: bool
) -> None:
    b = PrivacyBudget(total, total_delta)
    for eps, dlt in seq:
        with contextlib.suppress(PrivacyBudgetError):
            b.spend(eps, dlt)
        granted = b.ledger
        assert sum(_exact(s.epsilon) for s in granted) <= _exact(total)
        assert sum(_exact(s.delta) for s in granted) <= _exact(total_delta)
    if fill:  # what is left can always be spent, leaving less than two ulps of it
        eps, dlt = b.remaining
        if eps > 0:
            b.spend(eps, dlt)
            left = _exact(total) - sum(_exact(s.epsilon) for s in b.ledger)
            assert 0 <= left < 2 * Fraction(math.ulp(eps))
    again = PrivacyBudget.from_json(b.to_json())
    assert again == b


def test_a_saved_ledger_over_its_total_by_any_amount_is_refused() -> None:
    entry = {"label": "a", "epsilon": 1.0, "delta": 0.0, "at": "2026-01-01T00:00:00+00:00"}
    tiny = {**entry, "epsilon": 1e-13}
    state = {"format_version": 1, "epsilon": 1.0, "delta": 0.0, "ledger": [entry, tiny]}
    with pytest.raises(StateError, match="ledger"):
        PrivacyBudget.from_json(json.dumps(state))


@pytest.mark.parametrize("epsilon", [0.1, 0.3, 0.7, 1 / 3, 2.2])
@pytest.mark.parametrize("n_parts", [1, 3])
def test_calibrated_noise_loses_at_most_the_decimal_epsilon(epsilon: float, n_parts: int) -> None:
    # Main calibrated to the float 0.1, a hair above the one tenth the ledger counts.
    scale = calibrate("laplace", epsilon, 0.0, n_parts)
    assert Fraction(privacy_loss("laplace", scale, n_parts)) <= _exact(epsilon)
    g = calibrate("gaussian", epsilon, 1e-7, n_parts)
    assert Fraction(privacy_loss("gaussian", g, n_parts, 1e-7)) <= _exact(epsilon)


# -- 3. contributions per person: bounded, noise scaled ----------------------------------


def _opendp_scale(mechanism: str, k: int, epsilon: float, delta: float) -> float:
    """The scale OpenDP's own pipeline needs: count by categories of k-row persons, noise."""
    space = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    if mechanism == "laplace":
        count = dp.t.make_count_by_categories(*space, categories=["x", "y"], TOA=int)
        return float(
            dp.binary_search_param(lambda s: count >> dp.m.then_laplace(s), d_in=k, d_out=epsilon)
        )
    count = dp.t.make_count_by_categories(
        *space, categories=["x", "y"], MO=dp.L2Distance[int], TOA=int
    )

    def make(s: float) -> object:
        return dp.c.make_fix_delta(
            dp.c.make_zCDP_to_approxDP(count >> dp.m.then_gaussian(s)), delta
        )

    return float(dp.binary_search_param(make, d_in=k, d_out=(epsilon, delta)))


@pytest.mark.parametrize("k", [1, 2, 5, 40])
@pytest.mark.parametrize(("mechanism", "delta"), [("laplace", 0.0), ("gaussian", 1e-6)])
def test_the_noise_scale_matches_opendp_for_k_rows_per_person(
    k: int, mechanism: str, delta: float
) -> None:
    ours = calibrate(mechanism, 0.5, delta, 1, max_rows_per_person=k)
    assert ours == pytest.approx(_opendp_scale(mechanism, k, 0.5, delta), rel=1e-6)
    assert privacy_loss(mechanism, ours, 1, delta, max_rows_per_person=k) <= 0.5
    assert ours == pytest.approx(k * calibrate(mechanism, 0.5, delta, 1), rel=1e-6)


def _visits(n_people: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = rng.integers(1, 30, n_people)
    users = np.repeat([f"u{i}" for i in range(n_people)], rows)
    return pd.DataFrame(
        {
            "user": users,
            "page": rng.choice(["home", "cart", "pay"], users.size),
            "ms": rng.exponential(300, users.size),
        }
    )


def test_release_rows_bounds_each_person_and_scales_the_noise() -> None:
    data = _visits(200, 0)
    domains = {"page": Categories(["home", "cart"]), "ms": Bins([0, 100, 1000, 5000])}
    budget = PrivacyBudget(2.0)
    rel = release_rows(
        data, domains, epsilon=1.0, person="user", max_rows_per_person=3, budget=budget,
        seed=1, label="visits", persons_share=0.0,  # no count of persons (stop 42's option)
    )  # fmt: skip
    kept = int(np.minimum(data.groupby("user").size().to_numpy(), 3).sum())
    exact = release_rows(
        data, domains, epsilon=1e9, person="user", max_rows_per_person=3, seed=1
    )  # no noise to speak of: the bounded counts themselves
    assert sum(exact.counts("page").values()) == kept
    assert sum(exact.counts("ms").values()) == kept
    assert rel.unit == "person"
    assert rel.max_rows_per_person == 3
    assert {p.noise[0].scale for p in rel.parts.values()} == {
        calibrate("laplace", 1.0, 0.0, 2, max_rows_per_person=3)
    }
    assert rel.parts["page"].noise[0].scale == pytest.approx(6.0)  # 2 columns * 3 rows / 1
    assert budget.ledger[0].label == "visits"
    assert budget.spent == (1.0, 0.0)
    assert "user" not in rel.columns


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=1, max_size=15),
    extra=st.integers(1, 40),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_bounding_keeps_at_most_k_rows_and_a_person_moves_counts_by_at_most_k(
    sizes: list[int], extra: int, k: int, seed: int
) -> None:
    users = np.repeat(np.arange(len(sizes)), sizes)
    frame = pd.DataFrame({"user": users, "v": np.arange(users.size) % 3})
    out = bound_rows(frame, "user", k, np.random.default_rng(seed))
    per = out.groupby("user").size()
    assert (per.to_numpy() == np.minimum(sizes, k)).all()
    assert out.index.is_monotonic_increasing  # original order kept
    # Neighbour: one more person with `extra` rows. Counts differ by at most k in L1.
    more = pd.concat([frame, pd.DataFrame({"user": [-1] * extra, "v": [0] * extra})])
    dom = Categories([0, 1, 2])
    a = release_rows(
        frame, {"v": dom}, epsilon=1e9, person="user", max_rows_per_person=k, seed=seed
    )
    b = release_rows(more, {"v": dom}, epsilon=1e9, person="user", max_rows_per_person=k, seed=seed)
    assert int(np.abs(b.part("v").noisy - a.part("v").noisy).sum()) == min(extra, k)


def test_release_rows_without_a_person_counts_rows() -> None:
    data = _visits(50, 2)
    rel = release_rows(data, {"page": Categories(["home", "cart", "pay"])}, epsilon=1e9, seed=0)
    assert rel.unit == "row"
    assert rel.max_rows_per_person is None
    assert rel.counts("page") == {
        **data["page"].value_counts().to_dict(),
        "<other>": 0,
        "<null>": 0,
    }
    assert rel.to_dict()["format_version"] == 1


def test_a_person_release_saves_loads_merges_and_compares() -> None:
    domains = {"page": Categories(["home", "cart", "pay"])}

    def site(seed: int) -> DPRelease:
        return release_rows(
            _visits(300, seed), domains, epsilon=1.0, person="user", max_rows_per_person=4,
            seed=seed, persons_share=0.0,  # format 2: no count of persons
        )  # fmt: skip

    a, b = site(1), site(2)
    state = a.to_dict()
    assert (state["format_version"], state["unit"], state["max_rows_per_person"]) == (
        2,
        "person",
        4,
    )
    assert DPRelease.from_json(a.to_json()) == a
    merged = a.merge(b)
    assert merged.max_rows_per_person == 4
    assert merged.sites == 2
    assert compare(merged, site(3)).results[0].column == "page"
    rows = release_rows(_visits(300, 4), domains, epsilon=1.0, seed=4)
    with pytest.raises(ConfigError, match="units of privacy"):
        a.merge(rows)
    other_k = release_rows(
        _visits(300, 5), domains, epsilon=1.0, person="user", max_rows_per_person=2, seed=5
    )
    with pytest.raises(ConfigError, match=r"at most 4 rows.*at most 2 rows"):
        a.merge(other_k)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit": "row"}, "unit"),
        ({"max_rows_per_person": 0}, "max_rows_per_person"),
        ({"max_rows_per_person": 10**7}, "max_rows_per_person"),
        ({"format_version": 1}, "max_rows_per_person"),
    ],
)
def test_a_saved_person_release_is_validated(change: dict, field: str) -> None:
    rel = release_rows(
        _visits(20, 0), {"page": Categories(["home"])}, epsilon=1.0, person="user",
        max_rows_per_person=2, seed=0,
    )  # fmt: skip
    state = {**rel.to_dict(), **change}
    with pytest.raises(StateError, match=field):
        DPRelease.from_dict(state)


def test_release_counts_takes_a_declared_bound() -> None:
    rel = release_counts(
        {"x": [5, 6, 0]}, {"x": Bins([0, 1, 2])}, epsilon=0.5, max_rows_per_person=7, seed=0
    )
    assert rel.unit == "person"
    assert rel.parts["x"].noise[0].scale == calibrate("laplace", 0.5, 0.0, 1, max_rows_per_person=7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"person": "user"}, "both 'person'"),
        ({"max_rows_per_person": 2}, "both 'person'"),
        ({"person": "user", "max_rows_per_person": 0}, "'max_rows_per_person'"),
        ({"person": "user", "max_rows_per_person": 2.0}, "'max_rows_per_person'"),
        ({"person": "user", "max_rows_per_person": True}, "'max_rows_per_person'"),
    ],
)
def test_release_rows_settings_are_checked(kwargs: dict, match: str) -> None:
    budget = PrivacyBudget(1.0)
    with pytest.raises(ConfigError, match=match):
        release_rows(_visits(5, 0), {"page": Categories(["home"])}, epsilon=0.5, budget=budget,
                     **kwargs)  # fmt: skip
    assert budget.ledger == []


def test_null_person_ids_and_missing_columns_are_refused_without_values() -> None:
    data = _visits(5, 0)
    data.loc[2, "user"] = None
    budget = PrivacyBudget(1.0)
    with pytest.raises(SchemaError, match="null ids") as err:
        release_rows(data, {"page": Categories(["home"])}, epsilon=0.5, person="user",
                     max_rows_per_person=2, budget=budget)  # fmt: skip
    assert "u0" not in str(err.value)
    assert "u1" not in str(err.value)
    with pytest.raises(SchemaError, match="'who'"):
        release_rows(data, {"page": Categories(["home"])}, epsilon=0.5, person="who",
                     max_rows_per_person=2, budget=budget)  # fmt: skip
    with pytest.raises(ConfigError, match="cannot be released"):
        release_rows(data, {"user": Categories(["u0"])}, epsilon=0.5, person="user",
                     max_rows_per_person=2, budget=budget)  # fmt: skip
    assert budget.ledger == []


def test_release_rows_bins_datetimes_as_epoch_seconds_and_reads_arrow() -> None:
    pa = pytest.importorskip("pyarrow")
    t = pd.to_datetime(["2026-01-01", "2026-06-01", None], utc=True)
    data = pd.DataFrame({"t": t, "who": ["a", "a", "b"]})
    edges = [pd.Timestamp("2025-01-01", tz="UTC").timestamp(),
             pd.Timestamp("2026-03-01", tz="UTC").timestamp(),
             pd.Timestamp("2027-01-01", tz="UTC").timestamp()]  # fmt: skip
    rel = release_rows(pa.Table.from_pandas(data), {"t": Bins(edges)}, epsilon=1e9, seed=0)
    assert list(rel.counts("t").values()) == [1, 1, 1]


def test_release_rows_counts_categories_as_a_profile_does() -> None:
    # Object columns mixing 1 and True, numpy ints and nulls of every kind.
    col = [1, True, np.int64(1), "a", None, float("nan"), pd.NA, "b", "a"]
    data = pd.DataFrame({"c": pd.Series(col, dtype=object)})
    rel = release_rows(data, {"c": Categories([1, "a"])}, epsilon=1e9, seed=0)
    assert rel.counts("c") == {1: 3, "a": 2, "<other>": 1, "<null>": 3}
