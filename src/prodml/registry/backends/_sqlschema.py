"""The SQL metadata store's tables, indexes, query builders and connection hooks.

Tables: ``prodml_models`` (one row per model: the lock every write of that model takes),
``prodml_versions`` (one row per version, its JSON record in ``payload``), ``prodml_tags``
and ``prodml_metrics`` (one row per tag or metric, for indexed filters),
``prodml_aliases``, ``prodml_events`` (the audit log) and ``prodml_pending`` (leases of
registrations in flight and keys queued for gc).
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from prodml.errors import IntegrityError, NotFoundError
from prodml.registry.backends.metadata import ALL, EventDraft, PendingState, VersionQuery
from prodml.registry.entities import ModelVersion

meta = sa.MetaData()
models = sa.Table(
    "prodml_models",
    meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
)
versions = sa.Table(
    "prodml_versions",
    meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("artifact_key", sa.String(512), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)
tags = sa.Table(
    "prodml_tags",
    meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
metrics = sa.Table(
    "prodml_metrics",
    meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)
aliases = sa.Table(
    "prodml_aliases",
    meta,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("alias", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
events = sa.Table(
    "prodml_events",
    meta,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("alias", sa.String(64)),
    sa.Column("previous_version", sa.Integer),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)
pending = sa.Table(
    "prodml_pending",
    meta,
    sa.Column("artifact_key", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# Created by migrate() on new and existing databases alike (create_all skips indexes of
# tables that already exist). Each serves one query shape; see the module docstrings.
INDEXES = (
    sa.Index("ix_prodml_versions_page", versions.c.name, versions.c.version.desc()),
    sa.Index("ix_prodml_versions_key", versions.c.artifact_key),
    sa.Index("ix_prodml_tags_lookup", tags.c.key, tags.c.value, tags.c.name, tags.c.version.desc()),
    sa.Index(
        "ix_prodml_metrics_lookup",
        metrics.c.key,
        metrics.c.value,
        metrics.c.name,
        metrics.c.version,
    ),
    sa.Index("ix_prodml_events_model", events.c.name, events.c.seq),
    sa.Index("ix_prodml_events_alias", events.c.name, events.c.alias, events.c.seq),
    sa.Index("ix_prodml_pending_due", pending.c.expires_at),
)

# Built once: the hot read path then skips statement construction and cache-key work.
BY_ALIAS = (
    sa.select(versions.c.payload, versions.c.status, versions.c.name, versions.c.version)
    .join(
        aliases,
        sa.and_(aliases.c.name == versions.c.name, aliases.c.version == versions.c.version),
    )
    .where(
        aliases.c.name == sa.bindparam("name"),
        aliases.c.alias == sa.bindparam("alias"),
        versions.c.status.in_(("ready", "archived")),
    )
)


def migrate(engine: Engine) -> None:
    """Create missing tables and indexes (safe to run concurrently and repeatedly)."""
    with engine.begin() as conn:
        meta.create_all(conn)
        for index in INDEXES:
            index.create(conn, checkfirst=True)


def select_versions(query: VersionQuery) -> sa.Select[Any]:
    """The statement for :meth:`MetadataStore._query_versions`.

    Each tag or metric filter is an inner join on its ``(key, value, name, version)``
    index, so the database starts from the (usually few) matching rows instead of
    probing every version. With a tag filter, the first tag's index rows also give the
    page order and carry the keyset condition, so a page stops after ``limit`` matches
    however many there are; without one, the ``(name, version DESC)`` index does.
    """
    v = versions.c
    source: sa.FromClause = versions
    order_by = v  # the columns whose index gives the order: the first tag's, or the version's
    for i, (k, val) in enumerate(sorted(query.tags.items())):
        t = tags.alias(f"t{i}")
        source = sa.join(
            t,
            source,
            sa.and_(t.c.name == v.name, t.c.version == v.version, t.c.key == k, t.c.value == val),
        )
        if i == 0:
            order_by = t.c
    bounds = [(k, lo, True) for k, lo in query.min_metrics.items()]
    bounds += [(k, hi, False) for k, hi in query.max_metrics.items()]
    for i, (k, bound, low) in enumerate(bounds):
        m = metrics.alias(f"m{i}")
        cmp = m.c.value >= bound if low else m.c.value <= bound
        source = source.join(
            m, sa.and_(m.c.name == v.name, m.c.version == v.version, m.c.key == k, cmp)
        )
    stmt = (
        sa.select(v.payload, v.status, v.name, v.version)
        .select_from(source)
        .where(v.status.in_(query.statuses))
    )
    if query.name is not None:
        stmt = stmt.where(order_by.name == query.name)
    if query.version is not None:
        stmt = stmt.where(order_by.version == query.version)
    if query.after is not None:
        name, version = query.after
        nm, ver = order_by.name, order_by.version
        later = ver < version if query.descending else ver > version
        if query.name is not None:
            stmt = stmt.where(later)
        else:
            stmt = stmt.where(sa.or_(nm > name, sa.and_(nm == name, later)))
    direction = order_by.version.desc() if query.descending else order_by.version.asc()
    stmt = stmt.order_by(order_by.name.asc(), direction)
    return stmt if query.limit is None else stmt.limit(query.limit)


def lock_model(conn: Connection, name: str, *, create: bool) -> None:
    """Lock ``name``'s row for this transaction (creating it with ``create``)."""
    locked = sa.select(models.c.name).where(models.c.name == name).with_for_update()
    if conn.execute(locked).first() is not None:
        return
    if not create:
        raise NotFoundError(f"model {name!r} does not exist", model_name=name)
    conn.execute(models.insert().values(name=name, created_at=_now()))
    conn.execute(locked)


def queue_deleted(conn: Connection, key: str, name: str) -> None:
    """Queue the files of a deleted version for gc (replacing any row on its key)."""
    conn.execute(pending.delete().where(pending.c.artifact_key == key))
    conn.execute(
        pending.insert().values(
            artifact_key=key, name=name, state="deleted", expires_at=time.time()
        )
    )


def log(conn: Connection, event: EventDraft) -> None:
    """Append ``event`` to the audit log in the current transaction."""
    conn.execute(
        events.insert().values(
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


def _now() -> str:
    from datetime import datetime, timezone  # noqa: PLC0415

    return datetime.now(timezone.utc).isoformat()


def transient(err: sa_exc.DBAPIError) -> bool:
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


def listen(engine: Engine, *, sqlite: bool, read_only: bool, wait_ms: int = 30_000) -> None:
    """Install the connection hooks: SQLite transactions and waits, read-only sessions."""
    if not sqlite:
        if read_only:

            @sa_event.listens_for(engine, "connect")
            def _read_only_session(dbapi_conn: Any, _record: Any) -> None:
                with dbapi_conn.cursor() as cur:
                    cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                dbapi_conn.commit()

        return

    @sa_event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        record.info["prodml_wait_ms"] = int(wait_ms)
        if read_only:
            return
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
        # Each attempt waits at most what is left of the operation's one deadline; the
        # pragma is only sent when that differs from the connection's setting by > 5%.
        options = conn.get_execution_options()
        wait = int(options.get("prodml_wait_ms", 0))
        info = conn.connection.info
        if wait and abs(wait - info.get("prodml_wait_ms", 0)) > 0.05 * wait:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {wait}")
            info["prodml_wait_ms"] = wait
        # Writers take the write lock up front, so two never deadlock upgrading a read
        # lock. Reads are single statements, which SQLite runs atomically on their own.
        if options.get("prodml_write", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def pending_state(value: str) -> PendingState:
    """A pending row's state; anything unknown counts as an orphan (gc may collect it)."""
    return "lease" if value == "lease" else "deleted" if value == "deleted" else "orphan"


def to_version(payload: str, status: str, name: str, version: int) -> ModelVersion:
    """A version from its row, checked: the payload must be valid and describe this row."""
    try:
        mv = ModelVersion.model_validate_json(payload)
    except ValueError as err:
        first = str(err).splitlines()[1:2] or ["invalid"]
        raise IntegrityError(
            f"the stored record of {name} version {version} is not a valid version "
            f"({first[0].strip()[:120]}); it was edited or corrupted",
            model_name=name,
            version=version,
        ) from None
    if (mv.name, mv.version) != (name, version) or status not in ALL:
        raise IntegrityError(
            f"the stored record of {name} version {version} describes {mv.name[:40]} version "
            f"{mv.version} with status {status[:20]!r}; it was edited or corrupted",
            model_name=name,
            version=version,
        )
    return mv if mv.status == status else mv.model_copy(update={"status": status})
