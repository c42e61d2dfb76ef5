"""Sticky weighted routing of request keys to variants by salted hashing."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from hashlib import blake2b
from typing import Any

from prodml._quote import short_repr
from prodml.errors import PolicyError
from prodml.rollout import _load
from prodml.rollout._base import PolicyBase
from prodml.rollout._hashing import SPACE, Key, bounds_from_weights, key_bytes
from prodml.rollout._limits import MAX_SALT, check_size

__all__ = ["Router"]

# (salt bytes, variant names, upper bounds): swapped as one object, so a concurrent
# route() sees either the old table or the new one, never a mix.
_Table = tuple[bytes, tuple[str, ...], tuple[int, ...]]


class Router(PolicyBase):
    """Assign each key to a variant, the same one every time, in the given proportions.

    A key is hashed with BLAKE2b under ``salt`` onto ``[0, 2**64)``, and each variant owns
    a contiguous range of that space, in the order given. The first variant's range
    starts at 0 and the last one's ends at the top, so growing the weight of the first
    or last variant (a canary going from 5 % to 25 %) only *adds* keys to it: every key
    it held before stays. Use a different ``salt`` per experiment so that the
    assignments of two experiments are independent.

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
                self._table = (salt + b"\x1f", names, bounds)
            return self._table

    @property
    def variants(self) -> tuple[str, ...]:
        """Variant names, in range order."""
        return (self._table or self._setup())[1]

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Replace the weights; keys move only where the ranges changed.

        Raises
        ------
        PolicyError
            For invalid weights; the router keeps its old weights then.
        """
        salt = (self._table or self._setup())[0]
        names, bounds = bounds_from_weights(weights)
        with self._lock:
            self.weights = dict(weights)
            self._table = (salt, names, bounds)

    def route(self, key: Key) -> str:
        """Return the variant for ``key`` (sticky: the same key always gets the same answer).

        Raises
        ------
        PolicyError
            When ``key`` is not a str, int or bytes.
        """
        salt, names, bounds = self._table or self._setup()
        try:
            data = key.encode() if type(key) is str else key_bytes(key)
        except UnicodeEncodeError:  # a lone surrogate: key_bytes encodes it
            data = key_bytes(key)
        h = int.from_bytes(blake2b(salt + data, digest_size=8).digest(), "big")
        return names[bisect_right(bounds, h)]

    def route_many(self, keys: Iterable[Key]) -> list[str]:
        """Route many keys at once (the same answers as :meth:`route` on each)."""
        salt, names, bounds = self._table or self._setup()
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
        _, names, bounds = self._table or self._setup()
        if variant not in names:
            raise PolicyError(
                f"Router: unknown variant {short_repr(variant)}; known: {short_repr(list(names))}.",
                variant=variant,
            )
        i = names.index(variant)
        low = bounds[i - 1] if i else 0
        return (bounds[i] - low) / SPACE

    def to_dict(self) -> dict[str, Any]:
        """Return the state (weights, salt) as a JSON-safe dict."""
        self._setup()
        with self._lock:
            return {
                **self._header(),
                "weights": {n: float(w) for n, w in self.weights.items()},
                "salt": self.salt,
            }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Router:
        """Rebuild a router written by :meth:`to_dict`.

        Raises
        ------
        PolicyError
            When ``data`` is not a Router state of a format this version reads.
        """
        top = _load.root(data, cls._kind)
        top.dict(keys=("type", "format_version", "weights", "salt"))
        weights = dict(top["weights"].dict())
        for w in top["weights"].values():
            w.float(lo=0.0, hi=1.0)
        salt = top["salt"].str(max_len=MAX_SALT)
        router = _load.build(top, lambda: cls(weights, salt=salt))
        router._setup()
        return router
