"""RobustScale refuses data whose outliers its range would scale beyond float64.

Found by hypothesis: an interquartile range of 1.8e-294 beside a value of -8.2e13 gave
-inf features (and a RuntimeWarning) instead of an error naming the column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import RobustScaler

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps


def test_an_outlier_beyond_float64_once_scaled_is_refused_at_fit() -> None:
    # An interquartile range of 2.5e-11 (not below 10 * eps) beside -8.2e300.
    df = pd.DataFrame({"f": [-8.2e300, 0.0, 0.0, 1e-10, 0.0, 0.0, 1e-10, 0.0]})
    with pytest.raises(SchemaError) as info:
        FeaturePipeline([steps.RobustScale(["f"])]).fit(df)
    (problem,) = info.value.problems
    assert (problem.column, problem.kind) == ("f", "range")
    assert "interquartile range" in problem.message
    assert "Clip" in problem.message


def test_ordinary_outliers_still_scale_as_scikit_learn_does() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=200), [1e12, -1e15]])
    df = pd.DataFrame({"f": x})
    got = FeaturePipeline([steps.RobustScale(["f"])]).fit(df).transform(df)[:, 0]
    want = RobustScaler().fit_transform(x.reshape(-1, 1))[:, 0]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_the_range_hypothesis_found_is_now_below_10_eps_and_scales_by_1() -> None:
    # The original case: its range of 1.8e-294 is a near-constant column for
    # scikit-learn (below 10 * eps), so both scale by 1 and the outlier stays finite.
    x = np.array([-8.2e15, 0.0, 0.0, -1.8e-294, 0.0, 0.0, -1.8e-294, 0.0])
    df = pd.DataFrame({"f": x})
    pipe = FeaturePipeline([steps.RobustScale(["f"])]).fit(df)
    assert pipe.steps[0].scale_ == {"f": 1.0}
    want = RobustScaler().fit_transform(x.reshape(-1, 1))[:, 0]
    assert pipe.transform(df)[:, 0].tolist() == want.tolist()
