"""The values a registry and its metadata stores exchange, and the checks stores share.

:class:`VersionQuery` (what to select), :class:`EventDraft` (an audit event before it has
its number), :class:`Pending` (an artifact key whose fate is pending), the :data:`ANY`
sentinel, the ``Seal`` and ``PrunePlan`` callables and :func:`register_event`; the errors
a store raises for a lost lease (:func:`lost_lease`) or an alias target that cannot take
the alias (:func:`check_target`); the check of an alias row read back
(:func:`alias_entry`); and the checks of a page size and of the ``history`` page
tokens a caller hands back (hostile until parsed; ``search`` tokens are in
:mod:`._page_token`). Backends import these names from
:mod:`prodml.registry.backends.metadata`, which re-exports them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from prodml.errors import ConfigError, ConflictError, IntegrityError, NotFoundError
from prodml.registry._formats import RecordProblem
from prodml.registry._paths import MAX_VERSION
from prodml.registry.entities import AuditEvent, ModelVersion, Status, check_alias

__all__ = [
    "ALL",
    "ANY",
    "LIVE",
    "AliasRow",
    "EventDraft",
    "EventSeal",
    "Pending",
    "PendingState",
    "PrunePlan",
    "Seal",
    "VersionQuery",
    "alias_entry",
    "alias_record",
    "check_page_size",
    "check_target",
    "lost_lease",
    "parse_seq_token",
    "register_event",
    "shown_aliases",
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


EventSeal = Callable[["EventDraft", int], dict[str, Any]]
"""Signs an audit event given its sequence number: returns the entries to add to ``detail``."""


@dataclass(frozen=True)
class EventDraft:
    """An audit event before the store gives it its sequence number.

    A store moving an alias fills ``previous_version`` from what it replaced. ``seal``
    (set only when the registry signs) returns the signed record of the event once it has
    its sequence number: a store appends ``sealed(seq).detail`` as the event's detail, in
    the same transaction (see :meth:`sealed`; the SQL and memory stores do it where they
    log). A store that ignores it logs unsigned events, which a strict trust policy
    refuses to load through.
    """

    name: str
    action: str
    actor: str
    version: int | None = None
    alias: str | None = None
    previous_version: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    seal: EventSeal | None = field(default=None, compare=False, repr=False)

    def sealed(self, seq: int) -> EventDraft:
        """The event with its signed record in ``detail`` (itself when it has no seal)."""
        if self.seal is None:
            return self
        return dataclasses.replace(self, detail={**self.detail, **self.seal(self, seq)}, seal=None)

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


AliasRow = tuple[object, object, bool]
"""An alias row as stored, hostile until :func:`alias_entry` checked it: its name, its
version, and whether that version exists (a live version of the model, in the same read)."""


def alias_entry(name: str, row: AliasRow) -> tuple[str, int]:
    """``(alias, version)`` of a stored alias row, once checked.

    The name must be a valid alias name (never repeated otherwise), the version an int
    >= 1 that is a live version of the model (deleting an aliased version is refused, so
    a gone one means the row was edited).

    Raises
    ------
    IntegrityError
        Naming the model and, when its name is valid, the alias.

    Examples
    --------
    >>> alias_entry("churn", ("production", 3, True))
    ('production', 3)
    >>> alias_entry("churn", ("production", 7, False))
    Traceback (most recent call last):
    ...
    prodml.errors.IntegrityError: alias 'production' of model churn points at version 7, ...
    """
    alias, version, exists = row
    try:
        check_alias(alias)
    except ConfigError:
        raise IntegrityError(
            f"an alias of model {name} has a stored name that is not a valid alias name; "
            "it was edited or corrupted",
            model_name=name,
        ) from None
    assert isinstance(alias, str)  # noqa: S101 - check_alias accepted it: for mypy
    if type(version) is not int or not 1 <= version <= MAX_VERSION:
        raise IntegrityError(
            f"alias {alias!r} of model {name} points at a stored version that is not a "
            "version number (an int >= 1); it was edited or corrupted",
            model_name=name,
            version=alias,
        )
    if not exists:
        raise IntegrityError(
            f"alias {alias!r} of model {name} points at version {version}, which does not "
            "exist (or was deleted); it was edited or corrupted",
            model_name=name,
            version=alias,
        )
    return alias, version


def shown_aliases(stored: Iterable[object]) -> list[str]:
    """The stored alias names fit for a message, sorted: the valid ones only.

    A stored name that is not a valid alias name was edited, and may be anything (10 MB
    of text, a secret): it is counted, never repeated.

    Examples
    --------
    >>> shown_aliases(["b", "a", "not valid!", 3])
    ['a', 'b', '2 stored names that are not alias names']
    """
    names = list(stored)
    valid = sorted(a for a in names if isinstance(a, str) and _valid_alias(a))
    hidden = len(names) - len(valid)
    if hidden:
        what = "names that are not alias names" if hidden > 1 else "name that is not an alias name"
        valid.append(f"{hidden} stored {what}")
    return valid


def _valid_alias(alias: str) -> bool:
    try:
        check_alias(alias)
    except ConfigError:
        return False
    return True


def alias_record(name: str, row: AliasRow) -> tuple[str, int] | RecordProblem:
    """:func:`alias_entry` of a row, or the problem that makes it unreadable."""
    try:
        return alias_entry(name, row)
    except IntegrityError as err:
        alias, version = row[0], row[1]
        valid = err.version is not None  # the message named the alias: its name is valid
        number = version if type(version) is int and 1 <= version <= MAX_VERSION else None
        return RecordProblem(
            "alias",
            name,
            number,
            None,
            err,
            alias=alias if valid and isinstance(alias, str) else None,
        )


def check_page_size(page_size: object, owner: str) -> None:
    """ConfigError unless ``page_size`` is an int in [1, 10000] (``owner``: the method)."""
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


def parse_seq_token(token: object) -> int | None:
    """The audit seq a ``history`` page token stands for."""
    if token is None:
        return None
    if isinstance(token, str) and token.isascii() and token.isdigit() and len(token) <= 18:
        return int(token)
    raise ConfigError(
        f"page_token {str(token)[:80]!r} is not a token returned by history",
        parameter="page_token",
    )
