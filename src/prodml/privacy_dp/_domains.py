"""Declared public domains of released counts: numeric bins, categories, groups.

A domain is fixed *before* looking at the data: categories learned from the data itself
would leak (a rare value's mere presence in a release tells that someone has it). Every
row lands in exactly one cell of each domain, so each released histogram has
sensitivity 1: numbers outside the bins are clamped into the first or last bin, values
not declared are counted in ``<other>``, nulls in ``<null>``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from prodml._quote import short_repr
from prodml._state import is_unicode
from prodml.errors import ConfigError

__all__ = ["CELLS", "Bins", "Categories", "Domain", "Groups", "domain_from_dict"]

OTHER = "<other>"
NULL = "<null>"
CELLS = ("tn", "fp", "fn", "tp")
IntArray = npt.NDArray[np.int64]


def _scalar(value: object, where: str) -> Any:
    """A JSON-safe category value: str, bool, int or finite float; numpy scalars unwrapped."""
    if isinstance(value, np.generic):
        value = value.item()
    ok = isinstance(value, str | bool | int) or (isinstance(value, float) and math.isfinite(value))
    if not ok:
        raise ConfigError(
            f"{where} must be str, bool, int or finite float values. Got {short_repr(value)}.",
            parameter="domains",
        )
    if isinstance(value, str) and not is_unicode(value):  # "\udcff" cannot be saved
        raise ConfigError(
            f"{where} must be valid Unicode text; a value holds a lone surrogate.",
            parameter="domains",
        )
    return value


def _unique(values: Sequence[Any], where: str) -> None:
    seen: set[tuple[str, Any]] = set()
    for v in values:
        key = (type(v).__name__, v)
        if key in seen:
            raise ConfigError(f"{where} repeats {short_repr(v)}", parameter="domains")
        seen.add(key)


def _distinct_keys(values: Sequence[Any]) -> None:
    """Refuse categories equal as dict keys (``1``, ``1.0`` and ``True``).

    Counts per value are looked up by key, and Python's ``True == 1 == 1.0`` makes those
    one key: each would get the same rows, so a row would count in several cells (the
    histogram's sensitivity would exceed 1, breaking the privacy guarantee).
    """
    first: dict[Any, Any] = {}
    for v in values:
        if v in first:
            raise ConfigError(
                f"Categories holds {short_repr(first[v])} and {short_repr(v)}, which are equal "
                "as counting keys (1 == 1.0 == True in Python): a row would count in both "
                "cells. Declare only one of them.",
                parameter="domains",
            )
        first[v] = v


class Bins:
    """Numeric bins ``[e0, e1), [e1, e2), ..., [e_k-1, e_k]`` and a ``<null>`` cell.

    Values below ``e0`` are clamped into the first bin and values above ``e_k`` into the
    last (so each row counts once); datetimes are binned as epoch seconds.

    Examples
    --------
    >>> Bins([0, 10, 20]).labels
    ['[0.0, 10.0)', '[10.0, 20.0]', '<null>']
    """

    kind = "bins"

    def __init__(self, edges: Iterable[float]) -> None:
        try:
            e = [float(x) for x in edges]
        except (TypeError, ValueError):
            msg = "Bins needs a list of numbers as edges"
            raise ConfigError(msg, parameter="domains") from None
        if len(e) < 2 or not all(map(math.isfinite, e)) or any(b <= a for a, b in pairwise(e)):
            raise ConfigError(
                "Bins needs at least 2 finite, strictly increasing edges. "
                f"Got {short_repr(e)} instead.",
                parameter="domains",
            )
        self.edges: tuple[float, ...] = tuple(e)

    @property
    def size(self) -> int:
        """Number of cells, ``<null>`` included."""
        return len(self.edges)

    @property
    def labels(self) -> list[str]:
        """A label per cell."""
        e = self.edges
        out = [f"[{a}, {b})" for a, b in pairwise(e[:-1])]
        return [*out, f"[{e[-2]}, {e[-1]}]", NULL]

    def count(
        self, values: npt.NDArray[np.float64], weights: IntArray | None, n_null: int
    ) -> IntArray:
        """Exact counts per cell of finite ``values`` (each counted ``weights`` times)."""
        k = len(self.edges) - 1
        idx = np.searchsorted(np.asarray(self.edges), values, side="right") - 1
        np.clip(idx, 0, k - 1, out=idx)
        binned = np.bincount(idx, weights=weights, minlength=k)
        return np.append(np.rint(binned).astype(np.int64), np.int64(n_null))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"kind": self.kind, "edges": list(self.edges)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bins) and other.edges == self.edges

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Bins({list(self.edges)})"


class Categories:
    """Declared categories, then an ``<other>`` cell (every other value) and ``<null>``.

    Examples
    --------
    >>> Categories(["free", "pro"]).labels
    ['free', 'pro', '<other>', '<null>']
    """

    kind = "categories"

    def __init__(self, values: Iterable[Any]) -> None:
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise ConfigError("Categories needs a list of values", parameter="domains")
        vals = [_scalar(v, "Categories") for v in values]
        if not vals:
            raise ConfigError("Categories needs at least one value", parameter="domains")
        _unique(vals, "Categories")
        _distinct_keys(vals)
        self.values: tuple[Any, ...] = tuple(vals)

    @property
    def size(self) -> int:
        """Number of cells, ``<other>`` and ``<null>`` included."""
        return len(self.values) + 2

    @property
    def labels(self) -> list[Any]:
        """A label per cell."""
        return [*self.values, OTHER, NULL]

    def count(
        self, counts: Mapping[Any, int], n_null: int, alias: Mapping[Any, Any] | None = None
    ) -> IntArray:
        """Exact counts per cell from counts per value.

        ``alias`` maps a declared value to its key in ``counts`` when that is another
        (its salted hash, in a profile that hashed the column).
        """
        out = np.zeros(self.size, dtype=np.int64)
        used = 0
        for i, v in enumerate(self.values):
            c = counts.get(v)
            if c is None and alias is not None and v in alias:
                c = counts.get(alias[v])
            c = int(c or 0)
            out[i] = c
            used += c
        out[-2] = sum(int(c) for c in counts.values()) - used
        out[-1] = n_null
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"kind": self.kind, "values": list(self.values)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Categories) and _typed(other.values) == _typed(self.values)

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Categories({list(self.values)})"


class Groups:
    """Declared groups of a fairness table, each with the cells ``tn, fp, fn, tp``.

    A group is a tuple of the sensitive features' values; rows of any other group are
    counted in an ``<other>`` group.

    Examples
    --------
    >>> Groups(["a", "b"]).groups
    (('a',), ('b',))
    """

    kind = "groups"

    def __init__(self, groups: Iterable[Any]) -> None:
        if isinstance(groups, str) or not isinstance(groups, Iterable):
            raise ConfigError("Groups needs a list of groups", parameter="groups")
        out: list[tuple[Any, ...]] = []
        for g in groups:
            key = tuple(g) if isinstance(g, tuple | list) else (g,)
            out.append(tuple(_scalar(v, "Groups") for v in key))
        if not out:
            raise ConfigError("Groups needs at least one group", parameter="groups")
        if len({len(g) for g in out}) != 1:
            raise ConfigError("Groups must all have the same number of values", parameter="groups")
        _unique([_matching(g) for g in out], "Groups")
        self.groups: tuple[tuple[Any, ...], ...] = tuple(out)

    @property
    def size(self) -> int:
        """Number of cells: four per group, ``<other>`` included."""
        return (len(self.groups) + 1) * len(CELLS)

    @property
    def labels(self) -> list[str]:
        """A label per cell: ``group|cell``."""
        names = [*("/".join(map(str, g)) for g in self.groups), OTHER]
        return [f"{g}|{c}" for g in names for c in CELLS]

    def count(self, table: Mapping[tuple[Any, ...], Sequence[int]]) -> IntArray:
        """Exact counts per cell from confusion counts per group."""
        out = np.zeros((len(self.groups) + 1, len(CELLS)), dtype=np.int64)
        index = {_matching(g): i for i, g in enumerate(self.groups)}
        for key, cells in table.items():
            row = index.get(_matching(tuple(key)), len(self.groups))
            out[row] += np.asarray(cells, dtype=np.int64)
        return out.ravel()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"kind": self.kind, "groups": [list(g) for g in self.groups]}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Groups) and [_typed(g) for g in other.groups] == [
            _typed(g) for g in self.groups
        ]

    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Groups({[list(g) for g in self.groups]})"


Domain = Bins | Categories | Groups


def _matching(values: Sequence[Any]) -> tuple[tuple[str, Any], ...]:
    """How a table's group key is matched to a declared group.

    Booleans stay apart from numbers (``True == 1`` in Python), but ``1`` and ``1.0`` are
    one group: a float column of group codes matches groups declared as ints (they used
    to land in ``<other>``, silently).
    """
    out = []
    for v in values:
        w = v.item() if isinstance(v, np.generic) else v
        kind = (
            "bool" if isinstance(w, bool)
            else "number" if isinstance(w, int | float)
            else type(w).__name__
        )  # fmt: skip
        out.append((kind, w))
    return tuple(out)


def _typed(values: Sequence[Any]) -> tuple[tuple[str, Any], ...]:
    # True == 1 in Python: keep types apart so a bool group is not an int group.
    return tuple((type(v).__name__, v) for v in values)


def domain_from_dict(state: Mapping[str, Any]) -> Domain:
    """A domain from :meth:`to_dict` output (ConfigError when malformed)."""
    kind = state.get("kind")
    if kind == "bins" and set(state) == {"kind", "edges"}:
        return Bins(state["edges"])
    if kind == "categories" and set(state) == {"kind", "values"}:
        return Categories(state["values"])
    if kind == "groups" and set(state) == {"kind", "groups"}:
        if not isinstance(state["groups"], list) or not all(
            isinstance(g, list) for g in state["groups"]
        ):
            raise ConfigError("saved groups must be lists of values", parameter="groups")
        return Groups([tuple(g) for g in state["groups"]])
    raise ConfigError(
        "a domain must be {'kind': 'bins', 'edges': [...]}, {'kind': 'categories', "
        "'values': [...]} or {'kind': 'groups', 'groups': [...]}",
        parameter="domains",
    )
