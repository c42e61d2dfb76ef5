"""prodml: production ML building blocks.

Feature pipelines that give the same answer in training and serving, drift detection
that stays honest on big data, a model registry over real backends, rollout policies,
cost estimators and monitoring — each a plain, typed object with a fast embedded default.

The names most users need are importable from here; everything else lives in its
subpackage: ``prodml.schema``, ``prodml.fingerprint``, ``prodml.features``,
``prodml.drift``, ``prodml.fairness``, ``prodml.explain``, ``prodml.store``,
``prodml.registry``, ``prodml.rollout``, ``prodml.cost``, ``prodml.monitoring``,
``prodml.serving``, ``prodml.retrain``, ``prodml.lineage``, ``prodml.privacy``,
``prodml.privacy_dp``, ``prodml.integrations``, ``prodml.testing``, ``prodml.errors``.

``import prodml`` is instant: it loads no numpy, pandas, pyarrow or pydantic (not even
``typing``). The names in ``__all__`` are resolved on first use (PEP 562), so
``prodml.Schema`` imports :mod:`prodml.schema` only when a program touches it; so are the
subpackages, so ``prodml.drift.DriftDetector`` works after a bare ``import prodml``, as
``import prodml.drift`` does.

Examples
--------
>>> import prodml
>>> isinstance(prodml.__version__, str)
True
>>> prodml.Schema is __import__("prodml.schema").schema.Schema
True
>>> prodml.drift.__name__
'prodml.drift'
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

# The public modules and subpackages, imported on first attribute access (`prodml.drift`
# after a bare `import prodml`); tests/test_startup.py keeps this in step with src/prodml.
_SUBMODULES = frozenset(
    {
        "cli", "cost", "drift", "errors", "explain", "fairness", "features", "fingerprint",
        "integrations", "lineage", "monitoring", "privacy", "privacy_dp", "registry",
        "retrain", "rollout", "schema", "serving", "store", "testing",
    }
)  # fmt: skip


def __getattr__(name: str) -> Any:
    import importlib  # noqa: PLC0415 - first use only

    if name in _SUBMODULES:
        return importlib.import_module(f"prodml.{name}")  # the import system sets the name
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prodml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
