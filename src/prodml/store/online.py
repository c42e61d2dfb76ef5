"""The online store interface: the latest value of each view for each entity, fast.

An :class:`OnlineStore` keeps one record per (view, entity key): the view's storage
version, the event and created time (UTC microseconds) and the feature values as a JSON
array. Its primitives are few and plain (a conditional upsert in one transaction, a
read of many (view, key) pairs in one round trip, a small key-value state with a
compare-and-set); everything
else (encoding, typing, ttl, missing entities) is done once by
:class:`~prodml.store.FeatureStore`. Backends are chosen by URL scheme (see
:mod:`prodml.store.backends`); each passes
:class:`prodml.testing.store.OnlineStoreConformance`.

The write rule makes materialization idempotent and order-independent: a record replaces
the stored one when its version differs, when its ``(event, created)`` is greater, or when
that is equal and its values differ (a tie is won by the later write). Writing the same
records twice, or an old window after a new one, changes nothing and counts nothing.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple

from prodml.errors import ConfigError

__all__ = ["OnlineRecord", "OnlineStore", "StoredValue"]

_UPDATE_TRIES = 100
# The default compare_and_set_state's read and write under one lock: atomic among the
# threads of a process (state updates are rare: one per apply or materialize).
_DEFAULT_CAS = threading.Lock()


class OnlineRecord(NamedTuple):
    """One row to write: the entity key, storage version, times and JSON values."""

    key: str
    version: str
    event_us: int
    created_us: int
    payload: str


class StoredValue(NamedTuple):
    """One stored row as read back: storage version, event time and JSON values."""

    version: str
    event_us: int
    payload: str


class OnlineStore(abc.ABC):
    """Latest feature values per (view, entity key), plus a small state table.

    Subclasses implement :meth:`write`, :meth:`read`, :meth:`get_state`,
    :meth:`set_state` and :meth:`delete_view`, and should override
    :meth:`compare_and_set_state` with one conditional statement of the backend (its
    default reads then writes under a lock of the process: atomic among threads, but two
    processes can interleave).
    """

    @abc.abstractmethod
    def write(self, view: str, records: Sequence[OnlineRecord]) -> int:
        """Upsert ``records`` of ``view`` atomically under the write rule.

        Returns
        -------
        int
            How many records were inserted or replaced.
        """

    @abc.abstractmethod
    def read(self, pairs: Sequence[tuple[str, str]]) -> list[StoredValue | None]:
        """The stored value of each ``(view, key)`` pair, ``None`` where there is none."""

    @abc.abstractmethod
    def get_state(self, name: str) -> str | None:
        """The state value stored under ``name``, or ``None``."""

    @abc.abstractmethod
    def set_state(self, name: str, value: str) -> None:
        """Store ``value`` under ``name`` (atomically replacing the previous value)."""

    @abc.abstractmethod
    def delete_view(self, view: str) -> int:
        """Delete every record of ``view``; return how many there were."""

    def compare_and_set_state(self, name: str, expected: str | None, value: str) -> bool:
        """Store ``value`` under ``name`` if the stored value is ``expected``, atomically.

        ``expected=None`` means no value is stored.

        The default reads then writes under a lock of this process: atomic among its
        threads, not among processes. Backends shared by several processes override it
        with one conditional statement (SQLite, PostgreSQL and Redis do).

        Returns
        -------
        bool
            Whether ``value`` is now stored (``False``: another writer came first).
        """
        with _DEFAULT_CAS:
            current = self.get_state(name)
            if current != expected:
                return False
            self.set_state(name, value)
            return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fat base --------------------------------------------------------------------

    def read_one(self, view: str, key: str) -> StoredValue | None:
        """The stored value of one (view, key) pair."""
        return self.read([(view, key)])[0]

    def update_state(self, name: str, change: Callable[[str | None], str]) -> str:
        """Replace the state under ``name`` by ``change(current)``, never losing a writer's.

        A loop of :meth:`get_state` and :meth:`compare_and_set_state`: when another
        writer came between, ``change`` runs again on its value. Returns the stored value.
        """
        for _ in range(_UPDATE_TRIES):
            current = self.get_state(name)
            value = change(current)
            if self.compare_and_set_state(name, current, value):
                return value
        raise ConfigError(
            f"the state {name!r} of {type(self).__name__} changed under each of "
            f"{_UPDATE_TRIES} updates: too many concurrent writers, or a "
            "compare_and_set_state that never succeeds"
        )

    def write_all(self, view: str, records: Sequence[OnlineRecord], batch: int = 2_000) -> int:
        """:meth:`write` in batches of ``batch`` records (each batch one transaction)."""
        return sum(self.write(view, records[i : i + batch]) for i in range(0, len(records), batch))
