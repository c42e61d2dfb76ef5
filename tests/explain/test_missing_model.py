"""A missing model (None) or a value that is no model, where an explainer takes a model.

``Explainer(pipeline, None).fit()`` used to say "no exact explainer for NoneType", and a
loaded sampling explainer's ``set_model(None)`` that "the sampling explainer needs a model
with predict_proba or predict": neither said the model was missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsRegressor

from prodml.errors import ConfigError
from prodml.explain import Explainer
from prodml.features import FeaturePipeline, steps


def _fitted() -> tuple[pd.DataFrame, FeaturePipeline, KNeighborsRegressor]:
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    pipe = FeaturePipeline([steps.StandardScale(["a", "b"])]).fit(df)
    model = KNeighborsRegressor(n_neighbors=3).fit(pipe.transform(df), df["a"] - df["b"])
    return df, pipe, model


@pytest.mark.parametrize("method", ["auto", "linear", "tree", "sampling"])
def test_fit_without_a_model_says_it_is_missing_whatever_the_method(method: str) -> None:
    df, pipe, _ = _fitted()
    with pytest.raises(ConfigError, match=r"'model' parameter of Explainer is missing \(None\)"):
        Explainer(pipe, background=df, method=method).fit()
    with pytest.raises(ConfigError, match=r"Got pathlib\.\w*Path 'models/churn\.pkl' \(a name"):
        Explainer(pipe, Path("models/churn.pkl"), background=df, method=method).fit()


def test_set_model_on_a_loaded_sampling_explainer_says_what_is_wrong() -> None:
    df, pipe, model = _fitted()
    ex = Explainer(pipe, model, background=df, method="sampling", n_permutations=4).fit()
    unbound = Explainer.from_json(ex.to_json())
    with pytest.raises(ConfigError, match=r"is missing \(None\)"):
        unbound.set_model(None)
    with pytest.raises(ConfigError, match=r"Got numpy\.ndarray, which is not a model") as info:
        unbound.set_model(np.array([[0.123456789]]))
    assert "0.123456789" not in str(info.value)  # an array passed by mistake is not shown
    rec = {"a": 0.5, "b": -0.25}
    assert unbound.set_model(model).explain_record(rec).values == ex.explain_record(rec).values
