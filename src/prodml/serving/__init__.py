"""Serving and batch scoring: a Predictor from the registry to a request, an app, a job.

:class:`Predictor` turns a raw record into a prediction in one call: schema validation
(every problem listed), the feature pipeline's ``transform_record``, the model, an
optional explanation, the monitor's ``log_prediction`` and the rollout policy's routing
(canary or blue-green split, A/B assignment, shadow scoring off the response path). Built
from a registry (:meth:`Predictor.from_registry`), it follows the alias: when it moves,
the next requests use the new version, once verified.

:func:`create_app` wraps a predictor in an ASGI application (Starlette; extra ``serve``)
with ``POST /v1/predict``, ``GET /v1/model``, ``/healthz``, ``/readyz`` and ``/metrics``;
:class:`BackgroundServer` runs it with uvicorn on a free loopback port (tests, notebooks,
demos). :func:`score` runs a predictor over Parquet in bounded memory, writing Parquet
parts with the model version and the input's fingerprint in their metadata, and resumes
after a crash without losing or repeating rows.

The registry convention: a servable version is a ``(pipeline, model)`` pair registered as
one version, with the request :class:`~prodml.schema.Schema` as its ``signature``.
"""

from __future__ import annotations

from prodml.serving._app import create_app
from prodml.serving._predictor import DEFAULT_VARIANT, Prediction, Predictor
from prodml.serving._score import ScoreReport, score
from prodml.serving._served import ExplainerLike, ModelError
from prodml.serving._server import BackgroundServer

# Plain sorted() order, which tests/test_public_api.py checks.
__all__ = [  # noqa: RUF022
    "BackgroundServer",
    "DEFAULT_VARIANT",
    "ExplainerLike",
    "ModelError",
    "Prediction",
    "Predictor",
    "ScoreReport",
    "create_app",
    "score",
]
