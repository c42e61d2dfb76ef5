"""Thread safety of observe / compare / evaluate / set_weights (exact counts, one end)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from prodml.rollout import BlueGreen, Gate, Router, Shadow

THREADS, CALLS = 6, 500


def _run(work: Callable[[int], None], also: Callable[[], None] | None = None) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS + (also is not None))

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def go() -> None:
            try:
                start.wait()
                fn()
            except BaseException as e:  # noqa: BLE001 - collected for the assert below
                errors.append(e)

        return go

    threads = [threading.Thread(target=wrap(lambda t=t: work(t))) for t in range(THREADS)]
    if also is not None:
        threads.append(threading.Thread(target=wrap(also)))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]


def test_shadow_compare_counts_are_exact_and_it_ends_once() -> None:
    sh = Shadow(min_agreement=0.5, min_samples=50, mirror=1.0, clock=lambda: 0.0)
    decisions = []

    def work(t: int) -> None:
        for i in range(CALLS):
            sh.compare(1.0, 1.0, primary_latency=1.0, shadow_latency=float(i % 7))
            sh.observe("primary", queue=1.0)

    def evaluator() -> None:
        decisions.extend(sh.evaluate() for _ in range(300))

    _run(work, evaluator)
    decisions.append(sh.evaluate())  # the evaluator may have finished before min_samples
    report = sh.report()
    assert report["compared"] == THREADS * CALLS
    assert sh.state == "promoted"
    ends = [d for d in sh.decisions if d.action in ("promote", "rollback")]
    assert len(ends) == 1
    after = decisions[decisions.index(ends[0]) :]
    assert all(d is ends[0] for d in after)


def test_blue_green_observe_with_a_quantile_gate_counts_exactly() -> None:
    bg = BlueGreen(gates=[Gate("latency", threshold=100.0, quantile=0.99)], clock=lambda: 0.0)

    def work(t: int) -> None:
        rng = np.random.default_rng(t)
        for x in rng.uniform(0, 50, CALLS).tolist():
            bg.observe("green", latency=x)
            bg.observe("blue", latency=x)

    _run(work, lambda: [bg.evaluate() for _ in range(50)])  # type: ignore[func-returns-value]
    state = bg.to_dict()["metrics"]
    assert state["requests"] == {"blue": THREADS * CALLS, "green": THREADS * CALLS}
    sketch = state["sketches"]["green"]["latency"]
    assert sum(sketch["positive"].values()) + sketch["zeros"] == THREADS * CALLS


def test_routing_never_sees_a_half_built_layout() -> None:
    r = Router({"a": 0.3, "b": 0.4, "c": 0.3}, salt="t")
    keys = [f"k{i}" for i in range(300)]
    names = {"a", "b", "c"}
    weights = [
        {"a": 0.2, "b": 0.4, "c": 0.4},
        {"a": 0.5, "b": 0.1, "c": 0.4},
        {"a": 0.1, "b": 0.6, "c": 0.3},
    ]

    def work(t: int) -> None:
        for _ in range(20):
            assert set(r.route_many(keys)) <= names
            assert 0.0 <= r.share("b") <= 1.0

    def changer() -> None:
        for i in range(200):
            r.set_weights(weights[i % 3], minimal_moves=True)

    _run(work, changer)
    replica = Router({"a": 0.3, "b": 0.4, "c": 0.3}, salt="t")
    for i in range(200):
        replica.set_weights(weights[i % 3], minimal_moves=True)
    assert replica.route_many(keys) == r.route_many(keys)
    assert len(r.to_dict().get("layout", {}).get("owners", [])) < 50  # fragments stay few
