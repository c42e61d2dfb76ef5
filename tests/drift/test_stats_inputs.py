"""drift.stats checks its inputs: DriftError (a ValueError) naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from prodml.drift import stats
from prodml.errors import ConfigError, DriftError

A = np.array([1.0, 2.0, 3.0])
B = np.array([1.5, 2.5, 3.5, 4.5])
TWO_SAMPLE = [stats.ks_2samp, stats.wasserstein, stats.cramervonmises_2samp]
DISTANCES = [stats.psi, stats.jensen_shannon, stats.hellinger]


@pytest.mark.parametrize("func", TWO_SAMPLE)
@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.array([1.0, np.nan, 3.0]), B), "a holds a non-finite value"),
        ((A, np.array([1.0, np.inf])), "b holds a non-finite value"),
        ((np.array([3.0, 1.0, 2.0]), B), "a must be sorted"),
        ((A, B, np.array([1, -2, 3]), None), "wa must hold non-negative integer counts"),
        ((A, B, np.array([1.5, 2, 3]), None), "wa must hold non-negative integer counts"),
        ((A, B, None, np.array([1, 2])), "wb has 2 counts for 4 values"),
        ((np.zeros((2, 2)), B), "a must be 1-D"),
        ((["x", "y"], B), "a must be a 1-D array of numbers"),
    ],
)
def test_two_sample_tests_reject_bad_samples(func: Any, args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(DriftError, match=match):
        func(*args)


@pytest.mark.parametrize("func", DISTANCES)
@pytest.mark.parametrize(
    ("p", "q", "match"),
    [
        ([1, 2, 3], [1, 2], "must count the same bins; got 3 and 2"),
        ([1, -2, 3], [1, 2, 3], "finite non-negative counts"),
        ([1, np.nan], [1, 2], "finite non-negative counts"),
        ([0, 0], [1, 2], "positive, finite total"),
        ([], [], "is empty"),
    ],
)
def test_distances_reject_bad_counts(func: Any, p: Any, q: Any, match: str) -> None:
    with pytest.raises(DriftError, match=match):
        func(p, q)


def test_chi2_rejects_negative_and_mismatched_counts() -> None:
    with pytest.raises(DriftError, match="same bins"):
        stats.chi2_homogeneity(np.array([1, 2, 3]), np.array([1, 2]))
    with pytest.raises(DriftError, match="non-negative"):
        stats.chi2_homogeneity(np.array([5, -1]), np.array([1, 2]))


@pytest.mark.parametrize("bad", [[0.5, 1.5], [-0.1, 0.2], [np.nan, 0.3]])
def test_adjust_pvalues_rejects_non_probabilities(bad: list[float]) -> None:
    with pytest.raises(DriftError, match=r"probabilities in \[0, 1\]"):
        stats.adjust_pvalues(bad, "holm")
    with pytest.raises(ConfigError, match="'method' parameter") as err:
        stats.adjust_pvalues([0.1], "sidak")
    assert err.value.parameter == "method"


def test_valid_inputs_still_match_scipy() -> None:
    from scipy import stats as sps

    d, p = stats.ks_2samp(A, B)
    ref = sps.ks_2samp(A, B)
    assert (d, p) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue))
    # Weighted and expanded samples agree (weights as floats holding integers are fine).
    assert stats.ks_2samp(A, B, np.array([2.0, 1.0, 1.0]), None) == stats.ks_2samp(
        np.array([1.0, 1.0, 2.0, 3.0]), B
    )
