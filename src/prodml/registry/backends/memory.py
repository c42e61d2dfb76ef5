"""In-process metadata store (``memory://``): for tests and notebooks, thread-safe.

``memory://`` gives a private store; ``memory://NAME`` is shared by every registry in the
process that names it, like fsspec's memory filesystem.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

from prodml.errors import ConflictError, NotFoundError, RegistryError
from prodml.registry._formats import RecordProblem
from prodml.registry._paths import MAX_VERSION
from prodml.registry.backends._records import shown_aliases
from prodml.registry.backends.metadata import (
    ANY,
    AliasRow,
    EventDraft,
    MetadataStore,
    Pending,
    PrunePlan,
    Seal,
    VersionQuery,
    check_target,
    lost_lease,
    register_event,
)
from prodml.registry.entities import AuditEvent, ModelVersion, Status

__all__ = ["MemoryMetadataStore"]


class MemoryMetadataStore(MetadataStore):
    """Metadata kept in Python dicts, guarded by one lock.

    Parameters
    ----------
    url
        ``memory://`` (a private store) or ``memory://NAME`` (shared in this process).
    lock_timeout
        Seconds a call waits for the store's lock before a :class:`RegistryError`.
    read_only
        Refuse every write through this handle.
    create
        Accepted for symmetry with the SQL store; a memory store always exists.

    Examples
    --------
    >>> store = MemoryMetadataStore("memory://")
    >>> store.model_names()
    []
    """

    _shared: ClassVar[dict[str, MemoryMetadataStore]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __new__(
        cls,
        url: str = "memory://",
        *,
        lock_timeout: float = 30.0,
        read_only: bool = False,
        create: bool = True,
    ) -> MemoryMetadataStore:
        """One store per shared name (per read-only flag); a fresh one for ``memory://``."""
        key = url.split("://", 1)[-1].strip("/")
        if not key:
            return super().__new__(cls)
        with cls._shared_lock:
            if key not in cls._shared:
                # Set up here, under the lock: a handle opened by another thread meanwhile
                # (a read-only view copies the state) must find the store ready.
                store = super().__new__(cls)
                store._setup(url, lock_timeout)
                cls._shared[key] = store
            shared = cls._shared[key]
        if not read_only:
            return shared
        view = super().__new__(cls)
        view.__dict__.update(shared.__dict__)
        view.read_only = True
        return view

    def __init__(
        self,
        url: str = "memory://",
        *,
        lock_timeout: float = 30.0,
        read_only: bool = False,
        create: bool = True,
    ) -> None:
        if getattr(self, "_ready", False):
            return
        self._setup(url, lock_timeout)
        self.read_only: bool = read_only

    def _setup(self, url: str, lock_timeout: float) -> None:
        self.url: str = url
        self.read_only = False
        self.lock_timeout: float = lock_timeout
        self._lock = threading.RLock()
        self._versions: dict[str, dict[int, ModelVersion]] = {}
        self._aliases_map: dict[str, dict[str, int]] = {}
        self._log: dict[str, list[AuditEvent]] = {}
        self._pending_keys: dict[str, Pending] = {}
        self._replaced: dict[tuple[str, int], str] = {}
        self._seq = [0]
        self._identity: list[str | None] = [None]
        self._ready = True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._lock.acquire(timeout=self.lock_timeout):
            raise RegistryError(
                f"the metadata store {self.url} is locked: another thread held it for more "
                f"than {self.lock_timeout:g} s (lock_timeout)"
            )
        try:
            yield
        finally:
            self._lock.release()

    def _append(self, event: EventDraft) -> None:
        self._commit(self._stamp(event))

    def _stamp(self, event: EventDraft) -> AuditEvent:
        """Return ``event`` sealed and numbered, changing nothing.

        Call it before any change: the seal's signer may fail, and the change must not stay.
        """
        seq = self._seq[0] + 1
        return event.sealed(seq).build(seq)

    def _commit(self, built: AuditEvent) -> None:
        self._seq[0] = built.seq
        self._log.setdefault(built.name, []).append(built)

    def _registry_id(self, create: bool) -> str | None:
        with self._locked():
            if self._identity[0] is None and create:
                self._identity[0] = uuid.uuid4().hex
            return self._identity[0]

    def _insert_version(
        self, draft: ModelVersion, actor: str, *, leased: bool = False, seal: Seal | None = None
    ) -> ModelVersion:
        with self._locked():
            if leased:
                lease = self._pending_keys.get(draft.artifact_key)
                if lease is None or lease.state != "lease":
                    raise lost_lease(draft.artifact_key, draft.name)
            versions = self._versions.get(draft.name, {})
            number = max(versions, default=0) + 1
            mv = draft.model_copy(update={"version": number})
            if seal is not None:  # before any change, so a failing seal leaves the lease
                mv = seal(mv)
            if leased:
                del self._pending_keys[draft.artifact_key]
            self._versions.setdefault(draft.name, {})[number] = mv
            self._append(register_event(mv, actor))
            return mv

    def _query_versions(self, query: VersionQuery) -> list[ModelVersion]:
        out: list[ModelVersion] = []
        for record in self._version_records(query):
            if isinstance(record, RecordProblem):
                raise record.error
            out.append(record)
        return out

    def _version_records(self, query: VersionQuery) -> list[ModelVersion | RecordProblem]:
        with self._locked():
            names = [query.name] if query.name is not None else sorted(self._versions)
            out: list[ModelVersion | RecordProblem] = []
            for name in names:
                numbers = sorted(self._versions.get(name, {}), reverse=query.descending)
                for n in numbers:
                    mv = self._versions[name][n]
                    if query.matches(mv):
                        out.append(self._record(mv))
                        if query.limit is not None and len(out) >= query.limit:
                            return out
        return out

    def _record(self, mv: ModelVersion) -> ModelVersion | RecordProblem:
        """``mv``, or what its replaced record (:meth:`_replace_record`) reads as."""
        raw = self._replaced.get((mv.name, mv.version))
        if raw is None:
            return mv
        from prodml.registry.backends._sqlschema import version_record  # noqa: PLC0415

        # Filters matched the version as registered, as the SQL store's index tables do.
        return version_record((raw, mv.status, mv.name, mv.version))

    def _replace_record(self, name: str, version: int, record: str) -> None:
        """Make the version read back as the JSON ``record`` (conformance suites only)."""
        with self._locked():
            if version not in self._versions.get(name, {}):
                raise NotFoundError(
                    f"model {name!r} has no version {version}", model_name=name, version=version
                )
            self._replaced[(name, version)] = record

    def _replace_alias_row(self, name: str, alias: str, raw: tuple[object, object]) -> None:
        """Make alias ``alias`` of ``name`` read back as ``raw`` (conformance suites only)."""
        stored_alias, stored_version = raw
        try:
            hash(stored_alias)
        except TypeError:
            raise NotImplementedError(
                f"{type(self).__name__} keys its alias rows by name: it cannot hold a "
                f"{type(stored_alias).__name__} as an alias name"
            ) from None
        with self._locked():
            aliases: dict[Any, Any] = self._aliases_map.setdefault(name, {})
            aliases.pop(alias, None)
            aliases[stored_alias] = stored_version

    def _set_status(self, name: str, version: int, status: Status, event: EventDraft) -> None:
        with self._locked():
            try:
                mv = self._versions[name][version]
            except KeyError:
                raise NotFoundError(
                    f"model {name!r} has no version {version}", model_name=name, version=version
                ) from None
            _check_transition(mv, status, self._aliases_map.get(name, {}))
            built = self._stamp(event)
            self._versions[name][version] = mv.model_copy(update={"status": status})
            if status == "deleted":
                self._pending_keys.setdefault(
                    mv.artifact_key, Pending(mv.artifact_key, name, "deleted", time.time())
                )
            self._commit(built)

    def _move_alias(
        self, name: str, alias: str, version: int | None, expected: Any, event: EventDraft
    ) -> None:
        with self._locked():
            aliases = self._aliases_map.setdefault(name, {})
            current = aliases.get(alias)
            # A row edited to hold no version number is neither shown nor logged.
            number = current if type(current) is int and 1 <= current <= MAX_VERSION else None
            if expected is not ANY and current != expected:
                shown = "a stored value that is not a version number"
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} points at "
                    f"{shown if current is not None and number is None else current}, not the "
                    f"expected {expected}: it moved concurrently",
                    model_name=name,
                    version=alias,
                )
            if version is None:
                if current is None:
                    raise NotFoundError(
                        f"model {name!r} has no alias {alias!r}", model_name=name, version=alias
                    )
            else:
                target = self._versions.get(name, {}).get(version)
                check_target(name, version, None if target is None else target.status)
            built = self._stamp(event.replacing(number))  # a failing seal: nothing moved
            if version is None:
                del aliases[alias]
            else:
                aliases[alias] = version
            self._commit(built)

    def _aliases(self, name: str) -> dict[str, int]:
        with self._locked():
            return dict(self._aliases_map.get(name, {}))

    def _alias_rows(self, name: str, alias: str | None = None) -> list[AliasRow]:
        """As the base, under one hold of the lock (no query per alias)."""
        with self._locked():
            stored = self._aliases_map.get(name, {})
            versions = self._versions.get(name, {})
            rows: list[AliasRow] = []
            for key, number in stored.items():
                if alias is None or key == alias:
                    target = versions.get(number) if type(number) is int else None
                    rows.append((key, number, target is not None and target.status != "deleted"))
            return rows

    def _events(
        self,
        name: str,
        alias: str | None = None,
        *,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        with self._locked():
            events = list(self._log.get(name, []))
        if alias is not None:
            events = [e for e in events if e.alias == alias]
        if limit is None:
            return events
        if before is not None:
            events = [e for e in events if e.seq < before]
        return events[::-1][:limit]

    def _prune_events(self, name: str, plan: PrunePlan) -> int:
        with self._locked():
            if not self._versions.get(name):
                raise NotFoundError(f"model {name!r} does not exist", model_name=name)
            events = list(self._log.get(name, []))
            drop, drafts = plan(events)
            gone = set(drop)
            # Every new event numbered (and sealed) before anything changes, as the SQL
            # store logs before it deletes: a draft that fails leaves the log as it was,
            # and the new events keep numbers above every pruned one.
            built: list[AuditEvent] = []
            for number, draft in enumerate(drafts, start=self._seq[0] + 1):
                built.append(draft.sealed(number).build(number))
            self._log[name] = [e for e in events if e.seq not in gone]
            for event in built:
                self._commit(event)
            return len(gone)

    def _model_names(self) -> list[str]:
        with self._locked():
            return sorted(n for n, v in self._versions.items() if v)

    def _lease(self, key: str, name: str, expires_at: float) -> None:
        with self._locked():
            row = self._pending_keys.get(key)
            if row is not None and row.state != "lease":
                raise lost_lease(key, name)
            self._pending_keys[key] = Pending(key, name, "lease", expires_at)

    def _revoke(self, key: str, *, expired_by: float | None = None) -> bool:
        with self._locked():
            row = self._pending_keys.get(key)
            if row is None:
                return False
            if row.state == "lease":
                if expired_by is not None and row.expires_at > expired_by:
                    return False
                self._pending_keys[key] = Pending(key, row.name, "orphan", time.time())
            return True

    def _pending(self, due_by: float | None = None) -> list[Pending]:
        with self._locked():
            rows = list(self._pending_keys.values())
        return sorted(
            (r for r in rows if due_by is None or r.expires_at <= due_by),
            key=lambda r: (r.expires_at, r.key),
        )

    def _forget(self, key: str) -> None:
        with self._locked():
            row = self._pending_keys.get(key)
            if row is not None and row.garbage:
                del self._pending_keys[key]

    def _artifact_keys(self) -> dict[str, Status]:
        with self._locked():
            return {
                mv.artifact_key: mv.status for vs in self._versions.values() for mv in vs.values()
            }


def _check_transition(mv: ModelVersion, status: Status, aliases: dict[str, int]) -> None:
    """ConflictError if ``mv`` may not take ``status`` (deleted is final; aliased stays)."""
    if mv.status == "deleted":
        raise NotFoundError(
            f"model {mv.name!r} has no version {mv.version}",
            model_name=mv.name,
            version=mv.version,
        )
    pointing = shown_aliases(a for a, v in aliases.items() if v == mv.version)
    if status == "deleted" and pointing:
        raise ConflictError(
            f"cannot delete {mv.name} version {mv.version}: aliases {pointing} point at it",
            model_name=mv.name,
            version=mv.version,
        )
