"""Multivariate drift check: a classifier that tells reference rows from current rows.

A gradient-boosting "domain classifier" is trained on half of a row sample of each side
(label 0 reference, 1 current) and scored on the other half. With no drift its held-out
AUC is 0.5; the p-value is the one-sided Mann-Whitney test of the held-out scores (AUC is
the Mann-Whitney U divided by ``n_ref * n_cur``), valid because those rows were not used
for training. This catches changes in the *joint* distribution that per-column tests miss
(e.g. two columns whose correlation flips).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats as sps

from prodml._data import Columns, iter_columns
from prodml.drift._report import DriftResult
from prodml.errors import DriftError

__all__ = ["RowSample", "classifier_check"]

_MAX_CODES = 254  # HistGradientBoosting handles at most 255 categories (one for missing)


class RowSample:
    """A uniform random sample of at most ``size`` rows, built chunk by chunk.

    Each row gets a random key; the rows with the smallest keys are kept (bottom-k), so
    the result does not depend on how the data was chunked beyond the random stream.
    """

    def __init__(self, size: int, columns: Sequence[str], seed: int) -> None:
        self.size = size
        self.columns: list[str] = list(columns)
        self._rng = np.random.default_rng(seed)
        self.rows: pd.DataFrame | None = None
        self.keys: npt.NDArray[np.float64] = np.empty(0)

    def update(self, data: object) -> RowSample:
        """Add every chunk of ``data``."""
        for cols in iter_columns(data, what="data to sample"):
            self._add(cols)
        return self

    def _add(self, cols: Columns) -> None:
        keys = self._rng.random(cols.num_rows)
        take = np.argsort(keys)[: self.size]
        src = cols.select(self.columns).source
        part = src.iloc[take] if isinstance(src, pd.DataFrame) else src.take(take).to_pandas()
        part = part.reset_index(drop=True)
        if self.rows is None:
            self.rows, self.keys = part, keys[take]
            return
        both = pd.concat([self.rows, part], ignore_index=True)
        all_keys = np.concatenate([self.keys, keys[take]])
        keep = np.argsort(all_keys)[: self.size]
        self.rows, self.keys = both.iloc[keep].reset_index(drop=True), all_keys[keep]


def _encode(ref: pd.DataFrame, cur: pd.DataFrame, kinds: dict[str, str]) -> tuple[Any, list[bool]]:
    features, categorical = [], []
    for name, kind in kinds.items():
        if kind == "categorical":
            both = pd.concat([ref[name], cur[name]], ignore_index=True).astype(object)
            freq = both.value_counts()
            rank = {v: min(i, _MAX_CODES) for i, v in enumerate(freq.index)}
            codes = both.map(rank).astype("float64")
            features.append(codes.to_numpy())
            categorical.append(True)
        elif kind in ("numeric", "datetime"):
            s = pd.concat([ref[name], cur[name]], ignore_index=True)
            if kind == "datetime":
                s = pd.to_datetime(s).astype("int64").where(s.notna()) / 1e9
            features.append(pd.to_numeric(s).astype("float64").to_numpy())
            categorical.append(False)
    if not features:
        raise DriftError("the classifier check needs at least one numeric or categorical column")
    return np.column_stack(features), categorical


def classifier_check(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    kinds: dict[str, str],
    *,
    alpha: float,
    min_effect: float,
    seed: int,
) -> DriftResult:
    """Train a domain classifier on half the rows, score the other half; see module doc."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415 - slow import
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # noqa: PLC0415

    n_ref, n_cur = len(ref), len(cur)
    if min(n_ref, n_cur) < 20:
        return DriftResult(
            column="<multivariate>",
            kind="table",
            method="classifier",
            statistic=None,
            p_value=None,
            p_adjusted=None,
            effect=None,
            drifted=False,
            testable=False,
            note="the classifier check needs at least 20 rows on each side",
            n_reference=n_ref,
            n_current=n_cur,
        )
    x, categorical = _encode(ref, cur, kinds)
    y = np.r_[np.zeros(n_ref, np.int64), np.ones(n_cur, np.int64)]
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    model = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        early_stopping=False,
        categorical_features=np.array(categorical),
        random_state=seed,
    )
    # One thread: a small model gains little from OpenMP, and on a busy machine its
    # spinning threads make the fit up to 100x slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(x_tr, y_tr)
        scores = model.predict_proba(x_te)[:, 1]
    auc = float(roc_auc_score(y_te, scores))
    p = float(sps.mannwhitneyu(scores[y_te == 1], scores[y_te == 0], alternative="greater").pvalue)
    effect = max(0.0, 2 * auc - 1)
    return DriftResult(
        column="<multivariate>",
        kind="table",
        method="classifier",
        statistic=auc,
        p_value=p,
        p_adjusted=p,
        effect=effect,
        drifted=bool(p <= alpha and effect >= min_effect),
        note=f"held-out AUC of a gradient-boosting domain classifier on {len(y_te):,} rows",
        n_reference=n_ref,
        n_current=n_cur,
    )
