"""The read side of :class:`~prodml.registry.ModelRegistry` (a mixin): find, load, verify.

``get`` resolves a reference; ``load`` and ``verify`` open a version's files only after
:meth:`Reading._checked`, the one gate (trust policy, then the manifest) every version
passes before its files are touched, and ``load`` also checks the recorded environment and
decrypts. ``search``, ``models``, ``aliases``, ``history`` and ``card`` read the metadata
store and the audit log.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from prodml._quote import short_repr
from prodml.errors import (
    ConfigError,
    IntegrityError,
    NotFoundError,
    RegistryError,
    StorageError,
)
from prodml.registry import _manifest, _protect, _trust
from prodml.registry._card import ModelCard, build_card
from prodml.registry._environment import EnvironmentCheck
from prodml.registry._environment import check as check_environment
from prodml.registry._validate import check_fields, parse_ref
from prodml.registry.backends._artifact_base import ArtifactStore
from prodml.registry.backends.metadata import MetadataStore
from prodml.registry.encryption import KeyProvider
from prodml.registry.entities import AuditEvent, ModelVersion, Page, check_alias, check_name
from prodml.registry.flavours import Trust, get_flavour
from prodml.registry.signing import (
    TrustPolicy,
    UnsignedAliasWarning,
    _record_age,
    verify_event,
    version_digest,
)

__all__ = ["Reading"]

_M = TypeVar("_M")


class Reading:
    """The read side of :class:`~prodml.registry.ModelRegistry` (a mixin)."""

    metadata: MetadataStore
    artifacts: ArtifactStore
    encryption: KeyProvider | None

    if TYPE_CHECKING:

        def _trusted(self, mv: ModelVersion, *, fresh: bool = False) -> ModelVersion:
            """``mv`` if the trust policy accepts it (see ``AliasMoves``)."""

    def get(self, ref: str, version: int | str | None = None) -> ModelVersion:
        """A version by reference: ``"churn"`` (latest), ``"churn@3"``, ``"churn@production"``.

        ``version`` (a number, alias or ``"latest"``) may be given instead of ``@...``.

        Raises
        ------
        NotFoundError
            When the model, version or alias does not exist.
        ConfigError
            When the reference is malformed (``"m@³"``, a number beyond 2**31 - 1).
        """
        name, selector = parse_ref(ref, version)
        return self.metadata.resolve(name, selector)

    #: What :meth:`load` does when a package the model needs has another major version
    #: than when it was registered: ``"warn"``, ``"error"`` or ``"ignore"``.
    environment_check: EnvironmentCheck = "warn"

    @overload
    def load(
        self,
        ref: str,
        version: int | str | None = None,
        *,
        trusted: Trust = False,
        environment_check: EnvironmentCheck | None = None,
        expect: None = None,
        seen: MutableMapping[str, int] | None = None,
    ) -> Any: ...
    @overload
    def load(
        self,
        ref: str,
        version: int | str | None = None,
        *,
        trusted: Trust = False,
        environment_check: EnvironmentCheck | None = None,
        expect: type[_M],
        seen: MutableMapping[str, int] | None = None,
    ) -> _M: ...
    def load(
        self,
        ref: str,
        version: int | str | None = None,
        *,
        trusted: Trust = False,
        environment_check: EnvironmentCheck | None = None,
        expect: type[Any] | None = None,
        seen: MutableMapping[str, int] | None = None,
    ) -> Any:
        """Load a model after checking its manifest and every file against its sha256.

        Under a trust policy, loading through an alias (``"churn@production"``) also
        checks the alias's newest audit event: it must carry a record signed by a
        trusted key for this registry, naming the version the alias points at and its
        manifest digest. An alias moved without one (by an older prodml, or a registry
        without a signer) warns (:class:`~prodml.registry.signing.UnsignedAliasWarning`)
        and loads, unless the policy is ``strict``. ``seen`` is this client's memory
        of the records it accepted (``{"churn@production": 41}``, kept by the caller,
        e.g. in a JSON file): a record with a lower sequence number than the one seen,
        or an unsigned alias once one was seen, is refused as a rollback; after a
        successful load ``seen`` is updated. Loading ``latest`` (``"churn"``) with
        ``seen`` remembers the version number under ``"churn@latest"`` and refuses a
        ``latest`` that went back from it, unless that version left by a signed archive
        or delete. Every version loaded under a trust policy, by number too, must also
        agree with its newest signed status record (archived, restored, deleted).

        ``trusted`` allows pickle-based formats: ``True``, or for skops a list of type
        names to trust. ``environment_check`` overrides :attr:`environment_check` for
        this call (see :mod:`prodml.registry._environment`). ``expect``, a class, checks
        what was loaded (``isinstance``) and types the result for a type checker:
        ``reg.load("churn@production", expect=Pipeline)`` is a ``Pipeline``; without
        it the result is ``Any``.

        Raises
        ------
        ConfigError
            When ``expect`` is not a class.
        IntegrityError
            When the version's metadata is unsafe (a path leaving its key, a link), or a
            file is missing, was changed, or a file was added.
        IntegrityError
            Under a trust policy, when the alias points elsewhere than its newest signed
            record, its record does not verify, names another registry or version
            digest, or went backwards from ``seen``; when the version's status differs
            from its newest signed status record; when the policy pins another registry
            id than the store keeps.
        RegistryError
            When loading would need ``trusted`` and it was not given, or what was loaded
            is not an instance of ``expect`` (naming both types).
        EnvironmentMismatchError
            With ``environment_check="error"``, when numpy, scikit-learn, scipy, pandas,
            pyarrow or skops has another major version than when the model was
            registered (with ``"warn"``: an ``EnvironmentMismatchWarning``).
        """
        if expect is not None and not isinstance(expect, type):
            raise ConfigError(
                f"expect must be a class, e.g. sklearn.pipeline.Pipeline. Got "
                f"{short_repr(expect)}.",
                parameter="expect",
            )
        mv = self._checked(self.get(ref, version))
        mark = self._alias_checked(ref, version, mv, seen)
        if mv.encryption is not None and self.encryption is None:
            raise RegistryError(
                f"{mv.ref} is encrypted (key {mv.encryption.key_id[:80]!r}); open the "
                "registry with encryption= (a KeyProvider holding that key) to load it",
                model_name=mv.name,
                version=mv.version,
            )
        check_environment(
            (mv.lineage.model_extra or {}).get("environment"),
            self.environment_check if environment_check is None else environment_check,
            model_name=mv.name,
            version=mv.version,
        )
        path, temporary = self.artifacts.fetch(
            mv.artifact_key, mv.files, model_name=mv.name, version=mv.version
        )
        plain: Path | None = None
        try:
            if mv.encryption is not None:
                plain = Path(tempfile.mkdtemp(prefix="prodml-plain-"))
                _protect.decrypt(mv, path, plain, self.encryption)
            source = path if plain is None else plain
            model = get_flavour(mv.flavour).load(source, dict(mv.flavour_meta), trusted=trusted)
        except RegistryError as err:
            if type(err) is not RegistryError or err.model_name is not None:
                raise
            # A flavour does not know which version it loads: name it (the untrusted
            # pickle and skops refusals above all, which say how to opt in).
            raise RegistryError(
                f"cannot load {mv.name} version {mv.version}: {err}",
                model_name=mv.name,
                version=mv.version,
            ) from err
        except OSError as err:
            raise StorageError(
                f"cannot load {mv.ref}: {err.strerror or err} ({getattr(err, 'filename', '')})",
                path=str(getattr(err, "filename", "")),
                errno=err.errno,
            ) from err
        finally:
            if plain is not None:
                shutil.rmtree(plain, ignore_errors=True)
            if temporary:
                shutil.rmtree(path, ignore_errors=True)
        if expect is not None and not isinstance(model, expect):
            raise RegistryError(
                f"{mv.ref} loads as {type(model).__qualname__}, not the "
                f"{expect.__qualname__} expected",
                model_name=mv.name,
                version=mv.version,
            )
        if mark is not None and seen is not None:  # only once everything passed
            seen[mark[0]] = mark[1]
        return model

    def verify(
        self,
        ref: str,
        version: int | str | None = None,
        *,
        seen: MutableMapping[str, int] | None = None,
    ) -> ModelVersion:
        """Check a version's manifest and files against their hashes without loading it.

        Through an alias, under a trust policy, the alias's signed record is checked as
        :meth:`load` does (``seen`` likewise).
        """
        mv = self._checked(self.get(ref, version))
        mark = self._alias_checked(ref, version, mv, seen)
        self.artifacts.verify(mv.artifact_key, mv.files, model_name=mv.name, version=mv.version)
        if mark is not None and seen is not None:
            seen[mark[0]] = mark[1]
        return mv

    def _alias_checked(
        self,
        ref: str,
        version: int | str | None,
        mv: ModelVersion,
        seen: MutableMapping[str, int] | None,
    ) -> tuple[str, int] | None:
        """Check the alias ``ref`` names against its newest signed record.

        Returns ``("name@alias", sequence number)`` to remember once the load succeeds,
        or ``None`` (no trust policy, not an alias, or a legacy alias allowed to load).
        """
        trust: TrustPolicy | None = getattr(self, "trust", None)
        if seen is not None:
            if trust is None:
                raise ConfigError(
                    "seen= checks signed alias records, so it needs a registry opened "
                    "with trust= (a TrustPolicy)",
                    parameter="seen",
                )
            if not isinstance(seen, MutableMapping):
                raise ConfigError(
                    f"seen must be a dict of 'name@alias' -> sequence number. Got "
                    f"{type(seen).__name__} instead.",
                    parameter="seen",
                )
        name, selector = parse_ref(ref, version)
        if trust is None or not isinstance(selector, (str, type(None))):
            return None
        latest = selector is None or selector == "latest"
        key = f"{name}@{'latest' if latest else selector}"
        last = None if seen is None else seen.get(key)
        if last is not None and (type(last) is not int or last < 0):
            raise ConfigError(
                f"seen[{key!r}] must be a "
                + ("version number" if latest else "sequence number")
                + f" (an int >= 0). Got {short_repr(last)} instead.",
                parameter="seen",
            )
        if latest:
            high, counted_by = self._signed_high(name, trust)
            if high is not None and high > mv.version and (last is None or high > last):
                last = high
            else:
                counted_by = None
            if seen is None and last is None:
                return None
            checked = self._latest_checked(key, mv, last, trust, counted_by)
            return None if seen is None else checked

        def refuse(why: str) -> IntegrityError:
            return IntegrityError(
                f"{key} {why}; refusing to use it", model_name=name, version=mv.version
            )

        page = self.metadata.history_page(name, selector, page_size=1)
        if page.problems:
            raise refuse("has a newest audit event that cannot be read")
        event = page.items[0] if page.items else None
        if event is None or "signed" not in event.detail:
            why = (
                "has no audit event"
                if event is None
                else f"was last moved without a signed record (audit event {event.seq})"
            )
            if last is not None:
                raise refuse(
                    f"{why}, but this client already accepted its signed record "
                    f"{last}: the database was changed behind the registry"
                )
            if trust.strict:
                raise refuse(f"{why} and the trust policy is strict")
            warnings.warn(
                UnsignedAliasWarning(
                    f"{key} {why}: a writer of the database could have moved it; "
                    "strict=True in the TrustPolicy refuses such aliases"
                ),
                stacklevel=3,
            )
            return None
        record = verify_event(event, trust, _trust.identity(self.metadata, trust, create=False))
        if record["action"] == "delete_alias" or record["version"] != mv.version:
            signed_to = record["version"] if record["action"] != "delete_alias" else None
            raise refuse(
                f"points at version {mv.version}, but its newest signed record (sequence "
                f"{record['seq']}) "
                + (f"points at version {signed_to}" if signed_to else "deleted the alias")
                + ": the database was changed behind the registry (a rollback?)"
            )
        if record["digest"] != version_digest(mv):
            raise refuse(
                f"points at a version {mv.version} whose manifest differs from the one its "
                f"signed record (sequence {record['seq']}) names"
            )
        if trust.max_age is not None:
            age = _record_age(record)
            if age is None or age > trust.max_age:
                raise refuse(
                    f"has a newest signed record (sequence {record['seq']}) "
                    + ("whose time cannot be read" if age is None else f"{age:.0f} s old")
                    + f", past the trust policy's max_age of {trust.max_age:g} s: the "
                    "database may be frozen at an old state (the writer re-signs aliases "
                    "with set_alias(..., expected_version=) in time)"
                )
        if last is not None and record["seq"] < last:
            raise refuse(
                f"has a newest signed record with sequence {record['seq']}, older than the "
                f"{last} this client already accepted: the database was rolled back"
            )
        return key, record["seq"]

    def _signed_high(self, name: str, trust: TrustPolicy) -> tuple[int | None, int | None]:
        """The highest version number the model's newest signed record counts, and its seq.

        Read from the newest few events (a record of a move or status change written by
        this prodml carries ``high``); ``(None, None)`` when none of them carries one.
        """
        page = self.metadata.history_page(name, None, page_size=8)
        for event in page.items:
            if "signed" in event.detail and event.action != "prune_history":
                record = verify_event(
                    event, trust, _trust.identity(self.metadata, trust, create=False)
                )
                high = record["high"]
                return (high, event.seq) if type(high) is int else (None, None)
        return None, None

    def _latest_checked(
        self,
        key: str,
        mv: ModelVersion,
        last: int | None,
        trust: TrustPolicy,
        counted_by: int | None = None,
    ) -> tuple[str, int]:
        """Check that ``latest`` did not go back from the newest version known to exist.

        That is the one this client saw (``seen``), or the highest number the model's
        newest signed record counts (that record's seq in ``counted_by``). It may go back
        only when that version left by a signed archive or delete (its newest status
        record verifies and says so); a version whose row was deleted or archived behind
        the registry is refused. Returns what to remember.
        """
        if last is None or mv.version >= last:
            return key, mv.version
        try:
            gone = self.metadata.get_version(mv.name, last, include_deleted=True)
        except NotFoundError:
            gone = None
        event = None if gone is None else _trust.newest_status_event(self.metadata, gone)
        if gone is None or gone.status == "ready" or event is None or "signed" not in event.detail:
            raise IntegrityError(
                f"{key} is version {mv.version}, but "
                + (
                    "this client already saw"
                    if counted_by is None
                    else f"the model's newest signed record (audit event {counted_by}) counts"
                )
                + f" version {last}, which is "
                + ("missing" if gone is None else f"{gone.status} without a signed record")
                + ": the database was changed behind the registry (a newer version hidden); "
                "refusing to use it",
                model_name=mv.name,
                version=mv.version,
            )
        registry = _trust.identity(self.metadata, trust, create=False)
        _trust.check_status(self.metadata, trust, registry, gone)
        return key, mv.version

    def _checked(self, mv: ModelVersion) -> ModelVersion:
        """The one gate every version passes before its files are touched."""
        return _manifest.check(self._trusted(mv, fresh=True))

    def search(
        self,
        name: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        min_metrics: Mapping[str, float] | None = None,
        max_metrics: Mapping[str, float] | None = None,
        include_archived: bool = True,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """A page of versions matching every filter, by name then newest first.

        Pass ``page.next_token`` back as ``page_token`` for the next page (keyset
        paging: each page costs the same, however deep).
        """
        if name is not None:
            check_name(name)
        filters = check_fields(tags, "", None, None, None)["tags"]
        bounds = [
            check_fields(None, "", None, m, None)["metrics"] for m in (min_metrics, max_metrics)
        ]
        return self.metadata.search(
            name,
            tags=filters,
            min_metrics=bounds[0],
            max_metrics=bounds[1],
            statuses=("ready", "archived") if include_archived else ("ready",),
            page_size=page_size,
            page_token=page_token,
        )

    def models(self) -> list[str]:
        """Names of every model with a version, sorted."""
        return self.metadata.model_names()

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version of one model.

        An alias row edited in the database (a name that is not an alias name, a version
        that is not one of the model's) is left out with an
        :class:`~prodml.registry.UnreadableRecordWarning`; ``get("m@alias")`` of such an
        alias raises :class:`~prodml.errors.IntegrityError`.
        """
        return self.metadata.aliases(check_name(name))

    def history(
        self,
        name: str,
        *,
        alias: str | None = None,
        page_size: int = 100,
        page_token: str | None = None,
    ) -> Page[AuditEvent]:
        """A page of the audit log of ``name``, newest first.

        Every register, alias change, archive, restore and delete is there. Pass
        ``page.next_token`` back as ``page_token`` for older events.

        Raises
        ------
        NotFoundError
            When the model does not exist.
        """
        check_name(name)
        if alias is not None:
            check_alias(alias)
        page = self.metadata.history_page(name, alias, page_size=page_size, page_token=page_token)
        if not page.items and page_token is None and not self.metadata.has_model(name):
            raise NotFoundError(f"model {name!r} does not exist", model_name=name)
        return page

    def card(self, ref: str, version: int | str | None = None, **fields: str) -> ModelCard:
        """The model card of a version: ``reg.card("churn@production")``.

        Built from the version (description, metrics, signature, lineage, recorded
        environment, fairness and importance summaries in its lineage), the audit log
        (registration, approvals, alias moves) and the current aliases; see
        :mod:`prodml.registry._card`. ``fields`` set or override the intended-use
        fields (``intended_use``, ``out_of_scope``, ``limitations``, ``owner``), which
        otherwise come from tags of those names.

        Raises
        ------
        NotFoundError
            When the model, version or alias does not exist.
        ConfigError
            For an unknown field.
        """
        mv = self.get(ref, version)
        events: list[AuditEvent] = []
        token = None
        while True:
            page = self.history(mv.name, page_token=token)
            events.extend(page)
            token = page.next_token
            if token is None:
                break
        return build_card(mv, events, self.aliases(mv.name), fields)
