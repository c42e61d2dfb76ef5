"""In-process metadata store (``memory://``): for tests and notebooks, thread-safe.

``memory://`` gives a private store; ``memory://NAME`` is shared by every registry in the
process that names it, like fsspec's memory filesystem.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from prodml.errors import ConflictError, NotFoundError
from prodml.registry.backends.metadata import ANY, EventDraft, MetadataStore, VersionQuery
from prodml.registry.entities import AuditEvent, ModelVersion, Status

__all__ = ["MemoryMetadataStore"]


class MemoryMetadataStore(MetadataStore):
    """Metadata kept in Python dicts, guarded by one lock.

    Parameters
    ----------
    url
        ``memory://`` (a private store) or ``memory://NAME`` (shared in this process).

    Examples
    --------
    >>> store = MemoryMetadataStore("memory://")
    >>> store.model_names()
    []
    """

    _shared: ClassVar[dict[str, MemoryMetadataStore]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls, url: str = "memory://") -> MemoryMetadataStore:
        """One store per shared name; a fresh one for ``memory://``."""
        key = url.split("://", 1)[-1].strip("/")
        if not key:
            return super().__new__(cls)
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = super().__new__(cls)
            return cls._shared[key]

    def __init__(self, url: str = "memory://") -> None:
        if getattr(self, "_ready", False):
            return
        self.url = url
        self._lock = threading.RLock()
        self._versions: dict[str, dict[int, ModelVersion]] = {}
        self._aliases_map: dict[str, dict[str, int]] = {}
        self._log: dict[str, list[AuditEvent]] = {}
        self._seq = 0
        self._ready = True

    def _append(self, event: EventDraft) -> None:
        self._seq += 1
        self._log.setdefault(event.name, []).append(event.build(self._seq))

    def _insert_version(self, draft: ModelVersion, actor: str) -> ModelVersion:
        with self._lock:
            versions = self._versions.setdefault(draft.name, {})
            number = max(versions, default=0) + 1
            mv = draft.model_copy(update={"version": number})
            versions[number] = mv
            self._append(EventDraft(name=mv.name, action="register", actor=actor, version=number))
            return mv

    def _query_versions(self, query: VersionQuery) -> list[ModelVersion]:
        with self._lock:
            names = [query.name] if query.name is not None else sorted(self._versions)
            out: list[ModelVersion] = []
            for name in names:
                numbers = sorted(self._versions.get(name, {}), reverse=query.descending)
                out.extend(mv for n in numbers if query.matches(mv := self._versions[name][n]))
        end = None if query.limit is None else query.offset + query.limit
        return out[query.offset : end]

    def _set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        with self._lock:
            try:
                mv = self._versions[name][version]
            except KeyError:
                raise NotFoundError(
                    f"model {name!r} has no version {version}", model_name=name, version=version
                ) from None
            self._versions[name][version] = mv.model_copy(update={"status": status})
            self._append(event)

    def _move_alias(
        self, name: str, alias: str, version: int | None, expected: Any, event: EventDraft
    ) -> None:
        with self._lock:
            aliases = self._aliases_map.setdefault(name, {})
            if expected is not ANY and aliases.get(alias) != expected:
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} moved concurrently",
                    model_name=name,
                    version=alias,
                )
            if version is None:
                aliases.pop(alias, None)
            else:
                aliases[alias] = version
            self._append(event)

    def _aliases(self, name: str) -> dict[str, int]:
        with self._lock:
            return dict(self._aliases_map.get(name, {}))

    def _events(self, name: str, alias: str | None = None) -> list[AuditEvent]:
        with self._lock:
            events = list(self._log.get(name, []))
        if alias is not None:
            events = [e for e in events if e.alias == alias]
        return events

    def _model_names(self) -> list[str]:
        with self._lock:
            return sorted(n for n, v in self._versions.items() if v)
