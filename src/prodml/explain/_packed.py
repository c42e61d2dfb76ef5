"""Typed arrays in a saved explainer state (format 5), hostile until checked (private).

An array is saved as ``{"dtype": "<i4", "length": n, "data": "<base64>"}``: ``n``
little-endian values of ``dtype`` (one of the few a field allows), base64-encoded. A
read checks the keys, the dtype against the field's allowed ones, the length (an int,
equal to what the rest of the state implies when it implies one) and the text's length
against ``length`` *before* decoding it, so a declared size costs nothing and an
oversized or truncated array is refused by its length alone. Values are checked by
the caller, vectorised, against the field's own invariants.

Examples
--------
>>> import numpy as np
>>> saved = pack(np.array([1, -1, 2]), "<i4")
>>> saved["length"], saved["dtype"]
(3, '<i4')
>>> unpack(saved, "kernel.trees.left", ("<i4", "<i8"), 3).tolist()
[1, -1, 2]
>>> unpack(saved, "kernel.trees.left", ("<i8",), 3)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
prodml.errors.ConfigError: ... 'kernel.trees.left.dtype' must be one of ['<i8']. Got '<i4' instead.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from prodml.errors import ConfigError

__all__ = ["ARRAY_KEYS", "fail", "int_dtype", "only_keys", "pack", "unpack"]

ARRAY_KEYS = frozenset({"data", "dtype", "length"})


def fail(path: str, expected: str, got: object) -> ConfigError:
    """The error saying the state field ``path`` must be ``expected`` (shows ``got``)."""
    shown = repr(got)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ConfigError(
        f"Explainer state field {path!r} must be {expected}. Got {shown} instead.",
        parameter=path,
    )


def only_keys(
    value: object, path: str, required: frozenset[str], optional: frozenset[str]
) -> Mapping[str, Any]:
    """``value`` as a dict holding every ``required`` key and nothing outside ``optional``."""
    if not isinstance(value, Mapping):
        raise fail(path, "a dict", value)
    missing = sorted(required - value.keys())
    if missing:
        raise ConfigError(
            f"Explainer state lacks field {path + '.' + missing[0]!r}",
            parameter=path + "." + missing[0],
        )
    extra = sorted(str(k) for k in value.keys() - required - optional)
    if extra:
        raise fail(path, f"a dict of the keys {sorted(required | optional)}", f"key {extra[0]!r}")
    return value


def int_dtype(values: npt.NDArray[Any]) -> str:
    """``"<i4"`` when every value fits in 32 bits, else ``"<i8"`` (what :func:`pack` writes)."""
    fits = not values.size or (int(values.min()) >= -(2**31) and int(values.max()) < 2**31)
    return "<i4" if fits else "<i8"


def pack(values: npt.NDArray[Any], dtype: str) -> dict[str, Any]:
    """``values`` as a saved typed array of little-endian ``dtype`` values."""
    flat = np.ascontiguousarray(values).reshape(-1).astype(dtype)
    data = base64.b64encode(flat.tobytes()).decode()
    return {"dtype": dtype, "length": int(flat.size), "data": data}


def unpack(
    value: object, path: str, dtypes: tuple[str, ...], length: int | None = None
) -> npt.NDArray[Any]:
    """The values of a saved typed array (a fresh, writable array of its saved dtype).

    ``dtypes`` are the dtypes the field may declare; ``length``, when given, the number
    of values the rest of the state implies.
    """
    saved = only_keys(value, path, ARRAY_KEYS, frozenset())
    dtype = saved["dtype"]
    if dtype not in dtypes:
        raise fail(path + ".dtype", f"one of {list(dtypes)}", dtype)
    n = saved["length"]
    if type(n) is not int or n < 0 or (length is not None and n != length):
        expected = f"{length}" if length is not None else "an int >= 0"
        raise fail(path + ".length", expected, n)
    size = np.dtype(dtype).itemsize * n
    chars = 4 * ((size + 2) // 3)
    data = saved["data"]
    expected = f"base64 of {n} little-endian {dtype} values ({chars} characters)"
    if not isinstance(data, str) or len(data) != chars:
        shown = f"{len(data)} characters" if isinstance(data, str) else data
        raise fail(path + ".data", expected, shown)
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:  # not base64 (binascii.Error), or not ASCII
        raise fail(path + ".data", expected, data) from None
    if len(raw) != size:  # padding in the middle
        raise fail(path + ".data", expected, data)
    return np.frombuffer(raw, dtype=dtype).copy()
