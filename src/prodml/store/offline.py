"""The offline store interface: point-in-time joins and latest values over a view's source.

An :class:`OfflineStore` has three primitives (the source's arrow schema, the
point-in-time join, the latest row per entity in a window); resolving and checking a
view against its source is written once, here, on the base. Backends are chosen by URL
scheme (see :mod:`prodml.store.backends`); each passes
:class:`prodml.testing.store.OfflineStoreConformance`.

The rules every backend implements (``docs/store.md`` draws them): for an entity row at
time ``t``, a source row is *available* when ``event <= t`` and ``created <= t``; the
value is the available row with the greatest ``(event, created, position)``, where
position is the row's place in the source (Parquet: file path, then row in the file;
SQL: physical order); the value is used only if ``event >= t - ttl``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from prodml.errors import ConfigError, SchemaError, SchemaProblem
from prodml.schema import Column, LogicalType, Schema
from prodml.store._definitions import KEY_TYPES, Entity, FeatureView, Source

__all__ = ["OfflineStore", "ViewQuery"]


@dataclass(frozen=True)
class ViewQuery:
    """One view's part of a point-in-time join: which features, under which output names."""

    view: FeatureView
    features: tuple[str, ...]
    columns: tuple[str, ...]


class OfflineStore(abc.ABC):
    """Reads feature views' sources: point-in-time joins for training, latest values.

    Subclasses implement :meth:`source_schema`, :meth:`point_in_time` and :meth:`latest`;
    :meth:`write_source` is optional. The entity table passed to :meth:`point_in_time`
    is already checked: ``__row`` (int64, 0..n-1), ``__ts`` (``timestamp[us, UTC]``)
    and the key columns, typed as the entities declare.
    """

    #: Source kinds (``Source.kind``) this store reads.
    source_kinds: tuple[str, ...] = ()

    @abc.abstractmethod
    def source_schema(self, source: Source) -> pa.Schema:
        """The arrow schema of ``source``'s columns; :class:`ConfigError` if unreadable."""

    @abc.abstractmethod
    def point_in_time(
        self, entity: pa.Table, queries: Sequence[ViewQuery], *, output: str | None = None
    ) -> pa.Table | None:
        """``__row`` and every query's columns, one row per entity row, ordered by ``__row``.

        With ``output``, write that table to a Parquet file there and return ``None``.
        """

    @abc.abstractmethod
    def latest(
        self, view: FeatureView, *, start_us: int | None, end_us: int, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Per entity, the best row among those that became available in ``(start, end]``.

        Only rows within ``ttl`` of ``end`` count. Batches hold the key columns, ``__e`` and
        ``__c`` (event and created time as ``timestamp[us, UTC]``) and the view's features.
        """

    def write_source(
        self, name: str, table: pa.Table, *, timestamp: str, created: str | None = None
    ) -> Source:
        """Store ``table`` where this backend can read it, and return its :class:`Source`."""
        raise ConfigError(f"{type(self).__name__} cannot write sources", parameter="name")

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections."""

    def __enter__(self) -> OfflineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fat base --------------------------------------------------------------------

    def resolve(self, view: FeatureView) -> FeatureView:
        """``view`` with its feature schema and entity key types read from the source.

        Raises
        ------
        ConfigError
            When this store cannot read the source kind.
        SchemaError
            Listing every missing column, naive timestamp without ``Source.timezone``,
            key of the wrong type and feature whose declared type the source contradicts.
        """
        src = view.source
        if src.kind not in self.source_kinds:
            raise ConfigError(
                f"view {view.name!r} has a {src.kind!r} source, but {type(self).__name__} "
                f"reads {list(self.source_kinds)} sources",
                parameter="source",
            )
        arrow = self.source_schema(src)
        where = f"source of view {view.name!r}"
        problems: list[SchemaProblem] = []
        by_name = {f.name: f for f in arrow}
        for col in (src.timestamp, *([src.created] if src.created else [])):
            problems.extend(_timestamp_problems(by_name.get(col), col, src, where))
        key_types: list[LogicalType] = []
        for key in view.entity.keys:
            kind = _logical(by_name.get(key))
            if key not in by_name:
                problems.append(
                    SchemaProblem(key, "missing", f"key column is missing from {where}")
                )
            elif kind not in KEY_TYPES:
                problems.append(
                    SchemaProblem(key, "type", f"keys must be int or string, {where} has {kind}")
                )
            else:
                key_types.append(kind)
        declared = view.schema
        columns: list[Column] = []
        for name in view.features:
            f = by_name.get(name)
            if f is None:
                problems.append(SchemaProblem(name, "missing", f"feature is missing from {where}"))
                continue
            found = Schema.from_arrow(pa.schema([f.with_nullable(True)])).columns[0]
            if declared is not None:
                want = declared[name]
                if found.dtype != want.dtype and not (
                    found.dtype is LogicalType.INT and want.dtype is LogicalType.FLOAT
                ):
                    problems.append(
                        SchemaProblem(
                            name, "type", f"declared {want.dtype}, but {where} has {found.dtype}"
                        )
                    )
                columns.append(want)
            else:
                columns.append(found)
        if problems:
            raise SchemaError(problems=problems)
        entity = _entity_with_types(view.entity, key_types, view.name)
        return view.model_copy(update={"entity": entity, "schema_": Schema(columns)})


def _logical(f: pa.Field | None) -> LogicalType | None:
    if f is None:
        return None
    t = f.type
    if pa.types.is_integer(t):
        return LogicalType.INT
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return LogicalType.STRING
    if pa.types.is_dictionary(t) and pa.types.is_string(t.value_type):
        return LogicalType.STRING
    try:
        return Schema.from_arrow(pa.schema([f])).columns[0].dtype
    except SchemaError:
        return None


def _timestamp_problems(
    f: pa.Field | None, col: str, src: Source, where: str
) -> list[SchemaProblem]:
    if f is None:
        return [SchemaProblem(col, "missing", f"timestamp column is missing from {where}")]
    if not pa.types.is_timestamp(f.type):
        return [SchemaProblem(col, "type", f"{where} must hold timestamps, got {f.type}")]
    if f.type.tz is None and src.timezone is None:
        return [
            SchemaProblem(
                col,
                "type",
                f"{where} has naive timestamps; store them timezone-aware, or say which "
                "zone they are in with Source(..., timezone='UTC')",
            )
        ]
    return []


def _entity_with_types(entity: Entity, found: list[LogicalType], view: str) -> Entity:
    if entity.dtypes is not None:
        for key, want, got in zip(entity.keys, entity.dtypes, found, strict=True):
            if want != got:
                raise SchemaError(
                    problems=[
                        SchemaProblem(
                            key,
                            "type",
                            f"entity key type mismatch: entity {entity.name!r} has {want} "
                            f"keys, but the source of view {view!r} has {got}",
                        )
                    ]
                )
        return entity
    return entity.model_copy(update={"dtypes": tuple(found)})
