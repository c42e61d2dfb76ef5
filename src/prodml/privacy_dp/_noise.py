"""Noise calibration, sampling and accounting through OpenDP (extra ``privacy``).

A release is the sequential composition of one OpenDP measurement per released part (a
column's histogram, a group table): OpenDP's ``make_laplace`` (pure epsilon-DP) or
``make_gaussian`` (zero-concentrated DP, converted to (epsilon, delta)-DP by
``make_zCDP_to_approxDP``) over a vector of integer counts. Both sample *discrete*
noise on integers (Canonne, Kamath and Steinke 2020), so counts stay integers.

The unit of privacy is one row, added or removed: a row adds 1 to exactly one count of
each part, so each part has sensitivity 1 (L1 and L2) and the parts compose. With
``max_rows_per_person=k`` the unit is a person with at most ``k`` rows: adding or
removing one changes a part's counts by at most ``k`` in L1 and in L2 (all ``k`` rows may
fall in one cell), so the measurements are evaluated at ``d_in = k``.

Epsilon and delta are targets as written: the noise is calibrated so that OpenDP's
privacy loss is at most the decimal the number prints as (``0.1`` is one tenth, a hair
below the float 0.1), which is what a :class:`PrivacyBudget` counts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from prodml._extras import require
from prodml._params import Constraint, Interval, OneOf, check_params
from prodml._state import MAX_COUNT
from prodml.errors import ConfigError
from prodml.privacy_dp._amounts import exact, float_floor

__all__ = ["MECHANISMS", "Noise", "calibrate", "opendp_measurement", "privacy_loss", "sample"]

Mechanism = Literal["laplace", "gaussian"]
MECHANISMS: tuple[str, ...] = ("laplace", "gaussian")
IntArray = npt.NDArray[np.int64]
MAX_ROWS_PER_PERSON = 1_000_000


@dataclass(frozen=True)
class Noise:
    """One noise draw added to every count of a part: its mechanism and scale.

    A merged release adds the noises of its sites: a part keeps one :class:`Noise` per
    site, and its noise variance is their sum.
    """

    mechanism: str
    scale: float

    @property
    def variance(self) -> float:
        """Variance of one noisy count's noise.

        Discrete Laplace of scale ``s``: ``2 a / (1 - a)**2`` with ``a = exp(-1/s)``.
        Discrete Gaussian of scale ``sigma``: ``sigma**2``, an upper bound (Canonne,
        Kamath and Steinke 2020, Corollary 9), so tests built on it stay conservative.
        """
        if self.mechanism == "laplace":
            a = math.exp(-1.0 / self.scale)
            return 2.0 * a / math.expm1(-1.0 / self.scale) ** 2
        return self.scale**2

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"mechanism": self.mechanism, "scale": self.scale}


_RULES: dict[str, list[Constraint]] = {
    "mechanism": [OneOf(MECHANISMS)],
    "scale": [Interval(float, 0, None, "neither")],
    "epsilon": [Interval(float, 0, None, "neither")],
    "delta": [Interval(float, 0, 1, "left")],
    "n_parts": [Interval(int, 1, None)],
    "max_rows_per_person": [Interval(int, 1, MAX_ROWS_PER_PERSON)],
}


def _check(owner: str, **params: object) -> None:
    """The public functions' arguments, checked before OpenDP sees them."""
    check_params(owner, params, {name: _RULES[name] for name in params})


def _dp() -> Any:
    dp = require("opendp.prelude", extra="privacy", feature="differentially private releases")
    dp.enable_features("contrib")
    return dp


def opendp_measurement(mechanism: str, scale: float, n_parts: int, delta: float = 0.0) -> Any:
    """The OpenDP measurement of a whole release: ``n_parts`` noisy count vectors composed.

    Its ``map(1)`` is the privacy loss of one row: epsilon (``laplace``) or the pair
    (epsilon, delta) at the given ``delta`` (``gaussian``); ``map(k)`` that of a person
    with ``k`` rows.
    """
    _check("opendp_measurement", mechanism=mechanism, scale=scale, n_parts=n_parts, delta=delta)
    dp = _dp()
    if mechanism == "laplace":
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
        part = dp.m.make_laplace(*space, scale=scale)
        return dp.c.make_composition([part] * n_parts)
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64")
    part = dp.m.make_gaussian(*space, scale=scale)
    zcdp = dp.c.make_composition([part] * n_parts)
    return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(zcdp), delta)


def privacy_loss(
    mechanism: str,
    scale: float,
    n_parts: int,
    delta: float = 0.0,
    *,
    max_rows_per_person: int = 1,
) -> float:
    """Epsilon of a release, by OpenDP's own accounting (``measurement.map(k)``).

    ``k`` is ``max_rows_per_person``: 1 when the unit of privacy is a row.
    """
    _check("privacy_loss", mechanism=mechanism, scale=scale, n_parts=n_parts, delta=delta,
           max_rows_per_person=max_rows_per_person)  # fmt: skip
    loss = opendp_measurement(mechanism, scale, n_parts, delta).map(max_rows_per_person)
    return float(loss[0] if isinstance(loss, tuple) else loss)


def calibrate(
    mechanism: str, epsilon: float, delta: float, n_parts: int, *, max_rows_per_person: int = 1
) -> float:
    """The smallest noise scale per part whose release spends at most (epsilon, delta).

    Laplace: ``n_parts * k / epsilon`` (``k = max_rows_per_person``, the sensitivity of
    each part). Gaussian: zCDP composes by adding ``rho``, so ``n_parts`` parts of scale
    ``s`` cost what one part of scale ``s / sqrt(n_parts)`` does, and ``k`` rows what one
    row at scale ``s / k`` does; the scale for one row is found by OpenDP's binary search
    and the result checked on the composition at ``d_in = k``. Epsilon and delta count as
    the decimals they print as (``0.1`` is one tenth): the loss OpenDP accounts is at
    most that, never the float a hair above it, as a :class:`PrivacyBudget` counts.
    """
    _check("calibrate", mechanism=mechanism, epsilon=epsilon, delta=delta, n_parts=n_parts,
           max_rows_per_person=max_rows_per_person)  # fmt: skip
    if mechanism == "gaussian" and delta == 0:  # no finite noise spends epsilon at delta 0
        raise ConfigError(
            "The 'delta' parameter of calibrate must be a float in (0, 1) for the gaussian "
            "mechanism. Got 0 instead.",
            parameter="delta",
        )
    eps = float_floor(exact(epsilon))
    dlt = float_floor(exact(delta))
    return _calibrated(mechanism, eps, dlt, int(n_parts), int(max_rows_per_person))


@functools.lru_cache(maxsize=256)
def _calibrated(mechanism: str, epsilon: float, delta: float, n_parts: int, rows: int) -> float:
    # Cached: a pure function of its arguments, and each check of a Gaussian scale
    # against OpenDP's accountant costs milliseconds.
    if mechanism == "laplace":
        scale = n_parts * rows / epsilon
        # Floating point: nudge up until OpenDP agrees the budget holds.
        while privacy_loss("laplace", scale, n_parts, max_rows_per_person=rows) > epsilon:
            scale = math.nextafter(scale, math.inf) * (1 + 1e-12)
        return scale
    one = _gaussian_one(epsilon, delta)
    scale = one * math.sqrt(n_parts) * rows
    while privacy_loss("gaussian", scale, n_parts, delta, max_rows_per_person=rows) > epsilon:
        scale *= 1 + 1e-9
    return scale


@functools.lru_cache(maxsize=256)
def _gaussian_one(epsilon: float, delta: float) -> float:
    dp = _dp()
    space = dp.atom_domain(T=int), dp.absolute_distance(T=int)

    def make(scale: float) -> Any:
        gauss = dp.m.make_gaussian(*space, scale=scale)
        return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(gauss), delta)

    return float(dp.binary_search_param(make, d_in=1, d_out=(epsilon, delta)))


def sample(
    mechanism: str, scale: float, counts: IntArray, rng: np.random.Generator | None
) -> IntArray:
    """``counts`` plus discrete noise of ``scale``.

    ``rng=None`` draws with OpenDP's sampler (cryptographically secure randomness,
    exact discrete distributions): use it for anything released. A numpy generator
    draws the same distributions reproducibly, for tests and simulations only: its
    randomness is predictable, so a seeded release protects nobody.

    Counts are at most ``MAX_COUNT`` (2**53, checked by the caller before the budget is
    charged) and OpenDP adds noise to 64-bit integers (saturating; Python's ``int``
    would be 32-bit there). Noisy counts are clipped to ``[-MAX_COUNT, MAX_COUNT]``
    (post-processing) so that every release can be saved and loaded back.
    """
    return np.clip(_noisy(mechanism, scale, counts, rng), -MAX_COUNT, MAX_COUNT)


def _noisy(
    mechanism: str, scale: float, counts: IntArray, rng: np.random.Generator | None
) -> IntArray:
    if rng is None:
        meas = _sampler(mechanism, scale)
        return np.asarray(meas(counts.tolist()), dtype=np.int64)
    if mechanism == "laplace":
        return counts + discrete_laplace(rng, scale, counts.size)
    return counts + discrete_gaussian(rng, scale, counts.size)


@functools.lru_cache(maxsize=64)
def _sampler(mechanism: str, scale: float) -> Any:
    """OpenDP's measurement adding noise of ``scale`` to a vector of i64 counts.

    Cached: the parts of a release share one scale, and building a measurement costs
    more than sampling a short vector. A measurement holds no state between calls.
    """
    dp = _dp()
    if mechanism == "laplace":
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64")
        return dp.m.make_laplace(*space, scale=scale)
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64")
    return dp.m.make_gaussian(*space, scale=scale)


def discrete_laplace(
    rng: np.random.Generator, scale: float, size: int | tuple[int, ...]
) -> IntArray:
    """Discrete Laplace draws, ``P(x) ~ exp(-|x| / scale)``: a difference of geometrics."""
    p = -math.expm1(-1.0 / scale)
    return (rng.geometric(p, size) - rng.geometric(p, size)).astype(np.int64)


def discrete_gaussian(
    rng: np.random.Generator, sigma: float, size: int | tuple[int, ...]
) -> IntArray:
    """Discrete Gaussian draws by rejection from discrete Laplace (CKS20, Algorithm 3)."""
    shape = (size,) if isinstance(size, int) else size
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.int64)
    t = math.floor(sigma) + 1
    todo = np.arange(n)
    while todo.size:
        y = discrete_laplace(rng, t, todo.size)
        accept = rng.random(todo.size) < np.exp(-((np.abs(y) - sigma**2 / t) ** 2) / (2 * sigma**2))
        out[todo[accept]] = y[accept]
        todo = todo[~accept]
    return out.reshape(shape)


def check_mechanism(mechanism: object, epsilon: object, delta: object) -> tuple[str, float, float]:
    """Validated (mechanism, epsilon, delta) of a release; ConfigError naming the fault."""
    if mechanism not in MECHANISMS:
        raise ConfigError(
            "The 'mechanism' parameter of a DP release must be one of "
            f"{list(MECHANISMS)}. Got {str(mechanism)[:40]!r} instead.",
            parameter="mechanism",
        )
    eps = _number("epsilon", epsilon)
    if not 0 < eps < math.inf:
        raise ConfigError(
            f"The 'epsilon' parameter of a DP release must be a float > 0. Got {eps!r} instead.",
            parameter="epsilon",
        )
    dlt = _number("delta", delta)
    if mechanism == "laplace" and dlt != 0:
        raise ConfigError(
            "The 'delta' parameter of a Laplace release must be 0 (the Laplace mechanism is "
            f"pure epsilon-DP). Got {dlt!r} instead; use mechanism='gaussian' for delta > 0.",
            parameter="delta",
        )
    if mechanism == "gaussian" and not 0 < dlt < 1:
        raise ConfigError(
            "The 'delta' parameter of a Gaussian release must be a float in (0, 1). "
            f"Got {dlt!r} instead.",
            parameter="delta",
        )
    return str(mechanism), eps, dlt


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(
            f"The {name!r} parameter of a DP release must be a float. "
            f"Got {type(value).__name__} instead.",
            parameter=name,
        )
    out = float(value)
    if math.isnan(out):
        raise ConfigError(
            f"The {name!r} parameter of a DP release must be a float, not NaN.", parameter=name
        )
    return out
