"""Timestamps in the feature store: timezone-aware, compared as UTC microseconds.

Every timestamp the store compares is an instant: a naive timestamp (no time zone) is an
error, because nobody can tell which instant it means (a source can opt in with
``Source(timezone=...)``). Instants are compared at microsecond resolution, which is what
Parquet, DuckDB and PostgreSQL store; finer parts are truncated.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from prodml._data import type_name
from prodml.errors import ConfigError, SchemaError, SchemaProblem

__all__ = ["UTC_US", "from_micros", "micros", "utc_column"]

UTC_US = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(value: object, parameter: str) -> int:
    """Microseconds since the epoch of an aware ``datetime`` or ``pd.Timestamp``.

    Raises
    ------
    ConfigError
        For a naive timestamp or a value that is not a timestamp.
    """
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime(warn=False)
    if not isinstance(value, datetime):
        raise ConfigError(
            f"{parameter} must be a timezone-aware datetime, got {type_name(value)}",
            parameter=parameter,
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(
            f"{parameter} {value.isoformat()} is naive; pass a timezone-aware datetime "
            "(e.g. datetime.now(timezone.utc))",
            parameter=parameter,
        )
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    """The UTC ``datetime`` of a microsecond count."""
    return datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc).replace(
        microsecond=us % 1_000_000
    )


def utc_column(raw: Any, column: str, *, what: str = "entity_df") -> pa.ChunkedArray:
    """A timestamp column as ``timestamp[us, UTC]``; naive or non-timestamp columns fail.

    Raises
    ------
    SchemaError
        Naming ``column`` when it is not a timestamp or has no time zone.
    """
    if isinstance(raw, pd.Series):
        if not isinstance(raw.dtype, pd.DatetimeTZDtype) and not _arrow_ts(raw.dtype):
            if pd.api.types.is_datetime64_dtype(raw.dtype):
                raise _naive(column, what)
            raise _not_ts(column, str(raw.dtype), what)
        arr = pa.chunked_array([pa.array(raw)])
    else:
        arr = raw if isinstance(raw, pa.ChunkedArray) else pa.chunked_array([raw])
    if not pa.types.is_timestamp(arr.type):
        raise _not_ts(column, str(arr.type), what)
    if arr.type.tz is None:
        raise _naive(column, what)
    if arr.type.unit == "ns":
        # Floored, as source times are (a cast truncates toward zero: before 1970 an
        # entity time would round up, past source rows a fraction of a microsecond later).
        arr = pc.floor_temporal(arr.cast(pa.timestamp("ns", "UTC")), unit="microsecond")
    return pc.cast(arr, UTC_US, safe=False)


def _arrow_ts(dtype: object) -> bool:
    pa_type = getattr(dtype, "pyarrow_dtype", None)
    return pa_type is not None and pa.types.is_timestamp(pa_type) and pa_type.tz is not None


def _naive(column: str, what: str) -> SchemaError:
    return SchemaError(
        problems=[
            SchemaProblem(
                column,
                "type",
                f"{what} timestamps are naive (no time zone); make them timezone-aware, "
                "e.g. pd.to_datetime(col, utc=True)",
            )
        ]
    )


def _not_ts(column: str, got: str, what: str) -> SchemaError:
    return SchemaError(
        problems=[SchemaProblem(column, "type", f"{what} column must hold timestamps, got {got}")]
    )
