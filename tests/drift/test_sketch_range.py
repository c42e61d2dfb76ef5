"""The drift profile's log-bucket sketch over every finite float (issue 15 follow-up).

Values near the largest float, subnormals and ``-0.0`` get order-preserving keys and
finite representatives within the relative accuracy (plus one subnormal step).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from prodml.drift import DriftDetector, Profile
from prodml.drift._columns import _representatives, _sketch, _sketch_keys

finite = st.floats(allow_nan=False, allow_infinity=False)
BIG = sys.float_info.max


@given(st.lists(finite, min_size=1, max_size=60), st.sampled_from([1e-3, 1e-2, 0.05]))
def test_keys_keep_order_and_representatives_stay_close(values: list[float], a: float) -> None:
    log_gamma = float(np.log((1 + a) / (1 - a)))
    x = np.sort(np.array(values, dtype=np.float64))
    keys = _sketch_keys(x, log_gamma)
    assert bool((np.diff(keys) >= 0).all())  # order-preserving
    assert bool(((keys == 0) == (x == 0)).all())  # -0.0 and 0.0 share the zero key
    rep = _representatives(keys, log_gamma)
    assert bool(np.isfinite(rep).all())
    assert bool((np.sign(rep) == np.sign(x)).all())
    err = np.abs(rep - x)
    assert bool((err <= a * (1 + 1e-9) * np.abs(x) + 2 * 5e-324).all()), (x, rep)
    uniq, counts, pure = _sketch(x, log_gamma, is_sorted=True)
    assert int(counts.sum()) == x.size
    assert bool((np.diff(uniq) > 0).all())
    held = ~np.isnan(pure)
    assert bool(np.isin(pure[held], x).all())


def test_extreme_values_profile_and_detect_without_warnings() -> None:
    extremes = [BIG, -BIG, 1.79e308, 5e-324, -5e-324, -0.0, 0.0, 2.2e-308, 1.0, -BIG / 7]
    ref = pd.DataFrame({"x": np.array(extremes * 1500)})
    cur = pd.DataFrame({"x": np.array(extremes[::-1] * 1200) * 0.5})
    for max_exact in (10_000, 1_000_000):  # sketched and exact
        report = DriftDetector(max_exact=max_exact).fit(ref).detect(cur)
        (result,) = report.results
        assert 0.0 <= result.statistic <= 1.0
        assert 0.0 <= result.p_value <= 1.0
        report.to_html()
        prof = Profile(max_exact=max_exact).update(ref)
        assert Profile.from_dict(prof.to_dict()).to_dict() == prof.to_dict()
    # The same values sketched and exact give the same statistic: every bucket is pure.
    exact = DriftDetector(max_exact=1_000_000).fit(ref).detect(cur).results[0].statistic
    sketched = DriftDetector(max_exact=10_000).fit(ref).detect(cur).results[0].statistic
    assert abs(exact - sketched) < 1e-12


@given(
    st.lists(
        st.one_of(finite, st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5])), min_size=1, max_size=80
    ),
    st.sampled_from([1e-3, 1e-2]),
)
def test_sketching_unsorted_values_equals_sketching_them_sorted(
    values: list[float], a: float
) -> None:
    log_gamma = float(np.log((1 + a) / (1 - a)))
    x = np.array(values, dtype=np.float64)
    want = _sketch(np.sort(x), log_gamma, is_sorted=True)
    got = _sketch(x.copy(), log_gamma)
    for part, expected in zip(got, want, strict=True):
        assert np.array_equal(part, expected, equal_nan=True)
    # Runs of one bucket counted by brute force: keys ascending, counts summing to n.
    keys = _sketch_keys(np.sort(x), log_gamma)
    assert got[0].tolist() == sorted(set(keys.tolist()))
    assert got[1].tolist() == [int((keys == k).sum()) for k in got[0]]
    assert not np.signbit(got[2][got[0] == 0]).any()  # the zero bucket holds +0.0
