"""An independent audit of the point-in-time join against a plain-loop reference.

The reference below is written from docs/store.md ("The point-in-time rules") alone,
without prodml.testing.store: for each entity row, scan every source row, keep the
available ones (event <= t and created <= t, no created column: created = event), take
the greatest (event, created, position), and use it only when event >= t - ttl
(inclusive). The hypothesis cases cover what the shipped suite does not: string keys
(object and pandas' Arrow ``str``), composite keys, naive source times read in
``Source(timezone=...)``, second, milli- and nanosecond files, null features in the
chosen row, entity rows before every source row, and duplicated entity rows; on every
offline backend. Then online after materialize equals historical at that time, on every
online backend.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.store import Entity, FeatureStore, FeatureView, Source
from prodml.store.backends import OfflineStore, offline_store_for

T0 = datetime(2024, 3, 10, 4, tzinfo=timezone.utc)  # New York's DST starts 3 h later
STEP = timedelta(minutes=30)
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham")
INTS = (-(2**63), -1, 0, 7, 2**63 - 1)
STRS = ("", "a", "A", "é", "e\u0301", "1", "a b", "\u6771\u4eac", "x" * 70)


# -- the reference ----------------------------------------------------------------------


def _instant(v: Any, zone: str | None) -> datetime | None:
    """An aware UTC datetime (microseconds) from a cell; naive ones read in ``zone``."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if v.tzinfo is None:
        assert zone is not None
        v = v.replace(tzinfo=ZoneInfo(zone))
    return v.astimezone(timezone.utc)


def reference(
    entity_rows: list[dict[str, Any]],
    keys: list[str],
    views: list[tuple[list[dict[str, Any]], list[str], timedelta | None, bool, str | None]],
) -> list[dict[str, Any]]:
    """Per entity row, every view's features: the plain loop the docs describe."""
    out: list[dict[str, Any]] = []
    for ent in entity_rows:
        t = _instant(ent["event_timestamp"], None)
        row: dict[str, Any] = {}
        for source, feats, ttl, has_created, zone in views:
            best: tuple[Any, ...] | None = None
            for pos, r in enumerate(source):
                if any(r[k] != ent[k] for k in keys):
                    continue
                e = _instant(r["event_at"], zone)
                c = _instant(r["created_at"], zone) if has_created else e
                if e is None:
                    continue
                c = e if c is None else c
                assert t is not None
                if e > t or c > t:
                    continue
                if best is None or (e, c, pos) > best[:3]:
                    best = (e, c, pos, r)
            if best is not None and ttl is not None and best[0] < t - ttl:
                best = None
            for f in feats:
                row[f] = None if best is None else best[3][f]
        out.append(row)
    return out


def _same(a: Any, b: Any) -> bool:
    na = a is None or a is pd.NaT or (isinstance(a, float) and math.isnan(a))
    nb = b is None or b is pd.NaT or (isinstance(b, float) and math.isnan(b))
    if na or nb:
        return na and nb
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


# -- the cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewCase:
    rows: list[dict[str, Any]]
    ttl: timedelta | None
    created: bool
    zone: str  # the event column's zone (the created column may differ)
    naive: bool  # stored without a zone, read with Source(timezone=zone)
    unit: str  # of the time columns in the file (pandas writes nanoseconds)


@dataclass(frozen=True)
class Case:
    kind: str
    keys: list[str]
    entity: list[dict[str, Any]]
    entity_zone: str
    views: list[ViewCase]


def _key_values(kind: str) -> st.SearchStrategy[tuple[Any, ...]]:
    if kind == "int":
        return st.tuples(st.sampled_from(INTS))
    if kind in ("str", "arrow_str"):
        return st.tuples(st.sampled_from(STRS))
    return st.tuples(st.sampled_from(INTS[1:4]), st.sampled_from(STRS[:4]))


def _time(step: int, zone: str, naive: bool) -> datetime:
    t = (T0 + step * STEP).astimezone(ZoneInfo(zone))
    return t.replace(tzinfo=None) if naive else t


@st.composite
def cases(draw: Any) -> Case:
    kind = draw(st.sampled_from(["int", "str", "arrow_str", "composite"]))
    keys = ["k"] if kind != "composite" else ["k", "k2"]
    pool = draw(st.lists(_key_values(kind), min_size=1, max_size=3, unique=True))
    views = []
    for _ in range(draw(st.integers(1, 2))):
        naive = draw(st.booleans())
        zone = draw(st.sampled_from(ZONES))
        created = draw(st.booleans())
        czone = zone if naive else draw(st.sampled_from(ZONES))
        rows = []
        for i in range(draw(st.integers(0, 10))):
            step = draw(st.integers(0, 8))
            row: dict[str, Any] = dict(zip(keys, draw(st.sampled_from(pool)), strict=True))
            row["event_at"] = _time(step, zone, naive)
            if created:
                lag = draw(st.sampled_from([0, 0, 1, 3, -1, None]))
                row["created_at"] = None if lag is None else _time(step + lag, czone, naive)
            row["x"] = draw(st.sampled_from([float(i), None]))
            row["s"] = draw(st.sampled_from([f"v{i}", "", None]))
            row["n"] = i
            rows.append(row)
        ttl = draw(st.sampled_from([None, STEP, 2 * STEP, 5 * STEP]))
        unit = draw(st.sampled_from(["us", "ns", "ms"]))
        views.append(ViewCase(rows, ttl, created, zone, naive, unit))
    unknown = draw(_key_values(kind).filter(lambda v: v not in pool))
    ezone = draw(st.sampled_from(ZONES))
    entity = []
    for _ in range(draw(st.integers(1, 8))):
        k = draw(st.sampled_from([*pool, unknown]))
        row = dict(zip(keys, k, strict=True))
        row["event_timestamp"] = _time(draw(st.integers(-2, 10)), ezone, False)
        entity.append(row)
    if draw(st.booleans()):  # a duplicated entity row, somewhere later
        entity.insert(draw(st.integers(0, len(entity))), dict(draw(st.sampled_from(entity))))
    return Case(kind, keys, entity, ezone, views)


def _entity_df(case: Case) -> pd.DataFrame:
    cols: dict[str, Any] = {}
    for k in case.keys:
        values = [r[k] for r in case.entity]
        if isinstance(values[0], int):
            cols[k] = pd.Series(values, dtype="int64")
        elif case.kind == "arrow_str":
            cols[k] = pd.Series(values, dtype="str")
        else:
            cols[k] = pd.Series(values, dtype=object)
    cols["event_timestamp"] = pd.Series(
        [r["event_timestamp"] for r in case.entity], dtype=f"datetime64[us, {case.entity_zone}]"
    )
    return pd.DataFrame(cols)


def _source_table(case: Case, v: ViewCase) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    for k in case.keys:
        is_int = isinstance(case.entity[0][k], int)
        cols[k] = pa.array([r[k] for r in v.rows], pa.int64() if is_int else pa.string())
    ts = pa.timestamp(v.unit, tz=None if v.naive else v.zone)
    cols["event_at"] = pa.array([r["event_at"] for r in v.rows], ts)
    if v.created:
        cols["created_at"] = pa.array([r["created_at"] for r in v.rows], ts)
    cols["x"] = pa.array([r["x"] for r in v.rows], pa.float64())
    cols["s"] = pa.array([r["s"] for r in v.rows], pa.string())
    cols["n"] = pa.array([r["n"] for r in v.rows], pa.int64())
    return pa.table(cols)


_counter = iter(range(10**9))


def run_case(store: FeatureStore, case: Case) -> None:
    entity = Entity(f"e{next(_counter)}", keys=case.keys)
    views = []
    spec = []
    for i, v in enumerate(case.views):
        name = f"v{next(_counter)}_{i}"
        src = store.offline_store.write_source(
            name,
            _source_table(case, v),
            timestamp="event_at",
            created="created_at" if v.created else None,
        )
        if v.naive:
            src = Source(**{**src.model_dump(), "timezone": v.zone})
        feats = [f"x{i}", f"s{i}", f"n{i}"]
        view = FeatureView(name, entity=entity, source=src, features=["x", "s", "n"], ttl=v.ttl)
        views.append(view)
        rows = [{**r, **{f"{c}{i}": r[c] for c in "xsn"}} for r in v.rows]
        spec.append((rows, feats, v.ttl, v.created, v.zone if v.naive else None))
    store.apply([entity, *views])
    df = _entity_df(case)
    refs = [r for view in views for r in view.refs()]
    got = store.historical(df, refs, full_names=True).to_pandas()
    expected = reference(case.entity, case.keys, spec)
    pd.testing.assert_frame_equal(got[list(df.columns)], df)
    assert len(got) == len(expected)
    for i, exp in enumerate(expected):
        for j, view in enumerate(views):
            for c in "xsn":
                a = got[f"{view.name}__{c}"].iloc[i]
                a = None if a is pd.NA else a
                b = exp[f"{c}{j}"]
                assert _same(a if not hasattr(a, "item") else a.item(), b), (
                    f"row {i} view {j} feature {c}: store {a!r} != reference {b!r}"
                )


# -- the backends -----------------------------------------------------------------------


@pytest.fixture(params=["numpy", "duckdb", "postgres"])
def offline(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OfflineStore]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        store = offline_store_for(url)
    else:
        store = offline_store_for(f"duckdb://{tmp_path}", engine=request.param)
    yield store
    store.close()


def test_historical_equals_a_plain_loop(offline: OfflineStore) -> None:
    fs = FeatureStore(offline, "sqlite:///:memory:")

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases())
    def check(case: Case) -> None:
        run_case(fs, case)

    try:
        check()
    finally:
        fs.online_store.close()


# -- online == offline at the materialization time ----------------------------------------


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/online.db"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def check_online(store: FeatureStore, case: Case, m1: int, m2: int) -> None:
    """Materialize up to ``m1`` then ``m2``: online at ``m2`` equals historical at ``m2``."""
    entity = Entity(f"e{next(_counter)}", keys=case.keys)
    views = []
    for i, v in enumerate(case.views):
        name = f"o{next(_counter)}_{i}"
        src = store.offline_store.write_source(
            name,
            _source_table(case, v),
            timestamp="event_at",
            created="created_at" if v.created else None,
        )
        if v.naive:
            src = Source(**{**src.model_dump(), "timezone": v.zone})
        views.append(
            FeatureView(name, entity=entity, source=src, features=["x", "s", "n"], ttl=v.ttl)
        )
    store.apply([entity, *views])
    names = [v.name for v in views]
    end1, end2 = T0 + m1 * STEP, T0 + m2 * STEP
    store.materialize(end1, views=names)
    store.materialize(end2, views=names)
    # Idempotent: the same window again, and everything from the start, write nothing.
    for start in (end1, T0 - 100 * STEP):
        again = store.materialize(end2, start=start, views=names)
        assert [r.written for r in again] == [0] * len(names)
    keys = list(dict.fromkeys(tuple(r[k] for k in case.keys) for r in case.entity))
    lookups = [dict(zip(case.keys, k, strict=True)) for k in keys]
    df = _entity_df(
        Case(case.kind, case.keys, [{**d, "event_timestamp": end2} for d in lookups], "UTC", [])
    )
    for view in views:
        want = store.historical(df, view.refs()).to_pandas()
        got = store.online(lookups, view.refs(), at=end2)
        for i, row in enumerate(got):
            for c in "xsn":
                a, b = row[c], want[c].iloc[i]
                b = None if b is pd.NA else b
                b = b.item() if hasattr(b, "item") else b
                assert _same(a, b), f"{view.name} {lookups[i]} {c}: online {a!r} != offline {b!r}"
            absent = {f"{view.name}:{c}" for c in "xsn" if row[c] is None}
            assert set(row.missing) <= absent


def test_online_equals_historical_at_the_materialization_time(
    online_url: str, tmp_path: Path
) -> None:
    store = FeatureStore(f"duckdb://{tmp_path}/off", online_url)

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases(), m1=st.integers(-1, 10), dm=st.integers(0, 6))
    def check(case: Case, m1: int, dm: int) -> None:
        check_online(store, case, m1, m1 + dm + 1)

    try:
        check()
    finally:
        store.close()


def test_online_equals_historical_with_the_postgres_offline_store(postgres_url: str) -> None:
    store = FeatureStore(postgres_url, "sqlite:///:memory:")

    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases(), m1=st.integers(-1, 10), dm=st.integers(0, 6))
    def check(case: Case, m1: int, dm: int) -> None:
        check_online(store, case, m1, m1 + dm + 1)

    try:
        check()
    finally:
        store.close()
