"""Seeded synthetic workloads for drift tests and benchmarks (workload D1 of issue 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["D1_DRIFTED", "make_d1"]

N_NUMERIC = 20
N_CATEGORICAL = 10
N_CATEGORIES = 50
SHIFTED_NUMERIC = (0, 1, 2, 3, 4)
CHANGED_CATEGORICAL = (0, 1)
D1_DRIFTED = [f"num_{i}" for i in SHIFTED_NUMERIC] + [f"cat_{i}" for i in CHANGED_CATEGORICAL]
"""The columns that truly drift in :func:`make_d1`."""


def _zipf(n_categories: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n_categories + 1)
    return p / p.sum()


def make_d1(rows: int = 1_000_000, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current tables of workload D1.

    20 N(0, 1) float columns ``num_0..num_19``, in current ``num_0..num_4`` shifted by
    +0.1; 10 categorical columns ``cat_0..cat_9`` (pandas ``category`` dtype) of 50
    Zipf(1)-distributed categories, in current ``cat_0`` and ``cat_1`` with changed
    probabilities: the two most frequent categories swap their probabilities
    (``cat_0``), or 10% of the mass moves to the uniform distribution (``cat_1``).

    Examples
    --------
    >>> ref, cur = make_d1(1_000, seed=0)
    >>> ref.shape, cur.shape
    ((1000, 30), (1000, 30))
    >>> D1_DRIFTED
    ['num_0', 'num_1', 'num_2', 'num_3', 'num_4', 'cat_0', 'cat_1']
    """
    rng = np.random.default_rng(seed)
    labels = pd.Index([f"c{j:02d}" for j in range(N_CATEGORIES)])
    base = _zipf(N_CATEGORIES)
    swapped = base.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    mixed = 0.9 * base + 0.1 / N_CATEGORIES
    tables = []
    for current in (False, True):
        cols: dict[str, object] = {}
        for i in range(N_NUMERIC):
            shift = 0.1 if current and i in SHIFTED_NUMERIC else 0.0
            cols[f"num_{i}"] = rng.standard_normal(rows) + shift
        for i in range(N_CATEGORICAL):
            p = base
            if current and i == 0:
                p = swapped
            elif current and i == 1:
                p = mixed
            codes = rng.choice(N_CATEGORIES, size=rows, p=p)
            cols[f"cat_{i}"] = pd.Categorical.from_codes(codes, categories=labels)
        tables.append(pd.DataFrame(cols))
    return tables[0], tables[1]
