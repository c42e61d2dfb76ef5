"""Values round-trip exactly through every online store, and the write rule holds for
event times beyond 2**53 microseconds (after 2255) and before 1970."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from prodml.store import Entity, FeatureStore, FeatureView
from prodml.store.backends import OnlineRecord, OnlineStore, online_store_for

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
KOLKATA = ZoneInfo("Asia/Kolkata")

# One value per row (entity), so each value is stored and read back on its own.
INTS = [-(2**63), 2**63 - 1, 0, -1, None]
FLOATS = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, None]
STRS = ["", "\u00e9t\u00e9 \U0001f600", "a|b|c", 'q"\\\n\t', "\x00nul", "e\u0301", None]
TIMES = [
    datetime(2024, 6, 1, 12, 30, 0, 123456, tzinfo=KOLKATA),
    datetime(1, 1, 1, tzinfo=timezone.utc),
    datetime(9999, 12, 31, 18, 29, 59, 999999, tzinfo=timezone.utc),  # Kolkata: 23:59
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    None,
]
BOOLS = [True, False, None]


def _column(values: list[Any], n: int) -> list[Any]:
    return [values[i % len(values)] for i in range(n)]


def _source() -> pa.Table:
    n = max(map(len, (INTS, FLOATS, STRS, TIMES, BOOLS)))
    return pa.table(
        {
            "uid": pa.array(range(n), pa.int64()),
            "at": pa.array([T0] * n, pa.timestamp("us", tz="UTC")),
            "i": pa.array(_column(INTS, n), pa.int64()),
            "f": pa.array(_column(FLOATS, n), pa.float64()),
            "s": pa.array(_column(STRS, n), pa.string()),
            "t": pa.array(_column(TIMES, n), pa.timestamp("us", tz="Asia/Kolkata")),
            "b": pa.array(_column(BOOLS, n), pa.bool_()),
        }
    )


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/online.db"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return type(a) is type(b) and a == b


def test_values_round_trip_exactly(online_url: str, tmp_path: Path) -> None:
    source = _source()
    with FeatureStore(f"duckdb://{tmp_path}/off", online_url) as store:
        src = store.offline_store.write_source("vals", source, timestamp="at")
        user = Entity("user", keys=["uid"])
        feats = ["i", "f", "s", "t", "b"]
        store.apply([user, FeatureView("vals", entity=user, source=src, features=feats)])
        store.materialize(T0 + timedelta(days=1))
        ents = [{"uid": u} for u in range(source.num_rows)]
        rows = store.online(ents, [f"vals:{f}" for f in feats], at=T0 + timedelta(days=1))
    expected = source.to_pylist()
    for got, want in zip(rows, expected, strict=True):
        assert got.missing == ()
        for f in feats:
            w = want[f]
            if isinstance(w, datetime):
                w = w.astimezone(timezone.utc)
            assert _same(got[f], w), f"{f}: stored {want[f]!r}, read {got[f]!r}"
        if got["t"] is not None:
            assert got["t"].utcoffset() == timedelta(0)


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def online(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/online.db"
    else:
        url = request.getfixturevalue(f"{request.param}_url")
    store = online_store_for(url)
    yield store
    store.close()


@pytest.mark.parametrize(
    "newer",
    [
        (2**60 + 1, 0),  # an event after 2255 (beyond a double's 53 bits), one µs later
        (2**60, 1),  # the same event, created one µs later
        (-(2**60), 1),  # before 1970
        (253402300799999999, 253402300799999999),  # 9999-12-31T23:59:59.999999
    ],
)
def test_the_write_rule_compares_times_exactly(online: OnlineStore, newer: tuple[int, int]) -> None:
    e, c = newer
    older = (e - 1, c) if c in (0, e) else (e, c - 1)
    assert online.write("v", [OnlineRecord("k", "v1", e, c, "[1]")]) == 1
    # An older record never replaces a newer one, even with other values.
    assert online.write("v", [OnlineRecord("k", "v1", *older, "[2]")]) == 0
    assert online.read_one("v", "k").payload == "[1]"
    # A newer one does.
    assert online.write("v", [OnlineRecord("k", "v1", e + 1, c, "[3]")]) == 1
    assert online.read_one("v", "k").payload == "[3]"


def test_any_key_string_is_its_own_row(online: OnlineStore) -> None:
    # PostgreSQL text cannot hold NUL: a string entity key with one failed to materialize
    # there with psycopg's DataError.
    keys = ["sa\x00b", "sa", 'S"sa\\u0000b"', "S", "s", "s\U0001f600", "1", '[1,"a"]']
    n = online.write("v", [OnlineRecord(k, "v1", 1, 0, f"[{i}]") for i, k in enumerate(keys)])
    assert n == len(keys)
    got = online.read([("v", k) for k in keys])
    assert [g.payload if g else None for g in got] == [f"[{i}]" for i in range(len(keys))]
    assert online.read_one("v", "sa\x00") is None


def test_string_entity_keys_with_nul_round_trip(online_url: str, tmp_path: Path) -> None:
    with FeatureStore(f"duckdb://{tmp_path}/off", online_url) as store:
        rows = pa.table({"k": ["a\x00b", "a", "Sa"], "at": [T0] * 3, "x": [1.0, 2.0, 3.0]})
        src = store.offline_store.write_source("nul", rows, timestamp="at")
        ent = Entity("e", keys=["k"])
        store.apply([ent, FeatureView("nul", entity=ent, source=src, features=["x"])])
        [run] = store.materialize(T0)
        assert run.written == 3
        got = store.online([{"k": k} for k in ["a\x00b", "a", "Sa", "a\x00"]], ["nul:x"], at=T0)
        assert [r["x"] for r in got] == [1.0, 2.0, 3.0, None]
