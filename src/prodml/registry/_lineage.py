"""OpenLineage events of registry actions (see :mod:`prodml.lineage`).

``register`` emits a ``COMPLETE`` run of the job ``<model>.register`` whose output is the
new version (``models/<model>/<version>`` in the registry's namespace, its artifact store
URL) and whose inputs are the training data (by fingerprint) and the feature views it
read; an alias move (``set_alias``, ``rollback``, ``delete_alias``) emits a run of
``<model>.<action>`` from the version to the alias dataset ``models/<model>@<alias>``.
Each event carries a ``prodml`` facet with the actor and the action. Tags and the code
version go out with their credentials masked (:func:`~prodml._secrets.mask_secrets`), and
the registry's namespace is its artifact store URL without user, password, query or
fragment (:func:`dataset_namespace`), as the OpenLineage naming spec writes a location
(``s3://bucket/prefix``, ``file:///srv/models``).
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from prodml._secrets import mask_secret_keys, mask_secrets
from prodml.lineage import dataset, emit, facet, run_event
from prodml.registry.entities import ModelVersion

__all__ = ["alias_moved", "dataset_namespace", "registered"]


def dataset_namespace(url: str) -> str:
    """The OpenLineage namespace of the datasets in the artifact store at ``url``.

    The URL without its user information (a user name may name a person, a password or
    key id is a credential, even masked as ``***``), query (storage options, tokens) or
    fragment.

    Examples
    --------
    >>> dataset_namespace("sftp://ann:***@models.example:22/srv/m?timeout=5#x")
    'sftp://models.example:22/srv/m'
    >>> dataset_namespace("file:///srv/models")
    'file:///srv/models'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    rest = rest.partition("#")[0].partition("?")[0]
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"


def _tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags as an event shows them, credentials masked (the sink is another system).

    A credential-like tag's value, and any URL's password or AWS key id in a value.
    """
    masked: dict[str, str] = mask_secret_keys({k: mask_secrets(v) for k, v in tags.items()})
    return masked


def _version_dataset(namespace: str, mv: ModelVersion) -> dict[str, Any]:
    facets = {
        "prodml": facet(
            flavour=mv.flavour,
            files=len(mv.files),
            metrics=dict(mv.metrics),
            tags=_tags(mv.tags),
        )
    }
    return dataset(namespace, f"models/{mv.name}/{mv.version}", facets)


def registered(sink: object, job_namespace: str, namespace: str, mv: ModelVersion) -> bool:
    """Emit the lineage of a new version; ``False`` when no sink took it."""
    if sink is None:
        return False
    namespace = dataset_namespace(namespace)
    inputs = []
    lin = mv.lineage
    if lin.data_fingerprint:
        inputs.append(dataset("prodml.fingerprint", lin.data_fingerprint))
    for view, fp in sorted((lin.feature_views or {}).items()):
        inputs.append(dataset("prodml.store", view, {"prodml": facet(fingerprint=fp)}))
    if lin.parent_version is not None:
        inputs.append(dataset(namespace, f"models/{mv.name}/{lin.parent_version}"))
    event = run_event(
        "COMPLETE",
        job=f"{mv.name}.register",
        namespace=job_namespace,
        inputs=inputs,
        outputs=[_version_dataset(namespace, mv)],
        run_facets={
            "prodml": facet(
                action="register",
                actor=mv.created_by,
                code_version=None if lin.code_version is None else mask_secrets(lin.code_version),
                pipeline_fingerprint=lin.pipeline_fingerprint,
            )
        },
        # The registry writes aware UTC times; a naive one (a record written by hand) is
        # read as UTC rather than fail a registration that already happened.
        at=mv.created_at if mv.created_at.tzinfo else mv.created_at.replace(tzinfo=timezone.utc),
    )
    return emit(sink, event)


def alias_moved(
    sink: object,
    job_namespace: str,
    namespace: str,
    *,
    name: str,
    alias: str,
    version: int | None,
    action: str,
    actor: str,
) -> bool:
    """Emit the lineage of an alias move (``version=None``: the alias was deleted)."""
    if sink is None:
        return False
    namespace = dataset_namespace(namespace)
    inputs = [] if version is None else [dataset(namespace, f"models/{name}/{version}")]
    event = run_event(
        "COMPLETE",
        job=f"{name}.{action}",
        namespace=job_namespace,
        inputs=inputs,
        outputs=[dataset(namespace, f"models/{name}@{alias}")],
        run_facets={"prodml": facet(action=action, actor=actor, alias=alias, version=version)},
    )
    return emit(sink, event)
