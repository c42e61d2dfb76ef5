"""Saved GroupMetrics states keep group values that look like personal data as tokens.

Reports showed such values by their salted tokens since audit 40, but ``to_dict`` and a
monitor's saved window still held the values themselves. Here: no raw value in the saved
bytes; the same report after a load; new records of the values, merges and removals meet
the loaded groups; old states (raw values) still load; a state made with another salt
loads as saved, with a warning; and the report's batched personal-data check
(``prodml.privacy.personal_texts``) answers exactly as ``find_personal_data`` does.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml import privacy
from prodml.errors import ConfigError
from prodml.fairness import GroupMetrics, _ingest
from prodml.privacy import PersonalDataWarning, find_personal_data, is_token

PEOPLE = ["ann@example.com", "+44 20 7946 0958", "078-05-1120", "4111 1111 1111 1111"]
PLAIN = ["staff", "18-35"]


def _filled(**settings: Any) -> GroupMetrics:
    gm = GroupMetrics(["who", "band"], min_count=1, **settings)
    values = [(w, b) for w in PEOPLE + PLAIN for b in ("a", "b")]
    y = [i % 2 for i in range(len(values))]
    p = [(i // 2) % 2 for i in range(len(values))]
    for yt, yp, (w, b) in zip(y, p, values, strict=True):
        gm.update_record(yt, yp, {"who": w, "band": b})
        gm.update_record(1 - yt, yp, {"who": w, "band": b})
    return gm


def test_no_personal_value_in_the_saved_bytes() -> None:
    text = _filled().to_json()
    for value in PEOPLE:
        assert value not in text
    state = json.loads(text)["state"]
    who = {g[0] for g in state["groups"]}
    assert set(PLAIN) <= who  # other values are saved as given
    assert sum(map(is_token, who)) == len(PEOPLE)
    assert state["salt_id"] == _ingest.privacy().salt_id


def test_a_state_without_personal_values_is_saved_as_before() -> None:
    gm = GroupMetrics(["who"], min_count=1).update([1, 0], [1, 1], ["staff", "18-35"])
    assert "salt_id" not in gm.to_dict()["state"]
    assert [g[0] for g in gm.to_dict()["state"]["groups"]] == ["18-35", "staff"]


def test_the_report_after_a_load_is_the_same() -> None:
    gm = _filled()
    loaded = GroupMetrics.from_json(gm.to_json())
    before, after = gm.report(), loaded.report()
    assert before.to_metrics() == after.to_metrics()
    assert before.by_group.sort_index().equals(after.by_group.sort_index())
    assert sorted(before.labels) == sorted(after.labels)
    # Asked by the values themselves, the loaded report finds their groups.
    pair = ((PEOPLE[0], "a"), (PEOPLE[1], "b"))
    assert after.difference("tpr", groups=pair).value == before.difference("tpr", groups=pair).value


def test_new_records_removals_and_merges_meet_the_loaded_groups() -> None:
    gm = _filled()
    loaded = GroupMetrics.from_json(gm.to_json())
    n = len(loaded.groups)
    for target in (gm, loaded):
        target.update_record(1, 1, {"who": PEOPLE[0], "band": "a"})
        target.update([1, 0], [1, 1], {"who": [PEOPLE[1], PEOPLE[2]], "band": ["b", "b"]})
    assert len(loaded.groups) == n
    assert loaded.report().to_metrics() == gm.report().to_metrics()
    loaded.remove_record(1, 1, {"who": PEOPLE[0], "band": "a"})
    gm.remove_record(1, 1, (PEOPLE[0], "a"))
    assert loaded.report().to_metrics() == gm.report().to_metrics()
    # Either way round, a merge adds the counts of one group, not two shown alike.
    one, two = gm.clone().merge(gm).merge(loaded), loaded.clone().merge(loaded).merge(gm)
    assert len(one.groups) == len(two.groups) == n
    assert one.report().to_metrics() == two.report().to_metrics()
    assert one.to_dict() == two.to_dict()


def test_an_old_state_with_raw_values_loads_and_is_saved_with_tokens() -> None:
    gm = _filled()
    old = gm.to_dict()
    raw = sorted((list(k) for k in gm.groups), key=lambda k: _ingest.sort_key(tuple(k)))
    counts = gm.counts()
    old["state"]["groups"] = raw
    old["state"]["confusion"] = [counts[tuple(k)] for k in raw]
    del old["state"]["salt_id"]
    assert PEOPLE[0] in json.dumps(old)
    loaded = GroupMetrics.from_dict(old)
    assert loaded.report().to_metrics() == gm.report().to_metrics()
    assert PEOPLE[0] not in loaded.to_json()
    assert loaded.to_dict() == gm.to_dict()


def test_a_value_and_its_token_in_one_state_are_refused() -> None:
    state = GroupMetrics(["who"]).update([1], [1], [PEOPLE[0]]).to_dict()
    state["state"]["groups"].append([PEOPLE[0]])
    state["state"]["confusion"].append([0, 0, 0, 1])
    with pytest.raises(ConfigError, match=r"state\.groups\[1\]"):
        GroupMetrics.from_dict(state)


def test_a_state_from_another_salt_loads_as_saved_with_a_warning() -> None:
    gm = _filled()
    state = gm.to_dict()
    state["state"]["salt_id"] = "0123456789abcdef"
    with pytest.warns(PersonalDataWarning, match="PRODML_PRIVACY_SALT"):
        loaded = GroupMetrics.from_dict(state)
    assert loaded.report().to_metrics() == gm.report().to_metrics()
    assert loaded.to_dict()["state"]["salt_id"] == "0123456789abcdef"  # its tokens' salt
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GroupMetrics.from_dict(gm.to_dict())  # the process's own salt: no warning


@pytest.mark.parametrize("salt", [7, "", "x" * 65, ["a"]])
def test_a_bad_salt_id_is_refused(salt: object) -> None:
    state = _filled().to_dict()
    state["state"]["salt_id"] = salt
    with pytest.raises(ConfigError, match=r"state\.salt_id"):
        GroupMetrics.from_dict(state)


def test_declared_personal_categories_load_from_their_tokens() -> None:
    gm = GroupMetrics(["who"], categories={"who": [PEOPLE[0], "staff"]}, min_count=1)
    gm.update([1, 0, 1], [1, 1, 0], [PEOPLE[0], "staff", PEOPLE[0]])
    loaded = GroupMetrics.from_json(gm.to_json())
    assert PEOPLE[0] not in json.dumps(gm.to_dict()["state"])
    loaded.update_record(1, 1, PEOPLE[0])
    gm.update_record(1, 1, PEOPLE[0])
    assert loaded.report().to_metrics() == gm.report().to_metrics()


# -- the batched personal-data check of a report --------------------------------------

_ALPHABET = st.sampled_from(list("0123456789 -.+()@abcdefgWXYZ_%\u0664\uff20\u200b"))
_TEXT = st.text(_ALPHABET, max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.sets(_TEXT, min_size=privacy._FEW_TEXTS, max_size=3 * privacy._FEW_TEXTS))
def test_personal_texts_is_the_exact_check(texts: set[str]) -> None:
    expected = {t for t in texts if find_personal_data(t) is not None}
    assert set(privacy.personal_texts(texts)) == expected


def test_personal_texts_on_known_kinds() -> None:
    known = [
        *PEOPLE,
        "GB82 WEST 1234 5698 7654 32",
        "QQ 12 34 56 C",
        "(212) 555-0199",
        "mail ann.lee+x@mail.example.co.uk now",
        "000-12-3456",  # no ssn (000), but a phone? no: not personal
        "4111 1111 1111 1112",  # fails Luhn
    ]
    texts = set(known) | {f"user{i}" for i in range(200)}
    expected = {t for t in texts if find_personal_data(t) is not None}
    assert expected >= set(PEOPLE)
    assert set(privacy.personal_texts(texts)) == expected


def test_a_report_over_many_groups_shows_personal_values_by_tokens() -> None:
    values = [f"user{i}" for i in range(300)] + [f"u{i}@example.com" for i in range(5)]
    gm = GroupMetrics(["who"], max_groups=1000, min_count=1)
    gm.update([1] * len(values), [1] * len(values), values)
    shown = list(gm.report().by_group.index)
    assert sum(map(is_token, shown)) == 5
    assert not any("@" in str(s) for s in shown)
    assert sorted(s for s in shown if not is_token(s)) == sorted(values[:300])
