"""Long-running online reads: caches and connections stay bounded."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from prodml.store import FeatureStore
from prodml.store._sqlite import SQLiteOnlineStore
from prodml.store.online import OnlineRecord

from .conftest import T0, H

FEATURES = ["amount", "n_txn", "flagged", "country", "last_seen"]


def test_read_plans_are_bounded_when_each_request_asks_for_its_own_list(
    store: FeatureStore,
) -> None:
    store.materialize(end=T0 + 4 * H)
    store.plan_cache_size = 16
    lists = [
        [f"txn:{f}" for f in combo]
        for r in range(1, 6)
        for combo in itertools.permutations(FEATURES, r)
    ]
    assert len(lists) == 325
    for refs in lists:
        row = store.online({"user_id": 2}, refs, at=T0 + 4 * H)
        assert list(row) == [r.split(":")[1] for r in refs]
        assert len(store._plans) <= 16
    assert store.online({"user_id": 2}, ["txn:amount"], at=T0 + 4 * H)["amount"] == 5.0


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc (Linux)")
def test_reopening_the_sqlite_online_store_leaks_no_file_descriptor(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'online.db'}"

    def cycle(i: int) -> None:
        s = SQLiteOnlineStore(url)
        s.write("v", [OnlineRecord(str(i), "1", i, i, "[1.0]")])
        assert s.read([("v", str(i))])[0] is not None
        s.close()

    cycle(0)
    after_one = len(os.listdir("/proc/self/fd"))
    for i in range(1, 200):
        cycle(i)
    assert len(os.listdir("/proc/self/fd")) == after_one
