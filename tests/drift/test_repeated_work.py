"""Work a profile or a comparison need not redo, and the answers that must not change.

A categorical value a profile holds raw is not searched for personal data again in each
chunk; a detector comparing exact (sorted, finite) samples does not check them again in
each statistic. What a user sees stays the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import prodml.privacy
from prodml.drift import DriftDetector, Profile, stats

PERSONAL = "ann@example.com"


def _chunks(n_chunks: int, rows: int = 60) -> list[pd.DataFrame]:
    rng = np.random.default_rng(3)
    plans = np.array(["gold", "silver", "bronze", "free"], dtype=object)
    return [
        pd.DataFrame({"plan": plans[rng.integers(0, 4, rows)], "x": rng.normal(size=rows)})
        for _ in range(n_chunks)
    ]


def _count_searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = prodml.privacy.find_personal_data

    def spy(text: str) -> str | None:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(prodml.privacy, "find_personal_data", spy)
    return seen


def test_held_raw_values_are_not_searched_again_per_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _count_searches(monkeypatch)
    Profile().update(_chunks(10))
    # Each of the four plans is looked at once, in the chunk where it first appears.
    assert sorted(seen) == ["bronze", "free", "gold", "silver"]


def test_chunked_counts_equal_one_table_and_a_new_personal_value_is_hashed() -> None:
    chunks = _chunks(5)
    late = chunks[3].copy()
    late.loc[0, "plan"] = PERSONAL  # first seen in a later chunk: still hashed
    late.loc[1, "plan"] = "platinum"  # a new raw value in a later chunk: kept raw
    chunks[3] = late
    chunked = Profile().update(chunks)
    whole = Profile().update(pd.concat(chunks, ignore_index=True))
    assert chunked == whole
    counts = chunked.to_dict()["columns"]["plan"]["counts"]
    keys = [k for k, _ in counts]
    assert PERSONAL not in keys
    assert chunked.privacy.token(PERSONAL) in keys
    assert "platinum" in keys
    expected = pd.concat(chunks)["plan"].value_counts()
    assert dict(counts)["gold"] == expected["gold"]
    assert sum(c for _, c in counts) == sum(len(c) for c in chunks)


def test_a_personal_value_seen_again_is_hashed_each_time() -> None:
    a = pd.DataFrame({"plan": ["gold", PERSONAL, "gold"]})
    b = pd.DataFrame({"plan": [PERSONAL, "gold", PERSONAL]})
    prof = Profile().update([a, b])
    counts = dict(prof.to_dict()["columns"]["plan"]["counts"])
    assert counts == {"gold": 3, prof.privacy.token(PERSONAL): 3}


def _spy_sample(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = stats._sample

    def spy(x: Any, name: str) -> Any:
        out = real(x, name)
        sizes.append(int(out.size))
        return out

    monkeypatch.setattr(stats, "_sample", spy)
    return sizes


def test_exact_comparison_does_not_check_its_samples_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=20_000)})
    cur = pd.DataFrame({"x": rng.normal(0.1, 1, size=20_000)})
    det = DriftDetector(max_exact=50_000).fit(ref)
    sizes = _spy_sample(monkeypatch)
    report = det.detect(cur)
    assert sizes == []  # the profile's sorted finite values go straight to the statistics
    # ... and the answers are the public, checked functions' on the same samples.
    a, b = np.sort(ref["x"].to_numpy()), np.sort(cur["x"].to_numpy())
    (col,) = report.to_dict()["results"]
    assert (col["statistic"], col["p_value"]) == stats.ks_2samp(a, b)
    assert col["metrics"]["wasserstein"] == stats.wasserstein(a, b) / float(np.std(a))


def test_sketched_comparison_checks_its_bucket_values_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(size=30_000)})
    cur = pd.DataFrame({"x": rng.normal(size=30_000)})
    det = DriftDetector(max_exact=10_000).fit(ref)
    sizes = _spy_sample(monkeypatch)
    det.detect(cur)
    assert len(sizes) == 2  # reference and current representatives, once each
