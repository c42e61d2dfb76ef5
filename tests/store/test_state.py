"""Stored definitions and materialization records are hostile until validated."""

from __future__ import annotations

import json

import pytest
from tests.store.conftest import T0, H

from prodml.errors import ConfigError
from prodml.store import FeatureStore
from prodml.store._state import DEFINITIONS, load_watermark, watermark_key


def _tamper(store: FeatureStore, name: str, edit) -> None:
    d = json.loads(store.online_store.get_state(name))
    edit(d)
    store.online_store.set_state(name, json.dumps(d))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (
            lambda d: d.update(format_version=99),
            "definitions.format_version: .99. is not supported",
        ),
        (lambda d: d.update(views=[]), "definitions.views: expected an object"),
        (lambda d: d["views"]["txn"].update(ttl=-5), r"definitions.views.txn: .*ttl"),
        (lambda d: d["views"]["txn"].update(name="other"), r"definitions.views.txn.name"),
        (lambda d: d["views"]["txn"].update(features=["a b"]), r"definitions.views.txn: .*'a b'"),
        (
            lambda d: d["views"]["txn"]["source"].update(kind="csv"),
            r"definitions.views.txn: .*source.*kind",
        ),
        (lambda d: d["views"]["txn"].update(schema=None), r"definitions.views.txn: .*schema"),
        (
            lambda d: d["views"]["txn"]["entity"].update(keys=["x"]),
            r"definitions.views.txn.entity: differs",
        ),
        (
            lambda d: d["entities"]["user"].update(dtypes=["float"]),
            r"definitions.entities.user: .*key dtypes",
        ),
        (lambda d: d["views"]["txn"].update(extra=1), r"definitions.views.txn: .*extra"),
    ],
)
def test_hostile_definitions_name_the_field(store: FeatureStore, edit, match) -> None:
    _tamper(store, DEFINITIONS, edit)
    with pytest.raises(ConfigError, match=match):
        _ = store.views


def test_definitions_that_are_not_json(store: FeatureStore) -> None:
    store.online_store.set_state(DEFINITIONS, "{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        _ = store.views
    store.online_store.set_state(DEFINITIONS, "[1]")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        _ = store.views


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(version="zz"), r"materialized.txn.version: expected 16 hex"),
        (lambda d: d.update(end_us="late"), r"materialized.txn.end_us: expected an int"),
        (lambda d: d.update(end_us=2**70), r"materialized.txn.end_us: expected an int in range"),
        (lambda d: d.update(view="other"), r"materialized.txn.view"),
        (lambda d: d.update(runs={}), r"materialized.txn.runs: expected a list"),
        (lambda d: d["runs"][0].update(written=10**6), r"materialized.txn.runs\[0\].written"),
        (
            lambda d: d["runs"][0].update(start_us=d["runs"][0]["end_us"]),
            r"materialized.txn.runs\[0\].start_us",
        ),
        (lambda d: d["runs"][0].pop("at_us"), r"materialized.txn.runs\[0\]: expected"),
        (lambda d: d.update(end_us=d["end_us"] + 1), r"materialized.txn.end_us: must equal"),
    ],
)
def test_hostile_watermarks_name_the_field(store: FeatureStore, edit, match) -> None:
    store.materialize(T0 + 5 * H, start=T0 - H)
    _tamper(store, watermark_key("txn"), edit)
    with pytest.raises(ConfigError, match=match):
        store.materialize(T0 + 6 * H)
    with pytest.raises(ConfigError, match=match):
        store.watermarks()


def test_watermarks_round_trip_and_record_runs(store: FeatureStore) -> None:
    [first] = store.materialize(T0 + 2 * H)
    assert store.materialize(T0 + 5 * H)[0].entities == 0  # +3h was created at +30h
    [second] = store.materialize(T0 + 31 * H)
    mark = load_watermark(store.online_store.get_state(watermark_key("txn")), "txn")
    assert mark is not None
    assert mark.runs[0] == first
    assert mark.runs[-1] == second
    assert len(mark.runs) == 3
    assert first.start_us is None
    assert second.start_us == mark.runs[1].end_us
    assert (first.entities, first.written) == (2, 2)
    assert (second.entities, second.written) == (1, 1)  # user 1's backfilled +3h row
    assert load_watermark(mark.dumps(), "txn") == mark
