"""Stop 42's faster loads and fingerprints give what the slower code gave, bit for bit.

Pinned here: golden states of formats 2, 3 and 5 (``data/golden_main_states_2_3_5.json``,
written and computed by main at the commit the file names, before this change: a
LightGBM ``zero_as_missing`` forest as format 2 and 5, an interventional forest's rows as
format 3, forests trained on NaN, with infinite thresholds, as format 5) load to the same
attributions and fingerprints; the fingerprint built from the forest's arrays equals the
canonical JSON of the old layout for random forests (infinite thresholds, trees with and
without NaN routes); and the quote split that strips strings before the depth count
equals the regex it replaces on any text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor

from prodml import _state as state_json
from prodml.explain import Explainer, _forest_state
from prodml.explain._explainer import _json_safe
from prodml.explain._trees import Tree, TreeKernel, trees_from_model
from prodml.fingerprint import fingerprint_spec

GOLDEN = Path(__file__).parent / "data" / "golden_main_states_2_3_5.json"


def _cases() -> dict[str, Any]:
    cases: dict[str, Any] = json.loads(GOLDEN.read_text())["cases"]
    return cases


@pytest.mark.parametrize("name", sorted(_cases()))
def test_states_saved_by_main_load_to_the_same_bits_and_fingerprint(name: str) -> None:
    case = _cases()[name]
    test = np.array([[np.nan if v is None else v for v in r] for r in case["test"]])
    loaded = Explainer.from_json(json.dumps(case["state"]))
    again = Explainer.from_json(loaded.to_json())
    for ex in (loaded, again):
        phi, pred = ex.kernel_.attribute(test)  # type: ignore[union-attr]
        assert phi.tolist() == case["phi"]  # floats equal: the bits main computed
        assert pred.tolist() == case["pred"]
        assert ex.base == case["base"]
        assert ex.fingerprint == case["fingerprint"]


def _slow_fingerprint(ex: Explainer) -> str:
    """The fingerprint as main computed it: canonical JSON of formats 1-4's layout."""
    return fingerprint_spec(_json_safe(ex._state_dict(savable=False, packed=False)))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), depth=st.integers(1, 7), strip_routes=st.booleans())
def test_the_fingerprint_from_arrays_equals_the_old_layouts_digest(
    seed: int, depth: int, strip_routes: bool
) -> None:
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(size=(200, 4)), 1)
    X[rng.random(X.shape) < 0.2] = np.nan  # trained on NaN: infinite thresholds
    y = np.nan_to_num(X[:, 0]) - np.isnan(X[:, 1]) + rng.normal(size=200)
    model = RandomForestRegressor(n_estimators=3, max_depth=depth, random_state=seed)
    ex = Explainer.from_dict(_golden_like_state(model.fit(X, y), strip_routes))
    assert ex.fingerprint == _slow_fingerprint(ex)


def _golden_like_state(model: Any, strip_routes: bool) -> dict[str, Any]:
    """A format-5 state of the model's trees (the first tree without NaN routes)."""
    kernel = trees_from_model(model, None)
    assert kernel is not None
    state: dict[str, Any] = json.loads(json.dumps(_cases()["tree_forest_nan_format5"]["state"]))
    if strip_routes:  # a tree without routes: formats 1-4 held such forests
        t = kernel.trees[0]
        kernel.trees[0] = Tree(t.left, t.right, t.feature, t.threshold, t.cover, t.value)
        kernel = TreeKernel(kernel.trees, kernel.init, 5, kernel.scale, kernel.float32)
        saved = kernel.to_dict()
        saved["trees"] = [json.loads(json.dumps(_json_safe_tree(t))) for t in saved["trees"]]
        return state | {"format_version": 1, "kernel": saved | {"n_features": 5}}
    kernel = TreeKernel(kernel.trees, kernel.init, 5, kernel.scale, kernel.float32)
    return state | {"kernel": _forest_state.dump(kernel) | {"n_features": 5}}


def _json_safe_tree(tree: dict[str, Any]) -> dict[str, Any]:
    return tree | {"threshold": [v if math.isfinite(v) else 0.0 for v in tree["threshold"]]}


def test_a_value_json_cannot_hold_is_refused_by_the_fingerprint_as_before() -> None:
    ex = Explainer.from_json(json.dumps(_cases()["tree_forest_nan_format5"]["state"]))
    ex.kernel_.trees[1].value[0] = math.nan  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"kernel\.trees\[1\]\.value\[0\]"):
        _ = ex.fingerprint


_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\ab,:u'), max_size=40)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_the_quote_split_strips_what_the_string_regex_strips(text: str) -> None:
    raw = text.encode()
    assert state_json._outside_strings(raw) == state_json._STRINGS.sub(b"", raw)
