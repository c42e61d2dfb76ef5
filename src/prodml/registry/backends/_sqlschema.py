"""The SQL metadata store's tables, indexes, query builders and connection hooks.

Tables: ``prodml_models`` (one row per model: the lock every write of that model takes),
``prodml_versions`` (one row per version, its JSON record in ``payload``), ``prodml_tags``
and ``prodml_metrics`` (one row per tag or metric, for indexed filters),
``prodml_aliases``, ``prodml_events`` (the audit log) and ``prodml_pending`` (leases of
registrations in flight and keys queued for gc). A version's ``payload`` and an event's
``detail`` are JSON; a ``format_version`` in them (written from format 2 on; none means
format 1) is checked on read (see :mod:`prodml.registry._formats`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from prodml.errors import IntegrityError, NotFoundError
from prodml.registry._formats import (
    EVENT_FORMAT,
    VERSION_FORMAT,
    NewerFormatError,
    RecordProblem,
    check_format,
    parse_object,
    validation_reason,
)
from prodml.registry._paths import MAX_VERSION, NAME
from prodml.registry.backends.metadata import ALL, EventDraft, PendingState, VersionQuery
from prodml.registry.entities import AuditEvent, ModelVersion


class bytewise(FunctionElement[str]):  # noqa: N801 - reads as the SQL it stands for
    """A text column compared and sorted by its UTF-8 bytes, on every backend.

    SQLite compares text by its bytes (``BINARY``); PostgreSQL by the column's collation,
    which is the database's locale unless the table says otherwise (``en_US.UTF-8`` sorts
    ``"a" < "B"`` and ignores ``-`` and ``_`` at first; ``C`` sorts by bytes). Search
    pages are keyset pages on ``(name, version)``, so both the order and the ``>`` of the
    keyset condition must be the same everywhere: this renders ``col COLLATE "C"`` on
    PostgreSQL and the bare column elsewhere. Bytes of UTF-8 sort like Python's ``str``
    (by code point), which is the memory store's order.
    """

    type = sa.String()
    inherit_cache = True


@compiles(bytewise)
def _bytewise(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(bytewise, "postgresql")
def _bytewise_pg(element: bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    return f'{compiler.process(element.clauses, **kw)} COLLATE "C"'


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
registry = sa.Table(
    "prodml_registry",
    meta,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)
"""One row, ``id``: the registry's identity, bound into what it signs."""
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
    sa.Index("ix_prodml_events_version", events.c.name, events.c.version, events.c.seq),
    sa.Index("ix_prodml_events_action", events.c.name, events.c.action, events.c.seq),
    sa.Index("ix_prodml_pending_due", pending.c.expires_at),
)
# PostgreSQL only: the page order by bytes (``COLLATE "C"``, see :class:`bytewise`) is not
# the order of a text column's index unless the column's collation is "C"; these serve
# the searches without a name (a search of one name reads ix_prodml_versions_page).
BYTEWISE_INDEXES = (
    sa.Index(
        "ix_prodml_versions_bytes", bytewise(versions.c.name), versions.c.version.desc()
    ).ddl_if(dialect="postgresql"),
    sa.Index(
        "ix_prodml_tags_bytes",
        tags.c.key,
        tags.c.value,
        bytewise(tags.c.name),
        tags.c.version.desc(),
    ).ddl_if(dialect="postgresql"),
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

# An alias row with its version's status (None: no such version), unchecked; built once.
ALIAS_ROWS = (
    sa.select(aliases.c.alias, aliases.c.version, versions.c.status)
    .select_from(
        aliases.outerjoin(
            versions,
            sa.and_(versions.c.name == aliases.c.name, versions.c.version == aliases.c.version),
        )
    )
    .where(aliases.c.name == sa.bindparam("name"))
    .order_by(bytewise(aliases.c.alias))
)
ALIAS_ROW = ALIAS_ROWS.where(aliases.c.alias == sa.bindparam("alias"))


def migrate(engine: Engine) -> None:
    """Create missing tables and indexes (safe to run concurrently and repeatedly)."""
    with engine.begin() as conn:
        meta.create_all(conn)
        for index in (*INDEXES, *BYTEWISE_INDEXES):  # the latter: PostgreSQL only (ddl_if)
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
            stmt = stmt.where(sa.or_(bytewise(nm) > name, sa.and_(nm == name, later)))
    direction = order_by.version.desc() if query.descending else order_by.version.asc()
    if query.name is None:  # by bytes: the same pages on every backend (see bytewise)
        stmt = stmt.order_by(bytewise(order_by.name).asc(), direction)
    else:  # one name: the plain (name, version) index gives the order
        stmt = stmt.order_by(direction)
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
    """Append ``event`` to the audit log in the current transaction (sealed, if it has one).

    A sealed event is inserted, then its detail replaced by the signed one: the
    signature covers the sequence number the database gave it.
    """
    result = conn.execute(
        events.insert().values(
            name=event.name,
            action=event.action,
            version=event.version,
            alias=event.alias,
            previous_version=event.previous_version,
            actor=event.actor,
            at=event.at.isoformat(),
            detail=dump_detail(event.detail),
        )
    )
    if event.seal is not None:
        seq = result.inserted_primary_key[0]  # type: ignore[index]
        signed = event.sealed(int(seq))
        conn.execute(
            events.update().where(events.c.seq == seq).values(detail=dump_detail(signed.detail))
        )


def _now() -> str:
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


def _stamp(body: dict[str, Any], current: int) -> dict[str, Any]:
    """``body`` with its ``format_version``, written only from format 2 on.

    A record without one reads as format 1, so format 1 is written without the field: a
    prodml from before format versions (which refuses unknown fields) still reads what
    this one writes, and a shared registry can be upgraded in any order.
    """
    return body if current == 1 else {"format_version": current, **body}


def dump_version(mv: ModelVersion) -> str:
    """The ``payload`` of ``mv``'s row: its JSON record (see :func:`_stamp`)."""
    if VERSION_FORMAT == 1:
        return mv.model_dump_json()
    return json.dumps(_stamp(mv.model_dump(mode="json"), VERSION_FORMAT))  # pragma: no cover


def to_version(payload: object, status: str, name: str, version: int) -> ModelVersion:
    """A version from its row, checked: the payload must be valid and describe this row.

    Raises
    ------
    NewerFormatError
        When a newer prodml wrote the record (its ``format_version`` is newer).
    IntegrityError
        When the record is not a valid version, or describes another row.
    """
    what = "the stored record"
    row_name, row_version = row_ref(name, version)
    mv: ModelVersion | None = None
    if isinstance(payload, str | bytes):
        # What this prodml writes: one parse. A record with a format_version, or anything
        # wrong, fails it, and the two-step path below reads the format first and names
        # what is wrong.
        with contextlib.suppress(ValidationError):
            mv = ModelVersion.model_validate_json(payload)
    # pydantic's JSON parser refuses a lone surrogate escape (json_invalid), so a record
    # it read holds none; only what the two-step path read (json.loads takes them) is
    # scanned for one.
    parsed_strictly = mv is not None
    if mv is None:
        mv = _parse_version(payload, what, row_name, row_version)
    if not parsed_strictly and isinstance(payload, str | bytes) and _may_hold_surrogates(payload):
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):  # parsed above, so not reached in practice
            data = None
        _check_unicode(data, what, row_name, row_version)
    if (mv.name, mv.version) != (name, version) or status not in ALL:
        # Names only what a valid record may hold: a model name and a number.
        other = mv.name if NAME.fullmatch(mv.name) else "another model"
        number = mv.version if 1 <= mv.version <= MAX_VERSION else "out of range"
        state = f"status {status!r}" if status in ALL else "an unknown status"
        of = row_name if row_version is None else f"{row_name} version {row_version}"
        raise IntegrityError(
            f"{what} of {of} describes {other} version {number} with {state}; it was edited "
            "or corrupted",
            model_name=row_name,
            version=row_version,
        )
    return mv if mv.status == status else mv.model_copy(update={"status": status})


def row_ref(name: object, version: object) -> tuple[str, int | None]:
    """A version row's name and number for messages: an edited one described, not quoted.

    The row's own columns are hostile too (a listing reads every row): a name that is not
    a model name, or a number that is not a version number, is never repeated.

    Examples
    --------
    >>> row_ref("churn", 3)
    ('churn', 3)
    >>> row_ref("churn", "3; DROP TABLE")
    ('churn (a row whose version is not a version number)', None)
    """
    shown = name if isinstance(name, str) and NAME.fullmatch(name) else "a model"
    if shown != name:
        shown += " whose stored name is not a model name"
    if type(version) is int and 1 <= version <= MAX_VERSION:
        return shown, version
    return f"{shown} (a row whose version is not a version number)", None


def _may_hold_surrogates(payload: str | bytes) -> bool:
    r"""Whether JSON text may decode to a lone surrogate (only a ``\udXXX`` escape can)."""
    text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
    # One scan for any escape first (most records have none), then the two spellings;
    # no lower(): no copy of every record.
    return "\\u" in text and ("\\ud" in text or "\\uD" in text)


_SHOWN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def _check_unicode(data: object, what: str, name: str, version: int | None) -> None:
    r"""IntegrityError naming the first field whose text is not Unicode (a lone surrogate).

    JSON's ``\udXXX`` escapes can spell half a character, which no UTF-8 encoder takes:
    the signed statement, the card and every writer would fail on it later, with a
    UnicodeEncodeError far from the record. Keys on the path are hostile too: only short
    plain ones are shown.
    """
    stack: list[tuple[object, str]] = [(data, "")]
    while stack:
        node, path = stack.pop()
        items: list[tuple[object, object]] = []
        if isinstance(node, dict):
            items = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        elif isinstance(node, str) and not _encodes(node):
            of = name if version is None else f"{name} version {version}"
            raise IntegrityError(
                f"{what} of {of} holds text that is not valid Unicode (a lone surrogate) "
                f"in field {path or '<root>'}; it was edited or corrupted",
                model_name=name,
                version=version,
            )
        for key, value in items:
            plain = isinstance(key, int) or _SHOWN_KEY.fullmatch(str(key))
            shown = str(key) if plain else "<key>"
            sub = f"{path}.{shown}" if path else shown
            if isinstance(key, str) and not _encodes(key):
                stack.append((key, sub))
            stack.append((value, sub))


def _encodes(text: object) -> bool:
    try:
        str(text).encode()
    except UnicodeEncodeError:
        return False
    return True


def _parse_version(payload: object, what: str, name: str, version: int | None) -> ModelVersion:
    """A record parsed in two steps: its format first, so a newer one is not "corrupted"."""
    data = parse_object(payload, what=what, model_name=name, version=version)
    check_format(data, what=what, model_name=name, version=version, current=VERSION_FORMAT)
    try:
        return ModelVersion.model_validate(data)
    except ValidationError as err:
        of = name if version is None else f"{name} version {version}"
        raise IntegrityError(
            f"{what} of {of} is not a valid version ({validation_reason(err)}); it was "
            "edited or corrupted",
            model_name=name,
            version=version,
        ) from None


def version_record(row: Any) -> ModelVersion | RecordProblem:
    """:func:`to_version` of a row, or the problem that makes it unreadable."""
    try:
        return to_version(*row)
    except (IntegrityError, NewerFormatError) as err:
        key = (row[2], row[3])
        return RecordProblem("version", *row_ref(*key), None, err, sort_key=key)


def dump_detail(detail: dict[str, Any]) -> str:
    """The ``detail`` of an audit event's row: its JSON (see :func:`_stamp`)."""
    return json.dumps(_stamp(detail, EVENT_FORMAT), sort_keys=True)


def to_event(r: Any) -> AuditEvent:
    """An audit event from its row, checked (``detail`` and every column).

    Raises
    ------
    NewerFormatError
        When a newer prodml wrote the event (its ``format_version`` is newer).
    IntegrityError
        When the row is not a valid audit event (an action this prodml does not know
        is reported as such: a newer prodml may have logged it).
    """
    name, seq = str(r["name"]), r["seq"]
    what = f"audit event {seq}"
    detail = parse_object(r["detail"], what=what, model_name=name, version=None)
    check_format(detail, what=what, model_name=name, version=None, current=EVENT_FORMAT)
    try:
        at = datetime.fromisoformat(r["at"])
        return AuditEvent(
            seq=seq,
            name=name,
            action=r["action"],
            version=r["version"],
            alias=r["alias"],
            previous_version=r["previous_version"],
            actor=r["actor"],
            at=at,
            detail=detail,
        )
    except (ValueError, TypeError) as err:  # pydantic's ValidationError is a ValueError
        reason = validation_reason(err) if isinstance(err, ValidationError) else "at: not a time"
        if reason.startswith("action:"):
            reason = "an action this prodml does not know; a newer prodml may have logged it"
        raise IntegrityError(
            f"{what} of {name} is not a valid audit event ({reason})",
            model_name=name,
        ) from None


def event_record(r: Any) -> AuditEvent | RecordProblem:
    """:func:`to_event` of a row, or the problem that makes it unreadable."""
    try:
        return to_event(r)
    except (IntegrityError, NewerFormatError) as err:
        version = r["version"] if type(r["version"]) is int else None
        return RecordProblem("event", str(r["name"]), version, int(r["seq"]), err)
