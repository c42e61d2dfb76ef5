"""Feature store backends, chosen by URL scheme.

Offline stores (point-in-time joins, latest values) and online stores (serving reads)
are looked up by the scheme of their URL in two small tables. Entries are dotted paths,
so a backend's module (and its optional dependency) is imported only when a URL uses
it; a missing dependency raises :class:`~prodml.errors.MissingExtraError` naming the
extra.

=================================  ==========================  ============
scheme                             class                       extra
=================================  ==========================  ============
``duckdb://`` (offline)            DuckDBOfflineStore          ``store``
``postgresql+psycopg://`` (off.)   PostgresOfflineStore        ``postgres``
``sqlite:///`` (online)            SQLiteOnlineStore           -
``redis://``, ``rediss://``        RedisOnlineStore            ``redis``
``postgresql+psycopg://`` (onl.)   PostgresOnlineStore         ``postgres``
=================================  ==========================  ============

Examples
--------
>>> from prodml.store.backends import online_store_for
>>> type(online_store_for("sqlite:///:memory:")).__name__
'SQLiteOnlineStore'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from prodml._extras import require
from prodml._secrets import redact_url
from prodml.errors import ConfigError
from prodml.store.offline import OfflineStore, ViewQuery
from prodml.store.online import OnlineRecord, OnlineStore, StoredValue

__all__ = [
    "OfflineStore",
    "OnlineRecord",
    "OnlineStore",
    "StoredValue",
    "ViewQuery",
    "offline_store_for",
    "online_store_for",
    "register_backend",
]

Kind = Literal["offline", "online"]


@dataclass(frozen=True)
class _Entry:
    target: type | str
    requires: tuple[tuple[str, str], ...] = ()


_BACKENDS: dict[Kind, dict[str, _Entry]] = {"offline": {}, "online": {}}


def register_backend(
    scheme: str,
    cls_or_dotted_path: type | str,
    *,
    kind: Kind,
    requires: dict[str, str] | None = None,
) -> None:
    """Make ``kind`` store URLs with ``scheme`` open ``cls_or_dotted_path``.

    Parameters
    ----------
    scheme
        The URL scheme, e.g. ``"bigquery"``.
    cls_or_dotted_path
        The store class, or ``"package.module.ClassName"`` to import on first use. It is
        called with the URL and the options given to :func:`offline_store_for` /
        :func:`online_store_for`.
    kind
        ``"offline"`` (an :class:`OfflineStore`) or ``"online"`` (an :class:`OnlineStore`).
    requires
        Module -> prodml extra, checked before import so that a missing dependency names
        the extra to install.

    Examples
    --------
    >>> from prodml.store._sqlite import SQLiteOnlineStore
    >>> register_backend("sqlite", SQLiteOnlineStore, kind="online")
    """
    if kind not in _BACKENDS:
        raise ConfigError(
            "The 'kind' parameter of register_backend must be one of {'offline', 'online'}. "
            f"Got {kind!r} instead.",
            parameter="kind",
        )
    _BACKENDS[kind][scheme.lower()] = _Entry(cls_or_dotted_path, tuple((requires or {}).items()))


def _load(kind: Kind, url: object) -> type:
    if not isinstance(url, str) or "://" not in url:
        example = "'duckdb://'" if kind == "offline" else "'sqlite:///fs/online.db'"
        raise ConfigError(
            f"{kind} store URL {str(url)[:60]!r} has no scheme; expected e.g. {example}",
            parameter=kind,
        )
    scheme = url.split("://", 1)[0].lower()
    entry = _BACKENDS[kind].get(scheme)
    if entry is None:
        known = ", ".join(sorted(_BACKENDS[kind]))
        raise ConfigError(
            f"no {kind} store is registered for scheme {scheme!r} (in {redact_url(url)[:80]!r}); "
            f"known: {known}. Add one with register_backend().",
            parameter=kind,
        )
    for module, extra in entry.requires:
        require(module, extra=extra, feature=f"The {scheme!r} {kind} store")
    if isinstance(entry.target, type):
        return entry.target
    module_name, _, cls_name = entry.target.rpartition(".")
    cls: type = getattr(importlib.import_module(module_name), cls_name)
    return cls


def offline_store_for(url: str, **options: Any) -> OfflineStore:
    """Open the offline store for ``url`` (options go to the store's constructor)."""
    store = _load("offline", url)(url, **options)
    if not isinstance(store, OfflineStore):
        raise ConfigError(
            f"backend for {redact_url(url)!r} is not an OfflineStore", parameter="offline"
        )
    return store


def online_store_for(url: str, **options: Any) -> OnlineStore:
    """Open the online store for ``url`` (options go to the store's constructor)."""
    store = _load("online", url)(url, **options)
    if not isinstance(store, OnlineStore):
        raise ConfigError(
            f"backend for {redact_url(url)!r} is not an OnlineStore", parameter="online"
        )
    return store


_PKG = "prodml.store"
register_backend(
    "duckdb", f"{_PKG}._duckdb.DuckDBOfflineStore", kind="offline", requires={"duckdb": "store"}
)
register_backend("sqlite", f"{_PKG}._sqlite.SQLiteOnlineStore", kind="online")
for _scheme in ("redis", "rediss"):
    register_backend(
        _scheme, f"{_PKG}._redis.RedisOnlineStore", kind="online", requires={"redis": "redis"}
    )
for _scheme in ("postgresql", "postgresql+psycopg", "postgres"):
    register_backend(
        _scheme,
        f"{_PKG}._pg_offline.PostgresOfflineStore",
        kind="offline",
        requires={"psycopg": "postgres"},
    )
    register_backend(
        _scheme,
        f"{_PKG}._pg_online.PostgresOnlineStore",
        kind="online",
        requires={"psycopg": "postgres"},
    )
