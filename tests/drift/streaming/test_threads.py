"""to_dict from another thread while one thread updates (issue 15 §7).

Before the snapshot protocol, ADWIN.to_dict() racing with update() raised
AttributeError('_jit') on most calls, produced unloadable snapshots and changed the live
detector's final state. Each test here would have caught that.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from prodml.drift.streaming import (
    ADWIN,
    CUSUM,
    DDM,
    EDDM,
    HDDM_A,
    HDDM_W,
    KSWIN,
    PageHinkley,
    StreamingDetector,
    _adwin_jit,
)

MAX_SNAPSHOTS = 2_000

FACTORIES = {
    "ADWIN": lambda: ADWIN(clock=4),
    "CUSUM": CUSUM,
    "DDM": DDM,
    "EDDM": EDDM,
    "HDDM_A": HDDM_A,
    "HDDM_W": HDDM_W,
    "KSWIN": lambda: KSWIN(window_size=60, stat_size=20),
    "PageHinkley": PageHinkley,
}


def _stream(det: StreamingDetector, n: int) -> list[float]:
    rng = np.random.default_rng(7)
    if det.domain == "binary":
        p = np.where(np.arange(n) < n // 2, 0.1, 0.4)
        return (rng.random(n) < p).astype(float).tolist()
    if det.domain == "unit":
        return np.clip(rng.normal(np.where(np.arange(n) < n // 2, 0.3, 0.6), 0.1), 0, 1).tolist()
    return rng.normal(np.where(np.arange(n) < n // 2, 0.0, 1.5), 1.0).tolist()


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("batched", [False, True])
def test_to_dict_from_another_thread_is_consistent_and_harmless(name: str, batched: bool) -> None:
    values = _stream(FACTORIES[name](), 6000)
    reference = FACTORIES[name]()
    expected = [i for i, x in enumerate(values) if reference.update(x)]

    live = FACTORIES[name]()  # fresh: the first update and a snapshot race to set it up
    snapshots: list[dict[str, object]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                snapshot = live.to_dict()
                # Bounded: the race is in the calls, not in the list (an unbounded list
                # once grew past 8 GB while the writer was starved).
                if len(snapshots) < MAX_SNAPSHOTS:
                    snapshots.append(snapshot)
                time.sleep(0)  # hand the GIL over, so the writer always progresses
        except BaseException as err:  # noqa: BLE001 - any error is the finding
            errors.append(err)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        if batched:
            alarms = []
            for start in range(0, len(values), 97):
                chunk = np.array(values[start : start + 97])
                alarms += (live.update_many(chunk) + start).tolist()
        else:
            alarms = [i for i, x in enumerate(values) if live.update(x)]
    finally:
        done.set()
        thread.join()

    assert errors == []
    assert len(snapshots) > 0
    assert alarms == expected  # the snapshots changed nothing in the live detector
    assert live.to_dict() == reference.to_dict()
    for snap in snapshots[:: max(1, len(snapshots) // 50)]:
        # every snapshot is a consistent state: it loads (all invariants hold) and saves
        # back to itself
        assert type(live).from_dict(snap).to_dict() == snap


def test_page_hinkley_snapshots_are_states_of_a_prefix() -> None:
    # Integer values: every running sum is exact, so a snapshot holding n values must
    # hold exactly the sum of the first n values fed.
    values = [float(v) for v in np.random.default_rng(3).integers(0, 5, 20_000)]
    prefix = np.concatenate(([0.0], np.cumsum(values)))
    det = PageHinkley(threshold=1e12)  # never alarms: n counts every value
    snaps: list[dict[str, object]] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            snapshot = det.to_dict()
            if len(snaps) < MAX_SNAPSHOTS:
                snaps.append(snapshot)
            time.sleep(0)

    thread = threading.Thread(target=reader)
    thread.start()
    for x in values:
        det.update(x)
    done.set()
    thread.join()
    assert snaps
    for snap in snaps:
        state = snap["state"]
        assert isinstance(state, dict)
        assert state["sum"] == prefix[state["n"]]


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_adwin_unguarded_appends_lose_no_value_to_a_snapshot(
    jit: bool, busy_switching: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ADWIN's update appends to its buffer without the snapshot guard; only a block's
    # close and a restart are guarded, and the snapshot must not write. A snapshot that
    # folded the buffer into the live state (as it once did) loses a value appended
    # meanwhile: the live detector then ends elsewhere, or a snapshot is no state of a
    # prefix of the stream.
    if jit and _adwin_jit.compiled() is None:
        pytest.skip("needs numba (the 'fast' extra), or PRODML_NO_JIT is set")
    if not jit:
        monkeypatch.setattr(_adwin_jit, "_COMPILED", [None])
    rng = np.random.default_rng(11)
    values = rng.normal(np.repeat([0.0, 2.0, -1.0, 1.0], 3000), 1.0).tolist()

    def make() -> ADWIN:
        return ADWIN(clock=4, grace_period=4)

    reference = make()
    prefix_of: dict[str, list[int]] = {}  # state -> the prefixes that leave it
    expected = []
    for i, x in enumerate([*values, None]):
        key = json.dumps(reference.to_dict(), sort_keys=True)
        prefix_of.setdefault(key, []).append(i)
        if x is not None and reference.update(x):
            expected.append(i)
    assert reference._jit is jit
    assert len(expected) >= 2  # restarts are raced too

    for _ in range(ADWIN_RACES):  # each round catches a lost value most of the time
        _race_adwin(make, values, expected, reference.to_dict(), prefix_of)


ADWIN_RACES = 4


def _race_adwin(
    make: Callable[[], ADWIN],
    values: list[float],
    expected: list[int],
    final: dict[str, object],
    prefix_of: dict[str, list[int]],
) -> None:
    live = make()
    snaps: list[dict[str, object]] = []
    done = threading.Event()
    reading = threading.Event()

    def reader() -> None:
        while not done.is_set():
            snapshot = live.to_dict()
            if len(snaps) < MAX_SNAPSHOTS and (not snaps or snapshot != snaps[-1]):
                snaps.append(snapshot)  # a tight loop: repeats kept once
            reading.set()
            time.sleep(0)  # hand the GIL over, so the writer always progresses

    thread = threading.Thread(target=reader)
    thread.start()
    reading.wait()
    alarms = []
    try:
        for i, x in enumerate(values):
            if live.update(x):
                alarms.append(i)
            if i % 7 == 0:  # odd against the clock: the reader meets every block phase
                time.sleep(0)
    finally:
        done.set()
        thread.join()

    assert alarms == expected
    assert live.to_dict() == final
    assert len(snaps) > 10
    last = 0
    starts = []
    for snap in snaps:
        # a state the detector was in, after a prefix at least as long as the last one
        matches = [i for i in prefix_of.get(json.dumps(snap, sort_keys=True), []) if i >= last]
        assert matches, f"snapshot {len(starts)} is no state after a prefix of the stream"
        last = matches[0]
        starts.append(last)
    assert len(set(starts)) > 3
    for snap, start in list(zip(snaps, starts, strict=True))[:: max(1, len(snaps) // 20)]:
        restored = ADWIN.from_dict(snap)
        rest = [start + i for i, x in enumerate(values[start:]) if restored.update(x)]
        assert rest == [i for i in expected if i >= start]
        assert restored.to_dict() == final


@pytest.mark.parametrize("jit", [False, True], ids=["python", "numba"])
def test_adwin_snapshot_leaves_out_the_value_of_a_block_close_in_progress(
    jit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # update appends unguarded, then waits for a snapshot before closing the block: a
    # snapshot meanwhile sees a full block's worth of values and must take the state
    # before that update (the live detector then closes the block as it would have).
    if jit and _adwin_jit.compiled() is None:
        pytest.skip("needs numba (the 'fast' extra), or PRODML_NO_JIT is set")
    if not jit:
        monkeypatch.setattr(_adwin_jit, "_COMPILED", [None])
    values = np.random.default_rng(5).normal(0, 1, 24).tolist()
    det, reference = ADWIN(clock=4), ADWIN(clock=4)
    for x in values[:-1]:
        det.update(x)
        reference.update(x)
    assert det._jit is jit
    det._buf.append(values[-1])  # where update stands when it finds a reader waiting
    assert len(det._buf) == det._need
    assert det.to_dict() == reference.to_dict()
    assert det._close_block() == reference.update(values[-1])
    assert det.to_dict() == reference.to_dict()


@pytest.mark.parametrize("name", ["ADWIN", "PageHinkley", "CUSUM", "DDM"])
def test_a_reset_that_fails_its_check_leaves_no_update_going_on_the_old_state(name: str) -> None:
    from prodml.drift import streaming
    from prodml.errors import ConfigError

    det = getattr(streaming, name)()
    det.update_many([0.0, 1.0] * 100)
    param = {"ADWIN": "delta", "PageHinkley": "delta", "CUSUM": "k", "DDM": "drift_threshold"}[name]
    setattr(det, param, -1.0)
    with pytest.raises(ConfigError, match=f"'{param}' parameter"):
        det.reset()
    assert det.drift_detected is False
    with pytest.raises(ConfigError, match=f"'{param}' parameter"):
        det.update(0.0)  # was: ADWIN took it on the old state, unchecked
    with pytest.raises(ConfigError, match=f"'{param}' parameter"):
        det.to_dict()
