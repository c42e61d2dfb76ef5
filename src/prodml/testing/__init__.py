"""Test support for prodml and for code built on it.

- :mod:`prodml.testing.strategies`: hypothesis strategies for schemas, tables and records
  (needs the ``test`` extra).
- Conformance suites that every backend opts into with a two-line test subclass, in the
  style of ``fsspec.tests.abstract``: a backend that passes behaves like the ones prodml
  ships.

Nothing here is imported by ``import prodml``; importing a submodule that needs
hypothesis or pytest without them raises :class:`~prodml.errors.MissingExtraError`.
"""

from __future__ import annotations

__all__: list[str] = []
