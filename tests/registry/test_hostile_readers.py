"""Hostile saved state beyond the manifests: cards, trust policies, signatures, environments.

Real saved state (a signed, encrypted version with lineage, fairness, importance and an
environment record; its model card; its trust policy) is mutated with the shared
strategies of tests/_hostile_state.py (unknown keys, wrong types, 2**70, a megabyte of
text, 10,000-deep nesting, lone surrogates, a newer format, a root that is not an
object), hypothesis choosing which. Every read either works (and a card or policy
round-trips equal) or raises a ProdMLError subclass whose message does not quote the
value at length: never KeyError, TypeError, ValueError, UnicodeEncodeError or
RecursionError.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests._hostile_state import MARKER, check_error, mutations, outcome

from prodml.errors import IntegrityError, ProdMLError
from prodml.fairness import GroupMetrics
from prodml.registry import ModelCard, ModelRegistry
from prodml.registry._environment import check as check_environment
from prodml.registry.backends import _sqlschema as sq
from prodml.registry.signing import Ed25519Signer, TrustPolicy
from prodml.schema import Column, Schema

SIGNATURE = Schema(
    [Column("tenure", "int", min=0, max=600), Column("plan", "category", allowed=["a", "b"])]
)
SIGNER = Ed25519Signer.generate()
POLICY = TrustPolicy([SIGNER.verifier()])
SLOW = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class _Keys:
    """A key provider with one fixed key."""

    key_id = "k1"

    def key(self, key_id: str) -> bytes | None:
        return bytes(range(32)) if key_id == "k1" else None


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelRegistry]:
    """A signed, encrypted registry with one version carrying every lineage section."""
    gm = GroupMetrics(["sex"], ["selection_rate"], min_count=1)
    gm.update([1, 0, 1, 1], [1, 0, 0, 1], ["F", "F", "M", "M"])
    registry = ModelRegistry.local(
        tmp_path_factory.mktemp("hostile") / "reg",
        actor="ann",
        signer=SIGNER,
        trust=POLICY,
        encryption=_Keys(),
    )
    registry.register(
        "churn",
        SIGNATURE,
        signature=SIGNATURE,
        tags={"intended_use": "ranking", "team": "growth"},
        metrics={"auc": 0.8},
        lineage={
            "data_fingerprint": "d" * 64,
            "fairness": gm.report().to_dict(),
            "importance": {"tenure": 0.5},
            "run_id": "run-1",
        },
    )
    registry.set_alias("churn", "production", 1)
    yield registry
    registry.close()


def _stored(reg: ModelRegistry) -> str:
    v = sq.versions.c
    with reg.metadata._engine.connect() as conn:  # type: ignore[attr-defined]
        text: str = conn.execute(
            sa.select(v.payload).where(v.name == "churn", v.version == 1)
        ).scalar_one()
    return text


def _store(reg: ModelRegistry, payload: str) -> None:
    v = sq.versions.c
    with reg.metadata._engine.begin() as conn:  # type: ignore[attr-defined]
        where = sa.and_(v.name == "churn", v.version == 1)
        conn.execute(sq.versions.update().where(where).values(payload=payload))


READS: dict[str, Callable[[ModelRegistry], object]] = {
    "get": lambda r: r.get("churn@1"),
    "verify": lambda r: r.verify("churn@production"),
    "load": lambda r: r.load("churn@1", environment_check="error"),
    "card": lambda r: r.card("churn@1").to_markdown(),
    "search": lambda r: r.search("churn"),
    "history": lambda r: r.history("churn"),
}


def _read_problems(reg: ModelRegistry) -> list[str]:
    """What each public read did wrong with the stored record as it is now."""
    found = []
    for what, read in READS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # UnreadableRecordWarning, environment warnings
            try:
                read(reg)
            except ProdMLError as err:
                problem = check_error(err)
                if problem:
                    found.append(f"{what}: {problem}")
            except Exception as err:  # noqa: BLE001 - any other exception is the finding
                found.append(f"{what}: {type(err).__name__}: {str(err)[:200]}")
    return found


# Sections of the stored record beyond the file manifest (tests/registry/
# test_hostile_contents.py damages the record's own columns and the manifest).
SECTIONS = ("lineage", "attestation", "encryption", "tags", "metrics", "signature")


def _record_mutations(reg: ModelRegistry) -> list[tuple[str, Callable[[], Any]]]:
    state = json.loads(_stored(reg))
    prefixes = tuple(f"[{s!r}]" for s in SECTIONS)
    return [(d, build) for d, build in mutations(state) if d.startswith(prefixes)]


@SLOW
@given(data=st.data())
def test_every_read_of_a_damaged_record_section_is_clean(
    reg: ModelRegistry, data: st.DataObject
) -> None:
    original = _stored(reg)
    found = _record_mutations(reg)
    label, build = data.draw(st.sampled_from(found), label="mutation")
    try:
        _store(reg, json.dumps(build()))
    except RecursionError:  # json.dumps cannot write 10,000-deep lists: no store holds one
        return
    try:
        assert _read_problems(reg) == [], label
    finally:
        _store(reg, original)
    assert _read_problems(reg) == []


def test_a_lone_surrogate_in_a_record_is_named_by_its_field(reg: ModelRegistry) -> None:
    """JSON's \\udcff escape decodes to half a character: the signed statement failed."""
    original = _stored(reg)
    state = json.loads(original)
    state["lineage"]["environment"]["packages"]["numpy"] = "\udcff"
    try:
        _store(reg, json.dumps(state))  # ensure_ascii: the text holds the escape
        with pytest.raises(IntegrityError, match=r"lone surrogate\) in field ") as info:
            reg.verify("churn@1")
        assert "lineage.environment.packages.numpy" in str(info.value)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            page = reg.search("churn")
        assert list(page) == []
        assert len(page.problems) == 1
        assert len(caught) == 1
    finally:
        _store(reg, original)


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("attestation", "payload"), "é" * 8, "payload is not base64"),
        (("attestation", "signatures", 0, 1), "é" * 8, "does not verify"),
        (("attestation", "signatures", 0, 0), MARKER * 1000, "not one \\(18000 characters\\)"),
    ],
)
def test_a_damaged_signature_envelope_is_an_integrity_error(
    reg: ModelRegistry, path: tuple[Any, ...], value: str, match: str
) -> None:
    """Non-ASCII base64 was a bare ValueError; a huge key id was quoted at length."""
    original = _stored(reg)
    state = json.loads(original)
    node = state
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        _store(reg, json.dumps(state))
        with pytest.raises(IntegrityError, match=match) as info:
            reg.verify("churn@1")
        assert check_error(info.value) is None
    finally:
        _store(reg, original)


# -- model cards and trust policies: saved by to_dict, read by from_dict ----------------


@pytest.fixture(scope="module")
def card_state(reg: ModelRegistry) -> dict[str, Any]:
    return reg.card("churn@production").to_dict()


def _use_card(card: ModelCard) -> object:
    return card.to_markdown(), card.to_html(), card.to_json()


@SLOW
@given(data=st.data())
def test_a_mutated_card_state_is_refused_cleanly_or_round_trips(
    card_state: dict[str, Any], data: st.DataObject
) -> None:
    label, build = data.draw(st.sampled_from(mutations(card_state)), label="mutation")
    assert outcome(ModelCard.from_dict, _use_card, build()) is None, label


def test_every_mutated_trust_policy_is_refused_cleanly_or_round_trips() -> None:
    """Few enough to run them all (a policy file is a handful of keys)."""
    state = TrustPolicy([SIGNER.verifier(), Ed25519Signer.generate().verifier()]).to_dict()
    problems = [
        f"{label}: {problem}"
        for label, build in mutations(state)
        if (problem := outcome(TrustPolicy.from_dict, lambda p: p.key_ids, build()))
    ]
    assert problems == []


@pytest.mark.parametrize("text", [b"\xff\xfe{}", "\udcff", "[]", "1e999", "{" * 100_000])
def test_card_json_that_is_not_a_card_object_is_a_prodml_error(text: Any) -> None:
    with pytest.raises(ProdMLError) as info:
        ModelCard.from_json(text)
    assert check_error(info.value) is None


# -- environment records: read back from a version's lineage ---------------------------

RECORDED = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"[0-9]{1,12}(\.[0-9]{1,3}){0,3}", fullmatch=True),
    st.sampled_from(["9" * 5000, "2" + MARKER * 5000, "1e5", "-1", "٣.0", "2!1.0", ""]),
    st.integers(),
    st.floats(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=2),
)


@given(
    recorded=st.one_of(
        st.dictionaries(
            st.sampled_from(["numpy", "pandas", "scikit-learn", "scipy", "x"]), RECORDED
        ).map(lambda p: {"packages": p}),
        RECORDED,
        st.dictionaries(st.text(max_size=5), RECORDED, max_size=3),
    ),
    mode=st.sampled_from(["warn", "error"]),
)
def test_a_recorded_environment_never_raises_more_than_a_mismatch(
    recorded: object, mode: Any
) -> None:
    """5,000 recorded digits were a ValueError from int(); a megabyte was repeated."""
    refused: ProdMLError | None = None
    found = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = check_environment(recorded, mode, model_name="m", version=1)
        except ProdMLError as err:
            refused = err
    if refused is not None:
        assert check_error(refused) is None
        assert len(str(refused)) < 1000
    for mismatch in found:
        assert len(mismatch.recorded) <= 73
    assert all(len(str(w.message)) < 1000 for w in caught)
