"""Shared strategies for the fairness tests: labelled predictions with sensitive features."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import strategies as st


@dataclass
class Case:
    """One batch: labels, predictions (or scores) and a DataFrame of sensitive features."""

    y_true: np.ndarray
    y_pred: np.ndarray
    groups: pd.DataFrame

    @property
    def names(self) -> list[str]:
        return list(self.groups.columns)


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    min_size: int = 1,
    max_size: int = 300,
    n_features: int | None = None,
    scores: bool = False,
) -> Case:
    """Random batches: 1-2 sensitive features of 1-4 string or int values each."""
    n = draw(st.integers(min_size, max_size))
    k = n_features if n_features is not None else draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p_pos = draw(st.floats(0.05, 0.95))
    y = (rng.random(n) < p_pos).astype(np.int64)
    if scores:
        pred = np.round(rng.random(n), draw(st.integers(1, 3)))
    else:
        pred = (rng.random(n) < draw(st.floats(0.05, 0.95))).astype(np.int64)
    columns = {}
    for j in range(k):
        levels = draw(st.integers(1, 4))
        codes = rng.integers(0, levels, n)
        if draw(st.booleans()):
            columns[f"s{j}"] = np.array(["abcd"[c] for c in codes], dtype=object)
        else:
            columns[f"s{j}"] = codes.astype(np.int64)
    return Case(y, pred, pd.DataFrame(columns))


def chunks(n: int, cuts: list[int]) -> list[slice]:
    """Slices of ``range(n)`` split at ``cuts`` (sorted, deduplicated, within range)."""
    points = sorted({0, n, *(c % (n + 1) for c in cuts)})
    return [slice(a, b) for a, b in itertools.pairwise(points)]
