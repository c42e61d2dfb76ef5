"""Hostile saved per-group windows of a ModelMonitor (``state.groups``).

The cross-area sweep's monitor has no ``group_by``, so nothing mutated its saved group
window: pending groups, labelled records, the ``dropped`` count and the ``salt_id`` of
groups held as tokens. Before stop 42, a negative, fractional or text ``dropped`` count,
a NaN record time, a pending list given as a dict and a pending group given as text
loaded; a salt id of any text up to 64 characters (a lone surrogate included) loaded
with a warning; other faults were one message naming only ``state.groups``. Each is now a
StateError naming the field under ``state.groups``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests._hostile_state import MARKER, mutations, outcome

from prodml.errors import StateError
from prodml.monitoring import CountWindow, ModelMonitor


def _monitor() -> ModelMonitor:
    clock = iter([float(t) for t in range(1000)]).__next__
    mon = ModelMonitor(
        "m", window=CountWindow(8), group_by=["who"], clock=clock, evaluate_every_s=None
    )
    rows = [("ann@example.com", 0.9, 1), ("staff", 0.2, 0), ("bob@example.org", 0.7, 1)]
    for i, (who, score, label) in enumerate(rows):
        mon.log_prediction(i, None, score, latency_s=0.01, groups={"who": who})
        if i < 2:
            mon.log_label(i, label)
    return mon


STATE = _monitor().to_dict()
_DROP = object()


def _load(state: Any) -> ModelMonitor:
    return ModelMonitor.from_dict(state)


def _use(mon: ModelMonitor) -> None:
    mon.log_prediction(1000, None, 0.3, latency_s=0.002, groups={"who": "ann@example.com"})
    mon.log_label(1000, 1)
    mon.metrics()
    mon.evaluate()


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    state = copy.deepcopy(STATE)
    node: Any = state["state"]["groups"]
    for key in path[:-1]:
        node = node[key]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return state


CASES = [
    (("dropped",), -1, "dropped"),
    (("dropped",), 1.5, "dropped"),
    (("dropped",), "1", "dropped"),
    (("dropped",), math.nan, "dropped"),
    (("pending",), {}, "pending"),
    (("pending", 0), [2], "pending[0]"),
    (("pending", 0, 0), [2], "pending[0][0]"),
    (("pending", 0, 0), True, "pending[0][0]"),
    (("pending", 0, 1), "x", "pending[0][1]"),
    (("pending", 0, 1), [], "pending[0][1]"),
    (("window",), "x", "window"),
    (("window", 0), [1.0, ["staff"], 1], "window[0]"),
    (("window", 0, 0), math.nan, "window[0][0]"),
    (("window", 0, 0), "1.0", "window[0][0]"),
    (("window", 0, 1), "pm:78367eb9f8b564e9", "window[0][1]"),
    (("window", 0, 1), None, "window[0][1]"),
    (("window", 0, 1), [1, 2], "window[0][1]"),
    (("window", 0, 2), 2, "window[0][2]"),
    (("window", 0, 2), math.nan, "window[0][2]"),
    (("window", 0, 3), math.nan, "window[0][3]"),
    (("window", 0, 3), -0.5, "window[0][3]"),
    (("salt_id",), 5, "salt_id"),
    (("salt_id",), "not a salt id!", "salt_id"),
    (("salt_id",), "\udcff", "salt_id"),
    (("salt_id",), MARKER * 4, "salt_id"),
    (("salt_id",), "0123456789ABCDEF", "salt_id"),
    (("salt_id",), None, "salt_id"),  # the groups hold tokens: the salt id must be there
    (("salt_id",), _DROP, "salt_id"),
    (("zz_unknown",), 1, "zz_unknown"),
]


@pytest.mark.parametrize(("path", "value", "field"), CASES, ids=[c[2] for c in CASES])
def test_a_hostile_group_field_is_a_state_error_naming_it(
    path: tuple[str | int, ...], value: Any, field: str
) -> None:
    with pytest.raises(StateError) as info:
        _load(_with(path, value))
    err = info.value
    assert err.path == f"state.groups.{field}"
    assert repr(err.path) in str(err)
    assert MARKER * 4 not in str(err)
    assert len(str(err)) < 600


def test_the_grouped_state_loads_and_round_trips() -> None:
    assert STATE["state"]["groups"]["salt_id"]
    assert _load(copy.deepcopy(STATE)).to_dict() == STATE


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_hostile_sweep_on_the_group_window(data: st.DataObject) -> None:
    muts = [m for m in mutations(STATE) if m[0].startswith("['state']['groups']")]
    what, build = muts[data.draw(st.integers(0, len(muts) - 1), label="mutation")]
    found = outcome(_load, _use, build())
    assert found is None, f"{what}: {found}"
