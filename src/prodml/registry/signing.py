"""Signed versions: signers, verifiers, trust policies and the signed statement.

A registry given a ``signer`` signs, at registration, one statement per version: the
canonical JSON of :func:`statement` (every file's sha256, the artifact key, name, version,
flavour and its metadata, signature schema, lineage, metrics, tags and ``created_by``,
under a format tag). It is stored with the version as a DSSE-style
:class:`~prodml.registry.entities.Attestation`. A registry given a ``trust`` policy checks
it on every ``load``, ``verify`` and ``fetch``, before a file is read: a version that is
unsigned, signed by a key outside the policy, whose signature does not verify, or whose
stored fields differ from what was signed, raises :class:`~prodml.errors.IntegrityError`
naming the version and the key id.

New signatures name the registry (:meth:`MetadataStore.registry_id
<prodml.registry.backends.MetadataStore.registry_id>`, a random id the metadata store
keeps): the statement is then ``prodml-manifest-v2`` with a ``registry`` field, and a
version signed for one registry is refused in another one holding the same key. Older
``prodml-manifest-v1`` signatures still verify (a ``strict`` policy refuses them).

A signing registry also signs every alias move and status change (:func:`event_record`,
DSSE payload type :data:`EVENT_PAYLOAD_TYPE`): the registry, model, alias, version, the
version's manifest digest, the audit sequence number, the time. ``load("m@alias")``
under a trust policy checks the alias's newest record (:func:`verify_event`) and
refuses a database whose alias points elsewhere.

:class:`Signer` and :class:`Verifier` are small protocols, so a KMS or HSM backend plugs
in with a ``key_id`` and one method. :class:`Ed25519Signer` and :class:`Ed25519Verifier`
are the defaults (``pip install 'prodml[sign]'``, which brings ``cryptography``).

Examples
--------
>>> from prodml.registry import ModelRegistry
>>> from prodml.registry.signing import Ed25519Signer, TrustPolicy
>>> from prodml.schema import Column, Schema
>>> signer = Ed25519Signer.generate()
>>> reg = ModelRegistry(
...     "memory://", "memory://signing-doc", signer=signer, trust=TrustPolicy([signer.verifier()])
... )
>>> mv = reg.register("churn", Schema([Column("x", "float")]))
>>> mv.attestation.key_ids == (signer.key_id,)
True
>>> reg.load("churn@1").names
['x']
>>> reg.history("churn").items[0].detail["signer_key_id"] == signer.key_id
True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from prodml._durations import seconds
from prodml._extras import require
from prodml._files import PATH_QUOTE, os_reason
from prodml._pickle import NotPicklable
from prodml._quote import short_repr
from prodml.errors import ConfigError, IntegrityError
from prodml.fingerprint import canonical_json
from prodml.registry import _manifest
from prodml.registry.entities import Attestation, AuditEvent, ModelVersion

# Plain sorted() order, which tests/test_public_api.py checks (RUF022 would put PAYLOAD_TYPE first).
__all__ = [  # noqa: RUF022
    "EVENT_PAYLOAD_TYPE",
    "Ed25519Signer",
    "Ed25519Verifier",
    "PAYLOAD_TYPE",
    "Signer",
    "TrustPolicy",
    "UnsignedAliasWarning",
    "Verifier",
    "event_record",
    "pae",
    "sign_version",
    "statement",
    "verify_event",
    "verify_version",
    "version_digest",
]

PAYLOAD_TYPE = "application/vnd.prodml.model-version+json"
"""The DSSE payload type of a version's signed statement."""

EVENT_PAYLOAD_TYPE = "application/vnd.prodml.registry-event+json"
"""The DSSE payload type of a signed alias move or status change."""

BOUND_FORMAT = "prodml-manifest-v2"
"""The format of a version statement that names its registry."""
EVENT_FORMAT = "prodml-event-v2"
"""The format of the signed records this prodml writes (``prior``, ``high``, ``stack``)."""
EVENT_FORMAT_V1 = "prodml-event-v1"
"""The format of the records older prodml wrote (still read; they carry no chain links)."""
TRUST_FORMAT = "prodml-trust-v1"
_MAX_SIGNATURES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9:/_.@+=-]{1,100}")
"""What a stored key id must look like to be repeated in a message (KMS ARNs included)."""
_REGISTRY_ID = _KEY_ID
"""What a pinned registry id must look like (the stores make 32 hex digits)."""


class UnsignedAliasWarning(UserWarning):
    """An alias loaded under a trust policy was last moved without a signed record."""


@runtime_checkable
class Signer(Protocol):
    """Signs bytes with one key; ``key_id`` names the key (never the key itself)."""

    @property
    def key_id(self) -> str:
        """A stable, public name of the key, recorded with every signature."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The signature of ``data``."""
        ...


@runtime_checkable
class Verifier(Protocol):
    """Checks signatures made by one key."""

    @property
    def key_id(self) -> str:
        """The key id its signer records."""
        ...

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data``."""
        ...


def _crypto() -> Any:
    return require(
        "cryptography.hazmat.primitives.asymmetric.ed25519", extra="sign", feature="signing"
    )


def _key_id(raw_public: bytes) -> str:
    return "ed25519:" + hashlib.sha256(raw_public).hexdigest()[:32]


def _read_key(source: bytes | str | os.PathLike[str], what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    path = Path(source)
    try:
        return path.read_bytes()
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        shown = short_repr(str(path), limit=PATH_QUOTE)
        raise ConfigError(f"cannot read the {what} file {shown}: {os_reason(err)}") from None


class Ed25519Verifier:
    """Checks Ed25519 signatures of one public key.

    Parameters
    ----------
    public_key
        The raw 32-byte public key.
    """

    def __init__(self, public_key: bytes) -> None:
        ed = _crypto()
        if not isinstance(public_key, bytes) or len(public_key) != 32:
            raise ConfigError("an Ed25519 public key is 32 raw bytes", parameter="public_key")
        self._key = ed.Ed25519PublicKey.from_public_bytes(public_key)
        self._raw = public_key
        self._id = _key_id(public_key)

    @classmethod
    def from_pem(cls, pem: bytes | str | os.PathLike[str]) -> Ed25519Verifier:
        """A verifier from a PEM public key (bytes, or a path to a file)."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        ed = _crypto()
        data = _read_key(pem, "public key")
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            raise ConfigError("not a PEM public key", parameter="public_key") from None
        if not isinstance(key, ed.Ed25519PublicKey):
            raise ConfigError("the PEM public key is not an Ed25519 key", parameter="public_key")
        return cls(key.public_bytes_raw())

    @property
    def key_id(self) -> str:
        """``ed25519:`` and the first 128 bits of the sha256 of the raw public key."""
        return self._id

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self._raw

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        return bytes(
            self._key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data``."""
        from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Ed25519Verifier(key_id={self._id!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickles as its public bytes (the cryptography key object does not pickle).
        return (type(self), (self._raw,))


class Ed25519Signer(NotPicklable):
    """Signs with an Ed25519 private key held in this process.

    Build one with :meth:`generate`, :meth:`from_pem` (a PKCS#8 PEM file or bytes,
    optionally encrypted) or from the raw 32-byte private key. The key never appears in
    a repr, message or audit entry: only :attr:`key_id` does. Nor does it go into a
    pickle or a copy: those raise, and a worker loads the key itself (:meth:`from_pem`).

    Examples
    --------
    >>> signer = Ed25519Signer.generate()
    >>> signer.verifier().verify(b"data", signer.sign(b"data"))
    True
    >>> signer.key_id.startswith("ed25519:")
    True
    """

    def __init__(self, private_key: bytes) -> None:
        ed = _crypto()
        if not isinstance(private_key, bytes) or len(private_key) != 32:
            raise ConfigError("an Ed25519 private key is 32 raw bytes", parameter="private_key")
        self._key = ed.Ed25519PrivateKey.from_private_bytes(private_key)
        self._verifier = Ed25519Verifier(self._key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """A signer with a fresh random key."""
        return cls(_crypto().Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_pem(
        cls, pem: bytes | str | os.PathLike[str], password: bytes | None = None
    ) -> Ed25519Signer:
        """A signer from a PKCS#8 PEM private key (bytes, or a path to a file)."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        ed = _crypto()
        data = _read_key(pem, "private key")
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError):
            raise ConfigError(
                "not a PEM private key, or a wrong or missing password", parameter="private_key"
            ) from None
        if not isinstance(key, ed.Ed25519PrivateKey):
            raise ConfigError("the PEM private key is not an Ed25519 key", parameter="private_key")
        return cls(key.private_bytes_raw())

    _SHIP_INSTEAD = "the path of its PEM file (keys stay out of pickles)"

    def private_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted with ``password`` when given."""
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        encryption: Any = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return bytes(
            self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            )
        )

    @property
    def key_id(self) -> str:
        """The key id of the public half (see :attr:`Ed25519Verifier.key_id`)."""
        return self._verifier.key_id

    def verifier(self) -> Ed25519Verifier:
        """The verifier of this key's signatures (its public half)."""
        return self._verifier

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return bytes(self._key.sign(data))

    def __repr__(self) -> str:
        return f"Ed25519Signer(key_id={self.key_id!r})"


class TrustPolicy:
    """Which keys a registry trusts, and whether every version must be signed.

    Parameters
    ----------
    verifiers
        One :class:`Verifier` per trusted key.
    require_signature
        ``True`` (the default): an unsigned version is refused. ``False`` lets unsigned
        versions load (for a migration period only: whoever can write the database can
        then strip a signature); a version that *is* signed must still verify with a
        trusted key.
    strict
        ``False`` (the default) accepts what registries wrote before signatures named
        the registry and alias moves were signed: a version signature without a
        registry verifies, and loading through an alias whose newest event carries no
        signed record warns (:class:`UnsignedAliasWarning`) and loads. ``True`` refuses
        both: set it once every writer signs with a prodml that records them.
    registry
        The identity of the one registry this client trusts (read it from
        :attr:`ModelRegistry.registry_id <prodml.registry.ModelRegistry.registry_id>`
        once, and ship it with the public keys). Without it the identity is read from
        the metadata store, so a writer of the database who swaps the identity row (to
        the id of another registry signed by the same key, whose rows they copied in)
        is not noticed; with it, a store keeping any other identity, or none, is
        refused at every signed read and write.
    max_age
        How old (seconds or a timedelta) the newest signed record of an alias may be
        when a model is loaded through it (TUF's timestamp role, made simple): a
        database frozen at an old, validly signed state is refused once its records age
        past it. The writer must then re-sign the alias in time, e.g. from a scheduled
        job: ``set_alias(name, alias, v, expected_version=v)`` logs a fresh record
        without moving it. ``None`` (the default): records do not expire.

    Examples
    --------
    >>> signer = Ed25519Signer.generate()
    >>> policy = TrustPolicy([signer.verifier()])
    >>> policy.key_ids == frozenset({signer.key_id})
    True
    >>> TrustPolicy.from_dict(policy.to_dict()).key_ids == policy.key_ids
    True
    """

    def __init__(
        self,
        verifiers: Iterable[Verifier],
        *,
        require_signature: bool = True,
        strict: bool = False,
        registry: str | None = None,
        max_age: float | timedelta | None = None,
    ) -> None:
        found: dict[str, Verifier] = {}
        for v in verifiers:
            if not isinstance(v, Verifier):
                raise ConfigError(
                    f"a trust policy takes Verifier objects (key_id and verify); got "
                    f"{type(v).__name__}",
                    parameter="verifiers",
                )
            found[v.key_id] = v
        if not isinstance(require_signature, bool):
            raise ConfigError("require_signature must be True or False", parameter="trust")
        if not isinstance(strict, bool):
            raise ConfigError("strict must be True or False", parameter="trust")
        if registry is not None and not (
            isinstance(registry, str) and _REGISTRY_ID.fullmatch(registry)
        ):
            raise ConfigError(
                "The 'registry' parameter of TrustPolicy must be a registry id (1-100 "
                "letters, digits and ':/_.@+=-', as ModelRegistry.registry_id returns). Got "
                f"{short_repr(registry)} instead.",
                parameter="registry",
            )
        self._verifiers = found
        self.require_signature = require_signature
        self.strict = strict
        self.registry = registry
        self.max_age: float | None = (
            None if max_age is None else seconds(max_age, "max_age", "TrustPolicy")
        )

    @property
    def key_ids(self) -> frozenset[str]:
        """The ids of the trusted keys."""
        return frozenset(self._verifiers)

    def verifier(self, key_id: str) -> Verifier | None:
        """The trusted verifier of ``key_id``, or ``None``."""
        return self._verifiers.get(key_id)

    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-able data (public keys only; Ed25519 verifiers only)."""
        keys = []
        for v in self._verifiers.values():
            if not isinstance(v, Ed25519Verifier):
                raise ConfigError(
                    f"only Ed25519 verifiers serialise; {v.key_id!r} is a {type(v).__name__}"
                )
            keys.append({"key_id": v.key_id, "public_key": base64.b64encode(v.public_key).decode()})
        return {
            "format": TRUST_FORMAT,
            "require_signature": self.require_signature,
            "strict": self.strict,
            "registry": self.registry,
            "max_age": self.max_age,
            "keys": sorted(keys, key=lambda k: k["key_id"]),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrustPolicy:
        """Rebuild a policy from :meth:`to_dict`, checking every field and key id.

        Raises
        ------
        ConfigError
            When the format is unknown, a field is missing or of the wrong type, a key
            is not a base64 Ed25519 public key, or a key id does not match its key.
        """
        if not isinstance(data, Mapping) or data.get("format") != TRUST_FORMAT:
            raise ConfigError(f"a trust policy must be a mapping with format {TRUST_FORMAT!r}")
        keys = data.get("keys")
        require_signature = data.get("require_signature")
        strict = data.get("strict", False)  # absent from policies written before it
        registry = data.get("registry")  # likewise
        max_age = data.get("max_age")  # likewise
        if not isinstance(keys, list) or not isinstance(require_signature, bool):
            raise ConfigError("a trust policy needs 'keys' (a list) and 'require_signature'")
        if not isinstance(strict, bool):
            raise ConfigError("a trust policy's 'strict' must be true or false")
        verifiers = []
        for i, entry in enumerate(keys):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("public_key"), str):
                raise ConfigError(f"trust policy key {i} needs a base64 'public_key'")
            try:
                raw = base64.b64decode(entry["public_key"], validate=True)
            except (binascii.Error, ValueError):  # ValueError: a non-ASCII string
                raise ConfigError(f"trust policy key {i} is not valid base64") from None
            v = Ed25519Verifier(raw)
            if entry.get("key_id") != v.key_id:
                raise ConfigError(f"trust policy key {i}: its key_id does not match its key")
            verifiers.append(v)
        return cls(
            verifiers,
            require_signature=require_signature,
            strict=strict,
            registry=registry,
            max_age=max_age,
        )

    def __repr__(self) -> str:
        ids = ", ".join(sorted(self._verifiers))
        strict = ", strict=True" if self.strict else ""
        pinned = "" if self.registry is None else f", registry={self.registry!r}"
        pinned += "" if self.max_age is None else f", max_age={self.max_age:g}"
        return f"TrustPolicy([{ids}], require_signature={self.require_signature}{strict}{pinned})"


def statement(mv: ModelVersion, registry: str | None = None) -> bytes:
    """The bytes a version's signature covers: the canonical JSON of its signed fields.

    Without ``registry`` this is :func:`prodml.registry._manifest.canonical` (format
    ``prodml-manifest-v1``, what older prodml signed); with it, the same fields under
    format ``prodml-manifest-v2`` plus ``registry``, the identity of the registry the
    version belongs to.
    """
    if registry is None:
        return _manifest.canonical(mv)
    return canonical_json(_bound(mv, registry)).encode("utf-8")


def _bound(mv: ModelVersion, registry: str) -> dict[str, Any]:
    return {**_manifest.payload(mv), "format": BOUND_FORMAT, "registry": registry}


def version_digest(mv: ModelVersion) -> str:
    """The sha256 of ``mv``'s manifest (:func:`statement` without a registry), hex.

    An alias record names the version it points at by number *and* by this digest.
    """
    return hashlib.sha256(_manifest.canonical(mv)).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of a payload and its type.

    Examples
    --------
    >>> pae("t", b"hi")
    b'DSSEv1 1 t 2 hi'
    """
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _check_key_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not 0 < len(key_id) <= 200:
        raise ConfigError("a signer's key_id must be a non-empty string of at most 200 chars")
    return key_id


def sign_version(mv: ModelVersion, signer: Signer, registry: str | None = None) -> ModelVersion:
    """``mv`` with an attestation: ``signer``'s signature of :func:`statement`.

    ``registry`` (the registry's identity) is named in what is signed when given.
    """
    body = statement(mv, registry)
    key_id = _check_key_id(signer.key_id)
    sig = signer.sign(pae(PAYLOAD_TYPE, body))
    attestation = Attestation(
        payload_type=PAYLOAD_TYPE,
        payload=base64.b64encode(body).decode("ascii"),
        signatures=((key_id, base64.b64encode(sig).decode("ascii")),),
    )
    return mv.model_copy(update={"attestation": attestation})


def verify_version(
    mv: ModelVersion, policy: TrustPolicy, registry: str | None = None
) -> str | None:
    """The trusted key id whose signature of ``mv`` verifies (``None`` if unsigned and allowed).

    ``registry`` is the identity of the registry reading ``mv``: a signature naming
    another registry is refused; one naming none (made before signatures named their
    registry) verifies unless the policy is ``strict``.

    Raises
    ------
    IntegrityError
        Naming the version, and the key id where there is one: the version is unsigned
        and the policy requires a signature; the envelope is malformed; it was signed
        for another registry; a stored field differs from what was signed (the fields
        are named); no signature is by a trusted key; or a trusted key's signature does
        not verify.
    """

    def refuse(why: str) -> IntegrityError:
        return IntegrityError(
            f"{mv.name} version {mv.version} {why}; refusing to use it",
            model_name=mv.name,
            version=mv.version,
        )

    att = mv.attestation
    if att is None:
        if policy.require_signature:
            raise refuse("is unsigned and the trust policy requires a signature")
        return None
    if att.payload_type != PAYLOAD_TYPE or not 0 < len(att.signatures) <= _MAX_SIGNATURES:
        raise refuse("has a malformed signature envelope")
    try:
        signed = base64.b64decode(att.payload, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a non-ASCII string
        raise refuse("has a signature envelope whose payload is not base64") from None
    original = _json_object(signed)
    if original is not None and original.get("format") == BOUND_FORMAT:
        named = original.get("registry")
        if registry is None:
            raise refuse(
                f"is signed for registry {_shown_id(named)}, and no registry identity was "
                "given to check it against (registry=, or a store that keeps one)"
            )
        if named != registry:
            raise refuse(
                f"was signed for another registry ({_shown_id(named)}), not this one "
                f"({_shown_id(registry)}): a version copied between registries"
            )
        expected = _bound(mv, registry)
    else:
        if policy.strict:
            raise refuse(
                "carries a signature that does not name its registry (made by an older "
                "prodml) and the trust policy is strict"
            )
        expected = _manifest.payload(mv)
    body = canonical_json(expected).encode("utf-8")
    if signed != body:
        raise refuse(f"differs from what was signed ({_changed(signed, original, expected)})")
    return _check_signatures(att.signatures, PAYLOAD_TYPE, body, policy, refuse)


def _check_signatures(
    signatures: Iterable[tuple[str, str]],
    payload_type: str,
    body: bytes,
    policy: TrustPolicy,
    refuse: Any,
) -> str:
    """The first trusted key id whose signature verifies; ``refuse(why)`` otherwise."""
    message = pae(payload_type, body)
    unknown = []
    for key_id, sig in signatures:
        verifier = policy.verifier(key_id)
        if verifier is None:
            unknown.append(key_id)
            continue
        try:
            raw = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):  # ValueError: a non-ASCII string
            raw = b""
        if not verifier.verify(message, raw):
            raise refuse(f"carries a signature by key {key_id!r} that does not verify")
        return key_id
    shown = ", ".join(map(_shown_key_id, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
    raise refuse(f"is signed only by key(s) {shown}, which the trust policy does not trust")


def event_record(
    signer: Signer,
    *,
    registry: str | None,
    name: str,
    action: str,
    seq: int,
    at: str,
    alias: str | None = None,
    version: int | None = None,
    previous_version: int | None = None,
    status: str | None = None,
    digest: str | None = None,
    prior: int | None = None,
    prior_digest: str | None = None,
    high: int | None = None,
    stack: str | None = None,
) -> dict[str, Any]:
    """The signed record of one alias move or status change, for an event's ``detail``.

    The payload is the canonical JSON of every argument but ``signer`` (format
    ``prodml-event-v2``); ``seq`` is the audit event's sequence number, increasing with
    every event of the model, and ``digest`` the :func:`version_digest` of the version
    the alias now points at (or whose status changed). ``prior`` chains a status record
    to the model's previous status change (its sequence number; ``None``: the first)
    and ``prior_digest`` to that change's record (the sha256 of its stored payload),
    ``high`` is the highest version number the model had when it was signed, and
    ``stack`` the sha256 of the rollback stack a ``prune_history`` event saves (of its
    canonical JSON, oldest first). Stored as
    ``{"payload": base64, "signatures": [[key_id, base64]]}``.
    """
    body = canonical_json(
        {
            "format": EVENT_FORMAT,
            "registry": registry,
            "model": name,
            "action": action,
            "alias": alias,
            "version": version,
            "previous_version": previous_version,
            "status": status,
            "digest": digest,
            "seq": seq,
            "at": at,
            "prior": prior,
            "prior_digest": prior_digest,
            "high": high,
            "stack": stack,
        }
    ).encode("utf-8")
    key_id = _check_key_id(signer.key_id)
    sig = signer.sign(pae(EVENT_PAYLOAD_TYPE, body))
    return {
        "payload": base64.b64encode(body).decode("ascii"),
        "signatures": [[key_id, base64.b64encode(sig).decode("ascii")]],
    }


_EVENT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "registry": (str, type(None)),
    "model": str,
    "action": str,
    "alias": (str, type(None)),
    "version": (int, type(None)),
    "previous_version": (int, type(None)),
    "status": (str, type(None)),
    "digest": (str, type(None)),
    "seq": int,
    "at": str,
}
_EVENT_FIELDS_V2: dict[str, type | tuple[type, ...]] = {
    **_EVENT_FIELDS,
    "prior": (int, type(None)),
    "prior_digest": (str, type(None)),
    "high": (int, type(None)),
    "stack": (str, type(None)),
}
_V2_ONLY = ("prior", "prior_digest", "high", "stack")


def _record_digest(payload: str) -> str:
    """The sha256 (hex) of a stored record's base64 ``payload``, as a chained record names it.

    A status record names the previous one by this digest, so a reader checks the
    signature of the newest record only and the chain below it by hashing.
    """
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _stack_digest(stack: Iterable[int]) -> str:
    """The sha256 (hex) of an alias's rollback stack, oldest first, as a record names it.

    Examples
    --------
    >>> _stack_digest([1, 2]) == _stack_digest((1, 2)) != _stack_digest([2, 1])
    True
    """
    return hashlib.sha256(canonical_json([int(v) for v in stack]).encode("utf-8")).hexdigest()


def verify_event(
    event: AuditEvent,
    policy: TrustPolicy,
    registry: str | None,
    *,
    key: str = "signed",
    vouched: str | None = None,
) -> dict[str, Any]:
    """The signed record an audit event carries, after checking it; its payload as a dict.

    The record's signature must verify with a trusted key, name ``registry`` and this
    event's model, action, alias and version, and carry this event's sequence number;
    a ``prune_history`` event carries the record of the alias's newest event from
    before the pruning (an earlier number, and that event's action) under ``signed``,
    and its own record, naming the stack it saves, under ``stack_signed`` (pass
    ``key="stack_signed"``). A ``prodml-event-v1`` record (older prodml) reads with
    ``prior``, ``high`` and ``stack`` set to ``None`` and ``format`` naming it.
    ``vouched`` is the digest a verified record names for this one (its
    ``prior_digest``): a payload with that digest is authentic without a signature check.

    Raises
    ------
    IntegrityError
        When the event carries no record, or a malformed, untrusted, non-verifying or
        mismatched one (naming the model and the event's sequence number).
    """

    def refuse(why: str) -> IntegrityError:
        return IntegrityError(
            f"audit event {event.seq} of {event.name} {why}; refusing to trust it",
            model_name=event.name,
        )

    signed = event.detail.get(key)
    if not isinstance(signed, dict):
        raise refuse("carries no signed record")
    sigs = signed.get("signatures")
    if (
        not isinstance(signed.get("payload"), str)
        or not isinstance(sigs, list)
        or not 0 < len(sigs) <= _MAX_SIGNATURES
        or not all(
            isinstance(x, list) and len(x) == 2 and all(isinstance(y, str) for y in x) for x in sigs
        )
    ):
        raise refuse("has a malformed signed record")
    try:
        body = base64.b64decode(signed["payload"], validate=True)
    except (binascii.Error, ValueError):
        raise refuse("has a signed record whose payload is not base64") from None
    if vouched is None:
        _check_signatures([(k, v) for k, v in sigs], EVENT_PAYLOAD_TYPE, body, policy, refuse)
    elif _record_digest(signed["payload"]) != vouched:
        raise refuse("differs from the record the next status record was chained to")
    record = _json_object(body)
    fields = _EVENT_FIELDS_V2 if record is not None and len(record) > len(_EVENT_FIELDS) else None
    fields = fields or _EVENT_FIELDS
    if (
        record is None
        or set(record) != set(fields)
        or record["format"] != (EVENT_FORMAT if fields is _EVENT_FIELDS_V2 else EVENT_FORMAT_V1)
        or any(
            not isinstance(record[k], t) or isinstance(record[k], bool) for k, t in fields.items()
        )
    ):
        raise refuse("has a signed record this prodml cannot read")
    for k in _V2_ONLY:
        record.setdefault(k, None)
    if record["registry"] != registry:
        raise refuse(
            f"carries a record signed for another registry ({_shown_id(record['registry'])}), "
            f"not this one ({_shown_id(registry)})"
        )
    carried = event.action == "prune_history" and key == "signed"
    expected: dict[str, Any] = {"model": event.name, "alias": event.alias}
    if not carried:
        expected.update(action=event.action, version=event.version, seq=event.seq)
    wrong = sorted(k for k, v in expected.items() if record[k] != v)
    if carried and not record["seq"] < event.seq:
        wrong.append("seq")
    if wrong:
        raise refuse(f"differs from its signed record ({', '.join(wrong)})")
    return record


def _record_age(record: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """Seconds since a verified record was signed (its ``at``); ``None`` if unreadable."""
    try:
        at = datetime.fromisoformat(str(record["at"]))
    except (KeyError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return ((now or datetime.now(timezone.utc)) - at).total_seconds()


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _shown_id(registry: object) -> str:
    """A registry id for a message: quoted when it looks like one, else described."""
    if registry is None:
        return "none"
    if isinstance(registry, str) and _KEY_ID.fullmatch(registry):
        return repr(registry)
    return "an id that is not one"


def _shown_key_id(key_id: str) -> str:
    """A stored key id for a message: quoted when it looks like one, else described.

    The envelope is read back from the store, so its key ids are hostile: a trusted one
    (quoted above) is ours, an unknown one is shown only when short and plain.
    """
    if _KEY_ID.fullmatch(key_id):
        return repr(key_id)
    return f"<a key id that is not one ({len(key_id)} characters)>"


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def _changed(signed: bytes, original: dict[str, Any] | None, current: dict[str, Any]) -> str:
    """Which signed fields differ from the signed statement, for a message."""
    if original is None:
        return "the signed payload is " + ("not an object" if _is_json(signed) else "not JSON")
    fields = sorted(k for k in set(original) | set(current) if original.get(k) != current.get(k))
    if not fields:  # same values, other bytes: a non-canonical payload
        return "the signed payload is not canonical"
    return "changed: " + ", ".join(f[:40] for f in fields[:12])
