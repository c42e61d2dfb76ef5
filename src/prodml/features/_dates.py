"""DateParts: calendar parts of datetime columns, read in the zone the column was fitted in.

A column fitted with a time zone (``pipe.input_schema[col].timezone``) is read in that
zone by both paths, through one function, :func:`wall_clock`: an aware value gives the
wall-clock time of its instant in that zone (the same instant gives the same parts, as
pandas' ``tz_convert`` gives them); a naive value (a naive datetime, a date, a
``numpy.datetime64``) is refused, as ``Schema.validate`` refuses it. A column fitted
naive reads each value's own wall-clock time. :func:`batch_times` is the batch reader,
:func:`record_time` and :func:`record_in_zone` the record path's.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NoReturn

import numpy as np
import pandas as pd

from prodml._data import (  # checked per record in Python
    NS_FIRST,
    NS_LAST,
    Columns,
    as_ns,
    record_datetime64,
)
from prodml._params import Constraint, Predicate
from prodml._quote import short_repr
from prodml._zones import (
    all_null,
    canonical_zone,
    same_zone,
    timezone_of,
    value_in_zone,
    zone_name,
    zone_problem,
    zone_tzinfo,
)
from prodml.errors import SchemaError, SchemaProblem
from prodml.features._base import TIME, Encoder, Floats, Step

__all__ = [
    "PARTS",
    "DateParts",
    "batch_times",
    "record_in_zone",
    "record_time",
    "shift_days",
    "wall_clock",
]

_NS = 1_000_000_000
_EPOCH = _dt.datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=_dt.timezone.utc)

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
    """Calendar parts of a datetime column, in wall-clock time of the zone it was fitted in.

    The zone is the one the pipeline's input schema records for the column at fit
    (``pipe.input_schema[col].timezone``). Batches and records give the parts of that
    zone's wall-clock time at each value's instant: aware values in another zone (a UTC
    column, a record with another ``tzinfo``, an Arrow ``timestamp[us, tz=...]`` column)
    are converted to it, so one instant gives the same parts whatever zone it arrives in,
    and a value naming a wall time the zone skipped moves as pandas moves it. Naive
    values (naive datetimes, dates, ``numpy.datetime64``, naive columns) are refused
    with a ``SchemaError``: localize them first. A column fitted naive reads each value's
    own wall-clock time.

    Parameters
    ----------
    columns
        Datetime columns.
    parts
        Any of ``year, month, day, dayofweek (Monday=0), dayofyear, hour, minute,
        second, is_weekend``; outputs are named ``col.part``.

    Examples
    --------
    >>> import pandas as pd
    >>> from prodml.features import FeaturePipeline, steps
    >>> paris = pd.DataFrame(
    ...     {"t": pd.to_datetime(["2024-07-01 09:00"]).tz_localize("Europe/Paris")}
    ... )
    >>> pipe = FeaturePipeline([steps.DateParts(["t"], parts=["hour"])]).fit(paris)
    >>> utc = paris.assign(t=paris["t"].dt.tz_convert("UTC"))  # 07:00 UTC, the same instant
    >>> pipe.transform(utc)
    array([[9.]])
    >>> pipe.transform_record({"t": utc["t"][0]})
    array([9.])
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


_REFUSED = {
    "naive": "expected datetimes in time zone {zone} (the zone the column was fitted in), "
    "got a naive datetime; localize it to the zone it was recorded in (pandas: "
    ".dt.tz_localize(<zone>), then .dt.tz_convert({canonical}))",
    "aware": "expected naive datetimes (the column was fitted naive), got time zone "
    "{zone}; drop the zone (pandas: .dt.tz_localize(None), wall-clock time in that zone; "
    ".dt.tz_convert(...) first to read another), or fit on values in that zone",
    "no rules": "values in another time zone must be converted to the zone the column was "
    "fitted in, {zone}, and no installed tz database holds it; install one (pip install "
    "tzdata), or pass values in that zone",
}
"""Why a column fitted in a zone refuses a value: a naive one (or a date), as pandas
refuses to mix naive and aware values; one in another zone when that zone's rules are
not installed."""


def _refused(why: str, column: str, zone: str, row: int | None = None) -> SchemaError:
    """The ``"type"`` problem of a value the column fitted in ``zone`` cannot read."""
    text = _REFUSED[why].format(zone=short_repr(zone), canonical=short_repr(canonical_zone(zone)))
    return SchemaError(problems=[SchemaProblem(column, "type", text, row)])


@functools.lru_cache(maxsize=64)
def shift_days(zone: str) -> frozenset[int]:
    """Ordinals of the days on which ``zone``'s UTC offset changes (wall-clock dates).

    A value whose fields fall on one of them may name a wall time the zone skipped
    (02:30 on a spring-forward night), which only a conversion of its instant reads as
    pandas does; on every other day the fields of a value in the zone are its
    wall-clock time. Offsets are sampled daily at 00:00 UTC over the datetime64[ns]
    years, and every local date between two samples that differ is kept (once per zone,
    tens of milliseconds; UTC and fixed offsets have none).
    """
    tz = zone_tzinfo(zone)
    if tz is None or isinstance(tz, _dt.timezone):
        return frozenset()
    utc = pd.date_range("1677-09-22", "2262-04-10", freq="D", tz="UTC", unit="s")
    wall = utc.tz_convert(tz).tz_localize(None).asi8  # seconds
    changed = np.flatnonzero(np.diff(wall - utc.asi8))
    days = _EPOCH.toordinal() + np.floor_divide(wall, 86_400)
    return frozenset(d for i in changed.tolist() for d in range(int(days[i]), int(days[i + 1]) + 1))


def _converted(value: _dt.datetime, tz: _dt.tzinfo) -> _dt.datetime | None:
    """An aware value as the same instant in ``tz``; ``None`` beyond Python's years."""
    try:
        if isinstance(value, pd.Timestamp):  # its instant (ns), as a Python datetime in UTC
            # (a Timestamp in a coarser unit beyond ns overflows here: outside anyway)
            value = _EPOCH_UTC + _dt.timedelta(microseconds=value.value // 1000)
        # Through UTC: astimezone to a value's own tzinfo would keep its fields as they are.
        return value.astimezone(_dt.timezone.utc).astimezone(tz)
    except OverflowError:  # an instant before year 1 or after 9999: far outside ns anyway
        return None


def wall_clock(
    value: _dt.datetime, column: str, zone: str, tz: _dt.tzinfo | None, row: int | None = None
) -> _dt.datetime:
    """The wall-clock time in the fitted ``zone`` of an aware value's instant, naive.

    The one conversion of both paths: :func:`record_in_zone` for a record, each value of
    an object column for a batch. The instant is the one Python and pandas read (the
    value's ``utcoffset``, which follows ``fold``): a value in the zone is read as written
    except on the days its offset changes (:func:`shift_days`), where a wall time the
    zone skipped moves as pandas moves it (02:30 with ``fold=0`` in Paris on
    2024-03-31 is 03:30). Beyond Python's years, the value's own wall-clock time, which
    the range checks refuse.

    Raises
    ------
    SchemaError
        For a naive value (after the range check: outside 1677-09-21 .. 2262-04-11 is
        the problem named first, as by the batch path and ``Schema.validate``), or when
        ``zone``'s rules are not installed.
    """
    vz = value.tzinfo
    if vz is None:
        if _outside_ns(value):
            record_datetime64(value, column)  # raises: the range is named first
        raise _refused("naive", column, zone, row)
    # datetime's own toordinal, on a Timestamp too (pandas' is 30 times slower).
    if value_in_zone(zone, vz) and _dt.datetime.toordinal(value) not in shift_days(zone):
        return value.replace(tzinfo=None)
    if tz is None:
        raise _refused("no rules", column, zone, row)
    moved = _converted(value, tz)
    return (value if moved is None else moved).replace(tzinfo=None)


def record_in_zone(
    value: _dt.datetime, column: str, zone: str, tz: _dt.tzinfo | None
) -> _dt.datetime:
    """A record's datetime as naive wall-clock time in the fitted ``zone`` (:func:`wall_clock`).

    Raises
    ------
    SchemaError
        For a naive value, when the wall-clock time is outside 1677-09-21 .. 2262-04-11
        (as the batch path), or when the zone's rules are not installed.
    """
    wall = wall_clock(value, column, zone, tz)
    if _outside_ns(wall):
        record_datetime64(wall, column)  # raises: the batch path computes in ns
    return wall


def _refuse_beyond(value: pd.Timestamp, column: str) -> NoReturn:
    """The range SchemaError for a pandas Timestamp beyond Python's years (its UTC time)."""
    as_ns(np.asarray([value.asm8]), column, rows=False)  # raises: outside ns
    raise AssertionError(column)  # pragma: no cover - as_ns refused it above


def _outside_ns(wall: _dt.datetime) -> bool:
    """Whether ``wall`` is outside 1677-09-21 .. 2262-04-11 (what the batch path holds).

    A pandas Timestamp in a coarser unit may be beyond Python's years (10000-01-01 from
    ``9999-12-31T23:59:59-10:00`` in UTC): comparing it with a datetime raises
    ValueError, so it is outside.
    """
    try:
        return not NS_FIRST <= wall <= NS_LAST
    except (ValueError, OverflowError):
        return True


def batch_times(cols: Columns, name: str, zone: str | None) -> Any:
    """A datetime column as ``datetime64[ns]`` wall-clock time in the fitted ``zone``.

    ``zone=None`` (a column fitted naive) takes naive values only, as
    :meth:`prodml.schema.Schema.validate` does; an aware value has no zone to be converted
    to. Values converted from another zone keep whole seconds, all that any part reads.

    Raises
    ------
    SchemaError
        As :meth:`Columns.datetime64` (the range is checked first); for naive values or
        dates in a zoned column (it has nulls at most), aware values in a column fitted
        naive (a typed column with a zone and a non-null value, or the row of an object
        column's first aware value), a wall-clock time in ``zone`` outside 1677-09-21 ..
        2262-04-11, or when ``zone``'s rules are not installed.
    """
    if zone is None:
        times = cols.datetime64(name)  # the range first
        raw = cols.raw(name)
        aware = _first_aware(raw)
        if aware is not None:
            if aware[1] is not None and _first_naive(raw) is not None:
                raise _mixture(name, None, raw)
            raise _refused("aware", name, aware[0], aware[1])
        return times
    raw = cols.raw(name)
    if isinstance(raw, pd.Series) and raw.dtype == object:
        return _object_times(cols, name, raw, zone)
    found = timezone_of(raw)
    if found is None:  # naive: nulls only pass
        times = cols.datetime64(name)
        valid = np.flatnonzero(~np.isnat(times))
        if valid.size:
            raise _refused("naive", name, zone, int(valid[0]))
        return times
    if same_zone(zone, found):
        return cols.datetime64(name)
    tz = zone_tzinfo(zone)
    instants = cols.datetime64(name, utc=True)
    if tz is None:
        if not np.isnat(instants).all():
            raise _refused("no rules", name, zone)
        return instants
    # Whole seconds: a wall-clock time at the edge of datetime64[ns] cannot overflow.
    # Floored in int64 (as every part floors): numpy's cast to seconds wrapped the first
    # second of the range (1677-09-21 00:12:43 UTC became 2262-04-11 23:47:15).
    ints = instants.view(np.int64)
    floored = np.where(np.isnat(instants), ints, ints // _NS).view("datetime64[s]")
    seconds = pd.DatetimeIndex(floored)
    wall = seconds.tz_localize("UTC").tz_convert(tz).tz_localize(None)
    return as_ns(np.asarray(wall.to_numpy()), name)


def _first_aware(raw: Any) -> tuple[str, int | None] | None:
    """The zone and row of a column's first aware value; ``None`` when every one is naive."""
    if isinstance(raw, pd.Series) and raw.dtype == object:
        for i, v in enumerate(raw.to_numpy(dtype=object)):
            if isinstance(v, _dt.datetime) and v.tzinfo is not None and v == v:  # noqa: PLR0124 - NaT
                return zone_name(v.tzinfo), i
        return None
    found = timezone_of(raw)
    if found is None or all_null(raw):
        return None
    return found, None


def _object_times(cols: Columns, name: str, raw: pd.Series, zone: str) -> Any:
    """Python values, each read by :func:`record_time` as a record's is (nulls as NaT)."""
    values = raw.to_numpy(dtype=object)
    tz = zone_tzinfo(zone)
    out = np.empty(len(values), dtype=object)
    naive: int | None = None
    for i, v in enumerate(values):
        aware = isinstance(v, _dt.datetime) and v.tzinfo is not None
        if aware and v == v:  # noqa: PLR0124 - pd.NaT is a datetime != itself
            out[i] = wall_clock(v, name, zone, tz, i)
            continue
        if naive is None and isinstance(v, _dt.date | np.datetime64) and v == v:  # noqa: PLR0124 - NaT
            naive = i  # refused below, once the range is checked (named first, as validate)
        out[i] = v  # nulls, and values Columns.datetime64 refuses (it names them)
    times = Columns(pd.DataFrame({name: pd.Series(out, dtype=object)})).datetime64(name)
    if naive is not None:
        if _first_aware(raw) is not None:
            raise _mixture(name, zone, raw)
        raise _refused("naive", name, zone, naive)
    return times


def _first_naive(raw: pd.Series) -> int | None:
    """The row of an object column's first naive value (a date or datetime64 too)."""
    for i, v in enumerate(raw.to_numpy(dtype=object)):
        naive = isinstance(v, _dt.date | np.datetime64) and getattr(v, "tzinfo", None) is None
        if naive and v == v:  # noqa: PLR0124 - NaT
            return i
    return None


def _mixture(name: str, zone: str | None, raw: pd.Series) -> SchemaError:
    """An object column mixing naive and aware values, refused as ``validate`` words it.

    The problem is the mixture, whichever value comes first: ``Schema.validate`` against
    the pipeline's input schema names it so ("values in several time zones (naive,
    'UTC')"), with the same row, where the batch path named only one side of it.
    """
    problem = zone_problem(name, zone, raw)
    if problem is None:  # pragma: no cover - naive and aware: one of them is not in zone
        raise AssertionError(name)
    return SchemaError(problems=[problem])


def record_time(
    value: object, column: str, zone: str | None = None, tz: _dt.tzinfo | None = None
) -> _dt.datetime | None:
    """A record value as a wall-clock datetime (None for nulls), as the batch path reads it.

    With a fitted ``zone`` (``tz`` its :func:`zone_tzinfo`), a datetime is read by
    :func:`record_in_zone`, and a naive value (a date, a ``numpy.datetime64``) is refused;
    without one, an aware datetime is refused (after the range check).

    Raises
    ------
    SchemaError
        For strings and other non-datetime values, naive values for a column fitted in
        a zone, aware values for a column fitted naive, and datetimes outside
        1677-09-21 .. 2262-04-11 (as the batch path).
    """
    if isinstance(value, _dt.datetime):
        if value != value:  # noqa: PLR0124 - pd.NaT is a datetime != itself
            return None
        if zone is not None:
            return record_in_zone(value, column, zone, tz)
        try:
            wall = value.replace(tzinfo=None) if value.tzinfo is not None else value
        except (ValueError, OverflowError):
            if not isinstance(value, pd.Timestamp):
                raise
            _refuse_beyond(value, column)  # a Timestamp beyond Python's years
        if _outside_ns(wall):
            record_datetime64(wall, column)  # raises: the batch path computes in ns
        if value.tzinfo is not None:  # a column fitted naive: refused, as validate does
            raise _refused("aware", column, zone_name(value.tzinfo))
        return value
    if value is None:
        return None
    # A date or a datetime64 is naive: refused by a column fitted in a zone, after the
    # range check (the problem the batch path and Schema.validate name first).
    if isinstance(value, _dt.date):
        day = _dt.datetime(value.year, value.month, value.day)
        if not NS_FIRST <= day <= NS_LAST:
            record_datetime64(day, column)  # raises, as above
        if zone is not None:
            raise _refused("naive", column, zone)
        return day
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        ns = int(record_datetime64(value, column).view(np.int64))
        if zone is not None:
            raise _refused("naive", column, zone)
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
