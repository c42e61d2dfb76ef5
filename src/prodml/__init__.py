"""prodml: production ML building blocks.

Feature pipelines that give the same answer in training and serving, drift detection
that stays honest on big data, a model registry over real backends, rollout policies,
cost estimators and monitoring — each a plain, typed object with a fast embedded default.

The names most users need are importable from here; everything else lives in its
subpackage (``prodml.features``, ``prodml.drift``, ``prodml.registry``, ``prodml.rollout``,
``prodml.cost``, ``prodml.monitoring``).

Examples
--------
>>> import prodml
>>> isinstance(prodml.__version__, str)
True
"""

from __future__ import annotations

from prodml.errors import ProdMLError
from prodml.schema import Column, Schema

__version__ = "0.1.0"

__all__ = ["Column", "ProdMLError", "Schema", "__version__"]
