"""Registry entities: model versions, lineage, audit events and pages of results.

Every backend returns these pydantic models, never raw rows, so code written against one
store works against any other.

Examples
--------
>>> from prodml.registry.entities import Lineage
>>> Lineage(code_version="abc123", parent_version=2).parent_version
2
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prodml._secrets import MASK, is_secret_name, mask_secret_keys, mask_secrets
from prodml.errors import ConfigError
from prodml.registry._formats import RecordProblem
from prodml.schema import Schema

__all__ = [
    "Attestation",
    "AuditEvent",
    "Encryption",
    "Lineage",
    "ModelVersion",
    "Page",
    "Status",
    "check_alias",
    "check_name",
]

Status = Literal["ready", "archived", "deleted"]
Action = Literal[
    "register",
    "set_alias",
    "delete_alias",
    "rollback",
    "archive",
    "restore",
    "delete",
    "prune_history",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
RESERVED_ALIASES = frozenset({"latest"})

T = TypeVar("T")


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`ConfigError`.

    A model name is 1-128 characters of letters, digits, ``_``, ``.`` and ``-``, starting
    with a letter or digit, and never ``..``: it becomes part of storage keys, so
    separators and path traversal are refused.

    Examples
    --------
    >>> check_name("churn-v2")
    'churn-v2'
    >>> check_name("../etc")
    Traceback (most recent call last):
    ...
    prodml.errors.ConfigError: Invalid model name '../etc': ...
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"Invalid model name {_short(name)}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, without '..' or path separators",
            parameter="name",
        )
    return name


def check_alias(alias: object) -> str:
    """Return ``alias`` if it is a valid alias name, else raise :class:`ConfigError`.

    Aliases start with a letter or ``_`` (so ``churn@3`` always means version 3) and
    ``latest`` is reserved.

    Examples
    --------
    >>> check_alias("production")
    'production'
    """
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias in RESERVED_ALIASES:
        raise ConfigError(
            f"Invalid alias {_short(alias)}: use 1-64 letters, digits, '_' or '-', starting with a "
            "letter or '_'; 'latest' is reserved",
            parameter="alias",
        )
    return alias


def _short(value: object) -> str:
    """A user value for a message: at most 60 characters of it."""
    if isinstance(value, str):
        return repr(value[:60]) + ("..." if len(value) > 60 else "")
    return repr(value) if value is None or isinstance(value, int | float) else type(value).__name__


def _masked(value: Any) -> Any:
    """``value`` as a repr may show it, credentials masked at any depth.

    Credentials in URLs, AWS key ids and the values under credential-like keys (see
    :mod:`prodml._secrets`).
    """
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, Mapping):
        return mask_secret_keys({k: _masked(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return type(value)(_masked(v) for v in value)
    return value


class _MaskedRepr(BaseModel):
    """A model whose ``repr`` and ``str`` mask the credentials a user's free text may hold.

    Reprs end up in logs and tracebacks; the stored values and ``model_dump`` are the
    user's own and stay as written.
    """

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, _masked(value)


class _Frozen(_MaskedRepr):
    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")


class Lineage(_MaskedRepr):
    """Where a model version came from.

    Known fields are typed; any other JSON-able key (``run_id``, ``dataset``...) is kept.
    ``feature_views`` maps each feature store view a training set read to the fingerprint
    of its definition (``prodml.store.TrainingSet.lineage()`` fills it). Its ``repr``
    masks credentials (a ``code_version`` clone URL's token, an extra key such as
    ``api_token``); the stored values are kept as given.

    >>> Lineage(code_version="https://ci:tok3n@git.example/r.git", api_token="t0k3n")
    Lineage(..., code_version='https://ci:***@git.example/r.git', ..., api_token='***')
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="allow")

    def __repr_args__(self) -> Any:
        extra = self.__pydantic_extra__ or {}
        for name, value in super().__repr_args__():
            yield name, MASK if name in extra and is_secret_name(name) else value

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "lineage"
            raise ConfigError(
                f"Invalid Lineage: {where}: {first['msg']}", parameter="lineage"
            ) from err

    data_fingerprint: str | None = None
    pipeline_fingerprint: str | None = None
    code_version: str | None = None
    parent_version: int | None = None
    feature_views: dict[str, str] | None = None


class Attestation(_Frozen):
    """A signed statement about a version: a DSSE-style envelope.

    ``payload`` is the base64 of the canonical JSON the signatures cover (what
    :func:`prodml.registry.signing.statement` builds from the version), ``payload_type``
    names its layout, and ``signatures`` pairs each key id with a base64 signature over
    the DSSE pre-authentication encoding of the two. :meth:`to_dsse` gives the standard
    DSSE JSON, which tools outside prodml can check.

    Examples
    --------
    >>> att = Attestation(payload_type="t", payload="e30=", signatures=(("k1", "c2ln"),))
    >>> att.to_dsse()["signatures"]
    [{'keyid': 'k1', 'sig': 'c2ln'}]
    >>> att.key_ids
    ('k1',)
    """

    payload_type: str
    payload: str
    signatures: tuple[tuple[str, str], ...]

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The key id of each signature, in order."""
        return tuple(k for k, _ in self.signatures)

    def to_dsse(self) -> dict[str, Any]:
        """The envelope in DSSE's JSON form (``payloadType``, ``payload``, ``signatures``)."""
        return {
            "payloadType": self.payload_type,
            "payload": self.payload,
            "signatures": [{"keyid": k, "sig": s} for k, s in self.signatures],
        }


class Encryption(_Frozen):
    """How a version's files are encrypted at rest: the scheme and the master key's id.

    See :mod:`prodml.registry.encryption`; the key itself is never stored.
    """

    scheme: str
    key_id: str


class ModelVersion(_Frozen):
    """One immutable, registered version of a model.

    ``files`` maps each artifact file (relative POSIX path) to its sha256, checked on
    every load. Only ``status`` changes after registration (archive, restore, delete).
    ``attestation`` holds the signed statement of a version registered with a signer
    (see :mod:`prodml.registry.signing`), ``None`` otherwise; ``encryption`` says how
    its files are encrypted at rest, ``None`` when they are not. Its ``repr`` (what logs
    and tracebacks show) masks credentials in tags, the description and the lineage, as
    the model card does; the attributes hold the values as registered.
    """

    name: str
    version: int
    status: Status = "ready"
    flavour: str
    flavour_meta: dict[str, Any] = Field(default_factory=dict)
    artifact_key: str
    files: dict[str, str]
    created_at: datetime
    created_by: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    signature: Schema | None = None
    lineage: Lineage = Field(default_factory=Lineage)
    encryption: Encryption | None = None
    attestation: Attestation | None = None

    @property
    def ref(self) -> str:
        """The reference string ``name@version``."""
        return f"{self.name}@{self.version}"


class AuditEvent(_Frozen):
    """One entry of a model's append-only audit log."""

    seq: int
    name: str
    action: Action
    version: int | None = None
    alias: str | None = None
    previous_version: int | None = None
    actor: str
    at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results; pass ``next_token`` back to get the next page.

    ``problems`` lists the stored records of the page's range that were skipped because
    they cannot be read (a newer prodml's, or damaged ones); ``items`` holds the others.

    Examples
    --------
    >>> p = Page(items=[1, 2], next_token="2")
    >>> list(p), len(p), p.next_token
    ([1, 2], 2, '2')
    """

    items: list[T] = field(default_factory=list)
    next_token: str | None = None
    problems: list[RecordProblem] = field(default_factory=list)
    """Stored records in this page's range that could not be read, and why (each was
    also reported with an ``UnreadableRecordWarning``); see ``prodml.registry._formats``."""

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
