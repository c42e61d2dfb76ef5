"""Good/bad event counts in time buckets, for burn-rate rules (private).

Memory is one bucket per ``resolution_s`` of the horizon (3 days at 60 s: 4320 buckets).
Buckets keep running totals, so a window sum is two bisections and a subtraction whatever
its length.

A bucket stamped ``start`` holds the events of ``(start, start + resolution_s]``, and a
window of ``seconds`` at ``now`` sums the buckets with ``start >= now - seconds``: the
window is ``(now - seconds, now]``, left-open as Prometheus' range selectors and the SRE
workbook's rates, so an event exactly ``seconds`` old is out. It is exact when
``now - seconds`` is a multiple of ``resolution_s``; otherwise the bucket across the
window's old end is left out (a window short by less than one bucket), and a window
shorter than a bucket counts the bucket holding ``now``. Events stamped after ``now``
(late evaluations, a clock that stepped back) count too.

Before 2026-12-05 buckets held ``[start, start + resolution_s)`` and windows were closed
(an event exactly ``seconds`` old was in). Such saved states load unchanged: an event
stamped exactly on a bucket boundary is then read as one bucket later than it happened
(``(s, s + resolution_s]`` for the ``s`` it was stamped at), every other one as before.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

from prodml._quote import short_repr
from prodml.errors import ConfigError

__all__ = ["SLOCounter"]


class SLOCounter:
    """Bucketed counts of total and bad events over a bounded horizon."""

    __slots__ = ("_bad", "_base", "_head", "_starts", "_total", "horizon_s", "resolution_s")

    def __init__(self, resolution_s: float, horizon_s: float) -> None:
        self.resolution_s = float(resolution_s)
        self.horizon_s = float(horizon_s)
        # Bucket starts and running totals (events since the counter began, up to and
        # including the bucket). Buckets before _head are expired; _base holds the running
        # totals just before bucket _head.
        self._starts: list[float] = []
        self._total: list[float] = []
        self._bad: list[float] = []
        self._head = 0
        self._base = (0.0, 0.0)

    def _start(self, t: float) -> float:
        """The start of the bucket ``(start, start + resolution_s]`` holding time ``t``."""
        start = t - (t % self.resolution_s)
        return start - self.resolution_s if start == t else start

    def record(self, t: float, bad: bool) -> None:
        """Count one event at time ``t``."""
        starts = self._starts
        if starts and starts[-1] - self.horizon_s <= t <= starts[-1] + self.resolution_s:
            self._total[-1] += 1.0  # late events (by less than the horizon) count here too
            if bad:
                self._bad[-1] += 1.0
            return
        if starts and t < starts[-1]:  # the clock stepped back over the horizon
            self._rewind(t)
            self.record(t, bad)
            return
        prev_total = self._total[-1] if starts else 0.0
        prev_bad = self._bad[-1] if starts else 0.0
        starts.append(self._start(t))
        self._total.append(prev_total + 1.0)
        self._bad.append(prev_bad + (1.0 if bad else 0.0))
        self._expire(t)

    def _rewind(self, t: float) -> None:
        """The clock stepped back over the horizon: ``t``'s bucket takes the later ones.

        Their counts are kept (moved to ``t``'s bucket), so the windows go on rolling from
        ``t`` instead of counting into a bucket stamped in the future until the clock
        reaches it (one bad reading a year ahead stopped them for a year).
        """
        start = self._start(t)
        starts = self._starts
        j = bisect_left(starts, start, lo=self._head)
        if j == len(starts):  # pragma: no cover - starts[-1] > t >= start
            return
        self._total[j], self._bad[j] = self._total[-1], self._bad[-1]
        starts[j] = start
        del starts[j + 1 :], self._total[j + 1 :], self._bad[j + 1 :]

    def _expire(self, t: float) -> None:
        cutoff = t - self.horizon_s - self.resolution_s
        head, starts = self._head, self._starts
        while starts[head] < cutoff:
            head += 1
        if head != self._head:
            self._base = (self._total[head - 1], self._bad[head - 1])
            self._head = head
        if head > 1024 and head * 2 > len(starts):  # compact now and then: O(1) amortised
            del starts[:head], self._total[:head], self._bad[:head]
            self._head = 0

    def window(self, now: float, seconds: float) -> tuple[float, float]:
        """Total and bad events in ``(now - seconds, now]`` (and after), to a bucket.

        The buckets summed are those starting at or after ``now - seconds``; a window
        shorter than ``resolution_s`` counts the whole bucket holding ``now``.
        """
        starts = self._starts
        if len(starts) == self._head:
            return 0.0, 0.0
        # A window shorter than a bucket counts the bucket holding now.
        i = bisect_left(starts, min(now - seconds, self._start(now)), lo=self._head)
        if i == len(starts):
            return 0.0, 0.0
        before = (self._total[i - 1], self._bad[i - 1]) if i > self._head else self._base
        return self._total[-1] - before[0], self._bad[-1] - before[1]

    def buckets(self) -> list[list[float]]:
        """Live buckets as ``[start, total, bad]`` (per bucket, not running)."""
        out = []
        prev_total, prev_bad = self._base
        for i in range(self._head, len(self._starts)):
            out.append([self._starts[i], self._total[i] - prev_total, self._bad[i] - prev_bad])
            prev_total, prev_bad = self._total[i], self._bad[i]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {
            "resolution_s": self.resolution_s,
            "horizon_s": self.horizon_s,
            "buckets": self.buckets(),
        }

    def load(self, data: Mapping[str, Any]) -> None:
        """Replace the counts with those saved by :meth:`to_dict`, validated.

        Raises
        ------
        ConfigError
            When the state's resolution or horizon is not this counter's, or a bucket is
            not ``[start, total, bad]`` with finite starts in increasing order and whole
            counts ``0 <= bad <= total`` (below 2**53), or there are more buckets than
            the horizon holds. Nothing is changed then.
        """
        for name in ("resolution_s", "horizon_s"):
            saved = data.get(name, getattr(self, name))
            if saved != getattr(self, name):
                raise ConfigError(
                    f"SLO counter state has {name}={short_repr(saved)}, not the rule's "
                    f"{getattr(self, name)!r}."
                )
        buckets = data["buckets"]
        limit = math.ceil(self.horizon_s / self.resolution_s) + 3
        if not isinstance(buckets, list) or len(buckets) > limit:
            raise ConfigError(
                f"SLO counter state is inconsistent: 'buckets' must be a list of at most "
                f"{limit} buckets (the horizon over the resolution)."
            )
        starts: list[float] = []
        totals: list[float] = []
        bads: list[float] = []
        total = bad = 0.0
        for b in buckets:
            if not isinstance(b, list | tuple) or len(b) != 3:
                raise ConfigError("SLO counter state is inconsistent: a bucket needs 3 numbers.")
            start, n, k = (_number(x) for x in b)
            if starts and not start > starts[-1]:
                raise ConfigError("SLO counter state is inconsistent: bucket starts must increase.")
            if not (n == int(n) and k == int(k) and 0 <= k <= n):
                raise ConfigError(
                    "SLO counter state is inconsistent: a bucket's counts must be whole "
                    "numbers with 0 <= bad <= total."
                )
            total += n
            bad += k
            if total >= 2.0**53:
                raise ConfigError("SLO counter state is inconsistent: counts beyond 2**53.")
            starts.append(start)
            totals.append(total)
            bads.append(bad)
        self._starts, self._total, self._bad = starts, totals, bads
        self._head, self._base = 0, (0.0, 0.0)


def _number(value: object) -> float:
    """A finite number of a saved bucket, as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError("SLO counter state is inconsistent: a bucket holds finite numbers only.")
    return float(value)
