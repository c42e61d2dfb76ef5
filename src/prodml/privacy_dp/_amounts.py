"""Privacy amounts counted exactly: a float epsilon or delta as the decimal it prints as.

``0.1`` is stored as the float 0.1000000000000000055...; counted as that float, ten
spends of 0.1 would overrun a total of 1.0. Counted as the decimal ``repr`` prints (the
shortest one that reads back as the same float), amounts add up as written, exactly, in
fractions. The noise of a release is calibrated to the largest float whose value is not
above that decimal (:func:`float_floor`), so what OpenDP accounts a release at never
exceeds what the ledger counts.

Examples
--------
>>> sum(exact(0.1) for _ in range(10)) == exact(1.0)
True
>>> float_floor(exact(0.1)) < 0.1  # the float 0.1 lies a hair above one tenth
True
>>> decimal_floor(exact(1.0) - exact(0.7))  # what is left, as a float that fits in it
0.3
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

__all__ = ["decimal_floor", "exact", "float_floor"]


def exact(x: float) -> Fraction:
    """What a finite float amount counts as: its shortest round-trip decimal, exactly."""
    return Fraction(repr(float(x)))


def decimal_floor(x: Fraction) -> float:
    """The largest float ``f >= 0`` whose decimal (:func:`exact`) is at most ``x``."""
    if x <= 0:
        return 0.0
    try:
        f = min(float(x), sys.float_info.max)
    except OverflowError:
        f = sys.float_info.max
    while f > 0 and exact(f) > x:
        f = math.nextafter(f, 0.0)
    return f


def float_floor(x: Fraction) -> float:
    """The largest float ``f >= 0`` whose exact binary value is at most ``x``."""
    if x <= 0:
        return 0.0
    try:
        f = min(float(x), sys.float_info.max)
    except OverflowError:
        f = sys.float_info.max
    while f > 0 and Fraction(f) > x:
        f = math.nextafter(f, 0.0)
    return f
