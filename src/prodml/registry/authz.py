"""Who may move which alias: an authorizer hook, and protected aliases needing approval.

A registry built with ``authorizer=`` asks it before every alias move (``set_alias``,
``promote``, ``rollback``, ``delete_alias``), showing an :class:`AliasRequest`: the actor,
the action, the model, the alias, the version it points at now and the one it would point
at, and who approved the move (the ``approved_by=`` of the call). The authorizer returns
``None`` to allow the move, or a sentence saying why not; the registry then raises
:class:`~prodml.errors.AuthorizationError` and changes nothing. An allowed move's audit
event records the approver.

:class:`RequireApproval` is the common policy: moving a protected alias (say
``production``) needs an approver, other than the actor, from an optional list.

Examples
--------
>>> from prodml.errors import AuthorizationError
>>> from prodml.registry import ModelRegistry
>>> from prodml.schema import Column, Schema
>>> reg = ModelRegistry(
...     "memory://", "memory://authz-doc", actor="ci", authorizer=RequireApproval({"production"})
... )
>>> _ = reg.register("churn", Schema([Column("x", "float")]))
>>> _ = reg.set_alias("churn", "staging", 1)  # not protected
>>> try:
...     reg.set_alias("churn", "production", 1)
... except AuthorizationError as err:
...     print(err)
moving alias 'production' of churn needs approved_by= (a protected alias)
>>> reg.set_alias("churn", "production", 1, approved_by="risk-officer").version
1
>>> reg.history("churn").items[0].detail
{'approved_by': 'risk-officer'}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from prodml.errors import ConfigError

__all__ = ["AliasRequest", "Authorizer", "RequireApproval"]

AliasAction = Literal["set_alias", "promote", "rollback", "delete_alias"]


@dataclass(frozen=True)
class AliasRequest:
    """An alias move an authorizer is asked about.

    ``from_version`` is the version the alias points at when asked (``None`` when it does
    not exist yet); ``to_version`` is ``None`` for ``delete_alias``. ``approved_by`` is
    the approver the caller named, as given: prodml does not authenticate people, so an
    authorizer that must trust it checks it against the approval system of record.
    """

    actor: str
    action: AliasAction
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    approved_by: str | None = None


@runtime_checkable
class Authorizer(Protocol):
    """Decides alias moves: ``None`` allows, a sentence refuses (and says why)."""

    def __call__(self, request: AliasRequest) -> str | None:
        """Why ``request`` is refused, or ``None`` to allow it."""
        ...


class RequireApproval:
    """Protected aliases: moving one needs ``approved_by=`` from someone else.

    Parameters
    ----------
    aliases
        The protected alias names (``{"production"}``).
    approvers
        Who may approve; ``None`` (the default) accepts any name other than the actor.
    allow_self_approval
        Whether the actor may approve their own move (default ``False``: four eyes).

    Examples
    --------
    >>> gate = RequireApproval({"production"}, approvers={"alice"})
    >>> ask = AliasRequest("bob", "set_alias", "churn", "production", 1, 2, approved_by="eve")
    >>> gate(ask)
    "moving alias 'production' of churn needs the approval of one of ['alice']; got 'eve'"
    >>> gate(AliasRequest("bob", "set_alias", "churn", "staging", 1, 2)) is None
    True
    """

    def __init__(
        self,
        aliases: Iterable[str],
        *,
        approvers: Iterable[str] | None = None,
        allow_self_approval: bool = False,
    ) -> None:
        if isinstance(aliases, str):
            raise ConfigError(
                "RequireApproval takes a collection of alias names, e.g. {'production'}; "
                f"got the string {aliases[:40]!r}",
                parameter="aliases",
            )
        self.aliases: frozenset[str] = frozenset(aliases)
        self.approvers: frozenset[str] | None = None if approvers is None else frozenset(approvers)
        self.allow_self_approval = allow_self_approval

    def __call__(self, request: AliasRequest) -> str | None:
        """Why ``request`` is refused, or ``None``."""
        if request.alias not in self.aliases:
            return None
        what = f"moving alias {request.alias!r} of {request.model}"
        if not request.approved_by:
            return f"{what} needs approved_by= (a protected alias)"
        if self.approvers is not None and request.approved_by not in self.approvers:
            return (
                f"{what} needs the approval of one of {sorted(self.approvers)}; "
                f"got {request.approved_by[:60]!r}"
            )
        if request.approved_by == request.actor and not self.allow_self_approval:
            return f"{what} needs an approver other than the actor {request.actor[:60]!r}"
        return None

    def __repr__(self) -> str:
        return (
            f"RequireApproval({sorted(self.aliases)}, approvers="
            f"{None if self.approvers is None else sorted(self.approvers)}, "
            f"allow_self_approval={self.allow_self_approval})"
        )
