"""What serving may send back or log of a request: credentials and personal data masked.

Every 4xx detail that may quote a request, every log line that may quote one, and a
client's ``X-Request-ID`` go through :func:`echo` (or :func:`logged`). The
masking is :func:`prodml._secrets.mask_secrets` (a URL's password and credential-like
query values, an access key id) and :func:`prodml.privacy.redact_personal` (e-mail
addresses, phone and card numbers...).

Text quoted back to whoever sent it must not show a key id even glued to other letters or
digits on either side ("KEY" + id + "2"), nor one shorter or longer than the usual 20
characters: the shared pattern masks the prefix and every upper-case letter or digit
after it, 8 or more.
"""

from __future__ import annotations

from prodml._secrets import _AWS_KEY_ID, mask_secrets
from prodml.privacy import redact_personal

__all__ = ["echo", "logged", "unsafe_id"]

_LOGGED = 1000
"""Characters of an exception's message kept for a log line (the scan is superlinear in
the length of long runs of word characters)."""


def echo(text: str) -> str:
    """``text`` made safe to send back to whoever sent the request (and whoever relays it).

    A URL's password and credential-like query values are masked, an access key id
    (wherever it sits in a word, whatever its length) becomes ``***`` and what looks like
    personal data (an e-mail address, a phone or card number...) ``<redacted>``.

    Examples
    --------
    >>> echo("got 'refAKIAIOSFODNN7EXAMPLE2' from ann@example.com")
    "got 'ref***' from <redacted>"
    >>> echo("see https://bob:hunter2@db.example/x")
    'see https://bob:***@db.example/x'
    """
    return redact_personal(mask_secrets(text))


def logged(err: BaseException) -> str:
    """An exception's message for a log line: its first 1000 characters, through :func:`echo`."""
    return echo(str(err)[:_LOGGED])


def unsafe_id(rid: str) -> bool:
    """Whether a client's request id holds an access key id, a URL or an ``@``.

    A cheaper test than ``echo(rid) != rid`` (a few microseconds less per request, and a
    numeric id that passes a card number's checksum is kept): an id is sent back and
    logged, so one that may hold a credential or an e-mail address is not kept.

    >>> unsafe_id("3f2b8c1e-9a4d-4e7b-8c2d-1a2b3c4d5e6f"), unsafe_id("ann@example.com")
    (False, True)
    """
    return "@" in rid or "://" in rid or _AWS_KEY_ID.search(rid) is not None
