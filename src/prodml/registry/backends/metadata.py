"""The metadata store interface: a fat ``abc.ABC`` base with a handful of primitives.

A backend implements seven primitives, each atomic on its own: insert a version (choosing
the next number), query versions, change a version's status, move an alias with
compare-and-set, read aliases, read the audit log, list model names. Everything else
(resolving references, paged search, alias history, rollback targets, the set of
referenced artifact keys) is written once here on top of them.

Every write that changes state appends its audit event in the same transaction, so the log
and the state never disagree.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from prodml.errors import ConfigError, ConflictError, NotFoundError
from prodml.registry.entities import AuditEvent, ModelVersion, Page, Status

__all__ = ["ANY", "EventDraft", "MetadataStore", "VersionQuery"]

ANY: Any = type("_Any", (), {"__repr__": lambda self: "ANY"})()
"""Sentinel for :meth:`MetadataStore._move_alias`: do not check the current version."""

LIVE: tuple[Status, ...] = ("ready", "archived")


@dataclass(frozen=True)
class VersionQuery:
    """What :meth:`MetadataStore._query_versions` selects, in version order."""

    name: str | None = None
    version: int | None = None
    statuses: tuple[Status, ...] = LIVE
    tags: Mapping[str, str] = field(default_factory=dict)
    min_metrics: Mapping[str, float] = field(default_factory=dict)
    max_metrics: Mapping[str, float] = field(default_factory=dict)
    descending: bool = True
    offset: int = 0
    limit: int | None = None

    def matches(self, mv: ModelVersion) -> bool:
        """Whether ``mv`` passes every filter (paging aside)."""
        if self.name is not None and mv.name != self.name:
            return False
        if self.version is not None and mv.version != self.version:
            return False
        if mv.status not in self.statuses:
            return False
        if any(mv.tags.get(k) != v for k, v in self.tags.items()):
            return False
        for k, lo in self.min_metrics.items():
            if k not in mv.metrics or not mv.metrics[k] >= lo:
                return False
        return all(k in mv.metrics and mv.metrics[k] <= hi for k, hi in self.max_metrics.items())


@dataclass(frozen=True)
class EventDraft:
    """An audit event before the store gives it its sequence number."""

    name: str
    action: str
    actor: str
    version: int | None = None
    alias: str | None = None
    previous_version: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

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


class MetadataStore(abc.ABC):
    """Base of every metadata store (versions, aliases, audit log).

    Subclasses implement the ``_`` primitives; the public methods are derived from them.
    """

    # ------------------------------------------------------------------ primitives

    @abc.abstractmethod
    def _insert_version(self, draft: ModelVersion, actor: str) -> ModelVersion:
        """Store ``draft`` as the next version of its model and log ``register``.

        Numbers start at 1 and are consecutive per model, also under concurrent writers.
        """

    @abc.abstractmethod
    def _query_versions(self, query: VersionQuery) -> list[ModelVersion]:
        """The versions matching ``query``, ordered by (name, version), paged."""

    @abc.abstractmethod
    def _set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        """Change one version's status and log ``event``; NotFoundError if absent."""

    @abc.abstractmethod
    def _move_alias(
        self, name: str, alias: str, version: int | None, expected: Any, event: EventDraft
    ) -> None:
        """Point ``alias`` at ``version`` (``None`` deletes it) and log ``event``.

        Raises ConflictError when ``expected`` is not :data:`ANY` and the alias does not
        currently point at ``expected`` (``None``: the alias must not exist).
        """

    @abc.abstractmethod
    def _aliases(self, name: str) -> dict[str, int]:
        """Alias -> version for one model."""

    @abc.abstractmethod
    def _events(self, name: str, alias: str | None = None) -> list[AuditEvent]:
        """The audit log of one model (optionally one alias), oldest first."""

    @abc.abstractmethod
    def _model_names(self) -> list[str]:
        """Every model name with at least one version, sorted."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing
        """Release connections; the store is unusable afterwards."""

    # ------------------------------------------------------------------ derived

    def create_version(self, draft: ModelVersion, actor: str) -> ModelVersion:
        """Register ``draft`` (its ``version`` is ignored) and return the stored version."""
        return self._insert_version(draft, actor)

    def get_version(
        self, name: str, version: int, *, include_deleted: bool = False
    ) -> ModelVersion:
        """One version by number.

        Raises
        ------
        NotFoundError
            When there is no such version (or it was deleted).
        """
        statuses: tuple[Status, ...] = (*LIVE, "deleted") if include_deleted else LIVE
        found = self._query_versions(
            VersionQuery(name=name, version=version, statuses=statuses, limit=1)
        )
        if not found:
            raise NotFoundError(
                f"model {name!r} has no version {version}", model_name=name, version=version
            )
        return found[0]

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
        """One page of versions matching every filter, newest first within a model."""
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ConfigError(
                f"The 'page_size' parameter of search must be an int >= 1. Got {page_size!r} "
                "instead.",
                parameter="page_size",
            )
        offset = _parse_token(page_token)
        items = self._query_versions(
            VersionQuery(
                name=name,
                statuses=statuses,
                tags=dict(tags or {}),
                min_metrics=dict(min_metrics or {}),
                max_metrics=dict(max_metrics or {}),
                offset=offset,
                limit=page_size + 1,
            )
        )
        more = len(items) > page_size
        return Page(items[:page_size], str(offset + page_size) if more else None)

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
        """Set, move or (``version=None``) delete an alias, logging who did it."""
        current = self._aliases(name).get(alias)
        if expected is not ANY and current != expected:
            raise ConflictError(
                f"alias {alias!r} of model {name!r} moved concurrently "
                f"(expected {expected}, found {current})",
                model_name=name,
                version=alias,
            )
        event = EventDraft(
            name=name,
            action=action,
            actor=actor,
            version=version,
            alias=alias,
            previous_version=current,
            detail=detail or {},
        )
        self._move_alias(name, alias, version, current, event)

    def alias_stack(self, name: str, alias: str) -> list[int]:
        """The alias's versions as a stack: sets push, rollbacks pop, deletes clear."""
        stack: list[int] = []
        for ev in self._events(name, alias):
            if ev.action == "set_alias" and ev.version is not None:
                if not stack or stack[-1] != ev.version:
                    stack.append(ev.version)
            elif ev.action == "rollback":
                del stack[max(0, len(stack) - int(ev.detail.get("pop", 1))) :]
                if ev.version is not None and (not stack or stack[-1] != ev.version):
                    stack.append(ev.version)
            elif ev.action == "delete_alias":
                stack.clear()
        return stack

    def history(self, name: str, alias: str | None = None) -> list[AuditEvent]:
        """The audit log of ``name`` (optionally one alias), oldest first."""
        return self._events(name, alias)

    def model_names(self) -> list[str]:
        """Every model with at least one version, sorted."""
        return self._model_names()

    def all_versions(self, *, include_deleted: bool = True) -> list[ModelVersion]:
        """Every version of every model (for gc and exports)."""
        statuses: tuple[Status, ...] = (*LIVE, "deleted") if include_deleted else LIVE
        return self._query_versions(VersionQuery(statuses=statuses, descending=False))


def _parse_token(token: str | None) -> int:
    if token is None:
        return 0
    if not isinstance(token, str) or not token.isdigit():
        raise ConfigError(
            f"page_token {token!r} is not a token returned by search", parameter="page_token"
        )
    return int(token)
