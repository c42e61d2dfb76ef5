"""Feature store training sets over Dask partitions: ``historical`` on each partition.

Each partition of the entity rows is joined point-in-time on a worker, by a
:class:`~prodml.store.FeatureStore` opened there on the same offline store URL with the
client's applied definitions (exactly those, not a re-read), so the partitions' rows are
the rows one :meth:`~prodml.store.FeatureStore.historical` call would give.

A feature takes, in every partition and in the output's ``meta``, the pandas dtype it
has with a missing value (``to_pandas`` of an Arrow null of its type: ``float64`` for
an integer feature), and a boolean feature pandas' nullable ``boolean`` (``object``
would hold the same values, but Dask cannot write an ``object`` meta to Parquet):
whether a partition's rows all find a value must not change its dtype (Dask takes
every partition to be of the ``meta``'s dtypes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from prodml._params import TypeOf, check_params
from prodml.errors import ConfigError
from prodml.integrations._dask_guard import guarded_map

if TYPE_CHECKING:
    import dask.dataframe as dd

    from prodml.integrations.dask import _Data
    from prodml.store import FeatureStore

__all__ = ["historical"]


def _partition(
    part: pd.DataFrame,
    partition_info: dict[str, Any] | None = None,
    **args: Any,
) -> pd.DataFrame:
    from prodml.integrations._dask_errors import _on_partition  # noqa: PLC0415
    from prodml.integrations._dask_frames import _number  # noqa: PLC0415

    return _on_partition(_number(partition_info), _join, part, args)


def _join(part: pd.DataFrame, args: dict[str, Any]) -> pd.DataFrame:
    return _historical(part, **args)


def _historical(
    part: pd.DataFrame,
    *,
    offline: str,
    options: dict[str, Any],
    definitions: str,
    features: list[str],
    timestamp: str,
    full_names: bool,
    dtypes: dict[str, Any],
) -> pd.DataFrame:
    from prodml.store import FeatureStore  # noqa: PLC0415 - on the worker
    from prodml.store._state import DEFINITIONS  # noqa: PLC0415

    with FeatureStore(offline, "sqlite:///:memory:", offline_options=options) as store:
        store.online_store.set_state(DEFINITIONS, definitions)
        out = store.historical(part, features, timestamp=timestamp, full_names=full_names)
        frame = out.to_pandas()
    frame.index = part.index
    other = {c: t for c, t in dtypes.items() if c in frame.columns and frame[c].dtype != t}
    # exact: int64 -> float64 gives the values to_pandas gives with a null, bool -> boolean
    # keeps True / False
    return frame.astype(other) if other else frame


def _missable(table: pa.Table, entity_columns: list[Any]) -> dict[str, Any]:
    """The pandas dtype of each feature column of ``table`` when it holds a missing value."""
    features = [f for f in table.schema if f.name not in entity_columns]
    nulls = pa.table({f.name: pa.nulls(1, f.type) for f in features}).to_pandas()
    return {
        f.name: pd.BooleanDtype() if pa.types.is_boolean(f.type) else nulls[f.name].dtype
        for f in features
    }


def historical(
    store: FeatureStore,
    entity_df: _Data,
    features: Sequence[str],
    *,
    timestamp: str = "event_timestamp",
    full_names: bool = False,
) -> dd.DataFrame:
    """Point-in-time features for a Dask DataFrame of entity rows, partition by partition.

    Parameters
    ----------
    store
        A :class:`~prodml.store.FeatureStore` opened on an offline store URL (the workers
        open the same URL, so local paths must be visible to them).
    entity_df
        A Dask DataFrame (or a pandas one, as one partition, or a path or list of paths
        of Parquet files) with the key columns and a timezone-aware ``timestamp`` column.
    features, timestamp, full_names
        As :meth:`~prodml.store.FeatureStore.historical`.

    Returns
    -------
    dask.dataframe.DataFrame
        The partitions of ``entity_df`` with the feature columns added; the index is kept.
        Each feature has one dtype in every partition: the one pandas gives it with a
        missing value (``float64`` for integers), and ``boolean`` for booleans. So
        ``compute()`` equals ``store.historical(entity_df.compute(), ...).to_pandas()``
        when some row misses each integer feature and there is no boolean one; else in
        values (in memory, a feature that every row finds stays ``int64`` or ``bool``,
        and a boolean one with a miss is ``object`` holding ``None``).

    Raises
    ------
    ConfigError
        When ``store`` has no offline store URL, or for unknown features.
    SchemaError
        As :meth:`~prodml.store.FeatureStore.historical`, from the first bad partition;
        at once for an ``entity_df`` that is not one of the above.
    PartitionError
        On compute, when a partition of ``entity_df`` cannot be computed (failing
        upstream code), naming the partition.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import datetime, timezone
    >>> import pandas as pd, pyarrow as pa
    >>> import dask.dataframe as dd
    >>> from prodml.store import Entity, FeatureStore, FeatureView
    >>> from prodml.integrations import dask as pdask
    >>> store = FeatureStore.local(tempfile.mkdtemp())
    >>> day = lambda d: datetime(2024, 1, d, tzinfo=timezone.utc)
    >>> rows = pa.table({"user_id": [1, 2], "at": [day(1), day(2)], "spend": [5.0, 7.0]})
    >>> src = store.offline_store.write_source("spend", rows, timestamp="at")
    >>> user = Entity("user", keys=["user_id"])
    >>> _ = store.apply([user, FeatureView("s", entity=user, source=src, features=["spend"])])
    >>> df = pd.DataFrame({"user_id": [1, 2, 2], "event_timestamp": [day(3), day(1), day(3)]})
    >>> out = pdask.historical(store, dd.from_pandas(df, npartitions=2), ["s:spend"])
    >>> out.compute()["spend"].tolist()
    [5.0, nan, 7.0]
    """
    from prodml.integrations._dask_frames import _frame  # noqa: PLC0415 - no import cycle
    from prodml.store import FeatureStore  # noqa: PLC0415
    from prodml.store._state import DEFINITIONS  # noqa: PLC0415

    check_params(
        "historical", {"store": store}, {"store": [TypeOf(FeatureStore, "a FeatureStore")]}
    )
    if store.offline_url is None:
        raise ConfigError(
            "the workers open the offline store by URL: build the FeatureStore from a URL",
            parameter="store",
        )
    frame = _frame(entity_df)
    definitions = store.online_store.get_state(DEFINITIONS) or ""
    probe = store.historical(
        frame._meta, list(features), timestamp=timestamp, full_names=full_names
    ).to_arrow()
    args: dict[str, Any] = {
        "offline": store.offline_url,
        "options": dict(store.offline_options),
        "definitions": definitions,
        "features": list(features),
        "timestamp": timestamp,
        "full_names": full_names,
        "dtypes": _missable(probe, list(frame.columns)),
    }
    meta = _historical(frame._meta, **args)
    return guarded_map(frame, _partition, meta=meta, **args)
