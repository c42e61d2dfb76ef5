"""Privacy stop 41: every release that counts rows bounds each person's rows.

Each test here failed on main before its change (except three guards that pass on both:
``release_rows`` bounding, drift still found between person releases, ``can_spend`` on
numbers): ``release_profile``,
``release_group_counts`` and ``release_window`` took no ``person=`` (a person with many
rows was protected at ``rows * epsilon``), ``compare`` took a person's alike rows for
independent draws (too many false alarms), and ``can_spend("0.1")`` answered ``True``.
"""

from __future__ import annotations

import math
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from prodml.drift import Profile
from prodml.errors import ConfigError, SchemaError
from prodml.fairness import GroupMetrics
from prodml.monitoring.windows import CountWindow
from prodml.privacy_dp import (
    Bins,
    Categories,
    DPRelease,
    PrivacyBudget,
    calibrate,
    compare,
    release_group_counts,
    release_profile,
    release_rows,
    release_window,
)
from prodml.privacy_dp import _sources as sources_module

dp = pytest.importorskip("opendp.prelude", reason="needs the 'privacy' extra (OpenDP)")
dp.enable_features("contrib")

DOMAINS = {"page": Categories(["home", "cart"]), "ms": Bins([0, 100, 1000, 5000])}


def _visits(n_people: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = np.repeat([f"u{i}" for i in range(n_people)], rng.integers(1, 30, n_people))
    return pd.DataFrame(
        {
            "user": users,
            "page": rng.choice(["home", "cart", "pay"], users.size),
            "ms": rng.exponential(300, users.size),
            "sex": rng.choice(["F", "M"], users.size),
            "y_true": rng.integers(0, 2, users.size),
            "y_pred": rng.integers(0, 2, users.size),
        }
    )


def _window(frame: pd.DataFrame) -> CountWindow:
    win = CountWindow(max(len(frame), 1))
    for t, (y, out) in enumerate(zip(frame["y_true"], frame["y_pred"], strict=True)):
        win.add(float(t), int(y), int(out))
    return win


def _release(kind: str, frame: pd.DataFrame, k: int, **kwargs: Any) -> DPRelease:
    """One release of ``frame``'s rows, at most ``k`` per person, by each entry point.

    Without a count of persons (``persons_share=0``, stop 42's option): the columns get
    all of epsilon, as stop 41 released them; ``test_audit42.py`` tests the split.
    """
    kwargs = {"epsilon": 1.0, "seed": 0, **kwargs}
    if kind != "group_counts":
        kwargs.setdefault("persons_share", 0.0)
    if kind == "rows":
        return release_rows(frame, DOMAINS, person="user", max_rows_per_person=k, **kwargs)
    if kind == "profile":
        return release_profile(
            Profile(), DOMAINS, data=frame, person="user", max_rows_per_person=k, **kwargs
        )
    if kind == "group_counts":
        return release_group_counts(
            GroupMetrics(["sex"]), ["F", "M"], data=frame, person="user",
            max_rows_per_person=k, **kwargs,
        )  # fmt: skip
    return release_window(
        _window(frame), {"label": Categories([0, 1]), "output": Categories([0, 1])},
        person=frame["user"].tolist(), max_rows_per_person=k, **kwargs,
    )  # fmt: skip


KINDS = ["rows", "profile", "group_counts", "window"]


def _exact(kind: str, frame: pd.DataFrame, k: int, seed: int) -> DPRelease:
    """The release with its noise taken out (``sample`` returns the counts as they are)."""
    with mock.patch.object(sources_module, "sample", lambda _m, _s, counts, _r: counts):
        return _release(kind, frame, k, seed=seed)


# -- 1. the bound holds in every release ------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_release_bounds_each_person_and_scales_the_noise(kind: str) -> None:
    data = _visits(120, 0)
    budget = PrivacyBudget(2.0)
    rel = _release(kind, data, 3, budget=budget, label=kind)
    kept = int(np.minimum(data.groupby("user").size().to_numpy(), 3).sum())
    exact = _exact(kind, data, 3, seed=0)
    for part in exact.parts.values():
        assert int(part.noisy.sum()) == kept  # every person counted at most 3 times
    assert (rel.unit, rel.max_rows_per_person, rel.source) == ("person", 3, kind)
    n_parts = len(rel.parts)
    assert {p.noise[0].scale for p in rel.parts.values()} == {
        calibrate("laplace", 1.0, 0.0, n_parts, max_rows_per_person=3)
    }
    assert budget.spent == (1.0, 0.0)
    assert "user" not in rel.columns
    assert DPRelease.from_json(rel.to_json()) == rel  # saved as a person release


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    sizes=st.lists(st.integers(1, 10), min_size=1, max_size=12),
    extra=st.integers(1, 25),
    k=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_person_moves_any_release_by_more_than_k_rows(
    kind: str, sizes: list[int], extra: int, k: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    users = np.repeat([f"p{i}" for i in range(len(sizes))], sizes)
    n = users.size

    def rows(who: np.ndarray) -> pd.DataFrame:
        m = who.size
        return pd.DataFrame(
            {
                "user": who,
                "page": rng.choice(["home", "cart", "pay"], m),
                "ms": rng.exponential(300, m),
                "sex": rng.choice(["F", "M"], m),
                "y_true": rng.integers(0, 2, m),
                "y_pred": rng.integers(0, 2, m),
            }
        )

    base = rows(users)
    more = pd.concat([base, rows(np.array(["new"] * extra))], ignore_index=True)
    a, b = _exact(kind, base, k, seed), _exact(kind, more, k, seed)
    for name, part in a.parts.items():
        assert int(part.noisy.sum()) == int(np.minimum(sizes, k).sum())
        # The same seed keeps every other person's rows: the new person adds at most k.
        moved = int(np.abs(b.parts[name].noisy - part.noisy).sum())
        assert moved == min(extra, k)
    assert n == len(base)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.sampled_from(["a", "b", "c", 1, 2, 2.5]), max_size=60),
    k=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_kept_rows_are_at_most_k_per_person_and_all_of_the_small_ones(
    ids: list[object], k: int, seed: int
) -> None:
    from prodml.privacy_dp._persons import kept_rows

    keep = kept_rows(pd.Series(ids, dtype=object), k, np.random.default_rng(seed), "user")
    assert (np.diff(keep) > 0).all()  # ascending: the rows keep their order
    kept = pd.Series([ids[i] for i in keep], dtype=object).value_counts()
    sizes = pd.Series(ids, dtype=object).value_counts()
    for who, n in sizes.items():
        assert kept.get(who, 0) == min(int(n), k)


def test_which_rows_a_person_keeps_is_uniform() -> None:
    # One person of 6 rows, k = 2: each of the 15 pairs about equally often.
    from prodml.privacy_dp._persons import kept_rows

    rng = np.random.default_rng(3)
    pairs: dict[tuple[int, ...], int] = {}
    for _ in range(3000):
        key = tuple(kept_rows(pd.Series(["a"] * 6), 2, rng, "user").tolist())
        pairs[key] = pairs.get(key, 0) + 1
    assert len(pairs) == 15
    assert stats.chisquare(list(pairs.values())).pvalue > 1e-3  # seeded: deterministic


# -- the scales against OpenDP's own pipelines -------------------------------------------


def _opendp_scale(mechanism: str, k: int, epsilon: float, delta: float, n_parts: int) -> float:
    """OpenDP: ``n_parts`` histograms of one table of k-row persons, composed, then noise."""
    space = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    if mechanism == "laplace":
        count = dp.t.make_count_by_categories(*space, categories=["x"], TOA=int)

        def make(s: float) -> Any:
            return dp.c.make_composition([count >> dp.m.then_laplace(s)] * n_parts)

        return float(dp.binary_search_param(make, d_in=k, d_out=epsilon))
    count = dp.t.make_count_by_categories(*space, categories=["x"], MO=dp.L2Distance[int], TOA=int)

    def make_g(s: float) -> Any:
        zcdp = dp.c.make_composition([count >> dp.m.then_gaussian(s)] * n_parts)
        return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(zcdp), delta)

    return float(dp.binary_search_param(make_g, d_in=k, d_out=(epsilon, delta)))


@pytest.mark.parametrize("kind", ["profile", "group_counts", "window"])
@pytest.mark.parametrize(("mechanism", "delta"), [("laplace", 0.0), ("gaussian", 1e-6)])
@pytest.mark.parametrize("k", [1, 4, 25])
def test_person_scales_match_opendp(kind: str, mechanism: str, delta: float, k: int) -> None:
    rel = _release(kind, _visits(30, 1), k, epsilon=0.5, delta=delta, mechanism=mechanism)
    ours = next(iter(rel.parts.values())).noise[0].scale
    theirs = _opendp_scale(mechanism, k, 0.5, delta, len(rel.parts))
    assert ours == pytest.approx(theirs, rel=1e-6)


# -- refused settings: nothing spent ------------------------------------------------------


def _call(kind: str, **kwargs: Any) -> DPRelease:
    data = _visits(6, 0)
    base: dict[str, Any] = {"epsilon": 0.5, "seed": 0}
    if kind == "profile":
        return release_profile(Profile(), DOMAINS, **{**base, "data": data, **kwargs})
    if kind == "group_counts":
        return release_group_counts(
            GroupMetrics(["sex"]), ["F"], **{**base, "data": data, **kwargs}
        )
    win = kwargs.pop("window", _window(data))
    return release_window(win, {"label": Categories([1])}, **{**base, **kwargs})


def _ids(kind: str) -> object:
    return _visits(6, 0)["user"].tolist() if kind == "window" else "user"


@pytest.mark.parametrize("kind", ["profile", "group_counts", "window"])
@pytest.mark.parametrize(
    ("settings_", "match"),
    [
        ({"person": True}, "both 'person'"),
        ({"max_rows_per_person": 2}, "both 'person'"),
        ({"person": True, "max_rows_per_person": 0}, "'max_rows_per_person'"),
        ({"person": True, "max_rows_per_person": True}, "'max_rows_per_person'"),
        ({"person": True, "max_rows_per_person": 2.0}, "'max_rows_per_person'"),
        ({"person": True, "max_rows_per_person": 10**7}, "'max_rows_per_person'"),
    ],
)
def test_bad_person_settings_are_refused_before_spending(
    kind: str, settings_: dict[str, Any], match: str
) -> None:
    budget = PrivacyBudget(1.0)
    given_ = {k: (_ids(kind) if v is True and k == "person" else v) for k, v in settings_.items()}
    with pytest.raises(ConfigError, match=match):
        _call(kind, budget=budget, **given_)
    assert budget.ledger == []


def _with_template(kind: str, template: Any, data: Any, budget: PrivacyBudget) -> DPRelease:
    settings_ = {"epsilon": 0.5, "data": data, "person": "user", "max_rows_per_person": 2}
    if kind == "profile":
        return release_profile(template, DOMAINS, budget=budget, **settings_)
    return release_group_counts(template, ["F"], budget=budget, **settings_)


@pytest.mark.parametrize("kind", ["profile", "group_counts"])
def test_rows_and_templates_are_checked(kind: str) -> None:
    budget = PrivacyBudget(1.0)
    with pytest.raises(ConfigError, match="'data' only with 'person'"):
        _call(kind, budget=budget)  # data without person: the rows would not be bounded
    template: Any = Profile() if kind == "profile" else GroupMetrics(["sex"])
    with pytest.raises(ConfigError, match="needs the rows as 'data'"):
        _with_template(kind, template, None, budget)
    data = _visits(6, 0)
    full: Any = (
        Profile().update(data[["page", "ms"]])
        if kind == "profile"
        else GroupMetrics(["sex"]).update(data["y_true"], data["y_pred"], data)
    )
    with pytest.raises(ConfigError, match=r"already holds \d+ row"):
        _with_template(kind, full, data, budget)
    with pytest.raises(SchemaError, match="'who'"):
        _call(kind, person="who", max_rows_per_person=2, budget=budget)
    assert budget.ledger == []


@pytest.mark.parametrize("kind", ["profile", "group_counts", "window"])
def test_null_person_ids_are_reported_with_their_number_not_dropped(kind: str) -> None:
    data = _visits(6, 0)
    data.loc[[1, 4], "user"] = [None, float("nan")]
    budget = PrivacyBudget(1.0)
    person: object = data["user"].tolist() if kind == "window" else "user"
    bounded = {"person": person, "max_rows_per_person": 2, "budget": budget}
    extra = {"window": _window(data)} if kind == "window" else {"data": data}
    with pytest.raises(SchemaError, match=f"null ids in 2 of {len(data)} rows") as err:
        _call(kind, **bounded, **extra)
    assert "u0" not in str(err.value)
    assert budget.ledger == []


def test_window_ids_must_be_one_per_prediction() -> None:
    win = _window(_visits(6, 0))
    with pytest.raises(ConfigError, match="one id per prediction"):
        release_window(win, {"label": Categories([1])}, epsilon=0.5, person=["a"],
                       max_rows_per_person=2)  # fmt: skip
    with pytest.raises(ConfigError, match="no columns to name"):
        release_window(win, {"label": Categories([1])}, epsilon=0.5, person="user",
                       max_rows_per_person=2)  # fmt: skip


def test_the_person_column_itself_is_not_released() -> None:
    data = _visits(6, 0)
    with pytest.raises(ConfigError, match="cannot be released"):
        release_profile(Profile(), {"user": Categories(["u0"])}, epsilon=0.5, data=data,
                        person="user", max_rows_per_person=2)  # fmt: skip


def test_person_releases_merge_only_with_the_same_bound() -> None:
    a = _release("profile", _visits(50, 1), 4, seed=1)
    b = _release("profile", _visits(50, 2), 4, seed=2)
    assert a.merge(b).sites == 2
    rows_unit = release_profile(Profile().update(_visits(50, 3)), DOMAINS, epsilon=1.0, seed=3)
    with pytest.raises(ConfigError, match="units of privacy"):
        a.merge(rows_unit)


# -- 2. compare: a person's alike rows are not independent draws -----------------------


def test_compare_keeps_its_level_when_a_persons_rows_are_alike() -> None:
    # No drift; each person's 8 rows are one page (as a user's visits often are). Taken
    # as 2,400 independent rows, 19 of 30 comparisons flagged drift at alpha 0.05 on main.
    k = 8

    def visits(seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        page = rng.choice(["a", "b", "c"], 300, p=[0.5, 0.3, 0.2])
        return pd.DataFrame({"user": np.repeat(np.arange(300), k), "page": np.repeat(page, k)})

    dom = {"page": Categories(["a", "b", "c"])}
    flagged = 0
    for i in range(30):
        a, b = (
            release_rows(visits(s), dom, epsilon=1.0, person="user", max_rows_per_person=k, seed=s)
            for s in (2 * i, 2 * i + 1)
        )
        flagged += compare(a, b, n_sim=199, seed=i).results[0].p_value <= 0.05
    assert flagged <= 4  # 5 % of 30 is 1.5; 4 or more has odds under 6 % at the level


def test_compare_still_finds_drift_between_person_releases() -> None:
    k = 4
    dom = {"page": Categories(["a", "b", "c"])}

    def visits(seed: int, p: list[float]) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        page = rng.choice(["a", "b", "c"], 2000, p=p)
        return pd.DataFrame({"user": np.repeat(np.arange(2000), k), "page": np.repeat(page, k)})

    a = release_rows(visits(1, [0.5, 0.3, 0.2]), dom, epsilon=1.0, person="user",
                     max_rows_per_person=k, seed=1)  # fmt: skip
    b = release_rows(visits(2, [0.4, 0.3, 0.3]), dom, epsilon=1.0, person="user",
                     max_rows_per_person=k, seed=2)  # fmt: skip
    assert compare(a, b).drifted_columns == ["page"]


# -- 3. can_spend refuses what is not a number ------------------------------------------


@pytest.mark.parametrize(
    ("epsilon", "delta"),
    [("0.1", 0.0), (0.1, "0"), (True, 0.0), (None, 0.0), (math.nan, 0.0), (-0.1, 0.0),
     (0.1, -1e-9), ([0.1], 0.0)],
)  # fmt: skip
def test_can_spend_refuses_what_spend_refuses(epsilon: object, delta: object) -> None:
    budget = PrivacyBudget(1.0, 1e-6)
    with pytest.raises(ConfigError, match=r"PrivacyBudget\.can_spend must be a float >= 0"):
        budget.can_spend(epsilon, delta)  # type: ignore[arg-type]


def test_can_spend_answers_for_numbers() -> None:
    budget = PrivacyBudget(1.0, 1e-6)
    assert budget.can_spend(np.float32(0.5), np.float64(0.0))
    assert budget.can_spend(1, 0)
    assert not budget.can_spend(math.inf)
    assert not budget.can_spend(10**400)
    assert not budget.can_spend(0.5, 1e-5)


class _TiedPriorities:
    """A generator stub whose priorities all tie: the sort alone cannot split persons' rows."""

    def random(self, n: int) -> np.ndarray:
        return np.zeros(n)


def test_tied_priorities_still_keep_at_most_k_rows() -> None:
    from prodml.privacy_dp._persons import kept_rows

    ids = pd.Series(["a"] * 5 + ["b"] * 2 + ["c"] * 4)
    keep = kept_rows(ids, 2, _TiedPriorities(), "user")  # type: ignore[arg-type]
    assert keep.tolist() == [0, 1, 5, 6, 7, 8]  # the first 2 of each, by position
