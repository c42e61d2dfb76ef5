"""The :class:`ModelRegistry` facade: versions, aliases, loading, promotion and gc."""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from prodml._durations import seconds
from prodml._files import PATH_QUOTE, folder_reason, local_path
from prodml._pickle import NotPicklable
from prodml._quote import short_repr
from prodml.errors import (
    ConfigError,
    IntegrityError,
    NotFoundError,
    ProdMLError,
    RegistryError,
    StorageError,
)
from prodml.registry import _gc, _lineage, _manifest, _protect
from prodml.registry._aliases import AliasMoves
from prodml.registry._card import ModelCard, build_card
from prodml.registry._environment import EnvironmentCheck
from prodml.registry._environment import capture as capture_environment
from prodml.registry._environment import check as check_environment
from prodml.registry._gc import GCReport
from prodml.registry._paths import check_version_number
from prodml.registry._validate import check_fields, parse_ref
from prodml.registry.authz import Authorizer
from prodml.registry.backends import artifact_store_for, metadata_store_for
from prodml.registry.backends._artifact_base import ArtifactStore, new_key
from prodml.registry.backends.metadata import EventDraft, MetadataStore, plan_prune
from prodml.registry.encryption import KeyProvider
from prodml.registry.entities import (
    AuditEvent,
    Lineage,
    ModelVersion,
    Page,
    Status,
    check_alias,
    check_name,
)
from prodml.registry.flavours import Trust, flavour_for, get_flavour
from prodml.registry.signing import Signer, TrustPolicy
from prodml.schema import Schema

if TYPE_CHECKING:
    from prodml.lineage import LineageSink

__all__ = ["GCReport", "ModelRegistry"]

ACTOR_ENV = "PRODML_ACTOR"


class ModelRegistry(NotPicklable, AliasMoves):
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
        (its files' digests and the metadata that decides behaviour), and the audit log
        records the key id. See :mod:`prodml.registry.signing`.
    trust
        A :class:`~prodml.registry.signing.TrustPolicy`: ``load``, ``verify`` and
        ``promote`` refuse a version that is unsigned (unless the policy allows it),
        signed by a key outside the policy, or changed since it was signed.
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
        self.artifacts = (
            artifacts_url
            if isinstance(artifacts_url, ArtifactStore)
            else artifact_store_for(
                artifacts_url, read_only=read_only, **dict(storage_options or {})
            )
        )
        self.metadata = (
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
        self.read_only = read_only or self.metadata.read_only or self.artifacts.read_only
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
                    fl, model, staging, follow_symlinks, self.encryption
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
            seal = None if self.signer is None else _protect.sealer(self.signer)
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

    # ---------------------------------------------------------------- read

    def get(self, ref: str, version: int | str | None = None) -> ModelVersion:
        """A version by reference: ``"churn"`` (latest), ``"churn@3"``, ``"churn@production"``.

        ``version`` (a number, alias or ``"latest"``) may be given instead of ``@...``.

        Raises
        ------
        NotFoundError
            When the model, version or alias does not exist.
        ConfigError
            When the reference is malformed (``"m@³"``, a number beyond 2**31 - 1).
        """
        name, selector = parse_ref(ref, version)
        return self.metadata.resolve(name, selector)

    #: Where OpenLineage events of register and alias moves go (:mod:`prodml.lineage`):
    #: any object with ``emit(event)``, e.g. a ``JsonLinesSink``; ``None``: no events.
    lineage_sink: LineageSink | None = None
    #: The OpenLineage namespace of the registry's jobs.
    lineage_namespace: str = "prodml"

    #: What :meth:`load` does when a package the model needs has another major version
    #: than when it was registered: ``"warn"``, ``"error"`` or ``"ignore"``.
    environment_check: EnvironmentCheck = "warn"

    def load(
        self,
        ref: str,
        version: int | str | None = None,
        *,
        trusted: Trust = False,
        environment_check: EnvironmentCheck | None = None,
    ) -> Any:
        """Load a model after checking its manifest and every file against its sha256.

        ``trusted`` allows pickle-based formats: ``True``, or for skops a list of type
        names to trust. ``environment_check`` overrides :attr:`environment_check` for
        this call (see :mod:`prodml.registry._environment`).

        Raises
        ------
        IntegrityError
            When the version's metadata is unsafe (a path leaving its key, a link), or a
            file is missing, was changed, or a file was added.
        RegistryError
            When loading would need ``trusted`` and it was not given.
        EnvironmentMismatchError
            With ``environment_check="error"``, when numpy, scikit-learn, scipy, pandas,
            pyarrow or skops has another major version than when the model was
            registered (with ``"warn"``: an ``EnvironmentMismatchWarning``).
        """
        mv = self._checked(self.get(ref, version))
        if mv.encryption is not None and self.encryption is None:
            raise RegistryError(
                f"{mv.ref} is encrypted (key {mv.encryption.key_id[:80]!r}); open the "
                "registry with encryption= (a KeyProvider holding that key) to load it",
                model_name=mv.name,
                version=mv.version,
            )
        check_environment(
            (mv.lineage.model_extra or {}).get("environment"),
            self.environment_check if environment_check is None else environment_check,
            model_name=mv.name,
            version=mv.version,
        )
        path, temporary = self.artifacts.fetch(
            mv.artifact_key, mv.files, model_name=mv.name, version=mv.version
        )
        plain: Path | None = None
        try:
            if mv.encryption is not None:
                plain = Path(tempfile.mkdtemp(prefix="prodml-plain-"))
                _protect.decrypt(mv, path, plain, self.encryption)
            source = path if plain is None else plain
            return get_flavour(mv.flavour).load(source, dict(mv.flavour_meta), trusted=trusted)
        except OSError as err:
            raise StorageError(
                f"cannot load {mv.ref}: {err.strerror or err} ({getattr(err, 'filename', '')})",
                path=str(getattr(err, "filename", "")),
                errno=err.errno,
            ) from err
        finally:
            if plain is not None:
                shutil.rmtree(plain, ignore_errors=True)
            if temporary:
                shutil.rmtree(path, ignore_errors=True)

    def verify(self, ref: str, version: int | str | None = None) -> ModelVersion:
        """Check a version's manifest and files against their hashes without loading it."""
        mv = self._checked(self.get(ref, version))
        self.artifacts.verify(mv.artifact_key, mv.files, model_name=mv.name, version=mv.version)
        return mv

    def _checked(self, mv: ModelVersion) -> ModelVersion:
        """The one gate every version passes before its files are touched."""
        return _manifest.check(self._trusted(mv))

    def search(
        self,
        name: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        min_metrics: Mapping[str, float] | None = None,
        max_metrics: Mapping[str, float] | None = None,
        include_archived: bool = True,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """A page of versions matching every filter, by name then newest first.

        Pass ``page.next_token`` back as ``page_token`` for the next page (keyset
        paging: each page costs the same, however deep).
        """
        if name is not None:
            check_name(name)
        filters = check_fields(tags, "", None, None, None)["tags"]
        bounds = [
            check_fields(None, "", None, m, None)["metrics"] for m in (min_metrics, max_metrics)
        ]
        return self.metadata.search(
            name,
            tags=filters,
            min_metrics=bounds[0],
            max_metrics=bounds[1],
            statuses=("ready", "archived") if include_archived else ("ready",),
            page_size=page_size,
            page_token=page_token,
        )

    def models(self) -> list[str]:
        """Names of every model with a version, sorted."""
        return self.metadata.model_names()

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version of one model."""
        return self.metadata._aliases(check_name(name))

    def history(
        self,
        name: str,
        *,
        alias: str | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[AuditEvent]:
        """A page of the audit log of ``name``, newest first.

        Every register, alias change, archive, restore and delete is there. Pass
        ``page.next_token`` back as ``page_token`` for older events.

        Raises
        ------
        NotFoundError
            When the model does not exist.
        """
        check_name(name)
        if alias is not None:
            check_alias(alias)
        page = self.metadata.history_page(name, alias, page_size=page_size, page_token=page_token)
        if not page.items and page_token is None and not self.metadata.has_model(name):
            raise NotFoundError(f"model {name!r} does not exist", model_name=name)
        return page

    def prune_history(
        self,
        name: str,
        *,
        before: datetime | timedelta | None = None,
        keep: int | None = None,
        dry_run: bool = False,
    ) -> int:
        """Remove old audit events of ``name``: the explicit, audited retention of its log.

        The audit log grows with every write and nothing removes events by itself; a
        registry running for years calls this (from a scheduled job, say) to bound it.
        An event is removed when it is older than ``before`` (an aware datetime, or an
        age such as ``timedelta(days=365)``) *and* not among the newest ``keep``; give
        either or both. In the same transaction the registry logs one ``prune_history``
        event for the model (``detail``: ``removed``, ``before``, ``keep`` and
        ``through_seq``, the newest seq removed) and one per alias that lost events,
        recording the alias's rollback stack, so :meth:`rollback` works as before.
        Removing nothing logs nothing. Model cards and :meth:`history` then show only
        what is kept. ``dry_run=True`` counts what would go and changes nothing (a
        read-only registry can answer it).

        Returns
        -------
        int
            The number of events removed (with ``dry_run``, that would be removed).

        Raises
        ------
        ConfigError
            When neither bound is given, ``before`` is a naive datetime or a negative
            age, or ``keep`` is not an int >= 0.
        NotFoundError
            When the model does not exist.
        RegistryError
            When the registry is read-only, or its metadata store cannot prune.

        Examples
        --------
        >>> import tempfile
        >>> from datetime import timedelta
        >>> from prodml.schema import Schema
        >>> reg = ModelRegistry.local(tempfile.mkdtemp())
        >>> for _ in range(3):
        ...     moved = reg.set_alias(
        ...         "churn", "production", reg.register("churn", Schema([])).version
        ...     )
        >>> reg.prune_history("churn", before=timedelta(0), keep=2)
        4
        >>> [(e.action, e.alias) for e in reg.history("churn")]
        [('prune_history', None), ('prune_history', 'production'), ('set_alias', 'production'), ('register', None)]
        >>> reg.rollback("churn", "production").version
        2
        >>> reg.close()
        """  # noqa: E501
        if not dry_run:
            self._check_writable()
        check_name(name)
        if before is None and keep is None:
            raise ConfigError(
                "prune_history needs 'before' (a datetime or an age) or 'keep' (how many "
                "of the newest events to keep), or both; without them nothing is removed",
                parameter="before",
            )
        if keep is not None and (type(keep) is not int or keep < 0):
            raise ConfigError(
                "The 'keep' parameter of ModelRegistry.prune_history must be an int >= 0 "
                f"or None. Got {short_repr(keep)} instead.",
                parameter="keep",
            )
        cutoff = _cutoff(before)
        if dry_run:
            events = self.metadata.history(name)  # oldest first
            if not events and not self.metadata.has_model(name):
                raise NotFoundError(f"model {name!r} does not exist", model_name=name)
            drop, _ = plan_prune(events, name, before=cutoff, keep=keep, actor=self.actor)
            return len(drop)
        return self.metadata.prune_history(name, before=cutoff, keep=keep, actor=self.actor)

    def card(self, ref: str, version: int | str | None = None, **fields: str) -> ModelCard:
        """The model card of a version: ``reg.card("churn@production")``.

        Built from the version (description, metrics, signature, lineage, recorded
        environment, fairness and importance summaries in its lineage), the audit log
        (registration, approvals, alias moves) and the current aliases; see
        :mod:`prodml.registry._card`. ``fields`` set or override the intended-use
        fields (``intended_use``, ``out_of_scope``, ``limitations``, ``owner``), which
        otherwise come from tags of those names.

        Raises
        ------
        NotFoundError
            When the model, version or alias does not exist.
        ConfigError
            For an unknown field.
        """
        mv = self.get(ref, version)
        events: list[AuditEvent] = []
        token = None
        while True:
            page = self.history(mv.name, page_token=token)
            events.extend(page)
            token = page.next_token
            if token is None:
                break
        return build_card(mv, events, self.aliases(mv.name), fields)

    # ---------------------------------------------------------------- lifecycle

    def archive(self, name: str, version: int) -> ModelVersion:
        """Hide a version from ``latest`` (it still loads by number or alias)."""
        return self._status(name, version, "archived", "archive")

    def restore(self, name: str, version: int) -> ModelVersion:
        """Undo :meth:`archive`."""
        return self._status(name, version, "ready", "restore")

    def delete(self, name: str, version: int) -> None:
        """Delete a version; :meth:`gc` then removes its files. Its number is never reused.

        Raises
        ------
        ConflictError
            When an alias still points at it.
        """
        self._status(name, version, "deleted", "delete")

    def gc(
        self,
        grace_period: float | timedelta = timedelta(hours=1),
        *,
        dry_run: bool = False,
        force: bool = False,
        scan: bool = False,
    ) -> GCReport:
        """Remove artifact files no version needs any more.

        Files of deleted versions go at once, and those of failed or killed
        registrations once their lease has expired; a registration in flight is never
        touched, whatever ``grace_period``. With ``scan=True`` gc also lists the whole
        artifact store and removes keys nothing references (left by an older prodml or
        written by hand) once they are older than ``grace_period``; it costs a listing
        of the store, where the default costs only what there is to collect.

        gc refuses, unless ``force=True``, when the metadata store holds no versions or
        when it would delete more than half of the store's keys: both are what a wrong,
        lost or emptied database looks like. ``dry_run=True`` reports what it would do,
        with the reason it would refuse in ``refusal``.

        Raises
        ------
        RegistryError
            When gc refuses; the message says why.
        """
        grace = seconds(grace_period, "grace_period", "ModelRegistry.gc", positive=False)
        if not dry_run:
            self._check_writable()
        return _gc.collect(
            self.metadata, self.artifacts, grace, dry_run=dry_run, force=force, scan=scan
        )

    # ---------------------------------------------------------------- helpers
    def _status(self, name: str, version: int, status: Status, action: str) -> ModelVersion:
        self._check_writable()
        mv = self.metadata.get_version(check_name(name), check_version_number(version))
        event = EventDraft(name=name, action=action, actor=self.actor, version=version)
        self.metadata.set_status(name, version, status, event)
        return mv.model_copy(update={"status": status})


def _cutoff(before: object) -> datetime | None:
    """``prune_history``'s ``before`` as an aware UTC datetime (``None`` stays ``None``)."""
    if before is None:
        return None
    if isinstance(before, timedelta) and before >= timedelta(0):
        return datetime.now(timezone.utc) - before
    if isinstance(before, datetime) and before.utcoffset() is not None:
        return before.astimezone(timezone.utc)
    raise ConfigError(
        "The 'before' parameter of ModelRegistry.prune_history must be a timezone-aware "
        f"datetime, an age (a timedelta >= 0) or None. Got {short_repr(before)} instead.",
        parameter="before",
    )
