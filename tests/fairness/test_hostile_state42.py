"""Hostile saved GroupMetrics states: the fields the cross-area sweep's state lacks.

``tests/test_hostile_state_sweep.py`` mutates a small GroupMetrics (no scores, weights or
tokens). This file mutates a rich one (score histograms, weights, groups held as tokens
with their ``salt_id``): truncated lists, wrong types, NaN and negative counts, a salt id
of the wrong shape, tokens without a salt id. Each is a StateError (still a ConfigError,
as before) naming the field path; the whole sweep of ``tests/_hostile_state.py`` runs on
it too.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests._hostile_state import MARKER, mutations, outcome

from prodml.errors import ConfigError, StateError
from prodml.fairness import GroupMetrics


def _state() -> dict[str, Any]:
    gm = GroupMetrics(["who", "band"], ["tpr"], threshold=0.5, bins=4, min_count=1, weighted=True)
    gm.update(
        [1, 0, 1, 1],
        [0.9, 0.2, 0.4, 0.7],
        {
            "who": ["ann@example.com", "staff", "ann@example.com", "bob@example.org"],
            "band": ["a", "b", "a", "b"],
        },
        sample_weight=[1, 2, 3, 4],
    )
    return gm.to_dict()


STATE = _state()


def _use(gm: GroupMetrics) -> None:
    gm.update_record(1, 0.3, {"who": "ann@example.com", "band": "a"}, 2.0)
    gm.report().by_group  # noqa: B018 - the use is the computation


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    state = copy.deepcopy(STATE)
    node: Any = state
    for key in path[:-1]:
        node = node[key]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value(node[path[-1]]) if callable(value) else value
    return state


_DROP = object()


def _short(items: list[Any]) -> list[Any]:
    return items[:-1]


CASES = [
    # truncated lists
    (("state", "confusion"), _short, "state.confusion"),
    (("state", "confusion", 1), _short, "state.confusion[1]"),
    (("state", "histograms"), _short, "state.histograms"),
    (("state", "histograms", 0), _short, "state.histograms[0]"),
    (("state", "weights"), _short, "state.weights"),
    (("state", "weights_squared", 2), _short, "state.weights_squared[2]"),
    (("state", "groups", 0), _short, "state.groups[0]"),
    # wrong types
    (("state", "confusion", 1, 2), "1", "state.confusion[1][2]"),
    (("state", "confusion", 1, 2), True, "state.confusion[1][2]"),
    (("state", "confusion", 1, 2), 1.0, "state.confusion[1][2]"),
    (("state", "histograms", 1), {"a": 1}, "state.histograms[1]"),
    (("state", "weights", 1, 2), "3", "state.weights[1][2]"),
    (("state", "dropped"), [], "state.dropped"),
    (("state", "groups", 0, 0), ["x"], "state.groups[0][0]"),
    # NaN and negative counts
    (("state", "confusion", 1, 2), math.nan, "state.confusion[1][2]"),
    (("state", "confusion", 1, 2), -1, "state.confusion[1][2]"),
    (("state", "histograms", 1, 5), math.nan, "state.histograms[1][5]"),
    (("state", "histograms", 1, 5), -1, "state.histograms[1][5]"),
    (("state", "weights", 1, 2), math.nan, "state.weights[1][2]"),
    (("state", "weights_squared", 1, 2), -3.0, "state.weights_squared[1][2]"),
    (("state", "dropped"), {"who": -1}, "state.dropped.who"),
    (("state", "dropped"), {"who": math.nan}, "state.dropped.who"),
    # salt ids of the wrong shape, and tokens without one
    (("state", "salt_id"), 5, "state.salt_id"),
    (("state", "salt_id"), "", "state.salt_id"),
    (("state", "salt_id"), "not a salt id!", "state.salt_id"),
    (("state", "salt_id"), "CAD40DA27450E981", "state.salt_id"),  # upper case: not an id
    (("state", "salt_id"), "0123456789abcdef0", "state.salt_id"),
    (("state", "salt_id"), MARKER * 4, "state.salt_id"),
    (("state", "salt_id"), "\udcff", "state.salt_id"),
    (("state", "salt_id"), None, "state.salt_id"),
    (("state", "salt_id"), _DROP, "state.salt_id"),
    # a config setting the constructor refuses, its value long
    (("config", "metrics", 0), MARKER * 100, "config.metrics"),
]


@pytest.mark.parametrize(("path", "value", "field"), CASES, ids=[c[2] for c in CASES])
def test_a_hostile_field_is_a_state_error_naming_it(
    path: tuple[str | int, ...], value: Any, field: str
) -> None:
    with pytest.raises(StateError) as info:
        GroupMetrics.from_dict(_with(path, value))
    err = info.value
    assert isinstance(err, ConfigError)  # what callers caught before
    assert err.path == field
    assert err.parameter == field
    assert repr(field) in str(err)
    assert MARKER * 4 not in str(err)
    assert len(str(err)) < 600


def test_the_rich_state_loads_and_round_trips() -> None:
    loaded = GroupMetrics.from_dict(copy.deepcopy(STATE))
    assert loaded.to_dict() == STATE
    assert STATE["state"]["salt_id"]  # groups held as tokens
    assert STATE["state"]["histograms"]
    assert STATE["state"]["weights"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_hostile_sweep_on_the_rich_state(data: st.DataObject) -> None:
    muts = mutations(STATE)
    what, build = muts[data.draw(st.integers(0, len(muts) - 1), label="mutation")]
    found = outcome(GroupMetrics.from_dict, _use, build())
    assert found is None, f"{what}: {found}"
