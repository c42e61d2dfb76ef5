"""Registry actions emit OpenLineage events that validate against the spec's schema."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import jsonschema
import pytest

from prodml.errors import ConfigError, StateError
from prodml.lineage import InMemoryLineageSink, JsonLinesSink, LineageSink, emit, run_event
from prodml.registry import ModelRegistry
from prodml.schema import Column, Schema

from ._schema import run_event_schema

pytest.importorskip("openlineage.client", reason="needs the 'lineage' extra")

SCHEMA = Schema([Column("x", "float")])


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = run_event_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture
def events(tmp_path: Path) -> list[dict]:
    sink = JsonLinesSink(tmp_path / "lineage" / "events.jsonl")
    reg = ModelRegistry.local(tmp_path / "reg", actor="ann")
    reg.lineage_sink = sink
    reg.lineage_namespace = "growth"
    try:
        reg.register(
            "churn",
            SCHEMA,
            lineage={
                "data_fingerprint": "d" * 64,
                "feature_views": {"customer_stats": "f" * 64},
                "code_version": "abc123",
            },
        )
        reg.register("churn", SCHEMA, lineage={"parent_version": 1})
        reg.set_alias("churn", "production", 1)
        reg.set_alias("churn", "production", 2)
        reg.rollback("churn", "production")
        reg.delete_alias("churn", "production")
    finally:
        reg.close()
    return sink.read()


def test_every_action_emits_one_valid_event(events: list[dict], validator) -> None:
    assert [e["job"]["name"] for e in events] == [
        "churn.register",
        "churn.register",
        "churn.set_alias",
        "churn.set_alias",
        "churn.rollback",
        "churn.delete_alias",
    ]
    for event in events:
        validator.validate(event)
        assert event["job"]["namespace"] == "growth"
        assert event["eventType"] == "COMPLETE"
        uuid.UUID(event["run"]["runId"])
    assert len({e["run"]["runId"] for e in events}) == len(events)


def test_register_links_data_views_and_parent(events: list[dict]) -> None:
    first, second = events[0], events[1]
    assert [(d["namespace"], d["name"]) for d in first["inputs"]] == [
        ("prodml.fingerprint", "d" * 64),
        ("prodml.store", "customer_stats"),
    ]
    assert first["inputs"][1]["facets"]["prodml"]["fingerprint"] == "f" * 64
    (out,) = first["outputs"]
    assert out["name"] == "models/churn/1"
    assert out["namespace"].startswith("file://")
    assert out["facets"]["prodml"]["flavour"] == "prodml"
    assert first["run"]["facets"]["prodml"]["actor"] == "ann"
    assert first["run"]["facets"]["prodml"]["code_version"] == "abc123"
    assert [d["name"] for d in second["inputs"]] == ["models/churn/1"]
    promote, replace, rollback, delete = events[2:]
    assert [d["name"] for d in promote["inputs"]] == ["models/churn/1"]
    assert [d["name"] for d in replace["inputs"]] == ["models/churn/2"]
    assert [d["name"] for d in rollback["inputs"]] == ["models/churn/1"]
    assert delete["inputs"] == []
    assert {d["name"] for e in events[2:] for d in e["outputs"]} == {"models/churn@production"}


def test_register_event_masks_credentials_in_tags_and_code_version(tmp_path: Path) -> None:
    """The sink is another system: a tag named like a credential, a URL's password and
    an AWS key id in a tag or the code version are masked; the registry keeps them."""
    sink = InMemoryLineageSink()
    with ModelRegistry.local(tmp_path / "reg") as reg:
        reg.lineage_sink = sink
        mv = reg.register(
            "churn",
            SCHEMA,
            tags={
                "api_token": "t0k3n-value",
                "source": "s3://AKIAABCDEFGHIJKLMNOP:s3cr3t@bucket/data",
                "team": "risk",
                "key_id": "k1",
            },
            lineage={"code_version": "https://ci:gh-pat-123@git.example/r.git@abc123"},
        )
    (event,) = sink.events
    text = json.dumps(event)
    for secret in ("t0k3n-value", "s3cr3t", "AKIAABCDEFGHIJKLMNOP", "gh-pat-123"):
        assert secret not in text
    tags = event["outputs"][0]["facets"]["prodml"]["tags"]
    assert tags["api_token"] == "***"  # noqa: S105 - the mask, not a password
    assert tags["team"] == "risk"
    assert tags["key_id"] == "k1"  # an identifier, not a credential
    assert tags["source"] == "s3://***:***@bucket/data"
    code = event["run"]["facets"]["prodml"]["code_version"]
    assert code == "https://ci:***@git.example/r.git@abc123"
    assert mv.tags["api_token"] == "t0k3n-value"  # noqa: S105 - masked on the way out only


def test_the_schema_rejects_what_the_spec_rejects(events: list[dict], validator) -> None:
    bad = copy.deepcopy(events[0])
    bad["run"]["runId"] = "not-a-uuid"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad)
    for path in (("job", "name"), ("run", "runId"), ("producer",)):
        broken = copy.deepcopy(events[0])
        target = broken
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(broken)
    wrong = copy.deepcopy(events[0])
    wrong["eventType"] = "DONE"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(wrong)
    facetless = copy.deepcopy(events[0])
    del facetless["run"]["facets"]["prodml"]["_producer"]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(facetless)


def test_openlineage_client_backend_round_trips(events: list[dict], validator) -> None:
    from openlineage.client.serde import Serde

    from prodml.integrations.openlineage import OpenLineageSink, to_openlineage

    sent: list = []
    sink = OpenLineageSink(emit=sent.append)
    assert isinstance(sink, LineageSink)
    for event in events:
        sink.emit(event)
    for ours, theirs in zip(events, sent, strict=True):
        back = Serde.to_dict(theirs)
        validator.validate(back)
        assert back["run"]["runId"] == ours["run"]["runId"]
        assert back["job"] == {k: v for k, v in ours["job"].items() if k != "facets"} | {
            "facets": {}
        }
        assert [d["name"] for d in back["outputs"]] == [d["name"] for d in ours["outputs"]]
        assert (
            back["run"]["facets"]["prodml"]["action"] == ours["run"]["facets"]["prodml"]["action"]
        )
    with pytest.raises(ConfigError, match="RunEvent"):
        to_openlineage({"eventType": "COMPLETE"})


def test_a_failing_sink_never_fails_the_action(tmp_path: Path, caplog) -> None:
    class Broken:
        def emit(self, event: dict) -> None:
            raise OSError("disk full")

    reg = ModelRegistry.local(tmp_path / "reg")
    reg.lineage_sink = Broken()
    try:
        assert reg.register("m", SCHEMA).version == 1
        assert reg.set_alias("m", "production", 1).version == 1
    finally:
        reg.close()
    assert "lineage sink" in caplog.text
    assert emit(None, {}) is False


def test_run_event_checks_its_input() -> None:
    mem = InMemoryLineageSink()
    emit(mem, run_event("START", job="j"))
    assert mem.events[0]["eventType"] == "START"
    with pytest.raises(ConfigError, match="event type"):
        run_event("DONE", job="j")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="name"):
        run_event("START", job="")


def test_store_materialize_emits_one_event_per_view(tmp_path: Path, validator) -> None:
    from datetime import datetime, timedelta, timezone

    import pyarrow as pa

    pytest.importorskip("duckdb", reason="needs the 'store' extra")
    from prodml.store import Entity, FeatureStore, FeatureView

    end = datetime(2024, 2, 1, tzinfo=timezone.utc)
    rows = pa.table(
        {
            "user_id": [1, 2, 1],
            "event_at": pa.array(
                [end - timedelta(days=d) for d in (3, 2, 1)], pa.timestamp("us", tz="UTC")
            ),
            "x": [0.5, 1.5, 2.5],
        }
    )
    store = FeatureStore.local(tmp_path / "store")
    source = store.offline_store.write_source("txn", rows, timestamp="event_at")
    user = Entity("user", keys=["user_id"])
    view = FeatureView("txn", entity=user, source=source, features=["x"], ttl=timedelta(days=30))
    store.apply([user, view])
    sink = InMemoryLineageSink()
    store.lineage_sink = sink
    (run,) = store.materialize(end)
    (event,) = sink.events
    validator.validate(event)
    assert event["job"]["name"] == "txn.materialize"
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
        ("prodml.store.offline", "txn")
    ]
    assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
        ("prodml.store.online", "txn")
    ]
    assert event["outputs"][0]["facets"]["prodml"]["fingerprint"] == store.view("txn").fingerprint
    assert event["run"]["facets"]["prodml"]["written"] == run.written == 2


def test_a_json_lines_file_that_is_not_events_is_named_and_an_unusable_path_is_a_config_error(
    tmp_path: Path,
) -> None:
    sink = JsonLinesSink(tmp_path / "events.jsonl")
    sink.emit(run_event("START", job="churn.register"))
    with sink.path.open("a", encoding="utf-8") as f:
        f.write('{"eventType": "COMPL')  # a crash mid-line, then the next emit appends to it
    sink.emit(run_event("COMPLETE", job="churn.register"))
    with pytest.raises(StateError, match=r"line 2 of the lineage file '.*events\.jsonl'"):
        sink.read()
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    with pytest.raises(StateError, match=r"line 1 .* is not a JSON object"):
        JsonLinesSink(tmp_path / "list.jsonl").read()
    blocker = tmp_path / "blocker"
    blocker.write_text("keep")
    with pytest.raises(ConfigError, match=r"lineage file's folder '.*blocker'"):
        JsonLinesSink(blocker / "events.jsonl").emit(run_event("START", job="j"))
    assert emit(JsonLinesSink(blocker / "events.jsonl"), run_event("START", job="j")) is False
    assert blocker.read_text() == "keep"
