"""The :class:`ModelRegistry` facade: opening a registry and registering versions.

The rest of its methods come from mixins, one per responsibility: alias moves, promotion
and rollback (``_aliases``), reading and loading versions (``_reading``), and what leaves
the registry: archive, delete, gc and pruning the audit log (``_retention``).
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from prodml._durations import seconds
from prodml._files import PATH_QUOTE, folder_reason, local_path
from prodml._pickle import NotPicklable
from prodml._quote import short_repr
from prodml.errors import (
    ConfigError,
    IntegrityError,
    ProdMLError,
    RegistryError,
    StorageError,
)
from prodml.registry import _lineage, _manifest, _protect, _trust
from prodml.registry._aliases import AliasMoves
from prodml.registry._environment import capture as capture_environment
from prodml.registry._gc import GCReport
from prodml.registry._paths import check_version_number
from prodml.registry._reading import Reading
from prodml.registry._retention import Retention
from prodml.registry._validate import check_fields
from prodml.registry.authz import Authorizer
from prodml.registry.backends import artifact_store_for, metadata_store_for
from prodml.registry.backends._artifact_base import ArtifactStore, new_key
from prodml.registry.backends.metadata import MetadataStore
from prodml.registry.encryption import KeyProvider
from prodml.registry.entities import (
    Lineage,
    ModelVersion,
    check_name,
)
from prodml.registry.flavours import flavour_for, get_flavour
from prodml.registry.signing import Signer, TrustPolicy
from prodml.schema import Schema

if TYPE_CHECKING:
    from prodml.lineage import LineageSink

__all__ = ["GCReport", "ModelRegistry"]

ACTOR_ENV = "PRODML_ACTOR"


class ModelRegistry(NotPicklable, AliasMoves, Reading, Retention):
    """Versioned models with aliases, lineage, an audit log and verified artifacts.

    Parameters
    ----------
    db_url
        Metadata store URL (``sqlite:///registry.db``, ``postgresql+psycopg://...``,
        ``memory://``) or a :class:`~prodml.registry.backends.MetadataStore`.
    artifacts_url
        Artifact store URL (``file:///srv/models``, ``s3://bucket/prefix``,
        ``memory://models``) or an :class:`~prodml.registry.backends.ArtifactStore`.
    storage_options
        Passed to fsspec for the artifact store (credentials, ``endpoint_url``).
    actor
        Who is acting, for the audit log. Default: ``$PRODML_ACTOR``, else the login name.
    read_only
        Open without writing anything; every write raises :class:`RegistryError`. A
        SQLite registry on a location this process cannot write opens read-only anyway.
    lock_timeout
        Total seconds an operation may wait for the database lock before a
        :class:`RegistryError` saying it is locked (for a store opened from a URL; a
        store object keeps its own).
    lease_ttl
        How long a registration may take (seconds or a timedelta) before gc may reclaim
        its files; the lease is renewed before the upload when the flavour's save took
        more than half of it.
    signer
        A :class:`~prodml.registry.signing.Signer`: every version registered is signed
        (its files' digests and the metadata that decides behaviour, and the registry's
        identity), so is every alias move and status change, and the audit log records
        the key id. See :mod:`prodml.registry.signing`.
    trust
        A :class:`~prodml.registry.signing.TrustPolicy`: ``load``, ``verify`` and
        ``promote`` refuse a version that is unsigned (unless the policy allows it),
        signed by a key outside the policy or for another registry, or changed since it
        was signed; ``load`` and ``verify`` through an alias also check the alias's
        newest signed record (see :meth:`load`).
    authorizer
        An :class:`~prodml.registry.authz.Authorizer` asked before every alias move (for
        example :class:`~prodml.registry.authz.RequireApproval` for ``production``); a
        refusal is an :class:`~prodml.errors.AuthorizationError`.
    encryption
        A :class:`~prodml.registry.encryption.KeyProvider` (such as
        :class:`~prodml.registry.encryption.LocalKeyFile`): files are stored encrypted
        (AES-256-GCM) and decrypted on load into a private temporary directory.

    Examples
    --------
    >>> import tempfile
    >>> from prodml.schema import Column, Schema
    >>> reg = ModelRegistry.local(tempfile.mkdtemp())
    >>> schema = Schema([Column("x", "float")])
    >>> mv = reg.register("churn", schema, tags={"team": "growth"})
    >>> mv.version, mv.flavour
    (1, 'prodml')
    >>> reg.set_alias("churn", "production", mv.version).version
    1
    >>> reg.load("churn@production") == schema
    True
    >>> [e.action for e in reg.history("churn")]
    ['set_alias', 'register']
    >>> reg.close()
    """

    _SHIP_INSTEAD = "the metadata and artifact URLs (ModelRegistry(metadata_url, artifact_url))"

    #: Where OpenLineage events of register and alias moves go (:mod:`prodml.lineage`):
    #: any object with ``emit(event)``, e.g. a ``JsonLinesSink``; ``None``: no events.
    lineage_sink: LineageSink | None = None
    #: The OpenLineage namespace of the registry's jobs.
    lineage_namespace: str = "prodml"

    def __init__(
        self,
        db_url: str | MetadataStore,
        artifacts_url: str | ArtifactStore,
        *,
        storage_options: Mapping[str, Any] | None = None,
        actor: str | None = None,
        read_only: bool = False,
        lock_timeout: float = 30.0,
        lease_ttl: float | timedelta = timedelta(hours=24),
        signer: Signer | None = None,
        trust: TrustPolicy | None = None,
        authorizer: Authorizer | None = None,
        encryption: KeyProvider | None = None,
    ) -> None:
        if signer is not None and not isinstance(signer, Signer):
            raise ConfigError(
                f"signer must be a Signer (key_id and sign); got {type(signer).__name__}",
                parameter="signer",
            )
        if trust is not None and not isinstance(trust, TrustPolicy):
            raise ConfigError(
                f"trust must be a TrustPolicy; got {type(trust).__name__}", parameter="trust"
            )
        if authorizer is not None and not callable(authorizer):
            raise ConfigError(
                "authorizer must be callable (an Authorizer such as RequireApproval); got "
                f"{type(authorizer).__name__}",
                parameter="authorizer",
            )
        if encryption is not None and not isinstance(encryption, KeyProvider):
            raise ConfigError(
                "encryption must be a KeyProvider (key_id and key), such as LocalKeyFile; "
                f"got {type(encryption).__name__}",
                parameter="encryption",
            )
        self.encryption = encryption
        self.signer = signer
        self.trust = trust
        self.authorizer = authorizer
        self._lease_ttl = seconds(lease_ttl, "lease_ttl", "ModelRegistry")
        seconds(lock_timeout, "lock_timeout", "ModelRegistry")
        self.artifacts: ArtifactStore = (
            artifacts_url
            if isinstance(artifacts_url, ArtifactStore)
            else artifact_store_for(
                artifacts_url, read_only=read_only, **dict(storage_options or {})
            )
        )
        self.metadata: MetadataStore = (
            db_url
            if isinstance(db_url, MetadataStore)
            else metadata_store_for(
                db_url, lock_timeout=lock_timeout, read_only=read_only, create=False
            )
        )
        try:
            if not self.metadata.initialised:
                self._initialise()
        except BaseException:
            self.metadata.close()
            raise
        self.read_only: bool = read_only or self.metadata.read_only or self.artifacts.read_only
        self._actor = actor

    def _initialise(self) -> None:
        # Files first, then the tables again: a process that created the tables and then
        # wrote files between our two looks is not an empty registry.
        if self.artifacts.has_keys() and not self.metadata.initialised:
            raise RegistryError(
                f"the metadata store {self.metadata.url} holds no registry (it is missing, "
                f"empty or zero-length) but the artifact store {self.artifacts.url} holds "
                "model files: opened as an empty registry, every model would look "
                "unregistered and gc would delete them. Restore the database from a backup "
                "or point at the right one; nothing was changed"
            )
        self.metadata.initialise()

    @classmethod
    def local(cls, path: str | os.PathLike[str], **kwargs: Any) -> ModelRegistry:
        """SQLite metadata (``path/registry.db``) and artifacts in ``path/artifacts``."""
        root = local_path(path, "the registry's folder")
        if not kwargs.get("read_only", False):
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StorageError(
                    f"cannot create the registry directory "
                    f"{short_repr(str(root), limit=PATH_QUOTE)}: {folder_reason(err)}",
                    path=str(root),
                    errno=err.errno,
                ) from err
        return cls(f"sqlite:///{root / 'registry.db'}", f"file://{root / 'artifacts'}", **kwargs)

    @property
    def actor(self) -> str:
        """Who the audit log records for this registry's writes."""
        if self._actor:
            return self._actor
        env = os.environ.get(ACTOR_ENV)
        if env:
            return env
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no login name in some containers
            return "unknown"

    @property
    def registry_id(self) -> str | None:
        """The registry's identity, which its signatures name (``None`` until it has one).

        The metadata store makes it at the first signed write (a registration, an alias
        move or a status change by a registry with a ``signer``); reading never makes
        it. Pin it in the readers' policy, ``TrustPolicy(keys, registry=reg.registry_id)``,
        so that a database whose identity row was swapped is refused.

        Raises
        ------
        IntegrityError
            When this registry's ``trust`` policy pins another id than the store keeps.
        """
        return _trust.identity(self.metadata, self.trust, create=False)

    def close(self) -> None:
        """Release database connections."""
        self.metadata.close()

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"ModelRegistry({self.metadata.url!r}, {self.artifacts.url!r}{mode})"

    # ---------------------------------------------------------------- register

    def register(
        self,
        name: str,
        model: Any,
        *,
        tags: Mapping[str, str] | None = None,
        description: str = "",
        signature: Schema | None = None,
        metrics: Mapping[str, float] | None = None,
        lineage: Lineage | Mapping[str, Any] | None = None,
        flavour: str | None = None,
        follow_symlinks: bool = False,
        environment: bool | Literal["full"] = True,
    ) -> ModelVersion:
        """Store ``model`` as the next version of ``name``.

        The registration leases a fresh artifact key, lets the flavour write into a
        staging directory, hashes every file into the version's manifest, moves or
        uploads the files, and commits the metadata row last (consuming the lease). A
        failure or a crash leaves no visible version; its files are removed at once, or
        by :meth:`gc` once the lease expires.

        ``follow_symlinks=True`` lets a registered directory hold symbolic links: a copy
        of what each points at is stored (and hashed) instead. By default they are
        refused.

        ``environment`` records the Python version, platform and the versions of the
        packages the flavour needs in ``lineage["environment"]`` (``"full"``: also every
        installed distribution; ``False``: nothing), unless the lineage already has one;
        :meth:`load` checks them (see :attr:`environment_check`).

        Raises
        ------
        ConfigError
            For an invalid name, tags, metrics, signature or lineage, a missing model
            (``None``), a model no flavour handles (saying what can be registered), or
            files a flavour must not write (links, unsafe names).
        StorageError
            When the OS refuses a write (disk full, file size limit, permissions).
        """
        self._check_writable()
        check_name(name)
        draft_fields = check_fields(tags, description, signature, metrics, lineage)
        parent = draft_fields["lineage"].parent_version
        if parent is not None:
            self.metadata.get_version(name, check_version_number(parent, "parent_version"))
        # None is refused whatever the flavour (the sklearn flavour would pickle it),
        # saying the model is missing.
        fl = flavour_for(model) if flavour is None or model is None else get_flavour(flavour)
        if environment not in (True, False, "full"):
            raise ConfigError(
                f"environment must be True, False or 'full'. Got {short_repr(environment)} "
                "instead.",
                parameter="environment",
            )
        lineage_now = draft_fields["lineage"]
        if environment and "environment" not in (lineage_now.model_extra or {}):
            draft_fields["lineage"] = Lineage(
                **lineage_now.model_dump(exclude_none=True),
                environment=capture_environment(fl, full=environment == "full"),
            )
        actor = self.actor
        key = new_key(name)
        leased_at = time.time()
        self.metadata.lease(key, name, leased_at + self._lease_ttl)
        try:
            with self.artifacts.stage(key) as staging:
                meta, encryption = _protect.save(
                    fl, model, staging, follow_symlinks, self.encryption, artifact_key=key
                )
                files = _manifest.build(staging)
                if not files:
                    raise ConfigError(f"flavour {fl.name!r} wrote no files for {name!r}")
                draft = ModelVersion(
                    name=name,
                    version=1,
                    flavour=fl.name,
                    flavour_meta=meta,
                    artifact_key=key,
                    files=files,
                    created_at=datetime.now(timezone.utc),
                    created_by=actor,
                    encryption=encryption,
                    **draft_fields,
                )
                try:
                    _manifest.check(draft)
                except IntegrityError as err:
                    raise ConfigError(
                        f"flavour {fl.name!r} returned unusable metadata: {err}"
                    ) from None
                if time.time() - leased_at > self._lease_ttl / 2:  # a slow save: renew
                    self.metadata.lease(key, name, time.time() + self._lease_ttl)
                self.artifacts.put(staging, key)
            seal = (
                None
                if self.signer is None
                else _protect.sealer(
                    self.signer, _trust.identity(self.metadata, self.trust, create=True)
                )
            )
            created = self.metadata.create_version(draft, actor, leased=True, seal=seal)
        except BaseException:
            self._abandon(key)
            raise
        _lineage.registered(self.lineage_sink, self.lineage_namespace, self.artifacts.url, created)
        return created

    def _abandon(self, key: str) -> None:
        """Remove a failed registration's files if its lease proves it never committed."""
        try:
            if self.metadata.revoke(key):
                self.artifacts.delete(key)
                self.metadata.forget(key)
        except (ProdMLError, OSError):  # the store is failing too: gc collects it later
            pass
