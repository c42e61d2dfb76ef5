"""Feature store: point-in-time correct training sets, an online store, and a skew check.

Define :class:`Entity` objects (what features are about) and :class:`FeatureView` objects
(features of an entity, read from a :class:`Source`, valid for a ttl), then
:meth:`FeatureStore.apply` them. :meth:`FeatureStore.historical` joins entity rows with
the values known at each row's time (never a later or backfilled value);
:meth:`FeatureStore.materialize` copies the latest values into the online store;
:meth:`FeatureStore.online` reads them back in one round trip, equal to ``historical``
for now; :meth:`FeatureStore.skew` proves that serving equals training on a log of served
rows. Backends are chosen by URL (:mod:`prodml.store.backends`): DuckDB over Parquet or
PostgreSQL offline; SQLite, Redis or PostgreSQL online.

The DuckDB offline store needs the ``store`` extra (``pip install 'prodml[store]'``).

Examples
--------
>>> import tempfile
>>> from datetime import datetime, timedelta, timezone
>>> import pandas as pd, pyarrow as pa
>>> from prodml.store import Entity, FeatureStore, FeatureView
>>> store = FeatureStore.local(tempfile.mkdtemp())
>>> t = lambda day: datetime(2024, 1, day, tzinfo=timezone.utc)
>>> rows = pa.table({"user_id": [1, 1], "at": [t(1), t(5)], "spend": [10.0, 20.0]})
>>> source = store.offline_store.write_source("spend", rows, timestamp="at")
>>> user = Entity("user", keys=["user_id"])
>>> view = FeatureView(
...     "spend", entity=user, source=source, features=["spend"], ttl=timedelta(days=30)
... )
>>> store.apply([user, view])
{'user': 'created', 'spend': 'created'}
>>> entity_df = pd.DataFrame({"user_id": [1, 1], "event_timestamp": [t(3), t(6)]})
>>> store.historical(entity_df, ["spend:spend"]).to_pandas()["spend"].tolist()
[10.0, 20.0]
>>> _ = store.materialize(end=t(6))
>>> store.online({"user_id": 1}, ["spend:spend"], at=t(6))
{'spend': 20.0}
"""

from __future__ import annotations

from prodml.store._definitions import Entity, FeatureView, Source
from prodml.store._reads import EntityNotFoundError, OnlineRow
from prodml.store._skew import FeatureSkew, SkewReport
from prodml.store._state import MaterializeRun
from prodml.store._store import FeatureStore
from prodml.store._training import TrainingSet

__all__ = [
    "Entity",
    "EntityNotFoundError",
    "FeatureSkew",
    "FeatureStore",
    "FeatureView",
    "MaterializeRun",
    "OnlineRow",
    "SkewReport",
    "Source",
    "TrainingSet",
]
