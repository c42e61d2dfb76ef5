"""Format versions of the records a registry stores, and how a reader reports bad ones.

A metadata store keeps two kinds of JSON record: a version's record (the SQL stores'
``payload`` column) and an audit event's ``detail``. A record without a
``format_version`` is format 1, so format-1 records are written without one (a prodml
from before format versions, which refuses unknown fields, reads them too); later formats
will be written with theirs. On read, a record with a *newer* one raises
:class:`NewerFormatError` ("upgrade prodml"), never "corrupted"; anything else that is
wrong with it is an :class:`~prodml.errors.IntegrityError`.

Reading one record directly (``get``, ``load``, an alias, ``rollback``) raises those
errors. Listing (``search``, ``history``, ``all_versions``, the CLI) skips the records it
cannot read, warns once per record with an :class:`UnreadableRecordWarning` naming the
model, the version (or audit event) and what is wrong, never the record's content, and
hands the same as :class:`RecordProblem` objects in ``Page.problems``.

Examples
--------
>>> data = {"format_version": 1, "name": "churn"}
>>> check_format(data, what="the record", model_name="churn", version=3)
>>> data
{'name': 'churn'}
>>> check_format({"format_version": 9}, what="the record", model_name="churn", version=3)
Traceback (most recent call last):
...
prodml.registry._formats.NewerFormatError: the record of churn version 3 has format_version 9; ...
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from prodml.errors import IntegrityError, RegistryError

__all__ = [
    "EVENT_FORMAT",
    "VERSION_FORMAT",
    "NewerFormatError",
    "RecordProblem",
    "UnreadableRecordWarning",
    "check_format",
    "parse_object",
    "report",
    "validation_reason",
]

VERSION_FORMAT = 1
"""The ``format_version`` of the version records this prodml writes and reads."""
EVENT_FORMAT = 1
"""The ``format_version`` of the audit event details this prodml writes and reads."""


MAX_FORMAT = 1000
"""The largest ``format_version`` read as a format: above, the record was edited."""


class NewerFormatError(RegistryError):
    """A stored record has a ``format_version`` newer than this prodml reads.

    A newer prodml wrote it: upgrade prodml to read it. ``model_name`` and ``version``
    name the record, ``found`` is its format and ``supported`` the one this prodml reads.
    """

    def __init__(
        self,
        message: str,
        *,
        model_name: str | None = None,
        version: int | str | None = None,
        found: int = 0,
        supported: int = 0,
    ) -> None:
        self.found = found
        self.supported = supported
        super().__init__(message, model_name=model_name, version=version)


class UnreadableRecordWarning(UserWarning):
    """A listing skipped a stored record it cannot read (see :class:`RecordProblem`)."""


@dataclass(frozen=True)
class RecordProblem:
    """A stored record a listing skipped, and why.

    Attributes
    ----------
    kind
        ``"version"`` (a version's record), ``"event"`` (an audit event) or ``"alias"``
        (an alias's row: its name or version edited, or its version gone).
    model_name, version
        The model and version the record belongs to (``version``: ``None`` for an audit
        event about the whole model, or an alias whose version is not a version number).
    seq
        The audit event's sequence number (``None`` otherwise).
    error
        What reading the record directly raises: a :class:`NewerFormatError` or an
        :class:`~prodml.errors.IntegrityError`; its message names the record and what is
        wrong, never the record's content.
    """

    kind: Literal["version", "event", "alias"]
    model_name: str
    version: int | None
    seq: int | None
    error: RegistryError
    alias: str | None = None
    """The alias of an ``"alias"`` problem, when its stored name is a valid alias name
    (``None`` otherwise: a name that is not valid is never repeated)."""
    sort_key: tuple[object, object] | None = field(default=None, repr=False, compare=False)
    """A version row's stored ``(name, version)`` columns as the store holds them, edited
    or not, so ``search`` can page past the row (never shown: see ``model_name``)."""

    @property
    def message(self) -> str:
        """The error's message."""
        return str(self.error)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_SUITES = os.path.join(_PACKAGE, "testing") + os.sep


def caller_stacklevel() -> int:
    """The ``stacklevel`` that makes the caller's ``warnings.warn`` name the user's line.

    That is the first frame, going out, that is not prodml's own code (the conformance
    suites in ``prodml.testing`` count as the user's: they are tests). A fixed stacklevel
    would name a line of prodml for every path but one (``reg.search``,
    ``reg.metadata.search``, ``reg.card``, the retrain controller reach one listing at
    different depths).
    """
    frame = sys._getframe(1)  # the function that calls warnings.warn: stacklevel 1
    level = 1
    while frame.f_back is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE) or filename.startswith(_SUITES):
            break
        frame = frame.f_back
        level += 1
    return level


def report(problems: list[RecordProblem]) -> None:
    """Warn once per problem with an :class:`UnreadableRecordWarning` (its message).

    The warning names the line of the user's code that asked for the listing (see
    :func:`caller_stacklevel`).
    """
    for problem in problems:
        warnings.warn(
            f"skipped an unreadable record: {problem.message}",
            UnreadableRecordWarning,
            stacklevel=caller_stacklevel(),
        )


def warn_unreadable(message: str) -> None:
    """Warn that a listing skipped something unreadable, at the caller's line."""
    warnings.warn(
        f"skipped an unreadable record: {message}",
        UnreadableRecordWarning,
        stacklevel=caller_stacklevel(),
    )


def check_format(
    data: dict[str, Any],
    *,
    what: str,
    model_name: str,
    version: int | None,
    current: int = VERSION_FORMAT,
) -> None:
    """Remove ``format_version`` from ``data`` after checking it is one this prodml reads.

    A missing one means the current format (records written before format versions).
    ``what`` names the record in messages ("the record", "audit event 12").

    Raises
    ------
    NewerFormatError
        For a format newer than ``current``.
    IntegrityError
        For a ``format_version`` that is not a format (an int >= 1).
    """
    found = data.pop("format_version", current)
    of = f"{what} of {model_name}" + ("" if version is None else f" version {version}")
    if type(found) is not int or not 1 <= found <= MAX_FORMAT:
        raise IntegrityError(
            f"{of} has a format_version that is not a format number (an int in [1, "
            f"{MAX_FORMAT}]); it was edited or corrupted",
            model_name=model_name,
            version=version,
        )
    if found > current:
        raise NewerFormatError(
            f"{of} has format_version {found}; this prodml reads format_version {current}: "
            "a newer prodml wrote it, upgrade prodml to read it",
            model_name=model_name,
            version=version,
            found=found,
            supported=current,
        )


def parse_object(text: object, *, what: str, model_name: str, version: int | None) -> Any:
    """The JSON object ``text`` holds; IntegrityError (quoting none of it) otherwise."""
    of = f"{what} of {model_name}" + ("" if version is None else f" version {version}")
    try:
        data = json.loads(text) if isinstance(text, str | bytes) else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise IntegrityError(
            f"{of} is not a JSON object; it was edited or corrupted",
            model_name=model_name,
            version=version,
        )
    return data


def validation_reason(err: ValidationError) -> str:
    """The first problem pydantic found: where and what, never the value itself."""
    first = err.errors(include_url=False, include_input=False)[0]
    known = _field_names()
    loc = first["loc"]
    # A location also holds the record's own mapping keys (a tag, a file): not repeated.
    parts = [str(p) if isinstance(p, int) or p in known else "<key>" for p in loc]
    if first["type"] == "extra_forbidden" and len(loc) == 1 and _plain_name(loc[0]):
        # A top-level field this prodml does not know (a newer one may write it): its name
        # is what the operator needs, and a plain identifier quotes no data.
        parts = [str(loc[0])]
    where = ".".join(parts) or "the record"
    # A custom validator's message may quote the value; pydantic's own never do.
    custom = first["type"] in ("value_error", "assertion_error")
    return f"{where[:80]}: {'an invalid value' if custom else str(first['msg'])[:120]}"


def _plain_name(key: object) -> bool:
    """An ASCII identifier of at most 64 characters: a field's name, not free text."""
    return isinstance(key, str) and len(key) <= 64 and key.isascii() and key.isidentifier()


def _field_names() -> frozenset[str]:
    """The field names (and aliases) of every pydantic model prodml defines."""
    from pydantic import BaseModel  # noqa: PLC0415 - pydantic is imported already

    names: set[str] = set()
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("prodml."):
            for key, info in cls.model_fields.items():
                names.add(key)
                if isinstance(info.alias, str):
                    names.add(info.alias)
    return frozenset(names)
