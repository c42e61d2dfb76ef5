"""The conformance suite of online stores: the write rule, reads, state, and end to end."""

from __future__ import annotations

import math
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from prodml.store import FeatureStore
from prodml.store.backends import OnlineRecord, OnlineStore, StoredValue
from prodml.testing.registry._common import pytest
from prodml.testing.store._cases import PitCase, pit_cases, settings
from prodml.testing.store._offline import apply_case
from prodml.testing.store._reference import rows_equal

_hyp = pytest.importorskip("hypothesis")

__all__ = ["OnlineStoreConformance"]

NOW = datetime(2024, 3, 9, 18, 30, tzinfo=timezone.utc)


def _rec(key: str, e: int, c: int = 0, payload: str = "[1]", version: str = "v1") -> OnlineRecord:
    return OnlineRecord(key, version, e, c, payload)


class OnlineStoreConformance:
    """The contract of an :class:`~prodml.store.backends.OnlineStore`.

    Provide a fixture ``online_store``; the store may hold data of other tests, so the
    suite uses view names of its own.
    """

    def test_round_trip_and_missing_keys(self, online_store: OnlineStore) -> None:
        assert (
            online_store.write("rt", [_rec("1", 10, payload="[1.5,null]"), _rec("s:x|y", 5)]) == 2
        )
        got = online_store.read([("rt", "2"), ("rt", "1"), ("other", "1"), ("rt", "s:x|y")])
        assert got == [None, StoredValue("v1", 10, "[1.5,null]"), None, StoredValue("v1", 5, "[1]")]

    def test_older_values_never_replace_newer_ones(self, online_store: OnlineStore) -> None:
        online_store.write("rule", [_rec("k", 10, 10, "[2]")])
        assert online_store.write("rule", [_rec("k", 9, 99, "[1]")]) == 0
        assert online_store.write("rule", [_rec("k", 10, 9, "[1]")]) == 0
        assert online_store.read_one("rule", "k") == StoredValue("v1", 10, "[2]")
        assert online_store.write("rule", [_rec("k", 10, 10, "[2]")]) == 0  # the same: no-op
        assert online_store.write("rule", [_rec("k", 10, 10, "[3]")]) == 1  # a tie: replaces
        assert online_store.write("rule", [_rec("k", 10, 11, "[4]")]) == 1
        assert online_store.read_one("rule", "k") == StoredValue("v1", 10, "[4]")

    def test_a_new_version_replaces_any_value(self, online_store: OnlineStore) -> None:
        online_store.write("ver", [_rec("k", 10, payload="[2]")])
        assert online_store.write("ver", [_rec("k", 1, payload="[9]", version="v2")]) == 1
        assert online_store.read_one("ver", "k") == StoredValue("v2", 1, "[9]")

    def test_one_read_of_many_pairs_keeps_their_order(self, online_store: OnlineStore) -> None:
        keys = [str(i) for i in range(300)] + ["é", "a:b", '[1,"x"]']
        online_store.write_all(
            "many", [_rec(k, i, payload=f"[{i}]") for i, k in enumerate(keys)], batch=64
        )
        pairs = [("many", k) for k in reversed(keys)] + [("many", "absent")]
        got = online_store.read(pairs)
        assert [g.payload if g else None for g in got] == [
            f"[{i}]" for i in reversed(range(len(keys)))
        ] + [None]

    def test_state_round_trip(self, online_store: OnlineStore) -> None:
        assert online_store.get_state("conformance:absent") is None
        online_store.set_state("conformance:s", '{"a": 1}')
        online_store.set_state("conformance:s", '{"a": 2}')
        assert online_store.get_state("conformance:s") == '{"a": 2}'

    def test_compare_and_set_state(self, online_store: OnlineStore) -> None:
        name = "conformance:cas"
        assert online_store.compare_and_set_state(name, None, "1")  # none stored: set
        assert not online_store.compare_and_set_state(name, None, "2")  # one is stored
        assert not online_store.compare_and_set_state(name, "0", "2")  # another is stored
        assert online_store.get_state(name) == "1"
        assert online_store.compare_and_set_state(name, "1", "2")
        assert not online_store.compare_and_set_state(name, "1", "2")  # "1" is gone
        assert online_store.get_state(name) == "2"

    def test_state_updates_are_never_lost(self, online_store: OnlineStore) -> None:
        """Threads add one each to a counter by ``update_state``: every addition counts.

        A compare-and-set made of a read and a write lets two threads both see ``n`` and
        both store ``n + 1``.
        """
        name, threads, each = "conformance:counter", 4, 25
        start = threading.Barrier(threads, timeout=60)

        def add(current: str | None) -> str:
            n = 0 if current is None else int(current)
            return str(n + 1)

        def work() -> None:
            start.wait()
            for _ in range(each):
                online_store.update_state(name, add)

        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # pure-Python stores switch threads mid-update
        try:
            running = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
            for t in running:
                t.start()
            for t in running:
                t.join(60)
        finally:
            sys.setswitchinterval(old)
        assert not any(t.is_alive() for t in running), "a thread is still running"
        assert online_store.get_state(name) == str(threads * each), (
            "concurrent state updates lost an update (compare_and_set_state must check "
            "and set in one step)"
        )

    def test_delete_view_removes_only_that_view(self, online_store: OnlineStore) -> None:
        online_store.write("del_a", [_rec("1", 1), _rec("2", 1)])
        online_store.write("del_b", [_rec("1", 1)])
        assert online_store.delete_view("del_a") == 2
        assert online_store.read([("del_a", "1"), ("del_b", "1")])[0] is None
        assert online_store.read_one("del_b", "1") is not None

    def test_views_and_keys_never_run_together(self, online_store: OnlineStore) -> None:
        # A store that joins view and key without a separator, or keys by the key alone,
        # gives one of these pairs the other's value.
        pairs = [("jv", "11"), ("jv1", "1"), ("j", "v11"), ("jv", "1")]
        for i, (view, key) in enumerate(pairs):
            assert online_store.write(view, [_rec(key, 1, payload=f"[{i}]")]) == 1, (view, key)
        got = online_store.read(pairs)
        assert [g.payload if g else None for g in got] == [f"[{i}]" for i in range(len(pairs))]

    def test_delete_view_matches_the_name_exactly(self, online_store: OnlineStore) -> None:
        # View names are identifiers, so "_" is in them: a SQL LIKE or a glob treats it as a
        # wildcard, and a prefix match takes the views whose names start with this one.
        views = ["dx_1", "dxa1", "dx_10", "dx", "dx_"]
        for view in views:
            online_store.write(view, [_rec("k", 1, payload=f'["{view}"]')])
        assert online_store.delete_view("dx_1") == 1
        got = online_store.read([(v, "k") for v in views])
        assert [g.payload if g else None for g in got] == [None] + [f'["{v}"]' for v in views[1:]]
        assert online_store.delete_view("dx_1") == 0  # already empty

    def test_empty_calls_and_repeated_pairs(self, online_store: OnlineStore) -> None:
        assert online_store.write("empty", []) == 0
        assert online_store.read([]) == []
        online_store.write("rep", [_rec("k", 3, payload="[3]")])
        got = online_store.read([("rep", "k"), ("rep", "x"), ("rep", "k")])
        assert got == [StoredValue("v1", 3, "[3]"), None, StoredValue("v1", 3, "[3]")]

    def test_writes_are_atomic_under_concurrent_writers(self, online_store: OnlineStore) -> None:
        """Several threads share the store, as a serving process does (three rounds).

        A race shows in most rounds, not in all: three make a miss rare.
        """
        for view in ("atomic_1", "atomic_2", "atomic_3"):
            self._concurrent_round(online_store, view)

    def _concurrent_round(self, online_store: OnlineStore, view: str) -> None:
        """One round of writer threads and a reader on ``view``.

        Each batch writes every key with one event time. A reader must never see two
        keys at different times in one read (a batch applied record by record shows half
        of it), nor a key's time go back; a writer must read back at least what it wrote
        (a read-then-write without a lock lets an older value replace a newer one).
        """
        keys = [f"k{i}" for i in range(16)]
        pairs = [(view, k) for k in keys]
        writers, batches = 4, 50
        errors: list[str] = []
        done = threading.Event()
        start = threading.Barrier(writers + 1, timeout=60)

        def events() -> list[int | None]:
            seen = [g.event_us if g else None for g in online_store.read(pairs)]
            if len(set(seen)) > 1:
                errors.append(
                    f"one read saw event times {sorted(set(seen), key=str)}: a write is not "
                    "atomic (a batch must be applied in one transaction)"
                )
            return seen

        def write(w: int) -> None:
            start.wait()
            for b in range(batches):
                event = b * writers + w + 1
                online_store.write(view, [_rec(k, event, payload=f"[{event}]") for k in keys])
                older = [k for k, e in zip(keys, events(), strict=True) if e is None or e < event]
                if older:
                    errors.append(
                        f"the write of event {event} was undone by an older value at {older[0]}:"
                        " concurrent writes lost an update (check and apply the write rule"
                        " in one step)"
                    )

        def read() -> None:
            start.wait()
            last = 0
            while not done.is_set():
                seen = events()[0]
                if seen is not None:
                    if seen < last:
                        errors.append(
                            f"a read saw event {seen} after {last}: concurrent writes lost an "
                            "update (check and apply the write rule in one step)"
                        )
                    last = seen

        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # pure-Python stores switch threads mid-write
        try:
            threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
            reader = threading.Thread(target=read)
            for t in [reader, *threads]:
                t.daemon = True
                t.start()
            for t in threads:
                t.join(60)
            done.set()
            reader.join(60)
        finally:
            sys.setswitchinterval(old)
        assert not any(t.is_alive() for t in [reader, *threads]), "a thread is still running"
        assert errors == [], errors[0]
        assert events() == [batches * writers] * len(keys)

    @pytest.fixture
    def feature_store(self, online_store: OnlineStore) -> Iterator[FeatureStore]:
        with tempfile.TemporaryDirectory() as tmp:
            fs = FeatureStore(f"duckdb://{tmp}", online_store)
            yield fs
            fs.offline_store.close()

    def test_online_equals_historical_for_now(self, feature_store: FeatureStore) -> None:
        @settings(20)
        @_hyp.given(case=pit_cases())  # type: ignore[untyped-decorator]
        def check(case: PitCase) -> None:
            views = apply_case(feature_store, case)
            feature_store.materialize(NOW, views=[v.name for v, _ in views])
            refs = [r for view, _ in views for r in view.refs()]
            keys = [1, 2, 3, 4, 5, 99]
            df = pd.DataFrame({"user_id": keys, "event_timestamp": [NOW] * len(keys)})
            hist = feature_store.historical(df, refs).to_pandas()
            online = feature_store.online([{"user_id": k} for k in keys], refs, at=NOW)
            for i, row in enumerate(online):
                expected = {c: _py(hist[c][i]) for c in row}
                assert rows_equal(dict(row), expected), (keys[i], dict(row), expected)
                missing_refs = {r for r in refs if expected[r.split(":")[1]] is None}
                assert set(row.missing) == missing_refs
                assert all(
                    type(v) is float for k, v in row.items() if k[0] == "f" and v is not None
                )
                assert all(type(v) is int for k, v in row.items() if k[0] == "g" and v is not None)

        check()

    def test_materialize_is_incremental_and_idempotent(self, feature_store: FeatureStore) -> None:
        @settings(10)
        @_hyp.given(case=pit_cases(max_views=1))  # type: ignore[untyped-decorator]
        def check(case: PitCase) -> None:
            [(view, _)] = apply_case(feature_store, case)
            mid = datetime(2024, 3, 9, 15, tzinfo=timezone.utc)
            feature_store.materialize(mid, views=[view.name])
            [run] = feature_store.materialize(NOW, views=[view.name])
            assert run.start_us is not None  # continued from the watermark
            assert feature_store.materialize(NOW, views=[view.name]) == []
            again = feature_store.materialize(
                NOW, start=datetime(2024, 1, 1, tzinfo=timezone.utc), views=[view.name]
            )
            assert again[0].written == 0  # re-running a window changes nothing
            assert feature_store.watermarks()[view.name] == NOW

        check()


def _py(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v
