"""Micro-batching: concurrent single-record requests grouped into one model call.

Requests arriving within ``max_wait_ms`` of the first one in a batch (or until
``max_batch`` are waiting) are predicted together by :meth:`Predictor.predict_many`, whose
answers equal :meth:`Predictor.predict_record`'s bit for bit (see there). Each batch's
size and its first request's wait go to the serving metrics. When a group raises (not a
record's schema or model error, which :meth:`Predictor.predict_many` returns per record),
its records are predicted one by one, so only the one at fault gets the failure; a group
that raised has counted and logged nothing (:meth:`Predictor.predict_many` answers every
record before it counts or logs any, and the group's refusal is not counted), so the retry
counts each record once: ``refused`` for the one the predictor refuses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from prodml.serving._predictor import Prediction, Predictor

__all__ = ["MicroBatcher"]


class MicroBatcher:
    """Groups single predictions on one event loop; use from that loop only."""

    def __init__(self, predictor: Predictor, max_batch: int, max_wait_s: float) -> None:
        self.predictor = predictor
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._pending: list[tuple[Mapping[str, Any], Any, float, asyncio.Future[Any]]] = []
        self._timer: asyncio.TimerHandle | None = None

    async def predict(self, record: Mapping[str, Any], id: Any) -> Prediction:  # noqa: A002
        """Queue one record; return its prediction once its batch ran (or raise its error)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((record, id, time.perf_counter(), fut))
        if len(self._pending) >= self.max_batch:
            self.flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self.flush)
        result = await fut
        if isinstance(result, BaseException):
            raise result
        prediction: Prediction = result
        return prediction

    def flush(self) -> None:
        """Predict everything waiting now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        started = [b[2] for b in batch]
        self.predictor.stats.batch(len(batch), time.perf_counter() - started[0])
        try:
            # Refusals uncounted: the retry below counts each record's own, once.
            results: list[Any] = self.predictor.predict_many(
                [b[0] for b in batch], ids=[b[1] for b in batch], started=started,
                count_refused=False,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - one record's failure is its own, not the group's
            results = [self._alone(b) for b in batch]
        for (_, _, _, fut), result in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(result)

    def _alone(self, item: tuple[Mapping[str, Any], Any, float, asyncio.Future[Any]]) -> Any:
        """One record's result, or the exception it raised, predicted on its own."""
        try:
            return self.predictor.predict_many([item[0]], ids=[item[1]], started=[item[2]])[0]
        except Exception as err:  # noqa: BLE001 - handed to its request, which answers 500
            return err
