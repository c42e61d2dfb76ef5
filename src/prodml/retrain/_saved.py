"""The triggers' part of the controller's JSON state: collected at each save, restored on load.

A trigger with state worth keeping across a restart (sums of a sequential test, a learned
baseline, an alarm not yet consumed, a follow-up watch) has ``state_dict()`` and
``load_state_dict(data, path=...)``; the controller keeps those states under the state's
``triggers`` key, by trigger name. Restoring validates each one (a
:class:`RetrainStateError` naming the path, e.g. ``triggers.error_rate.cusum[1]``) before
anything changes, so a hostile file changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prodml._quote import short_repr
from prodml.errors import ConfigError
from prodml.retrain._state import RetrainStateError
from prodml.retrain._triggers import Trigger

__all__ = ["check_stateful", "collect", "restore"]


def _stateful(trigger: Trigger) -> bool:
    return callable(getattr(trigger, "state_dict", None)) and callable(
        getattr(trigger, "load_state_dict", None)
    )


def check_stateful(triggers: Sequence[Trigger]) -> None:
    """Triggers with a saved state need distinct names (their key in the state)."""
    names = [t.name for t in triggers if _stateful(t)]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(
                f"two triggers with a saved state are both named {short_repr(name)}; give "
                "each its own name= (the name keys its state).",
                parameter="triggers",
            )


def collect(triggers: Sequence[Trigger]) -> dict[str, dict[str, Any]]:
    """Each stateful trigger's ``state_dict()``, by name."""
    return {t.name: dict(t.state_dict()) for t in triggers if _stateful(t)}  # type: ignore[attr-defined]


def restore(triggers: Sequence[Trigger], saved: Mapping[str, Any]) -> None:
    """Load each stateful trigger's saved state; a trigger without one starts afresh.

    Every state is validated (into a copy) before any trigger changes.
    """
    stateful = [t for t in triggers if _stateful(t) and t.name in saved]
    backups = [t.state_dict() for t in stateful]  # type: ignore[attr-defined]
    done = []
    try:
        for trig in stateful:
            trig.load_state_dict(saved[trig.name], path=f"triggers.{trig.name}")  # type: ignore[attr-defined]
            done.append(trig)
    except RetrainStateError:
        for trig, backup in zip(done, backups, strict=False):
            trig.load_state_dict(backup, path=f"triggers.{trig.name}")  # type: ignore[attr-defined]
        raise
