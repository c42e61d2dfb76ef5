"""Alias moves of :class:`~prodml.registry.ModelRegistry`: set, delete, promote, rollback.

Every move goes through :meth:`AliasMoves._move`, the one place a policy on who may move
which alias (an authorizer, protected aliases) belongs. Without a precondition a move is
last-writer-wins; ``expected_version=`` makes it a compare-and-set. Promotion and rollback
decide from the alias's current version, so they compare-and-set against what they read
and, when another writer moved the alias meanwhile, decide again from the new state.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast, overload

from prodml._secrets import Secrets
from prodml.errors import (
    AuthorizationError,
    ConfigError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    RegistryError,
)
from prodml.privacy import clean_note
from prodml.registry import _protect, _trust
from prodml.registry._paths import check_version_number
from prodml.registry.authz import AliasAction, AliasRequest, Authorizer
from prodml.registry.backends.metadata import ANY, MetadataStore
from prodml.registry.checks import Check, PromotionError
from prodml.registry.entities import ModelVersion, check_alias, check_name
from prodml.registry.signing import (
    Signer,
    TrustPolicy,
    UnsignedAliasWarning,
    verify_event,
    verify_version,
    version_digest,
)

__all__ = ["AliasMoves"]

_RACE_RETRIES = 50
MAX_REASON = 1000
"""The longest ``reason=`` an audit event keeps (longer text is cut)."""


class AliasMoves:
    """The alias half of :class:`~prodml.registry.ModelRegistry` (a mixin)."""

    metadata: MetadataStore
    read_only: bool
    trust: TrustPolicy | None
    signer: Signer | None
    authorizer: Authorizer | None

    if TYPE_CHECKING:

        @property
        def actor(self) -> str:
            """Who the audit log records."""

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        expected_version: int | None = ANY,
        approved_by: str | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Point ``name@alias`` at ``version`` (creating or moving the alias).

        Without ``expected_version`` the last writer wins: concurrent calls all succeed,
        one after the other, each logged with the version it replaced. With it (a
        version, or ``None`` for "the alias must not exist yet") the move is a
        compare-and-set. ``approved_by`` names who approved the move, for the registry's
        authorizer and the audit log. ``reason`` says why, for the audit log (see
        :meth:`promote`).

        Raises
        ------
        ConflictError
            Only when ``expected_version`` is given and the alias points elsewhere, or
            when ``version`` is archived.
        AuthorizationError
            When the registry's authorizer refuses the move.
        NotFoundError
            When the model or version does not exist.
        """
        self._check_writable()
        mv = self._target(name, alias, version)
        self._move(
            name,
            alias,
            mv.version,
            action="set_alias",
            expected=expected_version,
            approved_by=approved_by,
            reason=reason,
            target=mv,
        )
        return mv

    def delete_alias(
        self,
        name: str,
        alias: str,
        *,
        expected_version: int | None = ANY,
        approved_by: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Remove an alias; its history stays in the audit log (with ``reason``, if given)."""
        self._check_writable()
        check_name(name)
        check_alias(alias)
        self._move(
            name,
            alias,
            None,
            action="delete_alias",
            expected=expected_version,
            approved_by=approved_by,
            reason=reason,
        )

    @overload
    def promote(
        self,
        name: str,
        alias: str,
        version: int,
        checks: Iterable[Check] = ...,
        *,
        expected_version: int | None = ...,
        approved_by: str | None = ...,
        reason: str | None = ...,
    ) -> ModelVersion: ...

    @overload
    def promote(
        self,
        name: str,
        alias: int,
        version: str,
        checks: Iterable[Check] = ...,
        *,
        expected_version: int | None = ...,
        approved_by: str | None = ...,
        reason: str | None = ...,
    ) -> ModelVersion: ...

    def promote(
        self,
        name: str,
        alias: str | int,
        version: int | str,
        checks: Iterable[Check] = (),
        *,
        expected_version: int | None = ANY,
        approved_by: str | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Point ``alias`` at ``version`` only if every check passes.

        Reads like :meth:`set_alias`: ``promote("churn", "production", 7, checks=[...])``.
        The earlier order ``promote(name, version, alias)`` is still accepted (an ``int``
        second argument is the version). The checks compare the candidate with the
        version the alias points at; if another writer moves the alias meanwhile, they
        run again against the new one (unless ``expected_version`` pins it).

        ``reason`` (why the move is made, e.g. the retraining run and its trigger) goes
        into the audit event's ``detail["reason"]``: at most 1000 printable characters
        (longer text is cut, control characters become spaces), with the stores'
        credentials and anything that looks like personal data redacted.

        Raises
        ------
        PromotionError
            Listing every failed check; the alias is left where it was.
        ConflictError
            When ``expected_version`` is given and the alias points elsewhere.
        AuthorizationError
            When the registry's authorizer refuses the move.
        """
        self._check_writable()
        if isinstance(alias, int) and not isinstance(alias, bool) and isinstance(version, str):
            alias, version = version, alias
        if not isinstance(alias, str) or not isinstance(version, int):
            raise ConfigError(
                "promote takes (name, alias, version): an alias str and a version int",
                parameter="alias",
            )
        mv = self._target(name, alias, version)
        gates = list(checks)
        note = self._reason(reason)
        for _ in range(_RACE_RETRIES):
            current_no = self._current(name, alias)
            if not self._row_signed(name, alias, current_no):
                continue  # moved meanwhile: read it again
            # Under a trust policy the checks compare against verified metrics only.
            current = (
                self._trusted(self.metadata.get_version(name, current_no)) if current_no else None
            )
            failures = [msg for check in gates if (msg := check(mv, current)) is not None]
            if failures:
                raise PromotionError(failures, model_name=name, version=mv.version, alias=alias)
            expected = current_no if expected_version is ANY else expected_version
            detail: dict[str, Any] = {"checks": [repr(c) for c in gates]}
            if note is not None:
                detail["reason"] = note
            moved = self._moved(
                name,
                alias,
                mv.version,
                action="set_alias",
                expected=expected,
                detail=detail,
                pinned=expected_version,
                intent="promote",
                approved_by=approved_by,
                target=mv,
            )
            if moved:
                return mv
        raise self._busy(name, alias)

    def rollback(
        self,
        name: str,
        alias: str,
        *,
        approved_by: str | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Move ``alias`` back to the version it pointed at before its current one.

        Deleted versions are skipped. Repeated rollbacks walk further back. A rollback
        raced by another move of the alias starts over from the new state.

        Raises
        ------
        NotFoundError
            When the alias does not exist.
        ConflictError
            When there is no earlier version to go back to.
        AuthorizationError
            When the registry's authorizer refuses the move.
        """
        self._check_writable()
        check_name(name)
        check_alias(alias)
        note = self._reason(reason)
        for _ in range(_RACE_RETRIES):
            current = self.metadata.alias_version(name, alias)
            if not self._row_signed(name, alias, current):
                continue  # moved meanwhile: read it again
            stack = (
                self.metadata.alias_stack(name, alias)
                if self.trust is None
                else _trust.signed_stack(
                    self.metadata,
                    self.trust,
                    _trust.identity(self.metadata, self.trust, create=False),
                    name,
                    alias,
                )
            )
            if stack and stack[-1] == current:
                stack.pop()
            popped = 1
            target = None
            while stack and target is None:
                candidate = stack.pop()
                if candidate != current:
                    try:
                        target = self._trusted(self.metadata.get_version(name, candidate))
                        break
                    except NotFoundError:
                        pass
                popped += 1
            if target is None:
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} has no earlier version to roll back to",
                    model_name=name,
                    version=current,
                )
            detail: dict[str, Any] = {"pop": popped}
            if note is not None:
                detail["reason"] = note
            moved = self._moved(
                name,
                alias,
                target.version,
                action="rollback",
                expected=current,
                detail=detail,
                pinned=ANY,
                approved_by=approved_by,
                target=target,
            )
            if moved:
                return target
        raise self._busy(name, alias)

    def _move(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        action: str,
        expected: Any = ANY,
        detail: dict[str, Any] | None = None,
        intent: AliasAction | None = None,
        approved_by: str | None = None,
        reason: str | None = None,
        target: ModelVersion | None = None,
    ) -> None:
        """The one place every alias move passes through (set, delete, promote, rollback).

        The authorizer, when there is one, decides here; an approver is recorded in the
        move's audit event. With a signer, the event carries a signed record naming
        ``target`` by number and manifest digest (see :mod:`prodml.registry.signing`).
        """
        self._check_writable()
        if expected is not ANY and expected is not None:
            check_version_number(expected, "expected_version")
        if approved_by is not None:
            detail = {**(detail or {}), "approved_by": _check_approver(approved_by)}
        note = self._reason(reason)
        if note is not None:
            detail = {**(detail or {}), "reason": note}
        if self.authorizer is not None:
            kind = cast("AliasAction", intent or action)
            self._authorize(name, alias, version, kind, expected=expected, approved_by=approved_by)
        seal = None
        if self.signer is not None:
            seal = _protect.event_sealer(
                self.signer,
                _trust.identity(self.metadata, self.trust, create=True),
                digest=None if target is None else version_digest(target),
                high=_trust.highest(self.metadata, name),
            )
        self.metadata.move_alias(
            name,
            alias,
            version,
            actor=self.actor,
            action=action,
            expected=expected,
            detail=detail,
            seal=seal,
        )
        self._lineage_alias(name, alias, version, action)

    def _lineage_alias(self, name: str, alias: str, version: int | None, action: str) -> None:
        """Emit the OpenLineage event of an alias move (see :mod:`prodml.registry._lineage`)."""
        sink = getattr(self, "lineage_sink", None)
        if sink is not None:
            from prodml.registry import _lineage  # noqa: PLC0415 - only when a sink is set

            _lineage.alias_moved(
                sink,
                getattr(self, "lineage_namespace", "prodml"),
                getattr(self, "artifacts").url,  # noqa: B009 - the registry's, not the mixin's
                name=name,
                alias=alias,
                version=version,
                action=action,
                actor=self.actor,
            )

    def _moved(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        action: str,
        expected: int | None,
        detail: dict[str, Any],
        pinned: Any,
        intent: AliasAction | None = None,
        approved_by: str | None = None,
        target: ModelVersion | None = None,
    ) -> bool:
        """Move with compare-and-set; ``False`` if the alias moved meanwhile (try again)."""
        try:
            self._move(
                name,
                alias,
                version,
                action=action,
                expected=expected,
                detail=detail,
                intent=intent,
                approved_by=approved_by,
                target=target,
            )
        except ConflictError:
            if pinned is not ANY or self.metadata._aliases(name).get(alias) == expected:
                raise  # the caller's precondition, or a conflict that is not a race
            return False
        return True

    def _authorize(
        self,
        name: str,
        alias: str,
        version: int | None,
        action: AliasAction,
        *,
        expected: Any,
        approved_by: str | None,
    ) -> None:
        """Ask the authorizer; refuse (fail closed, also when it errs) unless it allows."""
        assert self.authorizer is not None  # noqa: S101 - only called with one
        current = expected
        if expected is ANY:  # as stored: a value edited into a non-number is not handed on
            stored = self.metadata._aliases(name).get(alias)
            current = stored if type(stored) is int and stored > 0 else None
        request = AliasRequest(
            actor=self.actor,
            action=action,
            model=name,
            alias=alias,
            from_version=current,
            to_version=version,
            approved_by=approved_by,
        )
        try:
            refusal = self.authorizer(request)
        except Exception as err:  # noqa: BLE001 - an authorizer's own failure must refuse
            refusal = f"the authorizer failed ({type(err).__name__}), so the move is refused"
        if refusal is not None:
            raise AuthorizationError(
                f"{str(refusal)[:500]}",
                model_name=name,
                version=version,
                alias=alias,
                action=action,
            )

    def _reason(self, reason: object) -> str | None:
        """``reason`` checked, cut to size and redacted, for an audit event."""
        if reason is None:
            return None
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"reason must be a non-empty str. Got {type(reason).__name__} instead.",
                parameter="reason",
            )

        def scrub(text: str) -> str:  # the stores' own credentials never get in
            for store in (self.metadata, getattr(self, "artifacts", None)):
                secrets = getattr(store, "_secrets", None)
                if isinstance(secrets, Secrets):
                    text = secrets.scrub(text)
            return text

        return clean_note(reason, MAX_REASON, scrub)

    def _current(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at, checked; ``None`` when it does not exist."""
        try:
            return self.metadata.alias_version(name, alias)
        except NotFoundError:
            return None

    def _row_signed(self, name: str, alias: str, current: int | None) -> bool:
        """Check, under a trust policy, that the alias row agrees with its newest signed record.

        ``promote`` and ``rollback`` decide from the row, so they check it first, as
        ``load`` does: ``True`` when it agrees (or there is no policy, or the alias was
        last moved without a record and the policy is not strict: then with an
        :class:`~prodml.registry.signing.UnsignedAliasWarning`), ``False`` when the row
        moved while it was being checked (read it again).

        Raises
        ------
        IntegrityError
            When the newest record does not verify, or points elsewhere than the row
            (someone moved the row behind the registry), or, under a strict policy,
            when the existing alias was last moved without a record.
        """
        if self.trust is None:
            return True
        key = f"{name}@{alias}"

        def refuse(why: str) -> IntegrityError:
            return IntegrityError(
                f"{key} {why}; refusing to move it", model_name=name, version=current
            )

        page = self.metadata.history_page(name, alias, page_size=1)
        if page.problems:
            raise refuse("has a newest audit event that cannot be read")
        event = page.items[0] if page.items else None
        if event is None or "signed" not in event.detail:
            if current is None and event is None:
                return True  # a new alias
            why = (
                "has no audit event"
                if event is None
                else f"was last moved without a signed record (audit event {event.seq})"
            )
            if self.trust.strict:
                raise refuse(f"{why} and the trust policy is strict")
            warnings.warn(
                UnsignedAliasWarning(
                    f"{key} {why}: a writer of the database could have moved it, and it is "
                    "moved on from there; strict=True in the TrustPolicy refuses it"
                ),
                stacklevel=3,
            )
            return True
        record = verify_event(
            event, self.trust, _trust.identity(self.metadata, self.trust, create=False)
        )
        signed_to = None if record["action"] == "delete_alias" else record["version"]
        if signed_to == current:
            return True
        if self._current(name, alias) != current:
            return False
        raise refuse(
            ("points at version " + str(current) if current is not None else "does not exist")
            + f", but its newest signed record (sequence {record['seq']}) "
            + (f"points at version {signed_to}" if signed_to is not None else "deleted it")
            + ": the database was changed behind the registry"
        )

    def _busy(self, name: str, alias: str) -> RegistryError:
        return RegistryError(
            f"alias {alias!r} of model {name!r} kept moving under {_RACE_RETRIES} attempts; "
            "nothing was changed",
            model_name=name,
        )

    def _check_writable(self) -> None:
        if self.read_only:
            raise RegistryError(
                "this registry is read-only (opened with read_only=True, or its database "
                f"location is not writable: {self.metadata.url}); writes are refused"
            )

    def _target(self, name: str, alias: str, version: int) -> ModelVersion:
        check_name(name)
        check_alias(alias)
        mv = self.metadata.get_version(name, check_version_number(version))
        if mv.status != "ready":
            raise ConflictError(
                f"{name} version {version} is {mv.status}; restore it before aliasing it",
                model_name=name,
                version=version,
            )
        return self._trusted(mv)

    def _trusted(self, mv: ModelVersion, *, fresh: bool = False) -> ModelVersion:
        """``mv`` if the trust policy (when there is one) accepts it.

        Its signature, and its row's status against its newest signed status record
        (with ``fresh``, a load's, also that record's age against ``max_age``).
        """
        if self.trust is not None:
            registry = _trust.identity(self.metadata, self.trust, create=False)
            verify_version(mv, self.trust, registry)
            _trust.check_status(self.metadata, self.trust, registry, mv, fresh=fresh)
        return mv


def _check_approver(approved_by: object) -> str:
    if (
        not isinstance(approved_by, str)
        or not 0 < len(approved_by) <= 256
        or not approved_by.isprintable()
    ):
        raise ConfigError(
            "approved_by must be a name of 1-256 printable characters", parameter="approved_by"
        )
    return approved_by
