"""Hashed categorical columns held as 64-bit token ids: same tokens, statistics and state.

A column hashed whole (sensitive, or past ``Privacy.max_categories``) keeps its tokens as
integers (``CategoricalColumn.ids``); these tests pin that this gives what the string
tokens gave: the golden file was written by the string-token implementation, and the
property tests cross-check the integer path against the string path of the same data.
"""

from __future__ import annotations

import json
import math
import pickle
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.drift import DriftDetector, Profile
from prodml.drift._columns import CategoricalColumn, sum_by_id, token_strings_to_ids
from prodml.drift._compare import compare_categorical
from prodml.errors import DriftError
from prodml.privacy import Privacy, is_token

sys.path.insert(0, str(Path(__file__).parent))
from _hashed_golden import GOLDEN, scenarios

POLICY = Privacy(salt="hashed-columns", max_categories=4, k=2)

text_st = st.one_of(
    st.text(max_size=12),
    st.integers(0, 2**64 - 1).map(lambda i: f"pm:{i:016x}"),  # tokens map to themselves
)
values_st = st.one_of(text_st, st.integers(-(2**70), 2**70), st.booleans())


def column(prof: Profile, name: str = "c") -> CategoricalColumn:
    state = prof.columns[name]
    assert isinstance(state, CategoricalColumn)
    return state


def test_golden_scenarios_match_the_string_token_implementation() -> None:
    # Reports (verdicts, statistics, p-values, plots) and saved profiles of seeded data:
    # sensitive columns, columns past the limit (text, integer categories, values that
    # are tokens already), chunks, merges and one side hashed only.
    # Floats to 1e-12 relative: numpy builds and CPUs differ in the last bit of sums and
    # square roots (a Wasserstein distance read ...943 here, ...946 where it was recorded);
    # verdicts, counts, tokens and every other value exactly.
    want = json.loads(GOLDEN.read_text())
    got = scenarios()
    assert sorted(got) == sorted(want)
    for name in want:
        assert _differences(got[name], want[name], name) == []


def _differences(got: object, want: object, path: str) -> list[str]:
    """Where ``got`` differs from ``want``: floats beyond 1e-12 relative, anything else."""
    if isinstance(got, float) and isinstance(want, float):
        close = math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300) or got == want
        return [] if close or (math.isnan(got) and math.isnan(want)) else [f"{path}: {got!r}"]
    if type(got) is not type(want):
        return [f"{path}: {got!r} is not a {type(want).__name__}"]
    if isinstance(got, dict) and isinstance(want, dict):
        if sorted(got) != sorted(want):
            return [f"{path}: keys {sorted(got)} != {sorted(want)}"]
        return [d for k in want for d in _differences(got[k], want[k], f"{path}/{k}")]
    if isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            return [f"{path}: {len(got)} items, not {len(want)}"]
        pairs = zip(got, want, strict=True)
        return [d for i, (g, w) in enumerate(pairs) for d in _differences(g, w, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


@settings(max_examples=200, deadline=None)
@given(st.lists(values_st, max_size=30))
def test_token_ids_are_the_tokens(values: list[Any]) -> None:
    ids = POLICY.token_ids(values)
    assert ids.dtype == np.uint64
    assert ids.size == len(values)
    assert [f"pm:{i:016x}" for i in ids.tolist()] == [POLICY.token(v) for v in values]
    # The integer order is the order of the token strings.
    strings = [POLICY.token(v) for v in values]
    assert [f"pm:{i:016x}" for i in np.sort(ids).tolist()] == sorted(strings)


def test_token_ids_depend_on_the_salt() -> None:
    other = Privacy(salt="another", max_categories=4)
    assert POLICY.token_ids(["ann@example.com"])[0] != other.token_ids(["ann@example.com"])[0]
    assert POLICY.token_ids([]).size == 0


def _string_path(
    ref: list[Any], cur: list[Any], policy: Privacy
) -> tuple[CategoricalColumn, CategoricalColumn]:
    """Both samples as columns keyed by token strings (the former representation)."""
    return (
        CategoricalColumn(counts=policy.tokenize_counts(Counter(ref))),
        CategoricalColumn(counts=policy.tokenize_counts(Counter(cur))),
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([f"v{i}" for i in range(12)]), min_size=1, max_size=60),
    st.lists(st.sampled_from([f"v{i}" for i in range(12)]), min_size=1, max_size=60),
    st.integers(1, 8),
    st.integers(1, 4),
)
def test_hashed_comparison_equals_the_string_token_path(
    ref: list[str], cur: list[str], limit: int, k: int
) -> None:
    policy = Privacy(salt="s", max_categories=limit, k=k)
    det = DriftDetector(privacy=policy, correction="none").fit(pd.DataFrame({"c": ref}))
    result = det.detect(pd.DataFrame({"c": cur}))["c"]
    r, c = column(det.reference_), column(Profile(privacy=policy).update(pd.DataFrame({"c": cur})))
    if not (r.hashed or c.hashed):
        return  # both under the limit: raw values, not the path under test
    assert r.hashed == (len(set(ref)) > limit)
    want = compare_categorical(*_string_path(ref, cur, policy), k=k)
    assert result.statistic == want.statistic
    assert result.p_value == want.p_value
    assert result.effect == want.effect
    assert {m: result.metrics[m] for m in want.metrics} == want.metrics
    assert result.plot == want.plot
    assert result.drifted == (want.p_value <= 0.05 and want.effect >= 0.02)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(text_st, min_size=1, max_size=10), max_size=4),
)
def test_hashed_profile_state_is_the_string_token_state(chunks: list[list[str]]) -> None:
    policy = Privacy(salt="s", sensitive=["c"])
    prof = Profile(privacy=policy).update([pd.DataFrame({"c": c}) for c in chunks])
    if not chunks:
        return
    state = column(prof)
    assert state.hashed
    assert state.ids is not None  # held as ids, not strings
    want = policy.tokenize_counts(Counter(v for c in chunks for v in c))
    assert state.counts == want
    assert list(state.counts) == sorted(want)  # the view lists tokens in order
    assert state.count == sum(want.values())
    assert state.to_dict()["counts"] == [[t, want[t]] for t in sorted(want)]
    again = Profile.from_json(prof.to_json(), privacy=policy)
    assert again == prof
    assert column(again).ids is not None
    assert np.array_equal(column(again).ids, state.ids)


def test_sum_by_id_adds_repeated_ids() -> None:
    ids, counts = sum_by_id(
        np.array([5, 3, 5, 9, 3], np.uint64), np.array([1, 2, 3, 4, 5], np.int64)
    )
    assert ids.tolist() == [3, 5, 9]
    assert counts.tolist() == [7, 4, 4]
    empty = sum_by_id(np.empty(0, np.uint64), np.empty(0, np.int64))
    assert empty[0].size == 0
    assert empty[1].size == 0


def test_top_bit_ids_round_trip() -> None:
    token = "pm:ffffffffffffffff"  # noqa: S105 - a hash marker, not a secret
    assert token_strings_to_ids([token, "pm:0000000000000001"]).tolist() == [2**64 - 1, 1]
    state = CategoricalColumn(counts={token: 2, "pm:8000000000000000": 1}, hashed=True)
    assert list(state.counts) == ["pm:8000000000000000", token]
    with pytest.raises(ValueError, match="not a token"):
        token_strings_to_ids(["raw"])


def test_column_equality_repr_and_pickle() -> None:
    prof = Profile(privacy=POLICY).update(pd.DataFrame({"c": [f"id{i}" for i in range(9)]}))
    state = column(prof)
    assert state.hashed
    assert state.n_categories == 9
    as_strings = CategoricalColumn(counts=dict(state.counts), hashed=True)
    assert as_strings == state
    assert CategoricalColumn(counts=dict(state.counts)) != state  # not hashed
    assert "categories=9" in repr(state)
    assert "id1" not in repr(state)
    back = pickle.loads(pickle.dumps(prof))
    assert back == prof
    assert np.array_equal(column(back).ids, state.ids)


def test_loaded_hashed_column_with_raw_values_is_hashed_on_load() -> None:
    # Hostile state: a column saved as hashed that holds raw values (text and a number).
    prof = Profile(privacy=POLICY).update(pd.DataFrame({"c": [f"id{i}" for i in range(9)]}))
    state = prof.to_dict()
    pairs = state["columns"]["c"]["counts"]
    pairs[0] = ["ann@example.com", pairs[0][1]]
    pairs[1] = [7, pairs[1][1]]
    back = Profile.from_dict(state, privacy=POLICY)
    got = column(back)
    assert got.hashed
    assert all(map(is_token, got.counts))
    assert POLICY.token("ann@example.com") in got.counts
    assert POLICY.token(7) in got.counts
    assert "ann@example.com" not in back.to_json()
    assert got.count == 9


def test_hashed_state_opted_in_to_raw_values_keeps_its_tokens() -> None:
    # A profile saved hashed, then loaded under a policy that allows the column raw: the
    # saved tokens stay tokens and new values are kept raw, as before ids were used.
    prof = Profile(privacy=POLICY).update(pd.DataFrame({"c": [f"id{i}" for i in range(9)]}))
    raw = Privacy(salt="hashed-columns", max_categories=4, allow_raw=["c"])
    back = Profile.from_json(prof.to_json(), privacy=raw)
    assert not column(back).hashed
    back.update(pd.DataFrame({"c": ["new", "new"]}))
    counts = column(back).counts
    assert counts["new"] == 2
    assert sorted(k for k in counts if is_token(k)) == sorted(column(prof).counts)
    assert back.n_rows == 11


def test_merge_of_hashed_and_raw_halves_hashes_the_raw_half() -> None:
    small = Profile(privacy=POLICY).update(pd.DataFrame({"c": ["a", "b", "a"]}))
    big = Profile(privacy=POLICY).update(pd.DataFrame({"c": [f"id{i}" for i in range(6)]}))
    assert not column(small).hashed
    merged = small.merge(big)
    want = POLICY.tokenize_counts({"a": 2, "b": 1, **{f"id{i}": 1 for i in range(6)}})
    assert column(merged).hashed
    assert column(merged).counts == want
    assert merged == Profile(privacy=POLICY).update(
        pd.DataFrame({"c": ["a", "b", "a", *[f"id{i}" for i in range(6)]]})
    )


def test_profiles_with_other_salts_are_not_compared_on_ids() -> None:
    ref = Profile(privacy=POLICY).update(pd.DataFrame({"c": [f"id{i}" for i in range(9)]}))
    other = Privacy(salt="another", max_categories=4)
    cur = Profile(privacy=other).update(pd.DataFrame({"c": [f"id{i}" for i in range(9)]}))
    result = DriftDetector(privacy=POLICY).fit(ref).detect(cur)["c"]
    assert not result.testable
    assert "different salts" in result.note
    with pytest.raises(DriftError, match="another salt"):
        ref.merge(cur)
