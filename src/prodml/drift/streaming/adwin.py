"""ADWIN: adaptive windowing (Bifet and Gavaldà, 2007), in blocks of ``clock`` values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from prodml._params import Constraint, Interval
from prodml._state import Field
from prodml.drift.streaming import _adwin_jit
from prodml.drift.streaming._adwin_kernels import (
    GROUP_LEVEL,
    BoolArray,
    IntArray,
    Screen,
    block_sums,
    confidence_terms,
    counts,
    cut_test,
    cuts,
    gather,
    group_bound,
    group_stats,
    levels,
)
from prodml.drift.streaming.base import MAX_VALUE, FloatArray, StreamingDetector, run_segments

__all__ = ["ADWIN"]

_SPAN = 2.0 * MAX_VALUE * (1.0 + 2.0**-20)  # widest x - y of two values, with rounding room

_log = math.log
_sqrt = math.sqrt
_MAX_BUCKETS = 1024  # largest max_buckets (river's default is 5)
_MAX_LEVELS = 60  # of a restored state: leaves the compiled kernel rows to grow into
_NO_ALARMS = np.zeros(1, dtype=np.int64)  # update() closes one block: at most one alarm


class ADWIN(StreamingDetector):
    r"""Adaptive windowing drift detector for real-valued streams.

    ADWIN keeps the window of values seen since the last alarm, compressed into an
    exponential histogram of buckets (ADWIN2: at most ``max_buckets`` buckets of each
    size, the two oldest merged when one more arrives). Every ``clock`` values it tests
    each split of the window into an older part :math:`W_0` and a newer part
    :math:`W_1` at a bucket boundary, and raises an alarm when their means differ by
    more than

    .. math::

        \epsilon = \sqrt{2 m \sigma^2_W \delta'} + \tfrac{2}{3} m \delta', \quad
        m = \frac{1}{n_0 - \ell + 1} + \frac{1}{n_1 - \ell + 1}, \quad
        \delta' = \ln \frac{2 \ln |W|}{\delta},

    with :math:`\sigma^2_W` the window's variance and :math:`\ell` the
    ``min_window_length`` (the bound of river's ``ADWIN``). After an alarm the
    detector starts afresh with the next value, as river's does.

    **Blocks.** The histogram's unit is a block of ``clock`` values (river's unit is
    one value), so cuts fall on multiples of ``clock`` values from the window's start.
    Tests run at the same moments as river's (every ``clock`` values); with
    ``clock=1`` the bucket structure is river's. Blocks make ``update`` cheap and let
    ``update_many`` build the histogram of every test point at once with numpy.

    Parameters
    ----------
    delta
        Confidence of the cut test; smaller values mean fewer false alarms.
    clock
        Test for change every ``clock`` values (and the histogram's unit).
    max_buckets
        Buckets of each size kept before the two oldest are merged (2 to 1024).
    min_window_length
        Smallest sub-window (in values) considered at a cut.
    grace_period
        No test until the window holds more than this many values.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import ADWIN
    >>> rng = np.random.default_rng(42)
    >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1, 1, 1000)])
    >>> adwin = ADWIN()
    >>> for i, x in enumerate(stream):
    ...     if adwin.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 1055
    >>> ADWIN().update_many(stream)
    array([1055])
    """

    __slots__ = (
        "_buf",
        "_jit",
        "_k",
        "_m2",
        "_n",
        "_need",
        "_q",
        "_s",
        "_screen",
        "_st",
        "_tot",
        "_u",
        "_x0",
        "clock",
        "delta",
        "grace_period",
        "max_buckets",
        "min_window_length",
    )
    _PARAMS = ("delta", "clock", "max_buckets", "min_window_length", "grace_period")

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        self.delta: float = delta
        self.clock: int = clock
        self.max_buckets: int = max_buckets
        self.min_window_length: int = min_window_length
        self.grace_period: int = grace_period
        self._init_base()

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "delta": [Interval(float, 0, 1, "neither")],
            "clock": [Interval(int, 1, None)],
            # the compiled kernel holds (max_buckets + 1) * 60 rows: bounded
            "max_buckets": [Interval(int, 2, _MAX_BUCKETS)],
            "min_window_length": [Interval(int, 1, None)],
            "grace_period": [Interval(int, 0, None)],
        }

    def _clear(self) -> None:
        # The open block is ``_n`` folded values (first value ``_x0``, sums ``_s`` and
        # ``_q`` of ``x - x0`` and its square) followed by the raw values in ``_buf``;
        # folding runs the same additions in the same order whenever it happens.
        self._n = 0
        self._x0 = 0.0
        self._s = 0.0
        self._q = 0.0
        self._buf: list[float] = []  # list.append is the fastest append there is
        self._need = self.clock  # values that close the open block
        self._screen = Screen()  # a cache that speeds up the cut test, never saved
        self._k = 0  # closed blocks in the window
        self._u = 0.0  # sum of the window's closed values
        self._m2 = 0.0  # sum of squared deviations from the window's mean
        self._tot: list[list[float]] = []  # level r: totals of 2**r blocks, oldest first
        # With numba (the ``fast`` extra) the state lives in one array, updated by the
        # compiled kernel of ``_adwin_jit``; the attributes above are then unused (a
        # restored state goes in through ``_push``, reports read a copy: ``_view``).
        self._jit = _adwin_jit.compiled() is not None
        if self._jit:
            j = _adwin_jit
            self._st = np.zeros(j.state_size(self.max_buckets))
            self._st[j.S_DELTA : j.S_K] = (
                self.delta,
                self.min_window_length,
                self.grace_period,
                self.clock,
                self.max_buckets,
            )

    # -- public ----------------------------------------------------------------------------

    @property
    def width(self) -> int:
        """Number of values in the current window."""
        if not self._ready:
            return 0
        n, _, _, _, k, _, _ = self._view()
        return k * self.clock + n

    @property
    def estimation(self) -> float:
        """Mean of the current window (0.0 when empty)."""
        if not self._ready:
            return 0.0
        n, x0, s, _, k, u, _ = self._view()
        width = k * self.clock + n
        if width == 0:
            return 0.0
        return (u + n * x0 + s) / width

    def update(self, x: float) -> bool:
        """Feed one value; return whether it raises a drift alarm.

        Raises
        ------
        DriftError
            If ``x`` is not a finite number.
        """
        # Snapshot protocol (base.py ``to_dict``), cheaper than the other detectors':
        # most updates only append to the open block's buffer (one atomic step under the
        # GIL), and a snapshot reads without writing (``_view``), so those updates need
        # no guard. Every other write (a restart, a block's close) is guarded.
        if type(x) is not float:
            x = self._as_float(x)
        elif not -1e100 <= x <= 1e100:  # NaN too; MAX_VALUE, as a literal: hot
            raise self._bad_value(x)
        if self._drift:
            return self._restart_with(x)
        buf = self._buf
        buf.append(x)
        if len(buf) < self._need:
            return False
        self._busy += 1  # a snapshot taken meanwhile leaves this value out (``_view``)
        if self._hold:
            self._wait_for_reader()
        try:
            return self._close_block()
        finally:
            self._busy -= 1

    def _restart_with(self, x: float) -> bool:
        """``update`` after an alarm (or the first one): restart, then take ``x``; guarded."""
        self._busy += 1
        if self._hold:
            self._wait_for_reader()
        try:
            if self._drift:
                self._restart()
            buf = self._buf
            buf.append(x)
            if len(buf) < self._need:
                return False
            return self._close_block()
        finally:
            self._busy -= 1

    # -- the scalar path -------------------------------------------------------------------

    def _fold(self) -> None:
        """Fold the buffered values into the open block's first value and sums."""
        buf = self._buf
        if not buf:
            return
        if self._jit:
            self._feed_buffer()
            return
        self._n, self._x0, self._s, self._q = self._folded(buf)
        del buf[:]
        self._need = self.clock - self._n

    def _folded(self, buf: list[float]) -> tuple[int, float, float, float]:
        """The open block's count, first value and sums with ``buf`` folded in (no write)."""
        if self._n == 0:
            x0 = buf[0]
            s = q = 0.0
        else:
            x0, s, q = self._x0, self._s, self._q
        for x in buf:  # the first value of a new block adds 0.0: sums unchanged
            d = x - x0
            s += d
            q += d * d
        return self._n + len(buf), x0, s, q

    def _close_block(self) -> bool:
        if self._jit:
            self._drift = self._feed_buffer() > 0
            return self._drift
        self._fold()
        self._n = 0
        self._need = self.clock
        c = float(self.clock)
        s = self._s
        total = c * self._x0 + s
        m2b = self._q - s * s / c
        self._x0 = self._s = self._q = 0.0
        m2b = max(m2b, 0.0)
        k = self._k
        if k == 0:
            inc = m2b
        else:
            w = k * c
            dm = self._u / w - total / c
            inc = m2b + (w * c / (w + c)) * dm * dm
        self._m2 += inc
        self._u += total
        self._k = k = k + 1
        screen = self._screen
        screen.abs_sum += abs(total)
        tot = self._tot
        full = self.max_buckets + 1
        level = 0
        while True:
            if level == len(tot):
                tot.append([])
            row = tot[level]
            row.append(total)
            if len(row) < full:
                break
            total = row[0] + row[1]
            del row[:2]
            level += 1
            if level == GROUP_LEVEL:  # the screened group changes
                screen.n_cached = -1.0
                if screen.ok:
                    screen.promote(total, float(1 << level) * c, k * c)
        width = k * c
        if width <= self.grace_period or width < 2.0:  # a cut needs two values
            self._drift = False
            return False
        drift = cut_test(
            tot,
            c,
            self._u,
            width,
            self._m2,
            _log(2.0 * _log(width) / float(self.delta)),  # float: as the compiled kernel
            float(self.min_window_length),
            screen,
        )
        self._drift = drift
        return drift

    # -- the vectorised path ---------------------------------------------------------------

    def _run(self, values: FloatArray) -> list[int]:
        if not self._jit:
            return run_segments(self, values, self._scan, first_chunk=64 * self.clock)
        if self._drift:
            self._restart()
        self._fold()
        alarms = np.zeros(len(values) // self.clock + 1, dtype=np.int64)
        found = self._kernel(values, alarms)
        self._drift = found > 0 and int(alarms[found - 1]) == len(values) - 1
        return alarms[:found].tolist()

    # -- the compiled path (numba) ---------------------------------------------------------

    def _kernel(self, values: FloatArray, alarms: IntArray | None = None) -> int:
        """Run the compiled kernel on ``values`` from the state array; count the alarms."""
        kernel = _adwin_jit.compiled()
        assert kernel is not None  # noqa: S101 - only called in jit mode
        found = kernel(values, self._st, _NO_ALARMS if alarms is None else alarms)
        self._need = self.clock - int(self._st[_adwin_jit.S_N])
        return found

    def _feed_buffer(self) -> int:
        """Hand the buffered values to the kernel (a fold, or a block's close); empty it."""
        buf = self._buf
        found = self._kernel(np.array(buf, dtype=np.float64))
        del buf[:]
        return found

    def _push(self) -> None:
        """Write the Python attributes into the arrays (jit mode; else nothing)."""
        if not self._jit:
            return
        j = _adwin_jit
        st = self._st
        st[: j.S_DELTA] = (self._n, self._x0, self._s, self._q, self._u, self._m2, math.inf)
        st[j.S_K], st[j.S_LEVELS] = self._k, len(self._tot)
        st[j.S_CNT :] = 0.0
        full = self.max_buckets + 1
        for r, row in enumerate(self._tot):
            st[j.S_CNT + r] = len(row)
            st[j.S_HIST + r * full : j.S_HIST + r * full + len(row)] = row

    def _scan(self, chunk: FloatArray) -> int:
        clock = self.clock
        self._fold()
        pos = 0
        head = min((clock - self._n) % clock, len(chunk))
        for pos in range(head):  # finish the open block value by value
            if self.update(float(chunk[pos])):
                return pos
        pos = head
        nblocks = (len(chunk) - pos) // clock
        if nblocks:
            blocks = chunk[pos : pos + nblocks * clock].reshape(nblocks, clock)
            with np.errstate(all="ignore"):  # huge values: inf, as in the scalar path
                hit = self._scan_blocks(blocks)
            if hit >= 0:
                return pos + (hit + 1) * clock - 1
            pos += nblocks * clock
        for i in range(pos, len(chunk)):  # open the next block; no test before it closes
            self.update(float(chunk[i]))
        return -1

    def _scan_blocks(self, blocks: FloatArray) -> int:
        """Close whole blocks; return the first block raising an alarm, or -1."""
        c = float(self.clock)
        nb = len(blocks)
        x0, s, q = block_sums(blocks)
        total = c * x0 + s
        m2b = q - s * s / c
        m2b = np.where(m2b < 0.0, 0.0, m2b)
        u_all = np.cumsum(np.concatenate(([self._u], total)))
        k0 = self._k
        w_prev = np.arange(k0, k0 + nb, dtype=np.float64) * c
        with np.errstate(divide="ignore", invalid="ignore"):
            dm = u_all[:-1] / w_prev - total / c
            inc = np.where(w_prev == 0.0, m2b, m2b + (w_prev * c / (w_prev + c)) * dm * dm)
        m2_all = np.cumsum(np.concatenate(([self._m2], inc)))
        ks = np.arange(k0 + 1, k0 + nb + 1, dtype=np.int64)
        lows = self._lows()
        trees = self._trees(total)
        width = ks.astype(np.float64) * c
        tested = np.flatnonzero((width > self.grace_period) & (width >= 2.0))
        abs_sum = self._screen.abs_sum + np.cumsum(np.abs(total))
        hit = -1
        step = 1024
        for start in range(0, len(tested), step):
            rows = tested[start : start + step]
            cut = self._cut_rows(
                trees, lows, ks[rows], width[rows], u_all[rows + 1], m2_all[rows + 1], abs_sum[rows]
            )
            if cut.any():
                hit = int(rows[np.argmax(cut)])
                break
        last = hit if hit >= 0 else nb - 1
        self._k = k0 + last + 1
        self._u = float(u_all[last + 1])
        self._m2 = float(m2_all[last + 1])
        self._tot = levels(trees, lows, self._k, self.max_buckets)
        self._n = 0
        self._x0 = self._s = self._q = 0.0
        self._need = self.clock
        screen = self._screen
        screen.ok = False
        screen.n_cached = -1.0
        screen.abs_sum += float(np.abs(total[: last + 1]).sum())
        self._drift = hit >= 0
        return hit

    def _cut_rows(  # noqa: PLR0917 - private, called from one place
        self,
        trees: list[FloatArray],
        lows: list[int],
        ks: IntArray,
        width: FloatArray,
        total: FloatArray,
        m2: FloatArray,
        abs_sum: FloatArray,
    ) -> BoolArray:
        """The cut test of consecutive test points (rows), batched.

        Rows where the group of old buckets (levels >= ``GROUP_LEVEL``) changed, or
        that have none, test every boundary; the others test the newer levels only
        when the group bound, carried from the row where the group last changed,
        proves that no old boundary is a cut (see ``_adwin_kernels``).
        """
        c = float(self.clock)
        mb = self.max_buckets
        low = float(self.min_window_length)
        dp = confidence_terms(width, float(self.delta))
        n = len(ks)
        cut = np.zeros(n, dtype=bool)
        lv = counts(ks, mb)
        if len(lv) > GROUP_LEVEL:
            entered = lv[GROUP_LEVEL][0]
            grouped = entered > 0
            config = grouped.copy()
            config[1:] &= entered[1:] != entered[:-1]
        else:
            grouped = config = np.zeros(n, dtype=bool)
        full = ~grouped | config
        fr = np.flatnonzero(full)
        if fr.size:
            tot, size, valid = gather(trees, lows, lv, mb, c, fr)
            cut[fr] = cuts(tot, size, valid, total[fr], width[fr], m2[fr], dp[fr], low, c)
        rest = np.flatnonzero(grouped & ~config)
        if not rest.size:
            return cut
        sel = config[fr]
        ncols = (tot.shape[1] // mb - GROUP_LEVEL) * mb
        cfg = fr[sel]
        z_c, u_c, n_c = group_stats(
            tot[sel, :ncols], size[sel, :ncols], valid[sel, :ncols], width[cfg], total[cfg]
        )
        own = (np.cumsum(config) - 1)[rest]  # each row's latest group change
        a = 2.0 * (m2[rest] / width[rest]) * dp[rest]
        mu_c = total[cfg] / width[cfg]
        safe = group_bound(
            z_c[own], mu_c[own], n_c[own], width[rest], total[rest], abs_sum[rest], a, c
        )
        fl = rest[~safe]
        if fl.size:
            tot, size, valid = gather(trees, lows, lv, mb, c, fl)
            cut[fl] = cuts(tot, size, valid, total[fl], width[fl], m2[fl], dp[fl], low, c)
        pr = rest[safe]
        if pr.size:
            own = own[safe]
            tot, size, valid = gather(trees, lows, lv, mb, c, pr, below=GROUP_LEVEL)
            one = np.ones((len(pr), 1), dtype=bool)
            cut[pr] = cuts(
                np.concatenate((u_c[own][:, None], tot), axis=1),
                np.concatenate((n_c[own][:, None], size), axis=1),
                np.concatenate((one, valid), axis=1),
                total[pr],
                width[pr],
                m2[pr],
                dp[pr],
                low,
                c,
            )
        return cut

    def _lows(self) -> list[int]:
        """Index (in buckets of its level) of each level's oldest bucket now."""
        lows = []
        m = self._k
        for row in self._tot:
            m = m - len(row)
            lows.append(m)
            m //= 2
        return lows

    def _trees(self, totals: FloatArray) -> list[FloatArray]:
        """Per level: the old buckets followed by every merge the new blocks can form."""
        trees = []
        below = np.asarray(self._tot[0] if self._tot else [], dtype=np.float64)
        below = np.concatenate((below, totals))
        level = 0
        while len(below):
            trees.append(below)
            level += 1
            half = len(below) // 2
            merged = below[0 : 2 * half : 2] + below[1 : 2 * half : 2]
            old = self._tot[level] if level < len(self._tot) else []
            below = np.concatenate((np.asarray(old, dtype=np.float64), merged))
        return trees

    # -- state -----------------------------------------------------------------------------

    def _view(
        self, buckets: list[list[float]] | None = None
    ) -> tuple[int, float, float, float, int, float, float]:
        """The state with the buffer folded in, read without writing anything.

        Returns ``(n, x0, s, q, k, u, m2)`` and appends the histogram's rows to
        ``buckets`` if given. A snapshot in another thread calls it while ``update``
        may append to the buffer unguarded (``to_dict`` only waits for guarded writes):
        it copies the buffer once (atomic under the GIL), so it sees the values of a
        prefix of the stream. A copy as long as the open block's remaining room holds
        the value of an update that is waiting to close the block: that update has not
        happened yet, so its value is left out.
        """
        need = self._need
        buf = self._buf[:]
        if len(buf) >= need:
            del buf[need - 1 :]
        if not self._jit:
            if buf:
                n, x0, s, q = self._folded(buf)
            else:
                n, x0, s, q = self._n, self._x0, self._s, self._q
            if buckets is not None:
                buckets += [list(row) for row in self._tot]
            return n, x0, s, q, self._k, self._u, self._m2
        j = _adwin_jit
        st = self._st
        if buf:  # the kernel folds a part block as it folds the live one, into a copy
            kernel = j.compiled()
            assert kernel is not None  # noqa: S101 - jit mode
            st = st.copy()
            kernel(np.array(buf, dtype=np.float64), st, _NO_ALARMS)
        vals = st.tolist()
        if buckets is not None:
            full = self.max_buckets + 1
            buckets += [
                vals[j.S_HIST + r * full : j.S_HIST + r * full + int(vals[j.S_CNT + r])]
                for r in range(int(vals[j.S_LEVELS]))
            ]
        return (
            int(vals[j.S_N]),
            vals[j.S_X0],
            vals[j.S_S],
            vals[j.S_Q],
            int(vals[j.S_K]),
            vals[j.S_U],
            vals[j.S_M2],
        )

    def _get_state(self) -> dict[str, Any]:
        buckets: list[list[float]] = []
        n, x0, s, q, k, u, m2 = self._view(buckets)
        return {"n": n, "x0": x0, "s": s, "q": q, "k": k, "u": u, "m2": m2, "buckets": buckets}

    def _set_state(self, state: Field) -> None:
        state.dict(keys=("drift", "n", "x0", "s", "q", "k", "u", "m2", "buckets"))
        self._n = n = state["n"].int(lo=0, hi=self.clock - 1)
        # Magnitudes the values (within +-MAX_VALUE) can reach, with room for rounding:
        # beyond them the next sums overflow to inf and the state could not be saved.
        self._x0 = state["x0"].float(lo=-MAX_VALUE, hi=MAX_VALUE)
        self._s = state["s"].float(lo=-n * _SPAN, hi=n * _SPAN)
        self._q = state["q"].float(lo=0.0, hi=n * _SPAN * _SPAN)
        self._buf = []
        self._need = self.clock - self._n
        self._screen = Screen()
        self._screen.abs_sum = math.inf  # unknown: no group screen until a restart
        rows = state["buckets"].each(max_len=_MAX_LEVELS)
        self._tot = []
        for r, row in enumerate(rows):
            most = float(self.clock << r) * _SPAN / 2.0  # a bucket of 2**r blocks
            self._tot.append(row.floats(max_len=self.max_buckets, lo=-most, hi=most))
        self._k = state["k"].int(lo=0, hi=2**62)
        width = float(self._k * self.clock)
        self._u = state["u"].float(lo=-width * _SPAN / 2.0, hi=width * _SPAN / 2.0)
        self._m2 = state["m2"].float(lo=0.0, hi=width * _SPAN * _SPAN)
        # A histogram ADWIN can reach: every level at most max_buckets buckets (the
        # compiled kernel writes into fixed rows), at most 60 levels (2**60 blocks), and
        # as many blocks as the buckets hold.
        blocks = sum(len(row) << r for r, row in enumerate(self._tot))
        state["k"].check(self._k == blocks, f"the number of blocks the buckets hold ({blocks})")
        self._push()
