"""Merging GroupMetrics whose personal-data groups are tokens of different salts.

A saved state holds a group value that looks like personal data as its salted token and
names the salt by ``state.salt_id``. Before stop 42, ``merge`` kept one salt id whatever
the other side's was: one person then counted as two groups (a token of each salt, or
the value and a foreign token) under a salt id that was wrong for half of them, without
a sign. The merge is now refused with a ConfigError naming both salt ids, and changes
nothing; merges within one salt behave as before.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from prodml.errors import ConfigError
from prodml.fairness import GroupMetrics, _ingest
from prodml.privacy import PersonalDataWarning, Privacy

PEOPLE = ["ann@example.com", "+44 20 7946 0958"]
OTHER = Privacy(salt="another process's secret")  # type: ignore[arg-type]


def _fresh(values: list[str] = PEOPLE) -> GroupMetrics:
    """Counts of records of the values themselves, in this process."""
    gm = GroupMetrics(["who"], min_count=1)
    gm.update([1, 0, 1, 1], [1, 0, 0, 1], [values[0], values[0], values[-1], values[-1]])
    return gm


def _state_of(gm: GroupMetrics, salt: Privacy) -> dict[str, Any]:
    """``gm`` saved as a process with ``salt`` saves it (the same counts, its tokens)."""
    counts = gm.counts()
    rows = sorted(
        ([salt.token(v) if _ingest.public(v) != v else v for v in key], conf)
        for key, conf in counts.items()
    )
    state = gm.to_dict()
    state["state"]["groups"] = [g for g, _ in rows]
    state["state"]["confusion"] = [c for _, c in rows]
    state["state"]["salt_id"] = salt.salt_id
    return state


def _load_other(gm: GroupMetrics) -> GroupMetrics:
    with pytest.warns(PersonalDataWarning):
        return GroupMetrics.from_dict(_state_of(gm, OTHER))


def _own_salt() -> str:
    return _ingest.privacy().salt_id


def test_the_other_salt_differs() -> None:
    assert OTHER.salt_id != _own_salt()
    assert OTHER.token(PEOPLE[0]) != _ingest.privacy().token(PEOPLE[0])


@pytest.mark.parametrize(
    "mine",
    [
        pytest.param(_fresh, id="values"),
        pytest.param(lambda: GroupMetrics.from_dict(_fresh().to_dict()), id="own-tokens"),
    ],
)
@pytest.mark.parametrize("order", ["into-mine", "into-theirs"])
def test_a_merge_across_salts_is_refused_and_changes_nothing(mine: Any, order: str) -> None:
    a, b = mine(), _load_other(_fresh())
    target, other = (a, b) if order == "into-mine" else (b, a)
    before = target.to_dict()
    with pytest.raises(ConfigError, match="different salts") as caught:
        target.merge(other)
    assert caught.value.parameter == "salt_id"
    assert _own_salt() in str(caught.value)
    assert OTHER.salt_id in str(caught.value)
    assert PEOPLE[0] not in str(caught.value)
    assert target.to_dict() == before


def test_states_of_one_other_salt_merge_and_keep_its_id() -> None:
    a, b = _load_other(_fresh()), _load_other(_fresh())
    merged = a.merge(b)
    assert len(merged.groups) == 2  # one group per person, not two
    assert merged.count == 8
    assert merged.to_dict()["state"]["salt_id"] == OTHER.salt_id


def test_groups_without_personal_values_merge_with_any_salt() -> None:
    plain = _fresh(["staff", "18-35"])
    foreign = _load_other(_fresh())
    merged = plain.clone().merge(plain).merge(foreign)
    assert merged.count == 8
    assert merged.to_dict()["state"]["salt_id"] == OTHER.salt_id  # the tokens it holds
    # Into the foreign one: still one salt (its own), nothing refused.
    foreign.merge(plain)
    assert foreign.to_dict()["state"]["salt_id"] == OTHER.salt_id


def test_an_empty_foreign_state_takes_this_process_s_salt_again() -> None:
    foreign = _load_other(_fresh())
    emptied = foreign.clone()
    emptied._token_salt = OTHER.salt_id  # as a loaded state whose groups have all gone
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emptied.merge(_fresh())
    assert emptied.to_dict()["state"]["salt_id"] == _own_salt()
