"""EDDM: early drift detection method (Baena-García et al., 2006)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from prodml._params import Constraint, Interval
from prodml._state import Field
from prodml.drift.streaming.base import (
    MAX_N,
    Domain,
    FloatArray,
    _WarningDetector,
    first_true,
)

__all__ = ["EDDM"]

_sqrt = math.sqrt
_PLAIN = frozenset((float, int, bool))


class EDDM(_WarningDetector):
    r"""Early drift detection method: watches the distance between errors for a fall.

    Feed 1 for an error and 0 for a success. At each error the detector updates the
    mean :math:`\mu'` and sample standard deviation :math:`\sigma'` of the distances
    (in values) between consecutive errors and tracks the largest
    :math:`m = \mu' + 2\sigma'` seen, :math:`m_{max}`. Once more than ``warm_start``
    values and errors have been seen, an error that does not set a new maximum raises

    - a warning when :math:`m / m_{max} < \alpha`,
    - an alarm when :math:`m / m_{max} < \beta`.

    This is river's ``EDDM`` (the first distance is counted from the last restart).
    The defaults differ (``warm_start=3000``, ``alpha=0.8``, ``beta=0.75``): with
    river's 30 and 0.9 the maximum is set while the estimates are still noisy, and an
    in-control stream soon falls 10% below it. Distances and their squares are summed
    as exact integers on both paths, so ``update_many`` matches the loop bit for bit.
    river's warning flag can stay up through an error that sets a new maximum and
    through the alarm; here it is re-read at every tested error (the paper's rule).

    Parameters
    ----------
    warm_start
        Values, and errors, seen before any test.
    alpha
        Warning level, a ratio in (0, 1).
    beta
        Alarm level, a ratio in (0, 1), at most ``alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> from prodml.drift.streaming import EDDM
    >>> rng = np.random.default_rng(42)
    >>> errors = np.concatenate([rng.random(20000) < 0.1, rng.random(20000) < 0.3])
    >>> eddm = EDDM()
    >>> for i, x in enumerate(errors):
    ...     if eddm.update(x):
    ...         print(f"Change detected at index {i}")
    Change detected at index 26029
    >>> EDDM().update_many(errors)
    array([26029])
    """

    __slots__ = (
        "_errors",
        "_last",
        "_m_max",
        "_n",
        "_sum",
        "_sum_sq",
        "alpha",
        "beta",
        "warm_start",
    )
    _PARAMS = ("warm_start", "alpha", "beta")
    _FIELDS = ("n", "last", "errors", "sum", "sum_sq", "m_max", "warning")
    domain: ClassVar[Domain] = "binary"

    def __init__(self, warm_start: int = 3000, alpha: float = 0.8, beta: float = 0.75) -> None:
        self.warm_start: int = warm_start
        self.alpha: float = alpha
        self.beta: float = beta
        self._init_base()

    def _constraints(self) -> Mapping[str, list[Constraint]]:
        return {
            "warm_start": [Interval(int, 1, None)],
            "alpha": [Interval(float, 0, 1, "neither")],
            "beta": [Interval(float, 0, 1, "neither")],
        }

    def _check_extra(self) -> None:
        self._require_order("beta", "<=", "alpha")

    def _clear(self) -> None:
        self._n = 0
        self._last = 0  # position (1-based) of the last error
        self._errors = 0
        self._sum = 0  # of distances, exact
        self._sum_sq = 0  # of squared distances, exact
        self._m_max = -1.0
        self._warning = False

    def update(self, x: float) -> bool:
        """Feed one value (1 = error, 0 = success); return whether it raises an alarm.

        Raises
        ------
        DriftError
            If ``x`` is not 0 or 1.
        """
        self._busy += 1  # a to_dict in another thread waits for this update
        if self._hold:
            self._wait_for_reader()
        try:
            if type(x) not in _PLAIN:
                x = self._as_float(x)
            if x == 0:
                if self._drift:
                    self._restart()
                self._n += 1
                return False
            if x != 1:
                raise self._bad_value(x)
            if self._drift:
                self._restart()
            n = self._n + 1
            self._n = n
            dist = n - self._last
            self._last = n
            errors = self._errors + 1
            self._errors = errors
            self._sum += dist
            self._sum_sq += dist * dist
            if n <= self.warm_start:
                return False
            m = _ratio_stat(float(self._sum), float(self._sum_sq), float(errors))
            if m > self._m_max:
                self._m_max = m
                self._warning = False
                return False
            if errors <= self.warm_start:
                return False
            level = m / self._m_max
            drift = level < self.beta
            self._warning = not drift and level < self.alpha
            self._drift = drift
            return drift
        finally:
            self._busy -= 1

    def _scan(self, chunk: FloatArray) -> int:
        k = len(chunk)
        pos = np.flatnonzero(chunk == 1.0)
        if not len(pos):
            self._n += k
            return -1
        n = self._n + pos + 1  # 1-based position of each error since the restart
        dist = np.diff(np.concatenate(([self._last], n)))
        errors = self._errors + np.arange(1, len(pos) + 1, dtype=np.float64)
        # Integers below 2**53 add exactly in float64, in any order: the distances sum
        # to a position (<= MAX_N). Squares pass 2**53 from distances of about 1e8: they
        # are summed exactly, then rounded once, as ``update`` does with Python ints.
        total = float(self._sum) + np.cumsum(dist.astype(np.float64))
        sq_exact = _exact_sums(self._sum_sq, dist)
        total_sq = np.array([float(v) for v in sq_exact]) if sq_exact else None
        if total_sq is None:
            sq_int = self._sum_sq + np.cumsum(dist * dist)  # int64: exact below 2**63
            total_sq = sq_int.astype(np.float64)  # rounds as float(int) does
        eligible = n > self.warm_start
        with np.errstate(divide="ignore", invalid="ignore"):
            m = _ratio_stat(total, total_sq, errors)
            m = np.where(eligible, m, -np.inf)
            prior = np.maximum.accumulate(np.concatenate(([self._m_max], m[:-1])))
            new_max = m > prior
            level = m / prior
        tested = eligible & ~new_max & (errors > self.warm_start)
        drift = tested & (level < self.beta)
        hit_e = first_true(drift)
        last_e = hit_e if hit_e >= 0 else len(pos) - 1
        self._n = int(n[last_e]) if hit_e >= 0 else self._n + k
        self._last = int(n[last_e])
        self._errors = int(errors[last_e])
        self._sum = int(total[last_e])
        self._sum_sq = sq_exact[last_e] if sq_exact else int(sq_int[last_e])
        self._m_max = float(max(prior[last_e], m[last_e]))
        if eligible[last_e]:
            self._warning = bool(
                tested[last_e] and not drift[last_e] and level[last_e] < self.alpha
            )
        return int(pos[hit_e]) if hit_e >= 0 else -1

    def _set_state(self, state: Field) -> None:
        self._n = state["n"].count(hi=MAX_N)
        self._last = state["last"].count(hi=self._n)
        self._errors = state["errors"].count(hi=self._last)
        # Distances run from the restart to the last error: they sum to its position,
        # each is at least 1, and there is one per error.
        self._sum = state["sum"].count(hi=self._n)
        state["sum"].check(self._sum == self._last, f"the last error's position ({self._last})")
        state["errors"].check(
            (self._errors == 0) == (self._last == 0), "> 0 exactly when an error was seen"
        )
        self._sum_sq = state["sum_sq"].count(hi=self._sum * self._sum)
        state["sum_sq"].check(self._sum_sq >= self._sum, "a sum of squared distances >= sum")
        self._m_max = state["m_max"].float(lo=-1.0, hi=3.0 * max(self._n, 1))
        self._warning = state["warning"].bool()


def _exact_sums(start: int, dist: Any) -> list[int]:
    """Running sums of squared distances as Python ints when int64 could overflow, else []."""
    longest = int(dist.max())
    if start + len(dist) * longest * longest < 2**62:  # one pass, no copy: the usual case
        return []
    return list(itertools.accumulate((d * d for d in dist.tolist()), initial=start))[1:]


def _ratio_stat(total: Any, total_sq: Any, count: Any) -> Any:
    """Mean plus two sample standard deviations of the distances (floats or arrays)."""
    mean = total / count
    if isinstance(mean, np.ndarray):
        var = (total_sq - total * mean) / (count - 1.0)  # NaN for one distance
        return mean + 2.0 * np.sqrt(np.where(var > 0.0, var, 0.0))
    var = (total_sq - total * mean) / (count - 1.0) if count > 1.0 else 0.0
    return mean + 2.0 * (_sqrt(var) if var > 0.0 else 0.0)
