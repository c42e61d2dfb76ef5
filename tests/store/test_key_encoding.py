"""Entity keys round-trip through every online backend, one row per key.

Keys are ints and strings of any unicode (NUL, and strings starting with ``S``: the
PostgreSQL store's escape tag), alone or in tuples. Two different keys must never share
a row, and each must read back what was written under it, on SQLite, PostgreSQL and Redis
alike. Bools are not keys: they are refused, whichever key type the entity has.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodml.errors import SchemaError
from prodml.schema import LogicalType
from prodml.store import Entity, FeatureStore, FeatureView
from prodml.store._codec import encode_key, record_key
from prodml.store.backends import OnlineRecord, OnlineStore

T = datetime(2024, 1, 1, tzinfo=timezone.utc)
INT64 = st.integers(-(2**63), 2**63 - 1)
# Any unicode scalar value (surrogates are not text), with the awkward ones made common.
TEXT = st.one_of(
    st.text(),
    st.text().map(lambda s: "S" + s),
    st.text().map(lambda s: "s" + s),
    st.text(alphabet=st.sampled_from('S\x00"\\[],:|*?s é\u2028\U0001f600'), max_size=6),
)
PART = st.one_of(INT64, TEXT)
KEY = st.one_of(st.tuples(PART), st.lists(PART, min_size=2, max_size=3).map(tuple))
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_views = itertools.count()


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def online_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'online.db'}"
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def online_store(online_url: str) -> Iterator[OnlineStore]:
    fs = FeatureStore("duckdb://", online_url)
    yield fs.online_store
    fs.close()


def test_encode_key_is_one_to_one() -> None:
    @SETTINGS
    @given(a=KEY, b=KEY)
    def check(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
        same_type = [type(x) for x in a] == [type(y) for y in b]
        assert (encode_key(a) == encode_key(b)) == (a == b and same_type)

    check()


def test_every_key_reads_back_its_own_row(online_store: OnlineStore) -> None:
    @SETTINGS
    @given(keys=st.lists(KEY, min_size=1, max_size=12, unique_by=encode_key))
    def check(keys: list[tuple[Any, ...]]) -> None:
        view = f"keys_{next(_views)}"
        encoded = [encode_key(k) for k in keys]
        records = [OnlineRecord(k, "v1", i, i, f"[{i}]") for i, k in enumerate(encoded)]
        assert online_store.write(view, records) == len(keys)
        got = online_store.read([(view, k) for k in reversed(encoded)])
        assert [g.payload if g else None for g in got] == [
            f"[{i}]" for i in reversed(range(len(keys)))
        ]
        # Written again, nothing changes: each key found its own row.
        assert online_store.write(view, records) == 0
        assert online_store.delete_view(view) == len(keys)

    check()


@pytest.mark.parametrize("dtype", [LogicalType.INT, LogicalType.STRING])
@pytest.mark.parametrize("value", [True, False])
def test_bools_are_refused_as_keys(dtype: LogicalType, value: bool) -> None:
    entity = Entity("e", keys=["k"]).model_copy(update={"dtypes": (dtype,)})
    with pytest.raises(SchemaError, match="'e' has"):
        record_key(entity, {"k": value})


def test_keys_round_trip_from_source_to_online(tmp_path: Path, online_url: str) -> None:
    """End to end: a source's int and string keys, materialized, read back by ``online``."""

    @settings(SETTINGS, max_examples=12)
    @given(
        rows=st.lists(
            st.tuples(INT64, TEXT), min_size=1, max_size=8, unique_by=lambda r: (r[0], r[1])
        )
    )
    def check(rows: list[tuple[int, str]]) -> None:
        n = next(_views)
        with FeatureStore(f"duckdb://{tmp_path / str(n)}", online_url) as fs:
            table = pa.table(
                {
                    "num": pa.array([r[0] for r in rows], pa.int64()),
                    "name": pa.array([r[1] for r in rows], pa.string()),
                    "at": [T] * len(rows),
                    "x": [float(i) for i in range(len(rows))],
                }
            )
            src = fs.offline_store.write_source(f"src{n}", table, timestamp="at")
            pair = Entity(f"pair{n}", keys=["num", "name"])
            one = Entity(f"one{n}", keys=["name"])
            fs.apply(
                [
                    pair,
                    one,
                    FeatureView(f"p{n}", entity=pair, source=src, features=["x"]),
                    FeatureView(f"o{n}", entity=one, source=src, features=["x"]),
                ]
            )
            fs.materialize(T + timedelta(1))
            records = [{"num": a, "name": b} for a, b in rows]
            got = fs.online(records, [f"p{n}:x", f"o{n}:x"], at=T + timedelta(1), full_names=True)
            # The last row of each name wins for the one-key view (ties: source order).
            last = {b: float(i) for i, (_, b) in enumerate(rows)}
            assert [dict(r) for r in got] == [
                {f"p{n}__x": float(i), f"o{n}__x": last[b]} for i, (_, b) in enumerate(rows)
            ]

    check()


def test_a_key_that_is_not_text_is_a_schema_error(tmp_path: Path, online_url: str) -> None:
    # A lone surrogate cannot be encoded for any store: was UnicodeEncodeError, raw.
    with FeatureStore(f"duckdb://{tmp_path / 'off'}", online_url) as fs:
        table = pa.table({"name": ["a"], "at": [T], "x": [1.0]})
        src = fs.offline_store.write_source("src", table, timestamp="at")
        one = Entity("one", keys=["name"])
        fs.apply([one, FeatureView("o", entity=one, source=src, features=["x"])])
        with pytest.raises(SchemaError) as info:
            fs.online([{"name": "a"}, {"name": "b\ud800"}], ["o:x"], at=T)
        assert info.value.columns == ["name"]
        assert [p.row for p in info.value.problems] == [1]
        assert "\ud800" not in str(info.value)
