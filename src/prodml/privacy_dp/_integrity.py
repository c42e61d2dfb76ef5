"""An HMAC-SHA256 over a saved budget, so that whoever can write the file cannot edit it.

The key comes from a parameter or the environment variable ``PRODML_BUDGET_KEY``; it is
never stored, written, pickled or shown (messages say which source was used, never the
key). The MAC covers the canonical JSON of the whole state (sorted keys, no blanks,
ASCII), prefixed with a tag naming the class, so a MAC made for another prodml object
with the same key does not verify here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import Any

from prodml.errors import ConfigError, StateError

__all__ = ["KEY_ENV", "MIN_KEY_BYTES", "BudgetIntegrityError", "mac_of", "resolve_key"]

KEY_ENV = "PRODML_BUDGET_KEY"
MIN_KEY_BYTES = 16
_TAG = b"prodml.PrivacyBudget\n"


class BudgetIntegrityError(StateError, ConfigError):
    """A saved budget failed its integrity check; nothing was loaded.

    Its MAC does not match the state (edited after it was saved, or another key), it is
    MAC-protected and no key was given, a key was given but the state carries no MAC,
    or it holds fewer releases than the ``min_releases`` pinned (an older copy).
    """


def resolve_key(key: object, owner: str) -> bytes | None:
    """The MAC key as bytes: ``key`` when given, else ``PRODML_BUDGET_KEY``, else None.

    Raises
    ------
    ConfigError
        For a key that is not str or bytes, or shorter than 16 bytes (the key itself is
        never shown).
    """
    source = f"The 'key' parameter of {owner}"
    if key is None:
        env = os.environ.get(KEY_ENV)
        if not env:
            return None
        key, source = env, f"The environment variable {KEY_ENV}"
    if isinstance(key, str):
        raw = key.encode("utf-8", "surrogatepass")
    elif isinstance(key, bytes | bytearray):
        raw = bytes(key)
    else:
        raise ConfigError(
            f"{source} must be a str or bytes. Got {type(key).__name__} instead.",
            parameter="key",
        )
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{source} must be a secret of at least {MIN_KEY_BYTES} bytes (say 32 random "
            "bytes from a secret store). Got a shorter one.",
            parameter="key",
        )
    return raw


def mac_of(key: bytes, state: Mapping[str, Any]) -> str | None:
    """The hex HMAC-SHA256 of ``state``'s canonical JSON; None when it is not JSON-safe."""
    try:
        text = json.dumps(
            state, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
    except (TypeError, ValueError, RecursionError):
        return None
    return hmac.new(key, _TAG + text.encode("ascii"), hashlib.sha256).hexdigest()
