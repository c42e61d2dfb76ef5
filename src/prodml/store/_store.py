"""The :class:`FeatureStore`: definitions, point-in-time training sets, online reads, skew."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import pandas as pd
import pyarrow as pa

from prodml._extras import require
from prodml._files import local_path, make_folder
from prodml._params import NONE, Interval, OneOf, TypeOf, check_params
from prodml._pickle import NotPicklable
from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.store import _codec, _state
from prodml.store._definitions import Entity, FeatureView
from prodml.store._reads import (
    OnlineRow,
    ReadPlan,
    plan_reads,
    read,
)
from prodml.store._skew import SkewReport, compare
from prodml.store._time import micros
from prodml.store._training import TrainingSet, frame_of, joined, typed, write_joined
from prodml.store.backends import offline_store_for, online_store_for
from prodml.store.offline import OfflineStore, ViewQuery
from prodml.store.online import OnlineStore

if TYPE_CHECKING:
    from prodml.drift import DriftDetector
    from prodml.lineage import LineageSink

__all__ = ["FeatureStore"]

Missing = Literal["none", "error"]
_MISSING = [OneOf(("none", "error"))]


def _full(view: str, feature: str) -> str:
    return f"{view}__{feature}"


class FeatureStore(NotPicklable):
    """Feature definitions over an offline store (training) and an online store (serving).

    Parameters
    ----------
    offline
        Offline store URL: ``duckdb://`` (default), ``duckdb:///dir`` or
        ``postgresql+psycopg://...``; or an :class:`~prodml.store.backends.OfflineStore`.
    online
        Online store URL: ``sqlite:///path.db`` (default: in memory), ``redis://...`` or
        ``postgresql+psycopg://...``; or an :class:`~prodml.store.backends.OnlineStore`.
        It also keeps the applied definitions and the materialization records.
    offline_options
        Keyword arguments of the offline store (DuckDB: ``memory_limit``,
        ``temp_directory``, ``threads``, ``partitions``, ``engine``).
    missing
        What :meth:`online` does for an entity without a current value: ``"none"`` gives
        ``None`` and lists the reference in ``OnlineRow.missing``; ``"error"`` raises
        :class:`EntityNotFoundError`.
    refresh_seconds
        :meth:`online` re-reads the applied definitions at most this often, so that a
        serving process picks up another process's :meth:`apply` without paying a
        lookup per read. Every other method reads them each call.

    Examples
    --------
    >>> import tempfile
    >>> store = FeatureStore.local(tempfile.mkdtemp())
    >>> store.views
    {}
    """

    _SHIP_INSTEAD = (
        "its offline and online store URLs (FeatureStore(offline_url, online_url), or the "
        "folder of FeatureStore.local)"
    )

    plan_cache_size: int = 1024
    """Read plans :meth:`online` keeps, one per distinct list of references (a class
    attribute; set it on an instance to change one store). A service whose requests ask
    for many different lists keeps at most this many: when full, the cache starts over."""

    def __init__(
        self,
        offline: str | OfflineStore = "duckdb://",
        online: str | OnlineStore = "sqlite:///:memory:",
        *,
        offline_options: Mapping[str, Any] | None = None,
        missing: Missing = "none",
        refresh_seconds: float = 1.0,
    ) -> None:
        check_params("FeatureStore", {"missing": missing}, {"missing": _MISSING})
        check_params(
            "FeatureStore",
            {"refresh_seconds": refresh_seconds},
            {"refresh_seconds": [Interval(float, 0, None)]},
        )
        self.refresh_seconds = refresh_seconds
        check_params(
            "FeatureStore",
            {"offline_options": offline_options},
            {"offline_options": [TypeOf(Mapping, "a mapping"), NONE]},
        )
        self.offline_url: str | None = offline if isinstance(offline, str) else None
        self.online_url: str | None = online if isinstance(online, str) else None
        self.offline_options: dict[str, Any] = dict(offline_options or {})
        self.missing = missing
        self.offline_store: OfflineStore = (
            offline
            if isinstance(offline, OfflineStore)
            else offline_store_for(offline, **self.offline_options)
        )
        self.online_store: OnlineStore = (
            online if isinstance(online, OnlineStore) else online_store_for(online)
        )
        self._lock = threading.Lock()
        self._plans: dict[tuple[Any, ...], ReadPlan] = {}
        self._loaded: str | None = None
        self._checked = -math.inf
        self._loads = _codec.json_loads()
        self._entities: dict[str, Entity] = {}
        self._views: dict[str, FeatureView] = {}

    @classmethod
    def local(cls, path: str | os.PathLike[str], **kwargs: Any) -> FeatureStore:
        """The embedded store in a folder: DuckDB over Parquet, SQLite online.

        ``path/online.db`` holds online values, definitions and materialization records;
        ``path/sources/`` receives :meth:`~prodml.store.backends.OfflineStore.write_source`
        files and ``path/tmp/`` DuckDB's spill files.
        """
        root = local_path(path, "the feature store's folder")
        # The DuckDB offline store needs the store extra: check it before making the folder.
        require("duckdb", extra="store", feature="The local feature store")
        make_folder(root, "the feature store's folder", parameter="path")
        return cls(f"duckdb://{root}", f"sqlite:///{root / 'online.db'}", **kwargs)

    def __repr__(self) -> str:
        return f"FeatureStore(offline={self.offline_store!r}, online={self.online_store!r})"

    def close(self) -> None:
        """Close both stores."""
        self.offline_store.close()
        self.online_store.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions -------------------------------------------------------------------

    def _refresh(self, *, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_seconds:
            return
        self._checked = now
        text = self.online_store.get_state(_state.DEFINITIONS)
        if text != self._loaded:
            self._entities, self._views = _state.load_definitions(text)
            self._loaded = text
            self._plans = {}

    @property
    def entities(self) -> dict[str, Entity]:
        """The applied entities by name."""
        self._refresh()
        return dict(self._entities)

    @property
    def views(self) -> dict[str, FeatureView]:
        """The applied feature views by name (schemas and key types resolved)."""
        self._refresh()
        return dict(self._views)

    def view(self, name: str) -> FeatureView:
        """One applied view; :class:`ConfigError` naming the known ones if there is none."""
        views = self.views
        if name not in views:
            raise ConfigError(
                f"no feature view {name[:60]!r} is applied; known: {sorted(views)}",
                parameter="features",
            )
        return views[name]

    def apply(self, objects: Iterable[Entity | FeatureView]) -> dict[str, str]:
        """Validate and store definitions; return each name's ``created``/``updated``/``unchanged``.

        Views are resolved against their sources: feature types and entity key types are
        read from the source, and everything wrong is reported at once.

        Raises
        ------
        ConfigError
            For objects that are not definitions, a name given twice, or a view whose
            entity differs from the applied entity of that name.
        SchemaError
            For missing columns, naive timestamps, and entity key type mismatches.
        """
        objects = list(objects)
        new_entities: dict[str, Entity] = {}
        new_views: dict[str, FeatureView] = {}
        for obj in objects:
            if not isinstance(obj, Entity | FeatureView):
                raise ConfigError(
                    f"apply takes Entity and FeatureView objects, got {type(obj).__name__}",
                    parameter="objects",
                )
            kind = "entity" if isinstance(obj, Entity) else "feature view"
            if obj.name in (new_entities if isinstance(obj, Entity) else new_views):
                raise ConfigError(
                    f"duplicate definitions: {kind} {obj.name!r} is given twice",
                    parameter="objects",
                )
            if isinstance(obj, Entity):
                new_entities[obj.name] = obj
            else:
                new_views[obj.name] = obj
        status: dict[str, str] = {}

        def merge(text: str | None) -> str:
            found, merged = self._merged(text, new_entities, new_views)
            status.clear()
            status.update(found)  # the statuses of the merge that was stored
            return merged

        with self._lock:
            self._refresh()
            # Compare-and-set on the definitions the merge started from: another process
            # applying at the same time is merged with, never overwritten.
            self.online_store.update_state(_state.DEFINITIONS, merge)
            self._refresh()
        return status

    def _merged(
        self,
        text: str | None,
        new_entities: Mapping[str, Entity],
        new_views: Mapping[str, FeatureView],
    ) -> tuple[dict[str, str], str]:
        """Each name's status and the definitions' text after applying on ``text``'s."""
        if text == self._loaded:
            entities, views = dict(self._entities), dict(self._views)
        else:
            entities, views = _state.load_definitions(text)
        status: dict[str, str] = {}
        for name, given in new_entities.items():
            old = entities.get(name)
            entity = given
            # The old key types belong to the old keys: a re-keyed entity reads its
            # types from its views' sources again.
            if old is not None and given.dtypes is None and given.keys == old.keys:
                entity = given.model_copy(update={"dtypes": old.dtypes})
            status[name] = "unchanged" if old == entity else "updated" if old else "created"
            entities[name] = entity
        for name, new in new_views.items():
            view = self._resolve(new, entities)
            entities[view.entity.name] = view.entity
            old_view = views.get(name)
            status[name] = "unchanged" if old_view == view else "updated" if old_view else "created"
            views[name] = view
        for name, view in views.items():
            if entities[view.entity.name] != view.entity:
                raise SchemaError(
                    problems=[
                        SchemaProblem(
                            None,
                            "type",
                            f"view {name!r} was applied with a different definition of "
                            f"entity {view.entity.name!r}; apply them together",
                        )
                    ]
                )
        return status, _state.dump_definitions(entities, views)

    def _resolve(self, view: FeatureView, entities: Mapping[str, Entity]) -> FeatureView:
        """``view`` on the applied entity of its name, resolved against its source.

        A view may carry its own copy of the entity (its description may be older); its
        keys, and its key types where both say them, must match the applied entity's.
        The source's key types are checked by the offline store ("entity key type
        mismatch").
        """
        known = entities.get(view.entity.name)
        if known is not None:
            given = view.entity
            if given.keys != known.keys or (
                given.dtypes is not None
                and known.dtypes is not None
                and given.dtypes != known.dtypes
            ):
                raise ConfigError(
                    f"view {view.name!r} uses an entity {given.name!r} that differs from the "
                    f"one applied: keys {list(given.keys)} vs {list(known.keys)}, types "
                    f"{_types(given)} vs {_types(known)}",
                    parameter="objects",
                )
            view = view.model_copy(update={"entity": known})
        return self.offline_store.resolve(view)

    def _queries(
        self, features: Sequence[str], *, full_names: bool | None
    ) -> tuple[list[ViewQuery], list[str], list[str]]:
        # full_names=None: the caller has no full_names option (skew), so the error for
        # a name shared by two views does not suggest it.
        if isinstance(features, str) or not isinstance(features, Sequence) or not features:
            raise ConfigError(
                "features must be a non-empty list of 'view:feature' references",
                parameter="features",
            )
        self._refresh()
        grouped: dict[str, list[str]] = {}
        for ref in features:
            view_name, feature = _split(ref)
            view = self.view(view_name)
            if feature not in view.features:
                raise ConfigError(
                    f"view {view_name!r} has no feature {feature[:60]!r}; its features: "
                    f"{list(view.features)}",
                    parameter="features",
                )
            grouped.setdefault(view_name, [])
            if feature in grouped[view_name]:
                raise ConfigError(f"feature {ref!r} is asked for twice", parameter="features")
            grouped[view_name].append(feature)
        queries = []
        for name, feats in grouped.items():
            cols = [_full(name, f) if full_names else f for f in feats]
            queries.append(ViewQuery(self._views[name], tuple(feats), tuple(cols)))
        refs = [f"{q.view.name}:{f}" for q in queries for f in q.features]
        columns = [c for q in queries for c in q.columns]
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        if dupes:
            fix = (
                "check them in separate calls"
                if full_names is None
                else "pass full_names=True to name the columns 'view__feature'"
            )
            raise ConfigError(
                f"features {dupes} come from several views; {fix}", parameter="features"
            )
        return queries, refs, columns

    # -- training ---------------------------------------------------------------------

    def historical(
        self,
        entity_df: pd.DataFrame | pa.Table,
        features: Sequence[str],
        *,
        timestamp: str = "event_timestamp",
        full_names: bool = False,
        output: str | os.PathLike[str] | None = None,
    ) -> TrainingSet:
        """Point-in-time correct feature values for each row of ``entity_df``.

        For each row and view, the value is the source row with the latest event time at
        or before the row's timestamp, among rows *created* at or before it, and only if
        it is within the view's ttl (``docs/store.md`` states the rules with a picture).

        Parameters
        ----------
        entity_df
            Entity key columns and a timezone-aware ``timestamp`` column.
        features
            ``"view:feature"`` references.
        timestamp
            The entity rows' timestamp column.
        full_names
            Name output columns ``view__feature`` instead of ``feature``.
        output
            Write the rows to this Parquet file instead of memory (for results larger
            than memory: DuckDB streams and spills). Without it, the Parquet store joins
            in memory with numpy arrays (``docs/store.md``, "Scale", says when DuckDB
            runs instead).

        Returns
        -------
        TrainingSet
            ``to_pandas()`` gives ``entity_df``'s columns followed by the features, in
            ``entity_df``'s row order; ``lineage()`` gives the registry's lineage.

        Raises
        ------
        ConfigError
            For unknown views or features, or columns named twice.
        SchemaError
            For a missing or naive timestamp column, or missing or mistyped key columns.
        """
        queries, refs, columns = self._queries(features, full_names=full_names)
        table = _codec.as_arrow(entity_df, what="entity_df")
        clash = sorted(set(columns) & set(table.column_names))
        if clash:
            raise ConfigError(
                f"entity_df already has columns {clash}; rename them or pass full_names=True",
                parameter="entity_df",
            )
        entities = list({q.view.entity.name: q.view.entity for q in queries}.values())
        ent = _codec.entity_table(table, entities, timestamp, what="entity_df")
        views = {q.view.name: q.view.fingerprint for q in queries}
        if output is not None:
            out = os.fspath(output)
            write_joined(self.offline_store, ent, queries, table, out)
            return TrainingSet(None, features=refs, columns=columns, views=views, path=out)
        result = self.offline_store.point_in_time(ent, queries)
        if result is None:  # pragma: no cover - a backend breaking the contract
            raise ConfigError("the offline store returned no rows")
        feats = typed(result, queries)
        del result
        data: pd.DataFrame | pa.Table
        if isinstance(entity_df, pd.DataFrame):
            data = pd.concat([entity_df.reset_index(drop=True), frame_of(feats)], axis=1)
        else:
            data = joined(table, feats, queries)
        return TrainingSet(data, features=refs, columns=columns, views=views)

    # -- serving ----------------------------------------------------------------------

    def materialize(
        self,
        end: datetime,
        *,
        start: datetime | None = None,
        views: Sequence[str] | None = None,
        batch_rows: int = 10_000,
    ) -> list[_state.MaterializeRun]:
        """Write each view's latest values up to ``end`` into the online store.

        Incremental: each view continues from its watermark (the previous run's ``end``),
        or from ``start`` when given. Idempotent: re-running a window writes nothing, and a
        run stopped mid-way leaves every stored row a whole, valid value and the watermark
        where it was, so the next run completes it.

        Returns
        -------
        list of MaterializeRun
            One record per view that had a window to run (also stored as state).
        """
        from prodml.store._materialize import materialize  # noqa: PLC0415

        runs = materialize(self, end, start=start, views=views, batch_rows=batch_rows)
        if self.lineage_sink is not None:
            self._emit_lineage(runs)
        return runs

    #: Where OpenLineage events of :meth:`materialize` go (:mod:`prodml.lineage`): any
    #: object with ``emit(event)``; ``None``: no events.
    lineage_sink: LineageSink | None = None
    #: The OpenLineage namespace of the store's jobs.
    lineage_namespace: str = "prodml"

    def _emit_lineage(self, runs: Sequence[_state.MaterializeRun]) -> None:
        """One ``COMPLETE`` event per view run: offline view -> online view."""
        from prodml.lineage import dataset, emit, facet, run_event  # noqa: PLC0415

        for run in runs:
            fp = {"prodml": facet(fingerprint=self.view(run.view).fingerprint)}
            event = run_event(
                "COMPLETE",
                job=f"{run.view}.materialize",
                namespace=self.lineage_namespace,
                inputs=[dataset("prodml.store.offline", run.view, fp)],
                outputs=[dataset("prodml.store.online", run.view, fp)],
                run_facets={"prodml": facet(action="materialize", **run.to_dict())},
            )
            emit(self.lineage_sink, event)

    def watermarks(self) -> dict[str, datetime]:
        """Each materialized view's watermark (the end of its last run) as UTC datetimes."""
        from prodml.store._time import from_micros  # noqa: PLC0415

        out = {}
        for name in self.views:
            wm = _state.load_watermark(
                self.online_store.get_state(_state.watermark_key(name)), name
            )
            if wm is not None:
                out[name] = from_micros(wm.end_us)
        return out

    @overload
    def online(
        self,
        entity: Mapping[str, Any],
        features: Sequence[str],
        *,
        at: datetime | None = None,
        missing: Missing | None = None,
        full_names: bool = False,
    ) -> OnlineRow: ...
    @overload
    def online(
        self,
        entity: Sequence[Mapping[str, Any]],
        features: Sequence[str],
        *,
        at: datetime | None = None,
        missing: Missing | None = None,
        full_names: bool = False,
    ) -> list[OnlineRow]: ...
    def online(
        self,
        entity: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        features: Sequence[str],
        *,
        at: datetime | None = None,
        missing: Missing | None = None,
        full_names: bool = False,
    ) -> OnlineRow | list[OnlineRow]:
        """The current feature values of one entity (a dict) or several (a list of dicts).

        Equal to what :meth:`historical` returns for the same entity at ``at`` (default:
        now), given the online store was materialized up to then. One round trip to the
        online store per call, whatever the number of views; no pandas.

        Parameters
        ----------
        entity
            A mapping with the key columns (``{"user_id": 42}``), or a list of them.
        features
            ``"view:feature"`` references.
        at
            The read time for the ttl check; defaults to now (UTC).
        missing
            Overrides the store's ``missing`` setting for this call.
        full_names
            Name the values ``view__feature`` (needed when two views share a feature
            name), as :meth:`historical` does.

        Returns
        -------
        OnlineRow or list of OnlineRow
            Feature name -> value typed per the view's schema; ``row.missing`` lists the
            references without a current value (their values are ``None``).

        Raises
        ------
        ConfigError
            For unknown features.
        SchemaError
            For a missing key or a key of the wrong type.
        EntityNotFoundError
            With ``missing="error"``, when a reference has no current value.
        """
        how = self.missing if missing is None else missing
        if how not in ("none", "error"):
            check_params("FeatureStore.online", {"missing": how}, {"missing": _MISSING})
        self._refresh(force=False)
        refs = features if type(features) is tuple else tuple(features)
        # A tuple of strings, or one holding that tuple when the names are full.
        key: tuple[Any, ...] = (refs, True) if full_names else refs
        plan = self._plans.get(key)
        if plan is None:
            if isinstance(features, str):
                self._queries(features, full_names=False)  # the error for a bare string
            plan = plan_reads(self._queries(list(refs), full_names=bool(full_names))[0])
            plans = self._plans
            if len(plans) >= self.plan_cache_size:  # bounded: lists may come from requests
                plans = self._plans = {}
            plans[key] = plan
        now = micros(at, "at") if at is not None else _now_us()
        single = type(entity) is dict or isinstance(entity, Mapping)
        if not single and not isinstance(entity, Sequence):
            raise ConfigError("entity must be a mapping or a list of mappings", parameter="entity")
        records = cast("Sequence[Mapping[str, Any]]", [entity] if single else entity)
        rows = read(plan, self.online_store, records, now_us=now, how=how, loads=self._loads)
        return rows[0] if single else rows

    @overload
    async def online_async(
        self,
        entity: Mapping[str, Any],
        features: Sequence[str],
        *,
        at: datetime | None = None,
        missing: Missing | None = None,
        full_names: bool = False,
    ) -> OnlineRow: ...
    @overload
    async def online_async(
        self,
        entity: Sequence[Mapping[str, Any]],
        features: Sequence[str],
        *,
        at: datetime | None = None,
        missing: Missing | None = None,
        full_names: bool = False,
    ) -> list[OnlineRow]: ...
    async def online_async(
        self,
        entity: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        features: Sequence[str],
        *,
        at: datetime | None = None,
        missing: Missing | None = None,
        full_names: bool = False,
    ) -> OnlineRow | list[OnlineRow]:
        """:meth:`online` in a worker thread, for async servers."""
        import asyncio  # noqa: PLC0415

        return await asyncio.to_thread(self._online, entity, features, at, missing, full_names)

    def _online(
        self,
        entity: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        features: Sequence[str],
        at: datetime | None,
        missing: Missing | None,
        full_names: bool,
    ) -> OnlineRow | list[OnlineRow]:
        # One signature for asyncio.to_thread (the overloads of online() are for callers).
        return self.online(entity, features, at=at, missing=missing, full_names=full_names)

    # -- skew -------------------------------------------------------------------------

    def skew(
        self,
        served_log: pd.DataFrame | pa.Table,
        features: Sequence[str] | None = None,
        *,
        timestamp: str = "event_timestamp",
        rtol: float = 1e-9,
        atol: float = 0.0,
        detector: DriftDetector | None = None,
        full_names: bool = False,
    ) -> SkewReport:
        """Recompute served rows' features offline and compare them with what was served.

        Parameters
        ----------
        served_log
            One row per served request: the entity keys, the ``timestamp`` at which the
            features were read, and the served values in columns named as
            :meth:`online` names them.
        features
            References to check; by default every served column that is a feature of
            exactly one applied view.
        timestamp, rtol, atol
            The log's time column, and the tolerance for numbers.
        detector
            A :class:`~prodml.drift.DriftDetector` to compare the served values' distribution
            with the recompute's; by default one with its defaults.
        full_names
            The log names its columns ``view__feature``, as :meth:`online` does with
            ``full_names=True`` (needed when two views share a feature name). By default
            the columns are the bare feature names.

        Returns
        -------
        SkewReport
            Per feature: rows, mismatches (a null on one side counts), first mismatched
            row; and the drift test. ``report.ok`` is what a daily job asserts.
        """
        log = _codec.as_arrow(served_log, what="served_log").to_pandas()
        if features is None:
            features = self._served_refs(list(log.columns), full_names=full_names)
        queries, refs, columns = self._queries(features, full_names=True if full_names else None)
        missing = [c for c in columns if c not in log.columns]
        if missing:
            raise SchemaError(
                problems=[
                    SchemaProblem(c, "missing", "served_log has no such column") for c in missing
                ]
            )
        keys = {k for q in queries for k in q.view.entity.keys}
        base = log[[c for c in log.columns if c in keys or c == timestamp]]
        recomputed = self.historical(
            base, refs, timestamp=timestamp, full_names=full_names
        ).to_pandas()
        return compare(log, recomputed, refs, columns, rtol=rtol, atol=atol, detector=detector)

    def _served_refs(self, names: list[str], *, full_names: bool) -> list[str]:
        owners: dict[str, list[str]] = {}
        for view in self.views.values():
            for f in view.features:
                column = _full(view.name, f) if full_names else f
                owners.setdefault(column, []).append(f"{view.name}:{f}")
        refs = [owners[n][0] for n in names if len(owners.get(n, ())) == 1]
        if not refs:
            named = "'view__feature'" if full_names else "a feature"
            raise ConfigError(
                f"served_log has no column named after {named}; pass features=[...]"
                + ("" if full_names else " (or full_names=True for 'view__feature' columns)"),
                parameter="features",
            )
        return refs


def _types(entity: Entity) -> list[str] | None:
    return None if entity.dtypes is None else [str(t) for t in entity.dtypes]


def _now_us() -> int:
    return time.time_ns() // 1000


def _split(ref: object) -> tuple[str, str]:
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ConfigError(
            f"feature reference {str(ref)[:60]!r} must be 'view:feature'", parameter="features"
        )
    view, feature = ref.split(":")
    return view, feature
