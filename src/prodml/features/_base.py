"""The base of every feature step, and the value kinds that flow between steps.

A step names its input columns. Each column flows through the steps that name it, in
pipeline order; the value of a column is one of three kinds:

* ``"number"``: float64 (ints and bools convert), NaN for nulls;
* ``"text"``: strings (pandas object/string/category, arrow string/dictionary), None for nulls;
* ``"datetime"``: ``datetime64[ns]`` wall-clock time, NaT for nulls.

*Value* steps map a column to a new value of a kind (Impute keeps the kind, scalers give
numbers); *encoder* steps (``terminal``) turn a column into its final output features.
Each step implements three paths over the same fitted parameters: fit (through a
mergeable state from :mod:`prodml.features._stats`), a vectorised batch transform, and a
plain-Python record function that performs the same float operations in the same order,
so a record gives the batch row bit for bit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from prodml._data import Columns, type_problem
from prodml._params import Constraint, Predicate, check_params
from prodml._quote import short_repr
from prodml._state import Field
from prodml.errors import SchemaError, SchemaProblem
from prodml.features._sklearn import BaseEstimator

__all__ = [
    "MAX_TEXT_VALUE",
    "NUMBER",
    "TEXT",
    "TIME",
    "Encoder",
    "Step",
    "Text",
    "ValueFn",
    "beyond_float64",
    "check_finite",
    "check_text_values",
    "null_error",
    "read_text",
]

NUMBER, TEXT, TIME = "number", "text", "datetime"
_AS_NUMBERS = " (int, float and bool columns are numbers)"

MAX_TEXT_VALUE = 10_000
"""Characters of a text value a fitted step keeps (a category, a fill value)."""

Floats = npt.NDArray[np.float64]
ValueFn = Callable[[Any], Any]
"""A record function: one value in, one value out."""
Encoder = Callable[[Any, Floats], None]
"""A record encoder: one value in, writes its features into the output row."""


def _is_columns(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(c, str) and c for c in value)
        and len(set(value)) == len(value)
    )


COLUMNS = Predicate(_is_columns, "a non-empty list of distinct column names")


def null_error(column: str, value: object, row: int | None, step: str) -> SchemaError:
    """A SchemaError for a null reaching a step that cannot take one."""
    return SchemaError(
        problems=[
            SchemaProblem(
                column,
                "null",
                f"null value {short_repr(value)} reached {step}, which cannot take nulls; "
                "add an Impute step for this column before it",
                row,
            )
        ]
    )


def value_error(column: str, message: str, row: int | None = None) -> SchemaError:
    """A SchemaError for a value a step cannot transform."""
    return SchemaError(problems=[SchemaProblem(column, "range", message, row)])


_FAR = (
    "the value is far outside the data the step was fitted on; clip the column before the "
    "step (Clip) or refit on data that covers such values"
)
_STEP_HINTS = {
    "MinMaxScale": "; or use MinMaxScale(clip=True), which keeps values in feature_range",
}
"""A remedy one step has beyond :data:`_FAR`'s, added to its message."""


def beyond_float64(
    column: str, step: str, row: int | None = None, *, why: str = _FAR
) -> SchemaError:
    """A SchemaError for a finite value a step would turn into inf or NaN.

    The message names the step and the column, never the value (it may be data about a
    person); the batch path adds the first row at fault. For ``MinMaxScale`` it adds that
    ``clip=True`` keeps values in ``feature_range`` (there an overflow is the bound).
    """
    hint = _STEP_HINTS.get(step, "") if why == _FAR else ""
    return value_error(
        column,
        f"{step} turns a value of this column into a non-finite number (inf or NaN): {why}{hint}",
        row,
    )


def check_finite(out: Floats, column: str, step: str, *, why: str = _FAR) -> Floats:
    """``out`` when every value is finite; else :func:`beyond_float64` at the first bad row.

    Steps compute under ``np.errstate(all="ignore")`` and call this once per output array:
    their inputs are finite (nulls are refused before them, infinities when read), so a
    non-finite output is an overflow (or a function's NaN), never a passed-through null.
    """
    ok = np.isfinite(out)
    if not ok.all():
        raise beyond_float64(column, step, first_true(~ok), why=why)
    return out


class Step(BaseEstimator):
    """Base class of feature steps (scikit-learn style parameters, per-column state).

    Subclasses set the class attributes, define ``__init__`` storing their parameters
    unchanged, and implement the hooks below. Fitted attributes are dicts keyed by
    column name and end with an underscore.
    """

    accepts: ClassVar[frozenset[str]] = frozenset({NUMBER})
    terminal: ClassVar[bool] = False
    takes_nulls: ClassVar[bool] = False
    fitted_attrs: ClassVar[tuple[str, ...]] = ()
    fitted_checks: ClassVar[dict[str, str]] = {}
    """How each fitted attribute's values are validated on load (see ``fitted_from_state``)."""
    has_domain: ClassVar[bool] = False
    """Whether the step rejects some numbers (Log1p: x <= -1); fit then checks them too."""
    added_params: ClassVar[dict[str, Any]] = {}
    """Parameters added after the step's first saved format, name -> default.

    :meth:`saved_params` leaves such a parameter out while it holds its default, and a
    saved step without it loads with the default, so a pipeline saved before the
    parameter existed keeps its ``to_dict`` and fingerprint exactly; only a pipeline
    using another value gets a new one.
    """

    columns: Sequence[str]

    # -- parameters ---------------------------------------------------------------

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {}

    def validate_params(self) -> None:
        """Check every parameter; raise ConfigError naming the first bad one."""
        cons: dict[str, Sequence[Constraint]] = {"columns": [COLUMNS]}
        cons.update(self._constraints())
        check_params(type(self).__name__, self.get_params(deep=False), cons)

    def saved_params(self) -> dict[str, Any]:
        """``get_params()`` without the :attr:`added_params` that hold their default."""
        params: dict[str, Any] = self.get_params(deep=False)
        for name, default in self.added_params.items():
            value = params.get(name)
            # The type too: clip=0 is not the saved default False (validation refuses it).
            if type(value) is type(default) and value == default:
                del params[name]
        return params

    # -- fit ----------------------------------------------------------------------

    def out_kind(self, column: str, kind: str) -> str:
        """Kind of the value this step outputs for an input of ``kind``.

        Raises
        ------
        SchemaError
            When the step cannot take a column of that kind.
        """
        if kind not in self.accepts:
            wanted = " or ".join(sorted(self.accepts))
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        column,
                        "type",
                        f"{type(self).__name__} needs {wanted} values; the column holds "
                        f"{kind}{_AS_NUMBERS if kind == NUMBER else ''}",
                    )
                ]
            )
        return NUMBER

    def new_state(self, column: str, kind: str) -> Any:
        """A fresh mergeable fit state for ``column``, or None when nothing is fitted."""
        return None

    def update_state(self, state: Any, values: Any, kind: str) -> None:
        """Feed one chunk of (null-free unless ``takes_nulls``) values."""
        state.update(values)

    def finalize(self, column: str, state: Any, kind: str) -> None:
        """Turn a filled state into this column's fitted parameters."""

    def start_fit(self) -> None:
        """Reset fitted attributes before a fit."""
        for attr in self.fitted_attrs:
            setattr(self, attr, {})

    # -- transform ----------------------------------------------------------------

    def transform_values(self, column: str, values: Any, kind: str) -> Any:
        """Batch transform of a value step."""
        raise NotImplementedError  # pragma: no cover - encoders do not use it

    def record_fn(self, column: str, kind: str) -> ValueFn:
        """Record function of a value step."""
        raise NotImplementedError  # pragma: no cover - encoders do not use it

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Inline record code on variable ``v`` (encoders write into ``row``), or None.

        Bind fitted values in ``ns`` under names starting with ``key``. The code must do
        exactly the float operations of the batch path. None falls back to
        :meth:`record_fn` / :meth:`record_encoder`.
        """
        return None

    def names_out(self, column: str) -> list[str]:
        """Output feature names of an encoder."""
        raise NotImplementedError  # pragma: no cover - value steps do not use it

    def sources_out(self, column: str) -> list[tuple[str, ...]]:
        """For each output of this step on ``column``, the input values it is computed from.

        A value step has one output, computed from ``column`` alone; an encoder has one
        output per :meth:`names_out`, each computed from ``column`` alone. A step that
        combined columns would list them all here (explanations group by this map).
        """
        n = len(self.names_out(column)) if self.terminal else 1
        return [(column,)] * n

    def write_batch(self, column: str, values: Any, out: Floats, kind: str) -> None:
        """Batch transform of an encoder, into ``out`` (its block of output columns)."""
        raise NotImplementedError  # pragma: no cover - value steps do not use it

    def record_encoder(self, column: str, offset: int, kind: str) -> Encoder:
        """Record encoder writing into ``row[offset:offset + len(names_out)]``."""
        raise NotImplementedError  # pragma: no cover - value steps do not use it

    # -- state as data ------------------------------------------------------------

    def fitted_to_dict(self) -> dict[str, Any]:
        """Fitted attributes as JSON-able data."""
        return {attr: getattr(self, attr) for attr in self.fitted_attrs}

    def fitted_from_dict(self, d: dict[str, Any]) -> None:
        """Restore fitted attributes from :meth:`fitted_to_dict` output, validated.

        Raises
        ------
        StateError
            (also a ConfigError) naming the attribute and column at fault.
        """
        self.fitted_from_state(Field(d, owner=type(self).__name__))

    def fitted_from_state(self, state: Field) -> None:
        """Validate and restore fitted attributes read back from a saved state.

        Each attribute is a dict with one entry per column of the step; each value is
        checked by the kind ``fitted_checks`` gives the attribute (``"finite"``,
        ``"scale"`` (finite and > 0), ``"fill"``, ``"categories"``, ``"edges"``).
        """
        state.dict(keys=self.fitted_attrs)
        columns = list(self.columns)
        for attr in self.fitted_attrs:
            per_column = state[attr].dict(keys=tuple(columns))
            checked = {c: _check_fitted(self.fitted_checks[attr], state[attr][c]) for c in columns}
            setattr(self, attr, {c: checked[c] for c in per_column})


def _check_fitted(kind: str, field: Field) -> Any:
    """One fitted value of a step, checked by its kind."""
    if kind == "finite":
        return field.float()
    if kind == "scale":
        return field.float(lo=0.0, lo_open=True)
    if kind == "fill":  # a number (finite) or a text fill value
        return field.str(max_len=MAX_TEXT_VALUE) if isinstance(field.value, str) else field.float()
    if kind == "categories":
        values = [f.str(max_len=MAX_TEXT_VALUE) for f in field.each(max_len=_MAX_CATEGORIES)]
        field.check(len(set(values)) == len(values), "a list of distinct categories")
        return values
    if kind == "edges":
        edges = field.floats(max_len=_MAX_CATEGORIES)
        field.check(all(a < b for a, b in itertools.pairwise(edges)), "strictly increasing")
        return edges
    raise AssertionError(kind)  # pragma: no cover - a step declares a known kind


_MAX_CATEGORIES = 10_000_000  # of a saved state: more is corrupt


def check_text_values(column: str, values: Sequence[object], what: str) -> None:
    """Refuse, at fit, a text value longer than the saved state keeps.

    Raises
    ------
    SchemaError
        Naming the column and the limit (:data:`MAX_TEXT_VALUE` characters).
    """
    for v in values:
        if isinstance(v, str) and len(v) > MAX_TEXT_VALUE:
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        column,
                        "range",
                        f"{what} {short_repr(v[:40])}... has {len(v):,} characters; a fitted "
                        "step "
                        f"keeps text values of at most {MAX_TEXT_VALUE:,} (hash a free-text "
                        "column with Hashing)",
                    )
                ]
            )


def first_true(mask: npt.NDArray[np.bool_]) -> int:
    """Index of the first true entry of a mask that has one."""
    return int(np.argmax(mask))


class Text:
    """A text column, dictionary-encoded: ``values[codes[i]]``, code -1 for a null.

    Every text step works on the codes (counting is a ``bincount``, lookups are done once
    per distinct value), so strings are hashed once per chunk, when read.
    """

    __slots__ = ("codes", "values")

    def __init__(self, codes: npt.NDArray[np.int64], values: list[str]) -> None:
        self.codes = codes
        self.values = values

    def __len__(self) -> int:
        return int(self.codes.size)

    def counts(self) -> tuple[list[str], list[int]]:
        """Distinct non-null values and their counts."""
        k = np.bincount(self.codes[self.codes >= 0], minlength=len(self.values))
        nz = np.flatnonzero(k)
        return [self.values[i] for i in nz.tolist()], k[nz].tolist()

    def value_at(self, row: int) -> str | None:
        """The value at ``row`` (None for a null)."""
        code = int(self.codes[row])
        return None if code < 0 else self.values[code]

    def lookup(self, table: Mapping[str, int], default: int) -> npt.NDArray[np.int64]:
        """``table[value]`` (or ``default``) for each row, computed once per distinct value."""
        per_value = np.array([table.get(v, default) for v in self.values] + [default])
        return np.asarray(per_value[self.codes], dtype=np.int64)


def _type_error(column: str, message: str) -> SchemaError:
    return SchemaError(problems=[SchemaProblem(column, "type", message)])


def read_text(cols: Columns, name: str) -> Text:
    """Read a string or category column as :class:`Text`.

    Raises
    ------
    SchemaError
        When the column holds anything but text, showing a value.
    """
    raw = cols.raw(name)  # once: a pandas column read costs tens of microseconds
    info = cols.kind(name, raw)
    if info.kind not in ("string", "category", "null"):
        raise SchemaError(problems=[type_problem(name, "string", raw, info)])
    if isinstance(raw, pd.Series) and isinstance(raw.dtype, pd.CategoricalDtype):
        values = raw.cat.categories.tolist()
        codes = np.asarray(raw.cat.codes.to_numpy(), dtype=np.int64)
    else:
        arr = cols.arrow(name)
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if pa.types.is_null(arr.type) or arr.null_count == len(arr):
            return Text(np.full(len(arr), -1, dtype=np.int64), [])
        flat = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        enc = flat.dictionary_encode()
        indices = enc.indices if enc.null_count == 0 else pc.fill_null(enc.indices, -1)
        codes = np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        values = enc.dictionary.to_pylist()
    bad = next((v for v in values if not isinstance(v, str)), None)
    if bad is not None:
        raise _type_error(name, f"expected string, got {type(bad).__name__} {short_repr(bad)}")
    return Text(codes, values)
