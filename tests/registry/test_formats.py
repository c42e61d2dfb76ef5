"""Stored records carry a format_version; a bad record never blocks a listing.

Runs on the folder registry (SQLite + local files) and on PostgreSQL (one schema per
test). The in-memory store keeps objects, not records, so it has nothing to read back.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from tests.registry.conftest import open_reg, schema

from prodml.cli import main
from prodml.errors import IntegrityError, ProdMLError
from prodml.registry import (
    ModelRegistry,
    ModelVersion,
    NewerFormatError,
    UnreadableRecordWarning,
)
from prodml.registry.backends import _sqlschema as sq

# What prodml wrote before records had a format_version (captured from that code).
OLD_PAYLOAD = (
    '{"name":"churn","version":1,"status":"ready","flavour":"prodml","flavour_meta":'
    '{"class":"prodml.schema:Schema"},"artifact_key":"churn/1796420295102-c6fd1d1f8bad42aa9a5'
    '2a4bea682abfc","files":{"object.json":"44bb0e3632520022ae54f01d65a29e36a325baef505947b72'
    '80c3a98e2011f80"},"created_at":"2026-12-04T21:38:15.113079Z","created_by":"ci",'
    '"description":"","tags":{"team":"growth"},"metrics":{"auc":0.9},"signature":null,'
    '"lineage":{"data_fingerprint":null,"pipeline_fingerprint":null,"code_version":null,'
    '"parent_version":null,"feature_views":null},"encryption":null,"attestation":null}'
)
OLD_DETAIL = '{"reason": "first"}'
SECRET = "s3cr3t-payload-content"  # noqa: S105 - a marker that must never be shown


def cli_args(where: dict[str, str]) -> list[str]:
    if "path" in where:
        return [where["path"]]
    return ["--db", where["db"], "--artifacts", where["artifacts"]]


@pytest.fixture
def reg(where: dict[str, str]) -> Iterator[ModelRegistry]:
    registry = open_reg(where)
    try:
        yield registry
    finally:
        registry.close()


def engine(reg: ModelRegistry) -> sa.Engine:
    eng: sa.Engine = reg.metadata._engine  # type: ignore[attr-defined]
    return eng


def stored(reg: ModelRegistry, name: str, version: int) -> str:
    v = sq.versions.c
    with engine(reg).connect() as conn:
        text: str = conn.execute(
            sa.select(v.payload).where(v.name == name, v.version == version)
        ).scalar_one()
    return text


def store(reg: ModelRegistry, name: str, version: int, payload: str) -> None:
    v = sq.versions.c
    with engine(reg).begin() as conn:
        conn.execute(
            sq.versions.update().where(v.name == name, v.version == version).values(payload=payload)
        )


def set_detail(reg: ModelRegistry, seq: int, detail: str) -> None:
    with engine(reg).begin() as conn:
        conn.execute(sq.events.update().where(sq.events.c.seq == seq).values(detail=detail))


def newer(reg: ModelRegistry, name: str, version: int) -> str:
    """A record as a future prodml might write it: format 2, a field renamed."""
    data = json.loads(stored(reg, name, version))
    data["format_version"] = 2
    data["creator"] = data.pop("created_by") + SECRET
    return json.dumps(data)


def dump(reg: ModelRegistry) -> dict[str, list[Any]]:
    with engine(reg).connect() as conn:
        return {
            t.name: sorted(map(tuple, conn.execute(sa.select(t)).all()), key=repr)
            for t in sq.meta.sorted_tables
        }


# ---------------------------------------------------------------------- format_version


def test_format_1_records_are_written_as_earlier_prodml_wrote_them(reg: ModelRegistry) -> None:
    """No ``format_version`` field while the format is 1 (a missing one means 1), so a
    prodml from before format versions, which refuses unknown fields, reads them."""
    reg.register("churn", schema(), environment=False)
    reg.set_alias("churn", "production", 1, reason="first")
    record = json.loads(stored(reg, "churn", 1))
    assert "format_version" not in record
    assert ModelVersion.model_validate(record).version == 1  # the pre-format reader's check
    with engine(reg).connect() as conn:
        details = conn.execute(sa.select(sq.events.c.detail)).scalars().all()
    assert sorted(details) == ['{"reason": "first"}', "{}"]
    # read back, the field is not part of the version or the event
    assert "format_version" not in reg.get("churn@1").model_dump()
    assert [e.detail for e in reg.history("churn")] == [{"reason": "first"}, {}]


def test_records_written_before_format_versions_still_read(reg: ModelRegistry) -> None:
    reg.register("churn", schema(), environment=False)
    reg.set_alias("churn", "production", 1)
    store(reg, "churn", 1, OLD_PAYLOAD)
    set_detail(reg, max(e.seq for e in reg.history("churn")), OLD_DETAIL)
    mv = reg.get("churn@production")
    assert (mv.ref, mv.created_by, mv.tags, mv.metrics) == (
        "churn@1",
        "ci",
        {"team": "growth"},
        {"auc": 0.9},
    )
    assert [v.ref for v in reg.search("churn")] == ["churn@1"]
    assert reg.history("churn").items[0].detail == {"reason": "first"}
    assert reg.metadata.alias_stack("churn", "production") == [1]


def test_a_newer_record_says_upgrade_prodml_wherever_it_is_read(reg: ModelRegistry) -> None:
    reg.register("churn", schema(), environment=False)
    reg.set_alias("churn", "production", 1)
    store(reg, "churn", 1, newer(reg, "churn", 1))
    for read in (
        lambda: reg.get("churn@1"),
        lambda: reg.get("churn@production"),
        lambda: reg.get("churn"),
        lambda: reg.load("churn@production"),
    ):
        with pytest.raises(NewerFormatError) as info:
            read()
        err = info.value
        assert isinstance(err, ProdMLError)
        assert not isinstance(err, IntegrityError)
        assert (err.model_name, err.version, err.found, err.supported) == ("churn", 1, 2, 1)
        text = str(err)
        assert "churn version 1" in text
        assert "format_version 2" in text
        assert "reads format_version 1" in text
        assert "upgrade prodml" in text
        assert "corrupt" not in text
        assert SECRET not in text


def test_a_format_version_that_is_not_a_number_is_damage(reg: ModelRegistry) -> None:
    reg.register("churn", schema(), environment=False)
    data = json.loads(stored(reg, "churn", 1))
    data["format_version"] = "2" + SECRET
    store(reg, "churn", 1, json.dumps(data))
    with pytest.raises(IntegrityError, match="format_version that is not a format number") as info:
        reg.get("churn@1")
    assert SECRET not in str(info.value)


# ---------------------------------------------------------------------- listings


def test_one_bad_record_does_not_block_listing(reg: ModelRegistry) -> None:
    for name in ("churn", "fraud", "churn", "churn"):
        reg.register(name, schema(), environment=False)
    store(reg, "churn", 2, newer(reg, "churn", 2))
    store(reg, "fraud", 1, "{not json " + SECRET)
    before = dump(reg)

    with pytest.warns(UnreadableRecordWarning) as caught:
        page = reg.search()
    assert [mv.ref for mv in page] == ["churn@3", "churn@1"]
    assert [(p.kind, p.model_name, p.version) for p in page.problems] == [
        ("version", "churn", 2),
        ("version", "fraud", 1),
    ]
    assert isinstance(page.problems[0].error, NewerFormatError)
    assert isinstance(page.problems[1].error, IntegrityError)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert "churn version 2" in messages[0]
    assert "upgrade prodml" in messages[0]
    assert "fraud version 1" in messages[1]
    assert "not a JSON object" in messages[1]
    assert not any(SECRET in m for m in messages)

    # paging walks past a bad record: one record per page, nothing lost, nothing repeated
    seen, problems, token = [], [], None
    with warnings.catch_warnings(record=True) as paged:
        warnings.simplefilter("always")
        while True:
            page = reg.search(page_size=1, page_token=token)
            seen += [mv.ref for mv in page]
            problems += [f"{p.model_name}@{p.version}" for p in page.problems]
            token = page.next_token
            if token is None:
                break
    assert [w.category for w in paged] == [UnreadableRecordWarning] * 2
    assert seen == ["churn@3", "churn@1"]
    assert problems == ["churn@2", "fraud@1"]

    assert reg.models() == ["churn", "fraud"]
    assert reg.metadata.has_model("fraud")
    with pytest.warns(UnreadableRecordWarning):
        assert [mv.ref for mv in reg.metadata.all_versions()] == ["churn@1", "churn@3"]
    # reading the bad one directly still raises
    with pytest.raises(IntegrityError, match="fraud version 1 is not a JSON object"):
        reg.get("fraud")
    assert dump(reg) == before  # listing changed nothing


def test_a_damaged_record_names_the_field_not_its_value(reg: ModelRegistry) -> None:
    reg.register("churn", schema(), environment=False)
    data = json.loads(stored(reg, "churn", 1))
    data["created_at"] = SECRET
    store(reg, "churn", 1, json.dumps(data))
    with pytest.raises(IntegrityError, match="churn version 1 is not a valid version") as info:
        reg.get("churn@1")
    assert "created_at" in str(info.value)
    assert SECRET not in str(info.value)


def test_unreadable_audit_events_are_skipped_by_history_not_by_rollback(
    reg: ModelRegistry,
) -> None:
    reg.register("churn", schema(), environment=False)
    reg.register("churn", schema(), environment=False)
    reg.set_alias("churn", "production", 1)
    reg.set_alias("churn", "production", 2)
    seqs = [e.seq for e in reg.history("churn")]  # newest first
    set_detail(reg, seqs[0], json.dumps({"format_version": 3, "x": SECRET}))
    with engine(reg).begin() as conn:  # an action only a newer prodml knows
        conn.execute(sq.events.update().where(sq.events.c.seq == seqs[1]).values(action="teleport"))
    with pytest.warns(UnreadableRecordWarning) as caught:
        page = reg.history("churn")
    assert [e.seq for e in page] == seqs[2:]
    assert [(p.kind, p.seq) for p in page.problems] == [("event", seqs[0]), ("event", seqs[1])]
    assert "format_version 3" in str(caught[0].message)
    assert "action this prodml does not know" in str(caught[1].message)
    assert not any(SECRET in str(w.message) for w in caught)
    with pytest.warns(UnreadableRecordWarning):  # the card is built from what is readable
        assert reg.card("churn@1").model["ref"] == "churn@1"
    with pytest.raises(IntegrityError, match=f"audit event {seqs[1]} of churn"):
        reg.rollback("churn", "production")  # replays the alias's events, oldest first


# ---------------------------------------------------------------------- the CLI


def test_cli_lists_what_it_can_read_and_warns_about_the_rest(
    where: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with open_reg(where) as reg:
        for name in ("churn", "churn", "fraud"):
            reg.register(name, schema(), environment=False)
        reg.set_alias("churn", "production", 1)
        store(reg, "churn", 2, newer(reg, "churn", 2))
        before = dump(reg)

    assert main(["registry", *cli_args(where), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == [
        {
            "model": "churn",
            "latest": None,
            "aliases": {"production": 1},
            "newest": None,
            "newest_status": None,
        },
        {"model": "fraud", "latest": 1, "aliases": {}, "newest": 1, "newest_status": "ready"},
    ]
    lines = err.splitlines()
    assert len(lines) == 1  # `latest` and `newest` read the same record: one line
    assert lines[0].startswith("warning: ")
    assert "churn version 2" in lines[0]
    assert "upgrade prodml" in lines[0]

    assert main(["registry", *cli_args(where), "churn", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [row["version"] for row in json.loads(out)] == [1]
    assert len(err.splitlines()) == 1
    assert "churn version 2" in err
    assert SECRET not in err

    with open_reg(where) as reg:
        assert dump(reg) == before
