"""Input adapters: one columnar view over every kind of tabular input prodml accepts.

Every module reads user data through this layer, so that pandas DataFrames, pyarrow
Tables and RecordBatches, iterables of those (e.g. a Parquet file read in batches) and
single dict records all behave the same, and so that every conversion error is a
:class:`~prodml.errors.SchemaError` naming the column, the value and the row.

Views are zero-copy where the source allows it (a float64 numpy-backed pandas column, a
single-chunk float64 arrow column without nulls); such arrays are read-only. Callers must
never write into arrays returned here.

Logical kinds reported by :func:`column_kind` are plain strings: ``"float"``, ``"int"``,
``"bool"``, ``"string"``, ``"category"``, ``"datetime"``, ``"null"`` (every value null, so
any declared type fits) and ``"mixed"`` (values of incompatible Python types).

The kinds, :func:`type_name` and :func:`type_problem` live in :mod:`prodml._data_kinds`;
the single-record converters and the nanosecond range in :mod:`prodml._data_records`.
Both are re-exported here, the path every module imports them from.

Examples
--------
>>> import pandas as pd
>>> cols = as_columns(pd.DataFrame({"x": [1.0, None], "c": ["a", "b"]}))
>>> cols.names, cols.num_rows
(('x', 'c'), 2)
>>> cols.float64("x")
array([ 1., nan])
>>> column_kind(cols.raw("c")).kind
'string'
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import numbers
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prodml._data_kinds import _NUMERIC_INFERRED as _NUMERIC_INFERRED  # noqa: PLC0414
from prodml._data_kinds import (
    KindInfo,
    RawColumn,
    _is_string_view,
    _scalar_kind,
    _type_error,
    column_kind,
    decoded_dictionary,
    encoded_values,
    py_value,
    type_name,
    type_problem,
    value_categories,
)
from prodml._data_kinds import _arrow_kind as _arrow_kind  # noqa: PLC0414
from prodml._data_kinds import _first_non_null as _first_non_null  # noqa: PLC0414
from prodml._data_kinds import _pandas_kind as _pandas_kind  # noqa: PLC0414
from prodml._data_records import _NS_MAX as _NS_MAX  # noqa: PLC0414
from prodml._data_records import _NS_PER as _NS_PER  # noqa: PLC0414
from prodml._data_records import (
    NS_FIRST,
    NS_LAST,
    NS_RANGE,
    as_ns,
    record_datetime64,
    record_float,
    record_problems,
)
from prodml._quote import short_repr
from prodml._zones import canonical_arrow
from prodml.errors import SchemaError, SchemaProblem

# The kinds (with type_name, py_value, type_problem) moved to _data_kinds, the record
# converters and the nanosecond range to _data_records; every name still imports from
# here (the `X as X` imports re-export the private ones).
__all__ = [
    "NS_FIRST",
    "NS_LAST",
    "NS_RANGE",
    "Columns",
    "KindInfo",
    "Tabular",
    "as_columns",
    "as_ns",
    "column_kind",
    "is_record",
    "is_tabular",
    "iter_columns",
    "py_value",
    "record_datetime64",
    "record_float",
    "record_problems",
    "type_name",
    "type_problem",
]

Tabular: TypeAlias = "pd.DataFrame | pa.Table | pa.RecordBatch"

_ACCEPTED = (
    "a pandas DataFrame, a pyarrow Table or RecordBatch, a dict record, "
    "or an iterable of DataFrames/Tables/RecordBatches"
)


def is_tabular(data: object) -> bool:
    """Return whether ``data`` is one in-memory table (DataFrame, Table or RecordBatch)."""
    return isinstance(data, pd.DataFrame | pa.Table | pa.RecordBatch)


def is_record(data: object) -> bool:
    """Return whether ``data`` is a single dict-like record."""
    return isinstance(data, Mapping)


_CHUNK = "a pandas DataFrame, a pyarrow Table or RecordBatch"
_ONE = "a pandas DataFrame, a pyarrow Table or RecordBatch, or a dict record"


def _input_error(data: object, what: str, accepted: str = _ACCEPTED) -> SchemaError:
    hint = ""
    if accepted is _CHUNK and isinstance(data, Mapping):  # rows as dicts: one frame of them
        hint = " (for rows given as dicts, pass pandas.DataFrame(rows))"
    elif isinstance(data, np.ndarray):  # a structured array iterates as numpy.void rows
        hint = " (for a numpy array, pass a pandas.DataFrame of it, with str column names)"
    elif accepted is _ONE and (isinstance(data, pq.ParquetFile) or _is_arrow_dataset(data)):
        hint = " (for a Parquet file or dataset, read it first, or pass each batch)"
    elif isinstance(data, pd.Series):
        hint = " (for one column, pass series.to_frame())"
    elif accepted is _ONE and isinstance(data, list | tuple | Iterator):
        hint = " (one table, not chunks: pass each chunk, or pandas.concat them)"
    return SchemaError(
        problems=[
            SchemaProblem(
                None, "input", f"{what} must be {accepted}; got {type_name(data)} instead{hint}"
            )
        ]
    )


# -------------------------------------------------------------------------- columns


class Columns:
    """Read-only columnar view over one DataFrame, Table or RecordBatch.

    Parameters
    ----------
    source
        The table. A pandas index is ignored; column names must be strings and unique.
    categorical_values
        Whether a pandas ``Categorical`` whose categories are numbers, bools or datetimes
        is read as a column of those values (nulls kept), as an arrow dictionary of them
        always is: what ``pd.read_parquet`` makes of a hive partition ``year=2024`` then
        reads as ``pq.read_table``'s reading of it does. Schemas and feature pipelines
        read so; drift and every other reader keep such a column a ``category`` (a set
        of declared categories, compared by counts). See ``docs/schema.md``.
    """

    __slots__ = (
        "_decoded",
        "_kinds",
        "_names",
        "_pos",
        "_series",
        "categorical_values",
        "num_rows",
        "source",
    )

    def __init__(
        self,
        source: pd.DataFrame | pa.Table | pa.RecordBatch,
        *,
        categorical_values: bool = False,
    ) -> None:
        if isinstance(source, pd.DataFrame):
            names = list(source.columns)
        else:
            names = list(source.schema.names)
        bad = [n for n in names if not isinstance(n, str)]
        if bad:
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        None,
                        "input",
                        f"column names must be strings; got {bad[0]!r} ({type_name(bad[0])})",
                    )
                ]
            )
        pos = {n: i for i, n in enumerate(names)}
        if len(pos) != len(names):  # one pass: a repeated name collapses in the dict
            dupes = sorted(n for n, c in Counter(names).items() if c > 1)
            raise SchemaError(
                problems=[SchemaProblem(d, "input", "column name appears twice") for d in dupes]
            )
        self.source = source
        self.categorical_values: bool = categorical_values
        self._names: tuple[str, ...] = tuple(names)
        self._pos = pos
        # A pandas column looked up once per view: ``iloc[:, i]`` costs some 10-50 us and a
        # fit asks for each column four or five times (kind, nulls, arrow, values).
        self._series: dict[str, pd.Series] = {}
        # A column's kind, detected once per view (an object column's costs a full scan).
        self._kinds: dict[str, KindInfo] = {}
        # An arrow dictionary column of numbers, bools or datetimes, decoded once per view.
        self._decoded: dict[str, pa.ChunkedArray] = {}
        self.num_rows: int = len(source) if isinstance(source, pd.DataFrame) else source.num_rows

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in source order."""
        return self._names

    def __contains__(self, name: object) -> bool:
        return name in self._pos

    def __len__(self) -> int:
        return self.num_rows

    def _require(self, name: str) -> None:
        if name not in self._pos:
            raise SchemaError(
                problems=[SchemaProblem(name, "missing", "column is missing from the input")]
            )

    def raw(self, name: str) -> RawColumn:
        """The column as the source holds it: a pandas Series or an arrow ChunkedArray.

        A dictionary column of anything but text (``pq.read_table`` reads a hive
        partition ``year=2024`` as a dictionary of int32) is handed out decoded, in its
        values' own type: it is a column of those values (see :func:`column_kind`). So
        is a pandas ``Categorical`` of numbers, bools or datetimes (``pd.read_parquet``'s
        reading of that partition) in a view made with ``categorical_values``.
        """
        if isinstance(self.source, pd.DataFrame):
            found = self._series.get(name)
            if found is None:
                self._require(name)
                # ``df[name]`` (names are unique strings here) is half of ``iloc``'s cost.
                found = self._series[name] = _decoded_series(
                    self.source[name], categorical_values=self.categorical_values
                )
            return found
        found_arrow = self._decoded.get(name)
        if found_arrow is not None:
            return found_arrow
        self._require(name)
        col = self.source.column(self._pos[name])
        # RecordBatch columns are Arrays; hand out one type so callers need one code path.
        chunked = col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])
        if encoded_values(chunked):
            chunked = self._decoded[name] = decoded_dictionary(chunked)
        return chunked

    def kind(self, name: str, raw: RawColumn | None = None) -> KindInfo:
        """Logical kind of a column; see :func:`column_kind` (detected once per view).

        ``raw``, when the caller holds it, is ``self.raw(name)``: passed to save a lookup.
        """
        found = self._kinds.get(name)
        if found is None:
            found = self._kinds[name] = column_kind(self.raw(name) if raw is None else raw)
        return found

    def arrow(self, name: str) -> pa.ChunkedArray:
        """The column as an arrow ChunkedArray (converted from pandas when needed)."""
        raw = self.raw(name)
        if isinstance(raw, pd.Series):
            try:
                converted = _series_arrow(raw)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                kind = column_kind(raw)
                raise SchemaError(
                    problems=[
                        SchemaProblem(
                            name,
                            "type",
                            f"values of mixed types, e.g. {short_repr(kind.example)}",
                            kind.row,
                        )
                    ]
                ) from err
            return _plain_strings(converted)
        return _plain_strings(raw)

    def null_mask(self, name: str) -> npt.NDArray[np.bool_]:
        """Boolean mask of nulls (None, NaN, NaT, pd.NA)."""
        raw = self.raw(name)
        if isinstance(raw, pd.Series):
            return _isna(raw)
        mask = raw.is_null(nan_is_null=True)
        return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)

    # -- typed views -------------------------------------------------------------

    def float64(self, name: str, *, allow_bool: bool = True) -> npt.NDArray[np.float64]:
        """The column as float64 with NaN for every null.

        Ints, floats and decimals convert; bools convert to 0/1 unless ``allow_bool`` is
        false. Anything else (strings such as ``'1.5'``, datetimes, mixed objects) raises.

        Raises
        ------
        SchemaError
            Naming the column, the first offending value and its row.
        """
        raw = self.raw(name)
        kind = self.kind(name, raw)
        ok = {"float", "int", "null"} | ({"bool"} if allow_bool else set())
        if kind.kind not in ok and not (
            allow_bool and kind.kind == "mixed" and _numbers_and_bools(raw)
        ):
            raise _type_error(name, "float", raw, kind)
        if isinstance(raw, pd.Series):
            if raw.dtype == np.float64:
                return raw.to_numpy(copy=False)
            try:
                return raw.to_numpy(dtype=np.float64, na_value=np.nan)
            except OverflowError:  # a Python int beyond float64 in an object column
                raise _too_large(name, raw) from None
        chunks = raw.chunks if isinstance(raw, pa.ChunkedArray) else [raw]
        if (
            len(chunks) == 1
            and chunks[0].type == pa.float64()
            and chunks[0].null_count == 0
            and chunks[0].offset == 0
        ):
            return chunks[0].to_numpy(zero_copy_only=True)
        # Integers beyond 2**53 round to the nearest float64, as numpy and the record path
        # round them; arrow's safe cast refused them (a raw ArrowInvalid).
        casted = pc.cast(raw, pa.float64(), safe=not pa.types.is_integer(raw.type))
        out = casted.to_numpy()
        return np.asarray(out, dtype=np.float64)

    def objects(self, name: str) -> npt.NDArray[np.object_]:
        """The column as an object array of Python values, ``None`` for every null."""
        raw = self.raw(name)
        if isinstance(raw, pd.Series):
            arr: npt.NDArray[np.object_] = np.array(raw.to_numpy(dtype=object), dtype=object)
            # NaN, NaT and pd.NA are all nulls; the copy above makes the write safe.
            mask = _isna(raw)
            if mask.any():
                arr[mask] = None
            return arr
        if pa.types.is_dictionary(raw.type):
            # Decode first: to_numpy on a dictionary array turns nulls into a category.
            raw = raw.cast(raw.type.value_type)
        if pa.types.is_integer(raw.type) and raw.null_count:
            # to_numpy gives float64 with NaN: 2**53 + 1 became 2**53, a null NaN.
            ints = raw.to_pandas(integer_object_nulls=True)
            return np.asarray(ints.to_numpy(dtype=object), dtype=object)
        return np.asarray(raw.to_numpy(zero_copy_only=False), dtype=object)

    def datetime64(self, name: str, *, utc: bool = False) -> npt.NDArray[np.datetime64]:
        """The column as ``datetime64[ns]`` with NaT for nulls.

        Time-zone-aware values are returned as wall-clock time in their zone, or in UTC
        when ``utc`` is true. Strings are not parsed: they raise.

        Raises
        ------
        SchemaError
            When the column holds anything but datetimes or dates, or a datetime
            outside 1677-09-21 .. 2262-04-11 (see :func:`as_ns`); for an arrow column
            in an IANA zone that no installed tz database holds, when wall-clock time
            is asked for (UTC needs no database).
        """
        raw = self.raw(name)
        kind = self.kind(name, raw)
        if kind.kind not in ("datetime", "null"):
            raise _type_error(name, "datetime", raw, kind)
        if isinstance(raw, pd.Series) and isinstance(raw.dtype, pd.ArrowDtype):
            # Read as an arrow column is: a zone stays a zone (wall-clock, not UTC), and
            # date32 converts (numpy could not convert ArrowDtype dates).
            raw = _series_arrow(raw)
        series = raw if isinstance(raw, pd.Series) else _arrow_datetimes(raw, name, utc=utc)
        if kind.kind == "null":
            return np.full(len(series), np.datetime64("NaT", "ns"))
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            series = pd.to_datetime(_naive_objects(series, utc=utc))
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC") if utc else series
            series = series.dt.tz_localize(None)
        return as_ns(np.asarray(series.to_numpy()), name)

    def select(self, names: Sequence[str]) -> Columns:
        """A view over a subset of columns, in the order given."""
        for n in names:
            self._require(n)
        if isinstance(self.source, pd.DataFrame):
            source: Tabular = self.source.iloc[:, [self._pos[n] for n in names]]
        else:
            source = self.source.select(list(names))
        return Columns(source, categorical_values=self.categorical_values)

    def to_arrow(self) -> pa.Table:
        """The whole view as a pyarrow Table."""
        if isinstance(self.source, pa.Table):
            return self.source
        if isinstance(self.source, pa.RecordBatch):
            return pa.Table.from_batches([self.source])
        return pa.table({n: self.arrow(n) for n in self.names})

    def to_pandas(self) -> pd.DataFrame:
        """The whole view as a pandas DataFrame (the source itself when it is one)."""
        if isinstance(self.source, pd.DataFrame):
            return self.source
        return self.source.to_pandas()


def _decoded_series(raw: pd.Series, *, categorical_values: bool = False) -> pd.Series:
    """A pandas column of encoded non-text values, as those values (nulls kept).

    An arrow dictionary of them (``pd.read_parquet(..., dtype_backend="pyarrow")`` of an
    integer hive partition) always; a ``Categorical`` of them (``pd.read_parquet``'s
    default reading of it, int32 categories) when ``categorical_values``. Either is
    handed out as an arrow-backed column of the values' own type, as :meth:`Columns.raw`
    hands out an arrow dictionary column.
    """
    dtype = raw.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if not (categorical_values and value_categories(dtype)):
            return raw
        # Through arrow's dictionary of the same codes and categories: exact ints (no
        # float round trip for a null), a null for code -1, the categories' unit and zone.
        held = pa.chunked_array([pa.Array.from_pandas(raw)])
    elif isinstance(dtype, pd.ArrowDtype) and pa.types.is_dictionary(dtype.pyarrow_dtype):
        held = _series_arrow(raw)
        if not encoded_values(held):
            return raw
    else:
        return raw
    values = decoded_dictionary(held)
    return pd.Series(pd.arrays.ArrowExtensionArray(values), index=raw.index, name=raw.name)


def _series_arrow(raw: pd.Series) -> pa.ChunkedArray:
    """A pandas column as arrow, zero-copy when pandas already holds arrow data.

    pandas 3 ``str`` / ``string[pyarrow]`` and ``ArrowDtype`` columns hold a ChunkedArray
    (several chunks after ``pd.concat`` or a multi-row-group Parquet read): it is handed
    out as it is. Wrapping it in ``pa.chunked_array([...])`` would convert it element by
    element (12 s for 2 million strings).
    """
    held = getattr(raw.array, "__arrow_array__", None)
    out = held() if held is not None else pa.Array.from_pandas(raw)
    return out if isinstance(out, pa.ChunkedArray) else pa.chunked_array([out])


def _arrow_datetimes(raw: pa.ChunkedArray, name: str, *, utc: bool) -> pd.Series:
    """An arrow datetime column as pandas; a zone without a tz database is a SchemaError.

    pyarrow reads a zone's rules to convert its values (``ArrowInvalid`` without them).
    UTC instants need no rules: the zone is dropped from the type, the values kept.
    Wall-clock time does: after the range check on the instants, the column is refused.
    """
    try:
        return raw.to_pandas()
    except (pa.ArrowException, KeyError):  # KeyError: zoneinfo's or pytz's unknown zone
        tz = getattr(raw.type, "tz", None)
        if tz is None:
            raise
    canonical = canonical_arrow(raw)  # '+0530', 'Z', 'utc': arrow reads '+05:30', 'UTC'
    if canonical is not raw:
        with contextlib.suppress(pa.ArrowException, KeyError):
            return canonical.to_pandas()
    instants = as_ns(np.asarray(raw.cast(pa.timestamp(raw.type.unit)).to_numpy()), name)
    if utc:
        return pd.Series(instants)
    raise SchemaError(
        problems=[
            SchemaProblem(
                name,
                "type",
                f"values in time zone {short_repr(tz)} need a tz database to be read as "
                "wall-clock time, and none holds that zone; install one (pip install "
                "tzdata), or convert the column to UTC first",
            )
        ]
    ) from None


def _plain_strings(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """``string_view`` as ``large_string`` (one vectorised cast), which every kernel takes."""
    if _is_string_view(arr.type):
        return pc.cast(arr, pa.large_string())
    if pa.types.is_dictionary(arr.type) and _is_string_view(arr.type.value_type):
        return pc.cast(arr, pa.dictionary(arr.type.index_type, pa.large_string()))
    return arr


def _isna(series: pd.Series) -> npt.NDArray[np.bool_]:
    """``series.isna()`` as numpy; a signalling Decimal NaN (pandas raises on it) is null."""
    dtype = series.dtype
    # What ``Series.isna`` computes, without its Series round trip (some 15 us a column).
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return np.isnan(series.to_numpy(copy=False))
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return np.asarray(series.array.isna(), dtype=bool)
    try:
        return np.asarray(series.isna().to_numpy(), dtype=bool)
    except decimal.InvalidOperation:
        return np.fromiter(
            (
                (isinstance(v, decimal.Decimal) and v.is_nan()) or _scalar_kind(v) == "null"
                for v in series.to_numpy()
            ),
            dtype=bool,
            count=len(series),
        )


def _numbers_and_bools(raw: RawColumn) -> bool:
    # An object column mixing bools with numbers converts like the record path does.
    if not isinstance(raw, pd.Series) or raw.dtype != object:
        return False
    return all(_scalar_kind(v) in ("int", "float", "bool", "null") for v in raw.to_numpy())


def _naive_objects(series: pd.Series, *, utc: bool) -> pd.Series:
    """Python datetimes as naive ones, each read as a record's value is.

    An aware value gives its own zone's wall-clock time (UTC's when ``utc``); a naive
    value is kept. pandas refuses a column mixing zones (or aware and naive values)
    unless it converts all to UTC, so such a column raised a raw ``ValueError`` where
    records did not.
    """
    values = series.to_numpy(dtype=object)
    if not any(isinstance(v, _dt.datetime) and v.tzinfo is not None for v in values):
        return series
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = _naive(v, utc=utc) if isinstance(v, _dt.datetime) else v
    return pd.Series(out, dtype=object)


def _naive(value: _dt.datetime, *, utc: bool) -> _dt.datetime:
    if value.tzinfo is None:
        return value
    return (value.astimezone(_dt.timezone.utc) if utc else value).replace(tzinfo=None)


_FLOAT_MAX = sys.float_info.max


def _too_large(name: str, raw: pd.Series) -> SchemaError:
    """The first value of ``raw`` that float64 cannot hold, as a ``range`` problem."""
    for row, value in enumerate(raw.array):
        # An int (or Fraction) compares with a float exactly: no conversion to overflow.
        exact = isinstance(value, numbers.Real) and not isinstance(value, float | np.floating)
        if exact and abs(value) > _FLOAT_MAX:
            message = f"value {short_repr(value)} is too large for float64"
            return SchemaError(problems=[SchemaProblem(name, "range", message, row)])
    message = "a value is too large for float64"  # pragma: no cover - found above
    return SchemaError(problems=[SchemaProblem(name, "range", message, None)])


# ------------------------------------------------------------------------- builders


def as_columns(data: object, *, what: str = "data", categorical_values: bool = False) -> Columns:
    """View one table or record as :class:`Columns`.

    Parameters
    ----------
    data
        A pandas DataFrame, pyarrow Table or RecordBatch, or a dict record (one row).
    what
        How to call the input in error messages.
    categorical_values
        Read a pandas ``Categorical`` of numbers, bools or datetimes as a column of
        those values (see :class:`Columns`).

    Raises
    ------
    SchemaError
        For any other type of input.
    """
    if is_tabular(data):
        return Columns(data, categorical_values=categorical_values)
    if isinstance(data, Mapping):
        return Columns(_record_frame(data), categorical_values=categorical_values)
    raise _input_error(data, what, _ONE)  # one table: not the chunks iter_columns takes


def _dataset_batches(data: Any, batch_rows: int, categorical_values: bool) -> Iterator[Columns]:
    """Scan a pyarrow Dataset in bounded memory.

    The scanner's defaults read 16 batches and several files ahead and pre-buffer whole
    Parquet column chunks, which held over 2 GB for a 5 GB dataset; one batch and one
    file of read-ahead keep the peak to about one row group.
    """
    import pyarrow.dataset as ds  # noqa: PLC0415 - only datasets need it

    options = None
    if isinstance(getattr(data, "format", None), ds.ParquetFileFormat):
        options = ds.ParquetFragmentScanOptions(pre_buffer=False)
    for batch in data.to_batches(
        batch_size=batch_rows,
        batch_readahead=1,
        fragment_readahead=1,
        fragment_scan_options=options,
    ):
        yield Columns(batch, categorical_values=categorical_values)


def _parquet_file_batches(
    data: pq.ParquetFile, batch_rows: int, categorical_values: bool
) -> Iterator[Columns]:
    """Read a ParquetFile one row group at a time.

    ``iter_batches`` over the whole file kept every decoded row group allocated until the
    end (a 513 MB file held 517 MB in arrow's pool; 2.3 GB for a 2 GB file); a reader per
    row group frees each group before the next, so the peak is about one row group.
    """
    for group in range(data.num_row_groups):
        for batch in data.iter_batches(batch_size=batch_rows, row_groups=[group]):
            yield Columns(batch, categorical_values=categorical_values)


def _record_frame(record: Mapping[object, object]) -> pd.DataFrame:
    columns: dict[object, pd.Series] = {}
    for key, value in record.items():
        # Keep each value as the object it is: no parsing, no implicit up-casting.
        if isinstance(value, pd.Timestamp) and value.tz is not None and not 0 < value.year < 10000:
            columns[key] = _beyond_python(value)
            continue
        columns[key] = pd.Series([value], dtype=object if isinstance(value, str) else None)
    return pd.DataFrame(columns) if columns else pd.DataFrame(index=[0])


def _beyond_python(value: pd.Timestamp) -> pd.Series:
    """A zoned Timestamp beyond Python's years as a one-row column, built from its instant.

    pandas builds a column of one through Python's datetime, which wraps it
    (``9999-12-31T23:59:59-10:00`` in UTC, 10000-01-01, became 1972-01-01): the checks
    then passed a value every feature path refuses.
    """
    return pd.Series(np.array([value.asm8])).dt.tz_localize("UTC").dt.tz_convert(value.tz)


def iter_columns(
    data: object,
    *,
    batch_rows: int | None = None,
    what: str = "data",
    categorical_values: bool = False,
) -> Iterator[Columns]:
    """Yield :class:`Columns` batches from a table, a Parquet file or an iterable of tables.

    Parameters
    ----------
    data
        A DataFrame, Table, RecordBatch, dict record, ``pyarrow.parquet.ParquetFile``,
        ``pyarrow.dataset.Dataset``, or an iterable of tables (chunks).
    batch_rows
        When given, split large in-memory tables (and Parquet reads) into batches of at
        most this many rows; otherwise an in-memory table is yielded whole.
    what
        How to call the input in error messages.
    categorical_values
        Read a pandas ``Categorical`` of numbers, bools or datetimes as a column of
        those values (see :class:`Columns`). A view given as ``data`` that reads them
        otherwise is read again from its source.

    Raises
    ------
    SchemaError
        For an unsupported input, or an unsupported element inside an iterable.
    """
    flag = categorical_values
    if (
        isinstance(data, Columns)
        and data.categorical_values == flag
        and (batch_rows is None or data.num_rows <= batch_rows)
    ):
        yield data  # a view already made (FeaturePipeline.fit): its column lookups are kept
        return
    if isinstance(data, Columns):
        data = data.source
    if is_tabular(data) or isinstance(data, Mapping):
        cols = as_columns(data, what=what, categorical_values=flag)
        if batch_rows is None or cols.num_rows <= batch_rows:
            yield cols
            return
        src = cols.source
        for start in range(0, cols.num_rows, batch_rows):
            if isinstance(src, pd.DataFrame):
                yield Columns(src.iloc[start : start + batch_rows], categorical_values=flag)
            else:
                yield Columns(src.slice(start, batch_rows), categorical_values=flag)
        return
    if isinstance(data, pq.ParquetFile):
        yield from _parquet_file_batches(data, batch_rows or 65_536, flag)
        return
    if _is_arrow_dataset(data):
        yield from _dataset_batches(data, batch_rows or 131_072, flag)
        return
    if isinstance(data, str | bytes | bytearray | np.ndarray | pd.Series) or not isinstance(
        data, Iterable
    ):  # a Series or an array iterates over its values, which are no chunks
        raise _input_error(data, what)
    for i, chunk in enumerate(data):
        if not is_tabular(chunk):
            raise _input_error(chunk, f"chunk {i} of {what}", _CHUNK)
        yield from iter_columns(chunk, batch_rows=batch_rows, what=what, categorical_values=flag)


def _is_arrow_dataset(data: object) -> bool:
    try:
        import pyarrow.dataset as ds  # noqa: PLC0415 - optional pyarrow component
    except ImportError:  # pragma: no cover - pyarrow builds without dataset
        return False
    return isinstance(data, ds.Dataset)
