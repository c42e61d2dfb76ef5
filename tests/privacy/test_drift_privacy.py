"""Drift profiles and reports under the privacy policy: hashed columns still test alike."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.drift import DriftDetector, Profile
from prodml.drift._columns import CategoricalColumn
from prodml.errors import ConfigError, DriftError
from prodml.privacy import Privacy, is_token

POOL = ["pro", "free", "ann@example.com", "bob@example.org", "078-05-1120", "x", "y", "z"]


def cat(values: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"c": pd.Series(values, dtype=object)})


def column(prof: Profile, name: str = "c") -> CategoricalColumn:
    state = prof.columns[name]
    assert isinstance(state, CategoricalColumn)
    return state


def test_sensitive_column_keeps_only_tokens() -> None:
    policy = Privacy(salt="s", sensitive=["c"])
    prof = Profile(privacy=policy).update(cat(["pro", "free", "pro"]))
    state = column(prof)
    assert state.hashed
    assert all(map(is_token, state.counts))
    assert sorted(state.counts.values()) == [1, 2]
    assert state.counts[policy.token("pro")] == 2


def test_column_past_the_cardinality_limit_is_hashed_whole() -> None:
    policy = Privacy(salt="s", max_categories=3)
    small = Profile(privacy=policy).update(cat(["a", "b", "c"]))
    assert not column(small).hashed
    assert set(column(small).counts) == {"a", "b", "c"}
    big = small.merge(Profile(privacy=policy).update(cat(["d"])))
    assert column(big).hashed
    assert column(big).counts == policy.tokenize_counts({"a": 1, "b": 1, "c": 1, "d": 1})
    assert big == Profile(privacy=policy).update([cat(["a", "b", "c"]), cat(["d"])])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(POOL), min_size=1, max_size=12), min_size=1, max_size=4),
    st.integers(2, 6),
)
def test_merge_equals_one_pass_under_privacy(chunks: list[list[str]], limit: int) -> None:
    policy = Privacy(salt="s", max_categories=limit)
    one = Profile(privacy=policy).update([cat(c) for c in chunks])
    merged = Profile(privacy=policy)
    for c in chunks:
        merged = merged.merge(Profile(privacy=policy).update(cat(c)))
    assert merged == one
    # What is kept never holds a value that looks personal, and counts add up.
    kept = column(one).counts
    assert not {"ann@example.com", "bob@example.org", "078-05-1120"} & set(kept)
    assert sum(kept.values()) == sum(map(len, chunks))
    assert Profile.from_json(one.to_json(), privacy=policy) == one


def test_profiles_with_different_salts_refuse_to_merge_or_update() -> None:
    a = Profile(privacy=Privacy(salt="a")).update(cat(["ann@example.com"]))
    b = Profile(privacy=Privacy(salt="b")).update(cat(["bob@example.org"]))
    with pytest.raises(DriftError, match="PRODML_PRIVACY_SALT"):
        a.merge(b)
    # A profile saved by a process with another salt can be read and compared, not grown.
    other = Profile.from_dict(a.to_dict(), privacy=Privacy(salt="b"))
    with pytest.raises(DriftError, match="another salt"):
        other.update(cat(["carl@example.net"]))
    # Without hashed values there is nothing to mix up.
    plain = Profile(privacy=Privacy(salt="a")).update(cat(["pro"]))
    assert plain.merge(Profile(privacy=Privacy(salt="b")).update(cat(["free"]))).n_rows == 2


def test_a_saved_state_holding_raw_personal_values_is_hashed_on_load() -> None:
    legacy = {
        "format_version": 1,
        "max_exact": 100_000,
        "relative_accuracy": 1e-3,
        "n_rows": 3,
        "started": True,
        "columns": {
            "c": {"kind": "categorical", "n_null": 0, "counts": [["078-05-1120", 2], ["a", 1]]}
        },
    }
    prof = Profile.from_dict(legacy, privacy=Privacy(salt="s"))
    assert column(prof).counts == {Privacy(salt="s").token("078-05-1120"): 2, "a": 1}
    assert "078-05-1120" not in prof.to_json()
    with pytest.raises(DriftError, match="malformed"):
        Profile.from_dict({**legacy, "format_version": 2, "privacy": {"format_version": 7}})


def test_sensitive_numbers_are_kept_as_a_sketch_only() -> None:
    policy = Privacy(salt="s", sensitive=["n"])
    values = pd.DataFrame({"n": np.arange(100, 200, dtype=float) * 1_000_003})
    prof = Profile(privacy=policy).update(values)
    state = prof.to_dict()["columns"]["n"]
    assert "points" not in state
    assert "keys" in state
    merged = prof.merge(Profile(privacy=policy).update(values))
    assert "points" not in merged.to_dict()["columns"]["n"]
    # A saved exact state of a column now declared sensitive is sketched on load.
    exact = Profile(privacy=Privacy(salt="s")).update(values).to_dict()
    assert "points" in exact["columns"]["n"]
    back = Profile.from_dict(exact, privacy=policy)
    assert "points" not in back.to_dict()["columns"]["n"]


def test_detector_tests_hashed_columns_like_raw_ones() -> None:
    rng = np.random.default_rng(3)
    ref = cat(list(rng.choice(["a", "b", "c", "d"], 2000, p=[0.4, 0.3, 0.2, 0.1])))
    cur = cat(list(rng.choice(["a", "b", "c", "d"], 2000, p=[0.25, 0.25, 0.25, 0.25])))
    raw = DriftDetector(privacy=Privacy(salt="s", allow_raw=["c"])).fit(ref).detect(cur)
    hashed = DriftDetector(privacy=Privacy(salt="s", sensitive=["c"])).fit(ref).detect(cur)
    assert hashed["c"].drifted
    assert raw["c"].drifted
    assert hashed["c"].statistic == pytest.approx(raw["c"].statistic, rel=1e-12)
    assert hashed["c"].effect == pytest.approx(raw["c"].effect, rel=1e-12)
    assert all(is_token(label) for label in hashed["c"].plot["labels"])


def test_one_side_past_the_limit_is_compared_on_hashes() -> None:
    policy = Privacy(salt="s", max_categories=50)
    ref = cat([f"id{i % 80}" for i in range(800)])  # 80 distinct: hashed whole
    cur = cat([f"id{i % 40}" for i in range(800)])  # 40 distinct: raw
    det = DriftDetector(privacy=policy).fit(ref)
    assert column(det.reference_).hashed
    report = det.detect(cur)
    assert report["c"].testable
    assert report["c"].drifted
    assert report["c"].effect == pytest.approx(0.5)


def test_profiles_from_another_salt_are_not_testable_not_wrong() -> None:
    ref = Profile(privacy=Privacy(salt="a", sensitive=["c"])).update(cat(["u", "v"] * 50))
    det = DriftDetector(privacy=Privacy(salt="b", sensitive=["c"])).fit(ref)
    result = det.detect(cat(["u", "v"] * 50))["c"]
    assert not result.testable
    assert "different salts" in result.note


def test_report_labels_only_values_seen_k_times() -> None:
    ref = cat(["pro"] * 30 + ["free"] * 30 + ["rare1", "rare2"])
    cur = cat(["pro"] * 40 + ["free"] * 20 + ["rare3"])
    report = DriftDetector(privacy=Privacy(k=5)).fit(ref).detect(cur)
    plot = report["c"].plot
    assert plot["labels"] == ["pro", "free", "(other 3)"]
    assert sum(plot["reference"]) == pytest.approx(1.0)
    assert plot["current"][-1] == pytest.approx(1 / 61)
    shown = DriftDetector(privacy=Privacy(k=1)).fit(ref).detect(cur)["c"].plot["labels"]
    assert {"rare1", "rare2", "rare3"} <= set(shown)
    settings_ = json.loads(report.to_json())["settings"]["privacy"]
    assert settings_["k"] == 5
    assert "salt_id" in settings_


def test_detector_rejects_a_bad_privacy_setting() -> None:
    with pytest.raises(ConfigError, match="privacy"):
        DriftDetector(privacy={"k": 3}).fit(cat(["a"]))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="privacy"):
        Profile(privacy="strict")  # type: ignore[arg-type]
