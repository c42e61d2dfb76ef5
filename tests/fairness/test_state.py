"""Saved state round-trips, and hostile state is refused with the field path at fault."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from prodml.errors import ConfigError, ProdMLError
from prodml.fairness import GroupMetrics

HOSTILE: list[Any] = [
    None,
    -1,
    2**70,
    math.nan,
    math.inf,
    1.5,
    "x",
    "",
    [],
    {},
    True,
    [[[]]],
    {"a": 1},
]


def sample(**kw: Any) -> GroupMetrics:
    rng = np.random.default_rng(0)
    n = 300
    gm = GroupMetrics(
        ["sex", "age"],
        ["tpr", "selection_rate", "auc"],
        threshold=0.5,
        bins=4,
        missing="group",
        categories={"age": ["a", "b"]},
        unseen="group",
        **kw,
    )
    sex = rng.choice(["F", "M", None], n).tolist()
    age = rng.choice(["a", "b", "c"], n).tolist()
    return gm.update(rng.integers(0, 2, n), rng.random(n), {"sex": sex, "age": age})


def leaves(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from leaves(v, (*path, k))
    elif isinstance(data, list) and data:
        for i, v in enumerate(data):
            yield from leaves(v, (*path, i))
    else:
        yield path


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(data)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def test_round_trip_through_json_is_exact() -> None:
    gm = sample()
    back = GroupMetrics.from_json(gm.to_json())
    assert back == gm
    assert back.to_dict() == gm.to_dict()
    assert back.report().to_metrics() == gm.report().to_metrics()
    json.dumps(gm.report().to_dict(), allow_nan=False)  # the report is JSON-safe too


def test_every_hostile_leaf_is_refused_or_harmless() -> None:
    """Each leaf replaced by each hostile value: a ConfigError, or a state that works."""
    good = sample().to_dict()
    paths = list(leaves(good))
    assert len(paths) > 50
    accepted = 0
    refused: list[str | None] = []
    for path in paths:
        for value in HOSTILE:
            data = replaced(good, path, value)
            try:
                gm = GroupMetrics.from_dict(data)
            except ConfigError as err:
                refused.append(err.parameter)
                continue
            accepted += 1
            gm.report().to_metrics()  # a loaded state must work
            gm.update(1, 0.7, {"sex": "F", "age": "a"})
            assert GroupMetrics.from_dict(gm.to_dict()) == gm
    assert accepted < len(paths) * len(HOSTILE) // 4  # most hostile values are refused
    assert all(refused)  # every refusal names the field


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("state", "confusion", 2, 1), -1, "state.confusion[2][1]"),
        (("state", "confusion", 0), [1, 2, 3], "state.confusion[0]"),
        (("state", "histograms", 1, 0), 10**6, "state.histograms[1]"),
        (("state", "groups", 0, 0), [1], "state.groups[0][0]"),
        (("state", "groups", 1, 1), "z", "state.groups[1][1]"),
        (("state", "dropped"), {"income": 1}, "state.dropped.income"),
        (("config", "bins"), 0, "config.bins"),
        (("config", "sensitive"), "sex", "config.sensitive"),
        (("format_version",), 2, "format_version"),
        (("kind",), "Profile", "kind"),
    ],
)
def test_errors_name_the_field_path(path: tuple[Any, ...], value: Any, field: str) -> None:
    data = replaced(sample().to_dict(), path, value)
    with pytest.raises(ConfigError) as err:
        GroupMetrics.from_dict(data)
    assert err.value.parameter == field
    assert field in str(err.value)


def test_structural_problems_are_refused() -> None:
    good = sample().to_dict()
    dup = copy.deepcopy(good)
    dup["state"]["groups"][1] = dup["state"]["groups"][0]
    with pytest.raises(ConfigError, match=r"state.groups\[1\].*not listed before"):
        GroupMetrics.from_dict(dup)
    extra = copy.deepcopy(good)
    extra["config"]["evil"] = 1
    with pytest.raises(ConfigError, match=r"config.evil"):
        GroupMetrics.from_dict(extra)
    absent = copy.deepcopy(good)
    del absent["config"]["alpha"]
    with pytest.raises(ConfigError, match=r"config.alpha"):
        GroupMetrics.from_dict(absent)
    many = copy.deepcopy(good)
    many["config"]["max_groups"] = 2
    with pytest.raises(ConfigError, match="max_groups"):
        GroupMetrics.from_dict(many)
    labels = GroupMetrics(["sex"]).update([1], [1], ["F"]).to_dict()
    labels["state"]["histograms"] = [[1, 0]]
    with pytest.raises(ConfigError, match=r"state.histograms.*null"):
        GroupMetrics.from_dict(labels)
    for bad in ([], "x", None, 3):
        with pytest.raises(ConfigError):
            GroupMetrics.from_dict(bad)  # type: ignore[arg-type]


def test_hostile_json_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        GroupMetrics.from_json("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        GroupMetrics.from_json("[" * 100_000)
    with pytest.raises(ConfigError, match="must be a str"):
        GroupMetrics.from_json(3)  # type: ignore[arg-type]
    with pytest.raises(ProdMLError):
        GroupMetrics.from_json("NaN")
