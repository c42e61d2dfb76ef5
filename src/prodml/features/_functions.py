"""Stateless value steps: clipping, log1p and registered numpy functions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from prodml._params import NONE, Constraint, Interval
from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.features._base import (
    Floats,
    Step,
    ValueFn,
    beyond_float64,
    check_finite,
    first_true,
    value_error,
)

__all__ = ["Clip", "Function", "Log1p", "get_function", "register_function"]


class Clip(Step):
    """Limit values to ``[lower, upper]`` (either bound may be None).

    Parameters
    ----------
    columns
        Number columns.
    lower, upper
        Bounds; at least one must be given.
    """

    def __init__(
        self, columns: Sequence[str], *, lower: float | None = None, upper: float | None = None
    ) -> None:
        self.columns = columns
        self.lower = lower
        self.upper = upper

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {"lower": [NONE, Interval(float)], "upper": [NONE, Interval(float)]}

    def validate_params(self) -> None:
        """Bounds are numbers, at least one is given, and lower <= upper."""
        super().validate_params()
        if self.lower is None and self.upper is None:
            raise ConfigError("Clip needs a lower or an upper bound", parameter="lower")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ConfigError(
                f"Clip lower bound {self.lower!r} is above the upper bound {self.upper!r}",
                parameter="lower",
            )

    def transform_values(self, column: str, values: Any, kind: str) -> Any:
        """Clip."""
        if self.lower is not None:
            lo = float(self.lower)
            values = np.where(values < lo, lo, values)
        if self.upper is not None:
            hi = float(self.upper)
            values = np.where(values > hi, hi, values)
        return values

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Inline clipping."""
        code = []
        if self.lower is not None:
            ns[key + "lo"] = float(self.lower)
            code.append(f"if v < {key}lo: v = {key}lo")
        if self.upper is not None:
            ns[key + "hi"] = float(self.upper)
            code.append(f"if v > {key}hi: v = {key}hi")
        return code

    def record_fn(self, column: str, kind: str) -> ValueFn:
        """Clip one value."""
        lo = -math.inf if self.lower is None else float(self.lower)
        hi = math.inf if self.upper is None else float(self.upper)
        low_on, high_on = self.lower is not None, self.upper is not None

        def clip(v: float) -> float:
            if low_on and v < lo:
                v = lo
            if high_on and v > hi:
                v = hi
            return v

        return clip


class Log1p(Step):
    """``log(1 + x)``; values at or below -1 are a SchemaError, at fit as at transform.

    Parameters
    ----------
    columns
        Number columns.
    """

    has_domain = True

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = columns

    def transform_values(self, column: str, values: Any, kind: str) -> Any:
        """Log1p."""
        bad = values <= -1.0
        if bad.any():
            row = first_true(bad)
            raise value_error(column, f"Log1p needs values > -1; got {float(values[row])!r}", row)
        return np.log1p(values)

    def record_fn(self, column: str, kind: str) -> ValueFn:
        """Log1p of one value, through the same numpy function."""
        log1p = np.log1p

        def fn(v: float) -> float:
            if v <= -1.0:
                raise value_error(column, f"Log1p needs values > -1; got {short_repr(v)}")
            return float(log1p(v))

        return fn


_FUNCTIONS: dict[str, Callable[[Floats], Floats]] = {}


def register_function(
    name: str, func: Callable[[Floats], Floats], *, overwrite: bool = False
) -> None:
    """Register an elementwise numpy function under a name, for :class:`Function` steps.

    The function takes a 1-D float64 array and returns one of the same length; it must
    treat each element on its own (the record path calls it on one-element arrays).
    Serialised pipelines store only the name: register it again before loading.

    Raises
    ------
    ConfigError
        When the name is taken (unless ``overwrite``) or ``func`` is not callable.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"function name must be a non-empty str; got {short_repr(name)}")
    if not callable(func):
        raise ConfigError(f"function {short_repr(name)} is not callable")
    if name in _FUNCTIONS and _FUNCTIONS[name] is not func and not overwrite:
        raise ConfigError(f"function {short_repr(name)} is already registered; pass overwrite=True")
    _FUNCTIONS[name] = func


def get_function(name: str) -> Callable[[Floats], Floats]:
    """The function registered under ``name``.

    Raises
    ------
    ConfigError
        When no function has that name.
    """
    try:
        return _FUNCTIONS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        raise ConfigError(
            f"no function is registered as {short_repr(name)}; call "
            f"prodml.features.steps.register_function({short_repr(name)}, func) first",
            parameter="func",
        ) from None


class Function(Step):
    """Apply a registered elementwise numpy function (JSON stores only its name).

    Parameters
    ----------
    columns
        Number columns.
    func
        Name given to :func:`register_function`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from prodml.features import FeaturePipeline, steps
    >>> steps.register_function("square", np.square, overwrite=True)
    >>> pipe = FeaturePipeline([steps.Function(["x"], func="square")])
    >>> pipe.fit(pd.DataFrame({"x": [1.0, 2.0]})).transform_record({"x": 3.0})
    array([9.])
    """

    def __init__(self, columns: Sequence[str], *, func: str = "") -> None:
        self.columns = columns
        self.func = func

    def validate_params(self) -> None:
        """The function must be registered."""
        super().validate_params()
        get_function(self.func)

    def _name(self) -> str:
        return f"Function {short_repr(self.func)}"

    def transform_values(self, column: str, values: Any, kind: str) -> Any:
        """Apply the function; inf or NaN out of its finite input is a SchemaError."""
        with np.errstate(all="ignore"):
            out = np.asarray(get_function(self.func)(values), dtype=np.float64)
        if out.shape != values.shape:
            raise ConfigError(
                f"function {short_repr(self.func)} returned shape {out.shape} for input "
                f"{values.shape}"
            )
        return check_finite(out, column, self._name(), why=_NOT_FINITE)

    def record_fn(self, column: str, kind: str) -> ValueFn:
        """Apply the function to a one-element array, with the same check."""
        f, name = get_function(self.func), self._name()
        errstate, array, f64, lo, hi = np.errstate, np.array, np.float64, -math.inf, math.inf

        def fn(v: float) -> float:
            with errstate(all="ignore"):
                out = float(np.asarray(f(array([v], dtype=f64)))[0])
            if not lo < out < hi:
                raise beyond_float64(column, name, why=_NOT_FINITE)
            return out

        return fn


_NOT_FINITE = (
    "the function is not finite on every value the column can hold; change the function "
    "or clip the column before the step (Clip)"
)
