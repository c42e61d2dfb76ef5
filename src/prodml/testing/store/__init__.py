"""Conformance suites and a brute-force reference for feature store backends.

A backend opts in with a short pytest subclass that provides one fixture, in the style of
``fsspec.tests.abstract``; every store prodml ships runs the same suites::

    from prodml.testing.store import OnlineStoreConformance


    class TestMyStore(OnlineStoreConformance):
        @pytest.fixture
        def online_store(self):
            return MyStore("mystore://...")

- :class:`OfflineStoreConformance` (fixture ``offline_store``, whose ``write_source``
  works): the point-in-time join equals :func:`brute_force_historical` on hypothesis
  cases (duplicate times, late-arriving rows, missing entities, several views with
  different ttls, time zones), plus one test per rule.
- :class:`OnlineStoreConformance` (fixture ``online_store``): the write rule, reads of
  many pairs, state, deletes; and, with a DuckDB offline store, that online reads equal
  ``historical`` for now and that materialization is incremental and idempotent.
- :func:`pit_cases`: the hypothesis strategy of those cases.

Needs the ``test`` extra (pytest, hypothesis) and the ``store`` extra (duckdb).
"""

from __future__ import annotations

from prodml.testing.store._cases import PitCase, ViewCase, pit_cases
from prodml.testing.store._offline import OfflineStoreConformance
from prodml.testing.store._online import OnlineStoreConformance
from prodml.testing.store._reference import brute_force_historical, rows_equal

__all__ = [
    "OfflineStoreConformance",
    "OnlineStoreConformance",
    "PitCase",
    "ViewCase",
    "brute_force_historical",
    "pit_cases",
    "rows_equal",
]
