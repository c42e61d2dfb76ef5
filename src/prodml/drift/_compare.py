"""Compare one column of two profiles: test statistic, p-value, effect, distances, plot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml._quote import cut
from prodml.drift import stats
from prodml.drift._columns import (
    CategoricalColumn,
    NumericColumn,
    _representatives,
    _sketch,
)
from prodml.drift.stats import Sample
from prodml.privacy import token_strings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_PLOT_BINS = 40
_PLOT_CATEGORIES = 15
MAX_LABEL = 10_000
"""Characters of a category's label in a report's plot (longer ones are cut, ``...``)."""
_FMAX = float(np.finfo(np.float64).max)


@dataclass
class Comparison:
    """Raw outcome of one column's comparison, before the multiple-testing correction."""

    method: str
    statistic: float
    p_value: float
    effect: float
    error_bound: float = 0.0
    metrics: dict[str, float | None] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict)


def _as_sketch(col: NumericColumn, log_gamma: float) -> tuple[IntArray, IntArray, FloatArray]:
    if col.keys is not None:
        assert col.counts is not None  # noqa: S101
        assert col.pure is not None  # noqa: S101
        return col.keys, col.counts, col.pure
    points = col.points if col.points is not None else np.empty(0)
    return _sketch(points, log_gamma, is_sorted=True)


def _on_common_grid(
    ref: NumericColumn, cur: NumericColumn, log_gamma: float
) -> tuple[FloatArray, IntArray, FloatArray, IntArray, float]:
    """Both columns as weighted bucket representatives, and the KS error bound.

    Within a bucket the two ECDFs can move apart by at most the bucket's mass on either
    side; a bucket holding one and the same value on both sides (pure) moves them apart by
    nothing, since replacing that value by its representative keeps order and ties. The
    bound is the largest mass of a bucket that is not pure: 0 when all are (a column of a
    few distinct values), and the statistic is then exact.
    """
    kr, cr, pr = _as_sketch(ref, log_gamma)
    kc, cc, pc = _as_sketch(cur, log_gamma)
    keys = np.union1d(kr, kc)
    wr = np.zeros(keys.size, np.int64)
    wc = np.zeros(keys.size, np.int64)
    vr = np.full(keys.size, np.inf)  # inf: no value on that side (agrees with any)
    vc = np.full(keys.size, np.inf)
    ir, ic = np.searchsorted(keys, kr), np.searchsorted(keys, kc)
    wr[ir], wc[ic] = cr, cc
    vr[ir], vc[ic] = pr, pc
    agree = (vr == vc) | np.isinf(vr) | np.isinf(vc)
    exact = ~np.isnan(vr) & ~np.isnan(vc) & agree
    mass = np.maximum(wr / wr.sum(), wc / wc.sum())
    bound = float(mass[~exact].max()) if not exact.all() else 0.0
    rep = _representatives(keys, log_gamma)
    # Zero weights are harmless for every statistic and keep one grid for both sides.
    return rep, wr, rep, wc, bound


def _weighted_std(values: Sample, weights: IntArray | None) -> float:
    if values.dtype == np.int64 and values.size:
        # Sorted integers as exact offsets from the smallest: as float64 the values
        # themselves round past 2**53 (a spread of 1 at 2**60 would read as 0).
        values = stats._int_gaps(values, np.broadcast_to(values[:1], values.shape))
    if weights is None:
        return float(np.std(values))
    mean = np.average(values, weights=weights)
    return float(np.sqrt(np.average((values - mean) ** 2, weights=weights)))


def _bin_props(values: Sample, weights: IntArray | None, edges: Sample) -> FloatArray:
    cdf = stats._ecdf(values, weights, edges)
    return np.diff(np.concatenate(([0.0], cdf, [1.0])))


def _quantile_edges(values: Sample, weights: IntArray | None, bins: int) -> Sample:
    probs = np.arange(1, bins) / bins
    if weights is None:
        idx = np.minimum((probs * values.size).astype(np.int64), values.size - 1)
        return np.unique(values[idx])
    cum = np.cumsum(weights)
    idx = np.minimum(np.searchsorted(cum, probs * cum[-1], side="right"), values.size - 1)
    return np.unique(values[idx])


def _plot_edges(a: Sample, wa: IntArray | None, b: Sample, wb: IntArray | None) -> FloatArray:
    lo_hi = [_quantile_edges(v, w, 200) for v, w in ((a, wa), (b, wb))]
    lo = min(float(e[0]) if e.size else float(v[0]) for e, v in zip(lo_hi, (a, b), strict=True))
    hi = max(float(e[-1]) if e.size else float(v[-1]) for e, v in zip(lo_hi, (a, b), strict=True))
    if hi <= lo:
        lo, hi = min(float(a[0]), float(b[0])), max(float(a[-1]), float(b[-1]))
    if hi <= lo:  # a constant: centre it in a visible range
        half = max(0.5, abs(lo) * 0.05)
        lo, hi = lo - half, hi + half
    return np.linspace(lo, hi, _PLOT_BINS + 1)


def compare_numeric(
    ref: NumericColumn,
    cur: NumericColumn,
    *,
    test: str,
    bins: int,
    log_gamma: float,
) -> Comparison:
    """KS (or CvM) test, KS distance as effect, binned distances and Wasserstein."""
    ref.finalize()
    cur.finalize()
    a: Sample
    b: Sample
    if ref.exact and cur.exact:
        a, wa = ref.exact_sample(log_gamma)
        b, wb = cur.exact_sample(log_gamma)
        if ref.std is None and a.dtype == np.int64:  # before a cast to float could round
            ref.std = _weighted_std(a, wa)
        if a.dtype != b.dtype:  # integers against floats: compared as floats
            a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
        bound = 0.0
    else:
        a, wa_, b, wb_, bound = _on_common_grid(ref, cur, log_gamma)
        # Bucket representatives (one per bucket, few): finite and sorted by
        # construction from increasing keys, checked once all the same (cheap).
        a, b, wa, wb = stats._samples(a, b, wa_, wb_)
    # From here on the samples are sorted and finite (exact points are so by
    # construction, and checked when loaded): the statistics skip checking them again,
    # an O(n) pass per call and per sample that the public functions make.
    d, p = stats._ks_2samp(a, b, wa, wb)
    statistic, method = d, "ks"
    if test == "cvm":
        statistic, p = stats.cramervonmises_2samp(a, b, wa, wb)
        method = "cvm"
    # Distances do arithmetic on values: rescale huge ones by a power of two (exact) so
    # that differences and squares cannot overflow; every distance used is scale-free.
    big = max(abs(float(a[0])), abs(float(a[-1])), abs(float(b[0])), abs(float(b[-1])))
    scale = float(np.ldexp(1.0, -int(np.frexp(big)[1]))) if big > 1e100 else 1.0
    sa, sb = (a * scale, b * scale) if scale != 1.0 else (a, b)
    if scale != 1.0:
        std = _weighted_std(sa, wa)
    else:
        if ref.std is None:  # the reference is compared many times: compute once
            ref.std = _weighted_std(a, wa)
        std = ref.std
    w1 = stats._wasserstein(sa, sb, wa, wb)
    edges = _quantile_edges(a, wa, bins)
    pr, pc = _bin_props(a, wa, edges), _bin_props(b, wb, edges)
    metrics: dict[str, float | None] = {
        "psi": stats.psi(pr, pc),
        "jensen_shannon": stats.jensen_shannon(pr, pc),
        "hellinger": stats.hellinger(pr, pc),
        "wasserstein": (w1 / std) if std > 0 else (0.0 if w1 == 0 else None),
    }
    plot_edges = _plot_edges(sa, wa, sb, wb)
    with np.errstate(over="ignore"):  # labels only: clip a padded edge past the largest float
        labels = np.clip(plot_edges / scale, -_FMAX, _FMAX)
    plot = {
        "type": "hist",
        "edges": labels.tolist(),
        "reference": np.diff(stats._ecdf(sa, wa, plot_edges)).tolist(),
        "current": np.diff(stats._ecdf(sb, wb, plot_edges)).tolist(),
    }
    return Comparison(method, statistic, p, d, bound, metrics, plot)


def compare_categorical(
    ref: CategoricalColumn, cur: CategoricalColumn, *, k: int = 1
) -> Comparison:
    """Chi-square homogeneity test, total variation distance as effect, distances.

    The plot names at most 15 categories, each seen at least ``k`` times in both samples
    together (the privacy threshold); the others are summed in one "other" bar.
    """
    rc, cc, label = _aligned_counts(ref, cur)
    stat, p, _ = stats.chi2_homogeneity(rc, cc)
    pr, pc = rc / rc.sum(), cc / cc.sum()
    tv = float(0.5 * np.abs(pr - pc).sum())
    metrics: dict[str, float | None] = {
        "psi": stats.psi(rc, cc),
        "jensen_shannon": stats.jensen_shannon(rc, cc),
        "hellinger": stats.hellinger(rc, cc),
        "wasserstein": None,
    }
    order = np.argsort(-np.maximum(pr, pc), kind="stable")
    top = order[rc[order] + cc[order] >= k][:_PLOT_CATEGORIES]
    labels = [cut(label(int(i)), MAX_LABEL) for i in top]  # what a saved report holds
    ref_p, cur_p = pr[top].tolist(), pc[top].tolist()
    if rc.size > top.size:
        labels.append(f"(other {rc.size - top.size})")
        ref_p.append(float(1 - sum(ref_p)))
        cur_p.append(float(1 - sum(cur_p)))
    plot = {"type": "bar", "labels": labels, "reference": ref_p, "current": cur_p}
    return Comparison("chi2", stat, p, tv, 0.0, metrics, plot)


def _aligned_counts(
    ref: CategoricalColumn, cur: CategoricalColumn
) -> tuple[IntArray, IntArray, Callable[[int], str]]:
    """Counts of both samples over the union of their categories, and each one's label.

    One canonical order (type name, then value): sums in the statistic then do not
    depend on the order in which categories were first seen, so merged, reloaded and
    fresh profiles agree exactly. Two hashed columns held as token ids are aligned on
    the sorted ids, the order of their token strings, without making a string per token.
    """
    if ref.hashed and cur.hashed and ref.ids is not None and cur.ids is not None:
        r_ids, r_n = ref.token_arrays()
        c_ids, c_n = cur.token_arrays()
        ids = np.concatenate([r_ids, c_ids])
        ids.sort()  # a sort and a diff: np.union1d's hash-based unique is far slower here
        ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
        rc = np.zeros(ids.size, np.int64)
        cc = np.zeros(ids.size, np.int64)
        rc[np.searchsorted(ids, r_ids)] = r_n
        cc[np.searchsorted(ids, c_ids)] = c_n
        return rc, cc, lambda i: token_strings(ids[i : i + 1])[0]
    r_counts, c_counts = ref.counts, cur.counts
    union = {*r_counts, *c_counts}
    if set(map(type, union)) <= {str}:  # the same order as the key below, faster
        cats = sorted(union)
    else:
        cats = sorted(union, key=lambda c: (type(c).__name__, c))
    rc = np.array([r_counts.get(c, 0) for c in cats], dtype=np.int64)
    cc = np.array([c_counts.get(c, 0) for c in cats], dtype=np.int64)
    return rc, cc, lambda i: str(cats[i])
