"""Feature store definitions: :class:`Entity`, :class:`Source`, :class:`FeatureView`.

Definitions are data: frozen pydantic models that round-trip through ``to_dict()`` /
``from_dict()`` (JSON-safe, with a format version) and hash to a stable fingerprint.
Everything read back from a store goes through the same validation, so a hostile stored
definition is refused with a :class:`~prodml.errors.ConfigError` naming the field path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from prodml._model import _Model
from prodml._quote import short_repr
from prodml._state import check_depth, check_format_version, loading
from prodml.errors import ConfigError
from prodml.fingerprint import fingerprint_spec
from prodml.schema import Column, LogicalType, Schema

__all__ = ["FORMAT_VERSION", "Entity", "FeatureView", "Source", "check_identifier"]

FORMAT_VERSION = 1
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?")
KEY_TYPES = (LogicalType.INT, LogicalType.STRING)
_UNSET: Any = object()


def check_identifier(value: object, what: str) -> str:
    """Return ``value`` if it is a name prodml can use in SQL and references.

    Names are 1-128 letters, digits and ``_``, not starting with a digit: they become
    column names, SQL identifiers and the two halves of ``"view:feature"`` references.
    """
    if not isinstance(value, str) or not _IDENT.fullmatch(value):
        shown = value[:40] if isinstance(value, str) else value
        raise ValueError(
            f"{what} {shown!r} is not a valid name: use 1-128 letters, digits or '_', "
            "not starting with a digit"
        )
    return value


def _versioned(cls_name: str, d: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(d, Mapping):
        raise ConfigError(f"a stored {cls_name} must be a JSON object, got {type(d).__name__}")
    out = dict(d)
    if "format_version" not in out:
        raise ConfigError(
            f"a stored {cls_name} has no format_version: it was not written by prodml's "
            f'to_dict() (add "format_version": {FORMAT_VERSION} to a definition written '
            "by hand, or build it in Python and apply that)",
            parameter="format_version",
        )
    check_depth(out, owner=cls_name)
    check_format_version(out.pop("format_version"), FORMAT_VERSION, owner=cls_name)
    return out


class Entity(_Model):
    """What features are about (a user, a card, a store), and the columns that key it.

    Parameters
    ----------
    name
        The entity's name.
    keys
        The key columns, in order; every source of a view on this entity has them.
    dtypes
        The logical type of each key, ``"int"`` or ``"string"``. When omitted they are
        read from the first view's source at :meth:`FeatureStore.apply`.
    description
        Free text for people.

    Examples
    --------
    >>> Entity("user", keys=["user_id"]).keys
    ('user_id',)
    """

    name: str
    keys: tuple[str, ...] = Field(min_length=1)
    dtypes: tuple[LogicalType, ...] | None = None
    description: str = ""

    def __init__(
        self,
        name: Any = _UNSET,
        /,
        *,
        keys: Sequence[str] = _UNSET,
        dtypes: Sequence[str] | None = None,
        description: str = "",
        **data: Any,
    ) -> None:
        if name is not _UNSET:
            data["name"] = name
        if keys is not _UNSET:
            data["keys"] = tuple(keys) if isinstance(keys, list | tuple) else keys
        super().__init__(dtypes=dtypes, description=description, **data)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_identifier(v, "entity name")

    @model_validator(mode="after")
    def _check(self) -> Entity:
        for k in self.keys:
            check_identifier(k, "key column")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"key columns repeat: {list(self.keys)}")
        if self.dtypes is not None:
            if len(self.dtypes) != len(self.keys):
                raise ValueError(f"{len(self.dtypes)} dtypes for {len(self.keys)} keys")
            bad = [str(t) for t in self.dtypes if t not in KEY_TYPES]
            if bad:
                raise ValueError(f"key dtypes must be 'int' or 'string', got {bad}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with a ``format_version``."""
        return {"format_version": FORMAT_VERSION, **self.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entity:
        """Rebuild from :meth:`to_dict` output; :class:`ConfigError` on invalid content."""
        with loading("Entity"):
            return cls(**_versioned("Entity", d))

    @property
    def fingerprint(self) -> str:
        """sha256 hex of the definition's canonical JSON."""
        return fingerprint_spec(self.to_dict())


class Source(_Model):
    """Where a view's rows live, and which columns say when each row happened and arrived.

    Build one with :meth:`parquet` (read by the DuckDB offline store) or :meth:`sql`
    (a table in the PostgreSQL offline store).

    Attributes
    ----------
    kind
        ``"parquet"`` or ``"sql"``.
    path
        Parquet: a file, a directory (every ``*.parquet`` below it) or a glob. SQL: a
        table name, optionally ``schema.table``.
    timestamp
        The event timestamp column: when the feature value became true.
    created
        Optional column saying when the row was written (a backfill writes old event
        times late). A row is never used for an entity row earlier than its ``created``.
    timezone
        Time zone in which to read *naive* timestamp columns (e.g. ``"UTC"``). By default
        naive timestamps are an error, since nobody can tell which instant they mean.

    Examples
    --------
    >>> Source.parquet("data/txn/", timestamp="event_at", created="created_at").kind
    'parquet'
    """

    kind: Literal["parquet", "sql"]
    path: str = Field(min_length=1, max_length=4096)
    timestamp: str
    created: str | None = None
    timezone: str | None = None

    @classmethod
    def parquet(
        cls,
        path: str,
        *,
        timestamp: str,
        created: str | None = None,
        timezone: str | None = None,
    ) -> Source:
        """A source of Parquet files, queried through DuckDB."""
        return cls(
            kind="parquet",
            path=_fspath(path),
            timestamp=timestamp,
            created=created,
            timezone=timezone,
        )

    @classmethod
    def sql(
        cls,
        table: str,
        *,
        timestamp: str,
        created: str | None = None,
        timezone: str | None = None,
    ) -> Source:
        """A table of the SQL (PostgreSQL) offline store."""
        return cls(kind="sql", path=table, timestamp=timestamp, created=created, timezone=timezone)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with a ``format_version``."""
        return {"format_version": FORMAT_VERSION, **self.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Source:
        """Rebuild from :meth:`to_dict` output; :class:`ConfigError` on invalid content."""
        with loading("Source"):
            return cls(**_versioned("Source", d))

    @model_validator(mode="after")
    def _check(self) -> Source:
        check_identifier(self.timestamp, "timestamp column")
        if self.created is not None:
            check_identifier(self.created, "created column")
            if self.created == self.timestamp:
                raise ValueError("created and timestamp must be different columns")
        if "\x00" in self.path:
            raise ValueError("path must not contain NUL characters")
        if self.kind == "sql" and not _TABLE.fullmatch(self.path):
            raise ValueError(f"SQL table {self.path[:60]!r} is not a [schema.]table name")
        if self.timezone is not None:
            _check_zone(self.timezone)
        return self


def _fspath(path: object) -> str:
    import os  # noqa: PLC0415 - only for os.fspath of a PathLike

    if isinstance(path, str | os.PathLike):
        return os.fspath(path)
    return path  # type: ignore[return-value]  # pydantic reports the wrong type


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        # OSError: with the tzdata package installed, a name longer than a file name can
        # be ("File name too long") fails in importlib.resources, not as not-found.
        raise ValueError(f"unknown time zone {name[:40]!r}") from err


class FeatureView(_Model):
    """A group of features of one entity, read from one source, valid for ``ttl``.

    Parameters
    ----------
    name
        The view's name; features are referenced as ``"name:feature"``.
    entity
        The :class:`Entity` the rows are about.
    source
        The :class:`Source` holding one row per (entity, event time).
    features
        Feature column names, or :class:`~prodml.schema.Column` contracts. Names alone
        get their types from the source at :meth:`FeatureStore.apply`.
    ttl
        How old a value may be at the time it is read; ``None`` means no limit.
    description
        Free text for people.
    tags
        String labels (owner, team, ...).

    Examples
    --------
    >>> from datetime import timedelta
    >>> user = Entity("user", keys=["user_id"])
    >>> view = FeatureView(
    ...     "txn",
    ...     entity=user,
    ...     source=Source.parquet("txn/", timestamp="event_at"),
    ...     features=["amount_7d"],
    ...     ttl=timedelta(days=30),
    ... )
    >>> view.features, view.ttl
    (('amount_7d',), datetime.timedelta(days=30))
    """

    name: str
    entity: Entity
    source: Source
    features: tuple[str, ...] = Field(min_length=1)
    schema_: Schema | None = Field(default=None, alias="schema")
    ttl: timedelta | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)

    def __init__(
        self,
        name: Any = _UNSET,
        /,
        *,
        entity: Any = _UNSET,
        source: Any = _UNSET,
        features: Any = _UNSET,
        ttl: timedelta | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        **data: Any,
    ) -> None:
        if name is not _UNSET:
            data["name"] = name
        if entity is not _UNSET:
            data["entity"] = entity
        if source is not _UNSET:
            data["source"] = source
        if features is not _UNSET:
            if isinstance(features, Schema):
                features = list(features.columns)
            if (
                isinstance(features, list | tuple)
                and features
                and all(isinstance(f, Column) for f in features)
            ):
                data.setdefault("schema", Schema(list(features)))
                features = [f.name for f in features]
            data["features"] = tuple(features) if isinstance(features, list) else features
        # pydantic checks a mapping; dict() of a str or a list would fail before it could.
        shown_tags = dict(tags) if isinstance(tags, Mapping) else ({} if tags is None else tags)
        super().__init__(ttl=ttl, description=description, tags=shown_tags, **data)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_identifier(v, "view name")

    @model_validator(mode="after")
    def _check(self) -> FeatureView:
        for f in self.features:
            check_identifier(f, "feature")
        dupes = sorted({f for f in self.features if self.features.count(f) > 1})
        if dupes:
            raise ValueError(f"feature names repeat: {dupes}")
        reserved = {*self.entity.keys, self.source.timestamp, self.source.created or ""}
        clash = sorted(reserved & set(self.features))
        if clash:
            raise ValueError(f"features {clash} are also key or timestamp columns")
        if self.ttl is not None and self.ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {self.ttl}")
        if self.schema_ is not None and self.schema_.names != list(self.features):
            raise ValueError(
                f"schema columns {self.schema_.names} differ from features {list(self.features)}"
            )
        return self

    # Shadows pydantic's deprecated classmethod schema(): the contract name for features.
    @property
    def schema(self) -> Schema | None:  # type: ignore[override]
        """The features' :class:`~prodml.schema.Schema`; resolved from the source at apply."""
        return self.schema_

    def refs(self) -> list[str]:
        """Every feature as a ``"view:feature"`` reference."""
        return [f"{self.name}:{f}" for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with a ``format_version``; ``ttl`` in seconds."""
        d = self.model_dump(mode="json", by_alias=True, exclude={"ttl", "entity", "schema_"})
        return {
            "format_version": FORMAT_VERSION,
            **d,
            "entity": self.entity.to_dict(),
            "schema": self.schema_.to_dict() if self.schema_ is not None else None,
            "ttl": self.ttl.total_seconds() if self.ttl is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureView:
        """Rebuild from :meth:`to_dict` output; :class:`ConfigError` on invalid content."""
        with loading("FeatureView"):
            out = _versioned("FeatureView", d)
        try:
            if isinstance(out.get("entity"), Mapping):
                out["entity"] = Entity.from_dict(out["entity"])
            if isinstance(out.get("schema"), Mapping):
                out["schema"] = Schema.from_dict(out["schema"])
        except ConfigError as err:
            name = short_repr(out.get("name"), 60)
            raise ConfigError(f"Invalid FeatureView {name}: {str(err)[:2000]}") from err
        ttl = out.get("ttl")
        if isinstance(ttl, int | float) and not isinstance(ttl, bool):
            if not 0 < ttl < 1e11:
                raise ConfigError(f"Invalid FeatureView: ttl: {ttl!r} is not in (0, 1e11) s")
            out["ttl"] = timedelta(seconds=ttl)
        with loading("FeatureView"):
            return cls(**out)

    @property
    def fingerprint(self) -> str:
        """sha256 hex of the definition's canonical JSON (the registry's lineage uses it)."""
        return fingerprint_spec(self.to_dict())

    @property
    def storage_version(self) -> str:
        """A short hash of what decides the stored values: entity keys, source, features.

        Changing the ttl, description or tags keeps it; changing anything else makes the
        online store treat values written under the old definition as missing.
        """
        d = self.to_dict()
        spec = {k: d[k] for k in ("entity", "source", "features", "schema")}
        spec["entity"] = {k: spec["entity"][k] for k in ("name", "keys", "dtypes")}
        return fingerprint_spec(spec)[:16]
