"""The metadata store interface: a fat ``abc.ABC`` base with a handful of primitives.

A backend implements a few primitives, each atomic on its own: insert a version (choosing
the next number, and consuming the registration's lease), query versions, change a
version's status, move an alias, read aliases, read the audit log, list model names, and
keep the *pending keys* (leases of registrations in flight, and artifact keys queued for
garbage collection). Everything else (resolving references, paged search, alias history,
rollback targets) is written once here on top of them.
The values the primitives take and return live in ``_records`` and the replay of the
audit log (alias stacks, prune plans) in ``_audit``; this module re-exports them.

Every write that changes state appends its audit event in the same transaction, so the log
and the state never disagree.

Leases: a registration leases its artifact key (:meth:`MetadataStore._lease`) before it
writes a file, and the insert of the version consumes the lease in the same transaction.
Garbage collection only deletes a key whose lease it first *revoked* (turned into an
``orphan`` row, atomically, once the lease expired) or that a committed ``delete`` queued
(a ``deleted`` row), so it cannot delete the files of a version that commits, however
slow: that commit finds its lease gone and fails instead.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from prodml._pickle import NotPicklable
from prodml.errors import IntegrityError, NotFoundError, ProdMLError, RegistryError
from prodml.registry._formats import RecordProblem, report, warn_unreadable
from prodml.registry._paths import NAME
from prodml.registry.backends._alias_reads import AliasReads
from prodml.registry.backends._audit import log_hole
from prodml.registry.backends._audit import plan_prune as plan_prune  # noqa: PLC0414
from prodml.registry.backends._audit import replay_stack as replay_stack  # noqa: PLC0414
from prodml.registry.backends._page_token import (
    parse_search_token,
    query_fingerprint,
    search_token,
)
from prodml.registry.backends._records import ALL as ALL  # noqa: PLC0414
from prodml.registry.backends._records import (
    ANY,
    EventDraft,
    Pending,
    PrunePlan,
    Seal,
    VersionQuery,
    check_page_size,
    parse_seq_token,
    register_event,
)
from prodml.registry.backends._records import LIVE as LIVE  # noqa: PLC0414
from prodml.registry.backends._records import AliasRow as AliasRow  # noqa: PLC0414
from prodml.registry.backends._records import EventSeal as EventSeal  # noqa: PLC0414
from prodml.registry.backends._records import PendingState as PendingState  # noqa: PLC0414
from prodml.registry.backends._records import check_target as check_target  # noqa: PLC0414
from prodml.registry.backends._records import lost_lease as lost_lease  # noqa: PLC0414
from prodml.registry.entities import AuditEvent, ModelVersion, Page, Status

# The `X as X` imports above (PLC0414 silenced) re-export names that moved out of this
# module and that stores and the registry still import from here, outside __all__.
__all__ = [
    "ANY",
    "EventDraft",
    "MetadataStore",
    "Pending",
    "PrunePlan",
    "Seal",
    "VersionQuery",
    "register_event",
]


class MetadataStore(AliasReads, NotPicklable, abc.ABC):
    """Base of every metadata store (versions, aliases, audit log, pending keys).

    Subclasses implement the ``_`` primitives; the public methods are derived from them
    (those reading aliases back, checked, in
    :class:`~prodml.registry.backends._alias_reads.AliasReads`).

    Attributes
    ----------
    url
        The store's URL with credentials replaced by ``***``.
    read_only
        Whether the store refuses writes (opened read-only, or on a read-only location).
    initialised
        Whether the store holds a registry's tables; ``False`` for a database a
        registry may still create (see :meth:`initialise`).
    lock_timeout
        Seconds a write waits for another writer's lock, in all; then it raises
        :class:`~prodml.errors.RegistryError` saying the store "is locked" and naming
        ``lock_timeout`` (the conformance suite's lock test sets it, holds the lock
        through its ``hold_write_lock`` hook and expects that error).

    A store opened by URL (:func:`~prodml.registry.backends.register_backend`) is built
    as ``cls(url, lock_timeout=..., read_only=..., create=...)``.
    """

    url: str = ""
    read_only: bool = False
    initialised: bool = True
    lock_timeout: float = 30.0

    _SHIP_INSTEAD = "its URL"

    # ------------------------------------------------------------------ primitives

    @abc.abstractmethod
    def _insert_version(
        self, draft: ModelVersion, actor: str, *, leased: bool = False, seal: Seal | None = None
    ) -> ModelVersion:
        """Store ``draft`` as the next version of its model and log ``register``.

        Numbers start at 1 and are consecutive per model, also under concurrent writers.
        With ``leased``, the lease on ``draft.artifact_key`` is consumed in the same
        transaction, and a missing lease (revoked by gc) raises ConflictError. ``seal``
        (given only when the registry signs) is applied to the numbered version inside
        the transaction, so the signature covers the number actually stored; log the
        event :func:`register_event` builds. A store that never signs may leave ``seal``
        out of its signature.
        """

    @abc.abstractmethod
    def _query_versions(self, query: VersionQuery) -> list[ModelVersion]:
        """The versions matching ``query``, ordered by (name, version), paged."""

    @abc.abstractmethod
    def _set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        """Change one version's status and log ``event``.

        NotFoundError if absent or deleted (deleted is final); ConflictError if
        ``status`` is ``"deleted"`` and an alias points at it. Deleting queues the
        version's artifact key for gc (a ``deleted`` row) in the same transaction.
        """

    @abc.abstractmethod
    def _move_alias(
        self, name: str, alias: str, version: int | None, expected: Any, event: EventDraft
    ) -> None:
        """Point ``alias`` at ``version`` (``None`` deletes it) and log ``event``.

        The event is logged with ``previous_version`` set to what the alias pointed at.
        Raises ConflictError when ``expected`` is not :data:`ANY` and the alias does not
        currently point at ``expected`` (``None``: the alias must not exist), or when
        ``version`` is not ``ready``; NotFoundError when ``version`` does not exist, or
        when deleting an alias that does not exist.
        """

    @abc.abstractmethod
    def _aliases(self, name: str) -> dict[str, int]:
        """Alias -> version for one model, as stored (the base checks them on read)."""

    @abc.abstractmethod
    def _events(
        self,
        name: str,
        alias: str | None = None,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """The audit log of one model (optionally one alias).

        Oldest first; with ``limit``, the newest ``limit`` events with ``seq < before``
        (all of them when ``before`` is ``None``), newest first.
        """

    @abc.abstractmethod
    def _model_names(self) -> list[str]:
        """Every model name with at least one version, sorted."""

    @abc.abstractmethod
    def _lease(self, key: str, name: str, expires_at: float) -> None:
        """Create or extend the lease on ``key``; ConflictError if it was revoked."""

    @abc.abstractmethod
    def _revoke(self, key: str, *, expired_by: float | None = None) -> bool:
        """Turn the lease on ``key`` into an ``orphan`` row (only if it expired by then).

        Returns whether ``key`` is now garbage (it may have been already); ``False`` when
        it is leased, or has no row (say, its version committed).
        """

    @abc.abstractmethod
    def _pending(self, due_by: float | None = None) -> list[Pending]:
        """Pending keys (with ``due_by``, only those with ``expires_at <= due_by``)."""

    @abc.abstractmethod
    def _forget(self, key: str) -> None:
        """Drop the row of ``key`` unless it is a lease (its files are gone)."""

    @abc.abstractmethod
    def _artifact_keys(self) -> dict[str, Status]:
        """Artifact key -> status of every version (gc's full scan)."""

    def _version_records(self, query: VersionQuery) -> list[ModelVersion | RecordProblem]:
        """As :meth:`_query_versions`, with a :class:`RecordProblem` per unreadable record.

        Each problem takes the place of its record, instead of raising. Listings page
        through these, so one bad record neither hides the others nor ends a page early.
        Not abstract: a store whose records are always readable (or that raises on a bad
        one) keeps the default, :meth:`_query_versions`.
        """
        return list(self._query_versions(query))

    def _event_records(
        self,
        name: str,
        alias: str | None = None,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent | RecordProblem]:
        """As :meth:`_events`, with a :class:`RecordProblem` for each unreadable event."""
        return list(self._events(name, alias, before=before, limit=limit))

    def _events_by_action(
        self,
        name: str,
        actions: tuple[str, ...],
        *,
        version: int | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[AuditEvent | RecordProblem]:
        """Events of ``name`` whose action is in ``actions``, newest first.

        Only those of ``version`` when given, with ``seq > after``, at most ``limit``. An
        unreadable event (of ``version``, when given) is a :class:`RecordProblem` in its
        place. The trust checks read a version's newest status change and the model's
        status changes after it with this. Not abstract: this default pages through
        :meth:`_event_records`, newest first, so its cost grows with the events newer
        than the oldest it returns; the SQL store answers from an index.
        """
        out: list[AuditEvent | RecordProblem] = []
        before: int | None = None
        while True:
            page = self._event_records(name, None, before=before, limit=500)
            for record in page:
                if record.seq is not None and record.seq <= after:
                    return out
                if version is not None and record.version != version:
                    continue
                if isinstance(record, RecordProblem) or record.action in actions:
                    out.append(record)
                    if limit is not None and len(out) >= limit:
                        return out
            if len(page) < 500 or page[-1].seq is None:
                return out
            before = page[-1].seq

    def _replace_record(self, name: str, version: int, record: str) -> None:
        """Replace the stored record of a version with ``record`` (JSON text), unchecked.

        A hook for the conformance suites only (a damaged record, one a newer prodml
        wrote): never called by prodml. Not abstract; a store without it skips those
        tests, naming this hook.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement _replace_record")

    def _replace_alias_row(self, name: str, alias: str, raw: tuple[object, object]) -> None:
        """Replace the stored row of ``name``'s alias ``alias`` with ``raw``, unchecked.

        ``raw`` is ``(stored_alias, stored_version)``: what the row holds afterwards, any
        objects (a name that is not an alias name, a version that is not a number), as a
        damaged database might hold them. A hook for the conformance suites only, never
        called by prodml. Not abstract; a store without it skips those tests, naming
        this hook. A store whose storage cannot hold a value (a typed column refuses it)
        raises NotImplementedError saying so, and that one test skips.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement _replace_alias_row")

    def _prune_events(self, name: str, plan: PrunePlan) -> int:
        """Apply ``plan`` to the audit log of ``name`` in one transaction; events removed.

        Under the model's write lock: read its whole log (oldest first), call
        ``plan(events)`` for the seqs to delete and the drafts to append, delete those
        and log these, together. NotFoundError when the model does not exist. Not
        abstract, so stores written before it still work; they refuse pruning.
        """
        raise RegistryError(
            f"the metadata store {type(self).__name__} cannot prune its audit log; "
            "implement MetadataStore._prune_events"
        )

    def initialise(self) -> None:
        """Create the registry's tables (a no-op for stores that need none)."""

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # ------------------------------------------------------------------ derived

    def create_version(
        self,
        draft: ModelVersion,
        actor: str,
        *,
        leased: bool = False,
        seal: Seal | None = None,
    ) -> ModelVersion:
        """Register ``draft`` (its ``version`` is ignored) and return the stored version.

        ``seal`` turns the numbered version into the one stored (the registry signs it
        there); stores written before signing existed work unchanged without it.
        """
        self._check_writable()
        if seal is None:
            return self._insert_version(draft, actor, leased=leased)
        return self._insert_version(draft, actor, leased=leased, seal=seal)

    def get_version(
        self, name: str, version: int, *, include_deleted: bool = False
    ) -> ModelVersion:
        """One version by number.

        Raises
        ------
        NotFoundError
            When there is no such version (or it was deleted).
        """
        statuses: tuple[Status, ...] = ALL if include_deleted else LIVE
        found = self._query_versions(
            VersionQuery(name=name, version=version, statuses=statuses, limit=1)
        )
        if not found:
            raise NotFoundError(
                f"model {name!r} has no version {version}", model_name=name, version=version
            )
        return found[0]

    def has_model(self, name: str) -> bool:
        """Whether ``name`` has at least one version, of any status."""
        return bool(self._version_records(VersionQuery(name=name, statuses=ALL, limit=1)))

    def latest_version(self, name: str) -> ModelVersion:
        """The highest-numbered live version of ``name``."""
        found = self._query_versions(VersionQuery(name=name, limit=1, statuses=("ready",)))
        if not found:
            found = self._query_versions(VersionQuery(name=name, limit=1))
        if not found:
            raise NotFoundError(f"model {name!r} has no versions", model_name=name)
        return found[0]

    def resolve(self, name: str, selector: int | str | None) -> ModelVersion:
        """A version by number, alias, ``"latest"`` or ``None`` (latest)."""
        if selector is None or selector == "latest":
            return self.latest_version(name)
        if isinstance(selector, int):
            return self.get_version(name, selector)
        return self.alias_target(name, selector)

    def search(
        self,
        name: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        min_metrics: Mapping[str, float] | None = None,
        max_metrics: Mapping[str, float] | None = None,
        statuses: tuple[Status, ...] = LIVE,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """One page of versions matching every filter, newest first within a model.

        Pages are keyset-paged: the token carries the stored key ``(name, version)`` of
        the last row of the previous page, and the next page reads the rows strictly
        after it, so a page costs the same however deep it is, and versions registered,
        deleted, archived or re-aliased meanwhile never make a page repeat or skip a row
        that existed throughout. A token is bound to its filters and checksummed: one
        from another search, altered, or not ours is a ConfigError naming it (see
        :mod:`~prodml.registry.backends._page_token`).

        A stored record that cannot be read (written by a newer prodml, or damaged) is
        left out of ``items``, reported with an
        :class:`~prodml.registry._formats.UnreadableRecordWarning` and listed in the
        page's ``problems``; it still counts towards the page, so paging goes on past it,
        even when its row's name or number was edited into something that is not a model
        name or version number (the token carries the row's stored key).
        """
        check_page_size(page_size, "search")
        query = VersionQuery(
            name=name,
            statuses=statuses,
            tags=dict(tags or {}),
            min_metrics=dict(min_metrics or {}),
            max_metrics=dict(max_metrics or {}),
        )
        fingerprint = query_fingerprint(query)  # once: the token read and the one made
        after, skip = parse_search_token(page_token, query, fingerprint)
        records = self._version_records(
            dataclasses.replace(query, after=after, limit=skip + page_size + 1)
        )[skip:]  # keyless unreadable rows the previous page ended with
        more = len(records) > page_size
        records = records[:page_size]
        token = search_token(records, after, skip, query, fingerprint) if more else None
        return _page(records, token)

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        action: str = "set_alias",
        expected: Any = ANY,
        detail: dict[str, Any] | None = None,
        seal: EventSeal | None = None,
    ) -> None:
        """Set, move or (``version=None``) delete an alias, logging who did it.

        Without ``expected`` the move happens whatever the alias points at (last writer
        wins); with it, ConflictError when the alias points elsewhere. ``seal`` signs
        the event once it has its number (see :class:`EventDraft`).
        """
        self._check_writable()
        event = EventDraft(
            name=name,
            action=action,
            actor=actor,
            version=version,
            alias=alias,
            detail=detail or {},
            seal=seal,
        )
        self._move_alias(name, alias, version, expected, event)

    def registry_id(self, *, create: bool = True) -> str | None:
        """The registry's identity: a random id the store keeps, made on first need.

        Signatures name it, so a signed version or alias record copied into another
        registry does not verify there. Read once per store object and kept: a later
        change in the database is not seen by this process. ``None`` for a store that
        keeps no identity (one that does not implement :meth:`_registry_id`), or a
        database written before identities existed that this call may not write to:
        read-only, or ``create=False`` (what the registry's reads pass, so that a read
        never writes; its first signed write makes the id).
        """
        cached = getattr(self, "_identity_cache", None)
        if cached is None:
            cached = self._registry_id(create=create and not self.read_only)
            if cached is not None:
                self._identity_cache = cached
        return cached

    def _registry_id(self, create: bool) -> str | None:
        """The stored identity (an optional hook); with ``create``, make one if missing.

        A store that implements it keeps one short string per registry, created once
        (concurrent creators must end up reading the same one). Default: no identity.
        """
        return None

    def set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        """Change a version's status, logging ``event`` (see :meth:`_set_status`)."""
        self._check_writable()
        self._set_status(name, version, status, event)

    def alias_stack(self, name: str, alias: str) -> list[int]:
        """The alias's versions as a stack: sets push, rollbacks pop, deletes clear.

        A ``prune_history`` event of the alias resets the stack to the one it recorded
        (the stack when the log was pruned), so rollback survives pruning.
        """
        return replay_stack(self._whole_log(name, alias, f"rollback of {name}@{alias}"))

    def prune_history(
        self,
        name: str,
        *,
        before: datetime | None,
        keep: int | None,
        actor: str,
        seal: EventSeal | None = None,
    ) -> int:
        """Remove audit events of ``name`` older than ``before`` and past the newest ``keep``.

        In one transaction with the removal, logs one ``prune_history`` event per alias
        that lost events (its stack then, in ``detail["stack"]``, for rollback) and one
        for the model (``detail``: ``removed``, ``before``, ``keep``, ``through_seq``).
        ``seal`` signs each alias's event with the stack it saves (a signing registry's).
        Nothing removed: nothing logged. Returns the number of events removed.
        """
        self._check_writable()

        def plan(events: list[AuditEvent]) -> tuple[list[int], list[EventDraft]]:
            return plan_prune(events, name, before=before, keep=keep, actor=actor, seal=seal)

        try:
            return self._prune_events(name, plan)
        except IntegrityError as err:
            raise self._log_hole(name, None, "prune_history", err) from None

    def history(self, name: str, alias: str | None = None) -> list[AuditEvent]:
        """The whole audit log of ``name`` (optionally one alias), oldest first.

        Raises
        ------
        IntegrityError
            When an event of the log cannot be read: whatever replays the log (rollback,
            pruning) must not act on one with holes. The message names every unreadable
            event (its seq and version) and how to repair the log;
            :meth:`history_page` reads the others.
        """
        return self._whole_log(name, alias, "history")

    def _whole_log(self, name: str, alias: str | None, what: str) -> list[AuditEvent]:
        """:meth:`_events` (the whole log), or the error naming every unreadable event."""
        try:
            return self._events(name, alias)
        except IntegrityError as err:
            raise self._log_hole(name, alias, what, err) from None

    def _log_hole(
        self, name: str, alias: str | None, what: str, err: IntegrityError
    ) -> IntegrityError:
        """``err``, told where the unreadable events are and how to repair the log."""
        try:
            records = self._event_records(name, alias)
        except ProdMLError:
            return err  # the store cannot list them one by one: its own error stands
        return log_hole(name, what, records, err)

    def history_page(
        self,
        name: str,
        alias: str | None = None,
        *,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[AuditEvent]:
        """One page of the audit log, newest first; pass ``next_token`` for older events.

        An event that cannot be read is left out of ``items``, reported with an
        :class:`~prodml.registry._formats.UnreadableRecordWarning` and listed in
        ``problems``.
        """
        check_page_size(page_size, "history")
        before = parse_seq_token(page_token)
        records = self._event_records(name, alias, before=before, limit=page_size + 1)
        more = len(records) > page_size
        records = records[:page_size]
        last = records[-1] if records else None
        return _page(records, str(last.seq) if more and last is not None else None)

    def model_names(self) -> list[str]:
        """Every model with at least one version, sorted.

        A stored name that is not a model name (edited in the database) is left out,
        with an :class:`~prodml.registry._formats.UnreadableRecordWarning` counting it,
        never repeating it.
        """
        names = self._model_names()
        valid = [n for n in names if isinstance(n, str) and NAME.fullmatch(n)]
        if len(valid) < len(names):
            warn_unreadable(
                f"{len(names) - len(valid)} stored model name(s) of {self.url} are not model "
                "names; they were edited or corrupted"
            )
        return valid

    def all_versions(self, *, include_deleted: bool = True) -> list[ModelVersion]:
        """Every version of every model (for exports).

        A stored record that cannot be read is left out, with an
        :class:`~prodml.registry._formats.UnreadableRecordWarning` naming it.
        """
        statuses = ALL if include_deleted else LIVE
        records = self._version_records(VersionQuery(statuses=statuses, descending=False))
        return list(_page(records, None))

    # ------------------------------------------------------------------ pending keys

    def lease(self, key: str, name: str, expires_at: float) -> None:
        """Lease ``key`` for a registration until ``expires_at`` (epoch seconds)."""
        self._check_writable()
        self._lease(key, name, expires_at)

    def revoke(self, key: str, *, expired_by: float | None = None) -> bool:
        """Revoke the lease on ``key`` (see :meth:`_revoke`); whether it is now garbage."""
        self._check_writable()
        return self._revoke(key, expired_by=expired_by)

    def pending(self, due_by: float | None = None) -> list[Pending]:
        """Pending keys, those due by ``due_by`` when given."""
        return self._pending(due_by)

    def forget(self, key: str) -> None:
        """Drop the row of ``key`` unless it is a lease (its files are gone)."""
        self._check_writable()
        self._forget(key)

    def artifact_keys(self) -> dict[str, Status]:
        """Artifact key -> status of every version."""
        return self._artifact_keys()

    def _check_writable(self) -> None:
        if self.read_only:
            raise RegistryError(f"the metadata store {self.url} is read-only; writes are refused")


R = TypeVar("R", ModelVersion, AuditEvent)


def _page(records: list[R | RecordProblem], token: str | None) -> Page[R]:
    """The readable records as a page; the others warned about and in ``problems``."""
    problems = [r for r in records if isinstance(r, RecordProblem)]
    report(problems)
    return Page([r for r in records if not isinstance(r, RecordProblem)], token, problems)
