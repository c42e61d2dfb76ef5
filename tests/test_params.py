from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml._params import NONE, Interval, OneOf, Predicate, TypeOf, check_params
from prodml.errors import ConfigError


def test_message_wording_matches_convention() -> None:
    with pytest.raises(ConfigError) as exc:
        check_params("DriftDetector", {"alpha": 1.5}, {"alpha": [Interval(float, 0, 1, "neither")]})
    assert str(exc.value) == (
        "The 'alpha' parameter of DriftDetector must be a float in (0, 1). Got 1.5 instead."
    )
    assert exc.value.parameter == "alpha"


def test_alternatives_are_joined_with_or() -> None:
    with pytest.raises(ConfigError, match=r"must be an int >= 1 or None\. Got 0"):
        check_params("X", {"n": 0}, {"n": [Interval(int, 1, None), NONE]})
    check_params("X", {"n": None}, {"n": [Interval(int, 1, None), NONE]})


@pytest.mark.parametrize(
    ("interval", "value", "ok"),
    [
        (Interval(float, 0, 1, "both"), 0, True),
        (Interval(float, 0, 1, "neither"), 0, False),
        (Interval(float, 0, 1, "left"), 1, False),
        (Interval(float, 0, 1, "right"), 1, True),
        (Interval(float, 0, None, "neither"), math.inf, False),  # saved state is finite
        (Interval(float, 0, None, "neither", finite=False), math.inf, True),
        (Interval(float), 10**400, False),  # beyond the float range: not an OverflowError
        (Interval(float, None, None), math.nan, False),
        (Interval(float, 0, 1), True, False),
        (Interval(int, 0, 5), 2.0, False),
        (Interval(int, 0, 5), 3, True),
        (Interval(float, 0, 1), "0.5", False),
    ],
)
def test_interval(interval: Interval, value: object, ok: bool) -> None:
    assert interval.accepts(value) is ok


@given(st.floats(allow_nan=False), st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_interval_both_closed_matches_comparison(lo: float, hi: float, x: float) -> None:
    assert Interval(float, lo, hi).accepts(x) == (lo <= x <= hi)


def test_describe_forms() -> None:
    assert Interval(int, 1, None).describe() == "an int >= 1"
    assert Interval(float, None, 0, "left").describe() == "a float < 0"
    assert Interval(float, 0, 0.5, "left").describe() == "a float in [0, 0.5)"
    assert OneOf({"holm", "bonferroni"}).describe() == "one of {'bonferroni', 'holm'}"
    assert OneOf((None,)).describe() == "None"  # one option: itself, not a set of one
    assert TypeOf(str, "a string").describe() == "a string"


def test_oneof_and_typeof_and_predicate() -> None:
    assert OneOf({"a"}).accepts("a")
    assert not OneOf({"a"}).accepts(["a"])  # unhashable: rejected, not TypeError
    assert not TypeOf(int, "an int").accepts(True)
    assert TypeOf((int, bool), "x").accepts(True)
    p = Predicate(lambda v: len(v) > 0, "a non-empty sequence")  # type: ignore[arg-type]
    assert p.accepts([1])
    assert not p.accepts(3)
