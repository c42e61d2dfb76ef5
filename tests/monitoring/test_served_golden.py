"""The monitor state after a seeded stream of served predictions, byte for byte.

``golden/served_stream42.sha256`` holds the SHA-256 of ``ModelMonitor.to_json()`` after
the stream below went through ``_log_served`` (Predictor's entry), written by main's
code before stop 42 made that entry convert numpy and int outputs, latencies and clock
readings through a table of types built once. The stream mixes what a served model and
a clock give: Python floats, numpy float64/float32/int64 scalars, ints and bools as
outputs and latencies, a numpy clock reading, out-of-range and NaN values (which take
``log_prediction`` and are refused), labels, and time steps across statistics slots and
evaluations. Any change of a figure, counter, pending entry or order changes the hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prodml.errors import ProdMLError
from prodml.monitoring import AlertRule, ModelMonitor, TimeWindow

from .conftest import FakeClock

GOLDEN = Path(__file__).parent / "golden" / "served_stream42.sha256"
N = 3000


def _value(rng: np.random.Generator, kind: int, x: float) -> Any:
    return [
        x,
        np.float64(x),
        np.float32(x),
        int(x > 0.5),
        np.int64(x > 0.5),
        bool(x > 0.5),
        np.bool_(x > 0.5),
        x * 3 - 1,  # out of [0, 1] two times in three
        math.nan,
        10**400,
    ][kind]


def _stream_state(task: str) -> str:
    rng = np.random.default_rng(42)
    clock = FakeClock(1.7e9)
    mon = ModelMonitor(
        "m",
        task=task,
        window=TimeWindow(30.0),
        evaluate_every_s=5.0,
        max_pending=500,
        rules=[AlertRule("acc", metric="accuracy", op="<", fire=0.6, clear=0.8)]
        if task == "binary"
        else [],
    )
    mon.clock = clock
    kinds = rng.choice(10, N, p=[0.4, 0.15, 0.1, 0.08, 0.08, 0.05, 0.04, 0.05, 0.03, 0.02])
    lat_kinds = rng.choice(4, N, p=[0.7, 0.15, 0.1, 0.05])
    xs, steps, labels = rng.random(N), rng.exponential(0.02, N), rng.integers(0, 2, N)
    for i in range(N):
        clock.t += float(steps[i])
        if i % 97 == 0:
            clock.t = np.float64(clock.t)  # type: ignore[assignment]
        x = float(xs[i])
        lat_kind = int(lat_kinds[i])
        latency: Any = [x / 10, np.float32(x / 10), 1, -1.0][lat_kind]
        with contextlib.suppress(ProdMLError):
            mon._log_served(f"p{i % 700}", None, _value(rng, int(kinds[i]), x), latency)
        clock.t = float(clock.t)
        if i % 3 == 0 and i >= 10:
            with contextlib.suppress(ProdMLError):
                mon.log_label(f"p{(i - 10) % 700}", int(labels[i]), timestamp=clock.t)
    return mon.to_json()


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_the_state_after_a_served_stream_is_unchanged(task: str) -> None:
    digest = hashlib.sha256(_stream_state(task).encode()).hexdigest()
    expected = dict(line.split() for line in GOLDEN.read_text().splitlines())
    assert digest == expected[task]
