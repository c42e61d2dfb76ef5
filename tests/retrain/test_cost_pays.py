"""RetrainCost.pays agrees with break_even_drop, at the break-even drop itself too."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.retrain import RetrainCost

_money = st.floats(1e-3, 1e9, allow_nan=False, allow_infinity=False)


@settings(deadline=None, max_examples=300)
@given(cost=_money, value=_money, days=st.floats(0.01, 3650.0))
def test_the_break_even_drop_does_not_pay_and_the_next_float_does(
    cost: float, value: float, days: float
) -> None:
    # Multiplying back (value * drop * horizon > cost) rounded above the cost at the
    # break-even drop for about one setting in six, so the break-even drop itself "paid".
    rc = RetrainCost(cost, value_per_unit=value, horizon=timedelta(days=days))
    even = rc.break_even_drop
    assert not rc.pays(even)
    assert rc.pays(math.nextafter(even, math.inf))
    assert not rc.pays(math.nan)


def test_a_free_retraining_pays_for_any_drop_above_zero() -> None:
    rc = RetrainCost(0.0, value_per_unit=10.0)
    assert rc.break_even_drop == 0.0
    assert rc.pays(1e-300)
    assert not rc.pays(0.0)
    assert not rc.pays(-0.5)
