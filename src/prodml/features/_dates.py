"""DateParts: calendar parts of datetime columns, and how a record's datetime is read."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from prodml._data import NS_FIRST, NS_LAST, record_datetime64  # checked per record in Python
from prodml._params import Constraint, Predicate
from prodml._quote import short_repr
from prodml.errors import SchemaError, SchemaProblem
from prodml.features._base import TIME, Encoder, Floats, Step

__all__ = ["PARTS", "DateParts", "record_time"]

_NS = 1_000_000_000
_EPOCH = _dt.datetime(1970, 1, 1)

_RECORD_PARTS: dict[str, Callable[[_dt.datetime], int]] = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "dayofweek": lambda d: d.weekday(),
    "dayofyear": lambda d: d.timetuple().tm_yday,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
    "is_weekend": lambda d: int(d.weekday() >= 5),
}
PARTS = tuple(_RECORD_PARTS)
_PART_CODE = {
    "year": "v.year",
    "month": "v.month",
    "day": "v.day",
    "dayofweek": "v.weekday()",
    "dayofyear": "v.timetuple().tm_yday",
    "hour": "v.hour",
    "minute": "v.minute",
    "second": "v.second",
    "is_weekend": "v.weekday() >= 5",
}


def _batch_part(part: str, ts: np.ndarray) -> np.ndarray:
    ns = ts.astype("datetime64[ns]").view(np.int64)
    sec = ns // _NS
    days = sec // 86_400
    if part == "hour":
        return (sec // 3600) % 24
    if part == "minute":
        return (sec // 60) % 60
    if part == "second":
        return sec % 60
    if part == "dayofweek":
        return (days + 3) % 7
    if part == "is_weekend":
        return ((days + 3) % 7 >= 5).astype(np.int64)
    months = ts.astype("datetime64[M]")
    if part == "year":
        return months.view(np.int64) // 12 + 1970
    if part == "month":
        return months.view(np.int64) % 12 + 1
    if part == "day":
        return days - months.astype("datetime64[D]").view(np.int64) + 1
    years = ts.astype("datetime64[Y]")
    return days - years.astype("datetime64[D]").view(np.int64) + 1  # dayofyear


def _parts_ok(value: object) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and len(set(value)) == len(value)
        and all(p in _RECORD_PARTS for p in value)
    )


class DateParts(Step):
    """Calendar parts of a datetime column, in wall-clock time of its zone.

    Parameters
    ----------
    columns
        Datetime columns.
    parts
        Any of ``year, month, day, dayofweek (Monday=0), dayofyear, hour, minute,
        second, is_weekend``; outputs are named ``col.part``.
    """

    accepts: ClassVar[frozenset[str]] = frozenset({TIME})
    terminal = True

    def __init__(
        self, columns: Sequence[str], *, parts: Sequence[str] = ("hour", "dayofweek", "month")
    ) -> None:
        self.columns = columns
        self.parts = parts

    def _constraints(self) -> dict[str, list[Constraint]]:
        return {
            "parts": [
                Predicate(_parts_ok, f"a non-empty list of distinct parts among {list(PARTS)}")
            ]
        }

    def names_out(self, column: str) -> list[str]:
        """``col.part`` for each part."""
        return [f"{column}.{p}" for p in self.parts]

    def write_batch(self, column: str, values: Any, out: Floats, kind: str) -> None:
        """Compute the parts of a batch."""
        for j, part in enumerate(self.parts):
            out[:, j] = _batch_part(part, values)

    def record_code(
        self, column: str, kind: str, ns: dict[str, Any], key: str, *, offset: int = 0
    ) -> list[str] | None:
        """Inline attribute reads."""
        return [f"row[{offset + j}] = {_PART_CODE[p]}" for j, p in enumerate(self.parts)]

    def record_encoder(self, column: str, offset: int, kind: str) -> Encoder:
        """Compute the parts of a value into the row."""
        fns = [(offset + j, _RECORD_PARTS[p]) for j, p in enumerate(self.parts)]

        def enc(v: Any, row: Floats) -> None:
            for j, f in fns:
                row[j] = f(v)

        return enc


def record_time(value: object, column: str) -> _dt.datetime | None:
    """A record value as a wall-clock datetime (None for nulls), as the batch path reads it.

    Raises
    ------
    SchemaError
        For strings and other non-datetime values, and datetimes outside
        1677-09-21 .. 2262-04-11 (as the batch path).
    """
    if isinstance(value, _dt.datetime):
        if value != value:  # noqa: PLR0124 - pd.NaT is a datetime != itself
            return None
        wall = value.replace(tzinfo=None) if value.tzinfo is not None else value
        if not NS_FIRST <= wall <= NS_LAST:
            record_datetime64(wall, column)  # raises: the batch path computes in ns
        return value
    if value is None:
        return None
    if isinstance(value, _dt.date):
        day = _dt.datetime(value.year, value.month, value.day)
        if not NS_FIRST <= day <= NS_LAST:
            record_datetime64(day, column)  # raises, as above
        return day
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        ns = int(record_datetime64(value, column).view(np.int64))
        return _EPOCH + _dt.timedelta(microseconds=ns // 1000)
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    raise SchemaError(
        problems=[
            SchemaProblem(
                column, "type", f"expected datetime, got {type(value).__name__} {short_repr(value)}"
            )
        ]
    )
