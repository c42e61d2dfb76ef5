"""The point-in-time join one microsecond either side of every edge, on every backend.

Source rows sit on a half-hour grid with many ties (same event, same created), late rows
(created after the event, by up to three hours) and created times before their event;
ttls are grid multiples, so ``event == t - ttl`` happens. Entity times are grid points
and one microsecond before and after them, which is where an off-by-one in a ``<`` or a
packed sort key would show. The reference is a plain loop written from docs/store.md:
the rows with event <= t and created <= t, the greatest (event, created, position), used
when event >= t - ttl. Then ``online`` after ``materialize(end)`` equals it at ``end``
and one microsecond after, on every online backend.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.store import Entity, FeatureStore, FeatureView

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
STEP = timedelta(minutes=30)
US = timedelta(microseconds=1)
_n = itertools.count()


def reference(
    rows: list[tuple[int, datetime, datetime, float]], ttl: timedelta | None, key: int, t: datetime
) -> float | None:
    best: tuple[datetime, datetime, int] | None = None
    value = None
    for pos, (k, e, c, v) in enumerate(rows):
        if k != key or e > t or c > t:
            continue
        if best is None or (e, c, pos) > best:
            best, value = (e, c, pos), v
    if best is None or (ttl is not None and best[0] < t - ttl):
        return None
    return value


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[tuple[int, datetime, datetime, float]], Any]:
    n = draw(st.integers(1, 16))
    rows = []
    for i in range(n):
        e = T0 + draw(st.integers(0, 8)) * STEP
        lag = draw(st.sampled_from([0, 0, 0, 1, 2, 6, -1]))
        rows.append((draw(st.integers(1, 3)), e, e + lag * STEP, float(i)))
    ttl = draw(st.sampled_from([None, STEP, 2 * STEP, 4 * STEP]))
    return rows, ttl


def _table(rows: list[tuple[int, datetime, datetime, float]]) -> pa.Table:
    return pa.table(
        {
            "k": pa.array([r[0] for r in rows], pa.int64()),
            "e": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "c": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "v": [r[3] for r in rows],
        }
    )


SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _apply(fs: FeatureStore, rows: list[Any], ttl: timedelta | None) -> str:
    n = next(_n)
    src = fs.offline_store.write_source(f"edge{n}", _table(rows), timestamp="e", created="c")
    ent = Entity("k", keys=["k"])
    fs.apply([ent, FeatureView(f"edge{n}", entity=ent, source=src, features=["v"], ttl=ttl)])
    return f"edge{n}"


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_historical_one_microsecond_around_every_edge(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("postgres_url") if backend == "postgres" else f"duckdb://{tmp_path}"
    )
    fs = FeatureStore(url, "sqlite:///:memory:")
    times = [T0 + s * STEP + d * US for s in range(-1, 16) for d in (-1, 0, 1)]

    @SETTINGS
    @given(case=cases())
    def check(case: tuple[list[Any], timedelta | None]) -> None:
        rows, ttl = case
        view = _apply(fs, rows, ttl)
        df = pd.DataFrame(
            {
                "k": [k for k in (1, 2, 3, 4) for _ in times],
                "event_timestamp": pd.Series(times * 4).astype("datetime64[us, UTC]"),
            }
        )
        got = fs.historical(df, [f"{view}:v"]).to_pandas()["v"]
        want = [reference(rows, ttl, k, t) for k in (1, 2, 3, 4) for t in times]
        bad = [
            (df["k"][i], df["event_timestamp"][i], got[i], w)
            for i, w in enumerate(want)
            if not ((w is None and pd.isna(got[i])) or got[i] == w)
        ]
        assert bad == [], (rows, ttl, bad[:3])

    try:
        check()
    finally:
        fs.close()


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


def test_online_after_materialize_at_the_edges(tmp_path: Path, online_url: str) -> None:
    fs = FeatureStore(f"duckdb://{tmp_path}", online_url)

    @settings(SETTINGS, max_examples=10)
    @given(case=cases(), end_step=st.integers(0, 12), split=st.integers(0, 12))
    def check(case: tuple[list[Any], timedelta | None], end_step: int, split: int) -> None:
        rows, ttl = case
        view = _apply(fs, rows, ttl)
        end = T0 + end_step * STEP
        # In two runs when the split is earlier: the second continues from the watermark.
        if split < end_step:
            fs.materialize(T0 + split * STEP, views=[view])
        fs.materialize(end, views=[view])
        for at in (end, end + US):
            got = fs.online([{"k": k} for k in (1, 2, 3, 4)], [f"{view}:v"], at=at)
            # The value at ``end`` (the last materialized), its ttl checked at ``at``.
            want = []
            for k in (1, 2, 3, 4):
                best = reference(rows, None, k, end)  # values are distinct: they name the row
                event = None if best is None else rows[int(best)][1]
                fresh = event is not None and (ttl is None or event >= at - ttl)
                want.append(best if fresh else None)
            assert [r["v"] for r in got] == want, (rows, ttl, end, at)

    try:
        check()
    finally:
        fs.close()
