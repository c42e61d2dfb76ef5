"""An alias's rollback stack replayed from the audit log, and the plan of a history prune.

:func:`replay_stack` reads the events of one alias as pushes and pops (validating the
``rollback`` and ``prune_history`` events it relies on, since the log is read back from a
store); :func:`plan_prune` decides which events a ``prune_history`` removes and which
events it logs in their place (each alias's stack, so rollback survives the prune).
Both are re-exported by :mod:`prodml.registry.backends.metadata`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prodml.errors import IntegrityError, RegistryError
from prodml.registry._formats import RecordProblem
from prodml.registry._paths import MAX_VERSION
from prodml.registry.backends._records import EventDraft, EventSeal
from prodml.registry.entities import AuditEvent

__all__ = ["log_hole", "plan_prune", "replay_stack"]


def replay_stack(events: list[AuditEvent], start: list[int] | None = None) -> list[int]:
    """An alias's stack from its events, oldest first (see ``alias_stack``).

    ``start`` is the stack before the first event (empty by default).

    Raises
    ------
    RegistryError
        For a ``rollback`` event whose ``pop`` is not a count of versions (an int >= 1)
        or a ``prune_history`` event whose recorded stack is not a list of version
        numbers (a log edited by hand).
    """
    stack: list[int] = list(start or [])
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
    seal: EventSeal | None = None,
) -> tuple[list[int], list[EventDraft]]:
    """What pruning ``events`` (a model's whole log, oldest first) deletes and logs.

    ``seal`` (a signing registry's) signs each alias's event with the stack it saves.
    """
    protected = {e.seq for e in events[max(len(events) - keep, 0) :]} if keep else set()
    drop = [e for e in events if e.seq not in protected and (before is None or e.at < before)]
    if not drop:
        return [], []
    drafts = []
    for alias in sorted({e.alias for e in drop if e.alias is not None}):
        own = [e for e in events if e.alias == alias]
        stack = replay_stack(own)
        detail: dict[str, Any] = {"stack": stack}
        # The alias's newest signed record is carried forward, as it was signed, so a
        # verifier still finds it after the events that held it are gone.
        if own and isinstance(own[-1].detail.get("signed"), dict):
            detail["signed"] = own[-1].detail["signed"]
        drafts.append(
            EventDraft(
                name=name,
                action="prune_history",
                actor=actor,
                alias=alias,
                detail=detail,
                seal=seal,
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


def log_hole(
    name: str, what: str, records: list[AuditEvent | RecordProblem], err: IntegrityError
) -> IntegrityError:
    """The error of ``what`` (a reader of the whole log): where the holes are, how to fix.

    ``records`` is the log read event by event (a problem in place of each unreadable
    one); ``err`` is what reading it whole raised, returned as is when ``records`` has
    no problem to name.
    """
    holes = [r for r in records if isinstance(r, RecordProblem)]
    if not holes:
        return err
    named = ", ".join(
        f"seq {p.seq}" + ("" if p.version is None else f" (version {p.version})")
        for p in holes[:10]
    )
    more = f" and {len(holes) - 10} more" if len(holes) > 10 else ""
    it = "them" if len(holes) > 1 else "it"
    return IntegrityError(
        f"{what} reads the whole audit log of {name} and refuses one with holes: "
        f"{len(holes)} unreadable event{'s' if len(holes) > 1 else ''}, {named}{more} "
        f"(the first: {holes[0].message}). Restore {it} from a backup of the metadata "
        f"store, or delete {it} from its audit log (SQL stores: table prodml_events, "
        "column seq); history_page() reads the other events and lists these in "
        "page.problems",
        model_name=name,
        version=holes[0].version,
    )
