"""What a trust policy checks beyond a version's own signature: identity, status, chain.

:func:`identity` is the registry id signatures are checked against (and the one
``TrustPolicy(registry=)`` pins); :func:`check_status` holds a version's row against its
newest signed status record (archive, restore, delete), and the model's status records
after it against their chain (each names the one before it); :func:`signed_stack`
rebuilds an alias's rollback stack from its signed records, each of which names the
version it replaced, so an edited or deleted audit event cannot steer where a rollback
lands.
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
    _record_digest,
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

    One lookup of the version's newest status or ``register`` event (an index on the
    SQL store: the cost does not grow with the events of newer versions).

    With ``trust``, the model's status changes after it are read too, their records
    verified and their chain links followed: each names the model's status change
    before it (``prior``), and one naming an event newer than the version's that is not
    in the log means a status change was deleted from it (with the change it recorded).
    This costs one signature check (the newest record's) and one hash per status change
    newer than the version's (see :func:`_check_chain`).

    Raises
    ------
    IntegrityError
        When the version's newest status event cannot be read; with ``trust``, when a
        status record after it does not verify, or names a status change missing from
        the log.
    """
    found = metadata._events_by_action(
        mv.name, (*STATUS_ACTIONS, "register"), version=mv.version, limit=1
    )
    newest = found[0] if found else None
    if isinstance(newest, RecordProblem):
        raise IntegrityError(
            f"{mv.name} version {mv.version} has an audit event that cannot be read "
            f"(seq {newest.seq}), so its status cannot be checked; refusing to use it",
            model_name=mv.name,
            version=mv.version,
        )
    if trust is not None:
        _check_chain(metadata, trust, registry, mv, None if newest is None else newest.seq)
    if newest is None or newest.action == "register":
        return None
    return newest


def _check_chain(
    metadata: MetadataStore,
    trust: TrustPolicy,
    registry: str | None,
    mv: ModelVersion,
    floor: int | None,
) -> None:
    """Refuse when a status change after ``floor`` (a seq) was deleted from the chain.

    The newest status record's signature is checked; each record names its prior by seq
    and payload digest, so the records it vouches for are checked by hashing. A record
    no later one vouches for (written by concurrent writers, who both named the same
    prior, or by an older prodml) has its own signature checked.
    """
    later = metadata._events_by_action(mv.name, tuple(STATUS_ACTIONS), after=floor or 0)
    present: dict[int, AuditEvent] = {}
    for event in later:
        if isinstance(event, RecordProblem):
            raise IntegrityError(
                f"{mv.name}: audit event {event.seq}, a status change newer than version "
                f"{mv.version}'s, cannot be read, so the chain of status records cannot be "
                f"checked; refusing to use version {mv.version}",
                model_name=mv.name,
                version=mv.version,
            )
        present[event.seq] = event
    # Without the version's own event (pruned), below the oldest status change kept
    # nothing is checked: a prune may have removed the events there.
    bottom = floor if floor is not None else min(present, default=0)
    vouched: dict[int, str] = {}
    for seq, event in present.items():  # newest first
        if "signed" not in event.detail:
            continue
        record = verify_event(event, trust, registry, vouched=vouched.get(seq))
        prior = record["prior"]
        if prior is None or prior <= bottom:
            continue
        if prior not in present:
            raise IntegrityError(
                f"{mv.name}: the signed status record of audit event {seq} follows the "
                f"status change of audit event {prior}, which is missing from the log "
                "(deleted behind the registry, with the change it recorded?); refusing to "
                f"use version {mv.version}",
                model_name=mv.name,
                version=mv.version,
            )
        if record["prior_digest"] is not None and prior not in vouched:
            vouched[prior] = record["prior_digest"]


def status_head(metadata: MetadataStore, name: str) -> tuple[int, str | None] | None:
    """The model's newest status change (the next one's ``prior``): seq, record digest."""
    found = metadata._events_by_action(name, tuple(STATUS_ACTIONS), limit=1)
    head = found[0] if found else None
    if not isinstance(head, AuditEvent):
        return None
    signed = head.detail.get("signed")
    payload = signed.get("payload") if isinstance(signed, dict) else None
    return head.seq, _record_digest(payload) if isinstance(payload, str) else None


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
