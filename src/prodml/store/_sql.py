"""SQL text shared by the DuckDB and PostgreSQL offline stores.

Both read the source through :func:`available_rows`; PostgreSQL then runs this plan (the
DuckDB store has a one-sort variant of it, see :mod:`prodml.store._duckdb`). For one view:

``src``
    The source's rows with ``__e`` (event), ``__c`` (created, or the event time when
    the source has none), ``__a = greatest(__e, __c)`` (the instant the row became
    *available*) and ``__rk``, the row's rank per entity in ``(event, created,
    position)`` order. Rows that can never be used (available after the last entity row,
    or older than the first entity row minus the ttl) are pruned here.
``timeline``
    Per entity and availability instant, the best rank available so far: a running
    maximum of ``__rk`` in ``__a`` order. The value at time ``t`` is the row whose rank
    is the timeline's last entry with ``__a <= t``. A late-arriving old row (small event,
    large created) never displaces a newer one, because the rank orders by event first.
    Without a created column ``__a`` is ``__e``, so the timeline is a plain group-by.
"""

from __future__ import annotations

from typing import Any

from prodml._data_kinds import type_name
from prodml.errors import ConfigError
from prodml.store._definitions import FeatureView
from prodml.store._time import from_micros

__all__ = [
    "available_rows",
    "ident",
    "keys_sql",
    "latest",
    "ranked",
    "source_table",
    "timeline",
    "ts_literal",
    "ttl_interval",
    "window_filter",
]


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def ts_literal(us: int) -> str:
    """A ``TIMESTAMPTZ`` literal of a UTC microsecond count.

    The year has four digits: ``strftime('%Y')`` writes year 1 as ``1``, which
    PostgreSQL reads as 2001 (and refuses ``99``).

    >>> ts_literal(-62135596800000000)
    "TIMESTAMPTZ '0001-01-01 00:00:00.000000+00'"
    """
    text = from_micros(us).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return f"TIMESTAMPTZ '{text}+00'"


def ttl_interval(view: FeatureView) -> str | None:
    """The view's ttl as an SQL interval, or ``None`` for no limit."""
    if view.ttl is None:
        return None
    us = view.ttl.days * 86_400_000_000 + view.ttl.seconds * 1_000_000 + view.ttl.microseconds
    return f"INTERVAL '{us} microseconds'"


def keys_sql(view: FeatureView, alias: str | None = None) -> str:
    """The view's key columns, comma separated, optionally qualified."""
    pre = f"{alias}." if alias else ""
    return ", ".join(pre + ident(k) for k in view.entity.keys)


def _instant(col: str, naive_zone: str | None, *, nanos: bool = False) -> str:
    sql = ident(col)
    if naive_zone is not None:
        zone = naive_zone.replace("'", "''")
        sql = f"({sql} AT TIME ZONE '{zone}')"
    # Nanosecond columns (pandas' usual resolution) are floored to the microsecond, as
    # the in-memory join and entity times are: every time compares in microseconds.
    return f"date_trunc('microseconds', {sql})" if nanos else sql


def available_rows(
    view: FeatureView,
    from_sql: str,
    position: list[str],
    *,
    naive: set[str],
    nanos: frozenset[str] = frozenset(),
    lo_us: int | None = None,
    hi_us: int | None = None,
    features: tuple[str, ...] | None = None,
    where: str | None = None,
) -> str:
    """SELECT of the source's rows with ``__e``, ``__c``, ``__a``, ``__pos*`` and features.

    ``naive`` names the timestamp columns stored without a time zone (read in
    ``Source.timezone``), ``nanos`` those of nanosecond resolution (floored to
    microseconds). Rows with a null event time are skipped; ``hi_us`` drops rows
    available after it, ``lo_us`` rows whose event is older than ``lo_us - ttl``;
    ``where`` is any further condition on the source's columns.
    """
    src = view.source
    zone = src.timezone
    e = _instant(
        src.timestamp, zone if src.timestamp in naive else None, nanos=src.timestamp in nanos
    )
    c = (
        _instant(src.created, zone if src.created in naive else None, nanos=src.created in nanos)
        if src.created
        else e
    )
    feats = features if features is not None else view.features
    cols = [keys_sql(view), f"{e} AS __e", f"coalesce({c}, {e}) AS __c"]
    cols += [f"{p} AS __pos{i}" for i, p in enumerate(position)]
    cols += [ident(f) for f in feats]
    inner = f"SELECT {', '.join(cols)} FROM {from_sql}"
    inner += f" WHERE {where}" if where else ""
    conditions = ["__e IS NOT NULL"]
    if hi_us is not None:
        conditions.append(f"greatest(__e, __c) <= {ts_literal(hi_us)}")
    ttl = ttl_interval(view)
    if lo_us is not None and ttl is not None:
        conditions.append(f"__e >= {ts_literal(lo_us)} - {ttl}")
    outer = ", ".join(f"__pos{i}" for i in range(len(position)))
    feat_cols = "".join(", " + ident(f) for f in feats)
    return (
        f"SELECT {keys_sql(view)}, __e, __c, greatest(__e, __c) AS __a, {outer}{feat_cols} "
        f"FROM ({inner}) AS raw WHERE {' AND '.join(conditions)}"
    )


def ranked(view: FeatureView, rows_sql: str, n_position: int) -> str:
    """``rows_sql`` plus ``__rk``: rank per entity in (event, created, position) order."""
    pos = "".join(f", __pos{i}" for i in range(n_position))
    return (
        f"SELECT *, row_number() OVER (PARTITION BY {keys_sql(view)} "
        f"ORDER BY __e, __c{pos}) AS __rk FROM ({rows_sql}) AS av"
    )


def timeline(view: FeatureView, src: str) -> str:
    """Per entity and availability instant ``__a``, the best rank ``__best`` so far."""
    keys = keys_sql(view)
    if view.source.created is None:
        # __a == __e and ranks follow __e: the best at __a is the last rank at __a.
        return f"SELECT {keys}, __a, max(__rk) AS __best FROM {src} GROUP BY {keys}, __a"
    running = (
        f"SELECT {keys}, __a, max(__rk) OVER (PARTITION BY {keys} ORDER BY __a, __rk "
        f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __best FROM {src}"
    )
    return f"SELECT {keys}, __a, max(__best) AS __best FROM ({running}) AS r GROUP BY {keys}, __a"


def latest(view: FeatureView, rows_sql: str, n_position: int) -> str:
    """Per entity, the greatest (event, created, position) row of ``rows_sql``."""
    pos = "".join(f", __pos{i} DESC" for i in range(n_position))
    feats = "".join(", " + ident(f) for f in view.features)
    return (
        f"SELECT {keys_sql(view)}, __e, __c{feats} FROM (SELECT *, row_number() OVER "
        f"(PARTITION BY {keys_sql(view)} ORDER BY __e DESC, __c DESC{pos}) AS __rn "
        f"FROM ({rows_sql}) AS w) AS best WHERE __rn = 1"
    )


def window_filter(view: FeatureView, rows_sql: str, start_us: int | None, end_us: int) -> str:
    """Rows of ``rows_sql`` available in ``(start, end]`` and within ttl of ``end``."""
    where = [f"__a <= {ts_literal(end_us)}"]
    if start_us is not None:
        where.append(f"__a > {ts_literal(start_us)}")
    ttl = ttl_interval(view)
    if ttl is not None:
        where.append(f"__e >= {ts_literal(end_us)} - {ttl}")
    return f"SELECT * FROM ({rows_sql}) AS a WHERE {' AND '.join(where)}"


def source_table(table: object) -> Any:
    """``write_source``'s table as a pyarrow Table (a pandas DataFrame without its index).

    Raises
    ------
    ConfigError
        For anything else (a Dask frame, a list), naming its type with its module.
    """
    import pandas as pd  # noqa: PLC0415 - pandas is imported by the stores anyway
    import pyarrow as pa  # noqa: PLC0415

    if isinstance(table, pd.DataFrame):
        return pa.Table.from_pandas(table, preserve_index=False)
    if not isinstance(table, pa.Table):
        raise ConfigError(
            f"write_source takes a pyarrow Table or a pandas DataFrame, got {type_name(table)}",
            parameter="table",
        )
    return table
