"""What :meth:`prodml.schema.Schema.infer` uses to read the data's columns.

How the observed kinds of chunks combine (:func:`_merge_kinds`), which pandas columns stay
``category`` over chunks (:class:`_Categorical`), the problem of a column of mixed types,
and the sample of a text column searched for personal data (:func:`_personal_kind`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from prodml._data import Columns, KindInfo, type_name
from prodml.errors import SchemaProblem
from prodml.privacy import find_personal_data, redact

_PERSONAL_SAMPLE = 200
_PERSONAL_SHARE = 0.1


def _personal_kind(
    cols: Columns, name: str, detector: bool | Callable[[list[str]], str | None]
) -> str | None:
    """The kind of personal data in a text column's first distinct values, or ``None``."""
    uniq = pc.unique(cols.arrow(name))  # in order of first appearance, chunks as they are
    if pa.types.is_dictionary(uniq.type):
        uniq = uniq.dictionary_decode()
    values = [v for v in uniq.slice(0, _PERSONAL_SAMPLE + 1).to_pylist() if isinstance(v, str)]
    values = values[:_PERSONAL_SAMPLE]
    if not values:
        return None
    if callable(detector):
        return detector(values)
    kinds = [k for k in map(find_personal_data, values) if k is not None]
    if len(kinds) < max(1, _PERSONAL_SHARE * len(values)):
        return None
    return max(set(kinds), key=kinds.count)


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
        if not isinstance(raw.dtype, pd.CategoricalDtype) or raw.dtype != dtype:
            self.mixed.add(name)

    def demoted(self, name: str, kind: str) -> bool:
        return kind == "category" and name in self.mixed


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
    return SchemaProblem(
        name,
        "type",
        f"values of mixed types, e.g. {type_name(info.example)} {redact(info.example)}",
        info.row,
    )
