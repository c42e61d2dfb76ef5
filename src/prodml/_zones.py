"""Time zones of datetime columns: how a column's zone is read and compared (private).

A zone is compared by name, spelled as arrow spells it ('Europe/Paris', 'UTC',
'+05:30'), after two cheap normalisations (:func:`canonical_zone`): every spelling of UTC
is 'UTC', and every spelling of a fixed offset ('+0100', 'UTC+01:00', 'Etc/GMT-1',
datetime.timezone) is '+HH:MM'. The canonical spelling is also the one handed to pandas
and arrow: both misread or refuse some of the others (pandas reads '+0530' as +05:00,
arrow needs a tz database for 'Z', 'utc' and '+0530').
Two other IANA names are the same zone when the installed tz database holds the same
rules for them (a link such as 'US/Eastern' -> 'America/New_York'). A fixed offset is
never the same as a named zone, even one with that offset today: the named zone has
daylight saving time, and date parts read in the two differ for part of the year.

:mod:`prodml.schema` reports the problems (``Column(timezone=)`` is checked by
:func:`zone_error` when declared and enforced by ``Schema.validate``; ``Schema.infer``
refuses an object column in several zones, :func:`mixed_zones_problem`); serving converts
a request's ISO 8601 offset to the declared zone.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import os
import re
import zoneinfo

import numpy as np
import pandas as pd
import pyarrow as pa

from prodml._quote import short_repr
from prodml.errors import SchemaProblem

__all__ = [
    "all_null",
    "canonical_arrow",
    "canonical_zone",
    "chunk_zones_problem",
    "known_zones",
    "mixed_zones_problem",
    "same_zone",
    "timezone_of",
    "tz_rules",
    "unnamed_zone_problem",
    "value_in_zone",
    "zone_error",
    "zone_fits",
    "zone_name",
    "zone_problem",
    "zone_tzinfo",
]

_UTC_NAMES = frozenset(
    {
        "utc", "uct", "z", "gmt", "gmt0", "gmt+0", "gmt-0", "greenwich", "universal", "zulu",
        "etc/utc", "etc/uct", "etc/gmt", "etc/gmt0", "etc/gmt+0", "etc/gmt-0",
        "etc/greenwich", "etc/universal", "etc/zulu",
    }
)  # fmt: skip
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})?")
# ISO 8601's sign after a UTC prefix, as Java's ZoneId (Spark's session zones, which it
# hands arrow) and dateutil read it: 'UTC+05:30' is ahead of UTC. Etc/GMT-N is POSIX's.
# One-digit hours take a colon before minutes ('UTC+5:30'): 'UTC+123' is no offset.
_PREFIXED = (
    re.compile(r"(?:UTC|GMT|UT)([+-])(\d{2}):?(\d{2})?", re.IGNORECASE),
    re.compile(r"(?:UTC|GMT|UT)([+-])(\d)(?::(\d{2}))?", re.IGNORECASE),
)


def _offset_match(name: str) -> re.Match[str] | None:
    """The match of an ISO-signed offset spelling ('+05:30', 'UTC+5'), or ``None``."""
    return _OFFSET.fullmatch(name) or _PREFIXED[0].fullmatch(name) or _PREFIXED[1].fullmatch(name)


_ETC_GMT = re.compile(r"Etc/GMT([+-])(\d{1,2})")
_IANA = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")


def _offset_name(offset: _dt.timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_name(tz: object) -> str:
    """The name of a zone (a tzinfo of any library, or a name), spelled as arrow reads it."""
    if isinstance(tz, str):
        return tz
    if isinstance(tz, _dt.timezone):  # a fixed offset
        return _offset_name(tz.utcoffset(None))
    for attr in ("key", "zone"):  # zoneinfo, pytz
        name = getattr(tz, attr, None)
        if isinstance(name, str):
            return name
    path = getattr(tz, "_filename", None)  # dateutil's tzfile
    if isinstance(path, str) and "zoneinfo/" in path:
        return path.rsplit("zoneinfo/", 1)[1]
    if isinstance(tz, _dt.tzinfo):
        offset = _fixed_offset(tz)
        if offset is not None:  # dateutil's tzutc and tzoffset, pytz's FixedOffset, ...
            return _offset_name(offset)
    return str(tz)  # a rule with no name (dateutil's tzstr('EST5EDT')): no zone_error passes


# Instants a fixed offset must agree at: winter and summer on both hemispheres, then
# and now (a rule whose utcoffset(None) is its standard offset is not a fixed one).
_PROBES = tuple(
    _dt.datetime(year, month, 15, 12) for year in (1990, 2024) for month in (1, 4, 7, 10)
)


def _fixed_offset(tz: _dt.tzinfo) -> _dt.timedelta | None:
    """The offset of a tzinfo that has one offset, in whole minutes; else ``None``."""
    try:
        offset = tz.utcoffset(None)
        if offset is None or offset.total_seconds() % 60:
            return None
        if any(tz.utcoffset(when) != offset for when in _PROBES):
            return None
    except (TypeError, ValueError, AttributeError, OverflowError):  # a tzinfo that needs a dt
        return None
    return offset


def _offset_minutes(name: str) -> int | None:
    """The minutes east of UTC a fixed-offset spelling means (unchecked), else ``None``."""
    m = _offset_match(name)
    if m:
        minutes = int(m[2]) * 60 + int(m[3] or 0)
        return minutes if m[1] == "+" else -minutes
    m = _ETC_GMT.fullmatch(name)
    if m:  # POSIX signs: Etc/GMT-1 is one hour ahead of UTC
        return int(m[2]) * 60 if m[1] == "-" else -int(m[2]) * 60
    return None


@functools.lru_cache(maxsize=1024)
def canonical_zone(name: str) -> str:
    """The one spelling of a zone: 'UTC', '+HH:MM' for a fixed offset, else ``name``.

    Every spelling of UTC ('utc', 'Z', 'GMT0', 'Etc/UTC', '+00:00', '-0000') is 'UTC';
    every spelling of a fixed offset ('+0530', '+05', 'UTC+05:30', 'GMT+5:30',
    'Etc/GMT-5') is '+HH:MM'. IANA names are kept as written. pandas and arrow read the
    canonical spelling as meant, with no tz database for UTC and offsets; both misread or
    refuse some others (pandas reads '+0530' as +05:00; arrow refuses 'Z' and 'utc').

    Examples
    --------
    >>> [canonical_zone(z) for z in ("Z", "-00:00", "+0530", "UTC+5", "Etc/GMT+3")]
    ['UTC', 'UTC', '+05:30', '+05:00', '-03:00']
    >>> canonical_zone("Europe/Paris")
    'Europe/Paris'
    """
    if name.lower() in _UTC_NAMES:
        return "UTC"
    minutes = _offset_minutes(name)
    if minutes is None or not _offset_ok(name):
        return name
    return _offset_name(_dt.timedelta(minutes=minutes))


def zone_tzinfo(zone: str) -> _dt.tzinfo | None:
    """The tzinfo of ``zone`` that values are converted to; ``None`` without its rules.

    UTC and fixed offsets need no tz database (``datetime.timezone``); an IANA name is
    the installed database's ``ZoneInfo``, the object pandas 3 uses for that name, so a
    value in the zone is recognised by identity (see
    :func:`prodml.features._dates.record_in_zone`).
    """
    name = canonical_zone(zone)
    if name == "UTC":
        return _dt.timezone.utc
    minutes = _offset_minutes(name)
    if minutes is not None:
        return _dt.timezone(_dt.timedelta(minutes=minutes))
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def canonical_arrow(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """An arrow timestamp array in its zone's canonical spelling (the same instants).

    arrow reads wall-clock time only in zones it can look up: a column typed
    ``timestamp[us, tz='+0530']`` (or 'Z', 'utc', 'UTC+05:30') cannot be converted to
    pandas or Python as it is, though the zone is a plain offset or UTC. Changing the
    type's zone keeps every instant; anything else is returned as it is.
    """
    t = arr.type
    tz = t.tz if pa.types.is_timestamp(t) else None
    if tz is None or canonical_zone(tz) == tz:
        return arr
    return arr.cast(pa.timestamp(t.unit, tz=canonical_zone(tz)))


def _offset_ok(name: str) -> bool:
    """Whether an offset spelling is in range: under 24 hours (Etc/GMT: 14), minutes < 60."""
    m = _offset_match(name)
    if m:
        return int(m[2]) < 24 and int(m[3] or 0) < 60
    m = _ETC_GMT.fullmatch(name)
    return m is not None and int(m[2]) <= 14


@functools.lru_cache(maxsize=256)
def tz_rules(name: str) -> bytes | None:
    """The TZif data of an IANA zone name in the installed database, or ``None``."""
    if not _IANA.fullmatch(name):  # no path outside the database, whatever the name
        return None
    try:
        zoneinfo.ZoneInfo(name)  # the name is a zone: found by the lookup zoneinfo uses
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None
    for root in zoneinfo.TZPATH:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                return f.read()
    try:  # no system database: the tzdata package that zoneinfo found it in
        import importlib.resources  # noqa: PLC0415 - rarely needed

        package, _, leaf = f"tzdata.zoneinfo/{name}".rpartition("/")
        return importlib.resources.files(package.replace("/", ".")).joinpath(leaf).read_bytes()
    except (ImportError, OSError, ValueError):
        return None


@functools.lru_cache(maxsize=1)
def known_zones() -> dict[str, str]:
    """The installed tz database's zone names, keyed by their lower-case spelling.

    Empty when no database is installed (no system zoneinfo files, no ``tzdata``
    package). Read once: the scan takes ~0.1 s.
    """
    try:
        names = zoneinfo.available_timezones()
    except (OSError, ValueError):  # pragma: no cover - an unreadable TZPATH entry
        names = set()
    return {n.lower(): n for n in sorted(names)}


_ZONE_HELP = "an IANA name ('Europe/Paris'), 'UTC', or a fixed offset ('+01:00', 'Etc/GMT-1')"


@functools.lru_cache(maxsize=256)
def zone_error(name: str) -> str | None:
    """Why ``name`` is not a time zone a column can declare, or ``None`` when it is one.

    Accepted: every spelling of UTC; a fixed offset ``+HH:MM`` (``+HHMM``, ``+HH``, each
    also after ``UTC``, ``GMT`` or ``UT``, where the hour may be one digit) under 24
    hours, or ``Etc/GMT-N`` (N up to 14); a name the installed tz database knows.
    With no database installed, a name shaped like an IANA name ('Area/City') cannot be
    checked and is accepted: refusing it would refuse every saved schema with a zone on
    a minimal container, where UTC and offsets keep working.
    """
    if name.lower() in _UTC_NAMES:
        return None
    if _offset_match(name):
        if _offset_ok(name):
            return None
        return f"time zone {short_repr(name)} is not a valid offset (under +/-24:00)"
    if _ETC_GMT.fullmatch(name) and _offset_ok(name):
        return None
    if tz_rules(name) is not None:
        return None
    known = known_zones()
    if not known and _IANA.fullmatch(name):
        return None  # no database to check the name against (see the docstring)
    close = difflib.get_close_matches(name.lower(), list(known), n=3, cutoff=0.6)
    hint = ""
    if close:
        names = [short_repr(known[c]) for c in close]
        shown = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        hint = f" (did you mean {shown}?)"
    where = "the installed tz database" if known else "a tz database (none is installed)"
    return f"time zone {short_repr(name)} is not in {where}{hint}; expected {_ZONE_HELP}"


@functools.lru_cache(maxsize=1024)
def same_zone(declared: str, found: str) -> bool:
    """Whether values in zone ``found`` read as values in zone ``declared`` do."""
    a, b = canonical_zone(declared), canonical_zone(found)
    if a == b:
        return True
    if _OFFSET.fullmatch(a) or _OFFSET.fullmatch(b) or "UTC" in (a, b):
        return False
    rules = tz_rules(a)
    return rules is not None and rules == tz_rules(b)


def timezone_of(raw: object) -> str | None:
    """The zone of a datetime column as its type holds it (object columns: the first value's)."""
    if not isinstance(raw, pd.Series):
        tz = getattr(raw.type, "tz", None)  # type: ignore[attr-defined]
    elif isinstance(raw.dtype, pd.ArrowDtype):
        tz = getattr(raw.dtype.pyarrow_dtype, "tz", None)
    else:
        tz = getattr(raw.dtype, "tz", None)
        if tz is None and raw.dtype == object:  # Python datetimes: the first one's zone
            valid = np.flatnonzero(raw.notna().to_numpy())
            tz = getattr(raw.iloc[int(valid[0])], "tzinfo", None) if valid.size else None
    return None if tz is None else zone_name(tz)


def _value_zones(raw: pd.Series) -> tuple[list[str | None], list[int | None]]:
    """The distinct zones (``None``: naive) of an object column's values, and first rows."""
    valid = np.flatnonzero(raw.notna().to_numpy())
    # The dtype says nothing, so every value's zone is read: one attribute per value,
    # named once per distinct tzinfo object (ids are stable while ``values`` lives).
    values = raw.to_numpy(dtype=object)[valid]
    named: dict[int, str | None] = {}
    zones: dict[str | None, int | None] = {}
    for i, tz in enumerate([getattr(v, "tzinfo", None) for v in values]):
        name = named.get(id(tz), "") if tz is not None else None
        if name == "":
            name = named[id(tz)] = zone_name(tz)
        if name not in zones:
            zones[name] = int(valid[i])
    return list(zones), list(zones.values())


def zone_fits(declared: str | None, zone: str | None) -> bool:
    """Whether values in ``zone`` (``None``: naive) are in the ``declared`` one."""
    if zone is None or declared is None:
        return zone is None and declared is None
    return same_zone(declared, zone)


@functools.lru_cache(maxsize=1024)
def _tzinfo_fits(declared: str, tz: _dt.tzinfo) -> bool:
    return zone_fits(declared, zone_name(tz))


def value_in_zone(declared: str, tz: object) -> bool:
    """Whether one value's ``tzinfo`` is in the ``declared`` zone (the record fast path).

    Cached per tzinfo object, so a request's check costs a lookup: zoneinfo and pytz
    zones are shared objects, and fixed offsets hash by their offset.
    """
    if tz is None:
        return False
    try:
        return _tzinfo_fits(declared, tz)
    except TypeError:  # an unhashable tzinfo: named every time
        return zone_fits(declared, zone_name(tz))


def zone_problem(name: str, declared: str | None, raw: object) -> SchemaProblem | None:
    """The problem of a datetime column whose values are not in the declared zone.

    Per column where the type holds the zone (pandas and arrow timestamps: naive, or one
    zone for every value); per value in an object column of Python datetimes.
    """
    if isinstance(raw, pd.Series) and raw.dtype == object:
        zones, rows = _value_zones(raw)
    else:
        zones, rows = [timezone_of(raw)], [None]
    wrong = [r for z, r in zip(zones, rows, strict=True) if not zone_fits(declared, z)]
    if not wrong or all_null(raw):  # no value to misread: the type alone is no problem
        return None
    row = wrong[0]  # rows are in order of first appearance
    return SchemaProblem(name, "type", _zone_message(declared, zones), row)


def mixed_zones_problem(name: str, raw: object) -> SchemaProblem | None:
    """The problem of an object column whose values are in several zones (for ``infer``).

    Types that hold the zone (pandas and arrow timestamps) have one; an object column of
    Python datetimes may mix zones, or naive and aware values, and no zone inferred for it
    would pass :func:`zone_problem`. Values are compared with the first value's zone, as
    validating against the zone ``infer`` would record (the first value's) does.
    """
    if not (isinstance(raw, pd.Series) and raw.dtype == object):
        return None
    zones, rows = _value_zones(raw)
    if len(zones) < 2:
        return None
    wrong = [r for z, r in zip(zones, rows, strict=True) if not zone_fits(zones[0], z)]
    if not wrong:  # spellings of one zone ('UTC', 'Etc/UTC', timezone.utc)
        return None
    found = ", ".join("naive" if z is None else short_repr(z) for z in zones)
    return SchemaProblem(
        name,
        "type",
        f"got values in several time zones ({found}), and a datetime column has one; bring "
        "them to one with pd.to_datetime(column, utc=True) (naive values are read as UTC), "
        "then .dt.tz_convert(zone) or .dt.tz_localize(None)",
        wrong[0],
    )


def all_null(raw: object) -> bool:
    if isinstance(raw, pd.Series):
        return not bool(raw.notna().any())
    return isinstance(raw, pa.ChunkedArray | pa.Array) and raw.null_count == len(raw)


def _zone_message(declared: str | None, zones: list[str | None]) -> str:
    want = (
        "naive datetimes (timezone=None)"
        if declared is None
        else f"datetimes in time zone {short_repr(declared)}"
    )
    # The code shown gets the canonical spelling: pandas reads '+0530' as +05:00.
    to = (
        ".dt.tz_localize(None)"
        if declared is None
        else f".dt.tz_convert({short_repr(canonical_zone(declared))})"
    )
    if len(zones) > 1:
        found = ", ".join("naive" if z is None else short_repr(z) for z in zones)
        return (
            f"expected {want}, got values in several time zones ({found}); bring them to one "
            f"with pd.to_datetime(column, utc=True){to} (naive values are read as UTC)"
        )
    (zone,) = zones
    if zone is None:
        return (
            f"expected {want}, got naive datetimes; localize them with "
            f".dt.tz_localize(<zone they were recorded in>){to}"
        )
    if declared is None:
        declare = (
            "" if _unnamed(zone) else f", or declare timezone={short_repr(canonical_zone(zone))}"
        )
        return (
            f"expected {want}, got time zone {short_repr(zone)}; drop the zone with "
            f".dt.tz_localize(None) (wall-clock time in that zone; .dt.tz_convert(...) "
            f"first to read another){declare}"
        )
    return (
        f"expected {want}, got time zone {short_repr(zone)}; convert them with {to} "
        "(same instants, but hours and dates differ between zones)"
    )


def _unnamed(zone: str) -> bool:
    """Whether ``zone`` is the text of a tzinfo with rules but no name (see zone_name)."""
    return not _IANA.fullmatch(zone) and zone_error(zone) is not None


def unnamed_zone_problem(name: str, zone: str | None) -> SchemaProblem | None:
    """The problem of a zone ``infer`` found but no column can declare, or ``None``.

    A tzinfo with daylight saving rules and no IANA name (dateutil's ``tzstr('EST5EDT')``
    or ``tzrange``, a machine's ``tzlocal()`` with DST) has no name to write in a schema,
    and no fixed offset stands for it; neither has a name the tz database does not know
    (an arrow type's zone written by another tool). Fixed offsets without a name
    (``tzoffset(None, 3600)``, ``datetime.timezone(timedelta(hours=1))``) are offsets
    (:func:`zone_name`) and pass.
    """
    if zone is None:
        return None
    why = zone_error(zone)
    if why is None:
        return None
    if not _unnamed(zone):
        return SchemaProblem(name, "type", f"got values in a zone no column can declare: {why}")
    return SchemaProblem(
        name,
        "type",
        f"got values in time zone {short_repr(zone)}, which has daylight saving rules but "
        "no IANA name, and a schema declares a zone by its name (no fixed offset stands "
        "for it); convert them to the IANA zone whose rules they follow, with "
        "pd.to_datetime(column, utc=True).dt.tz_convert('America/New_York') for one, or "
        "keep them in UTC",
    )


def chunk_zones_problem(name: str, first: str | None, then: str | None) -> SchemaProblem:
    zones = ["naive" if z is None else short_repr(z) for z in (first, then)]
    return SchemaProblem(
        name, "type", f"chunks disagree on the time zone: {zones[0]} then {zones[1]}"
    )
