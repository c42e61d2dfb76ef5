"""Protected aliases: the authorizer hook, RequireApproval, refusals and the audit trail."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodml.errors import AuthorizationError, ConfigError, RegistryError
from prodml.registry import ModelRegistry
from prodml.registry.authz import AliasRequest, Authorizer, RequireApproval
from prodml.schema import Column, Schema

Make = Callable[..., ModelRegistry]


def _schema(*names: str) -> Schema:
    return Schema([Column(n, "float") for n in names])


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Make:
    def build(authorizer: Authorizer | None, actor: str = "ci") -> ModelRegistry:
        db = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/r.db"
        reg = ModelRegistry(db, f"memory://{uuid.uuid4().hex}", actor=actor, authorizer=authorizer)
        for n in range(3):
            reg.register("churn", _schema(f"x{n}"))
        return reg

    return build


def test_protected_alias_needs_an_approver(make: Make) -> None:
    reg = make(RequireApproval({"production"}))
    reg.set_alias("churn", "staging", 1)  # unprotected: no approval needed
    events = len(reg.history("churn").items)
    with pytest.raises(AuthorizationError) as info:
        reg.set_alias("churn", "production", 1)
    err = info.value
    assert isinstance(err, PermissionError)
    assert isinstance(err, RegistryError)
    assert (err.model_name, err.alias, err.action, err.version) == (
        "churn",
        "production",
        "set_alias",
        1,
    )
    assert "needs approved_by=" in str(err)
    assert reg.aliases("churn") == {"staging": 1}
    assert len(reg.history("churn").items) == events  # a refusal changes nothing
    reg.set_alias("churn", "production", 1, approved_by="risk")
    reg.promote("churn", "production", 2, approved_by="risk")
    with pytest.raises(AuthorizationError) as info:
        reg.rollback("churn", "production")
    assert info.value.action == "rollback"
    with pytest.raises(AuthorizationError):
        reg.promote("churn", "production", 3)
    with pytest.raises(AuthorizationError) as info:
        reg.delete_alias("churn", "production")
    assert info.value.action == "delete_alias"
    assert reg.rollback("churn", "production", approved_by="risk").version == 1
    reg.delete_alias("churn", "production", approved_by="risk")
    assert reg.aliases("churn") == {"staging": 1}
    moves = list(reg.history("churn", alias="production").items)
    assert [(e.action, e.detail.get("approved_by")) for e in moves] == [
        ("delete_alias", "risk"),
        ("rollback", "risk"),
        ("set_alias", "risk"),
        ("set_alias", "risk"),
    ]
    assert moves[2].detail["checks"] == []  # promote's own detail is kept


def test_four_eyes_and_approver_lists(make: Make) -> None:
    reg = make(RequireApproval({"production"}, approvers={"alice", "bob"}), actor="alice")
    with pytest.raises(AuthorizationError, match="other than the actor 'alice'"):
        reg.set_alias("churn", "production", 1, approved_by="alice")
    with pytest.raises(AuthorizationError, match=r"one of \['alice', 'bob'\]; got 'eve'"):
        reg.set_alias("churn", "production", 1, approved_by="eve")
    assert reg.set_alias("churn", "production", 1, approved_by="bob").version == 1
    lenient = make(RequireApproval({"production"}, allow_self_approval=True), actor="alice")
    assert lenient.set_alias("churn", "production", 2, approved_by="alice").version == 2


def test_the_authorizer_sees_every_move(make: Make) -> None:
    seen: list[AliasRequest] = []

    def record(request: AliasRequest) -> str | None:
        seen.append(request)
        return None

    reg = make(record)
    reg.set_alias("churn", "production", 1)
    reg.set_alias("churn", "production", 2, expected_version=1, approved_by="ops")
    reg.promote("churn", "production", 3)
    reg.rollback("churn", "production")
    reg.delete_alias("churn", "production")
    got = [
        (r.actor, r.action, r.model, r.alias, r.from_version, r.to_version, r.approved_by)
        for r in seen
    ]
    assert got == [
        ("ci", "set_alias", "churn", "production", None, 1, None),
        ("ci", "set_alias", "churn", "production", 1, 2, "ops"),
        ("ci", "promote", "churn", "production", 2, 3, None),
        ("ci", "rollback", "churn", "production", 3, 2, None),
        ("ci", "delete_alias", "churn", "production", 2, None, None),
    ]


def test_a_failing_authorizer_refuses(make: Make) -> None:
    def broken(request: AliasRequest) -> str | None:
        raise RuntimeError("policy service down")

    reg = make(broken)
    with pytest.raises(AuthorizationError, match="authorizer failed \\(RuntimeError\\)"):
        reg.set_alias("churn", "staging", 1)
    assert reg.aliases("churn") == {}


@pytest.mark.parametrize("bad", ["", "x" * 257, "a\nb", 5])
def test_bad_approver_names(make: Make, bad: object) -> None:
    reg = make(None)
    with pytest.raises(ConfigError, match="approved_by"):
        reg.set_alias("churn", "staging", 1, approved_by=bad)  # type: ignore[arg-type]
    assert reg.aliases("churn") == {}


def test_bad_authorizer_arguments() -> None:
    with pytest.raises(ConfigError, match="authorizer must be callable"):
        ModelRegistry("memory://", "memory://x", authorizer="production")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="collection of alias names"):
        RequireApproval("production")
    assert "production" in repr(RequireApproval({"production"}))


def test_approver_without_authorizer_is_still_recorded(make: Make) -> None:
    reg = make(None)
    reg.set_alias("churn", "production", 1, approved_by="risk")
    assert reg.history("churn").items[0].detail == {"approved_by": "risk"}


MOVES = st.lists(
    st.tuples(
        st.sampled_from(["production", "staging"]),
        st.integers(1, 3),
        st.sampled_from([None, "ci", "alice"]),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(moves=MOVES)
def test_aliases_follow_only_the_allowed_moves(moves: list[tuple[str, int, str | None]]) -> None:
    """The alias state equals a model that applies exactly the moves the policy allows."""
    reg = ModelRegistry(
        "memory://",
        f"memory://{uuid.uuid4().hex}",
        actor="ci",
        authorizer=RequireApproval({"production"}),
    )
    for n in range(3):
        reg.register("churn", _schema(f"x{n}"))
    expected: dict[str, int] = {}
    for alias, version, approver in moves:
        allowed = alias != "production" or approver not in (None, "ci")
        if allowed:
            reg.set_alias("churn", alias, version, approved_by=approver)
            expected[alias] = version
        else:
            with pytest.raises(AuthorizationError):
                reg.set_alias("churn", alias, version, approved_by=approver)
    assert reg.aliases("churn") == expected
