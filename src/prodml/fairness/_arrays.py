"""A report's numbers: counts summed by group, and per-metric arrays (private)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from prodml.fairness import stats
from prodml.fairness._ingest import sort_key
from prodml.fairness._metrics import METRICS, canonical

if TYPE_CHECKING:
    from prodml.fairness._group_metrics import GroupMetrics

__all__ = ["MetricArrays", "aggregate", "metric_arrays"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class MetricArrays:
    """Per-group numbers of one metric: hits and base counts (rates) or AUC and variance."""

    name: str
    kind: str  # "rate", "auc" or "count"
    value: FloatArray
    k: FloatArray
    n: FloatArray
    variance: FloatArray
    ok: npt.NDArray[np.bool_]
    overall_k: float
    overall_n: float
    overall_value: float
    # Weighted only (None otherwise): ``k`` and ``n`` above are then Kish effective
    # counts (``n = w**2 / w2``, ``k = value * n``), what the intervals and tests use.
    records: FloatArray | None = None  # records in each group's base
    w: FloatArray | None = None  # sum of the base's weights
    w2: FloatArray | None = None  # sum of their squares
    wk: FloatArray | None = None  # sum of the hits' weights
    overall_w: float = math.nan
    overall_w2: float = math.nan
    overall_wk: float = math.nan


def aggregate(
    gm: GroupMetrics, names: Sequence[str]
) -> tuple[list[tuple[object, ...]], np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Groups by ``names`` (sorted), their confusion counts, score histograms and weights.

    Groups of ``gm`` that agree on ``names`` are summed: the marginal counts. Weights
    (weighted only) are rows of 8: sums of the weights, then of their squares, per cell.
    """
    positions = [gm.sensitive.index(n) for n in names]
    n_cells = len(gm._keys)
    conf_all = np.asarray(gm._conf, dtype=np.int64).reshape(n_cells, 4)
    grouped: dict[tuple[object, ...], list[int]] = {}
    for i, key in enumerate(gm._keys):
        grouped.setdefault(tuple(key[p] for p in positions), []).append(i)
    keys = sorted(grouped, key=sort_key)
    conf = np.array([conf_all[grouped[k]].sum(axis=0) for k in keys], dtype=np.int64)
    hist = None
    if gm._hist is not None:
        hist_all = np.asarray(gm._hist, dtype=np.int64).reshape(n_cells, 2, gm.bins)
        hist = np.array([hist_all[grouped[k]].sum(axis=0) for k in keys], dtype=np.int64)
        hist = hist.reshape(len(keys), 2, gm.bins)
    weights = None
    if gm._w is not None:
        w_all = np.asarray(gm._w, dtype=np.float64).reshape(n_cells, 8)
        weights = np.array([w_all[grouped[k]].sum(axis=0) for k in keys], dtype=np.float64)
        weights = weights.reshape(len(keys), 8)
    return keys, conf.reshape(len(keys), 4), hist, weights


def metric_arrays(
    name: str,
    conf_counts: np.ndarray,
    hist: np.ndarray | None,
    min_count: int,
    weights: np.ndarray | None = None,
) -> MetricArrays:
    """Each group's value of metric ``name``, its counts, and whether it has enough records."""
    d = METRICS[canonical(name)]
    if weights is not None and d.kind == "rate":
        return _weighted_rate(name, conf_counts, weights, min_count)
    conf = conf_counts.astype(np.float64)
    n_groups = len(conf)
    total = conf.sum(axis=0)
    floor = max(min_count, 1)
    if d.kind == "auc":
        assert hist is not None  # noqa: S101 - GroupMetrics requires a threshold for auc
        pairs = [stats.auc_and_variance(h[1], h[0]) for h in hist]
        value = np.array([p[0] for p in pairs], dtype=np.float64).reshape(n_groups)
        var = np.array([p[1] for p in pairs], dtype=np.float64).reshape(n_groups)
        n_pos, n_neg = conf[:, 2] + conf[:, 3], conf[:, 0] + conf[:, 1]
        ok = (n_pos >= floor) & (n_neg >= floor)
        overall_hist = hist.sum(axis=0)
        overall, _ = stats.auc_and_variance(overall_hist[1], overall_hist[0])
        n = conf.sum(axis=1)
        return MetricArrays(
            name, "auc", value, n * 0, n, var, ok, math.nan, float(n.sum()), overall
        )
    n = conf[:, list(d.base)].sum(axis=1)
    if d.kind == "count":
        size = float(n.sum())
        return MetricArrays(name, "count", n, n, n, n * 0, n > 0, size, size, size)
    k = conf[:, list(d.hits)].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = k / n
    all_k, all_n = float(total[list(d.hits)].sum()), float(total[list(d.base)].sum())
    overall = all_k / all_n if all_n > 0 else math.nan
    return MetricArrays(name, "rate", value, k, n, value * 0, n >= floor, all_k, all_n, overall)


def _weighted_rate(
    name: str, conf_counts: np.ndarray, weights: np.ndarray, min_count: int
) -> MetricArrays:
    """A rate from weight sums: fairlearn's weighted value, Kish effective counts.

    A group needs ``min_count`` records in the base *and* a positive weight sum; a
    group whose base has records but weighs 0 has no value (0/0), it is not 0.
    """
    d = METRICS[canonical(name)]
    hits, rest = list(d.hits), [c for c in d.base if c not in d.hits]
    records = conf_counts.astype(np.float64)[:, list(d.base)].sum(axis=1)
    w_cells, q_cells = weights[:, :4], weights[:, 4:]
    wk = w_cells[:, hits].sum(axis=1)
    # hits + the rest, so that wk <= w however the float sums round: no rate above 1.
    w = wk + w_cells[:, rest].sum(axis=1)
    w2 = q_cells[:, list(d.base)].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(w > 0, wk / w, np.nan)
        n_eff = np.where(w2 > 0, w * w / w2, 0.0)
    k_eff = np.where(w > 0, value * n_eff, 0.0)
    ok = (records >= max(min_count, 1)) & (w > 0)
    all_wk = float(wk.sum())
    all_w = all_wk + float(w_cells[:, rest].sum())
    all_w2 = float(w2.sum())
    overall = all_wk / all_w if all_w > 0 else math.nan
    all_n = all_w * all_w / all_w2 if all_w2 > 0 else 0.0
    all_k = overall * all_n if all_w > 0 else 0.0
    return MetricArrays(
        name,
        "rate",
        value,
        k_eff,
        n_eff,
        value * 0,
        ok,
        all_k,
        all_n,
        overall,
        records=records,
        w=w,
        w2=w2,
        wk=wk,
        overall_w=all_w,
        overall_w2=all_w2,
        overall_wk=all_wk,
    )
