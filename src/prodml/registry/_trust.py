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
from prodml.registry.backends.metadata import MetadataStore
from prodml.registry.entities import AuditEvent, ModelVersion
from prodml.registry.signing import TrustPolicy, _shown_id, verify_event, version_digest

__all__ = ["STATUS_ACTIONS", "check_status", "identity", "newest_status_event", "signed_stack"]

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


def newest_status_event(metadata: MetadataStore, mv: ModelVersion) -> AuditEvent | None:
    """The newest archive, restore or delete event of ``mv`` (``None``: never changed).

    Reads the model's log newest first, page by page, and stops at the version's
    ``register`` event (nothing older concerns it).

    Raises
    ------
    IntegrityError
        When an event of this version, newer than its registration, cannot be read.
    """
    token = None
    size = _FIRST_PAGE  # the newest version's events are near the top: read few first
    while True:
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
            if event.version != mv.version:
                continue
            if event.action in STATUS_ACTIONS:
                return event
            if event.action == "register":
                return None
        token = page.next_token
        if token is None:
            return None


def check_status(
    metadata: MetadataStore, trust: TrustPolicy, registry: str | None, mv: ModelVersion
) -> None:
    """Refuse ``mv`` when its row's status differs from its newest signed status record.

    A version never archived, restored or deleted has no status record: it is as it was
    registered (``ready``), which its version signature covers. A newest status event
    without a record (written by an older prodml, or a registry without a signer) is
    accepted unless the policy is ``strict``.

    Raises
    ------
    IntegrityError
        When the newest status event's record does not verify (forged, another
        registry's, another version's), names another status or manifest than the
        row's, or is missing under a strict policy.
    """
    event = newest_status_event(metadata, mv)
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
    policy is ``strict``. Replay starts at the newest ``prune_history`` event, whose
    saved stack is not signed: only its top is checked (it must be the version of the
    record it carries).

    Raises
    ------
    IntegrityError
        When a record does not verify, the chain of replaced versions is broken, a
        rollback record names a version the stack never held, or (strict) an event
        carries no record.
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
