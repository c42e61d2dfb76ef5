"""to_dict from another thread while one thread updates (issue 15 §7).

Before the snapshot protocol, ADWIN.to_dict() racing with update() raised
AttributeError('_jit') on most calls, produced unloadable snapshots and changed the live
detector's final state. Each test here would have caught that.
"""

from __future__ import annotations

import threading
import time

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
