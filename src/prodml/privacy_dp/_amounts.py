"""Privacy amounts counted exactly: a float epsilon or delta as the decimal it prints as.

``0.1`` is stored as the float 0.1000000000000000055...; counted as that float, ten
spends of 0.1 would overrun a total of 1.0. Counted as the decimal ``repr`` prints (the
shortest one that reads back as the same float), amounts add up as written, exactly:
:func:`add` and :func:`subtract` work in a decimal context wide enough for any sum of
floats and trap any rounding. The noise of a release is calibrated to the largest float
whose value is not above that decimal (:func:`float_floor`), so what OpenDP accounts a
release at never exceeds what the ledger counts.

Examples
--------
>>> total = exact(0.0)
>>> for _ in range(10):
...     total = add(total, exact(0.1))
>>> total == exact(1.0)
True
>>> float_floor(exact(0.1)) < 0.1  # the float 0.1 lies a hair above one tenth
True
>>> decimal_floor(subtract(exact(1.0), exact(0.7)))  # what is left, as a float that fits
0.3
"""

from __future__ import annotations

import decimal
import math
import sys
from decimal import Decimal

__all__ = ["ZERO", "add", "decimal_floor", "exact", "float_floor", "split_budget", "subtract"]

# Floats span 10**-324 to 10**308 with 17 significant digits: 700 digits hold any sum of
# them exactly (a count of 10**7 spends adds 7 more); Inexact is trapped all the same.
_EXACT = decimal.Context(
    prec=1000,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation, decimal.Overflow],
)
ZERO = Decimal(0)


def exact(x: float) -> Decimal:
    """What a finite float amount counts as: its shortest round-trip decimal, exactly."""
    return Decimal(repr(float(x)))


def add(a: Decimal, b: Decimal) -> Decimal:
    """``a + b``, exactly."""
    return _EXACT.add(a, b)


def subtract(a: Decimal, b: Decimal) -> Decimal:
    """``a - b``, exactly."""
    return _EXACT.subtract(a, b)


def decimal_floor(x: Decimal) -> float:
    """The largest float ``f >= 0`` whose decimal (:func:`exact`) is at most ``x``."""
    if x <= 0:
        return 0.0
    f = min(float(x), sys.float_info.max)
    while f > 0 and exact(f) > x:
        f = math.nextafter(f, 0.0)
    return f


def float_floor(x: Decimal) -> float:
    """The largest float ``f >= 0`` whose exact binary value is at most ``x``."""
    if x <= 0:
        return 0.0
    f = min(float(x), sys.float_info.max)
    while f > 0 and Decimal(f) > x:  # Decimal(float) is the float's exact value
        f = math.nextafter(f, 0.0)
    return f


def split_budget(
    epsilon: float, delta: float, share: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(epsilon, delta) of the parts and of the count of persons, ``share`` to the latter.

    Each amount is a float whose exact value is at most its share, and the two add up to
    at most the decimals ``epsilon`` and ``delta`` count as: basic composition of the
    two measurements spends no more than the release's (epsilon, delta).

    >>> (parts, _), (persons, _) = split_budget(1.0, 0.0, 0.1)
    >>> parts, persons, parts + persons <= 1.0
    (0.8999999999999999, 0.09999999999999999, True)
    """
    floor = decimal.Context(prec=80, rounding=decimal.ROUND_FLOOR)
    out = []
    for total in (epsilon, delta):
        mine = float_floor(floor.multiply(exact(total), exact(share)))
        out.append((float_floor(subtract(exact(total), Decimal(mine))), mine))
    (eps_parts, eps_persons), (dlt_parts, dlt_persons) = out
    return (eps_parts, dlt_parts), (eps_persons, dlt_persons)
