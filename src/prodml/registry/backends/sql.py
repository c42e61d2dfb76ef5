"""SQL metadata store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Every statement is built with SQLAlchemy expressions, so every value is a bound parameter.

Concurrency: a new version number is ``max(version) + 1`` read and written in one
transaction that holds a lock on the model: on SQLite the transaction starts with
``BEGIN IMMEDIATE`` (one writer at a time, others wait up to ``timeout``), on PostgreSQL it
runs ``SELECT ... FOR UPDATE`` on the model's row. ``(name, version)`` is the primary key
too, and a write that still collides (or finds the database locked) is retried.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from prodml.errors import ConflictError, NotFoundError, RegistryError
from prodml.registry.backends.metadata import ANY, EventDraft, MetadataStore, VersionQuery
from prodml.registry.entities import AuditEvent, ModelVersion, Status

__all__ = ["SQLMetadataStore"]

T = TypeVar("T")
_RETRIES = 200

_meta = sa.MetaData()
_models = sa.Table(
    "prodml_models",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)
_versions = sa.Table(
    "prodml_versions",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("artifact_key", sa.String(512), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)
_tags = sa.Table(
    "prodml_tags",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_prodml_tags_kv", "key", "value"),
)
_metrics = sa.Table(
    "prodml_metrics",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)
_aliases_t = sa.Table(
    "prodml_aliases",
    _meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
_events_t = sa.Table(
    "prodml_events",
    _meta,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("alias", sa.String(64)),
    sa.Column("previous_version", sa.Integer),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)


# Built once: the hot read path then skips statement construction and cache-key work.
_BY_ALIAS = (
    sa.select(_versions.c.payload, _versions.c.status)
    .join(
        _aliases_t,
        sa.and_(_aliases_t.c.name == _versions.c.name, _aliases_t.c.version == _versions.c.version),
    )
    .where(
        _aliases_t.c.name == sa.bindparam("name"),
        _aliases_t.c.alias == sa.bindparam("alias"),
        _versions.c.status.in_(("ready", "archived")),
    )
)


class SQLMetadataStore(MetadataStore):
    """Metadata in SQLite (``sqlite:///path.db``) or PostgreSQL (``postgresql+psycopg://``).

    Parameters
    ----------
    url
        A SQLAlchemy database URL. ``postgresql://`` means ``postgresql+psycopg://``.
    timeout
        Seconds a SQLite writer waits for the lock before retrying.
    engine_kwargs
        Passed to :func:`sqlalchemy.create_engine`.

    Examples
    --------
    >>> store = SQLMetadataStore("sqlite://")
    >>> store.model_names()
    []
    >>> store.close()
    """

    def __init__(self, url: str, *, timeout: float = 30.0, **engine_kwargs: Any) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        self.url = url
        self._sqlite = url.startswith("sqlite")
        if self._sqlite:
            engine_kwargs.setdefault("connect_args", {"timeout": timeout})
            if url in ("sqlite://", "sqlite:///:memory:"):
                engine_kwargs.setdefault("poolclass", sa.pool.StaticPool)
                engine_kwargs["connect_args"]["check_same_thread"] = False
            else:
                db = sa.engine.make_url(url).database
                if db:
                    Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self._engine: Engine = sa.create_engine(url, **engine_kwargs)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError) as err:
            raise RegistryError(f"cannot open metadata store {url!r}: {err}") from err
        if self._sqlite:
            _sqlite_transactions(self._engine)
        self._retry(lambda: _meta.create_all(self._engine))

    # ------------------------------------------------------------ transactions

    def _retry(self, fn: Callable[[], T]) -> T:
        delay = 0.002
        for attempt in range(_RETRIES):
            try:
                return fn()
            except sa_exc.DBAPIError as err:
                # A unique collision means another writer won a race; a few retries settle
                # it, so a persistent one is a real conflict, not worth 200 tries.
                collisions_done = isinstance(err, sa_exc.IntegrityError) and attempt >= 20
                if attempt == _RETRIES - 1 or collisions_done or not _transient(err):
                    raise RegistryError(f"metadata store {self._safe_url} failed: {err}") from err
            time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not security
            delay = min(delay * 1.5, 0.2)
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def _write(self, fn: Callable[[Connection], T]) -> T:
        def attempt() -> T:
            with self._engine.connect() as conn:
                conn.execution_options(prodml_write=True)
                with conn.begin():
                    return fn(conn)

        return self._retry(attempt)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        def attempt() -> T:
            with self._engine.connect() as conn:
                return fn(conn)

        return self._retry(attempt)

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._engine.dispose()

    # ------------------------------------------------------------ primitives

    def _insert_version(self, draft: ModelVersion, actor: str) -> ModelVersion:
        def tx(conn: Connection) -> ModelVersion:
            now = _now()
            if not conn.execute(
                sa.select(_models.c.name).where(_models.c.name == draft.name).with_for_update()
            ).first():
                conn.execute(_models.insert().values(name=draft.name, created_at=now))
                conn.execute(
                    sa.select(_models.c.name).where(_models.c.name == draft.name).with_for_update()
                )
            top = conn.execute(
                sa.select(sa.func.max(_versions.c.version)).where(_versions.c.name == draft.name)
            ).scalar()
            mv = draft.model_copy(update={"version": int(top or 0) + 1})
            conn.execute(
                _versions.insert().values(
                    name=mv.name,
                    version=mv.version,
                    status=mv.status,
                    artifact_key=mv.artifact_key,
                    payload=mv.model_dump_json(),
                )
            )
            key = {"name": mv.name, "version": mv.version}
            if mv.tags:
                conn.execute(
                    _tags.insert(), [{**key, "key": k, "value": v} for k, v in mv.tags.items()]
                )
            if mv.metrics:
                conn.execute(
                    _metrics.insert(),
                    [{**key, "key": k, "value": v} for k, v in mv.metrics.items()],
                )
            _log(conn, EventDraft(name=mv.name, action="register", actor=actor, version=mv.version))
            return mv

        return self._write(tx)

    def _query_versions(self, query: VersionQuery) -> list[ModelVersion]:
        v = _versions.c
        stmt = sa.select(v.payload, v.status).where(v.status.in_(query.statuses))
        if query.name is not None:
            stmt = stmt.where(v.name == query.name)
        if query.version is not None:
            stmt = stmt.where(v.version == query.version)
        for k, val in query.tags.items():
            stmt = stmt.where(
                sa.exists().where(
                    _tags.c.name == v.name,
                    _tags.c.version == v.version,
                    _tags.c.key == k,
                    _tags.c.value == val,
                )
            )
        for bounds, op in ((query.min_metrics, "ge"), (query.max_metrics, "le")):
            for k, bound in bounds.items():
                cmp = _metrics.c.value >= bound if op == "ge" else _metrics.c.value <= bound
                stmt = stmt.where(
                    sa.exists().where(
                        _metrics.c.name == v.name,
                        _metrics.c.version == v.version,
                        _metrics.c.key == k,
                        cmp,
                    )
                )
        order = v.version.desc() if query.descending else v.version.asc()
        stmt = stmt.order_by(v.name.asc(), order).offset(query.offset)
        if query.limit is not None:
            stmt = stmt.limit(query.limit)
        rows = self._read(lambda conn: conn.execute(stmt).all())
        out = []
        for payload, status in rows:
            mv = ModelVersion.model_validate_json(payload)
            out.append(mv if mv.status == status else mv.model_copy(update={"status": status}))
        return out

    def resolve(self, name: str, selector: int | str | None) -> ModelVersion:
        """As the base, but an alias resolves in one query (a join)."""
        if not isinstance(selector, str) or selector == "latest":
            return super().resolve(name, selector)
        params = {"name": name, "alias": selector}
        row = self._read(lambda conn: conn.execute(_BY_ALIAS, params).first())
        if row is None:
            return super().resolve(name, selector)  # raises the precise NotFoundError
        mv = ModelVersion.model_validate_json(row[0])
        return mv if mv.status == row[1] else mv.model_copy(update={"status": row[1]})

    def _set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        def tx(conn: Connection) -> None:
            res = conn.execute(
                _versions.update()
                .where(_versions.c.name == name, _versions.c.version == version)
                .values(status=status)
            )
            if res.rowcount == 0:
                raise NotFoundError(
                    f"model {name!r} has no version {version}", model_name=name, version=version
                )
            _log(conn, event)

        self._write(tx)

    def _move_alias(
        self, name: str, alias: str, version: int | None, expected: Any, event: EventDraft
    ) -> None:
        a = _aliases_t.c

        def tx(conn: Connection) -> None:
            current = conn.execute(
                sa.select(a.version).where(a.name == name, a.alias == alias).with_for_update()
            ).scalar()
            if expected is not ANY and current != expected:
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} moved concurrently "
                    f"(expected {expected}, found {current})",
                    model_name=name,
                    version=alias,
                )
            if current is not None:
                conn.execute(_aliases_t.delete().where(a.name == name, a.alias == alias))
            if version is not None:
                conn.execute(_aliases_t.insert().values(name=name, alias=alias, version=version))
            _log(conn, event)

        self._write(tx)

    def _aliases(self, name: str) -> dict[str, int]:
        a = _aliases_t.c
        stmt = sa.select(a.alias, a.version).where(a.name == name)
        rows = self._read(lambda conn: conn.execute(stmt).all())
        return {alias: int(version) for alias, version in rows}

    def _events(self, name: str, alias: str | None = None) -> list[AuditEvent]:
        e = _events_t.c
        stmt = sa.select(_events_t).where(e.name == name)
        if alias is not None:
            stmt = stmt.where(e.alias == alias)
        rows = self._read(lambda conn: conn.execute(stmt.order_by(e.seq)).mappings().all())
        return [
            AuditEvent(
                seq=r["seq"],
                name=r["name"],
                action=r["action"],
                version=r["version"],
                alias=r["alias"],
                previous_version=r["previous_version"],
                actor=r["actor"],
                at=datetime.fromisoformat(r["at"]),
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]

    def _model_names(self) -> list[str]:
        stmt = sa.select(_versions.c.name).distinct().order_by(_versions.c.name)
        return list(self._read(lambda conn: conn.execute(stmt).scalars().all()))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _log(conn: Connection, event: EventDraft) -> None:
    conn.execute(
        _events_t.insert().values(
            name=event.name,
            action=event.action,
            version=event.version,
            alias=event.alias,
            previous_version=event.previous_version,
            actor=event.actor,
            at=event.at.isoformat(),
            detail=json.dumps(event.detail, sort_keys=True),
        )
    )


def _transient(err: sa_exc.DBAPIError) -> bool:
    """Lock timeouts, serialisation failures and unique collisions are worth a retry."""
    if isinstance(err, sa_exc.IntegrityError):
        return True
    if not isinstance(err, sa_exc.OperationalError | sa_exc.ProgrammingError):
        return False
    code = getattr(err.orig, "sqlstate", None) or getattr(err.orig, "pgcode", None)
    if code in ("40001", "40P01", "55P03", "42P07", "23505"):
        return True
    text = str(err.orig).lower()
    return "locked" in text or "busy" in text or "already exists" in text


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, start transactions; writers take the lock up front."""

    @sa_event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            # WAL lets readers run while a writer commits; with WAL, synchronous=NORMAL
            # keeps the database consistent after a crash and skips an fsync per commit.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        finally:
            cur.close()

    @sa_event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Writers take the write lock up front, so two never deadlock upgrading a read
        # lock. Reads are single statements, which SQLite runs atomically on their own.
        if conn.get_execution_options().get("prodml_write", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
