"""A stored record with a lone surrogate escape is refused, however it is spelled.

A record is parsed by pydantic first (one strict parse), and only a record that parse
refuses goes through ``json.loads`` and the scan for ``\\udXXX`` escapes: pydantic's JSON
parser refuses a lone surrogate, so the scan is skipped for the records it reads (the
registry search page's cost, benchmarks/callgrind_audit37.py). These cases pin that
premise: were a pydantic release to accept lone surrogates, they would fail.
"""

from __future__ import annotations

import json

import pytest

from prodml.errors import IntegrityError
from prodml.registry import ModelRegistry
from prodml.registry.backends import _sqlschema as sq
from prodml.schema import Column, Schema


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> dict:
    with ModelRegistry.local(tmp_path_factory.mktemp("reg")) as reg:
        mv = reg.register("churn", Schema([Column("x", "float")]), environment=False)
    return json.loads(sq.dump_version(mv))


@pytest.mark.parametrize(
    ("where", "escape"),
    [
        ("description", "\\ud800"),
        ("description", "\\uDBFF"),
        ("description", "\\udc00 trailing"),
        ("description", "\\ud83d\\u0041"),  # a high surrogate and no low one after it
        ("tag value", "\\uDFFF"),
        ("tag key", "\\ud800"),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_a_lone_surrogate_escape_is_refused(
    record: dict, where: str, escape: str, as_bytes: bool
) -> None:
    marker = "SURROGATE_HERE"
    data = json.loads(json.dumps(record))
    if where == "description":
        data["description"] = marker
    elif where == "tag value":
        data["tags"] = {"team": marker}
    else:
        data["tags"] = {marker: "growth"}
    payload = json.dumps(data).replace(marker, escape)
    with pytest.raises(IntegrityError, match=r"lone surrogate"):
        sq.to_version(payload.encode() if as_bytes else payload, "ready", "churn", 1)


def test_a_surrogate_pair_is_one_character(record: dict) -> None:
    data = json.loads(json.dumps(record))
    data["description"] = "\U0001f600"
    payload = json.dumps(data)  # ensure_ascii: the pair of escapes \ud83d\ude00
    assert "\\ud83d\\ude00" in payload
    assert sq.to_version(payload, "ready", "churn", 1).description == "\U0001f600"
