"""No flag equal to a number: ``True`` and ``1`` must not make one group (private).

Python's equality and hashing make ``True == 1 == 1.0`` (and ``np.True_``, ``np.int64(1)``)
one dict key, and pandas' ``factorize`` and ``groupby`` (hence fairlearn's ``MetricFrame``)
merge them into one group labelled by whichever came first. The group's label, its saved
form and the result of merging two GroupMetrics would then depend on the order of the rows,
and a flag (``True``) would be counted with a code (``1``). A GroupMetrics keeps, per
sensitive column, the bools and numbers it has seen (declared categories included) and
refuses a bool equal to a seen number, or a number equal to a seen bool, with a SchemaError
naming the column: in a batch, a record, a merge (so a Dask pass too) and a saved state.
Numbers are one value whatever their type (``np.int64(1)``, ``1`` and ``1.0``: a float
column of codes with NaN in training, ints in serving's JSON records), as pandas reads
them; only a flag equal to a number (``True`` and ``1``, ``False`` and ``0.0``) collides.
Strings never collide with numbers (``"1" != 1``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from prodml.errors import SchemaError, SchemaProblem
from prodml.fairness._ingest import short

__all__ = ["Kinds", "check_column", "collision", "kind"]

Key = tuple[object, ...]
_NAMES = {bool: "bool", int: "int", float: "float"}
# What pandas infers for an object column holding one type only: no collision possible.
_ONE_TYPE = frozenset(
    {"string", "empty", "integer", "floating", "mixed-integer-float", "boolean", "unicode"}
)


def kind(value: object) -> type | None:
    """``bool``, ``int`` or ``float`` for a bool or number (numpy's too), else ``None``."""
    t = type(value)
    if t is bool or t is int or t is float:
        return t
    if value is None or t is str:
        return None
    if isinstance(value, bool | np.bool_):
        return bool
    if isinstance(value, numbers.Integral):
        return int
    if isinstance(value, numbers.Real):
        return float
    return None


def _family(k: type | None) -> type | None:
    """``bool`` for flags, ``float`` for every number: ``1`` and ``1.0`` are one value."""
    return float if k is int else k


def collision(column: str, new: object, old: object, row: int | None = None) -> SchemaError:
    """The error of a value equal to a group value of another type in the same column."""
    a, b = _NAMES.get(kind(new), type(new).__name__), _NAMES.get(kind(old), type(old).__name__)  # type: ignore[arg-type]
    return SchemaError(
        problems=[
            SchemaProblem(
                column,
                "type",
                f"the {a} {short(new)} equals the {b} {short(old)} seen in this column: "
                "Python and pandas would merge them into one group (as fairlearn does), "
                "labelled by whichever came first; give the column one type (cast it) or "
                "map the values to distinct labels",
                row,
            )
        ]
    )


class Kinds:
    """Per sensitive column, the bools and numbers seen, by value (equal ones share a slot)."""

    __slots__ = ("names", "seen")

    def __init__(self, names: Sequence[str], categories: Mapping[str, Iterable[object]]) -> None:
        self.names = tuple(names)
        self.seen: list[dict[object, object]] = [{} for _ in self.names]
        for j, name in enumerate(self.names):
            self._register(j, categories.get(name, ()), name)

    def _register(self, j: int, values: Iterable[object], name: str) -> None:
        seen = self.seen[j]
        for v in values:
            if kind(v) is None:
                continue
            old = seen.setdefault(v, v)
            if _family(kind(old)) is not _family(kind(v)):
                raise collision(name, v, old)

    def check(self, key: Key) -> None:
        """Raise when a value of ``key`` equals a seen one of another type."""
        for j, v in enumerate(key):
            k = kind(v)
            if k is None:
                continue
            old = self.seen[j].get(v, v)
            if _family(kind(old)) is not _family(k):
                raise collision(self.names[j], v, old)

    def add(self, key: Key) -> None:
        """Check ``key``, then remember its bools and numbers."""
        self.check(key)
        for j, v in enumerate(key):
            if kind(v) is not None:
                self.seen[j].setdefault(v, v)

    def check_all(self, keys: Iterable[Key]) -> None:
        """Raise when ``keys`` collide with the seen values or with each other; no change."""
        trial = Kinds.__new__(Kinds)
        trial.names = self.names
        trial.seen = [dict(s) for s in self.seen]
        for key in keys:
            trial.add(key)

    def rebuild(self, keys: Iterable[Key], categories: Mapping[str, Iterable[object]]) -> None:
        """Forget every value but the declared categories and those of ``keys``."""
        fresh = Kinds(self.names, categories)
        for key in keys:
            fresh.add(key)
        self.seen = fresh.seen


def check_column(values: Any, codes: np.ndarray, uniques: list[object], column: str) -> None:
    """Raise when factorize merged a flag with a number in a column's values.

    ``pd.factorize`` gives ``True``, ``1`` and ``1.0`` one code; only an object column
    can hold values of several types, and pandas tells at C speed whether it does, so
    the row-by-row check runs only for columns mixing bools and numbers.
    """
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype):  # the distinct values are its categories
        Kinds([column], {column: list(dtype.categories)})
        return
    if getattr(dtype, "kind", None) != "O":
        return
    if pd.api.types.infer_dtype(values, skipna=True) in _ONE_TYPE:
        return
    numeric = [i for i, u in enumerate(uniques) if kind(u) is not None]
    if not numeric:
        return
    rows = np.flatnonzero(np.isin(codes, numeric))
    arr = values.to_numpy(dtype=object) if hasattr(values, "to_numpy") else np.asarray(values)
    for r in rows.tolist():
        v, first = arr[r], uniques[int(codes[r])]
        if _family(kind(v)) is not _family(kind(first)):
            raise collision(column, v, first, r)
