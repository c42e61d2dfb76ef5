"""Streaming drift detectors: watch one stream of numbers and raise an alarm on change.

Every detector has ``update(x) -> bool`` (the hot path), a read-only ``drift_detected``,
``reset()``, ``update_many(values) -> alarm positions`` (vectorised, with exactly the
alarms of the loop) and a JSON state round-trip (``to_dict``/``from_dict``). After an
alarm a detector starts afresh with the next value.
"""

from __future__ import annotations

from prodml.drift.streaming.adwin import ADWIN
from prodml.drift.streaming.base import StreamingDetector
from prodml.drift.streaming.cusum import CUSUM
from prodml.drift.streaming.ddm import DDM
from prodml.drift.streaming.eddm import EDDM
from prodml.drift.streaming.hddm_a import HDDM_A
from prodml.drift.streaming.hddm_w import HDDM_W
from prodml.drift.streaming.kswin import KSWIN
from prodml.drift.streaming.page_hinkley import PageHinkley

__all__ = [
    "ADWIN",
    "CUSUM",
    "DDM",
    "EDDM",
    "HDDM_A",
    "HDDM_W",
    "KSWIN",
    "PageHinkley",
    "StreamingDetector",
]
