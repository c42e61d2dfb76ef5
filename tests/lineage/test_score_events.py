"""Batch scoring emits an OpenLineage run (START, then COMPLETE or FAIL) that validates."""

from __future__ import annotations

import uuid
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from prodml.errors import SchemaError
from prodml.features import FeaturePipeline, steps
from prodml.fingerprint import fingerprint_file
from prodml.lineage import InMemoryLineageSink, JsonLinesSink
from prodml.registry import ModelRegistry
from prodml.schema import Column, Schema
from prodml.serving import Predictor, score

from ._schema import run_event_schema

pytest.importorskip("openlineage.client", reason="needs the 'lineage' extra")
pytest.importorskip("starlette", reason="needs the 'serve' extra")


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = run_event_schema()
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[ModelRegistry, InMemoryLineageSink, Path]:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=200), "id": np.arange(200)})
    pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(df[["x"]])
    model = LogisticRegression().fit(pipe.transform(df[["x"]]), (df.x > 0).astype(int))
    sink = InMemoryLineageSink()
    reg = ModelRegistry.local(tmp_path / "reg")
    reg.lineage_sink = sink
    reg.register("churn", (pipe, model), signature=Schema([Column("x", "float")]))
    reg.set_alias("churn", "production", 1)
    (tmp_path / "in").mkdir()
    df.iloc[:120].to_parquet(tmp_path / "in" / "a.parquet")
    df.iloc[120:].to_parquet(tmp_path / "in" / "b.parquet")
    return reg, sink, tmp_path


def test_score_run_links_model_inputs_and_output(setup, validator) -> None:
    reg, registry_sink, tmp = setup
    sink = JsonLinesSink(tmp / "lineage.jsonl")
    pred = Predictor.from_registry(reg, "churn@production", watch_every_s=None)
    report = score(pred, tmp / "in", tmp / "out", chunk_rows=50, keep_columns=["id"],
                   lineage_sink=sink, lineage_namespace="batch")  # fmt: skip
    reg.close()
    start, done = sink.read()
    for event in (start, done):
        validator.validate(event)
        assert event["job"] == {"namespace": "batch", "name": "churn.score", "facets": {}}
    assert (start["eventType"], done["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == done["run"]["runId"]
    uuid.UUID(start["run"]["runId"])
    # The model input is the dataset the registry's register event output: same lineage graph.
    registered = registry_sink.events[0]["outputs"][0]
    model = done["inputs"][0]
    assert (model["namespace"], model["name"]) == (registered["namespace"], "models/churn/1")
    assert model["facets"]["prodml"]["fingerprint"] == pred.variants["default"].fingerprint
    files = sorted((tmp / "in").glob("*.parquet"))
    assert [(d["namespace"], d["name"]) for d in done["inputs"][1:]] == [
        ("file", str(f.resolve())) for f in files
    ]
    assert [d["facets"]["prodml"]["sha256"] for d in done["inputs"][1:]] == [
        fingerprint_file(f) for f in files
    ]
    assert [(d["namespace"], d["name"]) for d in done["outputs"]] == [
        ("file", str((tmp / "out").resolve()))
    ]
    facet = done["run"]["facets"]["prodml"]
    assert (facet["rows"], facet["parts_written"], facet["parts_skipped"]) == (
        200,
        5,
        0,
    )  # 120 + 80 rows in chunks of 50
    assert facet["input_fingerprint"] == report.input_fingerprint


def test_a_failed_run_emits_fail_without_the_message(setup, validator) -> None:
    reg, _, tmp = setup
    pd.DataFrame({"x": ["ann@example.com"] * 3, "id": [1, 2, 3]}).to_parquet(tmp / "bad.parquet")
    sink = InMemoryLineageSink()
    pred = Predictor.from_registry(reg, "churn@production", watch_every_s=None)
    with pytest.raises(SchemaError):
        score(pred, tmp / "bad.parquet", tmp / "out2", lineage_sink=sink)
    reg.close()
    assert [e["eventType"] for e in sink.events] == ["START", "FAIL"]
    for event in sink.events:
        validator.validate(event)
    assert sink.events[1]["run"]["facets"]["prodml_error"]["error"] == "SchemaError"
    assert "ann@example.com" not in str(sink.events)


def test_without_a_sink_nothing_is_emitted_and_a_plain_predictor_has_a_namespace(
    setup, validator
) -> None:
    reg, _, tmp = setup
    pred = Predictor.from_registry(reg, "churn@production", watch_every_s=None)
    score(pred, tmp / "in", tmp / "out3")  # no sink: the default, no events anywhere
    mv = reg.get("churn@production")
    plain = Predictor(*reg.load("churn@production"), name="churn", version=mv.version)
    sink = InMemoryLineageSink()
    score(plain, tmp / "in", tmp / "out4", lineage_sink=sink)
    reg.close()
    model = sink.events[-1]["inputs"][0]
    assert (model["namespace"], model["name"]) == ("prodml.models", "models/churn/1")
    validator.validate(sink.events[-1])
