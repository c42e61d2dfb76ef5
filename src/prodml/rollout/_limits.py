"""Sizes a rollout policy accepts: what its saved state can hold, so it always loads back.

The public API refuses anything beyond these (a :class:`~prodml.errors.PolicyError`
naming the parameter and the limit) rather than save a state ``from_dict`` would refuse.
"""

from __future__ import annotations

import math
from collections.abc import Sized

from prodml._quote import short_repr
from prodml._state import MAX_COUNT
from prodml.errors import PolicyError

__all__ = [
    "MAX_COUNT",
    "MAX_GATES",
    "MAX_METRICS",
    "MAX_NAME",
    "MAX_SALT",
    "MAX_STEPS",
    "check_clock",
    "check_name",
    "check_size",
]

MAX_NAME = 1000
"""Characters of a variant or environment name (BlueGreen, Shadow)."""

MAX_SALT = 10_000
"""Characters of a routing salt."""

MAX_GATES = 1000
"""Gates of one policy."""

MAX_STEPS = 1000
"""Steps of one canary."""

MAX_METRICS = 10_000
"""Metric summaries (and quantile sketches) per variant, indicator summaries included."""


def check_size(owner: str, parameter: str, value: Sized, limit: int, unit: str = "items") -> None:
    """Refuse ``value`` with more than ``limit`` items (characters for a str)."""
    if len(value) > limit:
        raise PolicyError(
            f"{owner}: {parameter} must have at most {limit:,} {unit}. Got {len(value):,}."
        )


def check_name(owner: str, parameter: str, value: object) -> None:
    """Refuse a name that is not a str of at most :data:`MAX_NAME` characters."""
    if not isinstance(value, str):
        raise PolicyError(f"{owner}: {parameter} must be a str. Got {short_repr(value)}.")
    check_size(owner, parameter, value, MAX_NAME, "characters")


def check_clock(owner: str, now: object) -> float:
    """A clock reading as a finite float, or a PolicyError naming ``clock``."""
    try:
        t = float(now)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        t = math.nan
    if not math.isfinite(t):
        raise PolicyError(
            f"{owner}: clock must return a finite number of seconds. Got {short_repr(now)}."
        )
    return t
