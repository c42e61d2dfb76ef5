"""QuantileSketch over every finite float: huge values, subnormals, -0.0 (issue 15 follow-up)."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodml.errors import PolicyError
from prodml.rollout._sketch import GAMMA, QuantileSketch, bucket_range

# Relative bound of a bucket's midpoint, plus rounding; subnormals add one step of theirs.
REL = (GAMMA - 1.0) / (GAMMA + 1.0) * (1 + 1e-9)
SUBNORMAL_STEP = 5e-324

finite = st.floats(allow_nan=False, allow_infinity=False)


def _close(got: float, exact: float) -> bool:
    return abs(got - exact) <= REL * abs(exact) + 2 * SUBNORMAL_STEP


@given(st.lists(finite, min_size=1, max_size=50), st.floats(0.0, 1.0))
def test_quantile_of_any_finite_floats(values: list[float], q: float) -> None:
    s = QuantileSketch()
    s.add_many(values)
    got = s.quantile(q)
    exact = float(np.quantile(values, q, method="inverted_cdf"))
    assert math.isfinite(got)
    assert _close(got, exact), (got, exact)
    # one at a time == vectorised == merged halves == reloaded from JSON
    one, left, right = QuantileSketch(), QuantileSketch(), QuantileSketch()
    for v in values:
        one.add(v)
    left.add_many(values[: len(values) // 2])
    right.add_many(values[len(values) // 2 :])
    left.merge(right)
    assert one.to_dict() == left.to_dict() == s.to_dict()
    again = QuantileSketch.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again.to_dict() == s.to_dict()
    assert again.quantile(q) == got


@given(finite)
def test_every_finite_float_has_a_reachable_bucket(x: float) -> None:
    s = QuantileSketch()
    s.add(x)
    low, top = bucket_range()
    assert all(low <= int(k) <= top for side in ("positive", "negative") for k in s.to_dict()[side])
    assert _close(s.quantile(0.5), x)
    assert s.count_above(0.0) == (1 if x > 0 else 0)


@pytest.mark.parametrize(
    "x",
    [1.79e308, sys.float_info.max, -sys.float_info.max, 5e-324, -5e-324, 2.2250738585072014e-308],
)
def test_extremes(x: float) -> None:
    s = QuantileSketch()
    s.add(x)
    s.add(x)
    got = s.quantile(0.99)
    assert math.isfinite(got)
    assert math.copysign(1.0, got) == math.copysign(1.0, x)
    assert _close(got, x)


def test_negative_zero_is_a_zero() -> None:
    s = QuantileSketch()
    s.add_many([-0.0, 0.0])
    s.add(-0.0)
    assert s.zeros == 3
    assert s.quantile(0.5) == 0.0
    assert s.count_above(-1.0) == 3


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(bad: float) -> None:
    s = QuantileSketch()
    with pytest.raises(PolicyError, match="finite"):
        s.add(bad)
    with pytest.raises(PolicyError, match="finite"):
        s.add_many([1.0, bad])
    assert s.n == 0


def test_metric_beyond_the_bound_is_refused_and_the_bound_round_trips() -> None:
    from prodml.rollout import Canary, Gate, Step
    from prodml.rollout._summary import MAX_METRIC

    c = Canary([Step(0.5, 1)], [Gate("latency", threshold=1.0, quantile=0.99)], clock=lambda: 0.0)
    with pytest.raises(PolicyError, match=r"'baseline' must be finite, within"):
        c.observe("baseline", latency=1.79e308)
    with pytest.raises(PolicyError, match="at position 1"):
        c.observe_many("baseline", latency=[1.0, -1.79e308])
    for v in ("baseline", "candidate"):
        c.observe_many(v, latency=[MAX_METRIC, -MAX_METRIC] * 50)
    state = c.to_dict()
    assert Canary.from_dict(json.loads(json.dumps(state))).to_dict() == state
    decision = c.evaluate()  # p99 is 1e100, far above the threshold of 1
    assert decision.action == "rollback"
    assert _close(decision.evidence["gates"][0]["candidate_quantile"], MAX_METRIC)
