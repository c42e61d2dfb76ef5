"""The brute-force point-in-time join: the definition the stores are tested against.

Written for obviousness, not speed: for every entity row and view, scan every source
row. Used by the conformance suites, the property tests and the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from prodml.store import FeatureView

__all__ = ["brute_force_historical", "rows_equal"]


def _us(value: Any, zone: str | None) -> int | None:
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        if zone is None:
            raise ValueError("naive timestamp without a source time zone")
        ts = ts.tz_localize(zone)
    return int(ts.tz_convert("UTC").value // 1000)


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
        rows = source.to_pylist() if isinstance(source, pa.Table) else source.to_dict("records")
        src = view.source
        ttl = None if view.ttl is None else int(view.ttl / pd.Timedelta(microseconds=1))
        prepared = []
        for pos, r in enumerate(rows):
            e = _us(r[src.timestamp], src.timezone)
            if e is None:
                continue
            c = _us(r[src.created], src.timezone) if src.created else None
            c = e if c is None else c
            prepared.append((tuple(r[k] for k in view.entity.keys), e, c, pos, r))
        for i, ent in enumerate(entity_df.to_dict("records")):
            t = _us(ent[timestamp], None) or 0
            key = tuple(ent[k] for k in view.entity.keys)
            best = None
            for k, e, c, pos, r in prepared:
                if k != key or e > t or c > t or (ttl is not None and e < t - ttl):
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
    nx = x is None or (isinstance(x, float) and x != x) or x is pd.NaT
    ny = y is None or (isinstance(y, float) and y != y) or y is pd.NaT
    if nx or ny:
        return nx and ny
    return bool(x == y)

