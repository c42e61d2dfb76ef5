"""What leaves :class:`~prodml.registry.ModelRegistry` (a mixin): versions, files, old events.

``archive``, ``restore`` and ``delete`` change a version's status (deleting queues its
files for gc); ``gc`` removes the files nothing needs any more; ``prune_history`` removes
old audit events, the audited retention of the log.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from prodml._durations import seconds
from prodml._quote import short_repr
from prodml.errors import ConfigError, NotFoundError
from prodml.registry import _gc, _protect, _trust
from prodml.registry._gc import GCReport
from prodml.registry._paths import check_version_number
from prodml.registry.backends._artifact_base import ArtifactStore
from prodml.registry.backends.metadata import EventDraft, MetadataStore, plan_prune
from prodml.registry.entities import ModelVersion, Status, check_name
from prodml.registry.signing import version_digest

__all__ = ["Retention"]


class Retention:
    """The retention side of :class:`~prodml.registry.ModelRegistry` (a mixin)."""

    metadata: MetadataStore
    artifacts: ArtifactStore

    if TYPE_CHECKING:

        @property
        def actor(self) -> str:
            """Who the audit log records."""

        def _check_writable(self) -> None:
            """RegistryError when the registry is read-only (see ``AliasMoves``)."""

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
        StorageError
            When the artifact store's bucket does not exist or is not reachable with
            these credentials (it would otherwise look empty), naming the bucket.
        """
        grace = seconds(grace_period, "grace_period", "ModelRegistry.gc", positive=False)
        if not dry_run:
            self._check_writable()
        return _gc.collect(
            self.metadata, self.artifacts, grace, dry_run=dry_run, force=force, scan=scan
        )

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
        >>> from prodml.registry import ModelRegistry
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
        signer = getattr(self, "signer", None)
        seal = (
            None
            if signer is None
            else _protect.stack_sealer(
                signer, _trust.identity(self.metadata, getattr(self, "trust", None), create=True)
            )
        )
        return self.metadata.prune_history(
            name, before=cutoff, keep=keep, actor=self.actor, seal=seal
        )

    def _status(self, name: str, version: int, status: Status, action: str) -> ModelVersion:
        self._check_writable()
        mv = self.metadata.get_version(check_name(name), check_version_number(version))
        signer = getattr(self, "signer", None)
        seal = (
            None
            if signer is None
            else _protect.event_sealer(
                signer,
                _trust.identity(self.metadata, getattr(self, "trust", None), create=True),
                digest=version_digest(mv),
                status=status,
                prior=_trust.status_head(self.metadata, name),
                high=_trust.highest(self.metadata, name),
            )
        )
        event = EventDraft(name=name, action=action, actor=self.actor, version=version, seal=seal)
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
