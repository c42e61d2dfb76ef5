"""Reading labels, predictions and sensitive values from user input (private).

Sensitive values are kept as JSON scalars (``str``, ``int``, ``float``, ``bool``), with
``None`` standing for a missing value and :data:`OTHER` for values outside a column's
declared categories, so that every group round-trips through JSON state. Every problem is
a :class:`~prodml.errors.SchemaError` naming the column and the first row at fault, and
quoting at most a short prefix of the value.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodml._data import type_name
from prodml._quote import _unless_personal as unless_personal
from prodml.errors import SchemaError, SchemaProblem
from prodml.privacy import Privacy, find_personal_data, personal_texts

__all__ = [
    "MISSING_LABEL",
    "OTHER",
    "check_value",
    "factorize",
    "is_missing",
    "label_array",
    "label_of",
    "personal_texts",
    "privacy",
    "public",
    "public_key",
    "public_keys",
    "score_array",
    "sensitive_columns",
    "short",
    "shown_keys",
    "shown_label",
    "sort_key",
    "weight_array",
    "weight_value",
]

#: The group value standing for every value outside a column's declared categories.
OTHER = "<other>"
#: How a missing sensitive value is shown in labels and report indexes.
MISSING_LABEL = "<missing>"

IntArray = npt.NDArray[np.int64]


def short(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters, for messages.

    ``<redacted>`` when what would be shown looks like personal data (an e-mail address,
    a phone number...: :func:`prodml.privacy.find_personal_data`), as every message of
    prodml that quotes a value (:func:`prodml._quote.short_repr`): a sensitive column's
    values, and the group labels made of them, are about people.
    """
    text = repr(value.item() if isinstance(value, np.generic) else value)
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return unless_personal(shown, text)


def is_missing(value: object) -> bool:
    """Whether a sensitive value is missing: None, NaN, ``pd.NA`` or ``NaT``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def check_value(value: object, column: str, row: int | None = None) -> object:
    """A present sensitive value as a JSON scalar, or a SchemaError naming the column."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    where = f" at row {row}" if row is not None else ""
    raise SchemaError(
        problems=[
            SchemaProblem(
                column,
                "type",
                f"sensitive values must be str, int, bool or finite float; got "
                f"{type_name(value)} {short(value)}{where}",
                row,
            )
        ]
    )


def sort_key(key: tuple[object, ...]) -> tuple[tuple[int, Any], ...]:
    """An order on group keys of mixed types: missing, bools, numbers, strings."""
    out: list[tuple[int, Any]] = []
    for v in key:
        if v is None:
            out.append((0, 0))
        elif isinstance(v, bool):
            out.append((1, int(v)))
        elif isinstance(v, int | float):
            out.append((2, v))
        else:
            out.append((3, str(v)))
    return tuple(out)


def display(value: object) -> object:
    """A group value as shown in reports: missing as ``'<missing>'``, personal data hashed.

    Text that looks like personal data (an e-mail address, a phone number...:
    :func:`prodml.privacy.find_personal_data`) is shown as its salted token
    (``pm:`` and 16 hex digits, :meth:`prodml.privacy.Privacy.token`): distinct values
    stay distinct groups, and a report, its flat metric names (exported by a monitor,
    stored with a registry version) and its gaps never carry the value itself.
    """
    return MISSING_LABEL if value is None else public(value)


def public(value: object) -> object:
    """``value``, or its salted token when it is text that looks like personal data."""
    if isinstance(value, str) and _looks_personal(str(value)):
        return privacy().token(value)
    return value


def public_key(key: tuple[object, ...]) -> tuple[object, ...]:
    """A group key with its personal values as tokens; ``key`` itself when it has none.

    The form a group is saved in (``GroupMetrics.to_dict``, a monitor's saved window),
    and under which a GroupMetrics also indexes a group first seen by its values, so a
    record of those values and a saved state's token meet in one group.
    """
    for v in key:
        if type(v) is str and _looks_personal(v):
            return tuple(map(public, key))
    return key


def public_keys(keys: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """:func:`public_key` of many keys, each column's distinct text checked at once.

    A key without personal values is returned itself (as :func:`public_key` does).
    """
    if not keys:
        return []
    swaps: list[dict[object, str] | None] = []
    for j in range(len(keys[0])):
        personal = personal_texts({v for v in {k[j] for k in keys} if type(v) is str})
        swaps.append(dict(zip(personal, privacy()._tokens(personal), strict=True)) or None)
    if not any(swaps):
        return list(keys)
    out = []
    for k in keys:
        if any(s is not None and type(v) is str and v in s for s, v in zip(swaps, k, strict=True)):
            k = tuple(v if s is None else s.get(v, v) for s, v in zip(swaps, k, strict=True))  # noqa: PLW2901
        out.append(k)
    return out


def shown_keys(keys: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Every group key as shown (:func:`display` of each value), checked per distinct value.

    A report over many groups checks each column's distinct text once, and many at a
    time (:func:`personal_texts`), instead of each group's values one by one.
    """
    if not keys:
        return []
    columns = [[k[j] for k in keys] for j in range(len(keys[0]))]
    changed = False
    for j, column in enumerate(columns):
        personal = personal_texts({v for v in set(column) if type(v) is str})
        if not personal and None not in column:
            continue
        changed = True
        swap: dict[object, object] = dict(zip(personal, privacy()._tokens(personal), strict=True))
        swap[None] = MISSING_LABEL  # (no str or None equals a number or a bool)
        get = swap.get
        columns[j] = [get(v, v) for v in column]
    return list(zip(*columns, strict=True)) if changed else list(keys)


@functools.lru_cache(maxsize=4096)
def _looks_personal(text: str) -> bool:
    return find_personal_data(text) is not None


@functools.cache
def privacy() -> Privacy:
    """The default policy, made once.

    Its salt (``PRODML_PRIVACY_SALT`` or the process's own) names a group alike in
    every report of the process.
    """
    return Privacy()


def label_of(names: Sequence[str], key: tuple[object, ...]) -> str:
    """``'sex=F,age_band=30-40'``: the group's name in flat metric names."""
    return shown_label(names, tuple(map(display, key)))


def shown_label(names: Sequence[str], shown: tuple[object, ...]) -> str:
    """:func:`label_of` from values already passed through :func:`display`."""
    return ",".join(f"{n}={v}" for n, v in zip(names, shown, strict=True))


def _input_problem(column: str | None, message: str, row: int | None = None) -> SchemaError:
    return SchemaError(problems=[SchemaProblem(column, "input", message, row)])


def _as_1d(values: object, column: str) -> Any:
    """A 1-D array-like view of ``values`` (a pandas Series stays one)."""
    if isinstance(values, pd.Series | pd.Index | pd.Categorical):
        return values
    if hasattr(values, "to_pandas") and hasattr(values, "type"):  # pyarrow (Chunked)Array
        return values.to_pandas()
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise _input_problem(
            column, f"expected an array of values, got {type_name(values)} {short(values)}"
        )
    arr = np.asarray(values, dtype=object) if isinstance(values, list | tuple) else values
    arr = np.asarray(arr)
    if arr.ndim != 1:
        raise _input_problem(column, f"expected a 1-D array of values, got shape {arr.shape}")
    return arr


def sensitive_columns(groups: object, names: Sequence[str], n_rows: int) -> list[Any]:
    """One 1-D array-like of sensitive values per name, each ``n_rows`` long.

    ``groups`` is a pandas DataFrame or a mapping (columns by name), a pyarrow Table or
    RecordBatch, a 2-D array (columns in ``names`` order), or, for one sensitive
    feature, a 1-D array-like.
    """
    cols: list[Any]
    if isinstance(groups, pd.DataFrame | Mapping):
        missing = [n for n in names if n not in groups]
        if missing:
            have = list(groups.keys())[:20]
            raise SchemaError(
                problems=[
                    SchemaProblem(m, "missing", f"sensitive column is missing; got {have}")
                    for m in missing
                ]
            )
        cols = [_as_1d(groups[n], n) for n in names]
    elif hasattr(groups, "column_names") and hasattr(groups, "column"):  # pyarrow table
        missing = [n for n in names if n not in groups.column_names]
        if missing:
            raise SchemaError(
                problems=[
                    SchemaProblem(m, "missing", "sensitive column is missing") for m in missing
                ]
            )
        cols = [_as_1d(groups.column(n), n) for n in names]
    elif isinstance(groups, np.ndarray) and groups.ndim == 2:
        if groups.shape[1] != len(names):
            raise _input_problem(
                None,
                f"a 2-D array of sensitive values needs {len(names)} columns ({list(names)}), "
                f"got {groups.shape[1]}",
            )
        cols = [groups[:, j] for j in range(len(names))]
    elif len(names) == 1:
        cols = [_as_1d(groups, names[0])]
    else:
        raise _input_problem(
            None,
            f"groups for {len(names)} sensitive features must be a DataFrame, a dict of "
            f"columns or a 2-D array; got {type_name(groups)}",
        )
    for name, col in zip(names, cols, strict=True):
        if len(col) != n_rows:
            raise _input_problem(
                name, f"has {len(col)} values but y_true has {n_rows}; lengths must match"
            )
    return cols


def factorize(values: Any, column: str) -> tuple[IntArray, list[object]]:
    """Codes (``-1`` where missing) and the distinct present values, as JSON scalars."""
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except TypeError as err:  # unhashable values (lists, dicts)
        raise _input_problem(column, f"sensitive values must be hashable scalars: {err}") from None
    if isinstance(uniques, pd.Categorical | pd.CategoricalIndex):
        uniques = np.asarray(uniques, dtype=object)
    raw = list(uniques.tolist()) if hasattr(uniques, "tolist") else list(uniques)
    checked: list[object] = []
    for i, v in enumerate(raw):
        if isinstance(v, str | bool | int) or (isinstance(v, float) and math.isfinite(v)):
            checked.append(v)
        else:
            row = int(np.argmax(codes == i))
            checked.append(check_value(v, column, row))
    return np.asarray(codes, dtype=np.int64), checked


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.argmax(mask))


def label_array(values: object, column: str) -> npt.NDArray[np.int8]:
    """Binary labels or predictions as int8 0/1, or a SchemaError naming the first bad row."""
    arr = _numeric(values, column)
    if arr.dtype == np.bool_:
        return arr.view(np.int8)
    zero, one = (0, 1) if arr.dtype.kind in "iu" else (0.0, 1.0)
    bad = (arr != zero) & (arr != one)
    if bad.any():
        i = _first_bad(bad)
        raise _value_problem(column, arr[i], i, "0 or 1 (or a bool)")
    return arr.astype(np.int8)


def score_array(values: object, column: str) -> npt.NDArray[np.float64]:
    """Scores in [0, 1] as float64, or a SchemaError naming the first bad row."""
    arr = _numeric(values, column).astype(np.float64, copy=False)
    bad = ~((arr >= 0.0) & (arr <= 1.0))
    if bad.any():
        i = _first_bad(bad)
        raise _value_problem(column, arr[i], i, "a score in [0, 1]")
    return arr


def _numeric(values: object, column: str) -> npt.NDArray[Any]:
    if isinstance(values, pd.Series | pd.Index):
        if values.hasnans:
            i = _first_bad(values.isna().to_numpy())
            raise _value_problem(column, None, i, "a value (not missing)")
        values = values.to_numpy()
    elif hasattr(values, "to_numpy") and hasattr(values, "type"):  # pyarrow
        values = values.to_numpy(zero_copy_only=False)
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise _input_problem(column, f"expected an array of numbers: {err}") from None
    if arr.ndim != 1:
        raise _input_problem(column, f"expected a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "O":
            for i, v in enumerate(arr.tolist()):
                if not isinstance(v, numbers.Real):
                    raise _value_problem(column, v, i, "a number")
            return np.asarray(arr.tolist(), dtype=np.float64)
        raise _input_problem(column, f"expected numbers, got an array of dtype {arr.dtype}")
    return arr


def _value_problem(column: str, value: object, row: int, expected: str) -> SchemaError:
    return SchemaError(
        problems=[SchemaProblem(column, "range", f"must be {expected}; got {short(value)}", row)]
    )


#: Where every sample_weight problem points (the keyword of ``update`` and the functions).
WEIGHT = "sample_weight"
#: Bounds of a positive weight: sums of squares (for the effective sample size) of
#: billions of such weights stay normal float64 numbers, neither 0 nor inf. Rates do not
#: change when every weight is multiplied by one factor, so weights outside can be rescaled.
MIN_WEIGHT, MAX_WEIGHT = 1e-100, 1e100
_WEIGHT_RULE = f"0 or a finite number in [{MIN_WEIGHT:g}, {MAX_WEIGHT:g}]"


def weight_array(values: object, n_rows: int) -> npt.NDArray[np.float64]:
    """Sample weights as float64, one per row, each 0 or in [MIN_WEIGHT, MAX_WEIGHT].

    A weight may be 0 (the record counts for nothing but is still a record); a
    negative, NaN, infinite or out-of-range weight, text, bools, or a length other than
    ``n_rows`` is a SchemaError naming ``sample_weight`` and the first row at fault.
    """
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise _input_problem(
            WEIGHT, f"expected an array of weights, got {type_name(values)} {short(values)}"
        )
    arr = _numeric(values, WEIGHT)
    if arr.dtype == np.bool_:
        raise _input_problem(WEIGHT, "expected numbers, got an array of bools")
    if len(arr) != n_rows:
        raise _input_problem(
            WEIGHT, f"has {len(arr)} values but y_true has {n_rows}; lengths must match"
        )
    out = arr.astype(np.float64, copy=False)
    bad = ~((out == 0.0) | ((out >= MIN_WEIGHT) & (out <= MAX_WEIGHT)))
    if bad.any():
        i = _first_bad(bad)
        raise _value_problem(WEIGHT, arr[i], i, _WEIGHT_RULE)
    return out


def weight_value(value: object) -> float:
    """One record's sample weight as a float (rules of :func:`weight_array`)."""
    w = math.nan
    if not isinstance(value, bool | np.bool_) and isinstance(value, numbers.Real):
        w = float(value)
    if not (w == 0.0 or MIN_WEIGHT <= w <= MAX_WEIGHT):
        raise SchemaError(
            problems=[SchemaProblem(WEIGHT, "range", f"must be {_WEIGHT_RULE}; got {short(value)}")]
        )
    return w
