"""Quoting user values in messages: a short prefix, never the whole value.

Error messages, reprs and reports quote the value at fault so a person can find it; a
10 MB string (or a 100,000-digit int, whose ``repr`` Python refuses) must not make a
10 MB message. Every message that shows a user's value goes through :func:`short_repr`,
which also shows ``<redacted>`` instead of a value that looks like personal data (an
e-mail address, a card number...: see :func:`prodml.privacy.find_personal_data`).

Examples
--------
>>> from prodml._quote import short_repr
>>> short_repr("abc")
"'abc'"
>>> short_repr("x" * 1000)
"'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (1000 characters in all)"
"""

from __future__ import annotations

import re

from prodml._secrets import mask_secrets

__all__ = ["MAX_QUOTE", "cut", "error_line", "short_repr", "shown_path"]

MAX_QUOTE = 60
"""Characters of a value's ``repr`` that a message shows at most (plus a length note)."""


def short_repr(value: object, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how long it was when cut.

    Parameters
    ----------
    value
        Any value; its ``repr`` may fail (huge ints, broken objects): the type is shown.
    limit
        Characters kept before the ``...`` marker.

    Returns
    -------
    str
        The repr when short enough, else its prefix and the full length.
    """
    if isinstance(value, str | bytes) and len(value) > 4 * limit:
        # Cut before repr: never build a second copy of a huge string.
        text = repr(value[: 2 * limit])
        total = f"{len(value)} {'characters' if isinstance(value, str) else 'bytes'} in all"
        return _unless_personal(f"{text[:limit]}... ({total})", text)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails is still named
        if isinstance(value, int):
            return f"<int of {value.bit_length()} bits>"
        return f"<{type(value).__qualname__} object>"
    if len(text) <= limit:
        return _unless_personal(text, text)
    return _unless_personal(f"{text[:limit]}... ({len(text)} characters in all)", text)


def shown_path(path: object) -> str:
    r"""A path as every message of the ``prodml`` command shows it: as typed, or quoted.

    As typed when it reads back unambiguously (printable, at most
    :data:`prodml._files.PATH_QUOTE` characters, no space at either end): a space, a
    quote or a non-ASCII letter inside it is shown as is, as the user wrote it. Else
    quoted as :func:`short_repr` quotes it, and cut: a control character would break the
    one-line message, a 5,000-character name fill the terminal, and a space at an end
    would be invisible. Bytes (a name that is not UTF-8) are decoded with replacement.

    Examples
    --------
    >>> print(shown_path("it's my dätä/ref.parquet"))
    it's my dätä/ref.parquet
    >>> print(shown_path("bad\nname.csv"), shown_path("trailing "))
    'bad\nname.csv' 'trailing '
    """
    from prodml._files import PATH_QUOTE  # noqa: PLC0415 - prodml._files imports this module

    text = path.decode(errors="replace") if isinstance(path, bytes) else str(path)
    if text and len(text) <= PATH_QUOTE and text.isprintable() and text == text.strip():
        return text
    return short_repr(text, limit=PATH_QUOTE)


def cut(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start ending in ``...``.

    For text that is kept, not quoted (a logged reason, a plot label): the result has at
    most ``limit`` characters, so a loader's cap of ``limit`` always accepts it.

    Examples
    --------
    >>> cut("abcdef", 5), cut("abc", 5)
    ('ab...', 'abc')
    """
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_line(err: BaseException, limit: int | None = None) -> str:
    r"""The first line of ``err``'s message, at most ``limit`` characters.

    Its class name when it has no message: for a one-line message of prodml's built from
    another library's error (a server's reason, a parser's).

    Examples
    --------
    >>> error_line(OSError("connection refused\nDETAIL: ..."), 10), error_line(KeyError())
    ('connection', 'KeyError')
    """
    text = str(err).strip()
    first = text.splitlines()[0] if text else type(err).__name__
    return first if limit is None else first[:limit]


_SCAN_MARGIN = 256
"""Characters past the cut also scanned, so a value straddling it (an e-mail) is caught."""


def _unless_personal(shown: str, text: str) -> str:
    """``shown``, or ``<redacted>`` when the part of ``text`` shown holds sensitive data.

    Sensitive: personal data (:func:`prodml.privacy.find_personal_data`) or a credential
    (a URL's password, an access key id: :func:`prodml._secrets.mask_secrets`).

    Only the shown prefix (plus a margin) is scanned: what is cut is never shown, and the
    pattern scan is superlinear in the length of long runs of word characters (a 100 kB
    repr took 40 s to scan whole).
    """
    from prodml.privacy import REDACTED, find_personal_data  # noqa: PLC0415 - import cycle

    scanned = text[: len(shown) + _SCAN_MARGIN]
    if "\\" in scanned:  # repr escapes invisible characters: scan them as the reader sees
        scanned = _ESCAPE.sub(_unescaped, scanned)
    if mask_secrets(scanned) != scanned or find_personal_data(scanned) is not None:
        return REDACTED
    return shown


_ESCAPE = re.compile(r"\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8}))")
"""The escapes ``repr`` writes for characters it does not print (``\\u200b``...)."""


def _unescaped(m: re.Match[str]) -> str:
    code = int(m[1] or m[2] or m[3], 16)
    return chr(code) if code <= 0x10FFFF else m[0]
