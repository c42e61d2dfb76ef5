"""Privacy by default: what prodml keeps and shows about values in the data.

Everything prodml stores or shows about data (drift profiles and reports, monitor state,
error messages) goes through one :class:`Privacy` policy. Its rules, in order:

* a column listed in ``allow_raw`` keeps its raw values (the per-column opt-in);
* a column marked sensitive (``Column(sensitive=True)`` or ``Privacy(sensitive=[...])``)
  never keeps a raw value: categories become salted hashes (:meth:`Privacy.token`),
  numbers and datetimes are kept only as a coarse sketch;
* a text column with more than ``max_categories`` distinct values (an identifier, a
  free-text field) is hashed as a whole;
* any other text value that looks like personal data (an e-mail address, a phone number,
  a payment card number that passes the Luhn check, a US social security number, a UK
  national insurance number, an IBAN with a valid checksum) is hashed on its own;
* reports show a category's label only when it was seen at least ``k`` times; rarer ones
  are counted in an "other" bar.

Hashes are keyed BLAKE2b digests (64 bits) of the value, so equal values still compare
equal (drift tests keep working) while the value cannot be read back or guessed without
the salt. The salt comes from ``salt``, else the environment variable named by
``salt_env`` (``PRODML_PRIVACY_SALT``), else a random salt drawn once per process; set
the variable to compare hashed profiles made by different processes. Only a salt id (a
digest of the salt) is ever stored, never the salt.

Examples
--------
>>> from prodml.privacy import Privacy, find_personal_data
>>> find_personal_data("write to ann@example.com"), find_personal_data("plan pro")
('email', None)
>>> find_personal_data("4111 1111 1111 1111"), find_personal_data("4111 1111 1111 1112")
('card', None)
>>> policy = Privacy(salt="not-a-real-salt")
>>> token = policy.token("078-05-1120")
>>> token.startswith("pm:"), len(token), policy.token(token) == token
(True, 19, True)
>>> policy.protect_value("sales", "078-05-1120") == token
True
>>> policy.protect_value("sales", "pro")
'pro'
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import secrets
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from prodml._quote import cut, short_repr
from prodml.errors import ConfigError

__all__ = [
    "PERSONAL_DATA_KINDS",
    "PersonalDataWarning",
    "Privacy",
    "find_personal_data",
    "is_token",
    "redact",
]

FORMAT_VERSION = 1
TOKEN_PREFIX = "pm:"  # noqa: S105 - a marker of hashed values, not a secret
_TOKEN = re.compile(r"pm:[0-9a-f]{16}")
REDACTED = "<redacted>"


class PersonalDataWarning(UserWarning):
    """Data looks like it holds personal data (see :func:`find_personal_data`).

    Raised by :meth:`prodml.schema.Schema.infer` when it marks a column sensitive; filter
    it like any warning (``warnings.filterwarnings("ignore", category=PersonalDataWarning)``).
    """


# -- detection -----------------------------------------------------------------------

_PATTERNS: tuple[tuple[str, str], ...] = (
    # Bounded repeats (RFC 5321 lengths: a local part of at most 64 characters, labels of
    # at most 63): unbounded ones made the search quadratic in a long value's length.
    # ASCII; for other text, _ANY_TEXT's e-mail pattern takes letters and digits of any
    # script (internationalised addresses, a Cyrillic "a" in "example"). Two patterns:
    # \w costs more than an ASCII class, and most values are ASCII.
    (
        "email",
        r"[A-Za-z0-9_.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,63}",
    ),
    ("ssn", r"\b(?!000|666|9\d\d)\d{3}[- ](?!00)\d{2}[- ](?!0000)\d{4}\b"),
    ("card", r"\b\d(?:[ -]?\d){12,18}\b"),
    # Letters in either case: "gb82 west ..." is the same IBAN (the checksum decides).
    # ASCII only ("a"): case-blind [A-Z] would also take the dotless i and the Kelvin sign.
    ("iban", r"\b(?ai:[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30})\b"),
    ("nino", r"\b(?ai:[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D])\b"),
    (
        "phone",
        r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}\b|(?:\(\d{3}\) ?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b",
    ),
)
PERSONAL_DATA_KINDS = tuple(kind for kind, _ in _PATTERNS)
_ANY = re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _PATTERNS))
_EMAIL_TEXT = r"[\w.%+-]{1,64}@[^\W_][\w-]{0,62}(?:\.[\w-]{1,63})*\.[^\W\d_]{2,63}"
_ANY_TEXT = re.compile(
    "|".join(
        f"(?P<{kind}>{_EMAIL_TEXT if kind == 'email' else pattern})" for kind, pattern in _PATTERNS
    )
)


_UNCHECKED = frozenset(("email", "ssn", "nino"))  # kinds whose match is the whole check


_OTHER_DIGIT = re.compile(r"(?![0-9])\d")  # a decimal digit of another script


def _fold(text: str) -> tuple[str, list[int] | None]:
    """``text`` as the patterns read it, and where each of its characters came from.

    Look-alikes become what they look like: digits of any script become ASCII digits
    (``"\u0664"``, Arabic-Indic four, is ``"4"``), compatibility forms their ASCII
    equivalent (fullwidth ``"\uff20"`` is ``"@"``), and invisible format characters (a
    zero-width space, a soft hyphen) are dropped, so none of them hides an identifier.
    The list maps each folded character to its index in ``text`` (``None`` when nothing
    changed: plain ASCII, the common case, costs one check).
    """
    if text.isascii() or (
        text.isprintable()  # no format character (they are not printable)
        and unicodedata.is_normalized("NFKC", text)  # no compatibility form
        and _OTHER_DIGIT.search(text) is None
    ):
        return text, None
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            out.append(ch)
            where.append(i)
            continue
        if unicodedata.category(ch) == "Cf":
            continue
        if ch.isdecimal():
            folded = str(unicodedata.decimal(ch))
        else:
            folded = unicodedata.normalize("NFKC", ch)
            if not folded.isascii():
                folded = ch
        out.extend(folded)
        where.extend([i] * len(folded))
    return "".join(out), where


def _name_key(column: object) -> str:
    """How a column name is matched against the sensitive names: case and form folded."""
    return unicodedata.normalize("NFKC", str(column)).casefold().strip()


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34 or not s.isascii() or not s.isalnum():
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def find_personal_data(text: str) -> str | None:
    """The kind of personal data found in ``text`` (``"email"``, ``"card"``...), or ``None``.

    Kinds: ``email``, ``ssn`` (US social security number, dashed or spaced), ``card``
    (13 to 19 digits passing the Luhn check), ``iban`` (valid mod-97 checksum), ``nino``
    (UK national insurance number) and ``phone`` (North American or ``+`` international).
    Patterns catch identifiers with a structure; names, addresses and free text about a
    person are not recognised: declare such columns sensitive.

    Examples
    --------
    >>> find_personal_data("+44 20 7946 0958"), find_personal_data("2024-01-15")
    ('phone', None)
    """
    if not isinstance(text, str):
        raise ConfigError(
            f"find_personal_data takes a str. Got {type(text).__name__}.", parameter="text"
        )
    # Inlined: this runs on every text value a profile sees, mostly ASCII.
    found = _ANY.finditer(text) if text.isascii() else _ANY_TEXT.finditer(_fold(text)[0])
    for m in found:
        kind = m.lastgroup
        if kind in _UNCHECKED or _checked(kind, m.group()) is not None:  # type: ignore[arg-type]
            return kind
    return None


_FEW_TEXTS = 64  # below this many texts, one check each (the cache) beats an Arrow pass


def personal_texts(texts: Set[str]) -> list[str]:
    """The texts of ``texts`` that look like personal data (:func:`find_personal_data`).

    Many ASCII texts are first screened at once by a relaxed form of the patterns
    (:func:`_screen`, run by Arrow's RE2 over the whole array); only those it keeps, and
    texts outside ASCII, get the exact check, so the answer is exactly
    ``[t for t in texts if find_personal_data(t)]``.
    """
    if len(texts) < _FEW_TEXTS:
        return [t for t in texts if _looks_personal(t)]
    ascii_texts: list[str] = []
    kept: list[str] = []  # texts outside ASCII: the exact check only
    for t in texts:
        (ascii_texts if t.isascii() else kept).append(t)
    if ascii_texts:
        kept.extend(itertools.compress(ascii_texts, _screen(ascii_texts)))
    return [t for t in kept if find_personal_data(t) is not None]


def _screen(texts: list[str]) -> list[bool]:
    """Whether each ASCII text may hold personal data: ``False`` only when it cannot."""
    import pyarrow as pa  # noqa: PLC0415 - only for many texts at once
    import pyarrow.compute as pc  # noqa: PLC0415

    return pc.match_substring_regex(pa.array(texts, pa.string()), _relaxed()).to_pylist()


@functools.cache
def _relaxed() -> str:
    r"""The patterns above as one RE2 pattern that matches at least as much.

    RE2 (Arrow's engine) has no look-ahead: the patterns' negative look-aheads (which
    only refuse some matches) are left out, and ``(?ai:`` becomes ``(?i:``. On ASCII text
    ``\d``, ``\b`` and case folding read alike in both engines, so where this finds no
    match, :func:`find_personal_data` finds none (tests check it on the same inputs).
    """
    parts = []
    for _, pattern in _PATTERNS:
        relaxed = _LOOKAHEAD.sub("", pattern).replace("(?ai:", "(?i:")
        parts.append(f"(?:{relaxed})")
    return "|".join(parts)


# A negative look-ahead, with at most one level of groups inside: "(?!000|666|9\d\d)".
_LOOKAHEAD = re.compile(r"\(\?!(?:[^()]|\([^()]*\))*\)")


@functools.lru_cache(maxsize=4096)
def _looks_personal(text: str) -> bool:
    return find_personal_data(text) is not None


def _found(text: str) -> Iterator[tuple[str, int, int]]:
    """Each stretch of ``text`` that is personal data: its kind, start and end.

    A pattern's match is checked (Luhn, mod 97, number of digits); an IBAN's match may
    run on into the words after it ("GB82 WEST ... 32 today"), so its longest prefix that
    ends at a blank and passes the checksum is the IBAN.
    """
    pattern = _ANY if text.isascii() else _ANY_TEXT
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        kind, (start, end) = str(m.lastgroup), m.span()
        length = _checked(kind, m.group())
        if length is None:
            pos = end
            continue
        yield kind, start, start + length
        pos = start + length


def _checked(kind: str, found: str) -> int | None:
    """The length of the personal data at the start of a match, ``None`` when it is not."""
    if kind == "card":
        return len(found) if _luhn(re.sub(r"\D", "", found)) else None
    if kind == "iban":
        for end in range(len(found), 14, -1):
            if (end == len(found) or found[end] == " ") and _iban_ok(found[:end]):
                return end
        return None
    if kind == "phone":
        return len(found) if 8 <= sum(ch.isdigit() for ch in found) <= 15 else None
    return len(found)


def redact_personal(text: str) -> str:
    """``text`` with each stretch that looks like personal data replaced by ``<redacted>``.

    Examples
    --------
    >>> redact_personal("approved by ann@example.com after run 17")
    'approved by <redacted> after run 17'
    """
    if find_personal_data(text) is None:
        return text
    folded, where = _fold(text)
    out, last = [], 0
    for _, i, j in _found(folded):
        # back to the original text's indices
        start, end = (i, j) if where is None else (where[i], where[j - 1] + 1)
        out += [text[last:start], REDACTED]
        last = end
    return "".join([*out, text[last:]])


def clean_note(text: str, limit: int, scrub: Callable[[str], str] | None = None) -> str:
    r"""An operator's free text (a reason) made safe to keep in a log or saved state.

    Surrounding blanks go; each control character becomes a space; ``scrub`` (a store's
    own credentials, when given) runs next; then whatever looks like personal data
    becomes ``<redacted>``; and the result is cut to ``limit`` characters (ending in
    ``...``). The registry's alias reasons and the rollout policies' manual-action
    reasons both go through here.

    Examples
    --------
    >>> clean_note("  paged by\tann@example.com  ", 1000)
    'paged by <redacted>'
    >>> clean_note("x" * 50, 10)
    'xxxxxxx...'
    """
    out = "".join(ch if ch.isprintable() else " " for ch in text.strip())
    if scrub is not None:
        out = scrub(out)
    return cut(redact_personal(out), limit)


def token_strings(ids: npt.NDArray[np.uint64]) -> list[str]:
    """The token strings of token ids (``pm:`` and the id's 16 hex digits); no salt needed."""
    return [f"{TOKEN_PREFIX}{i:016x}" for i in ids.tolist()]


def is_token(value: object) -> bool:
    """Whether ``value`` is a hash made by :meth:`Privacy.token`."""
    return (
        type(value) is str
        and len(value) == 19
        and value.startswith(TOKEN_PREFIX)
        and _TOKEN.fullmatch(value) is not None
    )


def redact(value: object, *, sensitive: bool = False) -> str:
    """A value for a message: its short ``repr``, or ``<redacted>`` when it is or looks personal.

    Examples
    --------
    >>> redact("gold"), redact("ann@example.com"), redact(42, sensitive=True)
    ("'gold'", '<redacted>', '<redacted>')
    """
    if sensitive:
        return REDACTED
    # repr escapes invisible characters ("\u200b"), which would then hide an e-mail
    # address split by one from the scan of the repr: scan a text value itself first.
    if isinstance(value, str) and find_personal_data(value[:10_000]) is not None:
        return REDACTED
    # Short, and redacted when it looks personal (a list holding an e-mail address too).
    return short_repr(value)


# -- the policy ----------------------------------------------------------------------

_PROCESS_SALT = secrets.token_bytes(32)


class Privacy(BaseModel):
    """What prodml may keep and show about the values of each column.

    Parameters
    ----------
    sensitive
        Columns whose raw values are never kept or shown (added to the columns marked
        ``Column(sensitive=True)`` by :meth:`from_schema`).
    allow_raw
        Columns whose raw values may be kept and shown, even when they look personal or
        have many categories: the explicit per-column opt-in. Wins over ``sensitive``.
    max_categories
        A text column with more distinct values than this is hashed as a whole; ``None``
        for no limit.
    k
        A category's label is shown in a report only when it was seen at least ``k`` times
        (k-anonymity threshold); rarer ones are summed in an "other" bar. ``k=1`` shows all.
    detect
        Hash individual values that look like personal data (:func:`find_personal_data`).
    salt
        Secret key of the hashes; default from the environment variable ``salt_env``,
        else random per process. Never stored; only its id (:attr:`salt_id`) is.
    salt_env
        Name of the environment variable holding the salt.

    Examples
    --------
    >>> p = Privacy(sensitive=["email"], k=10)
    >>> p.is_sensitive("email"), p.is_sensitive("plan"), p.k
    (True, False, 10)
    >>> Privacy.from_dict(p.to_dict()) == p
    True
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")

    sensitive: tuple[str, ...] = ()
    allow_raw: tuple[str, ...] = ()
    max_categories: int | None = Field(default=1000, ge=1)
    k: int = Field(default=5, ge=1)
    detect: bool = True
    salt: SecretStr | None = Field(default=None, exclude=True)
    salt_env: str = "PRODML_PRIVACY_SALT"
    _key: bytes = PrivateAttr(default=b"")
    _marked: frozenset[str] = PrivateAttr(default=frozenset())

    def __init__(self, **data: Any) -> None:
        for name in ("sensitive", "allow_raw"):
            value = data.get(name)
            if isinstance(value, str):
                data[name] = (value,)
            elif isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
                data[name] = tuple(value)  # a list, a set, df.columns...: pydantic takes tuples
            # anything else (a number, a mapping) goes to pydantic as is: its error
        try:
            super().__init__(**data)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in err.errors()
            )
            raise ConfigError(f"Invalid Privacy: {problems}", parameter="privacy") from err
        # The salt is read once, here: a policy hashes alike for all its life.
        self._key = self._salt()
        self._marked = frozenset(_name_key(c) for c in self.sensitive)

    @classmethod
    def from_schema(cls, schema: Any, **settings: Any) -> Privacy:
        """A policy treating the schema's ``Column(sensitive=True)`` columns as sensitive.

        Examples
        --------
        >>> from prodml.schema import Column, Schema
        >>> s = Schema([Column("ssn", "string", sensitive=True), Column("x", "float")])
        >>> Privacy.from_schema(s, k=3).sensitive
        ('ssn',)
        """
        marked = [c.name for c in schema.columns if getattr(c, "sensitive", False)]
        extra = list(settings.pop("sensitive", ()))
        return cls(sensitive=tuple(dict.fromkeys([*marked, *extra])), **settings)

    # -- salt ------------------------------------------------------------------------

    def _salt(self) -> bytes:
        if self.salt is not None:
            return self.salt.get_secret_value().encode()
        env = os.environ.get(self.salt_env)
        return env.encode() if env else _PROCESS_SALT

    @property
    def salt_id(self) -> str:
        """A digest naming the salt (never the salt): equal ids mean comparable hashes.

        The salt is read when the policy is made (from ``salt``, the environment, or
        the process's random salt).
        """
        return hashlib.sha256(b"prodml-privacy-salt:" + self._key).hexdigest()[:16]

    # -- decisions -------------------------------------------------------------------

    def _is_marked(self, column: str) -> bool:
        return column in self.sensitive or _name_key(column) in self._marked

    def is_sensitive(self, column: str) -> bool:
        """Whether ``column`` is declared sensitive (and not opted in to raw values).

        Sensitive names match whatever their case, compatibility forms and surrounding
        blanks (``sensitive=["email"]`` covers a column ``"Email"`` or ``" EMAIL"``): a
        column spelt otherwise than declared is protected, not kept raw. ``allow_raw``
        names match exactly, so only the column named there is opted in.

        Examples
        --------
        >>> Privacy(sensitive=["email"]).is_sensitive("EMAIL")
        True
        """
        return self._is_marked(column) and column not in self.allow_raw

    def is_raw(self, column: str) -> bool:
        """Whether ``column`` is opted in to raw values."""
        return column in self.allow_raw

    def token(self, value: object) -> str:
        """The salted hash of ``value`` (``pm:`` and 16 hex digits); tokens map to themselves."""
        if is_token(value):
            return value  # type: ignore[return-value]
        return self._tokens([value])[0]

    def _tokens(self, values: Iterable[object]) -> list[str]:
        """Tokens of many values (the strings of :meth:`token_ids`)."""
        return token_strings(self.token_ids(values))

    def token_ids(self, values: Iterable[object]) -> npt.NDArray[np.uint64]:
        """The tokens of ``values`` as 64-bit integers: ``token(v) == f"pm:{id:016x}"``.

        The compact form of :meth:`token` for columns hashed whole (a drift profile keeps
        their counts as arrays of these); a value that is a token already maps to its own
        integer, as :meth:`token` maps it to itself. Ordering the integers orders the
        token strings alike.

        Examples
        --------
        >>> p = Privacy(salt="not-a-real-salt")
        >>> [f"pm:{i:016x}" for i in p.token_ids(["pro", 7]).tolist()] == [
        ...     p.token("pro"),
        ...     p.token(7),
        ... ]
        True
        """
        # Read the key from pydantic's private storage once: attribute access through
        # pydantic's __getattr__ costs more than the hash itself. The keyed state is made
        # once and copied per value (a copy skips hashing the key block again).
        key = self.__pydantic_private__["_key"][:64]  # type: ignore[index]
        blank = hashlib.blake2b(key=key, digest_size=8)
        text_state = blank.copy()
        text_state.update(b"str:")  # the prefix of every text value's input, hashed once
        copy, copy_text = blank.copy, text_state.copy
        parts: list[bytes] = []
        append = parts.append
        for value in values:
            if type(value) is str:
                if value.startswith(TOKEN_PREFIX) and is_token(value):
                    append(bytes.fromhex(value[3:]))  # a token maps to itself
                    continue
                h = copy_text()
                h.update(repr(value).encode())
            else:
                h = copy()
                h.update(f"{type(value).__name__}:{value!r}".encode())
            append(h.digest())
        return np.frombuffer(b"".join(parts), dtype=">u8").astype(np.uint64)

    def protect_value(self, column: str, value: Any) -> Any:
        """``value`` as it may be kept: raw, or its token when sensitive or personal."""
        if column in self.allow_raw or value is None:
            return value
        if self._is_marked(column):
            return self.token(value)
        if self.detect and isinstance(value, str) and find_personal_data(value) is not None:
            return self.token(value)
        return value

    def protect_counts(self, column: str, counts: Mapping[Any, int]) -> dict[Any, int]:
        """Counts per category with every value that may not be kept replaced by its token."""
        if column in self.allow_raw:
            return dict(counts)
        if self._is_marked(column):
            return self.tokenize_counts(counts)
        if not self.detect:
            return dict(counts)
        personal = [
            v for v in counts if isinstance(v, str) and not is_token(v) and find_personal_data(v)
        ]
        if not personal:
            return dict(counts)
        out = dict(counts)
        for value, token in zip(personal, self._tokens(personal), strict=True):
            c = out.pop(value)
            out[token] = out.get(token, 0) + c
        return out

    def tokenize_counts(self, counts: Mapping[Any, int]) -> dict[str, int]:
        """Counts per category keyed by token."""
        out: dict[str, int] = {}
        for t, c in zip(self._tokens(counts), counts.values(), strict=True):
            out[t] = out.get(t, 0) + c
        return out

    def over_limit(self, column: str, n_categories: int) -> bool:
        """Whether a column with ``n_categories`` distinct values must be hashed whole."""
        if column in self.allow_raw:
            return False
        return self.max_categories is not None and n_categories > self.max_categories

    def protect_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a record with every value that may not be kept replaced by its token.

        A non-text value of a sensitive column becomes ``None``: a token would change the
        column's type (a drift test compares it with numbers).
        """
        out: dict[str, Any] = {}
        for key, value in record.items():
            name = str(key)
            if self.is_sensitive(name) and not isinstance(value, str):
                out[name] = None
            else:
                out[name] = self.protect_value(name, value)
        return out

    # -- state -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings with ``format_version`` and the salt id (never the salt)."""
        return {
            "format_version": FORMAT_VERSION,
            "sensitive": list(self.sensitive),
            "allow_raw": list(self.allow_raw),
            "max_categories": self.max_categories,
            "k": self.k,
            "detect": self.detect,
            "salt_env": self.salt_env,
            "salt_id": self.salt_id,
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any], *, salt: str | None = None) -> Privacy:
        """Rebuild a policy saved by :meth:`to_dict` (pass ``salt`` again when one was set).

        Raises
        ------
        ConfigError
            For an unknown ``format_version`` or invalid settings.
        """
        from prodml._state import check_depth, check_format_version, loading  # noqa: PLC0415

        if not isinstance(state, Mapping):
            raise ConfigError(
                f"saved Privacy must be a dict. Got a {type(state).__name__}.",
                parameter="privacy",
            )
        check_depth(state, owner="Privacy")
        check_format_version(state.get("format_version"), FORMAT_VERSION, owner="Privacy")
        keys = ("sensitive", "allow_raw", "max_categories", "k", "detect", "salt_env")
        missing = [k for k in keys if k not in state]
        if missing:
            raise ConfigError(f"saved Privacy lacks {missing}", parameter="privacy")
        with loading("Privacy"):
            return cls(**{k: state[k] for k in keys}, salt=salt)

    def __repr__(self) -> str:
        return (
            f"Privacy(sensitive={list(self.sensitive)}, allow_raw={list(self.allow_raw)}, "
            f"max_categories={self.max_categories}, k={self.k}, detect={self.detect})"
        )


def check_privacy(owner: str, value: object) -> Privacy:
    """``value`` when it is a :class:`Privacy`, a default policy for ``None``, else an error."""
    if value is None:
        return Privacy()
    if isinstance(value, Privacy):
        return value
    raise ConfigError(
        f"The 'privacy' parameter of {owner} must be a prodml.privacy.Privacy or None. "
        f"Got {type(value).__name__} instead.",
        parameter="privacy",
    )


def warn_personal(column: str, kind: str) -> None:
    """Warn (:class:`PersonalDataWarning`) that ``column`` looks personal; no value shown."""
    warnings.warn(
        f"column {column!r} looks like it holds personal data ({kind}); it is marked "
        "sensitive, so prodml keeps only salted hashes or sketches of it (pass "
        "detect_personal=False, or edit the column, to change this)",
        PersonalDataWarning,
        stacklevel=3,
    )
