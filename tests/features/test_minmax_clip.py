"""``MinMaxScale(clip=True)``, and step parameters added without changing saved pipelines.

``data/pipeline_saved_before_clip.json`` was written by main at 46c8dd2, before
``clip`` existed: it must keep loading with the same fingerprint and outputs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.preprocessing import MinMaxScaler

from prodml.errors import ConfigError, SchemaError, StateError
from prodml.features import FeaturePipeline, steps

SAVED = Path(__file__).parent / "data" / "pipeline_saved_before_clip.json"
SAVED_FINGERPRINT = "57b7cfc529b741286b4b0276bc167a39fa577750fc1a5c2dcbd2850f450b8d02"
SAVED_OUT = [
    [-0.1111111111111111, -2.333333333333333, 1.0, 0.0, 0.0],
    [0.4444444444444444, -0.23809523809523814, 0.0, 1.0, 0.0],
    [2.111111111111111, 1.2857142857142856, 0.0, 0.0, 1.0],
]
PROBE = pd.DataFrame({"x": [0.0, 5.0, 20.0], "y": [-10.0, 1.0, 9.0], "c": ["a", "b", "c"]})


def _bits(a: Any) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float64).tobytes()


def _sklearn(fit: np.ndarray, values: np.ndarray, feature_range: tuple[float, float]) -> Any:
    ref = MinMaxScaler(feature_range=feature_range, clip=True).fit(fit[:, None])
    with np.errstate(all="ignore"):  # scikit-learn's own overflow warning on far values
        return ref.transform(values[:, None])[:, 0]


# -- saved pipelines keep their fingerprint ------------------------------------------------


def test_pipeline_saved_before_clip_loads_with_its_fingerprint_and_outputs() -> None:
    text = SAVED.read_text().strip()
    pipe = FeaturePipeline.from_json(text)
    assert pipe.fingerprint == SAVED_FINGERPRINT
    assert pipe.to_json() == text
    assert [s.clip for s in pipe.steps[:2]] == [False, False]
    assert pipe.transform(PROBE).tolist() == SAVED_OUT


def test_clip_false_is_left_out_and_clip_true_changes_the_fingerprint() -> None:
    df = pd.DataFrame({"x": [1.0, 3.0, 7.0]})
    plain = FeaturePipeline([steps.MinMaxScale(["x"])]).fit(df)
    explicit = FeaturePipeline([steps.MinMaxScale(["x"], clip=False)]).fit(df)
    clipped = FeaturePipeline([steps.MinMaxScale(["x"], clip=True)]).fit(df)
    assert "clip" not in plain.to_dict()["steps"][0]["params"]
    assert explicit.fingerprint == plain.fingerprint
    assert clipped.to_dict()["steps"][0]["params"]["clip"] is True
    assert clipped.fingerprint != plain.fingerprint
    back = FeaturePipeline.from_json(clipped.to_json())
    assert back.steps[0].clip is True
    assert back.fingerprint == clipped.fingerprint
    assert back.transform_record({"x": 100.0}).tolist() == [1.0]
    # get_params (scikit-learn's clone, GridSearchCV) still has every parameter.
    assert plain.steps[0].get_params()["clip"] is False


def test_saved_params_keeps_a_non_default_value_of_another_type() -> None:
    # 0 == False, but it is not the default: it is written (and refused on load).
    step = steps.MinMaxScale(["x"], clip=0)  # type: ignore[arg-type]
    assert step.saved_params()["clip"] == 0


@pytest.mark.parametrize("bad", ["yes", 1, 0, None, [True], {"a": 1}, 1.5])
def test_a_saved_clip_of_the_wrong_type_is_a_state_error_naming_the_field(bad: Any) -> None:
    df = pd.DataFrame({"x": [1.0, 3.0, 7.0]})
    d = FeaturePipeline([steps.MinMaxScale(["x"], clip=True)]).fit(df).to_dict()
    d["steps"][0]["params"]["clip"] = bad
    with pytest.raises(StateError, match=r"steps\[0\]\.params\.clip") as info:
        FeaturePipeline.from_dict(json.loads(json.dumps(d)))
    assert isinstance(info.value, ConfigError)


def test_a_new_clip_is_refused_at_fit_naming_the_parameter() -> None:
    pipe = FeaturePipeline([steps.MinMaxScale(["x"], clip="yes")])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'clip' parameter of MinMaxScale must be a bool"):
        pipe.fit(pd.DataFrame({"x": [1.0, 2.0]}))


# -- clip matches scikit-learn, batch and record -------------------------------------------

FAR = np.array([1e308, -1e308, 1.7e308, -1.7e308, 1e300, -1e300, 1e20, -1e20, 5e-324, 0.0])


@pytest.mark.parametrize("feature_range", [(0.0, 1.0), (-1.0, 3.0), (-1e300, 1e300), (2.5, 2.75)])
@pytest.mark.parametrize("arrow", [False, True])
def test_clip_matches_sklearn_bit_for_bit(feature_range: tuple[float, float], arrow: bool) -> None:
    rng = np.random.default_rng(7)
    fit = rng.exponential(3.0, 2001) - 1.0
    values = np.concatenate([rng.normal(2.0, 4.0, 2001), fit, FAR])
    pipe = FeaturePipeline([steps.MinMaxScale(["y"], feature_range=feature_range, clip=True)])
    pipe.fit(pd.DataFrame({"y": fit}))
    data: Any = pd.DataFrame({"y": values})
    X = pipe.transform(pa.Table.from_pandas(data) if arrow else data)[:, 0]
    ref = _sklearn(fit, values, feature_range)
    assert _bits(X) == _bits(ref)
    assert X.min() >= feature_range[0]
    assert X.max() <= feature_range[1]
    for v in [*values[:50], *FAR]:
        assert _bits(pipe.transform_record({"y": float(v)})) == _bits(
            pipe.transform(pd.DataFrame({"y": [v]}))[0]
        )
    # Far values sit exactly on the bounds, in both paths.
    assert X[-10:-8].tolist() == [feature_range[1], feature_range[0]]


def test_an_overflow_clips_where_clip_false_refuses() -> None:
    fit = pd.DataFrame({"y": [0.0, 1.0]})
    wide = (-1e300, 1e300)  # scale 2e300: 1e10 scales beyond float64
    refusing = FeaturePipeline([steps.MinMaxScale(["y"], feature_range=wide)]).fit(fit)
    clipping = FeaturePipeline([steps.MinMaxScale(["y"], feature_range=wide, clip=True)]).fit(fit)
    far = pd.DataFrame({"y": [1e10, -1e10, 0.5]})
    with pytest.raises(SchemaError, match="MinMaxScale turns a value"):
        refusing.transform(far)
    with pytest.raises(SchemaError, match="MinMaxScale turns a value"):
        refusing.transform_record({"y": 1e10})
    X = clipping.transform(far)[:, 0]
    assert X.tolist() == [1e300, -1e300, 0.0]
    assert _bits(X) == _bits(_sklearn(fit["y"].to_numpy(), far["y"].to_numpy(), wide))
    assert clipping.transform_record({"y": 1e10}).tolist() == [1e300]
    assert clipping.transform_record({"y": -1e10}).tolist() == [-1e300]


def test_a_shift_beyond_float64_still_scales_and_clips() -> None:
    # min * scale overflows (data near 1e308 with a range of 1e299 onto a 2e300 range):
    # scikit-learn's min_ is -inf here; prodml subtracts the minimum first.
    lo, hi = 1e308, 1e308 + 1e299
    pipe = FeaturePipeline([steps.MinMaxScale(["y"], feature_range=(-1e300, 1e300), clip=True)])
    pipe.fit(pd.DataFrame({"y": [lo, hi]}))
    assert not math.isfinite(pipe.steps[0].data_min_["y"] * pipe.steps[0].scale_["y"])
    values = [lo, hi, -1.7e308, 1.7e308, lo + 5e298]
    X = pipe.transform(pd.DataFrame({"y": values}))[:, 0]
    assert X[:4].tolist() == [-1e300, 1e300, -1e300, 1e300]
    assert abs(X[4]) < 1e297  # the middle maps near 0 (float64 spacing near 1e308: 2e292)
    for v, x in zip(values, X, strict=True):
        assert _bits(pipe.transform_record({"y": v})) == _bits(x)


def test_a_null_is_refused_with_or_without_clip() -> None:
    fit = pd.DataFrame({"y": [0.0, 1.0]})
    for clip in (False, True):
        pipe = FeaturePipeline([steps.MinMaxScale(["y"], clip=clip)]).fit(fit)
        with pytest.raises(SchemaError) as batch:
            pipe.transform(pd.DataFrame({"y": [0.5, None]}))
        with pytest.raises(SchemaError) as record:
            pipe.transform_record({"y": None})
        assert [p.kind for p in batch.value.problems] == ["null"]
        assert [p.kind for p in record.value.problems] == ["null"]


def test_impute_then_clip_keeps_a_filled_value_in_range() -> None:
    fit = pd.DataFrame({"y": [0.0, 1.0, 2.0]})
    pipe = FeaturePipeline(
        [
            steps.Impute(["y"], strategy="constant", fill_value=50.0),
            steps.MinMaxScale(["y"], clip=True),
        ]
    ).fit(fit)
    assert pipe.transform(pd.DataFrame({"y": [None, -5.0]}))[:, 0].tolist() == [1.0, 0.0]
    assert pipe.transform_record({"y": None}).tolist() == [1.0]


finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    st.lists(finite, min_size=1, max_size=8),
    st.lists(finite, min_size=1, max_size=8),
    st.sampled_from([(0.0, 1.0), (-1.0, 2.0), (-0.0, 1.0), (-1.0, 0.0), (-1e300, 1e300)]),
)
def test_record_equals_one_row_batch_bit_for_bit(
    fit: list[float], values: list[float], feature_range: tuple[float, float]
) -> None:
    pipe = FeaturePipeline([steps.MinMaxScale(["y"], feature_range=feature_range, clip=True)])
    refused: list[str] | None = None
    try:
        pipe.fit(pd.DataFrame({"y": fit}))
    except SchemaError as err:  # a range beyond float64 or a scale outside it: tested elsewhere
        refused = [p.kind for p in err.problems]
    if refused is not None:
        assert refused == ["range"]
        return
    X = pipe.transform(pd.DataFrame({"y": values}))[:, 0]
    low, high = feature_range
    assert X.min() >= low
    assert X.max() <= high
    for v, x in zip(values, X, strict=True):
        assert _bits(pipe.transform_record({"y": v})) == _bits(x)
        assert _bits(pipe.steps[0].record_fn("y", "number")(v)) == _bits(x)
