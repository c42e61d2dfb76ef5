"""Saved trees must be trees, of a size their JSON pays for (formats 1 to 4).

The state check (``tests/test_hostile_state_sweep.py`` and ``test_state.py``) refused
cycles, backward children and features outside the model; it let through a node with
two parents (the same subtree on both sides of a split), an orphan leaf (no parent:
its value was added to every prediction, a silently different model) and a chain of
splits whose leaf-path tables cost the chain's length squared (506 MiB and 9 s from a
123 kB state of 4,001 nodes). Each is refused now, in each format that holds trees:
1 (path-dependent), 2 (LightGBM ``zero_as_missing``), 3 (interventional, its rows) and 4
(interventional, its fitted patterns).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeRegressor

from prodml.errors import ConfigError
from prodml.explain import Explainer, _forest_state
from prodml.features import FeaturePipeline, steps

from .conftest import legacy_state


def _data() -> tuple[pd.DataFrame, FeaturePipeline, np.ndarray]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    df.loc[rng.random(200) < 0.3, "a"] = 0.0
    pipe = FeaturePipeline([steps.StandardScale(["a", "b"])]).fit(df)
    X = pipe.transform(df)
    return df, pipe, X[:, 0] * X[:, 1] + X[:, 0]


def _format_1() -> dict[str, Any]:
    df, pipe, y = _data()
    model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(pipe.transform(df), y)
    return legacy_state(Explainer(pipe, model).fit())


def _format_2() -> dict[str, Any]:
    lightgbm = pytest.importorskip("lightgbm", reason="needs the 'lightgbm' extra")
    df, pipe, y = _data()
    model = lightgbm.LGBMRegressor(
        n_estimators=3, num_leaves=6, min_child_samples=5, zero_as_missing=True, verbose=-1
    ).fit(pipe.transform(df), y)
    return legacy_state(Explainer(pipe, model).fit())


def _format_4() -> dict[str, Any]:
    df, pipe, y = _data()
    model = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0)
    model.fit(pipe.transform(df), y)
    ex = Explainer(pipe, model, background=df, feature_perturbation="interventional")
    return legacy_state(ex.fit())


def _format_3() -> dict[str, Any]:
    """The interventional state as format 3 wrote it: the background rows, no patterns."""
    df, pipe, y = _data()
    model = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0)
    model.fit(pipe.transform(df), y)
    ex = Explainer(pipe, model, background=df, feature_perturbation="interventional").fit()
    state = legacy_state(ex)
    for key in ("n_background", "base", "patterns"):
        del state["kernel"][key]
    state["kernel"]["background"] = ex.kernel_.background.tolist()  # type: ignore[union-attr]
    state["format_version"] = 3
    return state


FORMATS: dict[int, Callable[[], dict[str, Any]]] = {
    1: _format_1, 2: _format_2, 3: _format_3, 4: _format_4
}  # fmt: skip


def _orphan_leaf(tree: dict[str, Any]) -> None:
    for key, v in [("left", -1), ("right", -1), ("feature", -2), ("threshold", -2.0),
                   ("cover", 1.0), ("value", 100.0)]:  # fmt: skip
        tree[key].append(v)
    if tree.get("missing_left") is not None:
        tree["missing_left"].append(False)


def _shared_child(tree: dict[str, Any]) -> None:
    tree["right"][0] = tree["left"][0]  # node 0's right subtree now has no parent either


def _two_parents(tree: dict[str, Any]) -> None:
    inner = [i for i, c in enumerate(tree["left"]) if c >= 0]
    a, b = inner[1], inner[2]  # a < b < b's children: forward, no cycle
    tree["right"][a] = tree["left"][b]  # b's left child is a's right child too


@pytest.mark.parametrize("version", sorted(FORMATS))
@pytest.mark.parametrize("edit", [_orphan_leaf, _shared_child, _two_parents])
def test_a_node_without_exactly_one_parent_is_refused(
    version: int, edit: Callable[[dict[str, Any]], None]
) -> None:
    state = FORMATS[version]()
    assert state["format_version"] == version
    edit(state["kernel"]["trees"][0])
    with pytest.raises(ConfigError, match="one tree") as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.trees[0].left"


def _chain(n: int) -> dict[str, list[Any]]:
    """A tree of ``n`` nodes: each split's left child a leaf, its right the next split."""
    inner = [i % 2 == 0 and i < n - 1 for i in range(n)]
    return {
        "left": [i + 1 if s else -1 for i, s in enumerate(inner)],
        "right": [i + 2 if s else -1 for i, s in enumerate(inner)],
        "feature": [i % 2 if s else -2 for i, s in enumerate(inner)],
        "threshold": [float(-i) if s else -2.0 for i, s in enumerate(inner)],
        "cover": [float(n - i) for i in range(n)],
        "value": [float(i % 3) for i in range(n)],
        "missing_left": [False] * n,
    }


@pytest.mark.parametrize("version", sorted(FORMATS))
def test_a_chain_whose_paths_cost_its_length_squared_is_refused(
    version: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = FORMATS[version]()
    monkeypatch.setattr(_forest_state, "PATH_CELLS_FREE", 1_000)  # the chain is kept small
    state["kernel"]["trees"].append(_chain(2_001))  # 1,001 leaves x 1,000 splits
    with pytest.raises(ConfigError, match="longest path") as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.trees"
    state["kernel"]["trees"][-1] = _chain(201)  # 101 x 100 cells: within 128 per node
    if version == 4:  # the chain's patterns: what a format-3 load of it fits, saved
        three = _format_3()
        three["kernel"]["trees"].append(_chain(201))
        state = legacy_state(Explainer.from_dict(three))
        assert state["format_version"] == 4
    back = Explainer.from_dict(state)
    assert back.kernel_.n_leaves > 101  # type: ignore[union-attr]


@pytest.mark.parametrize("version", sorted(FORMATS))
@pytest.mark.parametrize("value", [2.0, "2", [2]])
def test_the_width_must_be_an_int(version: int, value: object) -> None:
    state = FORMATS[version]()
    assert state["kernel"]["n_features"] == 2
    state["kernel"]["n_features"] = value  # 2.0 == 2 passed, and was saved back as 2.0
    with pytest.raises(ConfigError) as info:
        Explainer.from_dict(state)
    assert info.value.parameter == "kernel.n_features"
