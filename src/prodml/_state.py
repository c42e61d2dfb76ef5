"""Validated reading of saved state (private): every ``from_dict``/``from_json`` uses it.

Saved state is hostile until checked (design principle 7). A :class:`Field` wraps one
value read back from a saved state together with its path (``state.summary.count``);
its readers check type, finiteness, range, length and allowed values, and raise a
:class:`~prodml.errors.StateError` naming the path and what was expected. The error is
also an instance of the module's own error class (``PolicyError`` for rollout,
``ConfigError`` elsewhere), so existing ``except`` clauses keep working.

:func:`load_json` parses JSON text with a size and a nesting-depth limit, so a file of
100,000 ``[`` is a clear error rather than a ``RecursionError``.

Examples
--------
>>> from prodml._state import Field
>>> root = Field({"summary": {"count": -1}}, owner="Canary")
>>> root["summary"]["count"].int(lo=0)
Traceback (most recent call last):
...
prodml.errors.StateError: Canary state field 'summary.count' must be an int >= 0. Got -1.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import math
import operator
import re
from collections.abc import Iterator, Mapping
from itertools import chain, compress
from typing import Any

import numpy as np

from prodml.errors import ConfigError, ProdMLError, StateError

__all__ = [
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "MAX_MAGNITUDE",
    "STRICT_JSON",
    "Field",
    "check_depth",
    "check_format_version",
    "finite_float",
    "is_unicode",
    "load_json",
    "loading",
    "short",
    "state_error",
]

MAX_COUNT = 2**53
"""Counts above this are corrupt (they lose precision as floats)."""
MAX_MAGNITUDE = 1e100
"""Largest magnitude of a number that state accumulates (a rollout metric, a streaming
detector's value, a bandit's reward, a histogram observation): sums of squares of
:data:`MAX_COUNT` such numbers stay finite, so the state is strict JSON and loads back.
Hot paths compare with the literal ``1e100`` (a global lookup costs more)."""
MAX_DEPTH = 64
"""Deepest nesting of lists and dicts a saved state may have."""
MAX_JSON_BYTES = 512 * 1024 * 1024
"""Largest JSON text :func:`load_json` reads."""

_ERRORS: dict[type[ProdMLError], type[StateError]] = {}
_FLOAT_TYPE = frozenset({float})
_INT_TYPE = frozenset({int})
_STR_TYPE = frozenset({str})
# A JSON string: runs of plain bytes between escapes ("unrolled", so a long base64 text is
# one run, not a regex step per character: 10x faster on a format-4 explainer state).
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def short(value: object, limit: int = 60) -> str:
    """A short description of ``value`` for an error message (never the whole value)."""
    if isinstance(value, str | bytes):
        text = repr(value[:limit])
        return text + ("..." if len(value) > limit else "")
    if isinstance(value, Mapping):
        return f"a dict of {len(value)} items"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)} items"
    if value is None or isinstance(value, bool | int | float):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    return f"a {type(value).__name__}"


def _error_class(base: type[ProdMLError]) -> type[StateError]:
    if issubclass(base, StateError):
        return base
    cls = _ERRORS.get(base)
    if cls is None:
        cls = type("StateError", (StateError, base), {"__module__": "prodml.errors"})
        _ERRORS[base] = cls
    return cls


def state_error(
    message: str, *, path: str | None = None, owner: str = "", base: type[ProdMLError] = ConfigError
) -> StateError:
    """A StateError that is also a ``base`` (the module's own error class)."""
    return _error_class(base)(message, path=path, owner=owner)


class Field:
    """One value of a saved state, with its path, and checked readers.

    Parameters
    ----------
    value
        The value read back (hostile until a reader accepts it).
    path
        Where it sits in the state, dotted (``"state.arms[2].count"``); ``""`` for the root.
    owner
        The class whose state this is, for messages (``"UCB1"``).
    error
        The module's error class; raised errors are StateErrors that are also this.
    """

    __slots__ = ("error", "owner", "path", "value")

    def __init__(
        self,
        value: object,
        path: builtins.str = "",
        *,
        owner: builtins.str = "",
        error: type[ProdMLError] = ConfigError,
    ) -> None:
        if not path:  # the root of a saved state: refuse nesting before any reader recurses
            check_depth(value, owner=owner, error=error)
        self.value: object = value
        self.path: str = path
        self.owner: str = owner
        self.error: type[ProdMLError] = error

    # -- errors ------------------------------------------------------------------------

    def fail(
        self, expected: builtins.str, got: object = ..., *, shown: builtins.str | None = None
    ) -> StateError:
        """The error saying this field must be ``expected`` (shows what it is instead).

        ``shown`` describes the value in words instead of quoting ``got`` (or the value).
        """
        if shown is None:
            shown = short(self.value if got is ... else got)
        where = self.path or "<root>"
        who = f"{self.owner} state" if self.owner else "Saved state"
        return state_error(
            f"{who} field {where!r} must be {expected}. Got {shown}.",
            path=where,
            owner=self.owner,
            base=self.error,
        )

    def _child(self, value: object, key: builtins.str | builtins.int) -> Field:
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        else:
            path = f"{self.path}.{key}" if self.path else key
        return Field(value, path, owner=self.owner, error=self.error)

    # -- containers --------------------------------------------------------------------

    def dict(self, *, keys: tuple[builtins.str, ...] | None = None) -> Mapping[builtins.str, Any]:
        """The value as a dict with str keys (exactly ``keys`` when given)."""
        v = self.value
        if not isinstance(v, Mapping) or not (
            set(map(type, v)) <= _STR_TYPE or all(isinstance(k, str) for k in v)
        ):
            raise self.fail("a dict with str keys")
        if keys is not None and set(v) != set(keys):
            missing = sorted(set(keys) - set(v))
            if missing:
                raise self._child(None, missing[0]).fail("present")
            extra = sorted(set(v) - set(keys))
            raise self._child(v[extra[0]], extra[0][:40]).fail("absent (not a known field)")
        return v

    def __getitem__(self, key: builtins.str | builtins.int) -> Field:
        if isinstance(key, int):
            items = self.list()
            if not -len(items) <= key < len(items):
                raise self.fail(f"a list of more than {key} items")
            return self._child(items[key], key)
        d = self.dict()
        if key not in d:
            raise self._child(None, key).fail("present")
        return self._child(d[key], key)

    def get(self, key: builtins.str) -> Field | None:
        """The child ``key``, or None when it is absent or null."""
        d = self.dict()
        value = d.get(key)
        return None if value is None else self._child(value, key)

    def items(self, *, max_len: builtins.int | None = None) -> Iterator[tuple[builtins.str, Field]]:
        """``(key, child)`` of a dict field, in stored order."""
        d = self.dict()
        if max_len is not None and len(d) > max_len:
            raise self.fail(f"a dict of at most {max_len} items")
        for k, v in d.items():
            yield k, self._child(v, k)

    def values(self, *, max_len: builtins.int | None = None) -> Iterator[Field]:
        """The children of a dict field, in stored order."""
        d = self.dict()
        if max_len is not None and len(d) > max_len:
            raise self.fail(f"a dict of at most {max_len} items")
        return (self._child(v, k) for k, v in d.items())

    def list(
        self,
        *,
        length: builtins.int | None = None,
        min_len: builtins.int = 0,
        max_len: builtins.int | None = None,
    ) -> builtins.list[Any]:
        """The value as a list (of ``length`` items, or ``min_len``..``max_len``)."""
        v = self.value
        if not isinstance(v, list | tuple):
            raise self.fail("a list")
        if length is not None and len(v) != length:
            raise self.fail(f"a list of {length} items", f"{len(v)} items")
        if len(v) < min_len:
            raise self.fail(f"a list of at least {min_len} items", f"{len(v)} items")
        if max_len is not None and len(v) > max_len:
            raise self.fail(f"a list of at most {max_len} items", f"{len(v)} items")
        return list(v)

    def each(
        self,
        *,
        length: builtins.int | None = None,
        min_len: builtins.int = 0,
        max_len: builtins.int | None = None,
    ) -> builtins.list[Field]:
        """The items of a list field, each as a Field."""
        items = self.list(length=length, min_len=min_len, max_len=max_len)
        return [self._child(v, i) for i, v in enumerate(items)]

    # -- leaves ------------------------------------------------------------------------

    def int(
        self, *, lo: builtins.int | None = None, hi: builtins.int | None = None
    ) -> builtins.int:
        """The value as an int (not a bool) within ``[lo, hi]``.

        Floats that are whole numbers are accepted (JSON writers may emit ``3.0``).
        """
        v = self.value
        if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) <= MAX_COUNT:
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise self.fail("an int" + _range_words(lo, hi))
        v = int(v)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.fail("an int" + _range_words(lo, hi))
        return v

    def count(self, hi: builtins.int = MAX_COUNT) -> builtins.int:
        """A count: an int in ``[0, hi]``."""
        return self.int(lo=0, hi=hi)

    def float(
        self,
        *,
        lo: builtins.float | None = None,
        hi: builtins.float | None = None,
        lo_open: builtins.bool = False,
        hi_open: builtins.bool = False,
        finite: builtins.bool = True,
    ) -> builtins.float:
        """The value as a float (ints accepted, bools not) within the bounds given."""
        x = _as_float(self.value, lo, hi, lo_open, hi_open, finite)
        if x is None:
            raise self.fail(_float_words(lo, hi, lo_open, hi_open, finite))
        return x

    def optional_float(self, **bounds: Any) -> builtins.float | None:
        """:meth:`float`, or None for a null."""
        return None if self.value is None else self.float(**bounds)

    def bool(self) -> builtins.bool:
        """The value as a bool (JSON true/false only)."""
        if not isinstance(self.value, bool | np.bool_):
            raise self.fail("true or false")
        return bool(self.value)

    def str(
        self,
        *,
        choices: tuple[builtins.str, ...] | None = None,
        max_len: builtins.int = 10_000,
        empty: builtins.bool = True,
    ) -> builtins.str:
        """The value as a str (one of ``choices`` when given)."""
        v = self.value
        if choices is not None:
            if not isinstance(v, str) or v not in choices:
                raise self.fail("one of " + ", ".join(repr(c) for c in choices))
            return v
        if not isinstance(v, str) or len(v) > max_len or (not empty and not v):
            kind = "a non-empty str" if not empty else "a str"
            raise self.fail(f"{kind} of at most {max_len} characters")
        if not v.isascii() and not is_unicode(v):
            raise self.fail("valid Unicode text", shown="a str with a lone surrogate")
        return v

    def floats(
        self,
        *,
        length: builtins.int | None = None,
        min_len: builtins.int = 0,
        max_len: builtins.int | None = None,
        **bounds: Any,
    ) -> builtins.list[builtins.float]:
        """A list of floats, each within ``bounds`` (see :meth:`float`).

        Checked in one pass over the raw values; a Field is built only for the item at
        fault, to name its path.
        """
        items = self.list(length=length, min_len=min_len, max_len=max_len)
        lo, hi = bounds.get("lo"), bounds.get("hi")
        lo_open, hi_open = bounds.get("lo_open", False), bounds.get("hi_open", False)
        finite = bounds.get("finite", True)
        if len(items) > 16 and set(map(type, items)) <= _FLOAT_TYPE:
            arr = np.array(items, dtype=np.float64)  # vectorised check of a long list
            ok = bool(np.isfinite(arr).all()) if finite else not bool(np.isnan(arr).any())
            if ok and lo is not None:
                ok = bool((arr > lo).all() if lo_open else (arr >= lo).all())
            if ok and hi is not None:
                ok = bool((arr < hi).all() if hi_open else (arr <= hi).all())
            if ok:
                return items
        out = [_as_float(v, lo, hi, lo_open, hi_open, finite) for v in items]
        if None in out:
            i = out.index(None)
            self._child(items[i], i).float(**bounds)  # raises, naming the item
        return out  # type: ignore[return-value]

    def ints(
        self,
        *,
        length: builtins.int | None = None,
        min_len: builtins.int = 0,
        max_len: builtins.int | None = None,
        **bounds: Any,
    ) -> builtins.list[builtins.int]:
        """A list of ints, each within ``bounds`` (see :meth:`int`)."""
        items = self.list(length=length, min_len=min_len, max_len=max_len)
        lo, hi = bounds.get("lo"), bounds.get("hi")
        if set(map(type, items)) <= _INT_TYPE and (  # C-speed checks of the common case
            not items or ((lo is None or min(items) >= lo) and (hi is None or max(items) <= hi))
        ):
            return items
        return [self._child(v, i).int(**bounds) for i, v in enumerate(items)]

    def within(self, err: StateError) -> StateError:
        """``err`` from loading a nested object, re-pathed under this field.

        ``Histogram state field 'count' must be ...`` raised while loading the field
        ``state.stats.current`` becomes ``ModelMonitor state field
        'state.stats.current.count' must be ...``.
        """
        inner = err.path if err.path not in (None, "<root>") else ""
        if inner == self.path or inner.startswith((f"{self.path}.", f"{self.path}[")):
            path = inner  # raised by a loader that already knew where it was
        else:
            path = f"{self.path}.{inner}" if inner and self.path else (inner or self.path)
        text = str(err)
        marker = f"field {err.path!r} "
        tail = text.split(marker, 1)[1] if marker in text else f"is invalid: {text}"
        who = f"{self.owner} state" if self.owner else "Saved state"
        return state_error(
            f"{who} field {path!r} {tail}", path=path, owner=self.owner, base=self.error
        )

    def check(self, ok: builtins.bool, expected: builtins.str) -> None:
        """Raise the error for this field unless ``ok`` (an invariant of the state)."""
        if not ok:
            raise self.fail(expected)


_MAX_MESSAGE = 2000
"""Longest message :func:`loading` passes on unchanged."""
_RAW = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


@contextlib.contextmanager
def loading(owner: str, error: type[ProdMLError] = ConfigError) -> Iterator[None]:
    """Translate what a model constructor raises on saved state into a StateError.

    For ``from_dict`` of pydantic models (Schema, CostEstimate, store definitions): a
    pydantic ``ValidationError`` names its first field path; any other raw exception
    becomes a StateError saying the state is malformed. ProdMLErrors pass through,
    except that a message longer than 2000 characters (every item of a huge list named)
    is cut to its first 1000.
    """
    import pydantic  # noqa: PLC0415 - only pydantic models load through here

    try:
        yield
    except ProdMLError as err:
        text = str(err)
        if len(text) <= _MAX_MESSAGE:
            raise
        # A constructor listing every problem of a 200,000-item list: keep the first ones.
        path = getattr(err, "path", None) or getattr(err, "parameter", None)
        raise state_error(
            f"{text[: _MAX_MESSAGE // 2]}... ({len(text):,} characters in all)",
            path=path if isinstance(path, str) else None,
            owner=owner,
            base=error,
        ) from None
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        path = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise state_error(
            f"{owner} state field {path!r} is invalid: {str(first['msg'])[:200]}",
            path=path,
            owner=owner,
            base=error,
        ) from None
    except _RAW as err:
        raise state_error(
            f"{owner} state is malformed: {type(err).__name__}: {str(err)[:200]}",
            owner=owner,
            base=error,
        ) from None


def _as_float(  # noqa: PLR0917 - private, on the per-item path: positional is cheaper
    v: object,
    lo: float | None,
    hi: float | None,
    lo_open: bool,
    hi_open: bool,
    finite: bool,
) -> float | None:
    """``v`` as a float within the bounds, or None when it is not one."""
    if type(v) is float:
        x = v
    elif isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        return None
    else:
        try:
            x = float(v)
        except OverflowError:
            return None
    if math.isnan(x) or (finite and math.isinf(x)):
        return None
    if lo is not None and (x < lo or (lo_open and x == lo)):
        return None
    if hi is not None and (x > hi or (hi_open and x == hi)):
        return None
    return x


def finite_float(v: object) -> float | None:
    """``v`` as a finite float, or None when it is not a finite number.

    Booleans, NaN, infinities and ints beyond the float range (``float()`` of which
    raises ``OverflowError``) are not; for checks written by hand where a :class:`Field`
    does not fit.
    """
    return _as_float(v, None, None, False, False, True)


def _range_words(lo: float | None, hi: float | None) -> str:
    if hi == MAX_COUNT:  # the corruption bound of every count: not worth a mention
        hi = None
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _float_words(
    lo: float | None, hi: float | None, lo_open: bool, hi_open: bool, finite: bool
) -> str:
    kind = "a finite number" if finite else "a number (not NaN)"
    if lo is not None and hi is not None:
        return f"{kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{kind} {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{kind} {'<' if hi_open else '<='} {hi:g}"
    return kind


def load_json(
    text: object,
    *,
    owner: str,
    error: type[ProdMLError] = ConfigError,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    r"""Parse saved-state JSON, refusing oversized or too deeply nested text.

    Raises
    ------
    StateError
        For text that is not a str/bytes, too large, nested deeper than ``max_depth``,
        not valid JSON (the message quotes at most a short part of it), repeating a key
        in one object, or holding a lone surrogate escape (``"\udcff"``, which no UTF-8
        text can hold).
    """
    if isinstance(text, bytearray | memoryview):
        text = bytes(text)
    if not isinstance(text, str | bytes):
        raise state_error(
            f"{owner} JSON must be a str. Got {short(text)}.", owner=owner, base=error
        )
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if len(raw) > max_bytes:
        raise state_error(
            f"{owner} JSON is larger than {max_bytes} bytes; refusing it.", owner=owner, base=error
        )
    depth = _depth(raw)
    if depth > max_depth:
        raise state_error(
            f"{owner} JSON is nested {depth} levels deep; saved state has at most {max_depth}.",
            owner=owner,
            base=error,
        )
    try:
        if isinstance(text, bytes):  # as json.loads does: UTF-8, -16 or -32 by its BOM
            text = text.decode(json.detect_encoding(text))
        data = json.loads(text, object_pairs_hook=_unique_keys)
        if "\\" in text and _SURROGATE_ESCAPE.search(text):  # "\udcff": not Unicode
            _refuse_lone_surrogates(data)
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        raise state_error(
            f"{owner} state is not valid JSON: {str(err)[:120]}", owner=owner, base=error
        ) from None
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict, refusing a key given twice.

    ``json.loads`` keeps the last of two equal keys, so ``{"columns": [], "columns": [..]}``
    would load as whichever a reader did not check; saved state never repeats a key.
    """
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {short(key)} appears twice in one object")
            seen.add(key)
    return out


def is_unicode(text: str) -> bool:
    r"""Whether ``text`` is valid Unicode: it holds no lone surrogate (``"\udcff"``).

    Python's ``json`` module reads the escape ``"\udcff"`` into such a str, which no
    UTF-8 writer (a file, a database, an HTTP body) can encode.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_format_version(
    value: object,
    readable: int | tuple[int, ...],
    *,
    owner: str,
    error: type[ProdMLError] = ConfigError,
    path: str = "format_version",
) -> int:
    """The ``format_version`` of a saved state, when this prodml reads it.

    A version above the newest one this prodml reads was written by a newer prodml: the
    error says so and to upgrade prodml (like the registry's ``NewerFormatError``) and
    carries ``found`` and ``supported`` attributes. Anything else that is not one of
    ``readable`` (a str, a bool, 0, a float) is a StateError naming the field.

    Examples
    --------
    >>> check_format_version(2, 1, owner="ADWIN")
    Traceback (most recent call last):
    ...
    prodml.errors.StateError: ADWIN state field 'format_version' must be 1 (the format this
    prodml reads). Got 2: format_version 2 is not supported here; it was written by another
    prodml version, a newer one. Upgrade prodml to read it.
    """
    versions = (readable,) if isinstance(readable, int) else readable
    if type(value) is float and value.is_integer() and abs(value) <= MAX_COUNT:
        value = int(value)  # a JSON writer may emit 1.0
    newest = max(versions)
    words = str(newest) if len(versions) == 1 else "one of " + ", ".join(map(str, versions))
    who = f"{owner} state" if owner else "Saved state"
    if type(value) is int and value > newest:
        got = short(value, 30)
        err = state_error(
            f"{who} field {path!r} must be {words} (the format this prodml reads). Got {got}: "
            f"{path} {got} is not supported here; it was written by another prodml version, "
            "a newer one. Upgrade prodml to read it.",
            path=path,
            owner=owner,
            base=error,
        )
    elif type(value) is int and value in versions:
        return value
    else:
        err = Field(value, path, owner=owner, error=error).fail(
            f"{words} (the format this prodml reads)"
        )
    err.found = value if type(value) is int else None  # type: ignore[attr-defined]
    err.supported = versions  # type: ignore[attr-defined]
    raise err


_CONTAINERS = frozenset({dict, list, tuple})
_LIST_TYPE: frozenset[type] = frozenset({list})
_TUPLE_TYPE: frozenset[type] = frozenset({tuple})
_DICT_TYPE: frozenset[type] = frozenset({dict})
_SCALARS = frozenset({int, float, str, bool, type(None)})


def check_depth(
    value: object,
    *,
    owner: str = "",
    error: type[ProdMLError] = ConfigError,
    max_depth: int = MAX_DEPTH,
) -> None:
    """Refuse a saved state (a dict already parsed) nested deeper than ``max_depth``.

    :func:`load_json` refuses such text before parsing; this is its counterpart for
    ``from_dict``, whose input may have been built by other code. It walks level by
    level without recursion, so a list nested 10,000 deep is a StateError naming the
    top-level field that holds it, never a ``RecursionError`` in a reader, a ``repr``
    or ``json.dumps``. Containers of scalars only are passed at C speed.
    """
    if not _too_deep(value, max_depth):
        return
    top = ""
    if isinstance(value, Mapping):
        top = next(
            (k[:40] if isinstance(k, str) else "?")
            for k, v in value.items()
            if _too_deep(v, max_depth - 1)
        )
    elif isinstance(value, list | tuple):
        top = next(f"[{i}]" for i, v in enumerate(value) if _too_deep(v, max_depth - 1))
    who = f"{owner} state" if owner else "Saved state"
    where = top or "<root>"
    raise state_error(
        f"{who} field {where!r} is nested more than {max_depth} levels deep.",
        path=where,
        owner=owner,
        base=error,
    )


def _is_container(v: object) -> bool:
    t = type(v)
    return t in _CONTAINERS or (t not in _SCALARS and isinstance(v, Mapping | list | tuple))


def _too_deep(value: object, max_depth: int) -> bool:
    """Whether ``value`` nests containers more than ``max_depth`` levels (breadth-first).

    Each level is flattened into the next at C speed (``chain``, ``compress``): a state of
    100,000 small lists costs a few passes over them, not a Python step per list.
    """
    level: list[Any] = [value] if _is_container(value) else []
    depth = 1
    while level:
        if depth > max_depth:
            return True
        kinds = set(map(type, level))
        if kinds in (_LIST_TYPE, _TUPLE_TYPE):
            flat = list(chain.from_iterable(level))
        elif kinds == _DICT_TYPE:
            flat = list(chain.from_iterable(map(dict.values, level)))
        elif kinds <= _CONTAINERS:  # dicts and lists: each kind flattened at C speed
            is_dict = list(map(_DICT_TYPE.__contains__, map(type, level)))
            flat = list(chain.from_iterable(map(dict.values, compress(level, is_dict))))
            flat += chain.from_iterable(compress(level, map(operator.not_, is_dict)))
        else:  # a Mapping that is not a dict
            flat = list(
                chain.from_iterable(n.values() if isinstance(n, Mapping) else n for n in level)
            )
        kinds = set(map(type, flat))
        if kinds <= _SCALARS:
            return False
        if kinds <= _SCALARS | _CONTAINERS:
            level = list(compress(flat, map(_CONTAINERS.__contains__, map(type, flat))))
        else:
            level = list(filter(_is_container, flat))
        depth += 1
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (a number must be finite)")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400: a JSON number, but no double holds it (orjson refuses it)
        raise ValueError("number is infinity when parsed as double")
    return value


def _integer(text: str) -> int | float:
    """A JSON integer as orjson reads it: an int within int64/uint64, else a float."""
    if len(text) <= 20:  # the digits of 2**64 - 1 (a sign is the 21st)
        value = int(text)
        if -(2**63) <= value < 2**64:
            return value
    return _finite(text)


# A \u escape of a surrogate (D800-DFFF): a lone one is not Unicode, and orjson refuses it.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _StrictDecoder(json.JSONDecoder):
    """:data:`STRICT_JSON`'s class: the standard library's parser, reading what orjson reads."""

    def __init__(self) -> None:
        super().__init__(parse_constant=_no_constant, parse_float=_finite, parse_int=_integer)

    def decode(self, s: str, _w: Any = None) -> Any:
        try:
            data = super().decode(s)
        except RecursionError:  # deeper than the interpreter's stack: orjson says the same
            raise ValueError("depth limit exceeded") from None
        if _SURROGATE_ESCAPE.search(s) is not None:
            _refuse_lone_surrogates(data)
        return data


def _refuse_lone_surrogates(data: Any) -> None:
    stack = [data]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is str:
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("lone surrogate in a string (not Unicode)") from None


STRICT_JSON = _StrictDecoder()
r"""A decoder of RFC 8259 JSON for text users send (HTTP bodies, CLI arguments).

Unlike :func:`json.loads` (and :func:`load_json`, which reads back prodml's own state), it
reads what orjson reads, so that a value means the same whichever parser reads it:
``NaN``/``Infinity`` and numbers no double holds (``1e400``) are refused, integers beyond
64 bits become floats, a lone surrogate escape (``"\ud800"``) is refused, and of
duplicate keys in an object the last wins. Every failure is a ``ValueError``.
``STRICT_JSON.decode(text)`` takes a str.
"""


def _depth(raw: bytes) -> int:
    """Deepest bracket nesting of JSON text, strings ignored (vectorised, O(size))."""
    if raw.count(b"[") + raw.count(b"{") <= 1:  # C-speed counts: no nesting possible
        return int(b"[" in raw or b"{" in raw)
    if b'"' in raw:
        raw = _outside_strings(raw)
    codes = np.frombuffer(raw, dtype=np.uint8)
    # One byte per input byte, then the running sum over the brackets only: a state of
    # long number lists has few brackets, so the sum runs over a small array.
    moves = _STEP[codes]
    moves = moves[moves != 0].astype(np.int32)
    return int(np.cumsum(moves).max(initial=0))


def _outside_strings(raw: bytes) -> bytes:
    """``raw`` without its JSON strings (``"..."``, quotes included), as ``_STRINGS`` cuts.

    Text without a backslash (saved state nearly always: base64, names, numbers) holds
    no escaped quote, so every quote opens or closes a string: a split at the quotes
    cuts them at C speed, where the regex steps through each string (10x slower on a
    state of long base64 strings). A last quote that closes nothing stays, with the text
    after it, as it does for the regex.
    """
    if b"\\" in raw:  # escapes: the regex, which reads them
        return _STRINGS.sub(b"", raw)
    parts = raw.split(b'"')
    outside = parts[::2]
    if len(parts) % 2 == 0:  # an odd number of quotes: the last one is unmatched
        outside.append(b'"' + parts[-1])
    return b"".join(outside)


_STEP = np.zeros(256, dtype=np.int8)
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
