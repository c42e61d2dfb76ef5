"""The shadow worker's ``close()``: idempotent and safe from several threads at once."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from prodml.serving._metrics import ServingStats
from prodml.serving._shadow import ShadowWorker


class _Pipeline:
    def transform_record(self, record: Any) -> Any:
        return record


class FakeServed:
    """Just what the worker calls; ``validate`` blocks while ``gate`` is clear."""

    name, version = "churn", 2

    def __init__(self) -> None:
        self.pipeline = _Pipeline()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def validate(self, record: Any) -> None:
        self.entered.set()
        assert self.gate.wait(10)

    def strip(self, record: Any) -> Any:
        return record

    def score_one(self, x: Any) -> float:
        return 0.5


class Policy:
    def __init__(self) -> None:
        self.compared = 0

    def compare(self, *args: Any, **kwargs: Any) -> None:
        self.compared += 1


@pytest.fixture
def worker() -> Iterator[tuple[ShadowWorker, Policy, ServingStats]]:
    policy, stats = Policy(), ServingStats()
    w = ShadowWorker(policy, stats, max_queue=8)
    yield w, policy, stats
    w.close()


def _drain_within(w: ShadowWorker, seconds: float) -> bool:
    t = threading.Thread(target=w.drain, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive()


def test_two_concurrent_closes_leave_no_stray_stop_marker(
    worker: tuple[ShadowWorker, Policy, ServingStats],
) -> None:
    w, policy, _ = worker
    served = FakeServed()
    served.gate.clear()
    w.submit(served, {"x": 1}, 0.1, 0.001)  # type: ignore[arg-type]
    assert served.entered.wait(10)  # the worker is busy: both closes overlap for sure
    closers = [threading.Thread(target=w.close) for _ in range(2)]
    for t in closers:
        t.start()
    # Both closes are in progress while the worker holds its job (before the fix both
    # queued a stop marker; the second stayed in the queue after the worker stopped).
    threading.Event().wait(0.2)
    served.gate.set()
    for t in closers:
        t.join(10)
    assert not any(t.is_alive() for t in closers)
    assert w._queue.qsize() == 0
    assert w._queue.unfinished_tasks == 0
    # A new submission starts a new worker, which scores it (a stray marker stopped it).
    w.submit(served, {"x": 2}, 0.1, 0.001)  # type: ignore[arg-type]
    assert _drain_within(w, 10)
    assert policy.compared == 2


def test_close_is_idempotent_and_thread_safe_under_fast_switching(
    worker: tuple[ShadowWorker, Policy, ServingStats],
) -> None:
    w, policy, _ = worker
    served = FakeServed()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    errors: list[BaseException] = []
    try:
        for round_ in range(20):
            w.submit(served, {"x": round_}, 0.1, 0.001)  # type: ignore[arg-type]
            barrier = threading.Barrier(4)

            def close(barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                try:
                    w.close()
                except BaseException as err:  # noqa: BLE001 - collected and asserted on
                    errors.append(err)

            threads = [threading.Thread(target=close) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            assert w._queue.qsize() == 0, f"stray stop marker after round {round_}"
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert policy.compared == 20
    w.close()  # once more, with nothing running
    assert w._thread is None
