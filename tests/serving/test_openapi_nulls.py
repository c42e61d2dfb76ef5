"""/openapi.json says a column may be null exactly when the server takes a null there.

The record schema once marked every column of the pipeline's inferred schema nullable
(``Schema.infer(nullable="always")``), while a column whose first step cannot take a null
(StandardScale, OneHot, DateParts...) answers 422: a client generated from the document
sent nulls the server refused. The document now asks the pipeline
(``FeaturePipeline.accepts_missing``), and these tests post a null to every column and
compare the answer with what the document says (validated with jsonschema, as a fuzzer
or a client generator reads it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.ensemble import HistGradientBoostingRegressor
from starlette.testclient import TestClient

from prodml.errors import NotFittedError, SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.schema import Column, Schema
from prodml.serving import Predictor, create_app

from .conftest import SCHEMA, make_data, records
from .test_http_audit import document_validator


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


def _agreement(app: Any, record: dict[str, Any]) -> dict[str, tuple[bool, int]]:
    """Per column: (the document lets a null through, the server's status for that null)."""
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
        valid = document_validator(doc, "Record")
        assert valid.is_valid(record)
        assert client.post("/v1/predict", json=record).status_code == 200
        out = {}
        for name in record:
            sent = {**record, name: None}
            out[name] = (valid.is_valid(sent), client.post("/v1/predict", json=sent).status_code)
    return out


def test_the_served_schema_documents_nulls_the_pipeline_refuses_as_not_nullable(
    pipe: FeaturePipeline, lr: Any
) -> None:
    """Was: ``ts`` (DateParts) documented nullable, and a null there answered 422."""
    record = _jsonable(next(r for r in records(make_data(50)) if None not in r.values()))
    found = _agreement(create_app(Predictor(pipe, lr, schema=SCHEMA, name="churn")), record)
    # Impute comes first for the floats and strings; DateParts cannot take a null.
    assert found == {
        **dict.fromkeys(("f0", "f1", "f2", "s0", "s1"), (True, 200)),
        "ts": (False, 422),
    }


def test_a_column_the_schema_makes_non_nullable_stays_so(pipe: FeaturePipeline, lr: Any) -> None:
    strict = Schema([Column(c.name, c.dtype, nullable=c.name != "f0") for c in SCHEMA.columns])
    record = _jsonable(next(r for r in records(make_data(50)) if None not in r.values()))
    found = _agreement(create_app(Predictor(pipe, lr, schema=strict, name="churn")), record)
    assert found["f0"] == (False, 422)
    assert found["f1"] == (True, 200)


_CHAINS = {
    "impute+scale": lambda c: [steps.Impute([c], strategy="median"), steps.StandardScale([c])],
    "scale": lambda c: [steps.StandardScale([c])],
    "passthrough": lambda c: [steps.Passthrough([c])],
    "impute+passthrough": lambda c: [steps.Impute([c]), steps.Passthrough([c])],
    "clip+scale": lambda c: [steps.Clip([c], lower=-1.0, upper=1.0), steps.StandardScale([c])],
    "impute+onehot": lambda c: [steps.Impute([c], strategy="most_frequent"), steps.OneHot([c])],
    "onehot": lambda c: [steps.OneHot([c])],
    "ordinal": lambda c: [steps.Ordinal([c])],
    "none": lambda c: [],
}
_TEXT = {"impute+onehot", "onehot", "ordinal"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains=st.lists(st.sampled_from(sorted(_CHAINS)), min_size=1, max_size=4))
def test_the_document_and_the_server_agree_on_nulls_for_any_pipeline(chains: list[str]) -> None:
    """Random chains per column: accepts_missing, the document and the answer agree."""
    rng = np.random.default_rng(0)
    frame = {}
    chain: list[Any] = []
    for i, kind in enumerate(chains):
        name = f"c{i}"
        text = kind in _TEXT
        frame[name] = rng.choice(["a", "b", "c"], 20) if text else rng.normal(0, 1, 20)
        chain.extend(_CHAINS[kind](name))
    df = pd.DataFrame(frame)
    if not chain:  # a pipeline needs a step: one more column, read by one
        df["z"] = rng.normal(0, 1, 20)
        chain.append(steps.StandardScale(["z"]))
    pipe = FeaturePipeline(chain).fit(df)
    # A model that takes NaN (Passthrough hands nulls on): a 500 would be the model's.
    model = HistGradientBoostingRegressor(max_iter=2, min_samples_leaf=5)
    model.fit(pipe.transform(df), rng.normal(0, 1, 20))
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in df.iloc[0].items()}
    found = _agreement(create_app(Predictor(pipe, model, name="m")), record)
    for name, (documented, status) in found.items():
        takes = pipe.accepts_missing(name)
        if takes:
            pipe.transform_record({**record, name: None})  # a SchemaError fails the test
        else:
            with pytest.raises(SchemaError) as info:
                pipe.transform_record({**record, name: None})
            assert info.value.problems[0].kind == "null"
        assert documented == takes, (name, chains)
        assert status == (200 if takes else 422), (name, chains)


def test_accepts_missing_refuses_an_unfitted_pipeline_and_an_unknown_column(
    pipe: FeaturePipeline,
) -> None:
    with pytest.raises(NotFittedError):
        FeaturePipeline([steps.StandardScale(["x"])]).accepts_missing("x")
    with pytest.raises(SchemaError, match="not seen at fit") as info:
        pipe.accepts_missing("nope")
    assert info.value.problems[0].column == "nope"
