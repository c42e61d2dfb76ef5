"""The numpy as-of join (prodml.store._asof) against DuckDB's SQL join and the brute force."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.store import Entity, FeatureStore, FeatureView, _asof, _asof_keys
from prodml.store._duckdb import DuckDBOfflineStore
from prodml.store._training import frame_of
from prodml.testing.store import brute_force_historical
from prodml.testing.store._reference import rows_equal

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
ACCT = Entity("acct", keys=["bank", "acct_id"])


def _files(n: int, seed: int) -> list[pa.Table]:
    """Three files of one source: compound keys, ties across files, nulls everywhere."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        event = rng.integers(0, 40, n) * 3_600  # an hour grid: many equal times
        created = event + rng.choice([0, 0, 3_600, 7_200, 86_400, -3_600], n)
        created_at = pd.Series(pd.to_datetime(created, unit="s", utc=True)).astype(
            "datetime64[us, UTC]"
        )
        created_at = created_at.mask(rng.random(n) < 0.1)  # null created: the event time
        event_at = pd.Series(pd.to_datetime(event, unit="s", utc=True)).astype(
            "datetime64[us, UTC]"
        )
        event_at = event_at.mask(rng.random(n) < 0.03)  # a null event time: never used
        x = rng.normal(size=n)
        out.append(
            pa.table(
                {
                    "bank": pa.array(rng.choice(["a", "b", "c"], n)),
                    "acct_id": pa.array(rng.integers(0, 12, n), pa.int32()),
                    "event_at": pa.array(event_at, pa.timestamp("us", tz="Europe/Paris")),
                    "created_at": pa.array(created_at, pa.timestamp("ms", tz="UTC")),
                    "x": pa.array(x, mask=rng.random(n) < 0.1),
                    "n": pa.array(rng.integers(0, 5, n), mask=rng.random(n) < 0.1),
                    "s": pa.array(rng.choice(["p", "q", "r"], n)),
                    "at": pa.array(event_at, pa.timestamp("us", tz="UTC")),
                }
            )
        )
    return out


def _entity(m: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    bank = rng.choice(["a", "b", "c", "zz"], m).astype(object)
    bank[rng.random(m) < 0.05] = None  # a null key matches nothing
    return pd.DataFrame(
        {
            "bank": bank,
            "acct_id": rng.integers(0, 14, m),
            "event_timestamp": pd.to_datetime(rng.integers(0, 44 * 3_600, m), unit="s", utc=True),
        }
    )


def _store(
    path: Path,
    files: list[pa.Table],
    engine: str,
    ttl: timedelta | None,
    *,
    entity: Entity = ACCT,
    features: tuple[str, ...] = ("x", "n", "s", "at"),
) -> FeatureStore:
    """View ``v`` of ``entity`` over ``files`` (written in order), on ``engine``."""
    store = FeatureStore(DuckDBOfflineStore(f"duckdb://{path}", engine=engine))
    source = None
    for t in files:
        source = store.offline_store.write_source(
            "src", t, timestamp="event_at", created="created_at"
        )
    assert source is not None
    view = FeatureView("v", entity=entity, source=source, features=list(features), ttl=ttl)
    store.apply([entity, view])
    return store


@pytest.mark.parametrize("bits", [62, 0], ids=["packed", "ranked"])
@pytest.mark.parametrize("ttl", [None, timedelta(hours=5)])
@pytest.mark.parametrize("batch", [7, 1 << 17])
def test_arrays_equal_sql_and_brute_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bits: int, ttl: timedelta | None, batch: int
) -> None:
    monkeypatch.setattr(_asof, "DIRECT_BITS", bits)
    monkeypatch.setattr(_asof, "READ_ROWS", batch)  # 7: merging the best across batches
    monkeypatch.setattr(_asof, "GATHER_ROWS", 5)
    # With small batches, also the gather that opens a file per use (more than KEEP_OPEN).
    monkeypatch.setattr(_asof, "KEEP_OPEN", 0 if batch == 7 else _asof.KEEP_OPEN)
    files = _files(300, seed=batch + bits)
    entity = _entity(400, seed=batch + bits)
    refs = ["v:x", "v:n", "v:s", "v:at"]
    arrays = _store(tmp_path / "a", files, "numpy", ttl)
    sql = _store(tmp_path / "b", files, "duckdb", ttl)
    got = arrays.historical(entity, refs).to_pandas()
    pd.testing.assert_frame_equal(got, sql.historical(entity, refs).to_pandas())
    table = pa.Table.from_pandas(entity, preserve_index=False)
    assert arrays.historical(table, refs).to_arrow().equals(sql.historical(table, refs).to_arrow())
    expected = brute_force_historical(entity, [(arrays.view("v"), pa.concat_tables(files))])
    for i, exp in enumerate(expected):
        row = {f: (None if pd.isna(got[f][i]) else got[f][i]) for f in ["x", "n", "s", "at"]}
        assert rows_equal(row, exp), (i, row, exp)
    assert got["x"].notna().sum() > 50  # the case is not vacuous


def test_in_memory_results_use_arrays_unless_duckdb_is_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files(50, seed=3)
    entity = _entity(30, seed=3)
    sql_runs: list[Any] = []
    original = DuckDBOfflineStore._in_memory

    def spy(self: DuckDBOfflineStore, *args: Any) -> pa.Table:
        sql_runs.append(args)
        return original(self, *args)

    monkeypatch.setattr(DuckDBOfflineStore, "_in_memory", spy)
    auto = _store(tmp_path / "auto", files, "auto", None)
    auto.historical(entity, ["v:x"])
    assert sql_runs == []
    auto.historical(entity, ["v:x"], output=str(tmp_path / "out.parquet"))
    assert sql_runs == []  # a file output streams through DuckDB's COPY, not _in_memory
    limited = FeatureStore(DuckDBOfflineStore(f"duckdb://{tmp_path}/l", memory_limit="1GB"))
    view = auto.view("v")
    limited.apply([ACCT, view])
    limited.historical(entity, ["v:x"])
    assert len(sql_runs) == 1  # a memory limit asks for DuckDB's spilling join
    _store(tmp_path / "sql", files, "duckdb", None).historical(entity, ["v:x"])
    assert len(sql_runs) == 2


def test_sources_the_arrays_cannot_read_go_to_duckdb(tmp_path: Path) -> None:
    store = DuckDBOfflineStore(f"duckdb://{tmp_path}", engine="numpy")
    user = Entity("user", keys=["user_id"], dtypes=["int"])
    naive = store.write_source(
        "naive",
        pa.table({"user_id": [1], "event_at": [datetime(2024, 1, 1)], "x": [1.0]}),
        timestamp="event_at",
    )
    view = FeatureView(
        "v", entity=user, features=["x"], source=naive.model_copy(update={"timezone": "UTC"})
    )
    from prodml.store.offline import ViewQuery

    ent = pa.table(
        {
            "__row": pa.array([0], pa.int64()),
            "__ts": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "user_id": pa.array([1], pa.int64()),
        }
    )
    q = ViewQuery(view, ("x",), ("x",))
    with pytest.raises(_asof.Unsupported, match="aware timestamp"):
        _asof.point_in_time(ent, [q], {"v": store._files(view.source)})
    with pytest.raises(_asof.Unsupported, match="not a local file"):
        _asof.point_in_time(ent, [q], {"v": ["s3://bucket/x.parquet"]})
    result = store.point_in_time(ent, [q])
    assert result is not None
    assert result.column("x").to_pylist() == [1.0]


def test_frame_of_equals_to_pandas_and_shares_nan_filled_floats() -> None:
    nan_filled = np.array([1.0, np.nan, 3.0])
    table = pa.table(
        {
            "shared": pa.array(nan_filled, mask=np.array([False, True, False])),
            "zero_slots": pa.array([1.0, None, 3.0]),  # the null slot holds 0.0, not NaN
            "ints": pa.array([1, None, 3]),
            "strings": pa.array(["a", None, "c"]),
            "times": pa.array([T0, None, T0], pa.timestamp("us", tz="UTC")),
            "sliced": pa.array([9.0, 1.0, None, 3.0]).slice(1),
        }
    )
    frame = frame_of(table)
    pd.testing.assert_frame_equal(frame, table.to_pandas())
    assert np.shares_memory(frame["shared"].to_numpy(), nan_filled)
    frame.loc[0, "shared"] = 5.0  # a shared column is writable, like any other
    assert frame["shared"].tolist()[:1] == [5.0]


# -- string keys: the hash table of the entity's strings ----------------------------------

# Strings that break byte-level hashing: empty, NUL bytes (trailing ones too), multi-byte
# UTF-8, exactly 8 and 16 bytes (word edges), one byte past them, and shared prefixes.
TRICKY = ["", "\x00", "a", "a\x00", "é", "e\u0301", "日本", "abcdefgh", "abcdefgh\x00"]
TRICKY += ["abcdefghi", "abcdefghijklmnop", "abcdefghijklmnopq", "u00000042", "🙂" * 5]
_keys = st.one_of(st.sampled_from(TRICKY), st.text(max_size=20))


def _expected(values: list[str], queries: list[str | None]) -> list[int]:
    where = {v: i for i, v in enumerate(values)}
    return [where.get(q, -1) if q is not None else -1 for q in queries]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    values=st.lists(_keys, min_size=1, max_size=40, unique=True),
    others=st.lists(st.one_of(st.none(), _keys), max_size=40),
    large=st.booleans(),
    cut=st.integers(0, 3),
)
def test_string_finder_finds_exactly_the_entity_strings(
    values: list[str], others: list[str | None], large: bool, cut: int
) -> None:
    """Positions equal a dict lookup, for sliced, chunked, large and null-holding arrays."""
    kind = pa.large_string() if large else pa.string()
    finder = _asof._finder(pa.array(values, kind))
    longest = max(len(v.encode()) for v in values)
    assert isinstance(finder, _asof._StringFinder) == (longest <= _asof.HASHED_KEY_BYTES)
    queries = [*others, *values[::2]]
    for arr in (
        pa.array(["pad"] * cut + queries, pa.string()).slice(cut),  # an offset into buffers
        pa.array(queries, pa.large_string()),
        pa.chunked_array([pa.array(queries[:5], kind), pa.array(queries[5:], kind)]),
    ):
        assert finder.find(arr).tolist() == _expected(values, queries)


_I64 = np.iinfo(np.int64)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    lo=st.one_of(
        st.integers(_I64.min + 1, _I64.min + 100),
        st.integers(-1000, 1000),
        st.integers(_I64.max - 100_000, _I64.max - 70_000),
    ),
    offsets=st.lists(st.integers(0, 60_000), min_size=1, max_size=30),
    near=st.lists(st.integers(-3, 3), max_size=20),
    wide=st.lists(st.integers(_I64.min, _I64.max), max_size=20),
    nulls=st.integers(0, 3),
)
def test_int_key_lookup_table_finds_exactly_the_entity_keys(
    lo: int, offsets: list[int], near: list[int], wide: list[int], nulls: int
) -> None:
    """The lookup table gives a dict lookup's ids for any int64 key, extremes included.

    Its slot is the key minus ``lo - 1`` modulo 2**64: keys far from the entity's range
    wrap around, and must still land in a padding slot, not on another key's.
    """
    values = sorted({lo + o for o in offsets})
    keys = _asof._KeyIndex.build([pa.chunked_array([pa.array(values, pa.int64())])])
    assert keys.lut is not None
    hi = values[-1]
    edges = [lo - 1 + d for d in near] + [hi + 1 + d for d in near]
    queries: list[int | None] = [
        *(q for q in [*edges, *wide, _I64.min, _I64.max] if _I64.min <= q <= _I64.max),
        *values[::3],
        *([None] * nulls),
    ]
    where = {v: i for i, v in enumerate(values)}
    got = keys.lookup([pa.array(queries, pa.int64())])
    assert got.tolist() == [-1 if q is None else where.get(q, -1) for q in queries]


def test_a_hash_collision_never_matches_a_different_string(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def first_word(words: list[Any], lens: Any) -> Any:  # collides on any shared 8 bytes
        return words[0] * np.uint64(0x9E3779B97F4A7C15)

    monkeypatch.setattr(_asof_keys, "_string_hash", first_word)
    values = ["abcdefgh1", "zz"]
    finder = _asof._finder(pa.array(values))
    assert isinstance(finder, _asof._StringFinder)
    queries: list[str | None] = ["abcdefgh2", "abcdefgh", "abcdefgh1", "zz", "zz\x00", None]
    assert finder.find(pa.array(queries)).tolist() == _expected(values, queries)
    # Entity strings whose hashes are equal go to Arrow's index_in, with the same answer.
    values = ["abcdefgh1", "abcdefgh2", "zz"]
    finder = _asof._finder(pa.array(values))
    assert isinstance(finder, _asof._IndexIn)
    assert finder.find(pa.array(queries)).tolist() == _expected(values, queries)


def test_strings_that_share_a_slot_are_found_through_the_second_table_and_the_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hash with only low bits set puts every value in one first-table slot."""

    def low_bits(words: list[Any], lens: Any) -> Any:  # distinct, all top bits zero
        h = lens.astype(np.uint64)
        for w in words:
            h = h * np.uint64(31) + (w & np.uint64(0xFFFFFF))
        return h & np.uint64(0xFFFFFFFF)

    monkeypatch.setattr(_asof_keys, "_string_hash", low_bits)
    values = ["a", "b", "c", "dd", "eeeeeeeee", "f"]
    finder = _asof._finder(pa.array(values))
    assert isinstance(finder, _asof._StringFinder)
    # The first value holds the first table's slot, the second the second's; the rest
    # are found by the search.
    assert int((finder.first != finder.n).sum()) == 1
    assert int((finder.second != finder.n).sum()) == 1
    queries: list[str | None] = [*values[::-1], "g", "", None, "dd\x00", "eeeeeeeeee", "a"]
    assert finder.find(pa.array(queries)).tolist() == _expected(values, queries)


def _reference_words(strings: list[str], nw: int) -> list[list[int]]:
    padded = [s.encode() + bytes(8 * nw) for s in strings]
    return [[int.from_bytes(b[8 * j : 8 * j + 8], "little") for b in padded] for j in range(nw)]


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    length=st.integers(1, 20),
    nw=st.integers(1, 4),
    cut=st.integers(0, 3),
    large=st.booleans(),
    data=st.data(),
)
def test_string_words_of_one_length_equal_the_bytes(
    length: int, nw: int, cut: int, large: bool, data: Any
) -> None:
    """The strided path for strings of one length, and the gather for mixed lengths."""
    n = data.draw(st.integers(1, 30))
    byte = st.sampled_from(["a", "z", "\x00", "\x7f", "0", "9"])
    same = data.draw(st.lists(st.text(byte, min_size=length, max_size=length), min_size=n))
    mixed = [*same, "é" * length]  # one of another byte length: the gather
    kind = pa.large_string() if large else pa.string()
    for strings in (same, mixed):
        arr = pa.array(["pad"] * cut + strings, kind).slice(cut)
        words, lens = _asof._string_words(arr, nw)
        assert lens.tolist() == [len(s.encode()) for s in strings]
        assert [w.tolist() for w in words] == _reference_words(strings, nw)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    length=st.integers(1, 17),
    values=st.lists(st.integers(0, 60), min_size=1, max_size=30, unique=True),
    queries=st.lists(st.integers(0, 80), max_size=40),
    other_length=st.booleans(),
)
def test_fixed_length_keys_are_found_exactly(
    length: int, values: list[int], queries: list[int], other_length: bool
) -> None:
    """Zero-padded ids of one length, looked up by words alone; other lengths by length."""

    def key(i: int, size: int) -> str:
        return str(i).zfill(size)[-size:]

    vals = list(dict.fromkeys(key(i, length) for i in values))
    finder = _asof._finder(pa.array(vals))
    assert isinstance(finder, _asof._StringFinder)
    assert finder.fixed == length
    size = length + 1 if other_length else length  # a batch of another length finds none
    # All-NUL strings have all-zero words, as an empty slot's padding entry has.
    qs: list[str | None] = [key(i, size) for i in queries] + ["\x00" * size]
    assert finder.find(pa.array(qs)).tolist() == _expected(vals, qs)


def test_long_or_non_string_keys_use_index_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_asof_keys, "HASHED_KEY_BYTES", 4)
    values = ["abcd", "abcde"]
    finder = _asof._finder(pa.array(values))
    assert isinstance(finder, _asof._IndexIn)
    assert finder.find(pa.array(["abcde", "abcd", "x"])).tolist() == [1, 0, -1]
    assert isinstance(_asof._finder(pa.array([3, 1], pa.int32())), _asof._IndexIn)


@st.composite
def _string_case(draw: Any) -> tuple[list[pa.Table], pd.DataFrame]:
    """Source files and entity rows keyed by strings drawn from a small pool.

    Some keys only the sources have, some only the entity rows; entity keys may be null.
    """
    pool = draw(st.lists(_keys, min_size=1, max_size=6, unique=True))
    files = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 12))
        hours = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
        lags = draw(st.lists(st.sampled_from([0, 0, 1, 3, -1]), min_size=n, max_size=n))
        files.append(
            pa.table(
                {
                    "user_id": pa.array(
                        draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)),
                        draw(st.sampled_from([pa.string(), pa.large_string()])),
                    ),
                    "event_at": pa.array(
                        [T0 + timedelta(hours=h) for h in hours], pa.timestamp("us", tz="UTC")
                    ),
                    "created_at": pa.array(
                        [T0 + timedelta(hours=h + lag) for h, lag in zip(hours, lags, strict=True)],
                        pa.timestamp("us", tz="UTC"),
                    ),
                    "x": pa.array(np.arange(n, dtype=float) + 100 * len(files)),
                }
            )
        )
    m = draw(st.integers(1, 12))
    own = draw(st.lists(_keys, max_size=2))  # keys no source has
    keys = draw(
        st.lists(st.one_of(st.sampled_from([*pool, *own]), st.none()), min_size=m, max_size=m)
    )
    hours = draw(st.lists(st.integers(0, 10), min_size=m, max_size=m))
    entity = pd.DataFrame(
        {
            "user_id": pd.array(keys, dtype="str"),  # pandas 3's strings: Arrow-backed str
            "event_timestamp": pd.to_datetime(
                [T0 + timedelta(hours=h) for h in hours], utc=True
            ).as_unit("us"),
        }
    )
    return files, entity


USER_S = Entity("user", keys=["user_id"], dtypes=["string"])


@settings(max_examples=40, deadline=None, derandomize=True)
def _numpy_equals_sql_and_brute_force(
    files: list[pa.Table], entity: pd.DataFrame, ttl: timedelta | None, user: Entity
) -> None:
    """The numpy join runs (no fallback), equals DuckDB's SQL join and the brute force."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        stores = {
            engine: _store(Path(tmp) / engine, files, engine, ttl, entity=user, features=("x",))
            for engine in ("numpy", "duckdb")
        }
        joins: list[int] = []
        real = _asof.point_in_time

        def spy(*args: Any, **kwargs: Any) -> pa.Table:
            out = real(*args, **kwargs)
            joins.append(1)  # the numpy join ran (no fallback to SQL)
            return out

        with mock.patch.object(_asof, "point_in_time", spy):
            got = stores["numpy"].historical(entity, ["v:x"]).to_pandas()
        assert joins == [1]
        pd.testing.assert_frame_equal(got, stores["duckdb"].historical(entity, ["v:x"]).to_pandas())
    rows = pa.concat_tables([t.cast(files[0].schema) for t in files])
    view = FeatureView(
        "v", entity=user, source=stores["numpy"].view("v").source, features=["x"], ttl=ttl
    )
    expected = brute_force_historical(entity, [(view, rows)])
    for i, exp in enumerate(expected):
        row = {"x": None if pd.isna(got["x"][i]) else got["x"][i]}
        assert rows_equal(row, exp), (i, row, exp)


@given(case=_string_case(), ttl=st.sampled_from([None, timedelta(hours=2)]))
def test_string_keys_equal_brute_force_and_sql(
    case: tuple[list[pa.Table], pd.DataFrame], ttl: timedelta | None
) -> None:
    """The numpy join on string keys equals DuckDB's SQL join and the brute force."""
    _numpy_equals_sql_and_brute_force(*case, ttl, USER_S)


USER_I = Entity("user", keys=["user_id"])


@st.composite
def _tie_case(draw: Any) -> tuple[list[pa.Table], pd.DataFrame]:
    """Int keys from a pool of 3, on an hour grid: equal events, created and entity times.

    Entity times fall on the same grid, so that events exactly ``ttl`` before an entity
    row (kept) and an hour more (dropped) are common; each key has several entity rows.
    """
    files = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 14))
        hours = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
        lags = draw(st.lists(st.sampled_from([0, 0, 1, 2, -1, None]), min_size=n, max_size=n))
        files.append(
            pa.table(
                {
                    "user_id": pa.array(
                        draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), pa.int64()
                    ),
                    "event_at": pa.array(
                        [T0 + timedelta(hours=h) for h in hours], pa.timestamp("us", tz="UTC")
                    ),
                    "created_at": pa.array(
                        [
                            None if lag is None else T0 + timedelta(hours=h + lag)
                            for h, lag in zip(hours, lags, strict=True)
                        ],
                        pa.timestamp("us", tz="UTC"),
                    ),
                    "x": pa.array(np.arange(n, dtype=float) + 100 * len(files)),
                }
            )
        )
    m = draw(st.integers(1, 14))
    keys = draw(st.lists(st.integers(0, 4), min_size=m, max_size=m))
    hours = draw(st.lists(st.integers(0, 9), min_size=m, max_size=m))
    entity = pd.DataFrame(
        {
            "user_id": keys,
            "event_timestamp": pd.to_datetime(
                [T0 + timedelta(hours=h) for h in hours], utc=True
            ).as_unit("us"),
        }
    )
    return files, entity


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    case=_tie_case(),
    ttl=st.sampled_from([None, timedelta(hours=1), timedelta(hours=2), timedelta(days=9999)]),
    batch=st.sampled_from([1, 3, 1 << 15]),
)
def test_ties_and_ttl_edges_equal_brute_force_and_sql(
    case: tuple[list[pa.Table], pd.DataFrame], ttl: timedelta | None, batch: int
) -> None:
    """Equal times everywhere, ttl edges, batches of 1 and 3 rows: as the brute force."""
    with mock.patch.object(_asof, "READ_ROWS", batch):
        _numpy_equals_sql_and_brute_force(*case, ttl, USER_I)


def test_a_ttl_beyond_int64_microseconds_is_left_to_sql(tmp_path: Path) -> None:
    """A ttl over 2**63 us (292,000 years; a store refuses to hold one) is not joined here."""
    arrays = _store(tmp_path / "a", _files(40, seed=3), "numpy", None)
    view = arrays.view("v").model_copy(update={"ttl": timedelta(days=999_999_999)})
    from prodml.store.offline import ViewQuery

    ent = pa.table(
        {
            "__row": pa.array([0], pa.int64()),
            "__ts": pa.array([T0], pa.timestamp("us", tz="UTC")),
            "bank": pa.array(["a"]),
            "acct_id": pa.array([1], pa.int64()),
        }
    )
    q = ViewQuery(view, ("x",), ("x",))
    with pytest.raises(_asof.Unsupported, match="ttl beyond"):
        _asof.point_in_time(ent, [q], {"v": arrays.offline_store._files(view.source)})
    # Just under 2**63 us: joined here, and the same as no ttl at all.
    files = {"v": arrays.offline_store._files(view.source)}
    longest = view.model_copy(update={"ttl": timedelta(days=106_000_000)})
    got = _asof.point_in_time(ent, [ViewQuery(longest, ("x",), ("x",))], files)
    none = view.model_copy(update={"ttl": None})
    assert got.equals(_asof.point_in_time(ent, [ViewQuery(none, ("x",), ("x",))], files))
    assert got.column("x").null_count == 0  # the case is not vacuous
