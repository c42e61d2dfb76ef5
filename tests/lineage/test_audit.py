"""An independent audit of the OpenLineage events prodml emits and reads back.

Every event of :mod:`prodml.lineage` and :mod:`prodml.integrations.openlineage` must
validate against the RunEvent schema (with the formats the spec names checked: ``uuid``,
``date-time`` and ``uri``), carry a UUID version 7 run id (what the OpenLineage clients
make: ids that sort by time), facets with their ``_producer`` and ``_schemaURL``, an
event time in UTC, and no credential or user name; a lineage file edited into something
``emit`` never writes is refused when read back.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from prodml.errors import ConfigError, StateError
from prodml.lineage import (
    PRODUCER,
    InMemoryLineageSink,
    JobRun,
    JsonLinesSink,
    dataset,
    facet,
    run_event,
)
from prodml.registry import ModelRegistry
from prodml.registry.backends.artifacts import LocalArtifactStore
from prodml.schema import Column, Schema

from ._schema import run_event_schema

pytest.importorskip("openlineage.client", reason="needs the 'lineage' extra")

SCHEMA = Schema([Column("x", "float")])


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme in ("urn", "file"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = run_event_schema()
    cls = jsonschema.validators.validator_for(schema)
    formats = jsonschema.FormatChecker()
    formats.checks("uri")(_is_uri)  # jsonschema checks uri only with rfc3987 installed
    return cls(schema, format_checker=formats)


def _facets(event: dict[str, Any]) -> list[dict[str, Any]]:
    found = [*event["run"]["facets"].values(), *event["job"]["facets"].values()]
    for d in [*event["inputs"], *event["outputs"]]:
        found += d.get("facets", {}).values()
    return found


def audit(event: dict[str, Any], validator: jsonschema.protocols.Validator) -> None:
    """What every event prodml emits must satisfy."""
    validator.validate(event)
    assert uuid.UUID(event["run"]["runId"]).version == 7
    at = datetime.fromisoformat(event["eventTime"])
    assert at.utcoffset() == timedelta(0)
    for f in _facets(event):
        assert f["_producer"] == PRODUCER
        assert _is_uri(f["_schemaURL"])
        assert f["_schemaURL"].startswith("https://")
    for d in [*event["inputs"], *event["outputs"]]:
        assert "@" not in urlsplit(d["namespace"]).netloc, d["namespace"]
    json.dumps(event, allow_nan=False)  # JSON-safe, strictly


def test_run_event_times_are_aware_and_in_utc() -> None:
    east = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert run_event("START", job="j", at=east)["eventTime"] == "2024-03-01T07:30:00.000+00:00"
    text = run_event("START", job="j", at="2024-03-01T09:30:00.5+02:00")["eventTime"]
    assert text == "2024-03-01T07:30:00.500+00:00"
    for bad in ("2024-03-01T09:30:00", datetime(2024, 3, 1), "yesterday", 1709285400, ""):
        with pytest.raises(ConfigError, match="event time must be an aware datetime"):
            run_event("START", job="j", at=bad)  # type: ignore[arg-type]


def test_run_ids_are_uuids_version_7_in_time_order() -> None:
    with pytest.raises(ConfigError, match="run id must be a UUID"):
        run_event("START", job="j", run_id="run-42")
    given = "0190a5b2-9d7e-7cc2-9a3b-3b1f0c2d4e5f"
    assert run_event("START", job="j", run_id=given.upper())["run"]["runId"] == given
    first = run_event("START", job="j")["run"]["runId"]
    time.sleep(0.002)
    second = JobRun(InMemoryLineageSink(), job="j").run_id
    for made in (first, second):
        parsed = uuid.UUID(made)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert first < second  # the first 48 bits are the time in milliseconds
    stamp = uuid.UUID(second).int >> 80
    assert abs(stamp / 1000 - time.time()) < 60


@pytest.fixture
def registry_events(tmp_path: Path) -> list[dict[str, Any]]:
    """Every kind of registry event, from an artifact store whose URL names a user."""
    sink = JsonLinesSink(tmp_path / "events.jsonl")
    store = LocalArtifactStore(f"file://{tmp_path / 'artifacts'}")
    store.url = "sftp://ann.smith:***@models.example:22/srv/models?token=***#frag"
    reg = ModelRegistry(f"sqlite:///{tmp_path / 'reg.db'}", store, actor="ci")
    reg.lineage_sink = sink
    with reg:
        reg.register(
            "churn",
            SCHEMA,
            lineage={"data_fingerprint": "d" * 64, "feature_views": {"v": "f" * 64}},
            metrics={"auc": 0.9},
        )
        reg.register("churn", SCHEMA, lineage={"parent_version": 1})
        reg.set_alias("churn", "production", 1)
        reg.set_alias("churn", "production", 2)
        reg.rollback("churn", "production")
        reg.delete_alias("churn", "production")
    return sink.read()


def test_registry_events_pass_the_audit(registry_events: list[dict[str, Any]], validator) -> None:
    assert len(registry_events) == 6
    for event in registry_events:
        audit(event, validator)
    text = json.dumps(registry_events)
    for leak in ("ann.smith", "token", "frag"):
        assert leak not in text
    namespaces = {d["namespace"] for e in registry_events for d in e["outputs"]}
    assert namespaces == {"sftp://models.example:22/srv/models"}


def test_job_run_events_pass_the_audit(validator) -> None:
    sink = InMemoryLineageSink()
    run = JobRun(
        sink,
        job="churn.score",
        inputs=[dataset("file", "/data/in.parquet", {"prodml": facet(sha256="a" * 64)})],
        run_facets={"prodml": facet(action="score")},
    )
    run.start()
    run.fail(ValueError("customer ann@example.com has no plan"))
    for event in sink.events:
        audit(event, validator)
    assert "ann@example.com" not in json.dumps(sink.events)
    assert sink.events[1]["run"]["facets"]["prodml_error"]["error"] == "ValueError"


def test_the_client_events_keep_our_facets_producer_and_schema(
    registry_events: list[dict[str, Any]], validator
) -> None:
    """The client's facet classes stamped every facet with the client's own producer and
    its generic facet schema URL: a consumer could not tell prodml's facets apart."""
    from openlineage.client.serde import Serde

    from prodml.integrations.openlineage import to_openlineage

    for event in registry_events:
        back = Serde.to_dict(to_openlineage(event))
        audit(back, validator)
        # The client leaves out fields that are None; everything else, as we made it.
        assert _facets(back) == [
            {k: v for k, v in f.items() if v is not None} for f in _facets(event)
        ]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda e: e.pop("run"), "'run' is missing"),
        (lambda e: e.update(eventType="DONE"), "eventType is not one of"),
        (lambda e: e["run"].update(runId="ann@example.com"), "run.runId is not a UUID"),
        (lambda e: e.update(eventTime="ann@example.com"), "eventTime is not an ISO 8601"),
        (lambda e: e.update(eventTime="2024-03-01T09:30:00"), "with a UTC offset"),
        (lambda e: e["outputs"][0].pop("name"), "a dataset's name in outputs"),
        (lambda e: e.update(inputs="ann@example.com"), "inputs is not a list of objects"),
        (lambda e: e["run"]["facets"]["prodml"].pop("_producer"), "lacks its _producer"),
        (lambda e: e["run"]["facets"].update(x="ann@example.com"), "run facet 'x' is not an"),
        (lambda e: e["job"].update(facets={"f": facet(**{"a b": 1})}), "not an identifier"),
    ],
)
def test_to_openlineage_names_the_field_never_a_value(
    registry_events: list[dict[str, Any]], change: Any, match: str
) -> None:
    from prodml.integrations.openlineage import to_openlineage

    event = json.loads(json.dumps(registry_events[0]))
    change(event)
    with pytest.raises(ConfigError, match=match) as info:
        to_openlineage(event)
    assert "ann@example.com" not in str(info.value)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b'{"eventTime": NaN}\n', "NaN"),
        (b'{"x": -Infinity}\n', "Infinity"),
        (b'{"x": "\\ud800"}\n', "a lone surrogate escape"),
        (b'{"\\udfff": 1}\n', "a lone surrogate in a key"),
        (b'{"x": "caf\xe9"}\n', "Latin-1, not UTF-8"),
        (b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n", "nesting past the stack"),
        (b'{"x": ' + b"[" * 101 + b"]" * 101 + b"}\n", "nesting past 100 levels"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_hostile_lineage_file_is_refused_when_read(tmp_path: Path, line: bytes, why: str) -> None:
    sink = JsonLinesSink(tmp_path / "events.jsonl")
    sink.emit(run_event("START", job="j"))
    with sink.path.open("ab") as f:
        f.write(line)
    with pytest.raises(StateError, match=r"line 2 of the lineage file .* is not a JSON object"):
        sink.read()


def test_what_emit_writes_reads_back_unchanged(tmp_path: Path) -> None:
    sink = JsonLinesSink(tmp_path / "events.jsonl")
    event = run_event(
        "COMPLETE",
        job="caf\u00e9.score",
        outputs=[
            dataset("file", "/d/\U0001f600", {"prodml": facet(deep=[[[[1]]]], pair="\U0001f600")})
        ],
    )
    sink.emit(event)
    assert sink.read() == [event]
