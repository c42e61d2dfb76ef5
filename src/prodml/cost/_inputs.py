"""Uncertain inputs: a point value, a (low, mode, high) triple or a scipy distribution.

Every estimator input goes through :func:`as_input`, which checks it and returns an
:class:`Input` that can describe itself (for ``CostEstimate.assumptions``) and draw
vectorised samples from a seeded numpy ``Generator``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt
from scipy import stats

from prodml._params import Interval
from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = ["Distribution", "Input", "Uncertain", "as_input", "as_inputs", "pert", "triangular"]

FloatArray: TypeAlias = npt.NDArray[np.float64]

#: Half the width of a triangular input past which it is drawn as a weighted mean of its
#: bounds (numpy's sampler squares widths).
_WIDE = 1e150


@runtime_checkable
class Distribution(Protocol):
    """Anything that draws samples like a frozen ``scipy.stats`` distribution."""

    def rvs(self, size: Any = ..., random_state: Any = ...) -> Any:
        """Draw ``size`` samples using ``random_state``."""

    def mean(self) -> Any:
        """The distribution's mean."""


Uncertain: TypeAlias = "float | tuple[float, float, float] | Distribution"
"""A point value, a ``(low, mode, high)`` triangular triple, or a frozen distribution."""


def _finite(x: object) -> bool:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:  # an int beyond the float range
        return False


def triangular(low: float, mode: float, high: float) -> Distribution:
    """A triangular distribution on ``[low, high]`` peaking at ``mode`` (scipy frozen).

    Passing the plain tuple ``(low, mode, high)`` to an estimator means the same thing.

    Examples
    --------
    >>> round(float(triangular(1.0, 2.0, 6.0).mean()), 6)
    3.0
    """
    _check_triple("triangular", (low, mode, high))
    _check_width("triangular", low, high)
    return stats.triang(c=(mode - low) / (high - low), loc=low, scale=high - low)


def pert(low: float, mode: float, high: float, *, lamb: float = 4.0) -> Distribution:
    """A (modified) PERT distribution: a Beta scaled to ``[low, high]`` with mode ``mode``.

    The mean is ``(low + lamb * mode + high) / (lamb + 2)``; ``lamb=4`` is the classic PERT
    weighting (Malcolm et al. 1959; Vose, *Risk Analysis*, 2008, sec. 9.1.2).

    Examples
    --------
    >>> round(float(pert(1.0, 2.0, 9.0).mean()), 6)
    3.0
    """
    _check_triple("pert", (low, mode, high))
    if not _finite(lamb) or lamb <= 0:
        raise ConfigError(
            f"pert: 'lamb' must be a float > 0. Got {short_repr(lamb)} instead.", parameter="lamb"
        )
    _check_width("pert", low, high)
    width = high - low
    a = 1.0 + lamb * (mode - low) / width
    b = 1.0 + lamb * (high - mode) / width
    return stats.beta(a, b, loc=low, scale=width)


def _check_width(name: str, low: float, high: float) -> None:
    if not low < high:
        raise ConfigError(
            f"{name}: 'low' must be below 'high' (got {short_repr(low)} and "
            f"{short_repr(high)}); pass the number "
            "itself for a known value.",
            parameter="high",
        )


def _check_triple(name: str, triple: tuple[object, ...]) -> None:
    if len(triple) != 3 or not all(_finite(v) for v in triple):
        raise ConfigError(
            f"The {name!r} input must be a (low, mode, high) triple of finite numbers. "
            f"Got {short_repr(triple)} instead.",
            parameter=name,
        )
    low, mode, high = (float(v) for v in triple)  # type: ignore[arg-type]
    if not low <= mode <= high:
        raise ConfigError(
            f"The {name!r} input must satisfy low <= mode <= high. Got {short_repr(triple)} "
            "instead.",
            parameter=name,
        )


@dataclass(frozen=True)
class Input:
    """One checked estimator input.

    ``kind`` is ``"point"``, ``"triangular"`` or ``"distribution"``.
    """

    name: str
    kind: str
    value: float = math.nan
    triple: tuple[float, float, float] | None = None
    dist: Any = None
    allowed: Interval | None = None

    @property
    def is_point(self) -> bool:
        """Whether the input is a single known value."""
        return self.kind == "point"

    def describe(self) -> str:
        """A short description for ``CostEstimate.assumptions``."""
        if self.kind == "point":
            return f"{self.value:g}"
        if self.kind == "triangular":
            low, mode, high = self.triple  # type: ignore[misc]
            return f"triangular(low={low:g}, mode={mode:g}, high={high:g})"
        name = getattr(getattr(self.dist, "dist", None), "name", type(self.dist).__name__)
        try:
            return f"{name} distribution, mean {float(self.dist.mean()):g}"
        except (TypeError, ValueError):
            return f"{name} distribution"

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """Draw ``n`` samples (a point value is repeated)."""
        if self.kind == "point":
            return np.full(n, self.value)
        if self.kind == "triangular":
            low, mode, high = self.triple  # type: ignore[misc]
            if high == low:
                return np.full(n, low)
            if high / 2 - low / 2 < _WIDE:
                return rng.triangular(low, mode, high, size=n)
            # numpy multiplies two widths: past ~1e154 that overflows and every draw is
            # -inf. The same distribution, as a weighted mean of the bounds.
            c = (mode / 2 - low / 2) / (high / 2 - low / 2)
            u = rng.triangular(0.0, c, 1.0, size=n)
            return np.asarray(low * (1.0 - u) + high * u, dtype=np.float64)
        try:
            out = np.asarray(self.dist.rvs(size=n, random_state=rng), dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ConfigError(
                f"The {short_repr(self.name)} input could not be sampled: {err}",
                parameter=self.name,
            ) from err
        if out.shape != (n,):
            raise ConfigError(
                f"The {short_repr(self.name)} input must be a univariate distribution; "
                f"rvs(size={n}) returned shape {out.shape}.",
                parameter=self.name,
            )
        self._check_samples(out)
        return out

    def _check_samples(self, values: FloatArray) -> None:
        bad = ~np.isfinite(values)
        if self.allowed is not None:
            bad |= ~_vector_accepts(self.allowed, values)
        if bad.any():
            first = float(values[np.argmax(bad)])
            wanted = self.allowed.describe() if self.allowed is not None else "finite"
            raise ConfigError(
                f"The {short_repr(self.name)} input drew {int(bad.sum())} value(s) outside the "
                "allowed "
                f"range (must be {wanted}), e.g. {short_repr(first)}. Use a distribution whose "
                "support "
                "lies inside the allowed range (e.g. a truncated one).",
                parameter=self.name,
            )


def _vector_accepts(allowed: Interval, values: FloatArray) -> npt.NDArray[np.bool_]:
    ok = np.isfinite(values)
    closed = allowed.closed
    if allowed.low is not None:
        ok &= values >= allowed.low if closed in ("both", "left") else values > allowed.low
    if allowed.high is not None:
        ok &= values <= allowed.high if closed in ("both", "right") else values < allowed.high
    return ok


def as_input(name: str, value: object, allowed: Interval | None = None) -> Input:
    """Check one estimator input and wrap it.

    Raises
    ------
    ConfigError
        When the value is not a finite number, a valid triple or a distribution, or when
        it lies outside ``allowed``.
    """
    wanted = "(must be " + allowed.describe() + ")" if allowed is not None else ""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise ConfigError(_bad(name, value), parameter=name)
    if isinstance(value, numbers.Real):
        if not _finite(value) or (allowed is not None and not allowed.accepts(float(value))):
            raise ConfigError(
                f"The {name!r} input must be a finite number {wanted}. "
                f"Got {short_repr(value)} instead.",
                parameter=name,
            )
        return Input(name, "point", value=float(value), allowed=allowed)
    if isinstance(value, tuple | list):
        _check_triple(name, tuple(value))
        low, mode, high = (float(v) for v in value)
        if allowed is not None and not (allowed.accepts(low) and allowed.accepts(high)):
            raise ConfigError(
                f"The {name!r} input's bounds must both be {allowed.describe()}. "
                f"Got {short_repr(tuple(value))} instead.",
                parameter=name,
            )
        if low == high:
            return Input(name, "point", value=low, allowed=allowed)
        return Input(name, "triangular", triple=(low, mode, high), allowed=allowed)
    if isinstance(value, Distribution):
        return Input(name, "distribution", dist=value, allowed=allowed)
    raise ConfigError(_bad(name, value), parameter=name)


def _bad(name: str, value: object) -> str:
    return (
        f"The {name!r} input must be a number, a (low, mode, high) triple or a frozen "
        f"scipy.stats distribution. Got {short_repr(value)} instead."
    )


def as_inputs(
    values: Mapping[str, object],
    allowed: Mapping[str, Interval | None],
    *,
    optional: Collection[str] = (),
) -> dict[str, Input]:
    """Check several inputs; those named in ``optional`` may be ``None`` (not given)."""
    out: dict[str, Input] = {}
    for name, value in values.items():
        if value is None and name in optional:
            continue
        out[name] = as_input(name, value, allowed.get(name))
    return out
