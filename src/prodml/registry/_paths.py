"""What a path, an artifact key or a version number read from a store may look like.

Every path a registry joins onto a directory or a bucket prefix (a manifest entry, a
flavour's file name, an artifact key) comes from metadata that someone other than this
process may have written, so it is checked here, once, before any filesystem call:

- a relative path is 1-1024 bytes (UTF-8) of non-empty segments separated by ``/``, none
  of them ``.`` or ``..``, with no backslash, NUL or other control character, no lone
  surrogate, no leading ``/`` and no drive letter, and equal to its own POSIX normal form;
  on Windows, no segment may be a device name either (:func:`device_problem`): opening
  ``CON`` or ``aux.py`` there reaches a device, not a file;
- an artifact key is ``NAME/STAMP-UUID``: a valid model name, 13 digits of UTC
  milliseconds and 32 lowercase hex digits;
- a version number is an ``int`` in ``[1, 2**31 - 1]`` (what a SQL ``INTEGER`` holds).

A registration also checks that every file it writes can be written back on every
filesystem a version may be loaded on (:func:`portable_problem`, :func:`collision`): no
Windows device name (``CON``, ``aux.py``...), no ``<>:"|?*``, no segment ending in a dot
or a space, and no two paths that are one on a case-insensitive or Unicode-normalising
filesystem (``Model.bin`` and ``model.bin``; ``café`` in NFC and in NFD). Those are not
checked on versions read back, which stay loadable where they were written, except the
device names on Windows, where loading such a file would open a device.

Examples
--------
>>> path_problem("model/weights.bin") is None
True
>>> path_problem("../etc/passwd")
"has a '..' segment"
>>> key_problem("churn/0001700000000000-" + "0" * 32)
'is not NAME/STAMP-UUID'
"""

from __future__ import annotations

import os
import posixpath
import re
import unicodedata
from collections.abc import Iterable

from prodml.errors import ConfigError

__all__ = [
    "KEY",
    "MAX_VERSION",
    "NAME",
    "check_version_number",
    "collision",
    "device_problem",
    "is_sha256",
    "key_problem",
    "path_problem",
    "portable_problem",
]

MAX_VERSION = 2**31 - 1
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
KEY = re.compile(rf"(?P<name>{NAME.pattern})/(?P<id>(?P<stamp>\d{{13}})-[0-9a-f]{{32}})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")
_DRIVE = re.compile(r"[A-Za-z]:")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_WINDOWS_CHARS = re.compile(r'[<>:"|?*]')
ON_WINDOWS = os.name == "nt"
"""Whether paths read back are also checked for Windows device names (tests set it)."""
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"123456789", "\u00b9", "\u00b2", "\u00b3"]]
)


def path_problem(rel: object) -> str | None:
    """Why ``rel`` is not a safe relative POSIX path, or ``None`` if it is one."""
    if not isinstance(rel, str):
        return f"is a {type(rel).__name__}, not a str"
    try:
        size = len(rel.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, from a hostile record
        return "is not valid Unicode (a lone surrogate)"
    if not rel or size > 1024:
        return "must be 1-1024 bytes in UTF-8"
    if _CONTROL.search(rel):
        return "holds a backslash, NUL or control character"
    if rel.startswith("/") or _DRIVE.match(rel):
        return "is absolute"
    segments = rel.split("/")
    if ".." in segments:
        return "has a '..' segment"
    if "" in segments or "." in segments or posixpath.normpath(rel) != rel:
        return "is not in normal form (empty or '.' segment, or a trailing '/')"
    if any(len(s.encode("utf-8")) > 255 for s in segments):
        return "has a segment longer than 255 bytes"
    if ON_WINDOWS:
        return device_problem(rel)
    return None


def device_problem(rel: str) -> str | None:
    """Why ``rel`` names a Windows device (``CON``, ``aux.py``, ``com1.log``), or ``None``.

    Windows opens the device, not a file, for such a name in any folder and with any
    extension, so a manifest naming one is refused there at load as well.

    Examples
    --------
    >>> device_problem("src/aux.py")
    "has a segment Windows reserves for a device ('aux.py')"
    >>> device_problem("auxiliary.py") is None
    True
    """
    for segment in rel.split("/"):
        if segment.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
            return f"has a segment Windows reserves for a device ({segment[:40]!r})"
    return None


def portable_problem(rel: str) -> str | None:
    """Why the safe path ``rel`` cannot be written on Windows, or ``None``.

    Examples
    --------
    >>> portable_problem("weights/model.bin") is None
    True
    >>> portable_problem("src/aux.py")
    "has a segment Windows reserves for a device ('aux.py')"
    """
    device = device_problem(rel)
    if device is not None:
        return device
    for segment in rel.split("/"):
        shown = segment[:40]
        if _WINDOWS_CHARS.search(segment):
            return f'has a segment with one of <>:"|?* ({shown!r}), which Windows refuses'
        if segment.endswith((".", " ")):
            return f"has a segment ending in a dot or a space ({shown!r}), which Windows drops"
    return None


def collision(paths: Iterable[str]) -> tuple[str, str] | None:
    """Two of ``paths`` that name one file where case or Unicode normalisation is ignored.

    macOS and Windows filesystems fold case, and macOS's folds NFC and NFD forms: a
    version holding both could not be written back there whole.

    Examples
    --------
    >>> collision(["a/Model.bin", "b.bin", "a/model.bin"])
    ('a/Model.bin', 'a/model.bin')
    >>> collision(["a.bin", "b.bin"]) is None
    True
    """
    seen: dict[str, str] = {}
    for rel in paths:
        folded = unicodedata.normalize("NFC", rel).casefold()
        if folded in seen:
            return seen[folded], rel
        seen[folded] = rel
    return None


def key_problem(key: object, name: str | None = None) -> str | None:
    """Why ``key`` is not an artifact key (of model ``name``, when given), or ``None``."""
    if not isinstance(key, str) or len(key) > 200:
        return "is not a str of at most 200 characters"
    m = KEY.fullmatch(key)
    if m is None or ".." in m.group("name"):
        return "is not NAME/STAMP-UUID"
    if name is not None and m.group("name") != name:
        return f"belongs to model {m.group('name')!r}, not {name!r}"
    return None


def is_sha256(digest: object) -> bool:
    """Whether ``digest`` is 64 lowercase hexadecimal digits."""
    return isinstance(digest, str) and _SHA256.fullmatch(digest) is not None


def check_version_number(version: object, parameter: str = "version") -> int:
    """``version`` if it is a possible version number, else a :class:`ConfigError`.

    Examples
    --------
    >>> check_version_number(3)
    3
    >>> check_version_number(10**20)
    Traceback (most recent call last):
    ...
    prodml.errors.ConfigError: The 'version' parameter must be an int in [1, 2147483647]. ...
    """
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        shown = repr(version) if not isinstance(version, str) else repr(version[:40])
        raise ConfigError(
            f"The {parameter!r} parameter must be an int in [1, {MAX_VERSION}]. Got {shown} "
            "instead.",
            parameter=parameter,
        )
    return version
