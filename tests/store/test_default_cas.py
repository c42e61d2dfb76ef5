"""The default ``compare_and_set_state`` of a third-party online store is atomic among threads.

Its read then write let two threads both read ``n`` and both store ``n + 1``: a store
that did not override it lost state updates (views of a concurrent ``apply``, the
watermark of a concurrent ``materialize``) and failed the conformance suite's
``test_state_updates_are_never_lost``.
"""

from __future__ import annotations

import threading
import time

import pytest

from prodml.store.backends import OnlineRecord, OnlineStore, StoredValue
from prodml.testing.store import OnlineStoreConformance


class SlowStateStore(OnlineStore):
    """A plain store that keeps the base class's compare_and_set_state; reads yield."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], OnlineRecord] = {}
        self._state: dict[str, str] = {}
        self._lock = threading.Lock()

    def write(self, view: str, records: list[OnlineRecord]) -> int:
        changed = 0
        with self._lock:
            for r in records:
                old = self._rows.get((view, r.key))
                if old is None or old.version != r.version:
                    wins = True
                else:
                    new_t, old_t = (r.event_us, r.created_us), (old.event_us, old.created_us)
                    wins = new_t > old_t or (new_t == old_t and r.payload != old.payload)
                if wins:
                    self._rows[(view, r.key)] = r
                    changed += 1
        return changed

    def read(self, pairs: list[tuple[str, str]]) -> list[StoredValue | None]:
        with self._lock:
            found = [self._rows.get(pair) for pair in pairs]
        return [None if r is None else StoredValue(r.version, r.event_us, r.payload) for r in found]

    def get_state(self, name: str) -> str | None:
        value = self._state.get(name)
        time.sleep(0)  # a network round trip: another thread runs here
        return value

    def set_state(self, name: str, value: str) -> None:
        self._state[name] = value

    def delete_view(self, view: str) -> int:
        with self._lock:
            gone = [pair for pair in self._rows if pair[0] == view]
            for pair in gone:
                del self._rows[pair]
        return len(gone)


def test_the_store_keeps_the_default():
    assert "compare_and_set_state" not in vars(SlowStateStore)


class TestDefaultCompareAndSet(OnlineStoreConformance):
    """Every conformance check, the concurrent state updates among them, on the default."""

    @pytest.fixture
    def online_store(self) -> OnlineStore:
        return SlowStateStore()
