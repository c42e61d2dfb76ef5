"""The page tokens of ``search``: a keyset position, bound to its query, checked.

A token carries the sort key ``(name, version)`` of the last row a page returned, as the
store holds it, and the next page asks for the rows strictly after it (the key is the
table's primary key, so there are no ties). Rows registered, deleted, archived or
re-aliased between two page reads therefore never make a page repeat or skip a row that
existed throughout: the position is a value, not a count of rows before it.

A token also carries a fingerprint of its query's filters and a checksum of the whole.
Tokens are caller input, so :func:`parse_search_token` refuses, with a
:class:`~prodml.errors.ConfigError` that names the token without quoting it, a token that
is not one of ours, one that was altered (the checksum), and one from a search with other
filters (the fingerprint). The checksum is a digest, not a keyed MAC: it catches
truncation, typos and edits, not a forger who recomputes it, and needs none (a token can
only choose where a listing of the same query starts, never what it may return).

One case keeps a count: a third-party store may report an unreadable row without its
stored key (:attr:`~prodml.registry.RecordProblem.sort_key` unset). The token then keeps
the last position before such rows plus how many came after it (as older tokens did for
every unreadable row). The shipped stores always give the key, unless a SQLite row's
version column was edited into something that is not a 32-bit integer.

Examples
--------
>>> q = VersionQuery(name="churn")
>>> token = search_token([], ("churn", 3), 0, q)
>>> parse_search_token(token, q)
(('churn', 3), 0)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import NoReturn

from prodml.errors import ConfigError, IntegrityError
from prodml.registry._formats import RecordProblem
from prodml.registry.backends._records import VersionQuery
from prodml.registry.entities import ModelVersion

__all__ = ["MAX_SKIP", "TOKEN_PREFIX", "parse_search_token", "query_fingerprint", "search_token"]

TOKEN_PREFIX = "s2."  # noqa: S105 - the start of a page token, not a password
"""How every ``search`` token of this format starts (older ones were ``name@version``)."""

MAX_SKIP = 10**6
"""The most keyless unreadable rows a token counts past (a token past it is not ours)."""

MAX_TOKEN = 2048
"""The longest token read; ours are far shorter (a key name is at most ``_MAX_KEY``)."""

_MAX_KEY = 512
_INT32 = 2**31  # the version column is a 32-bit INTEGER on PostgreSQL
_CHECK = 16  # hex characters of the checksum
# Built once: json.dumps with these settings builds an encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)


def query_fingerprint(query: VersionQuery) -> str:
    """A short digest of the filters that decide which rows a search returns."""
    spec = [
        query.name,
        sorted(query.statuses),
        sorted(query.tags.items()),
        sorted((k, repr(float(v))) for k, v in query.min_metrics.items()),
        sorted((k, repr(float(v))) for k, v in query.max_metrics.items()),
        query.descending,
    ]
    text = _COMPACT.encode(spec)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _checksum(body: str) -> str:
    return hashlib.sha256(b"prodml search page token\0" + body.encode()).hexdigest()[:_CHECK]


def search_token(
    records: Sequence[ModelVersion | RecordProblem],
    after: tuple[str, int] | None,
    skip: int,
    query: VersionQuery,
    fingerprint: str | None = None,
) -> str:
    """The token of the page after ``records`` (read after ``after``, skipping ``skip``).

    The last record with a stored key gives the position; keyless records after it (see
    the module docstring) are counted in the skip. ``fingerprint``: the query's
    :func:`query_fingerprint`, when the caller has it already.
    """
    for i in range(len(records) - 1, -1, -1):
        position = _position(records[i])
        if position is not None:
            after, skip = position, len(records) - 1 - i
            break
    else:
        skip += len(records)
    if skip > MAX_SKIP:
        raise IntegrityError(
            f"search met more than {MAX_SKIP} unreadable version rows in a row; the "
            "metadata store was edited or corrupted",
        )
    payload = [None, None, skip, fingerprint or query_fingerprint(query)]
    if after is not None:
        payload[:2] = after
    body = base64.urlsafe_b64encode(_COMPACT.encode(payload).encode()).decode()
    return f"{TOKEN_PREFIX}{body}.{_checksum(body)}"


def _position(record: ModelVersion | RecordProblem) -> tuple[str, int] | None:
    """Where ``record`` sorts: its stored key, when it has one a token can carry."""
    if isinstance(record, ModelVersion):
        return record.name, record.version
    key = record.sort_key
    if key is None:
        return None
    name, version = key
    if type(name) is not str or len(name) > _MAX_KEY or type(version) is not int:
        return None
    return (name, version) if -_INT32 <= version < _INT32 else None


def parse_search_token(
    token: object, query: VersionQuery, fingerprint: str | None = None
) -> tuple[tuple[str, int] | None, int]:
    """The keyset position and skip of a ``search`` page token for ``query``.

    ``fingerprint``: the query's :func:`query_fingerprint`, when the caller has it already.

    Raises
    ------
    ConfigError
        When ``token`` is not a token ``search`` returned, was altered, or was returned
        by a search with other filters; the message shows its first characters only.
    """
    if token is None:
        return None, 0
    if not isinstance(token, str):
        _refuse(token, "is not a token returned by search (a str)")
    if token.startswith("+") or (not token.startswith(TOKEN_PREFIX) and "@" in token[:200]):
        _refuse(
            token,
            "is a page token of an older prodml (a version reference), which search "
            "no longer reads: its rows may have moved since; search again from the first "
            "page",
        )
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN or not token.isascii():
        _refuse(token, "is not a token returned by search")
    body, _, check = token[len(TOKEN_PREFIX) :].rpartition(".")
    if not hmac.compare_digest(check, _checksum(body)):
        _refuse(token, "was altered or truncated (its checksum does not match)")
    try:
        payload = json.loads(base64.urlsafe_b64decode(body.encode()))
    except (ValueError, RecursionError, binascii.Error):
        payload = None
    if not isinstance(payload, list) or len(payload) != 4:
        _refuse(token, "is not a token returned by search")
    name, version, skip, _ = payload
    if payload[3] != (fingerprint or query_fingerprint(query)):
        _refuse(
            token,
            "was returned by a search with other filters (name, tags, metrics or "
            "include_archived); pass the same filters, or start again without page_token",
        )
    if type(skip) is not int or not 0 <= skip <= MAX_SKIP:
        _refuse(token, "is not a token returned by search")
    if name is None and version is None:
        return None, skip
    if type(name) is not str or type(version) is not int or len(name) > _MAX_KEY:
        _refuse(token, "is not a token returned by search")
    if not -_INT32 <= version < _INT32 or "\0" in name:
        _refuse(token, "is not a token returned by search")
    if not name.isascii() and not _encodable(name):  # model names are ASCII: one C scan
        _refuse(token, "is not a token returned by search")
    if query.name is not None and name != query.name:
        _refuse(token, "was returned by a search with other filters (another name)")
    return (name, version), skip


def _encodable(text: str) -> bool:
    """Whether a database driver can send ``text`` (no lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _refuse(token: object, why: str) -> NoReturn:
    """Raise the ConfigError for a bad token, naming it by its start and length only."""
    if isinstance(token, str):
        start = token[: min(8, len(token) // 2)]
        start = "".join(c if c.isascii() and c.isprintable() else "?" for c in start)
        shown = f"{start!r}... ({len(token)} characters)"
    else:
        shown = f"of type {type(token).__name__}"
    raise ConfigError(f"page_token {shown} {why}", parameter="page_token")
