"""The brute-force reference reads naive local times at clock changes exactly as stated.

docs/store.md: a local time that occurs twice (clocks going back) is the later instant;
one that never occurs (clocks going forward) is read at the offset before the change.
The reference raised on both (pandas' ``tz_localize`` refuses them by default), so no
property test could put a naive source time near a clock change. Checked here on fixed
instants in zones with one-hour, half-hour and southern-hemisphere changes, then against
the DuckDB and PostgreSQL stores on random times around the changes.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.store import Entity, FeatureStore, FeatureView, Source
from prodml.testing.store import brute_force_historical, rows_equal
from prodml.testing.store._reference import _micros

UTC = timezone.utc


def _us(d: datetime) -> int:
    return (d - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("zone", "local", "utc"),
    [
        # New York, back: 01:30 happens twice, EDT then EST: the later is 06:30 UTC.
        ("America/New_York", datetime(2024, 11, 3, 1, 30), datetime(2024, 11, 3, 6, 30)),
        # New York, forward: 02:30 never happens: at EST's offset, 07:30 UTC.
        ("America/New_York", datetime(2024, 3, 10, 2, 30), datetime(2024, 3, 10, 7, 30)),
        ("America/New_York", datetime(2024, 3, 10, 1, 59, 59), datetime(2024, 3, 10, 6, 59, 59)),
        # Lord Howe moves by half an hour: 01:45 twice on 2024-04-07 (+11 then +10:30).
        ("Australia/Lord_Howe", datetime(2024, 4, 7, 1, 45), datetime(2024, 4, 6, 15, 15)),
        # ... and 02:15 never on 2024-10-06 (+10:30 before the change).
        ("Australia/Lord_Howe", datetime(2024, 10, 6, 2, 15), datetime(2024, 10, 5, 15, 45)),
        # Sydney goes back in April: 02:30 twice, the later at +10.
        ("Australia/Sydney", datetime(2024, 4, 7, 2, 30), datetime(2024, 4, 6, 16, 30)),
        ("Europe/London", datetime(2024, 10, 27, 1, 0), datetime(2024, 10, 27, 1, 0)),
        ("Europe/London", datetime(2024, 3, 31, 1, 0, 0, 1), datetime(2024, 3, 31, 1, 0, 0, 1)),
    ],
)
def test_reference_reads_repeated_and_skipped_local_times_by_the_rule(
    zone: str, local: datetime, utc: datetime
) -> None:
    assert _micros(pd.Series([local]), zone) == [_us(utc.replace(tzinfo=UTC))]


def test_reference_floors_nanoseconds_of_local_times() -> None:
    s = pd.Series(pd.to_datetime(["2024-11-03 01:30:00.000000999", "1969-12-31 23:59:59.9999995"]))
    assert _micros(s, "America/New_York") == [
        _us(datetime(2024, 11, 3, 6, 30, tzinfo=UTC)),
        _us(datetime(1970, 1, 1, 4, 59, 59, 999999, tzinfo=UTC)),
    ]


# Naive local times within three hours of a clock change, in minutes of 15.
CHANGES = {
    "America/New_York": [datetime(2024, 11, 3, 1, 30), datetime(2024, 3, 10, 2, 30)],
    "Australia/Lord_Howe": [datetime(2024, 4, 7, 1, 45), datetime(2024, 10, 6, 2, 15)],
}
_n = itertools.count()


@st.composite
def _local_rows(draw: st.DrawFn, zone: str) -> list[tuple[int, datetime, float]]:
    centers = CHANGES[zone]
    n = draw(st.integers(1, 10))
    rows = []
    for i in range(n):
        center = draw(st.sampled_from(centers))
        minutes = draw(st.integers(-12, 12)) * 15
        rows.append((draw(st.integers(1, 3)), center + timedelta(minutes=minutes), float(i)))
    return rows


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_stores_agree_with_the_reference_around_clock_changes(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("postgres_url") if backend == "postgres" else f"duckdb://{tmp_path}"
    )
    fs = FeatureStore(url, "sqlite:///:memory:")

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data(), zone=st.sampled_from(sorted(CHANGES)))
    def check(data: st.DataObject, zone: str) -> None:
        rows = data.draw(_local_rows(zone))
        n = next(_n)
        table = pa.table(
            {
                "k": pa.array([r[0] for r in rows], pa.int64()),
                "at": pa.array([r[1] for r in rows], pa.timestamp("us")),
                "v": [r[2] for r in rows],
            }
        )
        src = fs.offline_store.write_source(f"dst{n}", table, timestamp="at")
        src = Source(**{**src.model_dump(), "timezone": zone})
        ent = Entity("e", keys=["k"])
        view = FeatureView(
            f"dst{n}", entity=ent, source=src, features=["v"], ttl=timedelta(minutes=90)
        )
        fs.apply([ent, view])
        # Entity times on every 15 minutes (and a microsecond before) around the changes.
        base = [_us(c.replace(tzinfo=UTC)) for c in CHANGES[zone]]
        times = [
            b + m * 60_000_000 - d
            for b in base
            for m in range(-18 * 60, 18 * 60, 15)
            for d in (0, 1)
        ]
        df = pd.DataFrame(
            {
                "k": [1 + i % 3 for i in range(len(times))],
                "event_timestamp": pd.to_datetime(times, unit="us", utc=True),
            }
        )
        got = fs.historical(df, [f"dst{n}:v"]).to_pandas()
        want = brute_force_historical(df, [(view, table)])
        for i, w in enumerate(want):
            assert rows_equal({"v": got["v"][i]}, w), (zone, times[i], rows)

    try:
        check()
    finally:
        fs.close()
