"""The conformance suite fails a metadata store that ignores signed records or identity.

Two stores derived from the memory store each drop one duty: ``Unsealed`` logs the
draft instead of ``event.sealed(seq)``, ``Anonymous`` keeps no registry identity. The
suite's checks fail on them with a message saying what to implement; the stores prodml
ships pass them (``test_conformance.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest.importorskip("cryptography", reason="needs the 'sign' extra (cryptography)")

from prodml.registry import ModelRegistry
from prodml.registry.backends.memory import MemoryMetadataStore
from prodml.registry.backends.metadata import EventDraft
from prodml.registry.entities import AuditEvent
from prodml.testing.registry._sealing import SealConformance, signing_registry

Failed = pytest.fail.Exception


class Unsealed(MemoryMetadataStore):
    """Logs the draft as it came: its seal is never called."""

    def _stamp(self, event: EventDraft) -> AuditEvent:
        return event.build(self._seq[0] + 1)


class SealedAfter(MemoryMetadataStore):
    """Makes the change first, then seals its event: a failing seal leaves the change."""

    def _stamp(self, event: EventDraft) -> AuditEvent:
        self._draft = event
        return event.build(self._seq[0] + 1)

    def _commit(self, built: AuditEvent) -> None:
        super()._commit(built)
        sealed = self._draft.sealed(built.seq)  # may raise: too late
        self._log[built.name][-1] = sealed.build(built.seq)


class Anonymous(MemoryMetadataStore):
    """Keeps no registry identity (the base class's default)."""

    def _registry_id(self, create: bool) -> str | None:
        return None


def _registry(store: MemoryMetadataStore) -> Iterator[ModelRegistry]:
    reg = ModelRegistry(store, f"memory://sealing-{os.urandom(8).hex()}", actor="alice")
    yield reg
    reg.close()


@pytest.fixture
def suite() -> SealConformance:
    return SealConformance()


def test_a_store_that_ignores_the_seal_fails_with_what_to_do(suite: SealConformance) -> None:
    for reg in _registry(Unsealed()):
        with pytest.raises(Failed, match=r"without its signed record .*event\.sealed\(seq\)"):
            suite.test_moves_and_status_changes_are_sealed(signing_registry(reg))
    for reg in _registry(Unsealed()):
        with pytest.raises(Failed, match=r"never called the event's seal"):
            suite.test_a_failing_seal_changes_nothing(signing_registry(reg))


def test_a_store_that_seals_after_the_write_fails(suite: SealConformance) -> None:
    for reg in _registry(SealedAfter()):
        suite.test_moves_and_status_changes_are_sealed(signing_registry(reg))  # records: fine
    for reg in _registry(SealedAfter()):
        with pytest.raises(Failed, match="kept a change whose seal failed"):
            suite.test_a_failing_seal_changes_nothing(signing_registry(reg))


def test_a_store_without_identity_fails_with_what_to_do(suite: SealConformance) -> None:
    with pytest.raises(Failed, match=r"keeps no registry identity: implement .*_registry_id"):
        suite.test_keeps_a_registry_identity(Anonymous())
    for reg in _registry(Anonymous()):
        with pytest.raises(Failed, match="keeps no registry identity"):
            suite.test_concurrent_creators_read_one_identity(reg)
