"""HDDM_W: drift detection with McDiarmid bounds on weighted averages (Frías-Blanco, 2015)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from prodml._params import Constraint, Interval, TypeOf
from prodml._state import Field
from prodml.drift.streaming.base import Domain, FloatArray, _WarningDetector

__all__ = ["HDDM_W"]

_sqrt = math.sqrt
_log = math.log

# An exponentially weighted sample: [mean, sum of squared weights]; the sum of squared
# weights (river's "independent bounded condition") sets the width of the bound.
_EMPTY = (0.0, 0.0)


class HDDM_W(_WarningDetector):  # noqa: N801 - the published name of the method
    r"""Hoeffding drift detection on weighted averages, for values in [0, 1].

    Like :class:`HDDM_A`, with exponentially weighted means (weight ``lambda_val`` on
    the newest value) so that old values fade. With :math:`\hat Z` the weighted mean of
    all values since the restart and :math:`\kappa` its sum of squared weights, the
    McDiarmid bound is :math:`\epsilon = \sqrt{\kappa \ln(1/\delta) / 2}`. The cut
    point moves to "now" whenever :math:`\hat Z + \epsilon` reaches a new low; the
    values after it form a second weighted sample :math:`\hat Y`, and an alarm is
    raised when :math:`\hat Y - \hat X > \sqrt{(\kappa_X + \kappa_Y) \ln(1/\delta) / 2}`
    (``drift_confidence``; ``warning_confidence`` for a warning). ``two_sided_test``
    also watches for a fall. A weighted mean starts at its first value, with a sum of
    squared weights of 1. This is river's ``HDDMW`` step by step but for that sum: river
    gives one value ``lambda_val**2 + (1 - lambda_val)**2``, a narrower bound than its
    weight allows, and so alarms earlier on some streams (12 of 80 seeded ones, with
    river's settings); with that one value changed the alarms are river's. A warning is
    never raised with an alarm (two-sided, river can raise one side's warning on the
    other side's alarm). The default
    confidences are smaller (river's 0.001 raises false alarms on in-control streams at
    error rates of 0.2 and above). With ``lambda_val=0.05`` the weighted means are
    noisy, so only large, sudden rises are caught; :class:`HDDM_A` sees small ones.

    ``update_many`` gives exactly the alarms and the state of the ``update`` loop, bit
    for bit, faster: after each restart it feeds up to 1,024 values by an inlined loop
    (about 3 times the speed of ``update``), then the rest with numpy (20 to 30 times,
    on long stretches without alarms). The weighted means are a sequential recursion,
    ``lambda_val * x + (1 - lambda_val) * mean``: :func:`scipy.signal.lfilter` runs it
    with ``lambda_val * x`` computed beforehand, which rounds exactly as the loop does,
    the samples after each cut point being filtered as separate runs.

    Parameters
    ----------
    drift_confidence
        Confidence of the alarm test.
    warning_confidence
        Confidence of the warning test, at least ``drift_confidence``.
    lambda_val
        Weight of the newest value in the weighted means, in (0, 1].
    two_sided_test
        Whether to watch for a fall as well as a rise.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import HDDM_W
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(5000) < 0.1, rng.random(5000) < 0.5])
    >>> hddm = HDDM_W()
    >>> for i, x in enumerate(errors):
    ...     if hddm.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 5217
    >>> HDDM_W().update_many(errors)
    array([5217])
    """

    __slots__ = (
        "_cut_hi",
        "_cut_lo",
        "_log_d",
        "_log_w",
        "_state",
        "drift_confidence",
        "lambda_val",
        "two_sided_test",
        "warning_confidence",
    )
    _PARAMS = ("drift_confidence", "warning_confidence", "lambda_val", "two_sided_test")
    domain: ClassVar[Domain] = "unit"

    def __init__(
        self,
        drift_confidence: float = 1e-7,
        warning_confidence: float = 1e-4,
        lambda_val: float = 0.05,
        two_sided_test: bool = False,
    ) -> None:
        self.drift_confidence: float = drift_confidence
        self.warning_confidence: float = warning_confidence
        self.lambda_val: float = lambda_val
        self.two_sided_test: bool = two_sided_test
        self._init_base()

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "drift_confidence": [Interval(float, 0, 1, "neither")],
            "warning_confidence": [Interval(float, 0, 1, "neither")],
            "lambda_val": [Interval(float, 0, 1, "right")],
            "two_sided_test": [TypeOf(bool, "a bool")],
        }

    def _check_extra(self) -> None:
        self._require_order("warning_confidence", ">=", "drift_confidence")

    def _clear(self) -> None:
        self._log_d = _log(1.0 / self.drift_confidence)
        self._log_w = _log(1.0 / self.warning_confidence)
        # total, then (cut sample, after-cut sample) for a rise and for a fall
        self._state: list[tuple[float, float]] = [_EMPTY] * 5
        self._cut_lo = math.inf
        self._cut_hi = -math.inf
        self._warning = False

    def update(self, x: float) -> bool:
        """Feed one value in [0, 1]; return whether it raises a drift alarm.

        Raises
        ------
        DriftError
            If ``x`` is not a number in [0, 1].
        """
        self._busy += 1  # a to_dict in another thread waits for this update
        if self._hold:
            self._wait_for_reader()
        try:
            if type(x) is not float:
                x = self._as_float(x)
            if not 0.0 <= x <= 1.0:
                raise self._bad_value(x)
            if self._drift:
                self._restart()
            return self._step(x)
        finally:
            self._busy -= 1

    def _step(self, x: float) -> bool:
        lam = self.lambda_val
        keep = 1.0 - lam
        total, lo_x, lo_y, hi_x, hi_y = self._state
        total = _add(total, x, lam, keep)
        bound = _sqrt(total[1] * self._log_d / 2.0)
        drift = warn = False
        score = total[0] + bound
        if score < self._cut_lo:
            self._cut_lo = score
            lo_x, lo_y = total, _EMPTY
        else:
            lo_y = _add(lo_y, x, lam, keep)
            if lo_x[1] and lo_y[1]:
                rise = lo_y[0] - lo_x[0]
                ibc = lo_x[1] + lo_y[1]
                drift = rise > _sqrt(ibc * self._log_d / 2.0)
                warn = rise > _sqrt(ibc * self._log_w / 2.0)
        if self.two_sided_test:
            score = total[0] - bound
            if score > self._cut_hi:
                self._cut_hi = score
                hi_x, hi_y = total, _EMPTY
            else:
                hi_y = _add(hi_y, x, lam, keep)
                if hi_x[1] and hi_y[1]:
                    fall = hi_x[0] - hi_y[0]
                    ibc = hi_x[1] + hi_y[1]
                    drift = drift or fall > _sqrt(ibc * self._log_d / 2.0)
                    warn = warn or fall > _sqrt(ibc * self._log_w / 2.0)
        self._state = [total, lo_x, lo_y, hi_x, hi_y]
        self._warning = warn and not drift
        self._drift = drift
        return drift

    def _run(self, values: FloatArray) -> list[int]:
        lam = self.lambda_val
        plain = isinstance(lam, int | float) and 0.0 < lam <= 1.0
        if not (plain and self._tidy() and not np.signbit(values).any()):
            # -0.0 values (whose sign the loop keeps in places), states that only a
            # hand-edited from_dict can build and a lambda_val of another type (a numpy
            # float32 or a Fraction rounds otherwise) take the loop all along.
            return self._run_loop(values.tolist())
        alarms: list[int] = []
        pos, n = 0, len(values)
        while pos < n:
            if self._drift:
                self._restart()
            # The first values after a restart go through the loop (in growing pieces):
            # alarms often come in quick succession, and numpy's fixed costs only pay
            # off on long runs.
            hit, end, piece, probe_end = -1, pos, 32, min(n, pos + _PROBE)
            while hit < 0 and end < probe_end:
                stop = min(probe_end, end + piece)
                hit = self._loop(values[end:stop].tolist())
                hit = hit if hit < 0 else hit + end - pos
                end, piece = stop, 2 * piece
            if hit < 0 and end < n:
                hit = self._scan(values[end:])
                hit = hit if hit < 0 else hit + end - pos
            if hit < 0:
                break
            alarms.append(pos + hit)
            pos += hit + 1
        return alarms

    def _run_loop(self, xs: list[float]) -> list[int]:
        alarms: list[int] = []
        pos, rest = 0, iter(xs)
        while True:
            if self._drift:
                self._restart()
            hit = self._loop(rest)  # goes on from the value after the last alarm
            if hit < 0:
                return alarms
            pos += hit
            alarms.append(pos)
            pos += 1

    def _loop(self, xs: Iterable[float]) -> int:  # noqa: PLR0915 - inlined on purpose
        """Feed ``xs`` until an alarm; return its position (in what was taken) or -1.

        ``_step`` inlined, with the state in local variables: the same float operations
        in the same order (``lam * lam + keep * keep * w`` is ``lam2 + keep2 * w``), so
        the same results, about three times as fast. A bound is only recomputed when
        its sum of squared weights changes, which stops after a few hundred values.
        """
        lam = self.lambda_val
        keep = 1.0 - lam
        lam2, keep2 = lam * lam, keep * keep
        log_d, two_sided = self._log_d, self.two_sided_test
        (tm, tw), (lxm, lxw), (lym, lyw), (hxm, hxw), (hym, hyw) = self._state
        cut_lo, cut_hi = self._cut_lo, self._cut_hi
        bound_w = bound = lo_w = lo_lim = hi_w = hi_lim = math.nan
        hit = -1
        for i, x in enumerate(xs):
            lx = lam * x
            if tw:
                tm = lx + keep * tm
                tw = lam2 + keep2 * tw
            else:
                tm, tw = x, 1.0
            if tw != bound_w:
                bound_w, bound = tw, _sqrt(tw * log_d / 2.0)
            drift = False
            score = tm + bound
            if score < cut_lo:
                cut_lo, lxm, lxw, lym, lyw = score, tm, tw, 0.0, 0.0
            else:
                if lyw:
                    lym = lx + keep * lym
                    lyw = lam2 + keep2 * lyw
                else:
                    lym, lyw = x, 1.0
                if lxw:
                    w = lxw + lyw
                    if w != lo_w:
                        lo_w, lo_lim = w, _sqrt(w * log_d / 2.0)
                    drift = lym - lxm > lo_lim
            if two_sided:
                score = tm - bound
                if score > cut_hi:
                    cut_hi, hxm, hxw, hym, hyw = score, tm, tw, 0.0, 0.0
                else:
                    if hyw:
                        hym = lx + keep * hym
                        hyw = lam2 + keep2 * hyw
                    else:
                        hym, hyw = x, 1.0
                    if hxw:
                        w = hxw + hyw
                        if w != hi_w:
                            hi_w, hi_lim = w, _sqrt(w * log_d / 2.0)
                        drift = drift or hxm - hym > hi_lim
            if drift:
                hit = i
                break
        self._state = [(tm, tw), (lxm, lxw), (lym, lyw), (hxm, hxw), (hym, hyw)]
        self._cut_lo, self._cut_hi = cut_lo, cut_hi
        if not math.isnan(bound_w):  # at least one value was fed
            self._drift = hit >= 0
            self._warning = hit < 0 and self._warns()
        return hit

    def _warns(self) -> bool:
        """Whether the state after a value (that raised no alarm) holds a warning."""
        log_w = self._log_w
        _, (lxm, lxw), (lym, lyw), (hxm, hxw), (hym, hyw) = self._state
        if lxw and lyw and lym - lxm > _sqrt((lxw + lyw) * log_w / 2.0):
            return True
        return bool(
            self.two_sided_test and hxw and hyw and hxm - hym > _sqrt((hxw + hyw) * log_w / 2.0)
        )

    def _tidy(self) -> bool:
        """Whether the state is one the loop can reach (the vectorised scan's premise)."""
        for mean, ibc in self._state:
            if not (0.0 <= mean <= 1.0 and 0.0 <= ibc <= 1.0):
                return False
        _, lo_x, _, hi_x, _ = self._state
        return bool((lo_x[1] or math.isinf(self._cut_lo)) and (hi_x[1] or math.isinf(self._cut_hi)))

    def _scan(self, values: FloatArray) -> int:
        """Feed ``values`` by numpy until an alarm; return its position or -1.

        Blocks start small and double up to ``_BLOCK``, which bounds the work done
        past an alarm (whose state is left, as ``_step`` leaves it).
        """
        pos, size = 0, _FIRST
        while pos < len(values):
            hit = self._scan_block(values[pos : pos + size])
            if hit >= 0:
                return pos + hit
            pos += size
            size = min(2 * size, _BLOCK)
        return -1

    def _scan_block(self, v: FloatArray) -> int:
        """Feed ``v`` from the current state; return the first alarm's position or -1.

        Leaves the state right after that alarm (or after the last value), as ``_step``
        would. Every float is computed with the operations of ``_step``, in its order.
        """
        total, lo_x, lo_y, hi_x, hi_y = self._state
        series = _Series(v, float(self.lambda_val), total)
        bound = np.sqrt(series.ibc * self._log_d / 2.0)
        lo = series.side(series.mean + bound, self._cut_lo, lo_x, lo_y, self._log_d, rise=True)
        drift = lo.drift
        sides = [lo]
        if self.two_sided_test:
            hi = series.side(series.mean - bound, self._cut_hi, hi_x, hi_y, self._log_d, rise=False)
            drift = drift | hi.drift
            sides.append(hi)
        hit = int(np.argmax(drift))
        if not drift[hit]:
            hit = -1
        j = hit if hit >= 0 else len(v) - 1
        total = (float(series.mean[j]), float(series.ibc[j]))
        self._cut_lo, lo_x, lo_y = lo.settle(j, total)
        if len(sides) == 2:
            self._cut_hi, hi_x, hi_y = sides[1].settle(j, total)
        self._state = [total, lo_x, lo_y, hi_x, hi_y]
        self._drift = hit >= 0
        self._warning = hit < 0 and self._warns()
        return hit

    def _get_state(self) -> dict[str, Any]:
        return {
            "samples": [list(s) for s in self._state],
            "cut_lo": None if math.isinf(self._cut_lo) else self._cut_lo,
            "cut_hi": None if math.isinf(self._cut_hi) else self._cut_hi,
            "warning": self._warning,
        }

    def _set_state(self, state: Field) -> None:
        state.dict(keys=("drift", "samples", "cut_lo", "cut_hi", "warning"))
        samples = []
        for sample in state["samples"].each(length=5):
            mean_f, ibc_f = sample.each(length=2)
            # the mean of values in [0, 1]; the weight sum of squares is 0 (empty) or in (0, 1]
            samples.append((mean_f.float(lo=0.0, hi=1.0), ibc_f.float(lo=0.0, hi=1.0)))
        self._state = samples
        cut_lo = state["cut_lo"].optional_float()
        cut_hi = state["cut_hi"].optional_float()
        self._cut_lo = math.inf if cut_lo is None else cut_lo
        self._cut_hi = -math.inf if cut_hi is None else cut_hi
        self._warning = state["warning"].bool()


def _add(sample: tuple[float, float], x: float, lam: float, keep: float) -> tuple[float, float]:
    """Add ``x`` to a weighted sample; an empty one (weight 0) starts at ``x``."""
    mean, ibc = sample
    if not ibc:
        return (x, 1.0)
    return (lam * x + keep * mean, lam * lam + keep * keep * ibc)


# -- the vectorised scan ------------------------------------------------------------------

_PROBE = 1024  # values fed by the loop after a restart before numpy takes over
_FIRST = 2048  # size of numpy's first block, doubling up to _BLOCK
_BLOCK = 1 << 16
_ONE = np.array([1.0, 0.0])


def _ewm(u: FloatArray, keep: float, z0: float | None = None, axis: int = -1) -> FloatArray:
    """The recursion ``y[i] = u[i] + keep * y[i - 1]``, with ``keep * y[-1] == z0``.

    lfilter's direct form computes ``y = z + 1.0 * u`` then ``z = u * 0.0 - y * -keep``:
    the two roundings of ``lam * x + keep * mean`` once ``u = lam * x`` is computed
    beforehand. A fused multiply-add changes nothing, as the other product is exact.
    Without ``z0`` (initial rest) ``y[0] == u[0]``, which starts an empty sample.
    """
    den = np.array([1.0, -keep])
    if z0 is None:
        return np.asarray(lfilter(_ONE, den, u, axis=axis), dtype=np.float64)
    return np.asarray(lfilter(_ONE, den, u, zi=np.array([z0]))[0], dtype=np.float64)


@functools.lru_cache(maxsize=8)
def _fresh_weights(lam: float, size: int) -> FloatArray:
    """Sum of squared weights of a sample ``i`` values after it started, for each ``i``."""
    keep = 1.0 - lam
    lam2 = lam * lam
    weights = np.full(size, lam2)
    weights[0] = 1.0
    out = _ewm(weights, keep * keep)
    out.setflags(write=False)
    return out


def _weights(w: float, size: int, lam2: float, keep2: float) -> FloatArray:
    """Sum of squared weights after each of ``size`` values added to a sample of ``w``."""
    if lam2 + keep2 * w == w:  # the usual case: the recursion's fixed point in floats
        return np.full(size, w)
    return _ewm(np.full(size, lam2), keep2, keep2 * w)


class _Series:
    """A block of values and, after each, the whole sample's weighted mean and weight."""

    __slots__ = ("fresh_w", "ibc", "keep", "lam2", "mean", "v", "xp")

    def __init__(self, v: FloatArray, lam: float, total: tuple[float, float]) -> None:
        keep = 1.0 - lam
        lam2, keep2 = lam * lam, keep * keep
        self.v, self.keep, self.lam2 = v, keep, lam2
        self.xp = xp = lam * v
        k = len(v)
        self.fresh_w = _fresh_weights(lam, max(k, _BLOCK))[:k]
        if total[1]:
            self.mean = _ewm(xp, keep, keep * total[0])
            self.ibc = _weights(total[1], k, lam2, keep2)
        else:
            u = xp.copy()
            u[0] = v[0]
            self.mean, self.ibc = _ewm(u, keep), self.fresh_w

    def side(
        self,
        score: FloatArray,
        cut_before: float,
        x_prev: tuple[float, float],
        y_prev: tuple[float, float],
        log_d: float,
        *,
        rise: bool,
    ) -> _Side:
        """One side of the test: the cut points and the two samples, then the alarms.

        The cut moves where ``score`` sets a new low (``rise``: the side watching for
        a rise) or a new high; ``cut_before`` is the record before the block.
        """
        start = np.concatenate(([cut_before], score))
        if rise:
            best = np.minimum.accumulate(start)
            cut = score < best[:-1]
        else:
            best = np.maximum.accumulate(start)
            cut = score > best[:-1]
        k = len(score)
        keep, w = self.keep, y_prev[1]
        if w and self.lam2 + keep * keep * w == w and not cut.any():
            # The usual block once the stream has settled: no cut, and the after-cut
            # sample's weight at its fixed point, so one limit for the whole block.
            y_mean = _ewm(self.xp, keep, keep * y_prev[0])
            limit = _sqrt((x_prev[1] + w) * log_d / 2.0)
            gap = y_mean - x_prev[0] if rise else x_prev[0] - y_mean
            x_mean, x_ibc, y_ibc = (np.broadcast_to(c, (k,)) for c in (x_prev[0], x_prev[1], w))
            return _Side(rise, best, cut, (x_mean, x_ibc, y_mean, y_ibc), gap > limit)
        pos = np.arange(k)
        last_cut = np.maximum.accumulate(np.where(cut, pos, -1)) + 1
        x_mean = np.concatenate(([x_prev[0]], self.mean))[last_cut]
        x_ibc = np.concatenate(([x_prev[1]], self.ibc))[last_cut]
        y_ibc = self.fresh_w[pos - last_cut]
        y_mean = np.zeros(k)
        cuts = np.flatnonzero(cut)
        first = int(cuts[0]) if len(cuts) else k
        starts, ends = cuts + 1, np.append(cuts[1:], k)
        nonempty = starts < ends
        starts, ends = starts[nonempty], ends[nonempty]
        if first and y_prev[1]:  # the after-cut sample carried in lasts until the first cut
            y_mean[:first] = _ewm(self.xp[:first], keep, keep * y_prev[0])
            y_ibc[:first] = _weights(y_prev[1], first, self.lam2, keep * keep)
        elif first:
            starts, ends = np.concatenate(([0], starts)), np.concatenate(([first], ends))
        u = self.xp.copy()
        u[starts] = self.v[starts]  # an empty sample starts at the value itself
        _runs(u, starts, ends, self.keep, y_mean)
        gap = y_mean - x_mean if rise else x_mean - y_mean
        drift = ~cut & (gap > np.sqrt((x_ibc + y_ibc) * log_d / 2.0))
        return _Side(rise, best, cut, (x_mean, x_ibc, y_mean, y_ibc), drift)


@dataclasses.dataclass(frozen=True, slots=True)
class _Side:
    """One side's outcome over a block: cut records, samples and alarms."""

    rise: bool
    best: FloatArray
    cut: npt.NDArray[np.bool_]
    samples: tuple[FloatArray, FloatArray, FloatArray, FloatArray]
    drift: npt.NDArray[np.bool_]

    def settle(
        self, j: int, total: tuple[float, float]
    ) -> tuple[float, tuple[float, float], tuple[float, float]]:
        """The side's state after position ``j``: cut record and both samples."""
        if self.cut[j]:
            return float(self.best[j + 1]), total, _EMPTY
        x_mean, x_ibc, y_mean, y_ibc = self.samples
        x = (float(x_mean[j]), float(x_ibc[j]))
        return float(self.best[j + 1]), x, (float(y_mean[j]), float(y_ibc[j]))


def _runs(
    u: FloatArray,
    starts: npt.NDArray[np.intp],
    ends: npt.NDArray[np.intp],
    keep: float,
    out: FloatArray,
) -> None:
    """``out[s:e] = _ewm(u[s:e], keep)`` for each run ``s:e``, in few lfilter calls.

    Runs are grouped by length into power-of-two widths, each group filtered as the
    rows of one 2-D array (the padding past a run's end cannot reach back into it).
    """
    if not len(starts):
        return
    lengths = ends - starts
    width_log = np.ceil(np.log2(lengths)).astype(np.int64)
    last = len(u) - 1
    for b in np.unique(width_log).tolist():
        group = width_log == b
        offsets = np.arange(1 << b)
        idx = np.minimum(starts[group, None] + offsets, last)
        rows = _ewm(u[idx], keep, axis=1)
        inside = offsets < lengths[group, None]
        out[idx[inside]] = rows[inside]
