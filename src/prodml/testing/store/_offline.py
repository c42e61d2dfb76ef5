"""The conformance suite of offline stores: point-in-time joins equal the brute force."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pyarrow as pa

from prodml.errors import SchemaError
from prodml.store import Entity, FeatureStore, FeatureView
from prodml.store.backends import OfflineStore
from prodml.testing.registry._common import pytest
from prodml.testing.store._cases import PitCase, pit_cases, settings
from prodml.testing.store._reference import brute_force_historical, rows_equal

_hyp = pytest.importorskip("hypothesis")

__all__ = ["OfflineStoreConformance", "apply_case"]

T = datetime(2024, 1, 1, tzinfo=timezone.utc)
H = timedelta(hours=1)


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def apply_case(store: FeatureStore, case: PitCase) -> list[tuple[FeatureView, pa.Table]]:
    """Write each view's rows through the offline store, apply the views, return them."""
    user = Entity("user", keys=["user_id"])
    out = []
    for v in case.views:
        name = _name(v.name)
        source = store.offline_store.write_source(
            name, v.rows, timestamp="event_at", created="created_at" if v.created else None
        )
        feats = [c for c in v.rows.column_names if c[0] in "fg"]
        out.append(
            (FeatureView(name, entity=user, source=source, features=feats, ttl=v.ttl), v.rows)
        )
    store.apply([user, *(view for view, _ in out)])
    return [(store.view(view.name), rows) for view, rows in out]


def _rows(df: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    return [{c: (None if pd.isna(r[c]) else r[c]) for c in columns} for r in df.to_dict("records")]


class OfflineStoreConformance:
    """Point-in-time rules of an :class:`~prodml.store.backends.OfflineStore`.

    Provide a fixture ``offline_store`` returning a store whose ``write_source`` works.
    """

    @pytest.fixture
    def store(self, offline_store: OfflineStore) -> Any:
        fs = FeatureStore(offline_store, "sqlite:///:memory:")
        yield fs
        fs.online_store.close()

    def _check(self, store: FeatureStore, case: PitCase) -> None:
        views = apply_case(store, case)
        refs = [r for view, _ in views for r in view.refs()]
        got = store.historical(case.entity_df, refs).to_pandas()
        feats = [f for view, _ in views for f in view.features]
        expected = brute_force_historical(case.entity_df, views)
        actual = _rows(got, feats)
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert rows_equal(a, e), f"entity row {i}: store {a} != brute force {e}"
        pd.testing.assert_frame_equal(got[list(case.entity_df.columns)], case.entity_df)

    def test_historical_equals_brute_force(self, store: FeatureStore) -> None:
        @settings(30)
        @_hyp.given(case=pit_cases())  # type: ignore[untyped-decorator]
        def check(case: PitCase) -> None:
            self._check(store, case)

        check()

    def _one(
        self,
        store: FeatureStore,
        rows: dict[str, Any],
        ttl: timedelta | None = None,
        created: bool = False,
    ) -> FeatureView:
        user = Entity("user", keys=["user_id"])
        name = _name("v")
        source = store.offline_store.write_source(
            name, pa.table(rows), timestamp="event_at", created="created_at" if created else None
        )
        store.apply([user, FeatureView(name, entity=user, source=source, features=["x"], ttl=ttl)])
        return store.view(name)

    def _ask(
        self, store: FeatureStore, view: FeatureView, times: list[datetime], key: int = 1
    ) -> list[Any]:
        df = pd.DataFrame({"user_id": [key] * len(times), "event_timestamp": times})
        out = store.historical(df, view.refs()).to_pandas()["x"]
        return [None if pd.isna(v) else v for v in out]

    def test_equal_times_resolve_to_the_last_row_in_the_source(self, store: FeatureStore) -> None:
        view = self._one(
            store, {"user_id": [1, 1, 1], "event_at": [T, T, T - H], "x": [1.0, 2.0, 3.0]}
        )
        assert self._ask(store, view, [T]) == [2.0]

    def test_a_backfilled_row_is_not_used_before_it_was_created(self, store: FeatureStore) -> None:
        view = self._one(
            store,
            {
                "user_id": [1, 1],
                "event_at": [T, T + H],
                "created_at": [T, T + 10 * H],
                "x": [1.0, 2.0],
            },
            created=True,
        )
        assert self._ask(store, view, [T + H, T + 9 * H, T + 10 * H]) == [1.0, 1.0, 2.0]

    def test_a_late_old_row_never_replaces_a_newer_one(self, store: FeatureStore) -> None:
        view = self._one(
            store,
            {
                "user_id": [1, 1],
                "event_at": [T + H, T],
                "created_at": [T + H, T + 5 * H],
                "x": [2.0, 1.0],
            },
            created=True,
        )
        assert self._ask(store, view, [T, T + H, T + 6 * H]) == [None, 2.0, 2.0]

    def test_ttl_bounds_the_age_of_a_value(self, store: FeatureStore) -> None:
        view = self._one(store, {"user_id": [1], "event_at": [T], "x": [1.0]}, ttl=2 * H)
        assert self._ask(
            store, view, [T - H, T, T + 2 * H, T + 2 * H + timedelta(microseconds=1)]
        ) == [None, 1.0, 1.0, None]

    def test_missing_entities_get_nulls(self, store: FeatureStore) -> None:
        view = self._one(store, {"user_id": [1], "event_at": [T], "x": [1.0]})
        assert self._ask(store, view, [T + H], key=2) == [None]

    def test_naive_source_timestamps_need_a_time_zone(self, store: FeatureStore) -> None:
        user = Entity("user", keys=["user_id"])
        naive = pa.table({"user_id": [1], "event_at": pa.array([datetime(2024, 1, 1)]), "x": [1.0]})
        name = _name("naive")
        source = store.offline_store.write_source(name, naive, timestamp="event_at")
        with pytest.raises(SchemaError, match="naive"):
            store.apply([user, FeatureView(name, entity=user, source=source, features=["x"])])
        paris = source.model_copy(update={"timezone": "Europe/Paris"})
        store.apply([user, FeatureView(name, entity=user, source=paris, features=["x"])])
        view = store.view(name)
        # 00:00 in Paris is 23:00 UTC the day before.
        assert self._ask(store, view, [T - 2 * H, T - H]) == [None, 1.0]

    def test_row_order_and_duplicate_entity_rows_are_kept(self, store: FeatureStore) -> None:
        view = self._one(store, {"user_id": [1, 2], "event_at": [T, T], "x": [1.0, 2.0]})
        df = pd.DataFrame(
            {"user_id": [2, 1, 2, 2], "event_timestamp": [T, T, T - H, T], "other": list("abcd")},
            index=[9, 8, 7, 6],
        )
        out = store.historical(df, view.refs()).to_pandas()
        assert out["other"].tolist() == list("abcd")
        assert [None if pd.isna(v) else v for v in out["x"]] == [2.0, 1.0, None, 2.0]

    def test_string_and_compound_keys(self, store: FeatureStore) -> None:
        acct = Entity("acct", keys=["bank", "acct_id"])
        name = _name("acct")
        rows = pa.table(
            {
                "bank": ["a", "a", "b"],
                "acct_id": ["1", "2", "1"],
                "event_at": [T, T, T],
                "x": [1.0, 2.0, 3.0],
            }
        )
        source = store.offline_store.write_source(name, rows, timestamp="event_at")
        store.apply([acct, FeatureView(name, entity=acct, source=source, features=["x"])])
        df = pd.DataFrame(
            {"bank": ["b", "a", "c"], "acct_id": ["1", "2", "1"], "event_timestamp": [T, T, T]}
        )
        out = store.historical(df, [f"{name}:x"]).to_pandas()["x"]
        assert [None if pd.isna(v) else v for v in out] == [3.0, 2.0, None]

    def test_latest_is_the_historical_value_at_the_end(self, store: FeatureStore) -> None:
        @settings(15)
        @_hyp.given(case=pit_cases(max_views=1))  # type: ignore[untyped-decorator]
        def check(case: PitCase) -> None:
            [(view, rows)] = apply_case(store, case)
            end = datetime(2024, 3, 9, 18, tzinfo=timezone.utc)
            end_us = int(pd.Timestamp(end).value // 1000)
            got = {}
            for batch in store.offline_store.latest(view, start_us=None, end_us=end_us):
                for r in batch.to_pylist():
                    got[r["user_id"]] = {f: r[f] for f in view.features}
            keys = sorted(set(rows.column("user_id").to_pylist()))
            df = pd.DataFrame({"user_id": keys, "event_timestamp": [end] * len(keys)})
            expected = brute_force_historical(df, [(view, rows)])
            for key, exp in zip(keys, expected, strict=True):
                if all(v is None for v in exp.values()):
                    assert key not in got
                else:
                    assert rows_equal(got[key], exp), (key, got[key], exp)

        check()
