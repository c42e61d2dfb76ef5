"""Sticky weighted routing of request keys to variants by salted hashing."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from hashlib import blake2b
from itertools import pairwise
from typing import Any

from prodml._quote import short_repr
from prodml._state import Field
from prodml.errors import PolicyError
from prodml.rollout import _load
from prodml.rollout._base import PolicyBase
from prodml.rollout._hashing import SPACE, Key, bounds_from_weights, key_bytes
from prodml.rollout._layout import (
    MAX_SEGMENTS,
    Segment,
    amounts,
    contiguous,
    from_table,
    relayout,
    to_table,
)
from prodml.rollout._limits import MAX_SALT, check_size

__all__ = ["Router"]

# (salt bytes, owner of each segment, upper bounds of the segments, variant names):
# swapped as one object, so a concurrent route() sees either the old table or the new
# one, never a mix.
_Table = tuple[bytes, tuple[str, ...], tuple[int, ...], tuple[str, ...]]


class Router(PolicyBase):
    """Assign each key to a variant, the same one every time, in the given proportions.

    A key is hashed with BLAKE2b under ``salt`` onto ``[0, 2**64)``, and each variant owns
    a contiguous range of that space, in the order given. The first variant's range
    starts at 0 and the last one's ends at the top, so growing the weight of the first
    or last variant (a canary going from 5 % to 25 %) only *adds* keys to it: every key
    it held before stays. Use a different ``salt`` per experiment so that the
    assignments of two experiments are independent.

    :meth:`set_weights` keeps the assignment a function of the weights (contiguous ranges
    in the order given); ``set_weights(..., minimal_moves=True)`` moves the fewest keys
    possible with any number of variants, at the price of a layout that depends on the
    changes made (saved by ``to_dict``).

    Parameters
    ----------
    weights
        Share of traffic per variant, non-negative and summing to 1, in range order.
    salt
        Experiment-specific string mixed into every hash, of at most 10,000 characters.

    Raises
    ------
    PolicyError
        On first use, for a negative, NaN or non-numeric weight (naming the variant) or
        weights that do not sum to 1.

    Examples
    --------
    >>> router = Router({"candidate": 0.05, "stable": 0.95}, salt="checkout-v2")
    >>> router.route("user-1"), router.route("user-1")
    ('stable', 'stable')
    >>> router.set_weights({"candidate": 0.25, "stable": 0.75})
    >>> sum(router.route(f"user-{i}") == "candidate" for i in range(10_000))
    2545
    """

    _kind = "Router"

    def __init__(self, weights: Mapping[str, float], *, salt: str = "") -> None:
        super().__init__()
        self.weights: Mapping[str, float] = weights
        self.salt = salt
        self._table: _Table | None = None

    def _setup(self) -> _Table:
        with self._lock:
            if self._table is None:
                if not isinstance(self.salt, str):
                    # The type only: a salt is a secret and never shown.
                    raise PolicyError(f"Router: salt must be a str, not {type(self.salt)}.")
                check_size("Router", "salt", self.salt, MAX_SALT, "characters")
                names, bounds = bounds_from_weights(self.weights)
                # The separator keeps salt "a" + key "bc" apart from salt "ab" + key "c".
                try:
                    salt = self.salt.encode()
                except UnicodeEncodeError:  # a lone surrogate ("\udcff" read from JSON)
                    raise PolicyError(
                        "Router: salt must be valid Unicode text (it holds a lone surrogate)."
                    ) from None
                self._table = _make_table(salt + b"\x1f", contiguous(names, bounds), names)
            return self._table

    @property
    def variants(self) -> tuple[str, ...]:
        """Variant names, in the order of the weights."""
        return (self._table or self._setup())[3]

    def set_weights(self, weights: Mapping[str, float], *, minimal_moves: bool = False) -> None:
        """Replace the weights.

        By default the layout is the contiguous ranges of the new weights, the layout a new
        ``Router(weights)`` has: a function of the weights alone, so every replica that
        knows the weights routes alike, however it got them (a restarted one included).
        With two variants this already moves the fewest keys possible; with three or more
        it can move more (keys between two variants whose weights did not change).

        With ``minimal_moves=True`` only keys of variants whose share shrinks move, and only
        as many as their share shrinks (``sum(max(0, old - new))`` of all keys), to the
        variants that grow: a shrinking variant gives up the top of its highest ranges, so
        a variant may own several ranges, and the layout then depends on the changes made.
        Replicas agree only when they apply the same changes in the same order or load the
        same saved state (``to_dict`` holds the layout).

        Raises
        ------
        PolicyError
            For invalid weights; the router keeps its old weights then.
        """
        self._table or self._setup()
        names, bounds = bounds_from_weights(weights)
        with self._lock:
            salt, owners, highs, _ = self._table or self._setup()
            if minimal_moves:
                segments = relayout(from_table(owners, highs), names, bounds)
            else:
                segments = contiguous(names, bounds)
            self.weights = dict(weights)
            self._table = _make_table(salt, segments, names)

    def route(self, key: Key) -> str:
        """Return the variant for ``key`` (sticky: the same key always gets the same answer).

        Raises
        ------
        PolicyError
            When ``key`` is not a str, int or bytes.
        """
        salt, names, bounds, _ = self._table or self._setup()
        try:
            data = key.encode() if type(key) is str else key_bytes(key)
        except UnicodeEncodeError:  # a lone surrogate: key_bytes encodes it
            data = key_bytes(key)
        h = int.from_bytes(blake2b(salt + data, digest_size=8).digest(), "big")
        return names[bisect_right(bounds, h)]

    def route_many(self, keys: Iterable[Key]) -> list[str]:
        """Route many keys at once (the same answers as :meth:`route` on each)."""
        salt, names, bounds, _ = self._table or self._setup()
        out = []
        for k in keys:
            try:
                data = k.encode() if type(k) is str else key_bytes(k)
            except UnicodeEncodeError:  # a lone surrogate: key_bytes encodes it
                data = key_bytes(k)
            h = int.from_bytes(blake2b(salt + data, digest_size=8).digest(), "big")
            out.append(names[bisect_right(bounds, h)])
        return out

    def share(self, variant: str) -> float:
        """Share of the hash space owned by ``variant`` (its weight after validation).

        Raises
        ------
        PolicyError
            For an unknown variant.
        """
        _, owners, bounds, names = self._table or self._setup()
        if variant not in names:
            raise PolicyError(
                f"Router: unknown variant {short_repr(variant)}; known: {short_repr(list(names))}.",
                variant=variant,
            )
        return amounts(from_table(owners, bounds)).get(variant, 0) / SPACE

    def to_dict(self) -> dict[str, Any]:
        """Return the state (weights, salt, and the layout if not contiguous) as a dict.

        After weight changes that split ranges, ``"layout"`` holds the owner of each
        range (an index into the weights) and the upper bounds of all ranges but the
        last (ints below ``2**64``).
        """
        self._setup()
        with self._lock:
            _, owners, bounds, names = self._table or self._setup()
            out: dict[str, Any] = {
                **self._header(),
                "weights": {n: float(w) for n, w in self.weights.items()},
                "salt": self.salt,
            }
            if (owners, bounds) != to_table(contiguous(*bounds_from_weights(self.weights))):
                index = {n: i for i, n in enumerate(names)}
                out["layout"] = {
                    "owners": [index[o] for o in owners],
                    "bounds": list(bounds[:-1]),
                }
            return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Router:
        """Rebuild a router written by :meth:`to_dict`.

        Raises
        ------
        PolicyError
            When ``data`` is not a Router state of a format this version reads.
        """
        top = _load.root(data, cls._kind)
        keys = ("type", "format_version", "weights", "salt")
        has_layout = isinstance(data, Mapping) and "layout" in data
        top.dict(keys=(*keys, "layout") if has_layout else keys)
        weights = dict(top["weights"].dict())
        for w in top["weights"].values():
            w.float(lo=0.0, hi=1.0)
        salt = top["salt"].str(max_len=MAX_SALT)
        router = _load.build(top, lambda: cls(weights, salt=salt))
        table = router._setup()
        if has_layout:
            segments = _load_layout(top["layout"], table[3], weights)
            router._table = _make_table(table[0], segments, table[3])
        return router


def _make_table(salt: bytes, segments: list[Segment], names: tuple[str, ...]) -> _Table:
    owners, bounds = to_table(segments)
    return (salt, owners, bounds, names)


def _load_layout(field: Field, names: tuple[str, ...], weights: Mapping[str, Any]) -> list[Segment]:
    """A saved layout: ranges covering the hash space, each variant owning its weight."""
    field.dict(keys=("owners", "bounds"))
    owners = field["owners"].ints(min_len=1, max_len=MAX_SEGMENTS, lo=0, hi=len(names) - 1)
    highs = field["bounds"].ints(length=len(owners) - 1, lo=1, hi=SPACE - 1)
    field["bounds"].check(all(a < b for a, b in pairwise(highs)), "strictly increasing")
    segments = from_table(tuple(names[i] for i in owners), (*highs, SPACE))
    field["owners"].check(
        amounts(segments) == amounts(contiguous(*bounds_from_weights(weights))),
        "ranges whose sizes are the variants' weights",
    )
    return segments
