"""prodml: production ML building blocks.

Feature pipelines that give the same answer in training and serving, drift detection
that stays honest on big data, a model registry over real backends, rollout policies,
cost estimators and monitoring — each a plain, typed object with a fast embedded default.

The names most users need are importable from here; everything else lives in its
subpackage (``prodml.features``, ``prodml.drift``, ``prodml.registry``, ``prodml.rollout``,
``prodml.cost``, ``prodml.monitoring``).

``import prodml`` is instant: it loads no numpy, pandas, pyarrow or pydantic (not even
``typing``). The names in ``__all__`` are resolved on first use (PEP 562), so
``prodml.Schema`` imports :mod:`prodml.schema` only when a program touches it.

Examples
--------
>>> import prodml
>>> isinstance(prodml.__version__, str)
True
>>> prodml.Schema is __import__("prodml.schema").schema.Schema
True
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from typing import Any

    from prodml.errors import ProdMLError
    from prodml.schema import Column, Schema

__version__ = "0.1.0"

__all__ = ["Column", "ProdMLError", "Schema", "__version__"]

# Name -> module that defines it; imported on first attribute access.
_LAZY = {"Column": "prodml.schema", "ProdMLError": "prodml.errors", "Schema": "prodml.schema"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prodml' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - first use only

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
