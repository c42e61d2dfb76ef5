"""SQL metadata store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Every statement is built with SQLAlchemy expressions, so every value is a bound parameter.

Concurrency: every write transaction first locks the model's row in ``prodml_models``: on
SQLite the transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time), on
PostgreSQL it runs ``SELECT ... FOR UPDATE`` on that row. So a new version number is
``max(version) + 1`` without a race, and alias moves of one model apply one after the
other. A write that finds the database locked (or a rare unique collision) is retried
until **one total deadline**, ``lock_timeout`` (30 s by default), has passed; then a
:class:`~prodml.errors.RegistryError` says the database is locked.

Reads scale with what they return: tag and metric filters join indexes on ``(key, value,
name, version)``, pages are keyset-paged along an index on ``(name, version DESC)``, and the
audit log is read through an index on ``(name, seq)``.

Read-only: ``read_only=True``, or a SQLite file on a location this process cannot write,
opens the database without writing anything (SQLite ``mode=ro``, falling back to
``immutable=1`` where not even a lock file can be created; PostgreSQL sessions set to
``READ ONLY``); writes then raise :class:`~prodml.errors.RegistryError`.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from prodml._secrets import Secrets, redact_url
from prodml.errors import (
    ConflictError,
    NotFoundError,
    RegistryError,
    StorageError,
)
from prodml.registry._formats import RecordProblem
from prodml.registry._paths import MAX_VERSION
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.backends._records import shown_aliases
from prodml.registry.backends._sqldb import SQLDatabase
from prodml.registry.backends.metadata import (
    ALL,
    ANY,
    LIVE,
    AliasRow,
    EventDraft,
    MetadataStore,
    Pending,
    PrunePlan,
    Seal,
    VersionQuery,
    check_target,
    lost_lease,
    register_event,
)
from prodml.registry.entities import AuditEvent, ModelVersion, Status

__all__ = ["SQLMetadataStore"]


class SQLMetadataStore(SQLDatabase, MetadataStore):
    """Metadata in SQLite (``sqlite:///path.db``) or PostgreSQL (``postgresql+psycopg://``).

    Parameters
    ----------
    url
        A SQLAlchemy database URL. ``postgresql://`` means ``postgresql+psycopg://``.
    lock_timeout
        Total seconds an operation may wait for a database lock, retries included.
    read_only
        Open without writing anything, and refuse writes.
    create
        Create the registry's tables if they are missing. With ``False`` a missing or
        empty database is left untouched and :attr:`initialised` is ``False`` until
        :meth:`initialise` is called.
    engine_kwargs
        Passed to :func:`sqlalchemy.create_engine`. On PostgreSQL prodml sets
        ``pool_pre_ping=True`` (a connection the server dropped is replaced before use)
        and a ``connect_timeout`` from ``lock_timeout`` unless given here.

    Examples
    --------
    >>> store = SQLMetadataStore("sqlite://")
    >>> store.model_names()
    []
    >>> store.close()
    """

    def __init__(
        self,
        url: str,
        *,
        lock_timeout: float = 30.0,
        read_only: bool = False,
        create: bool = True,
        **engine_kwargs: Any,
    ) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        self._secrets = Secrets.of(url)
        self.url: str = redact_url(url)
        self.lock_timeout: float = float(lock_timeout)
        self.read_only: bool = read_only
        self.created: bool = False
        self._sqlite = url.startswith("sqlite")
        self._db_path: Path | None = None
        try:
            parsed = sa.engine.make_url(url)
        except sa_exc.ArgumentError as err:
            raise RegistryError(
                self._scrub(f"cannot open metadata store {self.url}: {err}")
            ) from None
        database = parsed.database
        plain = parsed.drivername in ("sqlite", "sqlite+pysqlite")
        if plain and database not in (None, "", ":memory:"):
            self._db_path = Path(database).expanduser()
            self._engine = self._sqlite_file_engine(self._db_path, engine_kwargs)
        else:
            self._engine = self._url_engine(url, engine_kwargs)
        sq.listen(
            self._engine,
            sqlite=self._sqlite,
            read_only=self.read_only,
            wait_ms=int(self.lock_timeout * 1000),
        )
        try:
            self._initialised = self._has_schema()
            if not self._initialised and self.read_only:
                raise RegistryError(
                    f"no prodml registry in {self.url} (its tables are missing), and it was "
                    "opened read-only, so nothing was created"
                )
            if create and not self._initialised:
                self.initialise()
            elif self._initialised and not self.read_only:
                self._retry(lambda _left: sq.migrate(self._engine))
        except BaseException:
            self._engine.dispose()
            raise

    def initialise(self) -> None:
        """Create the registry's tables and indexes (idempotent)."""
        self._check_writable()
        if self._db_path is not None:
            try:
                self._db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StorageError(
                    f"cannot create the directory of {self._db_path}: {err.strerror}",
                    path=str(self._db_path),
                    errno=err.errno,
                ) from err
        self._retry(lambda _left: sq.migrate(self._engine))
        self.created = not self._initialised
        self._initialised = True

    @property
    def initialised(self) -> bool:
        """Whether the registry's tables exist.

        Checked again while they did not: another process may have created them since.
        """
        if not self._initialised:
            self._initialised = self._has_schema()
        return self._initialised

    @initialised.setter
    def initialised(self, value: bool) -> None:
        self._initialised = value

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._engine.dispose()

    # ------------------------------------------------------------ primitives

    def _insert_version(
        self, draft: ModelVersion, actor: str, *, leased: bool = False, seal: Seal | None = None
    ) -> ModelVersion:
        def tx(conn: Connection) -> ModelVersion:
            sq.lock_model(conn, draft.name, create=True)
            if leased:
                p = sq.pending.c
                gone = conn.execute(
                    sq.pending.delete().where(
                        p.artifact_key == draft.artifact_key, p.state == "lease"
                    )
                )
                if gone.rowcount != 1:
                    raise lost_lease(draft.artifact_key, draft.name)
            top = conn.execute(
                sa.select(sa.func.max(sq.versions.c.version)).where(
                    sq.versions.c.name == draft.name
                )
            ).scalar()
            mv = draft.model_copy(update={"version": int(top or 0) + 1})
            if seal is not None:
                mv = seal(mv)
            conn.execute(
                sq.versions.insert().values(
                    name=mv.name,
                    version=mv.version,
                    status=mv.status,
                    artifact_key=mv.artifact_key,
                    payload=sq.dump_version(mv),
                )
            )
            key = {"name": mv.name, "version": mv.version}
            if mv.tags:
                conn.execute(
                    sq.tags.insert(), [{**key, "key": k, "value": v} for k, v in mv.tags.items()]
                )
            if mv.metrics:
                conn.execute(
                    sq.metrics.insert(),
                    [{**key, "key": k, "value": v} for k, v in mv.metrics.items()],
                )
            sq.log(conn, register_event(mv, actor))
            return mv

        return self._write(tx)

    def _query_versions(self, query: VersionQuery) -> list[ModelVersion]:
        stmt = sq.select_versions(query)
        rows = self._read(lambda conn: conn.execute(stmt).all())
        return [sq.to_version(*row) for row in rows]

    def _version_records(self, query: VersionQuery) -> list[ModelVersion | RecordProblem]:
        stmt = sq.select_versions(query)
        rows = self._read(lambda conn: conn.execute(stmt).all())
        return [sq.version_record(row) for row in rows]

    def resolve(self, name: str, selector: int | str | None) -> ModelVersion:
        """As the base, but an alias resolves in one query (a join)."""
        if not isinstance(selector, str) or selector == "latest":
            return super().resolve(name, selector)
        params = {"name": name, "alias": selector}
        row = self._read(lambda conn: conn.execute(sq.BY_ALIAS, params).first())
        if row is None:
            return super().resolve(name, selector)  # raises the precise NotFoundError
        return sq.to_version(*row)

    def _set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        v, a = sq.versions.c, sq.aliases.c

        def tx(conn: Connection) -> None:
            sq.lock_model(conn, name, create=False)
            row = conn.execute(
                sa.select(v.status, v.artifact_key).where(v.name == name, v.version == version)
            ).first()
            if row is None or row.status == "deleted":
                raise NotFoundError(
                    f"model {name!r} has no version {version}", model_name=name, version=version
                )
            if status == "deleted":
                pointing = shown_aliases(
                    conn.execute(
                        sa.select(a.alias).where(a.name == name, a.version == version)
                    ).scalars()
                )
                if pointing:
                    raise ConflictError(
                        f"cannot delete {name} version {version}: aliases {pointing} point at it",
                        model_name=name,
                        version=version,
                    )
                sq.queue_deleted(conn, row.artifact_key, name)
            conn.execute(
                sq.versions.update()
                .where(v.name == name, v.version == version)
                .values(status=status)
            )
            sq.log(conn, event)

        self._write(tx)

    def _move_alias(
        self, name: str, alias: str, version: int | None, expected: Any, event: EventDraft
    ) -> None:
        a, v = sq.aliases.c, sq.versions.c

        def tx(conn: Connection) -> None:
            sq.lock_model(conn, name, create=False)
            where = (a.name == name, a.alias == alias)
            current = conn.execute(sa.select(a.version).where(*where)).scalar()
            # A row edited to hold no version number is neither shown nor logged.
            number = current if type(current) is int and 1 <= current <= MAX_VERSION else None
            if expected is not ANY and current != expected:
                shown = "a stored value that is not a version number"
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} points at "
                    f"{shown if current is not None and number is None else current}, not the "
                    f"expected {expected}: it moved concurrently",
                    model_name=name,
                    version=alias,
                )
            if version is None:
                if current is None:
                    raise NotFoundError(
                        f"model {name!r} has no alias {alias!r}", model_name=name, version=alias
                    )
                conn.execute(sq.aliases.delete().where(*where))
            else:
                status = conn.execute(
                    sa.select(v.status).where(v.name == name, v.version == version)
                ).scalar()
                check_target(name, version, status)
                if current is None:
                    conn.execute(
                        sq.aliases.insert().values(name=name, alias=alias, version=version)
                    )
                else:
                    conn.execute(sq.aliases.update().where(*where).values(version=version))
            sq.log(conn, event.replacing(number))

        self._write(tx)

    def _aliases(self, name: str) -> dict[str, int]:
        a = sq.aliases.c
        stmt = sa.select(a.alias, a.version).where(a.name == name)
        rows = self._read(lambda conn: conn.execute(stmt).all())
        return dict(rows)  # as stored: the base checks what it hands out

    def _alias_rows(self, name: str, alias: str | None = None) -> list[AliasRow]:
        """As the base, in one query: each alias row joined to its version's status."""
        if alias is None:
            stmt, params = sq.ALIAS_ROWS, {"name": name}
        else:
            stmt, params = sq.ALIAS_ROW, {"name": name, "alias": alias}
        rows = self._read(lambda conn: conn.execute(stmt, params).all())
        return [(key, version, status in LIVE) for key, version, status in rows]

    def _registry_id(self, create: bool) -> str | None:
        t = sq.registry.c
        stmt = sa.select(t.value).where(t.key == "id")
        try:
            found = self._read(lambda conn: conn.execute(stmt).scalar())
        except RegistryError:
            if create:
                raise
            return None  # a read-only database from before identities: no table
        if found is None and create:

            def tx(conn: Connection) -> None:
                if conn.execute(stmt).scalar() is None:
                    conn.execute(sq.registry.insert().values(key="id", value=uuid.uuid4().hex))

            self._write(tx)  # a concurrent creator's row wins the retry's re-read
            found = self._read(lambda conn: conn.execute(stmt).scalar())
        return found if isinstance(found, str) else None

    def _replace_record(self, name: str, version: int, record: str) -> None:
        v = sq.versions.c
        stmt = (
            sq.versions.update().where(v.name == name, v.version == version).values(payload=record)
        )
        self._write(lambda conn: conn.execute(stmt))

    def _replace_alias_row(self, name: str, alias: str, raw: tuple[object, object]) -> None:
        stored_alias, stored_version = raw
        a = sq.aliases.c

        def tx(conn: Connection) -> None:
            conn.execute(sq.aliases.delete().where(a.name == name, a.alias == alias))
            conn.execute(
                sq.aliases.insert().values(name=name, alias=stored_alias, version=stored_version)
            )

        try:
            self._write(tx)
        except (RegistryError, sa_exc.StatementError, OverflowError, TypeError) as err:
            # A typed column (PostgreSQL's) refuses what a damaged row could never hold.
            raise NotImplementedError(
                f"{type(self).__name__} on {self._engine.dialect.name} cannot store that alias "
                f"row ({type(err).__name__}): its columns refuse the value"
            ) from None

    def _events(
        self,
        name: str,
        alias: str | None = None,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        rows = self._event_rows(name, alias, before=before, limit=limit)
        return [sq.to_event(r) for r in rows]

    def _event_records(
        self,
        name: str,
        alias: str | None = None,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent | RecordProblem]:
        rows = self._event_rows(name, alias, before=before, limit=limit)
        return [sq.event_record(r) for r in rows]

    def _event_rows(
        self, name: str, alias: str | None, *, before: int | None, limit: int | None
    ) -> list[Any]:
        e = sq.events.c
        stmt = sa.select(sq.events).where(e.name == name)
        if alias is not None:
            stmt = stmt.where(e.alias == alias)
        if limit is None:
            stmt = stmt.order_by(e.seq)
        else:
            if before is not None:
                stmt = stmt.where(e.seq < before)
            stmt = stmt.order_by(e.seq.desc()).limit(limit)
        return list(self._read(lambda conn: conn.execute(stmt).mappings().all()))

    def _events_by_action(
        self,
        name: str,
        actions: tuple[str, ...],
        *,
        version: int | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[AuditEvent | RecordProblem]:
        """As the base, in one query (``ix_prodml_events_version`` or ``_action``)."""
        e = sq.events.c
        stmt = sa.select(sq.events).where(e.name == name, e.action.in_(actions), e.seq > after)
        if version is not None:
            stmt = stmt.where(e.version == version)
        stmt = stmt.order_by(e.seq.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = self._read(lambda conn: conn.execute(stmt).mappings().all())
        return [sq.event_record(r) for r in rows]

    def _prune_events(self, name: str, plan: PrunePlan) -> int:
        e = sq.events.c

        def tx(conn: Connection) -> int:
            sq.lock_model(conn, name, create=False)
            rows = conn.execute(
                sa.select(sq.events).where(e.name == name).order_by(e.seq)
            ).mappings()
            drop, drafts = plan([sq.to_event(r) for r in rows])
            # Logged first: SQLite gives a new row max(seq) + 1, so deleting the newest
            # events first would hand their numbers out again, and sequence numbers
            # (which signed alias records carry) must never go backwards.
            for draft in drafts:
                sq.log(conn, draft)
            for start in range(0, len(drop), 500):  # bound the bound parameters per statement
                chunk = drop[start : start + 500]
                conn.execute(sq.events.delete().where(e.name == name, e.seq.in_(chunk)))
            return len(drop)

        return self._write(tx)

    def _model_names(self) -> list[str]:
        stmt = sa.select(sq.models.c.name).order_by(sq.bytewise(sq.models.c.name))
        return list(self._read(lambda conn: conn.execute(stmt).scalars().all()))

    def _lease(self, key: str, name: str, expires_at: float) -> None:
        p = sq.pending.c

        def tx(conn: Connection) -> None:
            state = conn.execute(
                sa.select(p.state).where(p.artifact_key == key).with_for_update()
            ).scalar()
            if state is None:
                conn.execute(
                    sq.pending.insert().values(
                        artifact_key=key, name=name, state="lease", expires_at=expires_at
                    )
                )
            elif state == "lease":
                conn.execute(
                    sq.pending.update().where(p.artifact_key == key).values(expires_at=expires_at)
                )
            else:
                raise lost_lease(key, name)

        self._write(tx)

    def _revoke(self, key: str, *, expired_by: float | None = None) -> bool:
        p = sq.pending.c

        def tx(conn: Connection) -> bool:
            cond = [p.artifact_key == key, p.state == "lease"]
            if expired_by is not None:
                cond.append(p.expires_at <= expired_by)
            done = conn.execute(
                sq.pending.update().where(*cond).values(state="orphan", expires_at=time.time())
            )
            if done.rowcount:
                return True
            state = conn.execute(sa.select(p.state).where(p.artifact_key == key)).scalar()
            return state is not None and state != "lease"

        return self._write(tx)

    def _pending(self, due_by: float | None = None) -> list[Pending]:
        p = sq.pending.c
        stmt = sa.select(p.artifact_key, p.name, p.state, p.expires_at)
        if due_by is not None:
            stmt = stmt.where(p.expires_at <= due_by)
        rows = self._read(lambda conn: conn.execute(stmt.order_by(p.expires_at)).all())
        return [Pending(k, n, sq.pending_state(s), float(x)) for k, n, s, x in rows]

    def _forget(self, key: str) -> None:
        p = sq.pending.c
        self._write(
            lambda conn: conn.execute(
                sq.pending.delete().where(p.artifact_key == key, p.state != "lease")
            )
        )

    def _artifact_keys(self) -> dict[str, Status]:
        v = sq.versions.c
        rows = self._read(lambda conn: conn.execute(sa.select(v.artifact_key, v.status)).all())
        return {k: s for k, s in rows if s in ALL}
