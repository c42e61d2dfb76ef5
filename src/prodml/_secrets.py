"""Keeping credentials out of every message, repr, attribute and log line prodml makes.

The registry's and the feature store's URLs and storage options carry credentials (``postgresql://user:pw@host/db``,
``s3://bucket?token=...``, ``storage_options={"secret": ...}``). A store keeps the real
values only to connect, shows the URL through :func:`redact_url`, and passes every message
it builds from a third-party error through :meth:`Secrets.scrub`, which replaces each
secret it was given (as written, and percent-decoded) with ``***``.

Examples
--------
>>> redact_url("postgresql+psycopg://ann:hunter2@db:5432/mlops?sslmode=require&password=x1")
'postgresql+psycopg://ann:***@db:5432/mlops?sslmode=require&password=***'
>>> Secrets.of("s3://b/p", {"key": "AKIA1", "secret": "s3cr3t"}).scrub("bad secret s3cr3t")
'bad secret ***'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

__all__ = [
    "MASK",
    "Secrets",
    "is_secret_name",
    "mask_secret_keys",
    "mask_secrets",
    "redact_options",
    "redact_url",
]

MASK = "***"
_SECRET_NAME = re.compile(
    r"pass|secret|token|key|credential|auth|sig|session|private|cert|sas|cookie", re.I
)


def is_secret_name(name: object) -> bool:
    """Whether an option or query parameter called ``name`` holds a credential."""
    return isinstance(name, str) and _SECRET_NAME.search(name) is not None


def _split(url: str) -> tuple[str, str, str, str, str]:
    """``url`` as (scheme + ``://``, userinfo, host and path, query, fragment), verbatim."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    else:
        scheme += sep
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    authority_end = len(rest) if "/" not in rest else rest.index("/")
    userinfo, at, _host = rest[:authority_end].rpartition("@")
    return scheme, userinfo if at else "", rest[len(userinfo) + len(at) :], query, fragment


def redact_url(url: str) -> str:
    """``url`` with its password and credential-like query values replaced by ``***``.

    Everything else is kept exactly as written; a fragment is dropped.
    """
    scheme, userinfo, rest, query, _fragment = _split(url)
    if userinfo:
        user, colon, _pw = userinfo.partition(":")
        rest = f"{user}:{MASK}@{rest}" if colon else f"{userinfo}@{rest}"
    if query:
        pairs = []
        for pair in query.split("&"):
            name, eq, _value = pair.partition("=")
            pairs.append(f"{name}={MASK}" if eq and is_secret_name(unquote(name)) else pair)
        rest += "?" + "&".join(pairs)
    return scheme + rest


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Storage options with every credential-like value (nested too) replaced by ``***``."""
    out: dict[str, Any] = {}
    for k, v in options.items():
        if is_secret_name(k):
            out[k] = MASK
        elif isinstance(v, Mapping):
            out[k] = redact_options(v)
        else:
            out[k] = v
    return out


def _url_secrets(url: str) -> Iterable[str]:
    _scheme, userinfo, _rest, query, fragment = _split(url)
    _user, colon, pw = userinfo.partition(":")
    if colon:
        yield pw
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and is_secret_name(unquote(name)):
            yield value
    if fragment:
        yield fragment


def _option_secrets(options: Mapping[str, Any], inherited: bool = False) -> Iterable[str]:
    for k, v in options.items():
        secret = inherited or is_secret_name(k)
        if isinstance(v, Mapping):
            yield from _option_secrets(v, secret)
        elif secret and isinstance(v, str | bytes):
            yield v.decode("utf-8", "replace") if isinstance(v, bytes) else v


class Secrets:
    """The credentials a store was opened with, kept only to be scrubbed from text.

    Parameters
    ----------
    values
        The secret strings. Values shorter than 4 characters are ignored (masking them
        would garble ordinary text, and they are not secrets worth the name).
    """

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str] = ()) -> None:
        found: set[str] = set()
        for v in values:
            for form in (v, unquote(v)):
                if len(form) >= 4:
                    found.add(form)
        self._values = tuple(sorted(found, key=len, reverse=True))

    @classmethod
    def of(cls, url: str | None = None, options: Mapping[str, Any] | None = None) -> Secrets:
        """The secrets in a store URL and its storage options."""
        values = list(_url_secrets(url)) if url else []
        values += list(_option_secrets(options or {}))
        return cls(values)

    def __add__(self, other: Secrets) -> Secrets:
        return Secrets(self._values + other._values)

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for v in self._values:
            if v in text:
                text = text.replace(v, MASK)
        return text

    def found_in(self, text: str) -> bool:
        """Whether any secret occurs in ``text``."""
        return any(v in text for v in self._values)

    def __repr__(self) -> str:
        return f"Secrets({len(self._values)} hidden)"


# -- free text a user wrote (tags, descriptions, lineage): credentials by their shape --

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"']+")
# An access key id: its prefix and the run of 8 or more upper-case letters and digits
# after it, wherever it sits. Glued to text on either side ("ref" + id, "KEY" + id + "2"),
# shorter or longer than the usual 20 (AWS documents 16 to 128), or cut short by a quote
# that keeps its tail, it is still one; masking a little too much costs a reader nothing.
_AWS_KEY_ID = re.compile(r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{8,}")


def mask_secrets(text: str) -> str:
    """``text`` with the credentials of its URLs and its AWS access key ids masked.

    For text the registry did not make and holds no :class:`Secrets` for: a tag, a
    description, a ``code_version`` that is a clone URL with a token in it.

    Examples
    --------
    >>> mask_secrets("built from https://ci:tok3n@git.example/r.git by AKIAABCDEFGHIJKLMNOP")
    'built from https://ci:***@git.example/r.git by ***'
    """
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return _AWS_KEY_ID.sub(MASK, text)


def _is_id_key(key: object) -> bool:
    """Keys that name a public identifier, not a credential (``key_id``, ``fingerprint``)."""
    return isinstance(key, str) and key.lower().endswith(("_id", "id", "fingerprint", "sha256"))


def mask_secret_keys(value: Any) -> Any:
    """``value`` with the string under every credential-like key masked, at any depth.

    >>> mask_secret_keys({"api_token": "t0k", "team": "risk", "key_id": "k1"})
    {'api_token': '***', 'team': 'risk', 'key_id': 'k1'}
    """
    if isinstance(value, Mapping):
        return {
            k: MASK
            if isinstance(v, str) and is_secret_name(k) and not _is_id_key(k)
            else mask_secret_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secret_keys(v) for v in value]
    return value
