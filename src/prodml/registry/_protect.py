"""The registry's protections on the write and read paths: signing and encryption.

:func:`save` lets a flavour write a model (through a private directory when the files
are to be encrypted), :func:`sealer` signs a version once it has its number,
:func:`event_sealer` an alias move or status change once its event has its number, and
:func:`decrypt` turns a fetched, checked version back into plaintext for loading.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from prodml.errors import IntegrityError, ProdMLError, RegistryError, StorageError
from prodml.registry._validate import save_model
from prodml.registry.backends.metadata import EventDraft, EventSeal, Seal
from prodml.registry.encryption import KeyProvider, decrypt_tree, encrypt_tree
from prodml.registry.entities import Encryption, ModelVersion
from prodml.registry.flavours import Flavour
from prodml.registry.signing import Signer, _stack_digest, event_record, sign_version

__all__ = ["decrypt", "event_sealer", "save", "sealer", "stack_sealer"]


def save(
    fl: Flavour,
    model: Any,
    staging: Path,
    follow_symlinks: bool,
    keys: KeyProvider | None,
    *,
    artifact_key: str = "",
) -> tuple[dict[str, Any], Encryption | None]:
    """Let ``fl`` write ``model`` into ``staging``, or encrypt into it from a private dir.

    The plaintext of an encrypted registration never enters the store's staging area: it
    is written to a private temporary directory (0700), encrypted from there, and removed.
    Each encrypted file is bound to ``artifact_key`` and its path (associated data).
    """
    if keys is None:
        return save_model(fl, model, staging, follow_symlinks), None
    plain = Path(tempfile.mkdtemp(prefix="prodml-plain-"))
    try:
        meta = save_model(fl, model, plain, follow_symlinks)
        try:
            return meta, encrypt_tree(plain, staging, keys, artifact_key=artifact_key)
        except OSError as err:
            raise StorageError(
                f"cannot write the encrypted model into {staging}: {err.strerror or err}",
                path=str(staging),
                errno=err.errno,
            ) from err
    finally:
        shutil.rmtree(plain, ignore_errors=True)


def sealer(signer: Signer, registry: str | None = None) -> Seal:
    """The seal a metadata store applies to a numbered version: ``signer``'s signature.

    ``registry`` (the registry's identity) is named in what is signed.
    """

    def seal(mv: ModelVersion) -> ModelVersion:
        try:
            return sign_version(mv, signer, registry)
        except ProdMLError:
            raise
        except Exception as err:  # a KMS or HSM backend's own errors
            raise RegistryError(
                f"the signer could not sign {mv.ref} ({type(err).__name__}); nothing was "
                "registered",
                model_name=mv.name,
                version=mv.version,
            ) from err

    return seal


def event_sealer(
    signer: Signer,
    registry: str | None,
    *,
    digest: str | None,
    status: str | None = None,
    prior: tuple[int, str | None] | None = None,
    high: int | None = None,
) -> EventSeal:
    """The seal of an alias move or status change: its signed record, once numbered.

    It runs inside the store's transaction: a signer that fails leaves nothing changed.
    ``prior`` (a status change's link to the model's previous one: its sequence number
    and record digest) and ``high`` (the model's highest version number) go into the
    record as they are.
    """

    def seal(event: EventDraft, seq: int) -> dict[str, Any]:
        record = _event_record(
            signer,
            registry,
            event,
            seq,
            previous_version=event.previous_version,
            status=status,
            digest=digest,
            prior=None if prior is None else prior[0],
            prior_digest=None if prior is None else prior[1],
            high=high,
        )
        return {"signed": record}

    return seal


def _event_record(
    signer: Signer, registry: str | None, event: EventDraft, seq: int, **fields: Any
) -> dict[str, Any]:
    """``event``'s signed record, numbered ``seq``, with ``fields``.

    A signer's own failure is a :class:`RegistryError` saying nothing was changed.
    """
    try:
        return event_record(
            signer,
            registry=registry,
            name=event.name,
            action=event.action,
            seq=seq,
            at=event.at.isoformat(),
            alias=event.alias,
            version=event.version,
            **fields,
        )
    except ProdMLError:
        raise
    except Exception as err:  # a KMS or HSM backend's own errors
        raise RegistryError(
            f"the signer could not sign the {event.action} of {event.name} "
            f"({type(err).__name__}); nothing was changed",
            model_name=event.name,
        ) from err


def stack_sealer(signer: Signer, registry: str | None) -> EventSeal:
    """The seal of an alias's ``prune_history`` event: a record of the whole saved stack.

    Added as ``detail["stack_signed"]`` beside the alias's carried record: it names the
    event's own number, the top of the stack as its version and the sha256 of the
    whole stack, so an edit anywhere in the saved stack is refused at a rollback.
    """

    def seal(event: EventDraft, seq: int) -> dict[str, Any]:
        saved = event.detail.get("stack")
        if not isinstance(saved, list):  # pragma: no cover - plan_prune always saves one
            return {}
        record = _event_record(signer, registry, event, seq, stack=_stack_digest(saved))
        return {"stack_signed": record}

    return seal


def decrypt(mv: ModelVersion, src: Path, dst: Path, keys: KeyProvider | None) -> None:
    """Decrypt ``mv``'s checked files from ``src`` into ``dst``, naming the version on failure.

    Raises
    ------
    RegistryError
        When the registry holds no key provider.
    IntegrityError
        When a file fails decryption (wrong key, changed ciphertext), naming the file.
    """
    if mv.encryption is None:  # pragma: no cover - the caller checks
        raise RegistryError(f"{mv.ref} is not encrypted")
    if keys is None:
        raise RegistryError(
            f"{mv.ref} is encrypted (key {mv.encryption.key_id[:80]!r}); open the registry "
            "with encryption= (a KeyProvider holding that key) to load it",
            model_name=mv.name,
            version=mv.version,
        )
    try:
        decrypt_tree(src, dst, mv.files, keys, mv.encryption, artifact_key=mv.artifact_key)
    except IntegrityError as err:
        raise IntegrityError(
            f"{mv.name} version {mv.version}: {err}; refusing to load it",
            path=err.path,
            model_name=mv.name,
            version=mv.version,
        ) from None
