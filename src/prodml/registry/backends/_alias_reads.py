"""The alias reads of a metadata store (a mixin of its base): every row checked on read.

An alias row read back is hostile until checked (:func:`~prodml.registry.backends.
_records.alias_entry`): a direct read (:meth:`AliasReads.alias_version`) raises
:class:`~prodml.errors.IntegrityError` for a bad row, a listing
(:meth:`AliasReads.aliases`) skips it with an
:class:`~prodml.registry._formats.UnreadableRecordWarning`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prodml.errors import NotFoundError
from prodml.registry._formats import RecordProblem, report
from prodml.registry._paths import MAX_VERSION
from prodml.registry.backends._records import (
    AliasRow,
    VersionQuery,
    alias_entry,
    alias_record,
)

if TYPE_CHECKING:
    from prodml.registry.entities import ModelVersion

__all__ = ["AliasReads"]


class AliasReads:
    """Alias rows read back and checked, written once on top of ``_aliases``."""

    if TYPE_CHECKING:

        def _aliases(self, name: str) -> dict[str, int]:
            """Alias -> version for one model, as stored (a store's primitive)."""

        def _version_records(self, query: VersionQuery) -> list[ModelVersion | RecordProblem]:
            """The versions matching ``query``, a problem in place of each unreadable one."""

        def get_version(self, name: str, version: int) -> ModelVersion:
            """One live version by number (NotFoundError otherwise)."""

    def _alias_rows(self, name: str, alias: str | None = None) -> list[AliasRow]:
        """The alias rows of ``name`` (only ``alias``'s, when given) as stored, unchecked.

        Each is ``(alias, version, exists)``, ``exists`` saying whether the version is a
        live version of the model. Not abstract: the default reads :meth:`_aliases` and
        looks each version up; a store may answer in one read (the SQL store joins).
        """
        stored = self._aliases(name)
        if alias is not None:
            stored = {alias: stored[alias]} if alias in stored else {}
        rows: list[AliasRow] = []
        for key, version in stored.items():
            query = VersionQuery(name=name, version=version, limit=1)
            exists = type(version) is int and version > 0 and bool(self._version_records(query))
            rows.append((key, version, exists))
        return rows

    def alias_version(self, name: str, alias: str) -> int:
        """The version ``alias`` points at.

        Raises
        ------
        NotFoundError
            When the model has no such alias.
        IntegrityError
            When the stored alias row was edited: its version is not a version number,
            or not a live version of the model.
        """
        rows = self._alias_rows(name, alias)
        if not rows:
            raise NotFoundError(
                f"model {name!r} has no alias {alias!r}", model_name=name, version=alias
            )
        return alias_entry(name, rows[0])[1]

    def alias_target(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at, read and checked.

        A store that overrides :meth:`_alias_rows` answers in its reads plus one version
        read. A store with only :meth:`_aliases` pays one alias read and one version read:
        the version read is also the proof that the version exists (the default
        :meth:`_alias_rows` would read it once to check it, and again to return it).

        Raises
        ------
        NotFoundError
            When the model has no such alias.
        IntegrityError
            When the stored alias row was edited (see :meth:`alias_version`), or the
            version's own record cannot be read.
        NewerFormatError
            When a newer prodml wrote the version's record.
        """
        if type(self)._alias_rows is not AliasReads._alias_rows:
            return self.get_version(name, self.alias_version(name, alias))
        stored = self._aliases(name)
        if alias not in stored:
            raise NotFoundError(
                f"model {name!r} has no alias {alias!r}", model_name=name, version=alias
            )
        version = stored[alias]
        found: list[ModelVersion | RecordProblem] = []
        if type(version) is int and 1 <= version <= MAX_VERSION:
            found = self._version_records(VersionQuery(name=name, version=version, limit=1))
        alias_entry(name, (alias, version, bool(found)))  # IntegrityError for a bad row
        if isinstance(found[0], RecordProblem):
            raise found[0].error
        return found[0]

    def aliases(self, name: str) -> dict[str, int]:
        """Alias -> version of one model, every row checked.

        A row that cannot be read (a name that is not an alias name, a version that is
        not a live version of the model) is left out, with an
        :class:`~prodml.registry._formats.UnreadableRecordWarning` naming the model (and
        the alias, when its name is valid).
        """
        records = [alias_record(name, row) for row in self._alias_rows(name)]
        report([r for r in records if isinstance(r, RecordProblem)])
        return dict(sorted(r for r in records if not isinstance(r, RecordProblem)))
