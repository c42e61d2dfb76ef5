"""Latency and throughput statistics in rotating time slots (private).

The hot path observes into the current slot's histogram and counts the prediction. When
the clock passes the slot's end, the slot is closed: its histogram is merged into the
cumulative one (what Prometheus exports), its throughput (predictions per second) is
observed into the cumulative throughput histogram, and it joins a deque of the last
``n_slots`` closed slots, which is the sliding window alerts look at.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prodml._state import Field
from prodml.errors import StateError
from prodml.monitoring.histogram import Histogram

__all__ = ["SlotStats"]


class SlotStats:
    """Windowed and cumulative latency/throughput statistics."""

    def __init__(
        self,
        latency_buckets: Sequence[float],
        throughput_buckets: Sequence[float],
        interval_s: float,
        n_slots: int,
    ) -> None:
        self.interval_s = float(interval_s)
        self.n_slots = int(n_slots)
        self.latency_total = Histogram(latency_buckets)
        self.throughput_total = Histogram(throughput_buckets)
        self.current = Histogram(latency_buckets)
        self.current_count = 0
        self.slot_start = -math.inf
        self.slot_end = -math.inf  # no slot open yet: the first event opens one
        # Events from floor on count in the open slot (late ones too, as before); one
        # earlier is a clock that stepped back over the window, and opens a slot there.
        self.floor = -math.inf
        # Closed slots: (latency histogram or None when no latency was observed, count).
        self.slots: deque[tuple[Histogram | None, int]] = deque(maxlen=self.n_slots)

    def rotate(self, t: float) -> None:
        """Close the current slot (and any idle ones) so that ``t`` falls in the open one."""
        start = t - (t % self.interval_s)
        if self.slot_end != -math.inf:
            cur = self.current
            self.latency_total.merge(cur)
            self.throughput_total.observe(self.current_count / self.interval_s)
            self.slots.append((cur if cur.count else None, self.current_count))
            idle = round((start - self.slot_end) / self.interval_s)
            if idle > 0:
                self.throughput_total.observe_repeated(0.0, idle)
                for _ in range(min(idle, self.n_slots)):
                    self.slots.append((None, 0))
            self.current = cur.empty_like()
            self.current_count = 0
        self.slot_start, self.slot_end = start, start + self.interval_s
        self.floor = start - self.interval_s * self.n_slots

    def window_latency(self) -> Histogram:
        """Latency histogram of the closed slots in the window plus the open one."""
        h = self.current.copy()
        for slot, _ in self.slots:
            if slot is not None:
                h.merge(slot)
        return h

    def cumulative_latency(self) -> Histogram:
        """Latency histogram since the start, open slot included."""
        h = self.latency_total.copy()
        h.merge(self.current)
        return h

    def window_count(self) -> int:
        """Predictions in the window (closed slots plus the open one)."""
        return self.current_count + sum(n for _, n in self.slots)

    def throughput(self, now: float) -> tuple[float, float, float, float]:
        """Mean predictions per second over the window, and p50/p95/p99 over its slots.

        Quantiles are exact over the closed slots' rates (at most ``n_slots`` values);
        ``nan`` until one slot has closed.
        """
        covered = len(self.slots) * self.interval_s + max(now - self.slot_start, 0.0)
        mean = self.window_count() / covered if covered > 0 and math.isfinite(covered) else math.nan
        if not self.slots:
            return mean, math.nan, math.nan, math.nan
        rates = np.array([n for _, n in self.slots], dtype=np.float64) / self.interval_s
        p50, p95, p99 = np.quantile(rates, [0.5, 0.95, 0.99])
        return mean, float(p50), float(p95), float(p99)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {
            "latency_total": self.latency_total.to_dict(),
            "throughput_total": self.throughput_total.to_dict(),
            "current": self.current.to_dict(),
            "current_count": self.current_count,
            "slot_start": None if self.slot_end == -math.inf else self.slot_start,
            "slots": [[None if h is None else h.to_dict(), n] for h, n in self.slots],
        }

    def load(self, data: Mapping[str, Any], path: str = "stats") -> None:
        """Restore a state saved by :meth:`to_dict` into this (same-config) object.

        Raises
        ------
        StateError
            (also a ConfigError) naming the field at fault, below ``path``.
        """
        root = Field(data, path, owner="ModelMonitor")
        keys = ("latency_total", "throughput_total", "current", "current_count", "slot_start")
        root.dict(keys=(*keys, "slots"))
        hists = {
            "latency_total": _histogram(root["latency_total"], self.latency_total.bounds),
            "throughput_total": _histogram(root["throughput_total"], self.throughput_total.bounds),
            "current": _histogram(root["current"], self.current.bounds),
        }
        current_count = root["current_count"].count()
        slot_start = root["slot_start"].optional_float()
        slots = []
        for item in root["slots"].each(max_len=self.slots.maxlen):
            h, n = item.each(length=2)
            hist = None if h.value is None else _histogram(h, self.current.bounds)
            slots.append((hist, n.count()))
        self.latency_total = hists["latency_total"]
        self.throughput_total = hists["throughput_total"]
        self.current = hists["current"]
        self.current_count = current_count
        if slot_start is not None:
            self.slot_start = slot_start
            self.slot_end = slot_start + self.interval_s
            self.floor = slot_start - self.interval_s * self.n_slots
        self.slots.clear()
        self.slots.extend(slots)


def _histogram(field: Field, bounds: Sequence[float] | None) -> Histogram:
    """A saved histogram (with the monitor's bounds, when given), errors under ``field``."""
    try:
        h = Histogram.from_dict(field.dict(), bounds=None if bounds is None else tuple(bounds))
    except StateError as err:
        raise field.within(err) from None
    if bounds is not None:
        field["bounds"].check(list(h.bounds) == list(bounds), "the monitor's bucket bounds")
    return h
