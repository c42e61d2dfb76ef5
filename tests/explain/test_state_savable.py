"""prodml never writes an explainer state that its own load would refuse.

The load bounds the trees' leaf-path tables (``_forest_state.PATH_CELLS_PER_NODE`` cells per node
past ``_forest_state.PATH_CELLS_FREE``); a fitted explainer past the bound (a tree without
``max_depth`` grown into a chain) saved a state that ``from_dict`` then refused. Saving
now refuses first, naming the bound and the fix; the fitted explainer keeps working and
keeps its fingerprint. The bounds are lowered here so that a small forest crosses them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor

from prodml.errors import ConfigError
from prodml.explain import Explainer, _forest_state
from prodml.features import FeaturePipeline, steps


@pytest.mark.parametrize("perturbation", ["tree_path_dependent", "interventional"])
def test_a_state_past_the_load_bound_is_refused_at_save(
    monkeypatch: pytest.MonkeyPatch, perturbation: str
) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    pipe = FeaturePipeline([steps.StandardScale(["a", "b"])]).fit(df)
    X = pipe.transform(df)
    model = RandomForestRegressor(n_estimators=4, max_depth=5, random_state=0)
    model.fit(X, X[:, 0] - X[:, 1] ** 2)
    ex = Explainer(pipe, model, background=df, feature_perturbation=perturbation).fit()
    saved = ex.to_dict()  # within the real bounds: saves and loads
    assert Explainer.from_dict(saved, model=model).fingerprint == ex.fingerprint
    fingerprint = ex.fingerprint

    monkeypatch.setattr(_forest_state, "PATH_CELLS_PER_NODE", 0)
    monkeypatch.setattr(_forest_state, "PATH_CELLS_FREE", 0)
    with pytest.raises(ConfigError, match="too deep for a saved state") as info:
        ex.to_json()
    assert "max_depth" in str(info.value)
    with pytest.raises(ConfigError, match=r"kernel\.trees"):  # what the load would have said
        Explainer.from_dict(saved, model=model)
    assert ex.fingerprint == fingerprint  # still the fitted state's
    assert ex.explain(df.head(3)).shape == (3, 2)  # and the explainer still works
