"""Model registry: versions, aliases, lineage and verified artifacts over real backends.

:class:`ModelRegistry` stores immutable model versions with tags, metrics, a signature
(:class:`~prodml.schema.Schema`) and lineage; moves aliases (``churn@production``) with an
append-only history and rollback; keeps an audit log of who did what; and checks every
artifact file's sha256 on every load. With a ``signer`` and a ``trust`` policy it signs
each version and refuses unsigned or altered ones (:mod:`prodml.registry.signing`).
Metadata lives in SQLite, PostgreSQL or memory, artifacts on local disk, S3 or memory
(fsspec), chosen by URL scheme.

Examples
--------
>>> import tempfile
>>> from prodml.registry import ModelRegistry
>>> from prodml.schema import Column, Schema
>>> reg = ModelRegistry("memory://", "memory://doc-example")
>>> v1 = reg.register("churn", Schema([Column("x", "float")]), metrics={"auc": 0.8})
>>> v2 = reg.register("churn", Schema([Column("x", "float")]), metrics={"auc": 0.9})
>>> _ = reg.set_alias("churn", "production", 1)
>>> _ = reg.set_alias("churn", "production", 2)
>>> reg.rollback("churn", "production").version
1
>>> reg.get("churn@production").metrics
{'auc': 0.8}
>>> [mv.version for mv in reg.search("churn", min_metrics={"auc": 0.85})]
[2]
"""

from __future__ import annotations

from prodml.registry._card import ModelCard
from prodml.registry._environment import (
    EnvironmentMismatch,
    EnvironmentMismatchError,
    EnvironmentMismatchWarning,
)
from prodml.registry._formats import (
    NewerFormatError,
    RecordProblem,
    UnreadableRecordWarning,
)
from prodml.registry._registry import GCReport, ModelRegistry
from prodml.registry.backends import (
    ArtifactStore,
    MetadataStore,
    register_backend,
)
from prodml.registry.checks import (
    Check,
    MetricThreshold,
    NotWorseThanCurrent,
    PromotionError,
    SignatureCompatible,
)
from prodml.registry.entities import (
    Attestation,
    AuditEvent,
    Encryption,
    Lineage,
    ModelVersion,
    Page,
)
from prodml.registry.flavours import Flavour, PickleFallbackWarning, register_flavour

__all__ = [
    "ArtifactStore",
    "Attestation",
    "AuditEvent",
    "Check",
    "Encryption",
    "EnvironmentMismatch",
    "EnvironmentMismatchError",
    "EnvironmentMismatchWarning",
    "Flavour",
    "GCReport",
    "Lineage",
    "MetadataStore",
    "MetricThreshold",
    "ModelCard",
    "ModelRegistry",
    "ModelVersion",
    "NewerFormatError",
    "NotWorseThanCurrent",
    "Page",
    "PickleFallbackWarning",
    "PromotionError",
    "RecordProblem",
    "SignatureCompatible",
    "UnreadableRecordWarning",
    "register_backend",
    "register_flavour",
]
