"""``online`` names values ``view__feature`` on request, as ``historical`` does.

Two views sharing a feature name were refused with "pass full_names=True", an argument
``online`` did not take.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from prodml.errors import ConfigError
from prodml.store import Entity, FeatureStore, FeatureView

T = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_online_takes_full_names_when_views_share_a_feature(tmp_path: Path) -> None:
    with FeatureStore.local(tmp_path / "fs") as fs:
        user = Entity("user", keys=["uid"])
        views = []
        for name, x in (("a", 1.0), ("b", 2.0)):
            table = pa.table({"uid": [7], "at": [T], "x": [x]})
            src = fs.offline_store.write_source(name, table, timestamp="at")
            views.append(FeatureView(name, entity=user, source=src, features=["x"]))
        fs.apply([user, *views])
        fs.materialize(T + timedelta(1))
        refs = ["a:x", "b:x"]
        at = T + timedelta(1)
        with pytest.raises(ConfigError, match="full_names=True"):
            fs.online({"uid": 7}, refs, at=at)
        row = fs.online({"uid": 7}, refs, at=at, full_names=True)
        assert dict(row) == {"a__x": 1.0, "b__x": 2.0}
        # The same names as historical's, and a plan of its own (bare names still refused).
        df = pd.DataFrame({"uid": [7], "event_timestamp": [at]})
        hist = fs.historical(df, refs, full_names=True).to_pandas()
        assert {c: hist[c][0] for c in ("a__x", "b__x")} == dict(row)
        with pytest.raises(ConfigError, match="full_names=True"):
            fs.online({"uid": 7}, refs, at=at)
        got = asyncio.run(fs.online_async([{"uid": 7}], refs, at=at, full_names=True))
        assert [dict(r) for r in got] == [dict(row)]


def test_skew_does_not_suggest_an_argument_it_has_not(tmp_path: Path) -> None:
    with FeatureStore.local(tmp_path / "fs") as fs:
        user = Entity("user", keys=["uid"])
        views = []
        for name in ("a", "b"):
            table = pa.table({"uid": [7], "at": [T], "x": [1.0]})
            src = fs.offline_store.write_source(name, table, timestamp="at")
            views.append(FeatureView(name, entity=user, source=src, features=["x"]))
        fs.apply([user, *views])
        log = pd.DataFrame({"uid": [7], "event_timestamp": [T], "x": [1.0]})
        with pytest.raises(ConfigError, match="separate calls") as info:
            fs.skew(log, ["a:x", "b:x"])
        assert "full_names" not in str(info.value)


def test_skew_reads_a_log_written_with_full_names(tmp_path: Path) -> None:
    with FeatureStore.local(tmp_path / "fs") as fs:
        user = Entity("user", keys=["uid"])
        views = []
        for name, x in (("a", 1.0), ("b", 2.0)):
            table = pa.table({"uid": [7, 8], "at": [T, T], "x": [x, x + 10]})
            src = fs.offline_store.write_source(name, table, timestamp="at")
            views.append(FeatureView(name, entity=user, source=src, features=["x"]))
        fs.apply([user, *views])
        at = T + timedelta(1)
        fs.materialize(at)
        refs = ["a:x", "b:x"]
        rows = [
            {"uid": u, "event_timestamp": at, **fs.online({"uid": u}, refs, at=at, full_names=True)}
            for u in (7, 8, 7)
        ]
        log = pd.DataFrame(rows)
        assert list(log.columns) == ["uid", "event_timestamp", "a__x", "b__x"]
        report = fs.skew(log, full_names=True)  # the features found from the column names
        assert report.ok
        assert [(f.feature, f.column, f.rows) for f in report.features] == [
            ("a:x", "a__x", 3),
            ("b:x", "b__x", 3),
        ]
        log.loc[2, "b__x"] = 99.0
        bad = fs.skew(log, refs, full_names=True)
        assert bad.mismatched_features == ["b:x"]
        assert bad["b:x"].first_row == 2
        # Without full_names the log's columns name no feature: the error says what to pass.
        with pytest.raises(ConfigError, match="full_names=True"):
            fs.skew(log)
