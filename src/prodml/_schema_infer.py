"""What :meth:`prodml.schema.Schema.infer` reads of the data, chunk by chunk.

:func:`_observe` reads every chunk once and keeps, per column, the kind of its values, whether
it holds nulls, its time zone and the personal data found in it (:class:`_Observed`), or
raises one :class:`~prodml.errors.SchemaError` listing every problem; ``Schema.infer``
turns that into columns. The helpers above it: which pandas columns stay ``category`` over
chunks (:class:`_Categorical`), how two chunks' kinds combine (:func:`_merge_kinds`), the
problem of a column of mixed types, and the sample of a text column searched for personal
data (:func:`_personal_kind`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from prodml._data import Columns, KindInfo, iter_columns, type_name, type_problem
from prodml._data_kinds import text_categories
from prodml._zones import (
    canonical_zone,
    chunk_zones_problem,
    mixed_zones_problem,
    timezone_of,
    unnamed_zone_problem,
    zone_fits,
)
from prodml.errors import SchemaError, SchemaProblem
from prodml.privacy import find_personal_data, redact

_PERSONAL_SAMPLE = 200
_PERSONAL_SHARE = 0.1
# What one Schema.infer remembers of the search (short values, a bounded number of them).
_MEMO_CHARS = 100
_MEMO_VALUES = 100_000


def _personal_kind(
    cols: Columns,
    name: str,
    detector: bool | Callable[[list[str]], str | None],
    found: dict[str, str | None] | None = None,
) -> str | None:
    """The kind of personal data in a text column's first distinct values, or ``None``.

    ``found``, when given, remembers what the built-in detector said of each value: the
    columns of a wide table often share their values, and a value is searched once.
    """
    uniq = _distinct(cols.arrow(name))
    values = [v for v in uniq.slice(0, _PERSONAL_SAMPLE + 1).to_pylist() if isinstance(v, str)]
    values = values[:_PERSONAL_SAMPLE]
    if not values:
        return None
    if callable(detector):
        return detector(values)
    if found is None:
        kinds = [k for k in map(find_personal_data, values) if k is not None]
    else:
        kinds = []
        for v in values:
            if v in found:
                k = found[v]
            else:
                k = find_personal_data(v)
                if len(v) <= _MEMO_CHARS and len(found) < _MEMO_VALUES:  # bounded memory
                    found[v] = k
            if k is not None:
                kinds.append(k)
    if len(kinds) < max(1, _PERSONAL_SHARE * len(values)):
        return None
    # The most frequent kind; of equals, the first found (a set's order would depend on
    # PYTHONHASHSEED, and so would the kind of one column between two processes).
    return max(dict.fromkeys(kinds), key=kinds.count)


def _distinct(column: pa.ChunkedArray) -> pa.Array:
    """The distinct values of a column in order of first appearance, dictionaries decoded.

    A dictionary column is read chunk by chunk, through the indices each chunk uses:
    ``pc.unique`` of the whole column unifies the chunks' dictionaries, which pyarrow
    cannot do when one holds a null (``pq.read_table`` of a hive-partitioned folder with
    a ``__HIVE_DEFAULT_PARTITION__`` folder: the column is null there, as a dictionary of
    one null), nor would it decode them.
    """
    if not pa.types.is_dictionary(column.type):
        return pc.unique(column)
    used = [c.dictionary.take(pc.unique(c.indices)) for c in column.chunks]
    if not used:
        return pa.array([], type=column.type.value_type)
    return pc.unique(pa.chunked_array(used, type=column.type.value_type))


class _Categorical:
    """Which columns stay ``category`` over pandas chunks: those ``pd.concat`` keeps so.

    ``pd.concat`` keeps a categorical column only when every chunk holds it with the
    same categorical dtype; a chunk of ``str`` or ``object`` (all-null or empty ones
    too), or other categories, makes it text. Inferring over the chunks must give what
    inferring over their concatenation gives, in any order. Arrow chunks keep the merge
    of kinds (``pa.concat_tables`` refuses a dictionary next to a string column).
    """

    __slots__ = ("first", "mixed")

    def __init__(self) -> None:
        self.first: dict[str, Any] = {}
        self.mixed: set[str] = set()

    def see(self, name: str, raw: object) -> None:
        if not isinstance(raw, pd.Series):
            return
        dtype = self.first.setdefault(name, raw.dtype)
        if not _pandas_categorical(raw.dtype) or raw.dtype != dtype:
            self.mixed.add(name)

    def demoted(self, name: str, kind: str) -> bool:
        return kind == "category" and name in self.mixed


def _pandas_categorical(dtype: object) -> bool:
    """A pandas ``category`` dtype, or an arrow dictionary one (``dtype_backend="pyarrow"``).

    ``pd.concat`` keeps an arrow dictionary column as one when every chunk has that type
    (whatever each chunk's dictionary holds), as it keeps a ``category`` of equal dtypes.
    """
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    return isinstance(dtype, pd.ArrowDtype) and pa.types.is_dictionary(dtype.pyarrow_dtype)


def _kind_problem(name: str, raw: Any, info: KindInfo) -> SchemaProblem | None:
    """The problem of a column no schema column could describe, or ``None``."""
    if info.kind == "mixed":
        return _mixed_problem(name, info)
    if info.kind == "category" and not text_categories(raw):
        # validate refuses such a column: a schema saying 'category' of it would reject
        # the very data it was inferred from.
        return _categories_problem(name, raw, info)
    return None


def _categories_problem(name: str, raw: Any, info: KindInfo) -> SchemaProblem:
    """A ``category`` column whose categories are not text (mixed objects, timedeltas).

    Worded as every type problem is (the pipelines' too): the first value, redacted when
    it looks personal, then the categories' type and the fix.
    """
    # Only a pandas Categorical of objects or timedeltas gets here: one of numbers, bools
    # or datetimes (pd.read_parquet's hive partition year=2024) is read as its values,
    # as an arrow dictionary of them (pq.read_table's) is.
    held = str(raw.dtype.categories.dtype)
    found = type_problem(name, "string", raw, info)
    return dataclasses.replace(
        found,
        message=f"{found.message}: categories of type {held}, and a category column holds "
        "text; convert it with .astype(str), or to its values' own type",
    )


def _merge_kinds(a: str, b: str) -> str | None:
    if b in (a, "null"):
        return a
    if a == "null":
        return b
    if {a, b} == {"int", "float"}:
        return "float"
    if {a, b} == {"string", "category"}:
        return "category"
    return None


def _mixed_problem(name: str, info: KindInfo) -> SchemaProblem:
    if info.row is None:
        return SchemaProblem(name, "type", f"unsupported type {info.example}")
    if info.uniform:  # bytes, dicts, lists throughout: no mixture, a type prodml does not read
        return SchemaProblem(
            name,
            "type",
            f"unsupported values of type {type_name(info.example)}, e.g. {redact(info.example)}",
            info.row,
        )
    return SchemaProblem(
        name,
        "type",
        f"values of mixed types, e.g. {type_name(info.example)} {redact(info.example)}",
        info.row,
    )


class _Observed:
    """What one pass over the data's chunks saw of each column, in the data's order."""

    __slots__ = ("categorical", "has_null", "kinds", "null_tz", "personal", "searched", "tz")

    def __init__(self) -> None:
        self.searched: dict[str, str | None] = {}  # find_personal_data of each value, once
        self.kinds: dict[str, str] = {}
        self.personal: dict[str, str] = {}
        self.has_null: dict[str, bool] = {}
        self.tz: dict[str, str | None] = {}
        self.null_tz: dict[str, str | None] = {}
        self.categorical = _Categorical()


def _observe(data: object, detect_personal: bool | Callable[[list[str]], str | None]) -> _Observed:
    """Read the data's chunks once; raise one :class:`SchemaError` listing every problem."""
    seen = _Observed()
    kinds, personal, has_null = seen.kinds, seen.personal, seen.has_null
    tz, null_tz, categorical = seen.tz, seen.null_tz, seen.categorical
    problems: list[SchemaProblem] = []
    seen_any = False
    # A pandas Categorical of numbers, bools or datetimes is read as its values, as the
    # arrow dictionary of them is (docs/schema.md: what reads a Categorical how).
    for cols in iter_columns(data, categorical_values=True):
        seen_any = True
        if kinds and list(cols.names) != list(kinds):
            problems.append(
                SchemaProblem(
                    None,
                    "input",
                    f"chunks have different columns: {list(kinds)} vs {list(cols.names)}",
                )
            )
            break
        for name in cols.names:
            raw = cols.raw(name)
            categorical.see(name, raw)
            info = cols.kind(name, raw)
            unreadable = _kind_problem(name, raw, info)
            if unreadable is not None:
                problems.append(unreadable)
                continue
            merged = _merge_kinds(kinds.get(name, "null"), info.kind)
            if merged is None:
                problems.append(
                    SchemaProblem(
                        name,
                        "type",
                        f"chunks disagree on the type: {kinds[name]} then {info.kind}",
                    )
                )
                continue
            kinds[name] = merged
            nulls = cols.null_mask(name)
            has_null[name] = has_null.get(name, False) or bool(nulls.any())
            if info.kind == "datetime":
                mixed = mixed_zones_problem(name, raw)
                if mixed is not None:  # no zone would pass validate: refused here
                    problems.append(mixed)
                    continue
                zone = timezone_of(raw)
                unnamed = unnamed_zone_problem(name, zone)
                if unnamed is not None:  # a rule with no name: no column could declare it
                    problems.append(unnamed)
                    continue
                zone = None if zone is None else canonical_zone(zone)  # 'Etc/UTC': 'UTC'
                if nulls.all():  # a typed all-null chunk has no zone to disagree with
                    null_tz.setdefault(name, zone)
                elif name in tz and not zone_fits(tz[name], zone):
                    problems.append(chunk_zones_problem(name, tz[name], zone))
                    continue
                else:
                    tz.setdefault(name, zone)  # the first chunk's zone
            if (
                detect_personal is not False
                and info.kind in ("string", "category")
                and name not in personal
            ):
                found = _personal_kind(cols, name, detect_personal, seen.searched)
                if found is not None:
                    personal[name] = found
    if not seen_any:
        raise SchemaError(problems=[SchemaProblem(None, "input", "no data to infer from")])
    if problems:
        raise SchemaError(problems=problems)
    return seen
