"""Copies and pickles of prodml objects (private): one rule for the whole package.

Two kinds of object hold something that cannot be copied:

- **Value objects** (rollout policies, :class:`~prodml.monitoring.ModelMonitor`,
  :class:`~prodml.privacy_dp.PrivacyBudget`) hold a lock only so that threads can share
  them. :class:`LockedState` drops the lock from the pickled state, reads the state under
  the lock (a copy taken while other threads update the object is consistent) and gives
  the copy a fresh lock of its own.
- **Connection holders** (registries and their backends, predictors, servers, retrain
  controllers, metric exporters registered with a collector) stand for a database, a
  bucket, a thread or a socket. A copy of one would be a second, unconnected object, so
  :class:`NotPicklable` refuses ``pickle`` and ``copy`` with an :class:`UnpicklableError`
  that says what to ship instead (the URLs, a ``to_dict()``).

Examples
--------
>>> import copy, pickle
>>> from prodml.privacy_dp import PrivacyBudget
>>> budget = PrivacyBudget(epsilon=1.0)
>>> budget.spend(0.25)
>>> twin = pickle.loads(pickle.dumps(budget))
>>> twin.spent, twin._lock is budget._lock
((0.25, 0.0), False)
>>> from prodml.registry import ModelRegistry
>>> copy.deepcopy(ModelRegistry("memory://", "memory://pickle-doc"))
Traceback (most recent call last):
...
prodml.errors.UnpicklableError: A ModelRegistry holds live connections, ... Ship the metadata
and artifact URLs (ModelRegistry(metadata_url, artifact_url)) and build a new ModelRegistry in
the worker.
"""

from __future__ import annotations

import copy
import threading
import types
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn

from prodml.errors import UnpicklableError

__all__ = ["LockedState", "NotPicklable", "UnpicklableError"]


def _deepcopy(value: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy``, but a bound C method (``rng.random``) follows its copied owner.

    ``copy`` treats built-in methods as atoms, so a copy would keep drawing from the
    original's generator. Functions of modules (``time.time``) stay as they are.
    """
    owner = getattr(value, "__self__", None)
    if (
        isinstance(value, types.BuiltinMethodType)
        and owner is not None
        and not isinstance(owner, types.ModuleType)
    ):
        return getattr(copy.deepcopy(owner, memo), value.__name__)
    return copy.deepcopy(value, memo)


class LockedState:
    """Pickles and deep-copies without the lock in ``_lock``; the copy gets a new lock.

    The state is deep-copied while the lock is held, so a copy made while other threads
    update the object sees either all or none of each update. Callables in the state
    (a ``clock``) are pickled by reference: ``time.time`` or a module-level function
    pickles, a lambda raises pickle's usual error; ``copy.deepcopy`` keeps the same one.
    """

    _lock: Any
    _new_lock: ClassVar[Callable[[], Any]] = threading.RLock
    """Makes the lock of a copy (``threading.Lock`` for classes that use a plain lock)."""

    def _copy_state(self, memo: dict[int, Any]) -> dict[str, Any]:
        # Deep, under the lock: the pickler or copier walks it after we release it.
        with self._lock:
            return {k: _deepcopy(v, memo) for k, v in self.__dict__.items() if k != "_lock"}

    def __getstate__(self) -> dict[str, Any]:
        # References back to this object stay references (pickle memoises them).
        return self._copy_state({id(self): self})

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = type(self)._new_lock()

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        cls = type(self)
        twin = cls.__new__(cls)
        memo[id(self)] = twin
        twin.__setstate__(self._copy_state(memo))
        return twin


class NotPicklable:
    """Refuses ``pickle``, ``copy.copy`` and ``copy.deepcopy`` with a message.

    Subclasses set ``_SHIP_INSTEAD`` to what a worker should receive instead.
    """

    _SHIP_INSTEAD: ClassVar[str] = "the settings it was built from"

    def _refuse_copy(self) -> NoReturn:
        name = type(self).__name__
        raise UnpicklableError(
            f"A {name} holds live connections, threads or registrations and cannot be "
            f"pickled or copied. Ship {self._SHIP_INSTEAD} and build a new {name} in "
            "the worker."
        )

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self._refuse_copy()

    def __copy__(self) -> NoReturn:
        self._refuse_copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> NoReturn:
        self._refuse_copy()
