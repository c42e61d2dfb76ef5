"""Objects services share between threads, hammered by threads started together.

A web server's worker threads call one ``Predictor``, ``ModelMonitor``, ``PrivacyBudget``
or registry handle at once while a background thread saves state, refreshes a model or
moves an alias. Each test below runs 4-8 threads on the public API, released together by
a :class:`threading.Barrier` and switching threads every microsecond (so that an unlocked
read-modify-write loses updates), while another thread reads or saves (the
``run_together`` fixture of tests/conftest.py); it then checks an invariant that a missing
lock breaks: totals equal a serial run, a saved state loads back and is internally
consistent, a budget is never overspent, every answer comes from one whole model version.
Rollout policies and bandits are covered in ``tests/test_pickle.py``; one detector fed by
one thread and read by another in ``tests/drift/streaming``.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

THREADS = 6


class Clock:
    """A settable clock that pickles (a lambda would not)."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


# ====================================================================== ModelMonitor
def _monitor(clock: Clock, **kw: Any) -> Any:
    from prodml.monitoring import AlertRule, CountWindow, InMemorySink, ModelMonitor

    return ModelMonitor(
        "churn",
        window=CountWindow(100_000),
        rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.6, clear=0.8)],
        sinks=[InMemorySink()],
        clock=clock,
        evaluate_every_s=5.0,
        **kw,
    )


def _monitor_worker(
    mon: Any, clock: Clock, k: int, n: int, midway: threading.Event | None = None
) -> Callable[[], None]:
    def work() -> None:
        for i in range(n):
            if midway is not None and i == n // 2:
                midway.wait(timeout=30)  # the reader has saved during the work
            pid = f"{k}-{i}"
            mon.log_prediction(pid, None, 0.9 if i % 3 else 0.2, latency_s=0.001 * (i % 7))
            if i % 2 == 0:
                assert mon.log_label(pid, 1) is True
            if i % 100 == 0:
                clock.t += 7.0  # the next log_* evaluates (evaluate_every_s=5)
                mon.metrics()

    return work


def _check_monitor_state(state: dict[str, Any]) -> None:
    """A saved monitor loads back, and its counts agree with each other."""
    from prodml.monitoring import ModelMonitor

    back = ModelMonitor.from_dict(state, clock=Clock(1e9))
    c = state["state"]["counters"]
    assert back.counters() == c
    # Every id is unique: each prediction is either labelled or still pending.
    pending = len(state["state"]["pending"])
    assert c["predictions_total"] == c["labels_total"] + pending + c["evicted_total"]
    assert c["duplicate_predictions_total"] == c["unmatched_total"] == 0


def test_monitor_counts_equal_a_serial_run_while_a_thread_saves_and_evaluates(
    run_together: Callable[..., None],
) -> None:
    n = 600
    clock = Clock(100.0)
    mon = _monitor(clock)
    saved: list[str] = []
    # Workers wait halfway until the reader has saved twice: saves happen while they log,
    # whatever the machine's speed (on a fast one the work could end before a second save).
    midway = threading.Event()

    def reader(done: threading.Event) -> None:
        while not done.is_set():
            saved.append(mon.to_json())
            if len(saved) >= 2:
                midway.set()
            mon.evaluate()
            mon.metrics()
            mon.alert_states()
            mon.pending_count  # noqa: B018 - a read under the lock

    run_together([_monitor_worker(mon, clock, k, n, midway) for k in range(THREADS)], reader)

    serial_clock = Clock(100.0)
    serial = _monitor(serial_clock)
    for k in range(THREADS):
        _monitor_worker(serial, serial_clock, k, n)()
    got, want = mon.counters(), serial.counters()
    for name in ("predictions_total", "labels_total", "unmatched_total", "evicted_total"):
        assert got[name] == want[name], name
    assert mon.pending_count == serial.pending_count == THREADS * n // 2
    m, s = mon.metrics(), serial.metrics()
    assert m["window_count"] == s["window_count"] == THREADS * n // 2
    assert m["accuracy"] == s["accuracy"]
    assert len(saved) > 1
    for text in (saved[0], saved[len(saved) // 2], saved[-1], mon.to_json()):
        _check_monitor_state(json.loads(text))


def test_monitor_served_path_and_copies_while_a_predictor_logs(
    run_together: Callable[..., None],
) -> None:
    """``Predictor`` logs through the monitor's lock-free queue; copies and saves meanwhile.

    Copying a deque that another thread appends to raises ``RuntimeError: deque mutated
    during iteration``: a copy must apply the queue under the lock, not copy it.
    """
    from prodml.monitoring import CountWindow, ModelMonitor

    mon = ModelMonitor(
        "m", window=CountWindow(100), max_pending=300, evaluate_every_s=None, clock=Clock(5.0)
    )
    rounds = 25
    copies: list[Any] = []
    finished = threading.Event()
    calls = [0] * THREADS

    def serve(k: int) -> Callable[[], None]:
        def work() -> None:
            i = 0
            while not finished.is_set() or i < 1000:
                mon._log_served(f"{k}-{i}", None, 0.75, 0.002)
                i += 1
            calls[k] = i

        return work

    def copier() -> None:
        try:
            for _ in range(rounds):
                copies.append(copy.deepcopy(mon))
                copies.append(pickle.loads(pickle.dumps(mon)))
                _check_monitor_state(mon.to_dict())
        finally:
            finished.set()

    run_together([copier, *(serve(k) for k in range(THREADS))], None)
    total = sum(calls)
    c = mon.counters()
    assert c["predictions_total"] == total
    assert c["evicted_total"] == total - 300
    assert len(copies) == 2 * rounds
    for twin in copies:  # each copy is a whole state, and independent of the original
        t = twin.counters()
        assert t["predictions_total"] == twin.pending_count + t["evicted_total"]
        assert t["predictions_total"] <= total
        assert twin._lock is not mon._lock
        twin._log_served("extra", None, 0.5, 0.001)
        assert twin.counters()["predictions_total"] == t["predictions_total"] + 1
    assert mon.counters()["predictions_total"] == total


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_monitor_copy_when_a_request_is_queued_during_it(how: str) -> None:
    """The interleaving above, made certain: a request queued while the copy is taken."""
    from prodml.monitoring import ModelMonitor

    mon = ModelMonitor("m", evaluate_every_s=None, clock=Clock(5.0))

    class ArrivesMidCopy:
        def __deepcopy__(self, memo: dict[int, Any]) -> Any:
            mon._log_served("late", None, 0.5, 0.001)  # as another request thread would
            return self

    mon._log_served("first", ArrivesMidCopy(), 0.5, 0.001)
    twin = copy.deepcopy(mon) if how == "deepcopy" else pickle.loads(pickle.dumps(mon))
    assert twin.counters()["predictions_total"] == 1
    assert mon.counters()["predictions_total"] == 1  # "late" was not queued: no copy ran
    mon._log_served("later", None, 0.5, 0.001)
    assert (mon.pending_count, twin.pending_count) == (2, 1)


def test_monitor_saved_while_a_request_is_queued_is_consistent() -> None:
    """A prediction queued while ``to_dict`` runs is in all of the saved state or none.

    The window's ``to_dict`` below queues one, as a request thread would between two
    parts of the save; the counters used to apply the queue again after the pending
    predictions were written, so the state counted a prediction it did not hold.
    """
    from prodml.monitoring import CountWindow, ModelMonitor

    class QueuesOne(CountWindow):
        def to_dict(self) -> dict[str, Any]:
            mon._log_served("mid-save", None, 0.5, 0.001)
            return super().to_dict()

    mon = ModelMonitor("m", window=QueuesOne(10), evaluate_every_s=None, clock=Clock(5.0))
    mon._log_served("before", None, 0.5, 0.001)
    state = mon.to_dict()
    _check_monitor_state(state)
    assert state["state"]["counters"]["predictions_total"] == 1
    assert [p[0] for p in state["state"]["pending"]] == ["before"]
    assert mon.counters()["predictions_total"] == 2  # the live monitor has both
    values = mon.metrics()
    assert values["predictions_total"] == values["pending"] == 2


def test_monitor_with_groups_counts_per_group_as_a_serial_run(
    run_together: Callable[..., None],
) -> None:
    """``GroupMetrics`` is not thread-safe by itself; inside a monitor the lock covers it."""
    from prodml.monitoring import CountWindow, ModelMonitor

    def build() -> Any:  # windows holding every pair: the same whatever the order
        return ModelMonitor(
            "m", window=CountWindow(100_000), group_by=["sex"], evaluate_every_s=None,
            clock=Clock(1.0),
        )  # fmt: skip

    n = 500

    def work(mon: Any, k: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(n):
                pid = f"{k}-{i}"
                mon.log_prediction(pid, {"sex": "FM"[i % 2]}, 0.8 if i % 3 else 0.1)
                mon.log_label(pid, i % 2)

        return run

    mon = build()

    def reader(done: threading.Event) -> None:
        while not done.is_set():
            mon.metrics()
            json.loads(mon.to_json())

    run_together([work(mon, k) for k in range(THREADS)], reader)
    serial = build()
    for k in range(THREADS):
        work(serial, k)()
    got, want = mon.metrics(), serial.metrics()
    group_keys = [k for k in want if "[sex=" in k]
    assert group_keys
    for key in group_keys:
        assert got[key] == want[key] or (math.isnan(got[key]) and math.isnan(want[key])), key
    got_state, want_state = mon.to_dict()["state"]["groups"], serial.to_dict()["state"]["groups"]
    assert sorted(map(repr, got_state.pop("window"))) == sorted(map(repr, want_state.pop("window")))
    assert got_state == want_state  # the window above is in arrival order, the rest is not


# ====================================================================== sinks
def test_one_in_memory_sink_shared_by_monitors_evaluating_in_threads(
    run_together: Callable[..., None],
) -> None:
    from prodml.monitoring import AlertRule, CountWindow, InMemorySink, ModelMonitor

    sink = InMemorySink(max_snapshots=100_000)
    rounds = 200
    monitors = [
        ModelMonitor(
            f"m{k}",
            window=CountWindow(10),
            rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.6, clear=0.8)],
            sinks=[sink],
            clock=Clock(0.0),
            evaluate_every_s=None,
        )
        for k in range(THREADS)
    ]

    def work(mon: Any) -> Callable[[], None]:
        def run() -> None:
            for r in range(rounds):
                score = 0.9 if r % 2 else 0.1  # alternate: fire, resolve, fire...
                for i in range(10):
                    mon.log_prediction((r, i), None, score)
                    mon.log_label((r, i), 1)
                mon.evaluate(float(r))

        return run

    def reader(done: threading.Event) -> None:
        while not done.is_set():
            sink.firing()
            list(sink.snapshots)

    run_together([work(m) for m in monitors], reader)
    assert len(sink.snapshots) == THREADS * rounds
    per_model = {f"m{k}": 0 for k in range(THREADS)}
    for e in sink.events:
        per_model[e.model] += 1
    assert per_model == {f"m{k}": rounds for k in range(THREADS)}  # one transition a round
    for k in range(THREADS):
        own = [e.state for e in sink.events if e.model == f"m{k}"]
        assert own == ["firing", "resolved"] * (rounds // 2)  # each monitor's own order


@pytest.mark.parametrize("size", [100, 20_000])
def test_json_lines_sink_lines_are_whole_while_another_thread_reads(
    tmp_path: Path, size: int, run_together: Callable[..., None]
) -> None:
    from prodml.lineage import JsonLinesSink

    sink = JsonLinesSink(tmp_path / "lineage" / "events.jsonl")
    n = 150 if size > 1000 else 400
    reads: list[int] = []

    def emit(k: int) -> Callable[[], None]:
        twin = sink if k % 2 else pickle.loads(pickle.dumps(sink))  # same file, own lock

        def run() -> None:
            for i in range(n):
                twin.emit({"k": k, "i": i, "pad": "x" * size})

        return run

    def reader(done: threading.Event) -> None:
        while not done.is_set():
            reads.append(len(sink.read()))  # every line read parses

    run_together([emit(k) for k in range(THREADS)], reader)
    events = sink.read()
    assert sorted((e["k"], e["i"]) for e in events) == [
        (k, i) for k in range(THREADS) for i in range(n)
    ]
    assert reads == sorted(reads)  # a reader never sees fewer events than before


def test_json_lines_sink_read_leaves_out_a_line_being_written(tmp_path: Path) -> None:
    """What a reader sees while a writer is halfway through a line: the line is left out.

    The threaded test above hit this on a loaded machine (a bare ``JSONDecodeError``).
    """
    from prodml.lineage import JsonLinesSink

    sink = JsonLinesSink(tmp_path / "events.jsonl")
    sink.emit({"n": 1})
    line = json.dumps({"n": 2, "pad": "x" * 100}, sort_keys=True) + "\n"
    with sink.path.open("a", encoding="utf-8") as f:
        f.write(line[:40])  # the first part of a write in progress
    assert sink.read() == [{"n": 1}]
    with sink.path.open("a", encoding="utf-8") as f:
        f.write(line[40:])
    assert [e["n"] for e in sink.read()] == [1, 2]


def test_json_lines_sink_read_stops_at_a_line_being_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that finishes its line after the reader met the line's first part.

    The reader must stop at that part: reading on would give it the line's second half
    as a line of its own, which is not JSON (the threaded test above failed so, once in
    eight CI runs, with 20 KB lines).
    """
    from prodml.lineage import JsonLinesSink

    sink = JsonLinesSink(tmp_path / "events.jsonl")
    sink.emit({"n": 1})
    line = json.dumps({"n": 2, "pad": "x" * 100}, sort_keys=True) + "\n"
    with sink.path.open("a", encoding="utf-8") as f:
        f.write(line[:40])
    real_open = Path.open

    class WriterFinishes:
        def __init__(self, f: Any) -> None:
            self.f = f

        def __enter__(self) -> WriterFinishes:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def __iter__(self) -> Iterator[str]:
            for text in self.f:
                if not text.endswith("\n"):  # the writer's second part lands now
                    with real_open(sink.path, "a", encoding="utf-8") as w:
                        w.write(line[40:])
                yield text

    def open_(self: Path, *args: Any, **kwargs: Any) -> Any:
        f = real_open(self, *args, **kwargs)
        return WriterFinishes(f) if self == sink.path and "a" not in args else f

    monkeypatch.setattr(Path, "open", open_)
    assert sink.read() == [{"n": 1}]
    monkeypatch.undo()
    assert [e["n"] for e in sink.read()] == [1, 2]


def test_json_lines_sinks_of_one_file_rotate_it_together(
    tmp_path: Path, run_together: Callable[..., None]
) -> None:
    """Copies of a rotating sink (pickled, deep-copied) share the file's lock.

    With a lock each, two copies could both find the file full and both rotate it: the
    second renamed the first's fresh backup over an older one and then failed on the
    file the first had moved away (the event was lost, logged as a ConfigError).
    """
    from prodml.lineage import JsonLinesSink

    sink = JsonLinesSink(tmp_path / "events.jsonl", max_bytes=1500, backups=10_000)
    n = 60
    reads: list[int] = []

    def emit(k: int) -> Callable[[], None]:
        twin = (
            sink if k == 0 else (copy.deepcopy(sink) if k % 2 else pickle.loads(pickle.dumps(sink)))
        )

        def run() -> None:
            for i in range(n):
                twin.emit({"k": k, "i": i, "pad": "x" * 200})

        return run

    def reader(done: threading.Event) -> None:
        while not done.is_set():
            reads.append(len(sink.read()))

    run_together([emit(k) for k in range(THREADS)], reader)
    events = sink.read()
    assert sorted((e["k"], e["i"]) for e in events) == [
        (k, i) for k in range(THREADS) for i in range(n)
    ]
    assert reads == sorted(reads)  # a rotation never hides events from a reader
    assert all(p.stat().st_size <= 1500 for p in sink.files())


def test_in_memory_lineage_sink_keeps_every_event(run_together: Callable[..., None]) -> None:
    from prodml.lineage import InMemoryLineageSink

    sink = InMemoryLineageSink()
    n = 2000
    run_together(
        [lambda k=k: [sink.emit({"k": k, "i": i}) for i in range(n)] for k in range(THREADS)],
        None,
    )
    assert sorted((e["k"], e["i"]) for e in sink.events) == [
        (k, i) for k in range(THREADS) for i in range(n)
    ]


# ====================================================================== PrivacyBudget
def test_budget_never_overspent_and_every_refusal_is_reported(
    run_together: Callable[..., None],
) -> None:
    from prodml.privacy_dp import PrivacyBudget, PrivacyBudgetError

    budget = PrivacyBudget(epsilon=1.0, delta=1e-5)
    tries = 100
    accepted: list[int] = []
    refused: list[int] = []
    snapshots: list[str] = []

    def spend(k: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(tries):
                try:
                    budget.spend(0.01, 1e-8, label=f"{k}-{i}")
                except PrivacyBudgetError:  # noqa: PERF203 - the refusal is the point
                    refused.append(k)
                else:
                    accepted.append(k)

        return run

    def reader(done: threading.Event) -> None:
        while not done.is_set():
            snapshots.append(budget.to_json())
            eps, dlt = budget.spent
            assert eps <= 1.0 + 1e-9
            assert dlt <= 1e-5 * (1 + 1e-9)

    run_together([spend(k) for k in range(THREADS)], reader)
    assert len(accepted) + len(refused) == THREADS * tries
    assert len(accepted) == len(budget.ledger) == 100  # 100 x 0.01 fits exactly once
    assert budget.spent[0] == pytest.approx(1.0)
    assert len({s.label for s in budget.ledger}) == 100  # no entry written twice
    for text in snapshots:
        back = PrivacyBudget.from_json(text)  # validated: never more than the totals
        assert len(back.ledger) <= 100


def test_dp_releases_from_threads_spend_one_budget_exactly(
    run_together: Callable[..., None],
) -> None:
    from prodml.drift import Profile
    from prodml.privacy_dp import Bins, PrivacyBudget, PrivacyBudgetError, release_profile

    prof = Profile().update(pd.DataFrame({"x": np.linspace(0.0, 4.0, 200)}))
    budget = PrivacyBudget(epsilon=1.0)
    released: list[Any] = []
    refused: list[BaseException] = []

    def run(k: int) -> Callable[[], None]:
        def go() -> None:
            for i in range(5):
                try:
                    rel = release_profile(
                        prof, {"x": Bins([0.0, 2.0, 4.0])}, epsilon=0.1, budget=budget,
                        seed=k * 10 + i, label=f"{k}-{i}",
                    )  # fmt: skip
                    released.append(rel)
                except PrivacyBudgetError as err:  # noqa: PERF203 - the refusal is the point
                    refused.append(err)

        return go

    run_together([run(k) for k in range(THREADS)], None)
    assert len(released) == len(budget.ledger) == 10
    assert len(refused) == THREADS * 5 - 10
    assert all("nothing was released" in str(e) for e in refused)
    assert budget.spent[0] == pytest.approx(1.0)
    assert budget.remaining[0] == pytest.approx(0.0, abs=1e-12)


# ====================================================================== Predictor
@pytest.fixture
def two_versions(tmp_path: Path) -> tuple[Any, dict[int, float], dict[str, float]]:
    """A registry holding churn v1, v2 and v3, each its own pipeline and model.

    A pipeline of one version with the model of another answers something else, so a
    mixed pair cannot pass for a whole version.
    """
    from sklearn.linear_model import LinearRegression

    from prodml.features import FeaturePipeline, steps
    from prodml.registry import ModelRegistry

    reg = ModelRegistry.local(tmp_path / "reg")
    record = {"x": 1.5, "y": -0.5}
    expected: dict[int, float] = {}
    for v in (1, 2, 3):
        rng = np.random.default_rng(v)
        df = pd.DataFrame({"x": rng.normal(v, v, 50), "y": rng.normal(-v, 1, 50)})
        pipe = FeaturePipeline([steps.StandardScale(["x", "y"])]).fit(df)
        model = LinearRegression().fit(pipe.transform(df), df["x"] * v + df["y"])
        reg.register("churn", (pipe, model), signature=pipe.input_schema)
        x = pipe.transform_record(record)
        expected[v] = float(model.predict(x[None, :])[0])
    reg.set_alias("churn", "production", 1)
    assert len(set(expected.values())) == 3
    return reg, expected, record


def test_predictor_answers_come_from_one_whole_version_while_the_alias_moves(
    two_versions: tuple[Any, dict[int, float], dict[str, float]],
    run_together: Callable[..., None],
) -> None:
    from prodml.serving import Predictor

    reg, expected, record = two_versions
    batch = pd.DataFrame([record] * 3)
    seen: set[int] = set()
    refreshes: list[dict[str, int | None]] = []
    pred = Predictor.from_registry(reg, "churn@production", watch_every_s=None)

    served = [0] * 4  # single answers per thread

    def serve(k: int) -> Callable[[], None]:
        def run() -> None:
            i = 0
            while i < 300 or len(refreshes) < 4:  # serve across a few moves, even if slow
                i += 1
                if i % 3 == 0:
                    p = pred.predict_record(record)
                    assert p.version in expected
                    assert p.value == pytest.approx(expected[p.version], abs=1e-12)
                    seen.add(p.version)
                    served[k] += 1
                elif i % 3 == 1:
                    many = pred.predict_many([record, record])
                    served[k] += 2
                    for q in many:
                        assert q.value == pytest.approx(expected[q.version], abs=1e-12)
                else:
                    values = pred.predict_batch(batch)
                    assert len(set(values.tolist())) == 1
                    assert any(values[0] == pytest.approx(e, abs=1e-12) for e in expected.values())

        return run

    def mover(done: threading.Event) -> None:
        other = type(reg).local(Path(reg.metadata.url.split("///", 1)[1]).parent)
        v = 1
        while not done.is_set():
            v = v % 3 + 1
            other.set_alias("churn", "production", v)
            refreshes.append(pred.refresh())
        other.close()

    with pred:
        run_together([serve(k) for k in range(4)], mover)
    assert len(refreshes) > 2
    assert len(seen) >= 2  # answers came from more than one version
    assert pred.stats.reloads["refused"] == 0
    assert pred.stats.totals()[("default", "ok")] == sum(served)  # batches: not counted


def test_predictor_canary_counts_each_answer_once_in_its_variants_monitor(
    two_versions: tuple[Any, dict[int, float], dict[str, float]],
    run_together: Callable[..., None],
) -> None:
    """Routing, per-variant monitors and serving stats agree while versions move."""
    from prodml.monitoring import CountWindow, ModelMonitor
    from prodml.rollout import Canary, Step
    from prodml.serving import Predictor

    reg, expected, record = two_versions
    reg.set_alias("churn", "candidate", 2)
    monitors = {
        v: ModelMonitor(
            v, task="regression", window=CountWindow(10), max_pending=50, evaluate_every_s=None
        )
        for v in ("baseline", "candidate")
    }
    canary = Canary(steps=[Step(0.5)], salt="t")
    pred = Predictor.from_registry(
        reg, "churn@production", policy=canary, monitor=monitors, watch_every_s=None
    )
    answers: dict[str, int] = {"baseline": 0, "candidate": 0}
    lock = threading.Lock()
    n = 250

    def serve(k: int) -> Callable[[], None]:
        def run() -> None:
            mine = {"baseline": 0, "candidate": 0}
            for i in range(n):
                p = pred.predict_record(record, key=f"{k}-{i}")
                assert p.value == pytest.approx(expected[p.version], abs=1e-12)
                mine[p.variant] += 1
            with lock:
                for v, c in mine.items():
                    answers[v] += c

        return run

    def ops(done: threading.Event) -> None:
        v = 1
        while not done.is_set():
            v = v % 3 + 1
            reg.set_alias("churn", "candidate", v)
            pred.refresh()
            pred.metrics_text()
            for m in monitors.values():
                _check_monitor_state(json.loads(m.to_json()))

    with pred:
        run_together([serve(k) for k in range(4)], ops)
    assert sum(answers.values()) == 4 * n
    assert min(answers.values()) > 0
    totals = pred.stats.totals()
    for v, m in monitors.items():
        assert m.counters()["predictions_total"] == answers[v] == totals[(v, "ok")]
    text = pred.metrics_text()
    for v, count in answers.items():
        assert f'{{variant="{v}",outcome="ok"}} {float(count)!r}' in text


# ====================================================================== retrain
def test_retrain_step_from_two_threads_runs_once(
    tmp_path: Path, run_together: Callable[..., None]
) -> None:
    from datetime import timedelta

    from prodml.retrain import Guards, RetrainController, ScheduleTrigger

    from .retrain.helpers import DAY, Trainer, data, registry

    reg = registry()
    trainer = Trainer()
    ctl = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=trainer,
        triggers=[ScheduleTrigger(timedelta(days=7))],
        data=lambda ctx: data(seed=int(ctx.now // DAY)),
        guards=Guards(min_interval=0, backoff=3600, max_backoff=4 * 3600),
        state_path=tmp_path / "state.json",
    )
    actions: list[Any] = []
    saved: list[dict[str, Any]] = []

    def reader(done: threading.Event) -> None:
        while not done.is_set():
            saved.append(ctl.to_dict())

    run_together([lambda: actions.append(ctl.step(0.0)) for _ in range(2)], reader)
    kinds = sorted(a.action for a in actions)
    assert len(trainer.calls) == 1  # one run, not two
    assert len(reg.search("churn").items) == 1
    assert "promote" in kinds
    assert reg.get("churn@production").version == 1
    assert [d.action for d in ctl.decisions].count("retrain") == 1
    for state in saved:
        json.dumps(state)
    again = RetrainController(
        registry=reg,
        model="churn",
        alias="production",
        train=trainer,
        triggers=[ScheduleTrigger(timedelta(days=7))],
        data=lambda ctx: data(seed=0),
        state_path=tmp_path / "state.json",
    )
    assert again.to_dict() == ctl.to_dict()  # the file holds what the live one holds


# ====================================================================== not shared
@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("prodml.fairness.GroupMetrics", "Not thread-safe"),
        ("prodml.drift.Profile", "Not thread-safe"),
        ("prodml.drift.streaming.StreamingDetector", "One thread at a time may feed"),
        ("prodml.rollout._sketch.QuantileSketch", "Not thread-safe"),
        ("prodml.rollout._sketch.QuantileSketch", "only under the policy's own lock"),
    ],
)
def test_objects_not_made_for_sharing_say_so(path: str, words: str) -> None:
    """Mergeable states are meant one per thread; their docstrings must tell users.

    ``QuantileSketch`` is shared only inside a rollout policy, under the policy's lock:
    its docstring says so, and that a sketch on its own is not safe to share.
    """
    import importlib

    module, _, name = path.rpartition(".")
    doc = " ".join((getattr(importlib.import_module(module), name).__doc__ or "").split())
    assert words in doc


# ====================================================================== the helper
def test_run_together_raises_the_first_error_and_stops_the_background(
    run_together: Callable[..., None],
) -> None:
    """A failing worker is raised in the test; the background thread still sees ``done``."""
    import sys

    stopped: list[float] = []
    started = threading.Barrier(2)  # the two workers run at once, or this one times out

    def fail() -> None:
        started.wait(timeout=10)
        raise ValueError("worker 2 failed")

    def background(done: threading.Event) -> None:
        done.wait(timeout=10)
        stopped.append(sys.getswitchinterval())

    with pytest.raises(ValueError, match="worker 2 failed"):
        run_together([lambda: started.wait(timeout=10), fail], background)
    assert stopped == [1e-6]  # the background ended, with threads switching often
