"""Doctests of modules built on an optional extra skip, naming the extra, when it is absent.

The test extra installs every optional extra, so in CI nothing here skips.
"""

from __future__ import annotations

import importlib.util
from pathlib import PurePath

import pytest

# module file (relative to src/prodml) -> (package its examples import, extra to install)
NEEDS_EXTRA = {
    "integrations/dask.py": ("distributed", "dask"),
    "monitoring/otel.py": ("opentelemetry.sdk", "otel"),
    "monitoring/prometheus.py": ("prometheus_client", "prometheus"),
}


def _missing(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is None
    except ModuleNotFoundError:
        return True


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the doctests of :data:`NEEDS_EXTRA` modules as skipped when the extra is absent."""
    for item in items:
        if not isinstance(item, pytest.DoctestItem):
            continue
        path = PurePath(str(item.path)).as_posix()
        for suffix, (package, extra) in NEEDS_EXTRA.items():
            if path.endswith(f"src/prodml/{suffix}") and _missing(package):
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"needs the '{extra}' extra: pip install 'prodml[{extra}]'"
                    )
                )
