"""Overflow at transform of the scalers: the rescue formula and the finite-output check.

A scaler computes (x - shift) / scale, or (x - shift) * factor + low. For x and shift of
opposite signs near float64's limit the difference overflows though the result need not
(x = -1e308 with mean 1e308 and std 1e307 is -20): those elements are recomputed as
x / scale - shift / scale (x * factor - shift * factor + low), which overflows only when
the result itself is beyond float64; what is still inf is a SchemaError naming the step
and the column. Other values keep the scikit-learn formula, bit for bit. The record path
performs the same float operations, so it gives the same value or the same error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from prodml.features._base import ValueFn, beyond_float64, check_finite

__all__ = ["divided", "multiplied", "record_code", "record_fn"]


def _rescued(out: Any, values: Any, redo: Callable[[Any], Any], column: str, step: str) -> Any:
    ok = np.isfinite(out)
    if ok.all():
        return out
    bad = ~ok
    with np.errstate(all="ignore"):
        out[bad] = redo(values[bad])
    return check_finite(out, column, step)


def divided(values: Any, shift: float, scale: float, column: str, step: str) -> Any:
    with np.errstate(all="ignore"):
        out = values - shift
        out /= scale
    return _rescued(out, values, lambda x: x / scale - shift / scale, column, step)


def multiplied(
    values: Any, shift: float, factor: float, low: float, *, column: str, step: str
) -> Any:
    with np.errstate(all="ignore"):
        out = values - shift
        out *= factor
        out += low
    return _rescued(out, values, lambda x: x * factor - shift * factor + low, column, step)


def _checked(redo: ValueFn, column: str, step: str) -> ValueFn:
    lo, hi = -math.inf, math.inf

    def fallback(v: float) -> float:
        u = redo(v)
        if not lo < u < hi:
            raise beyond_float64(column, step)
        return u

    return fallback


def record_code(
    ns: dict[str, Any], key: str, first: str, redo: ValueFn, *, column: str, step: str
) -> list[str]:
    """``first`` (an expression of ``v``), or ``redo(v)`` when it is not finite."""
    ns[key + "redo"] = _checked(redo, column, step)
    # u - u is 0.0 (false) for a finite u and NaN (true) for inf or NaN: the cheapest test.
    return [f"u = {first}", f"v = {key}redo(v) if u - u else u"]


def record_fn(first: ValueFn, redo: ValueFn, column: str, step: str) -> ValueFn:
    fallback = _checked(redo, column, step)

    def fn(v: float) -> float:
        u = first(v)
        return fallback(v) if u - u else u  # see record_code

    return fn
