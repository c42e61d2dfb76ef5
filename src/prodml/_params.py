"""Declarative checks of constructor parameters, with one wording everywhere.

Components store their settings unchanged in ``__init__`` and check them here, in ``fit``
or on first use (the scikit-learn habit), so that ``clone`` and ``set_params`` work.

Examples
--------
>>> from prodml._params import Interval, check_params
>>> check_params("DriftDetector", {"alpha": 1.5}, {"alpha": [Interval(float, 0, 1, "neither")]})
Traceback (most recent call last):
...
prodml.errors.ConfigError: The 'alpha' parameter of DriftDetector must be a float in (0, 1). Got 1.5 instead.
"""  # noqa: E501

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = ["Constraint", "Interval", "OneOf", "Predicate", "TypeOf", "check_params"]

Closed = Literal["both", "left", "right", "neither"]


class Constraint:
    """A condition a parameter value can satisfy; parameters list alternatives."""

    def accepts(self, value: object) -> bool:  # pragma: no cover - interface
        """Return whether ``value`` satisfies this constraint."""
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        """Describe the accepted values, completing 'must be ...'."""
        raise NotImplementedError


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval(Constraint):
    """A number of type ``kind`` (``int`` or ``float``) in an interval.

    ``kind=float`` accepts any real number (ints included); ``kind=int`` only integers.
    Bounds of ``None`` are unbounded. NaN is never accepted, nor an int beyond the float
    range; infinities only with ``finite=False``: a setting is saved in JSON state, which
    holds finite numbers only.
    """

    kind: type[int] | type[float]
    low: float | None = None
    high: float | None = None
    closed: Closed = "both"
    finite: bool = True

    def accepts(self, value: object) -> bool:
        integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if (self.kind is int and not integral) or not _is_real(value):
            return False
        try:
            x = float(value)  # type: ignore[arg-type]
        except OverflowError:  # an int beyond the float range
            return False
        if math.isnan(x) or (self.finite and math.isinf(x)):
            return False
        if self.low is not None:
            if self.closed in ("both", "left") and x < self.low:
                return False
            if self.closed in ("right", "neither") and x <= self.low:
                return False
        if self.high is not None:
            if self.closed in ("both", "right") and x > self.high:
                return False
            if self.closed in ("left", "neither") and x >= self.high:
                return False
        return True

    def describe(self) -> str:
        name = "an int" if self.kind is int else "a float"
        if self.low is None and self.high is None:
            return name
        if self.high is None:
            op = ">=" if self.closed in ("both", "left") else ">"
            return f"{name} {op} {_fmt(self.low)}"
        if self.low is None:
            op = "<=" if self.closed in ("both", "right") else "<"
            return f"{name} {op} {_fmt(self.high)}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        return f"{name} in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a fixed set of values (compared with ``==``)."""

    options: Collection[object]

    def accepts(self, value: object) -> bool:
        try:
            return bool(value in self.options)
        except (TypeError, ValueError):  # unhashable, or an array's ambiguous truth value
            return False

    def describe(self) -> str:
        shown = sorted(self.options, key=repr)
        if len(shown) == 1:  # "a float > 0 or None", not "... or one of {None}"
            return repr(shown[0])
        return "one of {" + ", ".join(repr(o) for o in shown) + "}"


@dataclass(frozen=True)
class TypeOf(Constraint):
    """An instance of one of ``types``; ``description`` completes 'must be ...'."""

    types: type | tuple[type, ...]
    description: str

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool) and bool not in _as_tuple(self.types):
            return False
        return isinstance(value, self.types)

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class Predicate(Constraint):
    """Any value for which ``func`` returns true; ``description`` completes 'must be ...'."""

    func: Callable[[object], bool]
    description: str

    def accepts(self, value: object) -> bool:
        try:
            return bool(self.func(value))
        except (TypeError, ValueError):
            return False

    def describe(self) -> str:
        return self.description


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


NONE = OneOf((None,))
"""Accepts ``None``; add it to a parameter's alternatives to make it optional."""


def check_params(
    owner: str,
    params: Mapping[str, object],
    constraints: Mapping[str, Sequence[Constraint]],
) -> None:
    """Check each named parameter against its alternatives.

    Parameters
    ----------
    owner
        The class or function the parameters belong to, for the message.
    params
        Parameter values by name.
    constraints
        For each parameter, the constraints of which at least one must hold.

    Raises
    ------
    ConfigError
        For the first parameter that satisfies none of its constraints, worded
        "The 'alpha' parameter of DriftDetector must be a float in (0, 1). Got 1.5 instead."
    """
    for name, alternatives in constraints.items():
        value = params[name]
        if any(c.accepts(value) for c in alternatives):
            continue
        described = [c.describe() for c in alternatives]
        wanted = (
            described[0]
            if len(described) == 1
            else ", ".join(described[:-1]) + " or " + described[-1]
        )
        raise ConfigError(
            f"The {name!r} parameter of {owner} must be {wanted}. Got {short_repr(value)} instead.",
            parameter=name,
        )
