"""Durations in parameters and in messages: seconds or a timedelta in, one wording out.

Parameters that are lengths of time take a number of seconds or a
:class:`~datetime.timedelta` (:func:`seconds` checks and converts them, with the
parameter-check wording of :mod:`prodml._params`); messages and decision reasons say them
in the largest unit that reads well (:func:`describe`): ``'2 h'``, not ``'0.0833333 days'``.

Examples
--------
>>> from datetime import timedelta
>>> from prodml._durations import describe, seconds
>>> seconds(timedelta(hours=2), "every", "ScheduleTrigger")
7200.0
>>> describe(7200), describe(86400), describe(36 * 3600), describe(90)
('2 h', '1 day', '1.5 days', '1.5 min')
"""

from __future__ import annotations

import math
from datetime import timedelta

from prodml._quote import short_repr
from prodml._state import finite_float
from prodml.errors import ConfigError

__all__ = ["describe", "seconds"]

_UNITS = ((86400.0, "day", "days"), (3600.0, "h", "h"), (60.0, "min", "min"))


def seconds(value: object, parameter: str, owner: str, *, positive: bool = True) -> float:
    """``value`` (seconds or a timedelta) as float seconds, or a ConfigError naming it.

    ``positive=False`` also accepts zero. Booleans, NaN and infinities are refused: a
    setting is saved in JSON state, which holds finite numbers only.
    """
    secs = value.total_seconds() if isinstance(value, timedelta) else value
    ok = (
        isinstance(secs, int | float)
        and not isinstance(secs, bool)
        and finite_float(secs) is not None  # NaN, infinities, ints beyond float range
        and (secs > 0 if positive else secs >= 0)
    )
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(
            f"The {parameter!r} parameter of {owner} must be seconds {bound} or a timedelta. "
            f"Got {short_repr(value)} instead.",
            parameter=parameter,
        )
    return float(secs)  # type: ignore[arg-type]  # checked just above


def describe(secs: float) -> str:
    """``secs`` in the largest unit (days, h, min, s) of which it is at least one.

    Three significant digits, no exponent; negative durations keep their sign and
    non-finite ones are shown as they are.
    """
    if not math.isfinite(secs):
        return f"{secs} s"
    size = abs(secs)
    for unit, one, many in _UNITS:
        if size >= unit:
            amount = secs / unit
            return f"{_number(amount)} {one if abs(amount) == 1 else many}"
    return f"{_number(secs)} s"


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
