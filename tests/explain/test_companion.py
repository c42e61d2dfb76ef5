"""The explainer stored next to its model in the registry, loaded in a serving process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.neighbors import KNeighborsClassifier

from prodml.errors import ConfigError, IntegrityError, NotFoundError, ProdMLError
from prodml.explain import Explainer, load_explainer, register_explainer
from prodml.features import FeaturePipeline
from prodml.registry import ModelRegistry
from prodml.serving import Predictor

from .conftest import churn_frame, churn_pipeline, records

TRUST = ["sklearn.tree._tree.Tree"]  # what skops does not trust by default in a GB model


def test_register_and_load_next_to_the_model(
    tmp_path: Path, churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline]
) -> None:
    df, y, pipe = churn
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(pipe.transform(df), y)
    reg = ModelRegistry.local(tmp_path / "reg")
    try:
        reg.register("churn", (pipe, model))
        reg.set_alias("churn", "production", 1)
        ex = Explainer(pipe, model).fit()
        with pytest.raises(ProdMLError, match="trusted"):
            register_explainer(reg, "churn@production", ex)  # comparing pipelines loads the pair
        companion = register_explainer(reg, "churn@production", ex, trusted=TRUST)
        assert companion.name == "churn.explainer"
        assert companion.tags["explains"] == "churn@1"
        assert companion.tags["explainer_fingerprint"] == ex.fingerprint
        assert companion.flavour == "prodml"  # JSON, no pickle
        loaded = load_explainer(reg, "churn@production")
        assert loaded.fingerprint == ex.fingerprint
        rec = records(df)[5]
        assert loaded.explain_record(rec) == ex.explain_record(rec)
        # The serving process: a Predictor explains with the loaded explainer.
        predictor = Predictor.from_registry(
            reg, "churn@production", explainer=loaded, trusted=TRUST
        )
        pred = predictor.predict_record(rec, explain=True)
        assert pred.explanation == ex.explain_record(rec)
        assert pred.to_dict()["explanation"] == ex.explain_record(rec).to_dict()
        assert pred.value == pytest.approx(model.predict_proba(pipe.transform(df.iloc[5:6]))[0, 1])
        # A second model version has no explainer yet.
        reg.register("churn", (pipe, model))
        with pytest.raises(NotFoundError, match="no explainer is registered for churn@2"):
            load_explainer(reg, "churn@2")
        # An explainer of another pipeline is refused.
        other = churn_pipeline().fit(churn_frame(300, seed=9))
        model2 = GradientBoostingClassifier(n_estimators=5).fit(other.transform(df), y)
        with pytest.raises(ConfigError, match="not the pipeline of churn@2"):
            register_explainer(reg, "churn@2", Explainer(other, model2).fit(), trusted=TRUST)
    finally:
        reg.close()


def test_sampling_explainer_gets_its_model_from_the_registry(
    tmp_path: Path, churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline]
) -> None:
    df, y, pipe = churn
    model = KNeighborsClassifier().fit(pipe.transform(df), y)
    reg = ModelRegistry.local(tmp_path / "reg")
    try:
        reg.register("knn", (pipe, model))
        ex = Explainer(pipe, model, background=df, method="sampling", n_permutations=4).fit()
        register_explainer(reg, "knn@1", ex)
        loaded = load_explainer(reg, "knn@1")
        rec = records(df)[2]
        assert loaded.explain_record(rec).values == ex.explain_record(rec).values
    finally:
        reg.close()


def test_tampered_fingerprint_is_an_integrity_error(
    tmp_path: Path, churn: tuple[pd.DataFrame, np.ndarray, FeaturePipeline]
) -> None:
    df, y, pipe = churn
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(pipe.transform(df), y)
    reg = ModelRegistry.local(tmp_path / "reg")
    try:
        reg.register("churn", (pipe, model))
        ex = Explainer(pipe, model).fit()
        # A companion registered by hand with a wrong fingerprint tag.
        reg.register(
            "churn.explainer",
            ex,
            tags={"explains": "churn@1", "explainer_fingerprint": "0" * 64},
        )
        with pytest.raises(IntegrityError, match="registered fingerprint"):
            load_explainer(reg, "churn@1")
    finally:
        reg.close()
