"""Helpers shared by the registry conformance suites, and the one import of pytest.

The suites take ``pytest`` from here, so that importing any of them without the
``test`` extra raises :class:`~prodml.errors.MissingExtraError`.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodml.errors import MissingExtraError
from prodml.schema import Column, Schema

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from prodml.registry import ArtifactStore

try:
    import pytest
except ImportError as _err:  # pragma: no cover - the test extra is missing
    raise MissingExtraError(
        package="pytest", extra="test", feature="prodml.testing.registry"
    ) from _err

__all__ = ["REQUIRE_ENV", "pytest", "service_url", "stored_files"]  # pytest: for the suites

REQUIRE_ENV = "PRODML_REQUIRE_SERVICES"


def service_url(variable: str, how: str, *, extra: tuple[str, str] | None = None) -> str:
    """The URL in ``$variable``; skip (or, under ``PRODML_REQUIRE_SERVICES=1``, fail) if unset.

    The skip message says what is really missing: the extra (when its module does not
    import), else the server.

    Parameters
    ----------
    variable
        Environment variable holding the URL.
    how
        How to start the server, for the message.
    extra
        ``(module, extra)`` the tests also need, e.g. ``("psycopg", "postgres")``.

    Examples
    --------
    >>> import os
    >>> os.environ["PRODML_DOCTEST_URL"] = "redis://127.0.0.1:6379/0"
    >>> service_url("PRODML_DOCTEST_URL", "start redis-server")
    'redis://127.0.0.1:6379/0'
    >>> del os.environ["PRODML_DOCTEST_URL"]
    """
    if extra is not None and importlib.util.find_spec(extra[0]) is None:
        message = f"needs the '{extra[1]}' extra: pip install 'prodml[{extra[1]}]'"
    else:
        value = os.environ.get(variable)
        if value:
            return value
        message = f"no server: set {variable} ({how})"
        if extra is not None:
            message += f"; the '{extra[1]}' extra is installed"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message}: {REQUIRE_ENV}=1 says the service must be there")
    pytest.skip(message)
    raise AssertionError("unreachable")  # pragma: no cover


def _schema(*names: str, dtype: str = "float") -> Schema:
    return Schema([Column(n, dtype) for n in names])


def _model() -> Any:
    """A small prodml object, stored with the prodml JSON flavour: the suites' model."""
    return _schema("x")


def hold_write_lock(store: Any) -> AbstractContextManager[None]:
    """A context manager holding ``store``'s write lock from elsewhere (shipped stores).

    Readers stay unblocked where the store allows it (SQLite WAL, PostgreSQL
    ``EXCLUSIVE`` mode), as another writer's transaction would.
    """
    import contextlib  # noqa: PLC0415
    import threading  # noqa: PLC0415

    from prodml.registry.backends.memory import MemoryMetadataStore  # noqa: PLC0415
    from prodml.registry.backends.sql import SQLMetadataStore  # noqa: PLC0415

    @contextlib.contextmanager
    def held() -> Iterator[None]:
        if isinstance(store, MemoryMetadataStore):
            taken, release = threading.Event(), threading.Event()

            def hold() -> None:
                with store._lock:
                    taken.set()
                    release.wait(60)

            thread = threading.Thread(target=hold, daemon=True)
            thread.start()
            taken.wait(10)
            try:
                yield
            finally:
                release.set()
                thread.join(10)
        elif isinstance(store, SQLMetadataStore):
            conn = store._engine.connect()
            conn.execution_options(prodml_write=True)
            tx = conn.begin()
            if not store._sqlite:
                conn.exec_driver_sql(
                    "LOCK TABLE prodml_models, prodml_pending, prodml_versions IN EXCLUSIVE MODE"
                )
            try:
                yield
            finally:
                tx.rollback()
                conn.close()
        else:  # pragma: no cover - a user's store overrides the suite's hook
            raise NotImplementedError(
                f"the suite cannot lock a {type(store).__name__}: override "
                "hold_write_lock(store) in your test class with a context manager that "
                "holds the store's write lock from elsewhere (another connection or "
                "thread); writes must then wait at most store.lock_timeout seconds and "
                "raise RegistryError saying the store 'is locked' and naming lock_timeout"
            )

    return held()


def stored_files(store: ArtifactStore, key: str) -> dict[str, bytes]:
    """Every file under ``key`` and its bytes, read through the store's own primitives."""
    out: dict[str, bytes] = {}
    for rel in store._list_files(key):
        with store._open(key, rel) as f:
            out[rel] = f.read()
    return out


def _rewrite(store: ArtifactStore, key: str, rel: str, data: bytes | None) -> None:
    """Put ``key`` back with file ``rel`` replaced by ``data`` (``None``: removed).

    Any store works: its files are read with ``_list_files`` and ``_open``, the key is
    removed with ``_remove`` and written again with ``_put_tree``.
    """
    files = stored_files(store, key)
    if data is None:
        del files[rel]
    else:
        files[rel] = data
    store._remove(key)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            path = Path(tmp).joinpath(*name.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        store._put_tree(Path(tmp), key)
