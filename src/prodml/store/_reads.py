"""Online reads: a plan per feature list, then one round trip and a JSON decode per view.

:meth:`FeatureStore.online` builds a :class:`ReadPlan` once per feature list (which
views, under which version and ttl, which value positions and decoders) and caches it; a
read then encodes the entity keys, asks the online store for every (view, key) pair at
once and turns each stored JSON array into typed values, with no pandas and no schema
check per call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prodml._quote import short_repr
from prodml._state import is_unicode
from prodml.errors import ProdMLError, SchemaError, SchemaProblem, StateError
from prodml.schema import LogicalType, Schema
from prodml.store import _codec
from prodml.store._definitions import Entity
from prodml.store.offline import ViewQuery
from prodml.store.online import OnlineStore

__all__ = ["EntityNotFoundError", "OnlineRow", "ReadPlan", "micros_of", "plan_reads", "read"]


class EntityNotFoundError(ProdMLError, KeyError):
    """An online read found no current value for an entity (with ``missing="error"``)."""

    if TYPE_CHECKING:  # the same method, declared for type checkers (pyright)

        def __str__(self) -> str: ...

    else:
        __str__ = Exception.__str__

    def __init__(self, message: str, *, features: Sequence[str] = ()) -> None:
        self.features: tuple[str, ...] = tuple(features)
        super().__init__(message)


class OnlineRow(dict[str, Any]):
    """An online read: feature name -> typed value; ``missing`` lists refs without one.

    A reference is missing when the entity has no materialized row in its view, the row
    is older than the view's ttl, or it was written under an older view definition; its
    value is then ``None``.
    """

    missing: tuple[str, ...] = ()

    def __repr__(self) -> str:
        """The dict, and the missing references when there are any (they read ``None``)."""
        if not self.missing:
            return dict.__repr__(self)
        return f"OnlineRow({dict.__repr__(self)}, missing={self.missing!r})"


@dataclass(frozen=True)
class ViewRead:
    """How :meth:`FeatureStore.online` reads one view: precomputed once per feature list."""

    name: str
    entity: int  # index into ReadPlan.entities
    version: str
    ttl_us: int | None
    columns: tuple[str, ...]
    indices: tuple[int, ...]
    decoders: tuple[Any, ...] | None  # None when every value is used as JSON gives it
    refs: tuple[str, ...]
    whole: bool  # every feature of the view, in its order, with no decoder
    width: int = 0  # how many values a stored row of this view version holds


@dataclass(frozen=True)
class ReadPlan:
    """The views of one feature list, and the entities whose keys they need."""

    entities: tuple[Entity, ...]
    views: tuple[ViewRead, ...]
    keys: tuple[Callable[[Mapping[str, Any]], str], ...]  # per entity: record -> key


def _key_function(entity: Entity) -> Callable[[Mapping[str, Any]], str]:
    """``record -> online key`` for ``entity``: a shortcut for one int or string key."""
    if len(entity.keys) != 1:
        return lambda rec: _codec.record_key(entity, rec)
    name = entity.keys[0]
    want = int if entity.dtypes == (LogicalType.INT,) else str

    def key(rec: Mapping[str, Any]) -> str:
        v = rec.get(name)
        if type(v) is not want:
            return _codec.record_key(entity, rec)  # numpy ints, or the error naming the key
        return str(v) if want is int else "s" + str(v)

    return key


def micros_of(td: timedelta) -> int:
    """A timedelta in microseconds."""
    return int(td.days * 86_400_000_000 + td.seconds * 1_000_000 + td.microseconds)


def plan_reads(queries: Sequence[ViewQuery]) -> ReadPlan:
    """The :class:`ReadPlan` of the views and features in ``queries``."""
    entities: dict[str, int] = {}
    reads = []
    for q in queries:
        view = q.view
        decode = _codec.decoders(view.schema or Schema())
        index = {f: i for i, f in enumerate(view.features)}
        indices = tuple(index[f] for f in q.features)
        decoders = tuple(decode[i] for i in indices)
        reads.append(
            ViewRead(
                name=view.name,
                entity=entities.setdefault(view.entity.name, len(entities)),
                version=view.storage_version,
                ttl_us=None if view.ttl is None else micros_of(view.ttl),
                columns=q.columns,
                indices=indices,
                decoders=None if all(d is None for d in decoders) else decoders,
                refs=tuple(f"{view.name}:{f}" for f in q.features),
                whole=indices == tuple(range(len(view.features)))
                and all(d is None for d in decoders),
                width=len(view.features),
            )
        )
    by_name = {q.view.entity.name: q.view.entity for q in queries}
    ents = tuple(by_name[n] for n in entities)
    return ReadPlan(ents, tuple(reads), tuple(_key_function(e) for e in ents))


def read(
    plan: ReadPlan,
    online: OnlineStore,
    records: Sequence[Mapping[str, Any]],
    *,
    now_us: int,
    how: str,
    loads: Callable[[str], Any],
) -> list[OnlineRow]:
    """One :class:`OnlineRow` per record, from one read of the online store."""
    pairs: list[tuple[str, str]] = []
    for rec in records:
        keys = [key(rec) for key in plan.keys]
        pairs.extend((v.name, keys[v.entity]) for v in plan.views)
    try:
        hits = iter(online.read(pairs))
    except UnicodeEncodeError as err:  # a lone surrogate: no store can encode the key
        raise _not_text(plan, records) from err
    rows = []
    for rec in records:
        row = OnlineRow()
        absent: list[str] = []
        for v in plan.views:
            hit = next(hits)
            if (
                hit is None
                or hit.version != v.version
                or (v.ttl_us is not None and hit.event_us < now_us - v.ttl_us)
            ):
                row.update(dict.fromkeys(v.columns))
                absent.extend(v.refs)
                continue
            # A stored row is read back: hostile until its shape is checked (a row
            # written by hand, or damaged, gave short rows or a bare error).
            try:
                values = loads(hit.payload)
            except ValueError as err:
                raise _damaged(v, "it is not JSON") from err
            if type(values) is not list or len(values) != v.width:
                got = f"{len(values)} values" if type(values) is list else type(values).__name__
                raise _damaged(v, f"it holds {got} where the view has {v.width}")
            if v.whole:
                row.update(zip(v.columns, values, strict=True))
            elif v.decoders is None:
                row.update(zip(v.columns, [values[i] for i in v.indices], strict=True))
            else:
                try:
                    row.update(
                        (c, values[i] if d is None else d(values[i]))
                        for c, i, d in zip(v.columns, v.indices, v.decoders, strict=True)
                    )
                except (ValueError, TypeError, OverflowError) as err:
                    raise _damaged(v, "a time in it is not a time") from err
        if absent:
            if how == "error":
                # The entity's key columns only (the record may carry more), each value
                # quoted as every message quotes a user's value (personal data redacted).
                shown = ", ".join(
                    f"{k}={short_repr(rec.get(k))}" for e in plan.entities for k in e.keys
                )
                raise EntityNotFoundError(
                    f"no current value for {absent} of entity {shown}"[:300],
                    features=absent,
                )
            row.missing = tuple(absent)
        rows.append(row)
    return rows


def _damaged(view: ViewRead, why: str) -> StateError:
    """The error for a stored online row that cannot be read back (never its content)."""
    return StateError(
        f"the online store's row of view {view.name!r} (version {view.version}) for this "
        f"entity is damaged: {why}. Materialize the view again to rewrite it.",
        path=f"online.{view.name}",
        owner="FeatureStore",
    )


def _not_text(plan: ReadPlan, records: Sequence[Mapping[str, Any]]) -> SchemaError:
    """The error for string keys that are not text (lone surrogates), naming the columns."""
    bad: dict[str, int] = {}
    for i, rec in enumerate(records):
        for e in plan.entities:
            for k in e.keys:
                v = rec.get(k)
                if isinstance(v, str) and not v.isascii() and not is_unicode(v):
                    bad.setdefault(k, i)
    return SchemaError(
        problems=[
            SchemaProblem(k, "type", "key is not valid text (it holds a lone surrogate)", row=i)
            for k, i in bad.items()
        ]
        or [SchemaProblem(None, "type", "an entity key is not valid text (a lone surrogate)")]
    )
