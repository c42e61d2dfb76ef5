"""LightGBM's ``zero_as_missing=True``: 0 and NaN both take a split's default side.

A value with ``|x| <= 1e-35`` (LightGBM's kZeroThreshold, the float32 ``1e-35f``) and NaN
follow ``default_left`` on ``missing_type="Zero"`` splits. The kernel must reach
LightGBM's raw margin, add up, and equal both LightGBM's own ``pred_contrib=True`` and
``shap.TreeExplainer`` (path-dependent), on the batch and the record path.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodml.errors import ConfigError
from prodml.explain import Explainer, _state, _tree_jit, _trees
from prodml.features import FeaturePipeline, steps

from .conftest import legacy_state, records

lightgbm = pytest.importorskip("lightgbm", reason="the LightGBM case needs the 'lightgbm' extra")
shap = pytest.importorskip("shap", reason="the shap cross-check needs the 'bench' extra")

TOL = 1e-6  # the brief's bound; the figures measured are about 1e-15
WIDTH = 5
EDGE = float(np.float32(1e-35))  # kZeroThreshold as LightGBM compares it


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, WIDTH))
    X[rng.random(X.shape) < 0.25] = 0.0
    X[rng.random(X.shape) < 0.1] = np.nan
    y = (
        np.nan_to_num(X[:, 0])
        + 2 * np.nan_to_num(X[:, 1])
        + 1.5 * (X[:, 2] == 0)
        + np.isnan(X[:, 3])
    )
    test = rng.normal(size=(200, WIDTH))
    test[rng.random(test.shape) < 0.25] = 0.0
    test[rng.random(test.shape) < 0.15] = np.nan
    test[0] = 0.0
    test[1] = np.nan
    # Both edges of kZeroThreshold, one step outside it, below the double 1e-35, and -0.
    test[2] = [1e-36, -EDGE, EDGE, np.nextafter(EDGE, 1.0), -0.0]
    test[3] = [np.nextafter(-EDGE, -1.0), 1e-35, -1e-300, 0.0, np.nan]
    return X, y, test


def _model(**params: Any) -> Any:
    X, y, _ = _data()
    return lightgbm.LGBMRegressor(
        n_estimators=20, num_leaves=10, zero_as_missing=True, verbose=-1, random_state=0,
        **params,
    ).fit(X, y)  # fmt: skip


def _kernel(model: Any) -> _trees.TreeKernel:
    kernel = _trees.trees_from_model(model, None)
    assert kernel is not None
    kernel.bind(np.arange(WIDTH), WIDTH)
    return kernel


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    if "leaf_value" in node:
        return []
    return [node, *_nodes(node["left_child"]), *_nodes(node["right_child"])]


@pytest.mark.parametrize("jit", [False, True])
def test_zero_and_nan_take_the_default_side_and_equal_lightgbm_and_shap(jit: bool) -> None:
    if jit and _tree_jit.compiled() is None:
        pytest.skip("numba (the 'fast' extra) is not installed: no compiled kernel")
    model = _model()
    _, _, test = _data()
    types = {
        n["missing_type"]
        for t in model.booster_.dump_model()["tree_info"]
        for n in _nodes(t["tree_structure"])
    }
    assert types == {"Zero"}
    kernel = _kernel(model)
    assert kernel.zero_as_missing == [0, 1, 2, 3, 4]
    kernel.jit = jit
    phi, pred = kernel.attribute(test)
    raw = model.predict(test, raw_score=True)
    np.testing.assert_allclose(pred, raw, rtol=0, atol=1e-12)
    np.testing.assert_allclose(kernel.base + phi.sum(axis=1), raw, rtol=0, atol=1e-12)
    contrib = model.predict(test, pred_contrib=True)
    np.testing.assert_allclose(phi, contrib[:, :WIDTH], rtol=0, atol=TOL)
    np.testing.assert_allclose(contrib[:, WIDTH], kernel.base, rtol=0, atol=TOL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's own deprecation and casting warnings
        values = shap.TreeExplainer(model).shap_values(test, check_additivity=False)
    np.testing.assert_allclose(phi, values, rtol=0, atol=TOL)
    for i in range(8):
        record, out = kernel.attribute_one(test[i].copy())
        assert np.array(record).tobytes() == phi[i].tobytes()
        assert out == pred[i]


def test_zeros_are_not_read_as_numbers() -> None:
    """Without the zero route a 0 goes by its threshold: LightGBM's margin differs."""
    model = _model()
    _, _, test = _data()
    kernel = _kernel(model)
    _, pred = kernel.attribute(test)
    kernel.zero_as_missing, kernel._zero_cols = None, None  # the old reading
    _, as_numbers = kernel.attribute(test)
    raw = model.predict(test, raw_score=True)
    assert np.abs(as_numbers - raw).max() > 1e-3
    np.testing.assert_allclose(pred, raw, rtol=0, atol=1e-12)


def test_a_feature_split_both_ways_is_refused_naming_it() -> None:
    X, y, _ = _data()
    first = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1, random_state=0).fit(X, y)
    more = lightgbm.LGBMRegressor(
        n_estimators=5, zero_as_missing=True, verbose=-1, random_state=0
    ).fit(X, y, init_model=first.booster_)
    with pytest.raises(ConfigError, match=r"feature 0 \('Column_0'\) split both as zero-as-"):
        _trees.trees_from_model(more, None)


def _explainer() -> tuple[Explainer, pd.DataFrame, Any]:
    cols = [f"x{j}" for j in range(WIDTH)]
    X, y, test = _data()
    pipe = FeaturePipeline([steps.Impute(cols, strategy="median")]).fit(
        pd.DataFrame(np.nan_to_num(X), columns=cols)
    )
    model = lightgbm.LGBMRegressor(
        n_estimators=20, num_leaves=10, zero_as_missing=True, verbose=-1, random_state=0
    ).fit(pd.DataFrame(np.nan_to_num(X), columns=cols), y)
    frame = pd.DataFrame(np.nan_to_num(test), columns=cols)
    return Explainer(pipe, model).fit(), frame, model


def test_explainer_batch_record_and_saved_state() -> None:
    ex, frame, model = _explainer()
    batch = ex.explain_batch(frame)
    raw = model.predict(frame, raw_score=True)
    np.testing.assert_allclose(batch.prediction, raw, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch.base + batch.values.sum(axis=1), raw, rtol=0, atol=1e-12)
    contrib = model.predict(frame, pred_contrib=True)
    np.testing.assert_allclose(batch.values, contrib[:, :WIDTH], rtol=0, atol=TOL)
    for i, rec in enumerate(records(frame.iloc[:6])):
        assert list(ex.explain_record(rec).values.values()) == batch.values[i].tolist()
    state = json.loads(ex.to_json())
    assert state["format_version"] == 5
    assert state["kernel"]["zero_as_missing"] == [0, 1, 2, 3, 4]
    legacy = legacy_state(ex)  # as prodml wrote it before format 5
    assert legacy["format_version"] == 2
    assert legacy["kernel"]["zero_as_missing"] == [0, 1, 2, 3, 4]
    for saved in (state, legacy):
        again = Explainer.from_dict(saved).explain_batch(frame)
        assert again.values.tobytes() == batch.values.tobytes()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.update(format_version=1), r"'format_version' must be 2 with kernel\.zero"),
        (lambda s: s["kernel"].update(zero_as_missing=[1, 0]), "sorted list of distinct"),
        (lambda s: s["kernel"].update(zero_as_missing=[0, 0]), "sorted list of distinct"),
        (lambda s: s["kernel"].update(zero_as_missing=[WIDTH]), r"in \[0, 5\)"),
        (lambda s: s["kernel"].update(zero_as_missing=[True]), "distinct feature indices"),
        (lambda s: s["kernel"].update(zero_as_missing=[]), "non-empty"),
        (lambda s: s["kernel"].update(zero_as_missing="0"), "distinct feature indices"),
        (
            lambda s: s["kernel"]["trees"][2].pop("missing_left"),
            r"kernel\.trees\[2\]\.missing_left' must be present",
        ),
    ],
)
def test_hostile_zero_as_missing_state_is_refused(edit: Any, message: str) -> None:
    ex, _, _ = _explainer()
    state = legacy_state(ex)  # format 2
    edit(state)
    with pytest.raises(ConfigError, match=message):
        _state.load(state)


def test_tree_state_is_format_5_and_a_newer_one_is_refused() -> None:
    cols = [f"x{j}" for j in range(WIDTH)]
    X, y, _ = _data()
    df = pd.DataFrame(np.nan_to_num(X), columns=cols)
    pipe = FeaturePipeline([steps.StandardScale(cols)]).fit(df)
    model = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(pipe.transform(df), y)
    ex = Explainer(pipe, model).fit()
    state = json.loads(ex.to_json())
    assert state["format_version"] == 5
    assert "zero_as_missing" not in state["kernel"]
    assert legacy_state(ex)["format_version"] == 1  # without it, formats 1 to 4 wrote 1
    # A newer-format state is refused by the version check, naming what this prodml reads.
    state["format_version"] = 6
    with pytest.raises(ConfigError, match="one of 1, 2, 3, 4, 5"):
        _state.load(state)
