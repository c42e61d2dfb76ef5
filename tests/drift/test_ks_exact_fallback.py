"""scipy's exact KS p-value fails on some small tied samples; prodml falls back quietly.

scipy's ``ks_2samp`` warns "Exact calculation unsuccessful. Switching to method=asymp"
on, for example, two samples of 14 values in {0, 1, 2} whose CDFs differ by 1/14. prodml
returns scipy's own statistic and fallback p-value, without passing the warning on
(pytest turns warnings into errors here, so a leaked one fails these tests).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from prodml.drift import stats


def _scipy(a: np.ndarray, b: np.ndarray) -> tuple[float, float, bool]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sps.ks_2samp(a, b)
    failed = any("Exact calculation unsuccessful" in str(w.message) for w in caught)
    return float(res.statistic), float(res.pvalue), failed


def test_a_known_failing_pair_gives_scipys_fallback_p_value() -> None:
    # Found by the hypothesis search below (seeded): scipy 1.17 cannot compute it exactly.
    rng = np.random.default_rng(0)
    for _ in range(20_000):
        n = int(rng.integers(2, 51))
        a = np.sort(rng.integers(0, 3, n).astype(float))
        b = np.sort(rng.integers(0, 3, n).astype(float))
        d_ref, p_ref, failed = _scipy(a, b)
        if failed:
            break
    else:  # pragma: no cover - a scipy that never fails here makes the test moot
        raise AssertionError("no sample pair made scipy's exact KS fail")
    d, p = stats.ks_2samp(a, b)
    assert (d, p) == (d_ref, p_ref)
    # scipy's fallback: the asymptotic p-value (of the statistic rounded to a multiple
    # of 1/lcm(n1, n2), which scipy's asymptotic method alone does not round)
    assert p == pytest.approx(float(sps.ks_2samp(a, b, method="asymp").pvalue), rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    n1=st.integers(1, 50),
    n2=st.integers(1, 50),
    levels=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    same_size=st.booleans(),
)
def test_small_tied_samples_match_scipy_without_a_warning(
    n1: int, n2: int, levels: int, seed: int, same_size: bool
) -> None:
    rng = np.random.default_rng(seed)
    n2 = n1 if same_size else n2
    a = np.sort(rng.integers(0, levels, n1).astype(float))
    b = np.sort(rng.integers(0, levels, n2).astype(float))
    d_ref, p_ref, _ = _scipy(a, b)
    d, p = stats.ks_2samp(a, b)  # a warning here is an error (pytest's filterwarnings)
    assert d == d_ref
    assert p == p_ref
