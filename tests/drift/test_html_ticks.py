"""Histogram axes of the drift report: round tick values, not bin edges like 23.306."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from prodml.drift import DriftDetector
from prodml.drift._html import _nice_ticks


def _axis_labels(svg_html: str) -> list[str]:
    return re.findall(r'font-size="9" text-anchor="(?:start|middle|end)">([^<]+)</text>', svg_html)


def test_numeric_histograms_label_round_values() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"tenure": rng.uniform(1.136, 89.816, 2_000)})
    cur = pd.DataFrame({"tenure": rng.uniform(1.136, 89.816, 500)})
    html = DriftDetector().fit(ref).detect(cur).to_html()
    labels = _axis_labels(html)
    assert {"20", "40", "60", "80"} <= set(labels), labels
    assert not any(re.fullmatch(r"\d+\.\d{3}", label) for label in labels), labels


def test_datetime_histograms_keep_dates() -> None:
    days = pd.date_range("2022-01-01", "2024-12-31", periods=1_000)
    ref = pd.DataFrame({"signup_at": days})
    html = DriftDetector().fit(ref).detect(ref.iloc[::2]).to_html()
    assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", label) for label in _axis_labels(html))


def test_ranges_too_wide_or_empty_fall_back_to_the_bin_edges() -> None:
    assert _nice_ticks(5.0, 5.0) is None
    assert _nice_ticks(-1e308, 1e308) is None
    assert _nice_ticks(0.0, float("inf")) is None


@given(
    st.floats(-1e12, 1e12, allow_nan=False),
    st.floats(1e-9, 1e12, allow_nan=False),
)
def test_ticks_are_inside_the_range_evenly_spaced_and_few(lo: float, width: float) -> None:
    hi = lo + width
    ticks = _nice_ticks(lo, hi)
    if ticks is None:  # a range too narrow for 15 digits to tell round values apart
        assert hi - lo <= 1e-9 * max(1.0, abs(lo))
        return
    values = [v for v, _ in ticks]
    assert 2 <= len(values) <= 11
    step = values[1] - values[0]
    ulp = float(np.spacing(max(abs(lo), abs(hi))))
    slack = 1e-9 * step + 4 * ulp  # a bound within a billionth of a step counts as in
    assert all(lo - slack <= v <= hi + slack for v in values)
    assert np.allclose(np.diff(values), step, rtol=1e-9, atol=4 * ulp)
    assert len({label for _, label in ticks}) == len(ticks)  # no two labels alike
