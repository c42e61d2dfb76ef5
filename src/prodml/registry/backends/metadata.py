"""The metadata store interface: a fat ``abc.ABC`` base with a handful of primitives.

A backend implements a few primitives, each atomic on its own: insert a version (choosing
the next number, and consuming the registration's lease), query versions, change a
version's status, move an alias, read aliases, read the audit log, list model names, and
keep the *pending keys* (leases of registrations in flight, and artifact keys queued for
garbage collection). Everything else (resolving references, paged search, alias history,
rollback targets) is written once here on top of them.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from prodml._pickle import NotPicklable
from prodml.errors import ConfigError, ConflictError, NotFoundError, RegistryError
from prodml.registry._paths import MAX_VERSION, NAME
from prodml.registry.entities import AuditEvent, ModelVersion, Page, Status

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

ANY: Any = type("_Any", (), {"__repr__": lambda self: "ANY"})()
"""Sentinel for :meth:`MetadataStore._move_alias`: do not check the current version."""

LIVE: tuple[Status, ...] = ("ready", "archived")
ALL: tuple[Status, ...] = ("ready", "archived", "deleted")


@dataclass(frozen=True)
class VersionQuery:
    """What :meth:`MetadataStore._query_versions` selects, in (name, version) order.

    ``after`` is a keyset position ``(name, version)``: only versions after it in the
    query's order are returned (``descending``: newest first within a name).
    """

    name: str | None = None
    version: int | None = None
    statuses: tuple[Status, ...] = LIVE
    tags: Mapping[str, str] = field(default_factory=dict)
    min_metrics: Mapping[str, float] = field(default_factory=dict)
    max_metrics: Mapping[str, float] = field(default_factory=dict)
    descending: bool = True
    after: tuple[str, int] | None = None
    limit: int | None = None

    def matches(self, mv: ModelVersion) -> bool:
        """Whether ``mv`` passes every filter (the keyset position included)."""
        if self.name is not None and mv.name != self.name:
            return False
        if self.version is not None and mv.version != self.version:
            return False
        if mv.status not in self.statuses:
            return False
        if self.after is not None:
            name, version = self.after
            later = mv.version < version if self.descending else mv.version > version
            if mv.name < name or (mv.name == name and not later):
                return False
        if any(mv.tags.get(k) != v for k, v in self.tags.items()):
            return False
        for k, lo in self.min_metrics.items():
            if k not in mv.metrics or not mv.metrics[k] >= lo:
                return False
        return all(k in mv.metrics and mv.metrics[k] <= hi for k, hi in self.max_metrics.items())


@dataclass(frozen=True)
class EventDraft:
    """An audit event before the store gives it its sequence number.

    A store moving an alias fills ``previous_version`` from what it replaced.
    """

    name: str
    action: str
    actor: str
    version: int | None = None
    alias: str | None = None
    previous_version: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def replacing(self, previous: int | None) -> EventDraft:
        """The same event with ``previous_version`` set."""
        return dataclasses.replace(self, previous_version=previous)

    def build(self, seq: int) -> AuditEvent:
        """The :class:`AuditEvent` with sequence number ``seq``."""
        return AuditEvent(
            seq=seq,
            name=self.name,
            action=self.action,
            version=self.version,
            alias=self.alias,
            previous_version=self.previous_version,
            actor=self.actor,
            at=self.at,
            detail=self.detail,
        )


PendingState = Literal["lease", "orphan", "deleted"]
PrunePlan = Callable[[list[AuditEvent]], tuple[list[int], list[EventDraft]]]
"""Given a model's whole audit log, oldest first: the seqs to delete, the events to log."""
Seal = Callable[[ModelVersion], ModelVersion]
"""Applied by a store to a version once it has its number, before it is written."""


def register_event(mv: ModelVersion, actor: str) -> EventDraft:
    """The ``register`` audit event of ``mv``, naming its signer's key id when signed."""
    detail = {"signer_key_id": mv.attestation.key_ids[0]} if mv.attestation else {}
    return EventDraft(
        name=mv.name, action="register", actor=actor, version=mv.version, detail=detail
    )


@dataclass(frozen=True)
class Pending:
    """An artifact key whose fate is pending.

    ``state`` is ``"lease"`` (a registration in flight), ``"orphan"`` (a registration
    that failed, or whose lease gc revoked) or ``"deleted"`` (the files of a deleted
    version). ``expires_at`` (seconds since the epoch) is when a lease lapses; for the
    other states it is when the key was queued, so they are always due.
    """

    key: str
    name: str
    state: PendingState
    expires_at: float

    @property
    def garbage(self) -> bool:
        """Whether gc may delete the key's files (it is not a lease)."""
        return self.state != "lease"


class MetadataStore(NotPicklable, abc.ABC):
    """Base of every metadata store (versions, aliases, audit log, pending keys).

    Subclasses implement the ``_`` primitives; the public methods are derived from them.

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
        """Alias -> version for one model."""

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
        return bool(self._query_versions(VersionQuery(name=name, statuses=ALL, limit=1)))

    def latest_version(self, name: str) -> ModelVersion:
        """The highest-numbered live version of ``name``."""
        found = self._query_versions(VersionQuery(name=name, limit=1, statuses=("ready",)))
        if not found:
            found = self._query_versions(VersionQuery(name=name, limit=1))
        if not found:
            raise NotFoundError(f"model {name!r} has no versions", model_name=name)
        return found[0]

    def alias_version(self, name: str, alias: str) -> int:
        """The version ``alias`` points at."""
        try:
            return self._aliases(name)[alias]
        except KeyError:
            raise NotFoundError(
                f"model {name!r} has no alias {alias!r}", model_name=name, version=alias
            ) from None

    def resolve(self, name: str, selector: int | str | None) -> ModelVersion:
        """A version by number, alias, ``"latest"`` or ``None`` (latest)."""
        if selector is None or selector == "latest":
            return self.latest_version(name)
        if isinstance(selector, int):
            return self.get_version(name, selector)
        return self.get_version(name, self.alias_version(name, selector))

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

        Pages are keyset-paged: the token is the reference (``name@version``) of the last
        version of the previous page, so a page costs the same however deep it is, and a
        version registered meanwhile never shifts or repeats what the next page holds.
        """
        _check_page_size(page_size, "search")
        items = self._query_versions(
            VersionQuery(
                name=name,
                statuses=statuses,
                tags=dict(tags or {}),
                min_metrics=dict(min_metrics or {}),
                max_metrics=dict(max_metrics or {}),
                after=_parse_search_token(page_token),
                limit=page_size + 1,
            )
        )
        more = len(items) > page_size
        items = items[:page_size]
        return Page(items, items[-1].ref if more else None)

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
    ) -> None:
        """Set, move or (``version=None``) delete an alias, logging who did it.

        Without ``expected`` the move happens whatever the alias points at (last writer
        wins); with it, ConflictError when the alias points elsewhere.
        """
        self._check_writable()
        event = EventDraft(
            name=name,
            action=action,
            actor=actor,
            version=version,
            alias=alias,
            detail=detail or {},
        )
        self._move_alias(name, alias, version, expected, event)

    def set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        """Change a version's status, logging ``event`` (see :meth:`_set_status`)."""
        self._check_writable()
        self._set_status(name, version, status, event)

    def alias_stack(self, name: str, alias: str) -> list[int]:
        """The alias's versions as a stack: sets push, rollbacks pop, deletes clear.

        A ``prune_history`` event of the alias resets the stack to the one it recorded
        (the stack when the log was pruned), so rollback survives pruning.
        """
        return replay_stack(self._events(name, alias))

    def prune_history(
        self, name: str, *, before: datetime | None, keep: int | None, actor: str
    ) -> int:
        """Remove audit events of ``name`` older than ``before`` and past the newest ``keep``.

        In one transaction with the removal, logs one ``prune_history`` event per alias
        that lost events (its stack then, in ``detail["stack"]``, for rollback) and one
        for the model (``detail``: ``removed``, ``before``, ``keep``, ``through_seq``).
        Nothing removed: nothing logged. Returns the number of events removed.
        """
        self._check_writable()

        def plan(events: list[AuditEvent]) -> tuple[list[int], list[EventDraft]]:
            return plan_prune(events, name, before=before, keep=keep, actor=actor)

        return self._prune_events(name, plan)

    def history(self, name: str, alias: str | None = None) -> list[AuditEvent]:
        """The whole audit log of ``name`` (optionally one alias), oldest first."""
        return self._events(name, alias)

    def history_page(
        self,
        name: str,
        alias: str | None = None,
        *,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[AuditEvent]:
        """One page of the audit log, newest first; pass ``next_token`` for older events."""
        _check_page_size(page_size, "history")
        before = _parse_seq_token(page_token)
        items = self._events(name, alias, before=before, limit=page_size + 1)
        more = len(items) > page_size
        items = items[:page_size]
        return Page(items, str(items[-1].seq) if more else None)

    def model_names(self) -> list[str]:
        """Every model with at least one version, sorted."""
        return self._model_names()

    def all_versions(self, *, include_deleted: bool = True) -> list[ModelVersion]:
        """Every version of every model (for exports)."""
        statuses = ALL if include_deleted else LIVE
        return self._query_versions(VersionQuery(statuses=statuses, descending=False))

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


def _check_page_size(page_size: object, owner: str) -> None:
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= 10_000
    ):
        raise ConfigError(
            f"The 'page_size' parameter of {owner} must be an int in [1, 10000]. Got "
            f"{page_size!r} instead.",
            parameter="page_size",
        )


def _parse_search_token(token: object) -> tuple[str, int] | None:
    if token is None:
        return None
    if isinstance(token, str):
        name, _, number = token.rpartition("@")
        if NAME.fullmatch(name) and number.isascii() and number.isdigit():
            version = int(number)
            if 1 <= version <= MAX_VERSION and len(number) <= 10:
                return name, version
    raise ConfigError(
        f"page_token {str(token)[:80]!r} is not a token returned by search",
        parameter="page_token",
    )


def _parse_seq_token(token: object) -> int | None:
    if token is None:
        return None
    if isinstance(token, str) and token.isascii() and token.isdigit() and len(token) <= 18:
        return int(token)
    raise ConfigError(
        f"page_token {str(token)[:80]!r} is not a token returned by history",
        parameter="page_token",
    )


def lost_lease(key: str, name: str) -> ConflictError:
    """The error of a registration whose lease gc revoked (or that never had one)."""
    return ConflictError(
        f"the registration of {name!r} lost its lease on artifact key {key!r}: it took longer "
        "than lease_ttl and gc reclaimed the key. Register again, with a longer lease_ttl",
        model_name=name,
    )


def check_target(name: str, version: int, status: str | None) -> None:
    """NotFoundError or ConflictError unless ``version`` can receive an alias."""
    if status is None or status == "deleted":
        raise NotFoundError(
            f"model {name!r} has no version {version}", model_name=name, version=version
        )
    if status != "ready":
        raise ConflictError(
            f"{name} version {version} is {status}; restore it before aliasing it",
            model_name=name,
            version=version,
        )


def replay_stack(events: list[AuditEvent]) -> list[int]:
    """An alias's stack from its events, oldest first (see ``alias_stack``).

    Raises
    ------
    RegistryError
        For a ``rollback`` event whose ``pop`` is not a count of versions (an int >= 1)
        or a ``prune_history`` event whose recorded stack is not a list of version
        numbers (a log edited by hand).
    """
    stack: list[int] = []
    for ev in events:
        if ev.action == "set_alias" and ev.version is not None:
            if not stack or stack[-1] != ev.version:
                stack.append(ev.version)
        elif ev.action == "rollback":
            pop = ev.detail.get("pop", 1)
            if type(pop) is not int or pop < 1:
                raise RegistryError(
                    f"audit event {ev.seq} of model {ev.name!r} (rollback) records no valid "
                    "count of versions popped (an int >= 1); the log was altered"
                )
            del stack[max(0, len(stack) - pop) :]
            if ev.version is not None and (not stack or stack[-1] != ev.version):
                stack.append(ev.version)
        elif ev.action == "delete_alias":
            stack.clear()
        elif ev.action == "prune_history" and ev.alias is not None:
            saved = ev.detail.get("stack")
            if not isinstance(saved, list) or not all(
                type(v) is int and 1 <= v <= MAX_VERSION for v in saved
            ):
                raise RegistryError(
                    f"audit event {ev.seq} of model {ev.name!r} (prune_history) records no "
                    "valid alias stack (a list of version numbers); the log was altered"
                )
            stack = list(saved)
    return stack


def plan_prune(
    events: list[AuditEvent],
    name: str,
    *,
    before: datetime | None,
    keep: int | None,
    actor: str,
) -> tuple[list[int], list[EventDraft]]:
    """What pruning ``events`` (a model's whole log, oldest first) deletes and logs."""
    protected = {e.seq for e in events[max(len(events) - keep, 0) :]} if keep else set()
    drop = [e for e in events if e.seq not in protected and (before is None or e.at < before)]
    if not drop:
        return [], []
    drafts = []
    for alias in sorted({e.alias for e in drop if e.alias is not None}):
        stack = replay_stack([e for e in events if e.alias == alias])
        drafts.append(
            EventDraft(
                name=name,
                action="prune_history",
                actor=actor,
                alias=alias,
                detail={"stack": stack},
            )
        )
    drafts.append(
        EventDraft(
            name=name,
            action="prune_history",
            actor=actor,
            detail={
                "removed": len(drop),
                "before": None if before is None else before.isoformat(),
                "keep": keep,
                "through_seq": max(e.seq for e in drop),
            },
        )
    )
    return [e.seq for e in drop], drafts
