"""Integrations with optional third-party tools, each imported lazily.

* :mod:`prodml.integrations.dask`: fit feature pipelines, transform, and build drift
  profiles over Dask DataFrames or partitioned Parquet datasets (extra ``prodml[dask]``).

Importing a submodule never imports the tool; the first call that needs it raises
:class:`~prodml.errors.MissingExtraError` naming the extra when it is not installed.
"""

from __future__ import annotations

__all__: list[str] = []
