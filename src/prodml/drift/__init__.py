"""Drift detection: batch tests (reference vs current) and streaming detectors.

Streaming: :class:`ADWIN`, :class:`PageHinkley`, :class:`CUSUM`, :class:`DDM`,
:class:`EDDM`, :class:`HDDM_A`, :class:`HDDM_W` and :class:`KSWIN` (from
:mod:`prodml.drift.streaming`) watch one stream of numbers and raise an alarm on change.

Batch: :class:`DriftDetector` profiles a reference table once (:class:`Profile`, mergeable
and serialisable) and compares any number of current tables with it, column by column,
returning a :class:`DriftReport` (table, JSON, self-contained HTML). The building-block
statistics live in :mod:`prodml.drift.stats`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from prodml.drift import DriftDetector
>>> rng = np.random.default_rng(1)
>>> ref = pd.DataFrame({"age": rng.normal(40, 10, 20_000)})
>>> det = DriftDetector().fit(ref)
>>> det.detect(pd.DataFrame({"age": rng.normal(43, 10, 20_000)})).drifted_columns
['age']
>>> det.detect(pd.DataFrame({"age": rng.normal(40, 10, 20_000)})).drifted_columns
[]
"""

from __future__ import annotations

from prodml.drift._detector import DriftDetector
from prodml.drift._profile import Profile
from prodml.drift._report import DriftReport, DriftResult
from prodml.drift.streaming import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    HDDM_W,
    KSWIN,
    PageHinkley,
)

# Plain sorted order (tests/test_public_api.py), not ruff's constants-first isort order.
__all__ = [  # noqa: RUF022
    "ADWIN",
    "CUSUM",
    "DDM",
    "DriftDetector",
    "DriftReport",
    "DriftResult",
    "EDDM",
    "HDDM_A",
    "HDDM_W",
    "KSWIN",
    "PageHinkley",
    "Profile",
]
