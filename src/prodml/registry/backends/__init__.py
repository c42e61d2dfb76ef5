"""Registry backends, chosen by URL scheme.

Metadata stores (versions, aliases, audit log) and artifact stores (model files) are
looked up by the scheme of their URL in two small tables. Entries are dotted paths, so a
backend's module (and its optional dependency) is imported only when a URL uses it; a
missing dependency raises :class:`~prodml.errors.MissingExtraError` naming the extra.

=============================  ============================  ==================
scheme                         class                         extra
=============================  ============================  ==================
``memory://`` (metadata)       MemoryMetadataStore           -
``sqlite:///``                 SQLMetadataStore              -
``postgresql+psycopg://``      SQLMetadataStore              ``postgres``
``file://``                    LocalArtifactStore            -
``memory://`` (artifacts)      MemoryArtifactStore           -
``s3://``                      S3ArtifactStore               ``s3``
=============================  ============================  ==================

Examples
--------
>>> from prodml.registry.backends import metadata_store_for
>>> type(metadata_store_for("memory://")).__name__
'MemoryMetadataStore'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from prodml._extras import require
from prodml._quote import short_repr
from prodml._secrets import redact_url
from prodml.errors import ConfigError
from prodml.registry.backends.artifacts import ArtifactStore
from prodml.registry.backends.metadata import MetadataStore

__all__ = [
    "ArtifactStore",
    "MetadataStore",
    "artifact_store_for",
    "metadata_store_for",
    "register_backend",
]

Kind = Literal["metadata", "artifacts"]


@dataclass(frozen=True)
class _Entry:
    target: type | str
    requires: tuple[tuple[str, str], ...] = ()


_BACKENDS: dict[Kind, dict[str, _Entry]] = {"metadata": {}, "artifacts": {}}


def register_backend(
    scheme: str,
    cls_or_dotted_path: type | str,
    *,
    kind: Kind = "metadata",
    requires: dict[str, str] | None = None,
) -> None:
    """Make URLs with ``scheme`` open ``cls_or_dotted_path``.

    Parameters
    ----------
    scheme
        The URL scheme, e.g. ``"mysql+pymysql"`` or ``"gs"``.
    cls_or_dotted_path
        The store class, or ``"package.module.ClassName"`` to import on first use.
    kind
        ``"metadata"`` (a :class:`MetadataStore`) or ``"artifacts"`` (an
        :class:`ArtifactStore`). A metadata store class is called as
        ``cls(url, lock_timeout=..., read_only=..., create=...)``, an artifact store
        class as ``cls(url, read_only=..., **storage_options)``. Keep credentials out of
        ``repr`` and ``url`` (see ``prodml._secrets.redact_url``).
    requires
        Module -> prodml extra, checked before import so a missing dependency names
        the extra to install.

    Examples
    --------
    >>> from prodml.registry.backends.memory import MemoryMetadataStore
    >>> register_backend("mem2", MemoryMetadataStore)
    >>> type(metadata_store_for("mem2://")).__name__
    'MemoryMetadataStore'
    """
    if kind not in _BACKENDS:
        raise ConfigError(
            f"The 'kind' parameter of register_backend must be one of {{'metadata', "
            f"'artifacts'}}. Got {kind!r} instead.",
            parameter="kind",
        )
    if (
        not isinstance(scheme, str)
        or not scheme
        or not all(c.isalnum() or c in "+-." for c in scheme)
    ):
        raise ConfigError(
            "The 'scheme' parameter of register_backend must be a URL scheme such as "
            f"'postgresql+psycopg'. Got {short_repr(scheme)} instead.",
            parameter="scheme",
        )
    if not isinstance(cls_or_dotted_path, str | type):
        raise ConfigError(
            "The 'cls_or_dotted_path' parameter of register_backend must be a class or a "
            f"dotted path. Got {type(cls_or_dotted_path).__name__} instead.",
            parameter="cls_or_dotted_path",
        )
    if requires is not None and not isinstance(requires, dict):
        raise ConfigError(
            "The 'requires' parameter of register_backend must be a dict or None. "
            f"Got {type(requires).__name__} instead.",
            parameter="requires",
        )
    _BACKENDS[kind][scheme.lower()] = _Entry(cls_or_dotted_path, tuple((requires or {}).items()))


def _load(kind: Kind, url: str) -> type:
    parameter = "db_url" if kind == "metadata" else "artifacts_url"
    if not isinstance(url, str) or "://" not in url:
        shown = repr(redact_url(url)[:200]) if isinstance(url, str) else type(url).__name__
        raise ConfigError(
            f"{kind} store URL {shown} has no scheme; expected e.g. "
            + (
                "'sqlite:///registry.db'"
                if kind == "metadata"
                else "'file:///srv/artifacts' (a local folder: 'file://' and its absolute path)"
            ),
            parameter=parameter,
        )
    scheme = url.split("://", 1)[0].lower()
    entry = _BACKENDS[kind].get(scheme)
    if entry is None:
        known = ", ".join(sorted(_BACKENDS[kind]))
        raise ConfigError(
            f"no {kind} store is registered for scheme {scheme[:40]!r} (in "
            f"{redact_url(url)[:200]!r}); known: {known}. Add one with register_backend().",
            parameter=parameter,
        )
    for module, extra in entry.requires:
        require(module, extra=extra, feature=f"The {scheme!r} {kind} store")
    if isinstance(entry.target, type):
        return entry.target
    module_name, _, cls_name = entry.target.rpartition(".")
    cls: type = getattr(importlib.import_module(module_name), cls_name)
    return cls


def metadata_store_for(url: str, **options: Any) -> MetadataStore:
    """Open the metadata store for ``url`` (``options``: ``lock_timeout``, ``read_only``...)."""
    store = _load("metadata", url)(url, **options)
    if not isinstance(store, MetadataStore):
        raise ConfigError(
            f"backend for {redact_url(url)[:200]!r} is not a MetadataStore", parameter="db_url"
        )
    return store


def artifact_store_for(url: str, **storage_options: Any) -> ArtifactStore:
    """Open the artifact store for ``url`` (``read_only`` and fsspec storage options)."""
    store = _load("artifacts", url)(url, **storage_options)
    if not isinstance(store, ArtifactStore):
        raise ConfigError(
            f"backend for {redact_url(url)[:200]!r} is not an ArtifactStore",
            parameter="artifacts_url",
        )
    return store


_PKG = "prodml.registry.backends"
register_backend("memory", f"{_PKG}.memory.MemoryMetadataStore")
register_backend("sqlite", f"{_PKG}.sql.SQLMetadataStore")
for _scheme in ("postgresql", "postgresql+psycopg"):
    register_backend(_scheme, f"{_PKG}.sql.SQLMetadataStore", requires={"psycopg": "postgres"})
register_backend("file", f"{_PKG}.artifacts.LocalArtifactStore", kind="artifacts")
register_backend("memory", f"{_PKG}.artifacts.MemoryArtifactStore", kind="artifacts")
register_backend(
    "s3", f"{_PKG}.artifacts.S3ArtifactStore", kind="artifacts", requires={"s3fs": "s3"}
)
