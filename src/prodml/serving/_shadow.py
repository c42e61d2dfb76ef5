"""Shadow scoring off the response path: a bounded queue and one worker thread.

The request thread only enqueues (dropping, and counting, when the queue is full); the
worker runs the shadow version's whole path and reports both answers to the policy's
``compare``. Any failure there is counted and logged, never raised to a request.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from prodml.serving._metrics import ServingStats
from prodml.serving._served import Served

__all__ = ["ShadowWorker"]

_log = logging.getLogger("prodml.serving")
_STOP = object()


class ShadowWorker:
    """Scores mirrored requests with the shadow version and feeds ``policy.compare``."""

    def __init__(self, policy: Any, stats: ServingStats, max_queue: int) -> None:
        self.policy = policy
        self.stats = stats
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(
        self, served: Served, record: Mapping[str, Any], value: Any, latency_s: float
    ) -> None:
        """Queue one mirrored request (never blocks; a full queue drops it)."""
        if self._thread is None:
            self._start()
        try:
            self._queue.put_nowait((served, record, value, latency_s))
        except queue.Full:
            self.stats.count("shadow", "dropped")

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="prodml-shadow", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                self._score(*job)
            finally:
                self._queue.task_done()

    def _score(self, served: Served, record: Mapping[str, Any], value: Any, lat: float) -> None:
        try:
            t0 = time.perf_counter()
            served.validate(record)
            shadow_value = served.score_one(served.pipeline.transform_record(served.strip(record)))
            shadow_lat = time.perf_counter() - t0
            self.policy.compare(value, shadow_value, primary_latency=lat, shadow_latency=shadow_lat)
        except Exception as err:  # noqa: BLE001 - a shadow failure must never reach a request
            self.stats.count("shadow", "error")
            _log.warning(
                "prodml serving: shadow %s version %s failed: %s",
                served.name,
                served.version,
                type(err).__name__,
            )
        else:
            self.stats.count("shadow", "compared")

    def drain(self) -> None:
        """Wait until every queued shadow request has been scored."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Finish the queued work and stop the worker; safe to call again, from any thread.

        One close at a time (under the start lock): a second concurrent call waits for the
        first and finds nothing to stop, so the queue never keeps a stray stop marker (it
        would stop the next worker at once and leave its submissions unscored).
        """
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(_STOP)
                self._thread.join()
                self._thread = None
