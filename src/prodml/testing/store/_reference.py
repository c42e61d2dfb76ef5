"""The brute-force point-in-time join: the definition the stores are tested against.

Written for obviousness, not speed: for every entity row and view, scan every source
row. Used by the conformance suites, the property tests and the benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from prodml.store import FeatureView

__all__ = ["brute_force_historical", "rows_equal"]


_EPOCH = pd.Timestamp(0, tz="UTC")
_NAIVE_EPOCH = pd.Timestamp(0)
_WALL_EPOCH = datetime(1970, 1, 1)
_US = pd.Timedelta(microseconds=1)


def _micros(values: pd.Series, zone: str | None) -> list[int | None]:
    """UTC microseconds of a column of timestamps (naive ones read in ``zone``).

    Floored to the microsecond. A naive time is read by the store's rule for clock
    changes (see :func:`_local_us`), exactly, one value at a time.
    """
    if len(values) == 0:
        return []
    s = pd.to_datetime(values)
    if s.dt.tz is not None:
        us = (s.dt.tz_convert("UTC") - _EPOCH) // _US
        return [None if pd.isna(v) else int(v) for v in us]
    if zone is None:
        raise ValueError("naive timestamps without a source time zone")
    tz = ZoneInfo(zone)
    wall = (s - _NAIVE_EPOCH) // _US
    return [None if pd.isna(w) else _local_us(int(w), tz) for w in wall]


def _local_us(wall_us: int, zone: ZoneInfo) -> int:
    """The UTC microseconds of the wall-clock time ``wall_us`` in ``zone``.

    A wall time that occurs twice (clocks going back) is the later instant; one that
    never occurs (clocks going forward) is read at the offset before the change, as
    ``docs/store.md`` states and DuckDB and PostgreSQL do.
    """
    naive = _WALL_EPOCH + timedelta(microseconds=wall_us)
    earlier = naive.replace(tzinfo=zone, fold=0)  # in a gap: the offset before it
    later = naive.replace(tzinfo=zone, fold=1)  # when repeated: the second time
    offset = earlier.utcoffset() or timedelta(0)  # never None: a ZoneInfo answers
    if later.utcoffset() != offset:
        back = later.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None)
        if back == naive:  # ``later`` exists: a repeated wall time
            offset = later.utcoffset() or timedelta(0)
    return wall_us - offset // timedelta(microseconds=1)


def brute_force_historical(
    entity_df: pd.DataFrame,
    views: Sequence[tuple[FeatureView, pa.Table | pd.DataFrame]],
    *,
    timestamp: str = "event_timestamp",
) -> list[dict[str, Any]]:
    """For each entity row, each view's features by the point-in-time rules.

    Parameters
    ----------
    entity_df
        Key columns and an aware ``timestamp`` column.
    views
        Each view with its source rows **in source order** (the tie-break position).

    Returns
    -------
    list of dict
        Per entity row, feature name -> value (``None`` when there is none).
    """
    out: list[dict[str, Any]] = [{} for _ in range(len(entity_df))]
    for view, source in views:
        frame = source.to_pandas() if isinstance(source, pa.Table) else source
        rows = frame.to_dict("records")
        src = view.source
        events = _micros(frame[src.timestamp], src.timezone)
        created = _micros(frame[src.created], src.timezone) if src.created else events
        ttl = None if view.ttl is None else int(view.ttl / pd.Timedelta(microseconds=1))
        by_key: dict[tuple[Any, ...], list[Any]] = {}
        for pos, r in enumerate(rows):
            e, c = events[pos], created[pos]
            if e is None:
                continue
            c = e if c is None else c
            key = tuple(r[k] for k in view.entity.keys)
            by_key.setdefault(key, []).append((e, c, pos, r))
        times = _micros(entity_df[timestamp], None)
        for i, ent in enumerate(entity_df.to_dict("records")):
            t = times[i]
            if t is None:  # no time, no value
                out[i].update(dict.fromkeys(view.features))
                continue
            key = tuple(ent[k] for k in view.entity.keys)
            best = None
            # Rows of other entities can never match: scanning only this entity's rows is
            # the same definition, fast enough for the benchmark's million rows.
            for e, c, pos, r in by_key.get(key, ()):
                if e > t or c > t or (ttl is not None and e < t - ttl):
                    continue
                if best is None or (e, c, pos) > best[0]:
                    best = ((e, c, pos), r)
            for f in view.features:
                out[i][f] = None if best is None else _plain(best[1][f])
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, datetime):
        return pd.Timestamp(v).tz_convert("UTC") if v.tzinfo else pd.Timestamp(v)
    return v


def rows_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two rows of feature values are equal, NaN equal to NaN and to None."""
    if a.keys() != b.keys():
        return False
    return all(_same(a[k], b[k]) for k in a)


def _same(x: Any, y: Any) -> bool:
    nx = x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x))
    ny = y is None or y is pd.NaT or (isinstance(y, float) and math.isnan(y))
    if nx or ny:
        return nx and ny
    return bool(x == y)
