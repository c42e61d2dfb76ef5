"""Stable salted hashing of request keys onto ``[0, 2**64)``.

Python's built-in ``hash`` is salted per process, so it cannot route a user to the same
variant after a restart. BLAKE2b with an 8-byte digest is stable across processes,
machines and Python versions, and costs well under a microsecond per key.
"""

from __future__ import annotations

import numbers
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from hashlib import blake2b
from math import isfinite

from prodml._quote import short_repr
from prodml.errors import PolicyError

__all__ = ["SPACE", "Key", "bounds_from_weights", "hash_key", "key_bytes", "pick", "unit_interval"]

SPACE = 1 << 64
"""Size of the hash space: keys map to integers in ``[0, SPACE)``."""

Key = str | int | bytes
"""A request key: a user id, session id or any other stable identifier."""

# Weights may drift from 1.0 by float rounding (0.1 + 0.2 + 0.7); more than this is a mistake.
_SUM_TOLERANCE = 1e-6


def _utf8(key: str) -> bytes:
    try:
        return key.encode()
    except UnicodeEncodeError:
        # A lone surrogate ("\udcff", which a JSON escape can produce) still routes,
        # the same way everywhere, instead of failing the request.
        return key.encode("utf-8", "surrogatepass")


def key_bytes(key: Key) -> bytes:
    """Encode a key; an int and its decimal string (``42`` and ``"42"``) route alike.

    numpy integers (``np.int64(42)``) are ints: they route as ``42`` does.

    A str is UTF-8; one holding a lone surrogate is encoded with ``surrogatepass``, so it
    routes (stably) rather than raising.
    """
    if type(key) is str:
        return _utf8(key)
    if type(key) is bytes:
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key).encode()
    if isinstance(key, str | bytes):
        return _utf8(str(key)) if isinstance(key, str) else bytes(key)
    given: object = key  # typed as Key; at run time anything a caller passes
    if not isinstance(given, bool) and isinstance(given, numbers.Integral):
        # np.int64 from a DataFrame's integer column (pandas' nullable Int64 gives
        # those; its Arrow-backed int64 gives ints): the same user, the same variant.
        return str(int(given)).encode()
    raise PolicyError(f"A routing key must be a str, int or bytes. Got {short_repr(key)} instead.")


def hash_key(salt: bytes, key: Key) -> int:
    """Hash ``key`` under ``salt`` to an integer in ``[0, SPACE)``.

    Examples
    --------
    >>> hash_key(b"exp-1:", "user-42")
    1240751840697224358
    """
    return int.from_bytes(blake2b(salt + key_bytes(key), digest_size=8).digest(), "big")


def unit_interval(salt: bytes, key: Key) -> float:
    """Map ``key`` to a point of ``[0, 1)``, uniform over keys.

    Examples
    --------
    >>> round(unit_interval(b"exp-1:", "user-42"), 6)
    0.067261
    """
    return hash_key(salt, key) / SPACE


def bounds_from_weights(
    weights: Mapping[str, float], *, owner: str = "Router"
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Validate weights and turn them into contiguous ranges of the hash space.

    Variant ``i`` owns ``[bounds[i-1], bounds[i])``, in the order given. Ranges are anchored
    at the ends of the space: the first variant's range starts at 0 and the last ends at
    ``SPACE``, so growing the first (or last) variant's weight only adds keys to it.

    Parameters
    ----------
    weights
        Share of traffic per variant; non-negative, finite, summing to 1.
    owner
        Name used in error messages.

    Returns
    -------
    tuple
        ``(names, upper_bounds)``; the last bound is ``SPACE``.

    Raises
    ------
    PolicyError
        Naming the variant with a negative, NaN or infinite weight, or when the
        weights do not sum to 1.

    Examples
    --------
    >>> names, bounds = bounds_from_weights({"a": 0.25, "b": 0.75})
    >>> names, [b / SPACE for b in bounds]
    (('a', 'b'), [0.25, 1.0])
    """
    if not isinstance(weights, Mapping) or not weights:
        raise PolicyError(
            f"{owner} needs a non-empty mapping of variant -> weight. Got {short_repr(weights)}."
        )
    names: list[str] = []
    values: list[float] = []
    for name, w in weights.items():
        if not isinstance(name, str) or not name:
            raise PolicyError(
                f"{owner}: variant names must be non-empty strings. Got {short_repr(name)}."
            )
        if isinstance(w, bool) or not isinstance(w, int | float):
            raise PolicyError(
                f"{owner}: the weight of variant {short_repr(name)} must be a number. Got "
                f"{short_repr(w)}.",
                variant=name,
            )
        wf = float(w)
        if not isfinite(wf) or wf < 0:
            raise PolicyError(
                f"{owner}: the weight of variant {short_repr(name)} must be finite and >= 0. "
                f"Got {short_repr(w)}.",
                variant=name,
            )
        names.append(name)
        values.append(wf)
    total = sum(values)
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise PolicyError(
            f"{owner}: weights must sum to 1. Got {short_repr(values)} (sum {total!r})."
        )
    bounds: list[int] = []
    cumulative = 0.0
    for wf in values[:-1]:
        cumulative += wf / total
        bounds.append(min(SPACE, round(cumulative * SPACE)))
    bounds.append(SPACE)
    return tuple(names), tuple(bounds)


def pick(names: Sequence[str], bounds: Sequence[int], h: int) -> str:
    """Return the variant whose range holds ``h``."""
    return names[bisect_right(bounds, h)]
