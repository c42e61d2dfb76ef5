"""The :class:`ModelRegistry` facade: versions, aliases, loading, promotion and gc."""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from prodml.errors import ConfigError, ConflictError, NotFoundError
from prodml.fingerprint import canonical_json
from prodml.registry._validate import check_fields, parse_ref
from prodml.registry.backends import artifact_store_for, metadata_store_for
from prodml.registry.backends.artifacts import ArtifactStore, hash_tree, key_age, new_key
from prodml.registry.backends.metadata import MetadataStore
from prodml.registry.checks import Check, PromotionError
from prodml.registry.entities import (
    AuditEvent,
    Lineage,
    ModelVersion,
    Page,
    check_alias,
    check_name,
)
from prodml.registry.flavours import Trust, flavour_for, get_flavour
from prodml.schema import Schema

__all__ = ["GCReport", "ModelRegistry"]

ACTOR_ENV = "PRODML_ACTOR"


@dataclass(frozen=True)
class GCReport:
    """What :meth:`ModelRegistry.gc` removed (or would remove, with ``dry_run``)."""

    deleted_versions: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    kept_recent: list[str] = field(default_factory=list)

    @property
    def removed(self) -> list[str]:
        """Every artifact key removed."""
        return sorted(self.deleted_versions + self.orphans)


class ModelRegistry:
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
    ['register', 'set_alias']
    >>> reg.close()
    """

    def __init__(
        self,
        db_url: str | MetadataStore,
        artifacts_url: str | ArtifactStore,
        *,
        storage_options: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        self.metadata = db_url if isinstance(db_url, MetadataStore) else metadata_store_for(db_url)
        self.artifacts = (
            artifacts_url
            if isinstance(artifacts_url, ArtifactStore)
            else artifact_store_for(artifacts_url, **dict(storage_options or {}))
        )
        self._actor = actor

    @classmethod
    def local(cls, path: str | os.PathLike[str], **kwargs: Any) -> ModelRegistry:
        """SQLite metadata (``path/registry.db``) and artifacts in ``path/artifacts``."""
        root = Path(path).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
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
    ) -> ModelVersion:
        """Store ``model`` as the next version of ``name``.

        Files are written to a fresh artifact key first and hashed; the metadata row is
        committed last, so a failure or a crash leaves no visible version (only an orphan
        key that :meth:`gc` removes after its grace period).

        Raises
        ------
        ConfigError
            For an invalid name, tags, metrics, signature or lineage, or a model no flavour
            handles.
        """
        check_name(name)
        draft_fields = check_fields(tags, description, signature, metrics, lineage)
        parent = draft_fields["lineage"].parent_version
        if parent is not None:
            self.metadata.get_version(name, parent)
        fl = get_flavour(flavour) if flavour is not None else flavour_for(model)
        key = new_key(name)
        with tempfile.TemporaryDirectory(prefix="prodml-save-") as tmp:
            meta = fl.save(model, Path(tmp))
            canonical_json(meta)
            files = hash_tree(Path(tmp))
            if not files:
                raise ConfigError(f"flavour {fl.name!r} wrote no files for {name!r}")
            self.artifacts.put(Path(tmp), key)
        actor = self.actor
        draft = ModelVersion(
            name=name,
            version=0,
            flavour=fl.name,
            flavour_meta=meta,
            artifact_key=key,
            files=files,
            created_at=datetime.now(timezone.utc),
            created_by=actor,
            **draft_fields,
        )
        try:
            return self.metadata.create_version(draft, actor)
        except BaseException:
            self.artifacts.delete(key)
            raise

    # ---------------------------------------------------------------- read

    def get(self, ref: str, version: int | str | None = None) -> ModelVersion:
        """A version by reference: ``"churn"`` (latest), ``"churn@3"``, ``"churn@production"``.

        ``version`` (a number, alias or ``"latest"``) may be given instead of ``@...``.

        Raises
        ------
        NotFoundError
            When the model, version or alias does not exist.
        """
        name, selector = parse_ref(ref, version)
        return self.metadata.resolve(name, selector)

    def load(self, ref: str, version: int | str | None = None, *, trusted: Trust = False) -> Any:
        """Load a model after checking every artifact file against its sha256.

        ``trusted`` allows pickle-based formats: ``True``, or for skops a list of type
        names to trust.

        Raises
        ------
        IntegrityError
            When a file is missing, was changed, or a file was added.
        RegistryError
            When loading would need ``trusted`` and it was not given.
        """
        mv = self.get(ref, version)
        path, temporary = self.artifacts.fetch(
            mv.artifact_key, mv.files, model_name=mv.name, version=mv.version
        )
        try:
            return get_flavour(mv.flavour).load(path, dict(mv.flavour_meta), trusted=trusted)
        finally:
            if temporary:
                shutil.rmtree(path, ignore_errors=True)

    def verify(self, ref: str, version: int | str | None = None) -> ModelVersion:
        """Check a version's files against their hashes without loading it."""
        mv = self.get(ref, version)
        self.artifacts.verify(mv.artifact_key, mv.files, model_name=mv.name, version=mv.version)
        return mv

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
        """A page of versions matching every filter, by name then newest first."""
        if name is not None:
            check_name(name)
        return self.metadata.search(
            name,
            tags=tags,
            min_metrics=min_metrics,
            max_metrics=max_metrics,
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

    def history(self, name: str, *, alias: str | None = None) -> list[AuditEvent]:
        """The audit log of ``name``: every register, alias change, archive and delete."""
        events = self.metadata.history(check_name(name), alias)
        if not events and not self.metadata.history(name):
            raise NotFoundError(f"model {name!r} does not exist", model_name=name)
        return events

    # ---------------------------------------------------------------- aliases

    def set_alias(self, name: str, alias: str, version: int) -> ModelVersion:
        """Point ``name@alias`` at ``version`` (creating or moving the alias)."""
        mv = self._target(name, alias, version)
        self.metadata.move_alias(name, alias, mv.version, actor=self.actor)
        return mv

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias; its history stays in the audit log."""
        current = self.metadata.alias_version(check_name(name), check_alias(alias))
        self.metadata.move_alias(
            name, alias, None, actor=self.actor, action="delete_alias", expected=current
        )

    def promote(
        self, name: str, version: int, alias: str, checks: Iterable[Check] = ()
    ) -> ModelVersion:
        """Point ``alias`` at ``version`` only if every check passes.

        Raises
        ------
        PromotionError
            Listing every failed check; the alias is left where it was.
        """
        mv = self._target(name, alias, version)
        current_no = self.metadata._aliases(name).get(alias)
        current = self.metadata.get_version(name, current_no) if current_no else None
        checks = list(checks)
        failures = [msg for check in checks if (msg := check(mv, current)) is not None]
        if failures:
            raise PromotionError(failures, model_name=name, version=mv.version, alias=alias)
        self.metadata.move_alias(
            name,
            alias,
            mv.version,
            actor=self.actor,
            expected=current_no,
            detail={"checks": [repr(c) for c in checks]},
        )
        return mv

    def rollback(self, name: str, alias: str) -> ModelVersion:
        """Move ``alias`` back to the version it pointed at before its current one.

        Deleted versions are skipped. Repeated rollbacks walk further back.

        Raises
        ------
        NotFoundError
            When the alias does not exist.
        ConflictError
            When there is no earlier version to go back to.
        """
        current = self.metadata.alias_version(check_name(name), check_alias(alias))
        stack = self.metadata.alias_stack(name, alias)
        if stack and stack[-1] == current:
            stack.pop()
        popped = 1
        while stack:
            candidate = stack.pop()
            if candidate != current:
                try:
                    mv = self.metadata.get_version(name, candidate)
                except NotFoundError:
                    popped += 1
                    continue
                self.metadata.move_alias(
                    name,
                    alias,
                    candidate,
                    actor=self.actor,
                    action="rollback",
                    expected=current,
                    detail={"pop": popped},
                )
                return mv
            popped += 1
        raise ConflictError(
            f"alias {alias!r} of model {name!r} has no earlier version to roll back to",
            model_name=name,
            version=current,
        )

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
        pointing = sorted(a for a, v in self.aliases(name).items() if v == version)
        if pointing:
            raise ConflictError(
                f"cannot delete {name} version {version}: aliases {pointing} point at it",
                model_name=name,
                version=version,
            )
        self._status(name, version, "deleted", "delete")

    def gc(
        self, grace_period: float | timedelta = timedelta(hours=1), *, dry_run: bool = False
    ) -> GCReport:
        """Remove artifacts no version references.

        Files of deleted versions go at once; keys that no version names (left by a
        failed or killed registration) go once older than ``grace_period``, so a
        registration still in flight is never touched.
        """
        grace = (
            grace_period.total_seconds() if isinstance(grace_period, timedelta) else grace_period
        )
        if isinstance(grace, bool) or not isinstance(grace, int | float) or grace < 0:
            raise ConfigError(
                "The 'grace_period' parameter of gc must be a float >= 0 or a timedelta. "
                f"Got {grace_period!r} instead.",
                parameter="grace_period",
            )
        live: set[str] = set()
        dead: set[str] = set()
        for mv in self.metadata.all_versions():
            (dead if mv.status == "deleted" else live).add(mv.artifact_key)
        report = GCReport()
        for key in self.artifacts.list_keys():
            if key in live:
                continue
            if key in dead:
                report.deleted_versions.append(key)
            elif (age := key_age(key)) is not None and age >= grace:
                report.orphans.append(key)
            else:
                report.kept_recent.append(key)
                continue
            if not dry_run:
                self.artifacts.delete(key)
        return report

    # ---------------------------------------------------------------- helpers

    def _target(self, name: str, alias: str, version: int) -> ModelVersion:
        check_name(name)
        check_alias(alias)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ConfigError(f"version must be an int, got {version!r}", parameter="version")
        mv = self.metadata.get_version(name, version)
        if mv.status != "ready":
            raise ConflictError(
                f"{name} version {version} is {mv.status}; restore it before aliasing it",
                model_name=name,
                version=version,
            )
        return mv

    def _status(self, name: str, version: int, status: Any, action: str) -> ModelVersion:
        from prodml.registry.backends.metadata import EventDraft  # noqa: PLC0415

        mv = self.metadata.get_version(check_name(name), version)
        event = EventDraft(name=name, action=action, actor=self.actor, version=version)
        self.metadata._set_status(name, version, status, event)
        return mv.model_copy(update={"status": status})
