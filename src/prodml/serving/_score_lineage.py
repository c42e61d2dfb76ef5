"""The OpenLineage run of a batch :func:`~prodml.serving.score` (see :mod:`prodml.lineage`).

A ``score`` run is the job ``<model>.score``: its inputs are the model version
(``models/<model>/<version>`` in the registry's namespace, its artifact store URL
without credentials, query or fragment, as the registry's own events name it;
``prodml.models`` for a model not from a registry) and each input Parquet file
(namespace ``file``, the absolute path, with its sha256); its output is the output
folder. ``START`` when it begins, then ``COMPLETE`` with the rows and parts, or ``FAIL``
with the error's type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prodml.lineage import JobRun, dataset, facet
from prodml.registry._lineage import dataset_namespace

__all__ = ["score_run"]


def _model_namespace(predictor: Any) -> str:
    source = getattr(predictor, "_source", None)
    artifacts = getattr(getattr(source, "registry", None), "artifacts", None)
    url = getattr(artifacts, "url", None)
    # The register event's namespace: the URL without credentials, query or fragment.
    return dataset_namespace(url) if isinstance(url, str) and url else "prodml.models"


def score_run(
    sink: object,
    namespace: str,
    *,
    predictor: Any,
    served: Any,
    variant: str,
    hashes: dict[str, str],
    input_fingerprint: str,
    out: Path,
) -> JobRun:
    """The run of one ``score`` call (nothing is built when ``sink`` is ``None``)."""
    if sink is None:
        return JobRun(None, job="score")
    version = served.version
    model = dataset(
        _model_namespace(predictor),
        f"models/{served.name}" + ("" if version is None else f"/{version}"),
        {"prodml": facet(fingerprint=served.fingerprint, variant=variant)},
    )
    files = [
        dataset("file", str(Path(f).resolve()), {"prodml": facet(sha256=h)})
        for f, h in hashes.items()
    ]
    return JobRun(
        sink,
        job=f"{served.name}.score",
        namespace=namespace,
        inputs=[model, *files],
        outputs=[dataset("file", str(out.resolve()))],
        run_facets={"prodml": facet(action="score", input_fingerprint=input_fingerprint)},
    )
