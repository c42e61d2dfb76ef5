"""What a trust policy checks beyond a version's own signature: identity, status, chain.

:func:`identity` is the registry id signatures are checked against (and the one
``TrustPolicy(registry=)`` pins); :func:`check_status` holds a version's row against its
newest signed status record (archive, restore, delete); :func:`signed_stack` rebuilds an
alias's rollback stack from its signed records, each of which names the version it
replaced, so an edited or deleted audit event cannot steer where a rollback lands.
"""

from __future__ import annotations

from prodml.errors import IntegrityError
from prodml.registry._formats import RecordProblem
from prodml.registry.backends._audit import replay_stack
from prodml.registry.backends.metadata import ALL, MetadataStore, VersionQuery
from prodml.registry.entities import AuditEvent, ModelVersion
from prodml.registry.signing import (
    TrustPolicy,
    _record_age,
    _shown_id,
    _stack_digest,
    verify_event,
    version_digest,
)

__all__ = [
    "STATUS_ACTIONS",
    "check_status",
    "highest",
    "identity",
    "newest_status_event",
    "signed_stack",
    "status_head",
]

STATUS_ACTIONS = frozenset({"archive", "restore", "delete"})
_FIRST_PAGE = 8
_PAGE = 500


def identity(metadata: MetadataStore, trust: TrustPolicy | None, *, create: bool) -> str | None:
    """The registry id to sign and verify with; the policy's pin, when it has one.

    ``create`` lets the store make a missing id (writes only: a read never writes).

    Raises
    ------
    IntegrityError
        When the policy pins a registry id and the store keeps another one, or none.
    """
    found = metadata.registry_id(create=create)
    pinned = None if trust is None else trust.registry
    if pinned is not None and found != pinned:
        raise IntegrityError(
            f"the metadata store keeps registry id {_shown_id(found)}, not the "
            f"{pinned!r} the trust policy pins: another registry's database, or its "
            "identity row was changed; refusing to use it"
        )
    return found


def newest_status_event(
    metadata: MetadataStore,
    mv: ModelVersion,
    trust: TrustPolicy | None = None,
    registry: str | None = None,
) -> AuditEvent | None:
    """The newest archive, restore or delete event of ``mv`` (``None``: never changed).

    Reads the model's log newest first, page by page, and stops at the version's
    ``register`` event (nothing older concerns it).

    With ``trust``, the status records of other versions passed on the way are verified
    and their chain links followed: each names the model's status change before it
    (``prior``), and one naming an event newer than where the walk stopped that is not
    in the log means a status change was deleted from it (with the change it recorded).

    Raises
    ------
    IntegrityError
        When an event of this version, newer than its registration, cannot be read; with
        ``trust``, when a status record passed does not verify, or names a status change
        missing from the log.
    """
    token = None
    size = _FIRST_PAGE  # the newest version's events are near the top: read few first
    named: dict[int, int] = {}  # a chain link's target seq -> the seq of its record
    passed: set[int] = set()
    stop: int | None = None
    found: AuditEvent | None = None
    while stop is None:
        page = metadata.history_page(mv.name, None, page_size=size, page_token=token)
        size = _PAGE
        for problem in page.problems:
            if isinstance(problem, RecordProblem) and problem.version == mv.version:
                raise IntegrityError(
                    f"{mv.name} version {mv.version} has an audit event that cannot be read "
                    f"(seq {problem.seq}), so its status cannot be checked; refusing to use it",
                    model_name=mv.name,
                    version=mv.version,
                )
        for event in page.items:
            passed.add(event.seq)
            if event.version == mv.version and event.action in (*STATUS_ACTIONS, "register"):
                stop, found = event.seq, event if event.action != "register" else None
                break
            if trust is not None and event.action in STATUS_ACTIONS and "signed" in event.detail:
                prior = verify_event(event, trust, registry)["prior"]
                if prior is not None:
                    named.setdefault(prior, event.seq)
        token = page.next_token
        if token is None:
            break
    if named:
        # Below where the walk stopped (or, past the log's end, its oldest event, which a
        # prune may have removed the events before) nothing is checked.
        floor = stop if stop is not None else min(passed, default=0)
        missing = sorted(p for p in named if p > floor and p not in passed)
        if missing:
            raise IntegrityError(
                f"{mv.name}: the signed status record of audit event {named[missing[0]]} "
                f"follows the status change of audit event {missing[0]}, which is missing "
                "from the log (deleted behind the registry, with the change it recorded?); "
                f"refusing to use version {mv.version}",
                model_name=mv.name,
                version=mv.version,
            )
    return found


def status_head(metadata: MetadataStore, name: str) -> int | None:
    """The sequence number of the model's newest status change (the next one's ``prior``)."""
    token = None
    size = _FIRST_PAGE
    while True:
        page = metadata.history_page(name, None, page_size=size, page_token=token)
        size = _PAGE
        for event in page.items:
            if event.action in STATUS_ACTIONS:
                return event.seq
        token = page.next_token
        if token is None:
            return None


def highest(metadata: MetadataStore, name: str) -> int | None:
    """The model's highest version number, of any status (``None``: no version)."""
    found = metadata._version_records(VersionQuery(name=name, statuses=ALL, limit=1))
    top = found[0] if found else None
    return top.version if isinstance(top, ModelVersion) else None


def check_status(
    metadata: MetadataStore,
    trust: TrustPolicy,
    registry: str | None,
    mv: ModelVersion,
    *,
    fresh: bool = False,
) -> None:
    """Refuse ``mv`` when its row's status differs from its newest signed status record.

    A version never archived, restored or deleted has no status record: it is as it was
    registered (``ready``), which its version signature covers. A newest status event
    without a record (written by an older prodml, or a registry without a signer) is
    accepted unless the policy is ``strict``. The walk to it checks the chain of status
    records (see :func:`newest_status_event`). With ``fresh`` (loads) and the policy's
    ``max_age``, the newest status record must be younger than it (TUF's timestamp: a
    database frozen at an old signed state is refused; re-sign by repeating the status
    change, ``restore`` or ``archive``).

    Raises
    ------
    IntegrityError
        When the newest status event's record does not verify (forged, another
        registry's, another version's), names another status or manifest than the
        row's, is missing under a strict policy, is past ``max_age``, or when a status
        change newer than it was deleted from the chain.
    """
    event = newest_status_event(metadata, mv, trust, registry)
    if event is None:
        return

    def refuse(why: str) -> IntegrityError:
        return IntegrityError(
            f"{mv.name} version {mv.version} {why}; refusing to use it",
            model_name=mv.name,
            version=mv.version,
        )

    if "signed" not in event.detail:
        if trust.strict:
            raise refuse(
                f"last changed status without a signed record (audit event {event.seq}) "
                "and the trust policy is strict"
            )
        return
    record = verify_event(event, trust, registry)
    if record["status"] != mv.status:
        raise refuse(
            f"is {mv.status} in the database, but its newest signed status record "
            f"(sequence {record['seq']}) says {record['status']}: the database was changed "
            "behind the registry"
        )
    if record["digest"] != version_digest(mv):
        raise refuse(
            f"has a manifest other than the one its signed status record (sequence "
            f"{record['seq']}) names"
        )
    if fresh and trust.max_age is not None:
        age = _record_age(record)
        if age is None or age > trust.max_age:
            raise refuse(
                f"has a newest signed status record (sequence {record['seq']}) "
                + ("whose time cannot be read" if age is None else f"{age:.0f} s old")
                + f", past the trust policy's max_age of {trust.max_age:g} s: the database "
                "may be frozen at an old state (the writer re-signs a status by repeating "
                "it: restore() or archive() again)"
            )


def signed_stack(
    metadata: MetadataStore,
    trust: TrustPolicy,
    registry: str | None,
    name: str,
    alias: str,
) -> list[int]:
    """The alias's rollback stack (oldest first), replayed from its signed records.

    Each signed record is verified and used in place of its event's unsigned columns;
    each names the version it replaced, which must be where the previous event left the
    alias, so an event deleted from the middle of the log, or edited, is refused
    rather than followed. A rollback record pops back to the version it names. Events
    without a record (from before the registry signed) replay as they are, unless the
    policy is ``strict``. Replay starts at the newest ``prune_history`` event: its
    saved stack must match the sha256 its own signed record names (``stack_signed``),
    and its top the version of the alias record it carries. A prune by an older prodml
    has no record of its stack: only its top is checked (``strict`` refuses it).

    Raises
    ------
    IntegrityError
        When a record does not verify, the chain of replaced versions is broken, a
        rollback record names a version the stack never held, a pruned stack differs
        from its signed digest, or (strict) an event or a pruned stack carries no record.
    """
    key = f"{name}@{alias}"

    def refuse(event: AuditEvent, why: str) -> IntegrityError:
        return IntegrityError(
            f"{key}: audit event {event.seq} {why}; the log was changed behind the "
            "registry, refusing to roll back",
            model_name=name,
        )

    events = metadata.history(name, alias)
    # The newest prune's saved stack stands for every event before it (the events a
    # prune keeps are older than the prune event, and replayed into its stack).
    prunes = [i for i, e in enumerate(events) if e.action == "prune_history"]
    stack: list[int] = []
    at: int | None = None  # where the previous event left the alias: nowhere at first
    for event in events[prunes[-1] if prunes else 0 :]:
        if "signed" not in event.detail:
            if trust.strict:
                raise refuse(event, "carries no signed record and the trust policy is strict")
            stack = replay_stack([event], stack)
            at = stack[-1] if stack else None
            continue
        record = verify_event(event, trust, registry)
        target = None if record["action"] == "delete_alias" else record["version"]
        if event.action == "prune_history":
            stack = replay_stack([event])
            if (stack[-1] if stack else None) != target:
                raise refuse(event, "saves a stack whose top is not its signed record's version")
            if "stack_signed" in event.detail:
                own = verify_event(event, trust, registry, key="stack_signed")
                if own["stack"] != _stack_digest(stack):
                    raise refuse(event, "saves a stack other than the one its record signed")
            elif trust.strict:
                raise refuse(
                    event,
                    "saves a stack without a signed record of it (pruned by an older prodml) "
                    "and the trust policy is strict",
                )
        else:
            if record["previous_version"] != at:
                raise refuse(
                    event,
                    f"replaced version {record['previous_version']} by its signed record, but "
                    f"the events before it left the alias at {at} (an event removed or edited)",
                )
            if record["action"] == "delete_alias":
                stack.clear()
            elif record["action"] == "rollback":
                while stack and stack[-1] != target:
                    stack.pop()
                if not stack:
                    raise refuse(event, f"rolled back to version {target}, never held before")
            elif not stack or stack[-1] != record["version"]:
                stack.append(record["version"])
        at = target
    return stack
