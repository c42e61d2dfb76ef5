# S101: asserts are how a test suite checks; D102: each test's name says what it checks.
"""What a metadata store must do for signed alias records: seal events, keep an identity.

A registry with a ``signer=`` hands the store each alias move and status change as an
:class:`~prodml.registry.backends.metadata.EventDraft` whose ``seal`` signs it once it
has its sequence number. A store logs ``event.sealed(seq)`` (not the draft), inside the
transaction that writes it, so that a signer that fails changes nothing. It keeps the
registry's identity through ``MetadataStore._registry_id(create)``, so signatures name
their registry. A store that does neither still works, but its moves carry no record
(a strict trust policy refuses them) and its signatures name no registry: these checks
fail with a message saying what to implement.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from prodml.errors import IntegrityError, RegistryError
from prodml.registry import MetadataStore, ModelRegistry
from prodml.registry.signing import EVENT_PAYLOAD_TYPE, Ed25519Signer, TrustPolicy, verify_event
from prodml.testing.registry._common import _model, pytest

SIGN_HINT = "needs the 'sign' extra (cryptography): pip install 'prodml[sign]'"
SEAL_HOWTO = (
    "log event.sealed(seq) (the EventDraft with its signed record, given the sequence "
    "number the event gets) rather than the draft, inside the transaction that writes it"
)


class _EventsFail:
    """Signs versions, fails on alias and status records (a KMS that goes down)."""

    def __init__(self, inner: Ed25519Signer) -> None:
        self._inner = inner
        self.key_id = inner.key_id

    def sign(self, data: bytes) -> bytes:
        if EVENT_PAYLOAD_TYPE.encode() in data:
            raise OSError("the signing service is unreachable")
        return self._inner.sign(data)


def signing_registry(registry: ModelRegistry) -> tuple[ModelRegistry, TrustPolicy]:
    """``registry``'s stores under a new signer and a strict policy trusting it."""
    pytest.importorskip("cryptography", reason=SIGN_HINT)
    signer = Ed25519Signer.generate()
    trust = TrustPolicy([signer.verifier()], strict=True)
    reg = ModelRegistry(
        registry.metadata, registry.artifacts, actor="ci", signer=signer, trust=trust
    )
    return reg, trust


class SealConformance:
    """Signed alias and status records, and the registry identity (fixture ``registry``)."""

    @pytest.fixture
    def signing(self, registry: ModelRegistry) -> tuple[ModelRegistry, TrustPolicy]:
        return signing_registry(registry)

    def test_keeps_a_registry_identity(self, metadata_store: MetadataStore) -> None:
        kind = type(metadata_store).__name__
        found = metadata_store.registry_id()
        if found is None:
            pytest.fail(
                f"{kind} keeps no registry identity: implement "
                "MetadataStore._registry_id(create) to store one short random string per "
                "registry, made when create is true and none is stored (concurrent "
                "creators must read back the same one), so signatures name their registry"
            )
        assert isinstance(found, str)
        assert found
        again = metadata_store._registry_id(create=False)
        assert again == found, f"{kind}._registry_id(create=False) does not read back the id"
        assert metadata_store._registry_id(create=True) == found, (
            f"{kind}._registry_id(create=True) made a new id although one is stored"
        )

    def test_concurrent_creators_read_one_identity(self, registry: ModelRegistry) -> None:
        store = registry.metadata
        got: list[str | None] = []
        barrier = threading.Barrier(4)

        def create() -> None:
            barrier.wait()
            got.append(store._registry_id(create=True))

        threads = [threading.Thread(target=create) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if None in got:
            pytest.fail(f"{type(store).__name__} keeps no registry identity ({got})")
        assert len(set(got)) == 1, f"concurrent creators made different identities: {got}"

    def test_moves_and_status_changes_are_sealed(
        self, signing: tuple[ModelRegistry, TrustPolicy]
    ) -> None:
        reg, trust = signing
        kind = type(reg.metadata).__name__
        for _ in range(3):
            reg.register("m", _model())
        identity = reg.metadata.registry_id()
        steps: list[tuple[str, Callable[[], object]]] = [
            ("set_alias", lambda: reg.set_alias("m", "production", 1)),
            ("set_alias", lambda: reg.promote("m", "production", 2)),
            ("rollback", lambda: reg.rollback("m", "production")),
            ("archive", lambda: reg.archive("m", 3)),
            ("restore", lambda: reg.restore("m", 3)),
            ("set_alias", lambda: reg.set_alias("m", "staging", 3)),
            ("delete_alias", lambda: reg.delete_alias("m", "staging")),
        ]
        for action, step in steps:
            step()  # each checked before the next: a strict registry moves only sealed aliases
            event = reg.history("m", page_size=1).items[0]
            assert event.action == action
            if "signed" not in event.detail:
                pytest.fail(
                    f"{kind} logged the {event.action} event {event.seq} without its signed "
                    f"record (it ignores EventDraft.seal): {SEAL_HOWTO}"
                )
            try:
                verify_event(event, trust, identity)
            except IntegrityError as err:
                pytest.fail(
                    f"{kind} logged the {event.action} event {event.seq} with a record that "
                    f"does not verify ({err}): seal it with the sequence number it is "
                    f"stored under: {SEAL_HOWTO}"
                )
        assert reg.load("m@production") == _model()  # the strict policy accepts it

    def test_a_failing_seal_changes_nothing(
        self, signing: tuple[ModelRegistry, TrustPolicy]
    ) -> None:
        reg, _ = signing
        kind = type(reg.metadata).__name__
        for _ in range(2):
            reg.register("m", _model())
        reg.set_alias("m", "production", 1)
        assert isinstance(reg.signer, Ed25519Signer)
        failing = ModelRegistry(
            reg.metadata, reg.artifacts, actor="ci", signer=_EventsFail(reg.signer)
        )
        before = [e.seq for e in reg.history("m").items]
        for move in (
            lambda: failing.set_alias("m", "production", 2),
            lambda: failing.delete_alias("m", "production"),
            lambda: failing.archive("m", 2),
        ):
            try:
                move()
            except RegistryError as err:
                said = str(err)
            else:
                pytest.fail(
                    f"{kind} moved an alias or changed a status although its signer failed: "
                    f"it never called the event's seal; {SEAL_HOWTO}"
                )
            assert "nothing was changed" in said
            changed = (
                reg.aliases("m") != {"production": 1}
                or reg.get("m@2").status != "ready"
                or [e.seq for e in reg.history("m").items] != before
            )
            if changed:
                pytest.fail(
                    f"{kind} kept a change whose seal failed: call event.sealed(seq) before "
                    "the transaction commits, and let its error roll the transaction back"
                )
