"""Explanations per raw input column: exact attributions, at serving speed.

:class:`Explainer` explains a fitted :class:`~prodml.features.FeaturePipeline` and the
model reading its output. Attributions are computed on the model's features and summed
back to the raw input column each feature is computed from (the pipeline's own
output-to-input map), so a one-hot column, a hashed column or a date's parts get one
number each. Linear models get closed-form interventional Shapley values w.r.t. a
background sample; tree ensembles (scikit-learn, LightGBM, XGBoost) get exact
path-dependent TreeSHAP, or exact interventional TreeSHAP w.r.t. a background sample
(``feature_perturbation="interventional"``); any other model a seeded sampling estimate
with its standard error (``method="sampling"``). Either way ``base + sum(values) ==
prediction`` to 1e-9, single records need no pandas and give the bits of their batch
row, and the fitted state is versioned JSON, stored next to its model with
:func:`register_explainer`.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from sklearn.ensemble import GradientBoostingClassifier
>>> from prodml.features import FeaturePipeline, steps
>>> from prodml.explain import Explainer
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"age": rng.uniform(18, 80, 400), "plan": rng.choice(["a", "b", "c"], 400)})
>>> y = ((df["age"] > 50) ^ (df["plan"] == "c")).astype(int)
>>> pipe = FeaturePipeline([steps.OneHot(["plan"])] + [steps.Impute(["age"])]).fit(df)
>>> model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(pipe.transform(df), y)
>>> ex = Explainer(pipe, model).fit()
>>> e = ex.explain_record({"age": 61.0, "plan": "c"})
>>> e.scale, list(e.values)
('margin', ['plan', 'age'])
>>> bool(abs(e.base + sum(e.values.values()) - e.prediction) < 1e-9)
True
"""

from __future__ import annotations

from prodml.explain._companion import load_explainer, register_explainer
from prodml.explain._explainer import SUPPORTED, Explainer
from prodml.explain._explanation import (
    Attributions,
    Explanation,
    importance_html,
    importance_markdown,
)

# Plain sorted() order, which tests/test_public_api.py checks (RUF022 would put constants first).
__all__ = [  # noqa: RUF022
    "Attributions",
    "Explainer",
    "Explanation",
    "SUPPORTED",
    "importance_html",
    "importance_markdown",
    "load_explainer",
    "register_explainer",
]
