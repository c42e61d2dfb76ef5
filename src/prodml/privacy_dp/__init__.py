"""Differentially private summaries: profiles, fairness tables and monitor windows.

Sites or regions share drift and fairness statistics without sharing rows: each
releases its :class:`~prodml.drift.Profile`, ``GroupMetrics`` counts or monitor window
as a :class:`DPRelease` (noisy counts over declared domains, OpenDP's discrete Laplace
or Gaussian noise, extra ``privacy``), spending from a :class:`PrivacyBudget`; the
releases merge by adding counts, and :func:`compare` gives drift verdicts that account
for the noise. ``docs/governance.md`` states the guarantee and its limits.

This module sits with the composition layer: it reads profiles (``drift``), group
tables (``fairness``) and windows (``monitoring``), importing them only when called.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from prodml.drift import Profile
>>> from prodml.privacy_dp import Bins, Categories, PrivacyBudget, release_profile
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"age": rng.normal(40, 10, 5000), "plan": rng.choice(["free", "pro"], 5000)})
>>> budget = PrivacyBudget(epsilon=1.0)
>>> rel = release_profile(
...     Profile().update(df),
...     {"age": Bins([0, 20, 40, 60, 100]), "plan": Categories(["free", "pro"])},
...     epsilon=0.5,
...     budget=budget,
... )
>>> rel.columns, rel.epsilon, budget.remaining
(['age', 'plan'], 0.5, (0.5, 0.0))
>>> list(rel.counts("plan"))
['free', 'pro', '<other>', '<null>']
"""

from __future__ import annotations

from prodml.privacy_dp._budget import PrivacyBudget, PrivacyBudgetError, Spend
from prodml.privacy_dp._domains import Bins, Categories, Groups
from prodml.privacy_dp._drift import DPDriftReport, DPDriftResult, compare
from prodml.privacy_dp._integrity import BudgetIntegrityError
from prodml.privacy_dp._noise import Noise, calibrate, opendp_measurement, privacy_loss
from prodml.privacy_dp._release import DPPart, DPRelease
from prodml.privacy_dp._rows import release_rows
from prodml.privacy_dp._sources import release_counts, release_group_counts, release_profile
from prodml.privacy_dp._window import release_window

__all__ = [
    "Bins",
    "BudgetIntegrityError",
    "Categories",
    "DPDriftReport",
    "DPDriftResult",
    "DPPart",
    "DPRelease",
    "Groups",
    "Noise",
    "PrivacyBudget",
    "PrivacyBudgetError",
    "Spend",
    "calibrate",
    "compare",
    "opendp_measurement",
    "privacy_loss",
    "release_counts",
    "release_group_counts",
    "release_profile",
    "release_rows",
    "release_window",
]
