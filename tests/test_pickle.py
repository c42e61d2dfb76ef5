"""Stateful objects survive pickle and copy.deepcopy; connection holders refuse both.

Every class of ``STATEFUL`` (tests/test_state_mutations.py) is copied after use and
checked for equal state, independence and a working lock; the lock-holding value objects
(rollout policies, ModelMonitor, PrivacyBudget) are also hammered by threads, on the
original and on the copy, and must count exactly what a serial run counts.
"""

from __future__ import annotations

import copy
import json
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml.errors import ConfigError, UnpicklableError

from .test_state_mutations import (
    STATEFUL,
    _abtest,
    _bandit,
    _bluegreen,
    _budget,
    _canary,
    _monitor,
    _router,
    _shadow,
)

THREADS = 4
CALLS = 1000


class FixedClock:
    """A clock that pickles (the factories' lambdas do not, by design)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _picklable(obj: Any) -> Any:
    """``obj`` with any lambda clock swapped for an equal :class:`FixedClock`."""
    for attr in ("clock", "_clock"):
        fn = getattr(obj, "__dict__", {}).get(attr)
        if callable(fn) and getattr(fn, "__name__", "") == "<lambda>":
            setattr(obj, attr, FixedClock(fn()))
    return obj


def _dump(obj: Any) -> str:
    return json.dumps(obj.to_dict(), sort_keys=True, default=repr)


def _pickled(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


COPIES: dict[str, Callable[[Any], Any]] = {"pickle": _pickled, "deepcopy": copy.deepcopy}


def _in_threads(work: Callable[[int], object], n: int = THREADS) -> None:
    """Run ``work(thread_index)`` on ``n`` threads started together; re-raise any error."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as err:  # noqa: BLE001 - reported in the main thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# ---------------------------------------------------------------- every STATEFUL class
@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_copy_has_the_same_state_and_is_independent(name: str, how: str) -> None:
    factory, use, _ = STATEFUL[name]
    original = _picklable(factory())  # the factories use the object (fit, observe, evaluate)
    twin = COPIES[how](original)
    assert type(twin) is type(original)
    assert twin is not original
    saved = _dump(original)
    assert _dump(twin) == saved

    use(twin)  # the copy works, and using it leaves the original alone
    assert _dump(original) == saved
    twin_after = _dump(twin)
    use(original)  # and the other way round
    assert _dump(twin) == twin_after
    # Same state in, same calls, same state out: nothing (a seed, a clock) was lost.
    assert _dump(original) == twin_after


_POLICY_COPIES = ["Canary", "BlueGreen", "Shadow", "ABTest", "EpsilonGreedy", "UCB1"]


@pytest.mark.parametrize("name", [*_POLICY_COPIES, "ThompsonSampling", "ModelMonitor"])
def test_using_the_copy_changes_it_and_not_the_original(name: str) -> None:
    factory, use, _ = STATEFUL[name]
    original = _picklable(factory())
    saved = _dump(original)
    twin = copy.deepcopy(original)
    use(twin)
    assert _dump(twin) != saved  # the use above is a real update...
    assert _dump(original) == saved  # ...that the original does not see


def test_the_copy_has_its_own_lock_of_the_same_kind() -> None:
    for factory in (_canary, _router, _bandit("UCB1"), _monitor, _budget):
        obj = _picklable(factory())
        for twin in (_pickled(obj), copy.deepcopy(obj), copy.copy(obj)):
            assert twin._lock is not obj._lock
            assert type(twin._lock) is type(obj._lock)
            assert "_lock" in vars(obj)  # the original keeps its lock (state was copied)


# ---------------------------------------------------------------- clocks
def test_a_module_level_clock_pickles_and_a_lambda_gives_the_usual_error() -> None:
    from prodml.rollout import Canary, Gate, Step

    def build(clock: Callable[[], float]) -> Canary:
        c = Canary([Step(0.5, min_samples=10)], [Gate("error_rate", ratio=1.2)], clock=clock)
        c.observe("candidate", error_rate=0.0)
        c.evaluate()
        return c

    back = _pickled(build(time.time))
    assert back.clock is time.time
    assert back.to_dict()["metrics"]["requests"]["candidate"] == 1

    lam = build(lambda: 1.0)
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda"):
        pickle.dumps(lam)
    assert copy.deepcopy(lam).clock is lam.clock  # deepcopy keeps the same callable


# ---------------------------------------------------------------- threads
def _observe_all(policy: Any, variant: str, metric: str) -> Callable[[int], None]:
    def work(i: int) -> None:
        for _ in range(CALLS):
            policy.observe(variant, **{metric: 0.0})

    return work


# name -> (factory of a fresh, unused object, work per thread, what must add up)
def _metric_case(factory: Callable[[], Any], variant: str, metric: str) -> Any:
    def count(p: Any) -> int:
        return int(p.to_dict()["metrics"]["requests"][variant])

    return factory, lambda p: _observe_all(p, variant, metric), count


def _shadow_work(sh: Any) -> Callable[[int], None]:
    def work(i: int) -> None:
        for _ in range(CALLS):
            sh.compare(1.0, 1.0, primary_latency=1.0, shadow_latency=2.0)

    return work


def _bandit_work(b: Any) -> Callable[[int], None]:
    def work(i: int) -> None:
        for k in range(CALLS):
            arm = ("a", "b", "c")[(i + k) % 3]
            b.update(arm, float(arm == "a"))

    return work


def _monitor_work(mon: Any) -> Callable[[int], None]:
    def work(i: int) -> None:
        for k in range(CALLS):
            pid = 10_000 + i * CALLS + k
            mon.log_prediction(pid, None, 0.25, latency_s=0.003)
            if k % 2 == 0:
                mon.log_label(pid, 1)

    return work


def _budget_work(b: Any) -> Callable[[int], None]:
    def work(i: int) -> None:
        for _ in range(CALLS):
            b.spend(1e-5, label=f"thread {i}")

    return work


def _monitor_fixed() -> Any:
    mon = _monitor()
    mon.clock = FixedClock(2000.0)  # the factory's clock runs out after 1000 reads
    return mon


def _monitor_counts(mon: Any) -> tuple[int, int, int]:
    c = mon.counters()
    return c["predictions_total"], c["labels_total"], c["duplicate_predictions_total"]


CASES: dict[str, Any] = {
    "Canary": _metric_case(_canary, "candidate", "error_rate"),
    "BlueGreen": _metric_case(_bluegreen, "green", "error"),
    "ABTest": _metric_case(_abtest, "B", "converted"),
    "Shadow": (
        _shadow,
        _shadow_work,
        lambda sh: sh.to_dict()["metrics"]["summaries"]["shadow"]["agreement"][0],
    ),
    **{
        name: (_bandit(name), _bandit_work, lambda b: (b.counts, b.means))
        for name in ("EpsilonGreedy", "UCB1", "ThompsonSampling")
    },
    "ModelMonitor": (_monitor_fixed, _monitor_work, _monitor_counts),
    "PrivacyBudget": (_budget, _budget_work, lambda b: (len(b.ledger), b.spent)),
}


def _serial(name: str) -> Any:
    factory, work, measure = CASES[name]
    obj = _picklable(factory())
    for i in range(THREADS):
        work(obj)(i)
    return measure(obj)


@pytest.mark.parametrize("name", sorted(CASES))
def test_threads_count_exactly_what_a_serial_run_counts(name: str, busy_switching: None) -> None:
    factory, work, measure = CASES[name]
    obj = _picklable(factory())
    before = measure(obj)
    _in_threads(work(obj))
    after = measure(obj)
    assert after == _serial(name)
    assert after != before


@pytest.mark.parametrize("how", sorted(COPIES))
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_copys_lock_works(name: str, how: str, busy_switching: None) -> None:
    factory, work, measure = CASES[name]
    original = _picklable(factory())
    saved = measure(original)
    twin = COPIES[how](original)
    _in_threads(work(twin))
    assert measure(twin) == _serial(name)
    assert measure(original) == saved


def test_router_copies_route_like_the_original_from_threads() -> None:
    router = _router()
    keys = [f"user-{i}" for i in range(CALLS)]
    expected = router.route_many(keys)
    twin = _pickled(router)
    results: dict[int, list[str]] = {}
    _in_threads(lambda i: results.__setitem__(i, [twin.route(k) for k in keys]))
    assert all(results[i] == expected for i in range(THREADS))
    assert 0.6 < expected.count("b") / len(keys) < 0.8  # weights 0.3 / 0.7


@pytest.mark.parametrize("how", sorted(COPIES))
def test_a_copy_taken_during_updates_is_consistent(how: str, busy_switching: None) -> None:
    """Each request count and its summary count move together in one locked update."""
    canary = _picklable(_canary())
    stop = threading.Event()

    def update(i: int) -> None:
        while not stop.is_set():
            canary.observe("candidate", error_rate=0.0)

    threads = [threading.Thread(target=update, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        seen = set()
        copies, deadline = 0, time.monotonic() + 60.0
        # At least 50 copies, and on until two saw different counts: on a loaded machine
        # the updaters may not run between two copies, so give them the time.
        while copies < 50 or (len(seen) < 2 and time.monotonic() < deadline):
            state = COPIES[how](canary).to_dict()["metrics"]
            n = state["requests"]["candidate"]
            assert state["summaries"]["candidate"]["error_rate"][0] == n
            seen.add(n)
            copies += 1
            time.sleep(0.0005)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(seen) > 1  # the copies were taken while the counts moved


# ---------------------------------------------------------------- connection holders
def _registry() -> Any:
    from prodml.registry import ModelRegistry

    return ModelRegistry("memory://", "memory://test-pickle")


def _local_registry(tmp_path: Any) -> Any:
    from prodml.registry import ModelRegistry

    return ModelRegistry.local(tmp_path)


def _predictor() -> Any:
    from sklearn.linear_model import LinearRegression

    from prodml.features import FeaturePipeline, steps
    from prodml.serving import Predictor

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(df)
    model = LinearRegression().fit(pipe.transform(df), np.arange(4.0))
    return Predictor(pipe, model)


def _controller() -> Any:
    from datetime import timedelta

    from prodml.retrain import RetrainController, ScheduleTrigger

    return RetrainController(
        registry=_registry(),
        model="churn",
        alias="production",
        train=lambda data, ctx: None,
        data=lambda ctx: None,
        triggers=[ScheduleTrigger(timedelta(days=7))],
    )


def _signer() -> Any:
    pytest.importorskip("cryptography", reason="Ed25519Signer needs the 'sign' extra")
    from prodml.registry.signing import Ed25519Signer

    return Ed25519Signer.generate()


def _feature_store(tmp: Any) -> Any:
    pytest.importorskip("duckdb", reason="FeatureStore.local needs the 'store' extra")
    from prodml.store import FeatureStore

    return FeatureStore.local(tmp / "fs")


HOLDERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "ModelRegistry[memory]": (lambda tmp: _registry(), "metadata and artifact URLs"),
    "ModelRegistry[local]": (_local_registry, "metadata and artifact URLs"),
    "MetadataStore": (lambda tmp: _local_registry(tmp).metadata, "its URL"),
    "ArtifactStore": (lambda tmp: _local_registry(tmp).artifacts, "its URL"),
    "Predictor": (lambda tmp: _predictor(), "Predictor.from_registry"),
    "RetrainController": (lambda tmp: _controller(), "to_dict()"),
    "Ed25519Signer": (lambda tmp: _signer(), "PEM file"),
    "FeatureStore": (_feature_store, "offline and online store URLs"),
}


@pytest.mark.parametrize("name", sorted(HOLDERS))
def test_connection_holders_refuse_to_be_copied_and_say_what_to_ship(
    name: str, tmp_path: Any
) -> None:
    build, ship = HOLDERS[name]
    holder = build(tmp_path)
    cls = type(holder).__name__
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(UnpicklableError) as info:
            attempt(holder)
        err = info.value
        assert isinstance(err, TypeError)  # what pickle raises for anything it cannot pickle
        assert isinstance(err, ConfigError)
        assert f"A {cls} holds live connections" in str(err)
        assert ship in str(err)
        assert f"build a new {cls} in the worker" in str(err)


def test_a_monitor_with_a_connected_sink_refuses_too() -> None:
    pytest.importorskip("prometheus_client", reason="PrometheusSink needs the 'prometheus' extra")
    from prometheus_client import CollectorRegistry

    from prodml.monitoring import ModelMonitor
    from prodml.monitoring.prometheus import PrometheusSink

    mon = ModelMonitor("m", sinks=[PrometheusSink(CollectorRegistry())])
    with pytest.raises(UnpicklableError, match="PrometheusSink"):
        pickle.dumps(mon)


def test_a_trust_policy_pickles_and_still_verifies() -> None:
    signer = _signer()
    from prodml.registry.signing import TrustPolicy

    policy = TrustPolicy([signer.verifier()], require_signature=False)
    for twin in (_pickled(policy), copy.deepcopy(policy)):
        assert twin.to_dict() == policy.to_dict()
        verifier = twin.verifier(signer.key_id)
        assert verifier is not None
        assert verifier.verify(b"data", signer.sign(b"data"))
        assert not verifier.verify(b"other", signer.sign(b"data"))


def test_a_json_lines_sink_copy_appends_to_the_same_file_under_the_files_lock(
    tmp_path: Any,
) -> None:
    from prodml.lineage import JsonLinesSink

    sink = JsonLinesSink(tmp_path / "events" / "lineage.jsonl")
    sink.emit({"n": 0})
    other = JsonLinesSink(tmp_path / "other.jsonl")
    for twin in (_pickled(sink), copy.deepcopy(sink), JsonLinesSink(sink.path)):
        assert twin.path == sink.path
        assert twin._lock is sink._lock  # one lock per file in a process
        assert twin._lock is not other._lock
        twin.emit({"n": 1})
    assert sink.read() == [{"n": 0}, {"n": 1}, {"n": 1}, {"n": 1}]
