"""Point-in-time joins against ``pandas.merge_asof``, an independent reference.

Without a created column, docs/store.md's rule (the available row with the greatest
``(event, position)``, used when ``event >= t - ttl``) is what ``merge_asof`` does with
``by=`` the keys, ``direction="backward"``, ``allow_exact_matches=True`` and
``tolerance=ttl`` on the source sorted stably by event time (among equal times it takes
the last row, the last written). The source is appended in several files (ties across
files go to the later file), with second, milli-, micro- and nanosecond time columns, in
any zone, with null keys and null times (never used). Every offline backend.

Then online reads at any time at or after the last materialization equal ``merge_asof``
at that time, as long as nothing became available since (the ttl is counted from the
read time, not from the materialization).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.store import Entity, FeatureStore, FeatureView
from prodml.store.backends import OfflineStore, offline_store_for

T0 = datetime(2024, 10, 27, 0, 30, tzinfo=timezone.utc)  # Europe's clocks go back at 01:00 UTC
STEP = timedelta(minutes=20)
ZONES = ("UTC", "Europe/Paris", "America/Sao_Paulo", "Asia/Kathmandu")
UNITS = ("s", "ms", "us", "ns")
_counter = iter(range(10**9))


@st.composite
def cases(draw: Any) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from([-3, 0, 1, 2**62]), min_size=1, max_size=3, unique=True))
    files = []
    n = 0
    for _ in range(draw(st.integers(1, 3))):
        rows = []
        for _ in range(draw(st.integers(0, 6))):
            rows.append(
                {
                    "k": draw(st.sampled_from([*keys, None])),
                    "step": draw(st.one_of(st.integers(0, 6), st.none())),
                    # a fraction of a step: same step, different instants (and equal ones)
                    "sub": draw(st.sampled_from([0, 0, 1, 59])),
                    "x": float(n),
                }
            )
            n += 1
        files.append(
            {
                "rows": rows,
                "unit": draw(st.sampled_from(UNITS)),
                "zone": draw(st.sampled_from(ZONES)),
            }
        )
    ttl = draw(st.sampled_from([None, STEP, 2 * STEP, STEP + timedelta(seconds=59)]))
    entity = [
        {
            "k": draw(st.sampled_from([*keys, 7])),
            "step": draw(st.integers(-1, 8)),
            "sub": draw(st.sampled_from([0, 0, 1, 59])),
        }
        for _ in range(draw(st.integers(1, 8)))
    ]
    return {"files": files, "ttl": ttl, "entity": entity}


def _instant(step: int, sub: int) -> datetime:
    return T0 + step * STEP + timedelta(seconds=sub)


def _file(spec: dict[str, Any]) -> pa.Table:
    rows = spec["rows"]
    ts = pa.timestamp(spec["unit"], tz=spec["zone"])
    times = [None if r["step"] is None else _instant(r["step"], r["sub"]) for r in rows]
    return pa.table(
        {
            "k": pa.array([r["k"] for r in rows], pa.int64()),
            "event_at": pa.array(times, ts),
            "x": pa.array([r["x"] for r in rows], pa.float64()),
        }
    )


def expected(case: dict[str, Any], times: list[datetime]) -> list[float | None]:
    """``merge_asof`` of the entity rows (at ``times``) with every file, in write order."""
    src = pa.concat_tables(
        [
            _file(f).cast(
                pa.schema(
                    [
                        ("k", pa.int64()),
                        ("event_at", pa.timestamp("us", "UTC")),
                        ("x", pa.float64()),
                    ]
                )
            )
            for f in case["files"]
        ]
    ).to_pandas()
    src = src.dropna(subset=["k", "event_at"]).astype({"k": "int64"})
    src = src.sort_values("event_at", kind="stable")
    left = pd.DataFrame(
        {
            "k": pd.Series([r["k"] for r in case["entity"]], dtype="int64"),
            "t": pd.Series(times, dtype="datetime64[us, UTC]"),
            "row": np.arange(len(times)),
        }
    ).sort_values("t", kind="stable")
    out = pd.merge_asof(
        left,
        src.rename(columns={"event_at": "t"}),
        on="t",
        by="k",
        direction="backward",
        allow_exact_matches=True,
        tolerance=case["ttl"],
    ).sort_values("row")
    return [None if pd.isna(v) else float(v) for v in out["x"]]


def apply_case(store: FeatureStore, case: dict[str, Any]) -> FeatureView:
    name = f"v{next(_counter)}"
    src = None
    for f in case["files"]:
        src = store.offline_store.write_source(name, _file(f), timestamp="event_at")
    assert src is not None
    entity = Entity(f"e{next(_counter)}", keys=["k"])
    view = FeatureView(name, entity=entity, source=src, features=["x"], ttl=case["ttl"])
    store.apply([entity, view])
    return view


def historical(
    store: FeatureStore, view: FeatureView, case: dict[str, Any], times: list[datetime]
) -> list[float | None]:
    df = pd.DataFrame(
        {
            "k": pd.Series([r["k"] for r in case["entity"]], dtype="int64"),
            "event_timestamp": pd.Series(times, dtype="datetime64[us, UTC]"),
        }
    )
    got = store.historical(df, view.refs()).to_pandas()["x"]
    return [None if pd.isna(v) else float(v) for v in got]


SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(params=["numpy", "duckdb", "postgres"])
def offline(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OfflineStore]:
    if request.param == "postgres":
        store = offline_store_for(request.getfixturevalue("postgres_url"))
    else:
        store = offline_store_for(f"duckdb://{tmp_path}", engine=request.param)
    yield store
    store.close()


def test_historical_equals_merge_asof(offline: OfflineStore) -> None:
    store = FeatureStore(offline, "sqlite:///:memory:")

    @SETTINGS
    @given(case=cases())
    def check(case: dict[str, Any]) -> None:
        view = apply_case(store, case)
        times = [_instant(r["step"], r["sub"]) for r in case["entity"]]
        assert historical(store, view, case, times) == expected(case, times)

    try:
        check()
    finally:
        store.online_store.close()


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/online.db"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def test_online_after_the_last_run_equals_merge_asof_at_the_read_time(
    online_url: str, tmp_path: Path
) -> None:
    store = FeatureStore(f"duckdb://{tmp_path}/off", online_url)

    @SETTINGS
    @given(
        case=cases(),
        end=st.integers(-1, 8),
        later=st.sampled_from([0, 1, 20, 59, 60, 61, 119, 120, 121, 3600]),
    )
    def check(case: dict[str, Any], end: int, later: int) -> None:
        view = apply_case(store, case)
        last = T0 + end * STEP
        # nothing becomes available after `last` when it is at or after every row
        if any(
            r["step"] is not None and _instant(r["step"], r["sub"]) > last
            for f in case["files"]
            for r in f["rows"]
        ):
            last = T0 + 7 * STEP
        store.materialize(last, views=[view.name])
        at = last + timedelta(seconds=later)
        keys = list(dict.fromkeys(r["k"] for r in case["entity"]))
        one = {"files": case["files"], "ttl": case["ttl"], "entity": [{"k": k} for k in keys]}
        want = expected(one, [at] * len(keys))
        got = store.online([{"k": k} for k in keys], view.refs(), at=at)
        assert [row["x"] for row in got] == want

    try:
        check()
    finally:
        store.close()
