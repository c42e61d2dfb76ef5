"""Two-sample drift statistics on sorted samples and category counts.

Every function here is a building block of :class:`~prodml.drift.DriftDetector`, usable
on its own. Numeric samples are passed **sorted** (the detector sorts each column once
and reuses it for every statistic); a sample may carry integer ``weights`` (counts per
distinct value, as a sketched :class:`~prodml.drift.Profile` column holds it). Integer
arrays stay int64 (uint64 too, when it fits) and are compared exactly: as float64, integers
past 2**53 round and distinct values would tie; an integer sample against a float one is
compared as float64.

* :func:`ks_2samp` equals :func:`scipy.stats.ks_2samp` (two-sided, ``method="auto"``):
  same statistic bit for bit, same p-value (exact for samples of at most 10,000, else
  Smirnov's asymptotic distribution).
* :func:`chi2_homogeneity` equals :func:`scipy.stats.chi2_contingency` on the 2 x K table
  of counts with ``correction=False``: a test that both samples come from one
  distribution, not a goodness-of-fit test that treats the reference as exact.
* :func:`psi`, :func:`jensen_shannon` and :func:`hellinger` compare two vectors of
  proportions; :func:`wasserstein` is the 1-Wasserstein (earth mover's) distance.
* :func:`adjust_pvalues` applies Holm, Bonferroni or Benjamini-Hochberg.

Inputs are checked before any statistic is computed: a NaN or infinite sample value, an
unsorted sample, negative or non-integer weights, weights of another length than their
values, negative or mismatched counts, and p-values outside ``[0, 1]`` raise
:class:`~prodml.errors.DriftError` (a ``ValueError``) naming the argument.

Examples
--------
>>> import numpy as np
>>> a = np.sort(np.random.default_rng(0).normal(size=500))
>>> b = np.sort(np.random.default_rng(1).normal(0.5, size=400))
>>> d, p = ks_2samp(a, b)
>>> round(d, 4), p < 1e-6
(0.21, True)
>>> adjust_pvalues([0.01, 0.04, 0.03], "holm")
array([0.03, 0.06, 0.06])
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as _sps

from prodml._quote import short_repr
from prodml.errors import ConfigError, DriftError

__all__ = [
    "CORRECTIONS",
    "adjust_pvalues",
    "chi2_homogeneity",
    "cramervonmises_2samp",
    "ecdf",
    "hellinger",
    "jensen_shannon",
    "ks_2samp",
    "psi",
    "wasserstein",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Sample = npt.NDArray[Any]
"""A sorted sample: float64, or int64 for integers (compared exactly, not as float64)."""

CORRECTIONS = ("bonferroni", "fdr_bh", "holm", "none")
"""Names accepted by :func:`adjust_pvalues`."""

_EXACT_KS_MAX_N = 10_000  # scipy's switch from the exact to the asymptotic KS p-value
_PSI_FLOOR = 1e-4  # proportion used in place of 0 in PSI, so empty bins stay finite


def ecdf(
    values: Sample, weights: IntArray | None, x: FloatArray, total: int | None = None
) -> FloatArray:
    """Empirical CDF of a sorted (optionally weighted) sample at points ``x``.

    Computed exactly as scipy does: ``searchsorted(values, x, side="right") / n``.

    Raises
    ------
    DriftError
        For an unsorted or non-finite sample, bad weights, or an empty sample.
    """
    v = _sample(values, "values")
    w = _weights(weights, v, "weights")
    if _size(v, w) == 0 and total is None:
        raise DriftError("ecdf needs a non-empty sample")
    return _ecdf(v, w, _array(x, "x"), total)


def _ecdf(
    values: Sample, weights: IntArray | None, x: FloatArray, total: int | None = None
) -> FloatArray:
    idx = np.searchsorted(values, x, side="right")
    if weights is None:
        return idx / (values.size if total is None else total)
    cum = np.concatenate(([0], np.cumsum(weights)))
    n = int(cum[-1]) if total is None else total
    return cum[idx] / n


def _array(x: object, name: str) -> FloatArray:
    """``x`` as a 1-D float64 array, or DriftError naming ``name``."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as err:
        raise DriftError(f"{name} must be a 1-D array of numbers; got {short_repr(x)}") from err
    if arr.ndim != 1:
        raise DriftError(f"{name} must be 1-D; got shape {arr.shape}")
    return arr


def _int_sample(x: object) -> IntArray | None:
    """``x`` as int64 when it is an array of integers that fit, else ``None``."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "iu" or x.ndim != 1:
        return None
    if x.dtype.kind == "u" and x.size and x.max() > np.iinfo(np.int64).max:
        return None  # past int64: compared as float64
    return x.astype(np.int64, copy=False)


def _sample(x: object, name: str) -> Sample:
    """A sorted finite sample, checked; an integer array stays integer (int64)."""
    ints = _int_sample(x)
    if ints is not None:
        if ints.size > 1 and (ints[1:] < ints[:-1]).any():
            raise DriftError(f"{name} must be sorted (ascending)")
        return ints
    arr = _array(x, name)
    if not np.isfinite(arr).all():
        bad = arr[~np.isfinite(arr)][0]
        raise DriftError(f"{name} holds a non-finite value ({bad!r}); drop nulls first")
    if arr.size > 1 and (arr[1:] < arr[:-1]).any():
        raise DriftError(f"{name} must be sorted (ascending)")
    return arr


def _weights(w: object, values: Sample, name: str) -> IntArray | None:
    """Counts per value: non-negative integers, one per value."""
    if w is None:
        return None
    arr = _array(w, name)
    if arr.size != values.size:
        raise DriftError(f"{name} has {arr.size} counts for {values.size} values")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr != np.floor(arr)).any():
        raise DriftError(f"{name} must hold non-negative integer counts")
    return arr.astype(np.int64)


def _samples(
    a: object, b: object, wa: object, wb: object
) -> tuple[Sample, Sample, IntArray | None, IntArray | None]:
    sa, sb = _sample(a, "a"), _sample(b, "b")
    if sa.dtype != sb.dtype:  # integers against floats: compared as floats
        sa, sb = sa.astype(np.float64, copy=False), sb.astype(np.float64, copy=False)
    return sa, sb, _weights(wa, sa, "wa"), _weights(wb, sb, "wb")


def _size(values: Sample, weights: IntArray | None) -> int:
    return int(values.size if weights is None else weights.sum())


def _cdf_gaps(
    a: Sample,
    b: Sample,
    wa: IntArray | None = None,
    wb: IntArray | None = None,
) -> tuple[Sample, FloatArray]:
    """The pooled sorted points and F_a - F_b at each of them."""
    pooled = np.sort(np.concatenate([a, b]), kind="stable")  # two sorted runs: a merge
    return pooled, _ecdf(a, wa, pooled) - _ecdf(b, wb, pooled)


def ks_2samp(
    a: Sample,
    b: Sample,
    wa: IntArray | None = None,
    wb: IntArray | None = None,
) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test on sorted samples.

    Parameters
    ----------
    a, b
        Sorted finite samples (or sorted distinct values when weighted).
    wa, wb
        Optional counts of each value of ``a`` / ``b``.

    Returns
    -------
    tuple of float
        The statistic ``D = sup |F_a - F_b|`` and its p-value, equal to
        :func:`scipy.stats.ks_2samp` with ``method="auto"``.

    Examples
    --------
    >>> import numpy as np
    >>> ks_2samp(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    (0.0, 1.0)
    """
    return _ks_2samp(*_samples(a, b, wa, wb))


def _ks_2samp(
    a: Sample, b: Sample, wa: IntArray | None, wb: IntArray | None
) -> tuple[float, float]:
    """:func:`ks_2samp` on samples known to be sorted and finite (not checked again).

    The detector's samples are so by construction (a profile sorts its finite values and
    checks a loaded state's), and each is an O(n) pass per call that it would repeat.
    """
    n1, n2 = _size(a, wa), _size(b, wb)
    if n1 == 0 or n2 == 0:
        raise DriftError("ks_2samp needs two non-empty samples")
    if max(n1, n2) <= _EXACT_KS_MAX_N:
        # Small samples: scipy's exact distribution, on the samples themselves.
        xa = a if wa is None else np.repeat(a, wa)
        xb = b if wb is None else np.repeat(b, wb)
        return _exact_ks(xa, xb)
    if wa is None and wb is None:
        hi, lo = _sorted_extremes(a, b)
    else:
        gaps = _cdf_gaps(a, b, wa, wb)[1]
        hi, lo = float(gaps.max()), float(gaps.min())
    return _ks_result(hi, lo, n1, n2)


def _exact_ks(xa: Sample, xb: Sample) -> tuple[float, float]:
    """The exact KS test of scipy, with scipy's own asymptotic fallback where it fails.

    On small tied samples of equal size with a small statistic (``D = 1/n``), scipy's
    exact p-value computation can fail; scipy then warns "Exact calculation
    unsuccessful" and returns the asymptotic p-value of its (exactly rounded) statistic.
    That fallback is expected, not a problem of the user's data: prodml returns the
    same statistic and p-value as scipy, without passing the warning on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _EXACT_FAILED, RuntimeWarning)
        res = _sps.ks_2samp(xa, xb, method="auto")
    return float(res.statistic), float(res.pvalue)


_EXACT_FAILED = "ks_2samp: Exact calculation unsuccessful"


@functools.lru_cache(maxsize=4)
def _steps(n: int) -> FloatArray:
    """``arange(n + 1) / n``, cached: the reference's size is the same for every column."""
    out = np.arange(n + 1) / n
    out.flags.writeable = False
    return out


def _count_le_self(a: Sample) -> IntArray:
    """For sorted ``a``: how many elements are <= each element (ties share the count)."""
    step = a[1:] != a[:-1]
    if step.all():
        return np.arange(1, a.size + 1)
    last = np.flatnonzero(np.concatenate((step, [True])))
    group = np.concatenate(([0], np.cumsum(step)))
    return last[group] + 1


def _sorted_extremes(a: Sample, b: Sample) -> tuple[float, float]:
    """Max and min of F_a - F_b over every point of two sorted unweighted samples.

    The counts are the integers scipy's searchsorted calls give, and each gap is computed
    as ``count_a / n1 - count_b / n2`` like scipy does, so the KS statistic is
    bit-identical; but one searchsorted of ``a`` into ``b`` replaces two over the pooled
    sample, and no pooled sort is needed.
    """
    n1, n2 = a.size, b.size
    right = np.searchsorted(b, a, side="right")  # count_b(<= a_i)
    tied = b[np.maximum(right - 1, 0)] == a
    tied &= right > 0
    if not tied.any() and (a[1:] != a[:-1]).all():
        # No value of a repeats or appears in b. F_a - F_b rises only at points of a and
        # falls only at points of b, so its max is at a point a_i, where it is
        # (i + 1)/n1 - right_i/n2, and its min at the last b before some a_i (or at the
        # end, where it is 0), where it is i/n1 - right_i/n2: the same integers and
        # divisions as scipy's, at the points where the extremes lie.
        steps = _steps(n1)
        r = right / n2
        return float((steps[1:] - r).max()), min(float((steps[:-1] - r).min()), 0.0)
    left = np.searchsorted(b, a, side="left") if tied.any() else right  # count_b(< a_i)
    # a_i <= b_j  <=>  j >= count_b(< a_i): count_a(<= b_j) is a cumulative histogram.
    count_a_at_b = np.cumsum(np.bincount(left, minlength=n2 + 1)[:n2])
    at_a = _count_le_self(a) / n1
    at_a -= right / n2
    at_b = count_a_at_b / n1
    at_b -= _count_le_self(b) / n2
    return max(float(at_a.max()), float(at_b.max())), min(float(at_a.min()), float(at_b.min()))


def _ks_result(hi: float, lo: float, n1: int, n2: int) -> tuple[float, float]:
    """KS statistic and Smirnov's asymptotic p-value from the extreme CDF gaps (as scipy)."""
    neg = float(np.clip(-lo, 0, 1))
    d = neg if neg > hi else hi  # as scipy: ties go to the positive side (no -0.0)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = float(np.clip(_sps.kstwo.sf(d, np.round(en)), 0, 1))
    return d, p


def wasserstein(
    a: Sample,
    b: Sample,
    wa: IntArray | None = None,
    wb: IntArray | None = None,
) -> float:
    """1-Wasserstein distance between two sorted samples, ``integral |F_a - F_b| dx``.

    Equals :func:`scipy.stats.wasserstein_distance` (to rounding). On int64 samples the
    differences between values are exact, rounded once to float64 (scipy converts the
    values to float64 first: 2**60 and 2**60 + 1 are then one value).

    Examples
    --------
    >>> import numpy as np
    >>> wasserstein(np.array([0.0, 1.0]), np.array([0.5, 1.5]))
    0.5
    >>> wasserstein(np.array([2**60]), np.array([2**60 + 1]))  # int64: exact
    1.0
    """
    return _wasserstein(*_samples(a, b, wa, wb))


def _wasserstein(a: Sample, b: Sample, wa: IntArray | None, wb: IntArray | None) -> float:
    """:func:`wasserstein` on samples known to be sorted and finite (not checked again)."""
    if _size(a, wa) == 0 or _size(b, wb) == 0:
        raise DriftError("wasserstein needs two non-empty samples")
    if wa is None and wb is None:
        return _wasserstein_sorted(a, b)
    pooled, gaps = _cdf_gaps(a, b, wa, wb)
    return _wasserstein_from_gaps(pooled, gaps)


def _int_gaps(hi: Sample, lo: Sample) -> FloatArray:
    """``hi - lo`` for int64 values with ``hi >= lo``, exact then rounded once to float64.

    In int64 the difference can overflow (2**62 - -2**62); as float64 the operands lose
    their low bits first (2**60 + 1 - 2**60 is 0). Unsigned, the wrapped difference is the
    true one, since it is below 2**64.
    """
    return (hi.view(np.uint64) - lo.view(np.uint64)).astype(np.float64)


def _abs_gaps(x: Sample, y: Sample) -> FloatArray:
    """``|x - y|``; between int64 values the exact difference, rounded once to float64."""
    if x.dtype != np.int64:
        return np.abs(x - y)
    up = x >= y
    return np.where(up, _int_gaps(x, y), _int_gaps(y, x))


def _wasserstein_sorted(a: Sample, b: Sample) -> float:
    """``integral_0^1 |Q_a(u) - Q_b(u)| du`` over the merged quantile breakpoints."""
    n1, n2 = a.size, b.size
    if n1 == n2:
        return float(np.mean(_abs_gaps(a, b)))
    # Breakpoints i/n1 and j/n2 in units of 1/(n1 * n2): integers, merged by an int sort.
    ends = np.sort(np.concatenate((np.arange(1, n1 + 1) * n2, np.arange(1, n2 + 1) * n1)))
    widths = np.diff(ends, prepend=0)
    ia = (ends + n2 - 1) // n2 - 1
    ib = (ends + n1 - 1) // n1 - 1
    return float(np.dot(widths, _abs_gaps(a[ia], b[ib])) / (n1 * n2))


def _wasserstein_from_gaps(pooled: Sample, gaps: FloatArray) -> float:
    """1-Wasserstein distance from pooled sorted points and the CDF gaps at them."""
    steps = _int_gaps(pooled[1:], pooled[:-1]) if pooled.dtype == np.int64 else np.diff(pooled)
    return float(np.dot(np.abs(gaps[:-1]), steps))


def cramervonmises_2samp(
    a: Sample,
    b: Sample,
    wa: IntArray | None = None,
    wb: IntArray | None = None,
) -> tuple[float, float]:
    """Two-sample Cramer-von Mises test (delegates to :func:`scipy.stats.cramervonmises_2samp`).

    Weighted samples are expanded to their values first.

    Examples
    --------
    >>> import numpy as np
    >>> t, p = cramervonmises_2samp(np.arange(30.0), np.arange(30.0) + 15)
    >>> round(t, 4), round(p, 4)
    (2.5014, 0.0)
    """
    a, b, wa, wb = _samples(a, b, wa, wb)
    xa = a if wa is None else np.repeat(a, wa)
    xb = b if wb is None else np.repeat(b, wb)
    if xa.size < 2 or xb.size < 2:
        raise DriftError("cramervonmises_2samp needs at least two values in each sample")
    res = _sps.cramervonmises_2samp(xa, xb)
    return float(res.statistic), float(res.pvalue)


def chi2_homogeneity(ref_counts: IntArray, cur_counts: IntArray) -> tuple[float, float, int]:
    """Chi-square test of homogeneity on the 2 x K table of category counts.

    Categories absent from both samples are dropped. Equal to
    ``scipy.stats.chi2_contingency(table, correction=False)``.

    Returns
    -------
    tuple
        The statistic, its p-value and the degrees of freedom (``K - 1``). With a single
        category present the samples cannot differ: ``(0.0, 1.0, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> stat, p, dof = chi2_homogeneity(np.array([50, 30, 20]), np.array([40, 40, 20]))
    >>> round(stat, 4), round(p, 4), dof
    (2.5397, 0.2809, 2)
    """
    ref, cur = _counts(ref_counts, cur_counts, "ref_counts", "cur_counts")
    table = np.vstack([ref, cur])
    table = table[:, table.sum(axis=0) > 0]
    k = table.shape[1]
    if k < 2:
        return 0.0, 1.0, 0
    rows = table.sum(axis=1, keepdims=True)
    cols = table.sum(axis=0, keepdims=True)
    expected = rows * cols / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    return stat, float(_sps.chi2.sf(stat, k - 1)), k - 1


def _counts(x: object, y: object, xname: str, yname: str) -> tuple[FloatArray, FloatArray]:
    """Two count (or proportion) vectors over the same bins: same length, finite, >= 0."""
    ax, ay = _array(x, xname), _array(y, yname)
    if ax.size != ay.size:
        raise DriftError(
            f"{xname} and {yname} must count the same bins; got {ax.size} and {ay.size}"
        )
    for arr, name in ((ax, xname), (ay, yname)):
        if arr.size == 0:
            raise DriftError(f"{name} is empty")
        if not np.isfinite(arr).all() or (arr < 0).any():
            raise DriftError(f"{name} must hold finite non-negative counts")
        if arr.sum() <= 0 or not np.isfinite(arr.sum()):
            raise DriftError(f"{name} must hold a positive, finite total")
    return ax, ay


def _proportions(x: FloatArray) -> FloatArray:
    return x / x.sum()


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` over bins or categories.

    Counts or proportions are accepted; a zero proportion is replaced by 1e-4 so that
    empty bins give a large but finite value. Rules of thumb: < 0.1 stable, 0.1-0.25
    moderate shift, > 0.25 major shift.

    Examples
    --------
    >>> round(psi([50, 50], [60, 40]), 4)
    0.0405
    """
    ex, ac = _counts(expected, actual, "expected", "actual")
    e = np.maximum(_proportions(ex), _PSI_FLOOR)
    a = np.maximum(_proportions(ac), _PSI_FLOOR)
    # Each term (a - e) * ln(a / e) is >= 0; clip rounding noise on equal proportions.
    return float(np.sum(np.maximum((a - e) * np.log(a / e), 0.0)))


def jensen_shannon(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count/proportion vectors.

    Equals :func:`scipy.spatial.distance.jensenshannon` with ``base=2``.

    Examples
    --------
    >>> jensen_shannon([1, 0], [0, 1])
    1.0
    """
    pc, qc = _counts(p, q, "p", "q")
    pp, qq = _proportions(pc), _proportions(qc)
    m = (pp + qq) / 2

    def _kl(x: FloatArray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return math.sqrt(max((_kl(pp) + _kl(qq)) / 2, 0.0))


def hellinger(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Hellinger distance ``sqrt(sum((sqrt(p) - sqrt(q))**2) / 2)``, in [0, 1].

    Equal to ``sqrt(1 - sum(sqrt(p * q)))`` for proportion vectors.

    Examples
    --------
    >>> hellinger([1, 0], [0, 1])
    1.0
    """
    # The Euclidean form is exactly 0 for equal inputs (1 - sum(sqrt(p*q)) is not).
    pc, qc = _counts(p, q, "p", "q")
    diff = np.sqrt(_proportions(pc)) - np.sqrt(_proportions(qc))
    return min(math.sqrt(0.5 * float(np.dot(diff, diff))), 1.0)


def adjust_pvalues(pvalues: Sequence[float] | FloatArray, method: str = "holm") -> FloatArray:
    """Adjust p-values for multiple testing.

    Parameters
    ----------
    pvalues
        Raw p-values, in any order.
    method
        ``"holm"`` (step-down, controls the family-wise error rate), ``"bonferroni"``,
        ``"fdr_bh"`` (Benjamini-Hochberg, controls the false discovery rate) or ``"none"``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order, as ``statsmodels.stats.multitest.multipletests``
        returns them; reject where adjusted <= alpha.

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.02, 0.03], "fdr_bh")
    array([0.03, 0.03, 0.03])
    """
    if not isinstance(method, str) or method not in CORRECTIONS:
        raise ConfigError(
            f"The 'method' parameter of adjust_pvalues must be one of {CORRECTIONS}. "
            f"Got {short_repr(method)} instead.",
            parameter="method",
        )
    p = _array(pvalues, "pvalues")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise DriftError("pvalues must be probabilities in [0, 1] (no NaN)")
    m = p.size
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate(ranked * (m - np.arange(m)))
    else:  # fdr_bh
        adj = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out
