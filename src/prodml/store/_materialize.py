"""Materialization: each view's latest values in a window, into the online store.

A run reads, per entity, the best row that became available in ``(start, end]`` (the
offline store's :meth:`~prodml.store.backends.OfflineStore.latest`) and upserts it under
the online store's write rule, batch by batch; only when every batch is written does the
view's watermark move to ``end``, and never back: the run is recorded by compare-and-set
on the stored record, so of two concurrent runs the slower one, ending earlier, keeps the
other's end. So a re-run writes nothing, and a run killed mid-way leaves whole rows (each
batch is one transaction), every one a value that ``historical`` gives for some time at
or before ``end``; the next run starts from the old watermark and completes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from prodml._params import Interval, check_params
from prodml.errors import ConfigError
from prodml.schema import Schema
from prodml.store import _codec, _state
from prodml.store._time import UTC_US, micros
from prodml.store.online import OnlineRecord

if TYPE_CHECKING:
    from prodml.store._store import FeatureStore

__all__ = ["materialize"]


def materialize(
    store: FeatureStore,
    end: datetime,
    *,
    start: datetime | None,
    views: Sequence[str] | None,
    batch_rows: int,
) -> list[_state.MaterializeRun]:
    """See :meth:`FeatureStore.materialize`."""
    check_params(
        "FeatureStore.materialize", {"batch_rows": batch_rows}, {"batch_rows": [Interval(int, 1)]}
    )
    end_us = micros(end, "end")
    start_us = micros(start, "start") if start is not None else None
    if start_us is not None and start_us >= end_us:
        raise ConfigError("start must be before end", parameter="start")
    applied = store.views
    names = list(applied) if views is None else list(views)
    for name in names:
        store.view(name)  # ConfigError naming the known views
    runs = []
    online = store.online_store
    for name in names:
        view = applied[name]
        key = _state.watermark_key(name)
        mark = _state.load_watermark(online.get_state(key), name)
        version = view.storage_version
        ttl_us = None if view.ttl is None else view.ttl // timedelta(microseconds=1)
        begin = start_us
        # A ttl longer than the runs so far had reads rows they skipped: from the start.
        if begin is None and mark is not None and mark.version == version and mark.covers(ttl_us):
            begin = mark.end_us
        if begin is not None and begin >= end_us:
            continue
        entities = written = 0
        schema = view.schema or Schema()
        for raw in store.offline_store.latest(
            view, start_us=begin, end_us=end_us, batch_rows=batch_rows
        ):
            batch = _with_keys(raw, view.entity.keys)
            if batch.num_rows == 0:
                continue
            key_cols = [batch.column(k).to_pylist() for k in view.entity.keys]
            keys = [_codec.encode_key(vals) for vals in zip(*key_cols, strict=True)]
            # In microseconds whatever unit the offline store answers in (an integer of
            # another unit would pass for a time a thousand times off).
            events = pc.cast(batch.column("__e"), UTC_US, safe=False).cast("int64").to_pylist()
            created = pc.cast(batch.column("__c"), UTC_US, safe=False).cast("int64").to_pylist()
            payloads = _codec.encode_payloads(batch, schema)
            records = [
                OnlineRecord(k, version, e, c, p)
                for k, e, c, p in zip(keys, events, created, payloads, strict=True)
            ]
            entities += len(records)
            written += online.write(name, records)
        run = _state.MaterializeRun(name, begin, end_us, entities, written, _now())
        online.update_state(key, _recorder(name, run, version, ttl_us))
        runs.append(run)
    return runs


def _recorder(
    view: str, run: _state.MaterializeRun, version: str, ttl_us: int | None
) -> Callable[[str | None], str]:
    """The watermark text after ``run``, from the one stored when it is recorded.

    Not from the one read when the run began: a concurrent run may have moved it since,
    and the slower run must not move it back (compare-and-set, retried on its value).
    """

    def record(text: str | None) -> str:
        mark = _state.load_watermark(text, view)
        base = mark if mark is not None else _state.Watermark(view, version, run.end_us)
        return base.with_run(run, version, ttl_us).dumps()

    return record


def _with_keys(batch: pa.RecordBatch, keys: Sequence[str]) -> pa.RecordBatch:
    """``batch`` without the rows whose key has a null.

    No entity can read them online, and ``historical`` never joins a null key either.
    """
    valid = None
    for k in keys:
        ok = pc.is_valid(batch.column(k))
        valid = ok if valid is None else pc.and_(valid, ok)
    if valid is None or valid.false_count == 0:
        return batch
    return batch.filter(valid)


def _now() -> int:
    return micros(datetime.now(timezone.utc), "now")
