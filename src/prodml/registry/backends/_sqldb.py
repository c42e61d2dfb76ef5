"""How the SQL metadata store talks to its database: opening the engine, transactions, errors.

:class:`SQLDatabase` is a mixin of :class:`~prodml.registry.backends.sql.SQLMetadataStore`
(moved out of ``sql.py`` unchanged): it builds the engine (a SQLite file opened
read-only where it must be, a PostgreSQL pool that pre-pings), runs every read and write
under one deadline (``lock_timeout``) with retries of transient failures, and turns
database errors into :class:`~prodml.errors.RegistryError` with credentials scrubbed.
"""

from __future__ import annotations

import math
import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from prodml._secrets import Secrets
from prodml.errors import RegistryError, StorageError
from prodml.registry.backends import _sqlschema as sq

__all__ = ["SQLDatabase"]

T = TypeVar("T")


class SQLDatabase:
    """The engine, transactions and error translation of the SQL metadata store (a mixin)."""

    url: str
    lock_timeout: float
    read_only: bool
    _sqlite: bool
    _db_path: Path | None
    _engine: Engine
    _secrets: Secrets

    # ------------------------------------------------------------ opening

    def _url_engine(self, url: str, engine_kwargs: dict[str, Any]) -> Engine:
        if self._sqlite:
            engine_kwargs.setdefault("poolclass", sa.pool.StaticPool)
            engine_kwargs.setdefault("connect_args", {})["check_same_thread"] = False
        elif url.startswith("postgresql"):
            args = engine_kwargs.setdefault("connect_args", {})
            args.setdefault("connect_timeout", max(2, math.ceil(self.lock_timeout)))
            # A pooled connection the server dropped (a restart, a failover, an idle
            # timeout) is replaced before use, instead of failing the next call once.
            engine_kwargs.setdefault("pool_pre_ping", True)
        try:
            return sa.create_engine(url, **engine_kwargs)
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as err:
            raise RegistryError(
                self._scrub(f"cannot open metadata store {self.url}: {err}")
            ) from None

    def _sqlite_file_engine(self, db: Path, engine_kwargs: dict[str, Any]) -> Engine:
        if db.is_dir():
            raise StorageError(f"the registry database {db} is a directory", path=str(db))
        exists = db.is_file() and db.stat().st_size > 0
        if exists and not (os.access(db, os.W_OK) and os.access(db.parent, os.W_OK)):
            self.read_only = True  # a read-only location: open for reading only
        if self.read_only and not exists:
            raise RegistryError(f"no registry database at {db}, and it was opened read-only")
        timeout, read_only = self.lock_timeout, self.read_only

        def connect() -> sqlite3.Connection:
            if not read_only:
                return sqlite3.connect(db, timeout=timeout, check_same_thread=False)
            uri = f"file:{quote(str(db.resolve()))}"
            try:
                conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False)
                conn.execute("PRAGMA schema_version").fetchone()
                return conn
            except sqlite3.OperationalError:  # WAL needs a -shm file it cannot create here
                return sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)

        return sa.create_engine(
            "sqlite://", creator=connect, poolclass=sa.pool.QueuePool, **engine_kwargs
        )

    def _has_schema(self) -> bool:
        if self._db_path is not None and not (
            self._db_path.is_file() and self._db_path.stat().st_size > 0
        ):
            return False
        return bool(self._read(lambda conn: sa.inspect(conn).has_table(sq.versions.name)))

    # ------------------------------------------------------------ transactions

    def _retry(self, fn: Callable[[float], T]) -> T:
        deadline = time.monotonic() + self.lock_timeout
        delay, collisions = 0.002, 0
        while True:
            try:
                return fn(max(deadline - time.monotonic(), 0.001))
            except sa_exc.DBAPIError as err:
                if not sq.transient(err):
                    raise self._error(err) from (None if self._leaks(err) else err)
                if isinstance(err, sa_exc.IntegrityError):
                    collisions += 1
                    if collisions > 20:
                        raise self._error(err) from None
                if time.monotonic() + delay >= deadline:
                    raise RegistryError(
                        f"the metadata database {self.url} is locked: another writer held it "
                        f"for more than {self.lock_timeout:g} s (lock_timeout). Nothing was "
                        "changed; try again, or open the registry with a longer lock_timeout"
                    ) from None
            time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not security
            delay = min(delay * 1.5, 0.2)

    def _write(self, fn: Callable[[Connection], T]) -> T:
        # No read-only check here: the public methods refuse first, and a primitive called
        # directly on a read-only store meets the database's own refusal.
        def attempt(left: float) -> T:
            ms = max(1, int(left * 1000))
            with self._engine.connect() as conn:
                conn.execution_options(prodml_write=True, prodml_wait_ms=ms)
                with conn.begin():
                    if not self._sqlite:
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
                    return fn(conn)

        return self._retry(attempt)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        def attempt(left: float) -> T:
            with self._engine.connect() as conn:
                conn.execution_options(prodml_wait_ms=max(1, int(left * 1000)))
                return fn(conn)

        return self._retry(attempt)

    def _scrub(self, text: str) -> str:
        return self._secrets.scrub(text)

    def _leaks(self, err: BaseException) -> bool:
        return self._secrets.found_in(str(err))

    def _error(self, err: sa_exc.DBAPIError) -> RegistryError:
        text = self._scrub(str(err.orig if err.orig is not None else err).strip())
        first = text.splitlines()[0][:300] if text else type(err).__name__
        low = first.lower()
        where = str(self._db_path) if self._db_path is not None else self.url
        if "readonly" in low or "read-only" in low or "read only" in low:
            return RegistryError(f"the metadata store {where} is read-only: {first}")
        if "disk is full" in low or "unable to open" in low or "disk i/o" in low:
            return StorageError(f"the metadata database {where} failed: {first}", path=where)
        code = getattr(err.orig, "sqlstate", None)
        if code in ("28P01", "28000") or "authentication failed" in low:
            return RegistryError(
                f"cannot connect to the metadata store {self.url}: {first}; check the user "
                "name and password in the URL (authentication failed)"
            )
        return RegistryError(f"metadata store {self.url} failed: {first}")
