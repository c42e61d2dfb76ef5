"""Stable content hashes (sha256 hex) of tables, JSON-able specs, files and directories.

Tables
    :func:`fingerprint_table` hashes a table's *content*: column names, logical types and
    values. The same data gives the same hash however it is chunked (one DataFrame, many
    RecordBatches, a Parquet file read in batches) and whether it arrives as pandas or
    arrow. Physical storage does not matter: numbers hash by value (int32, int64, float32
    and float64 columns holding 1, 2, 3 hash alike, so pandas turning an int chunk with a
    null into floats changes nothing; ``0.0`` and ``-0.0`` are equal, so they hash alike),
    strings hash alike from an arrow string column or a
    pandas ``object`` column, and a null hashes alike whether written as None, NaN, NaT or
    ``pd.NA``. Datetimes hash as UTC instants. Category and string columns hash
    differently (their logical types differ), and so do bools and numbers.
    The pandas index is ignored.

    Column order: by default (``column_order="ignore"``) columns are hashed in sorted name
    order, so reordering columns does not change the hash; pass ``"keep"`` to make the
    order part of the content.

Specs
    :func:`fingerprint_spec` hashes canonical JSON (sorted keys, no whitespace, no NaN).

Files and directories
    :func:`fingerprint_file` hashes a file's bytes; :func:`fingerprint_path` hashes a file, or
    a directory as the sorted list of its files' relative POSIX paths and hashes, so moving
    the directory does not change it. Both accept an fsspec filesystem for remote storage.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
>>> fingerprint_table(df) == fingerprint_table([df.iloc[:1], df.iloc[1:]])
True
>>> fingerprint_table(df) == fingerprint_table(df[["b", "a"]])
True
>>> fingerprint_spec({"b": 1, "a": [1.5, None]})[:16]
'cf0c4895ed707baa'
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prodml._data import Columns, iter_columns
from prodml._files import NUL_REASON, PATH_QUOTE, os_reason
from prodml._params import OneOf, check_params
from prodml._quote import short_repr
from prodml.errors import ConfigError, SchemaError, SchemaProblem

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = [
    "TableHasher",
    "fingerprint_bytes",
    "fingerprint_file",
    "fingerprint_path",
    "fingerprint_spec",
    "fingerprint_table",
]

_CHUNK = 1 << 20
_VERSION = b"prodml-table-v1"


def fingerprint_bytes(data: bytes) -> str:
    """sha256 hex of raw bytes (``bytes``, ``bytearray`` or ``memoryview``).

    Raises
    ------
    ConfigError
        When ``data`` is not bytes-like.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ConfigError(
            f"The 'data' parameter of fingerprint_bytes must be bytes. Got {type(data).__name__}.",
            parameter="data",
        )
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- specs


def canonical_json(obj: object) -> str:
    """Canonical JSON text of a JSON-able object (sorted keys, compact, UTF-8).

    Raises
    ------
    ConfigError
        When ``obj`` holds NaN/inf or anything JSON cannot represent, naming where.
    """
    _check_jsonable(obj, "$")
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _check_jsonable(obj: object, path: str) -> None:
    if obj is None or isinstance(obj, bool | int | str):
        return
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ConfigError(
                f"spec value at {path} is {short_repr(obj)}; JSON has no NaN or infinity"
            )
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise ConfigError(f"spec key {short_repr(k)} at {path} is not a string")
            _check_jsonable(v, f"{path}.{k}")
        return
    if isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            _check_jsonable(v, f"{path}[{i}]")
        return
    raise ConfigError(f"spec value at {path} has type {type(obj).__name__}, which is not JSON")


def fingerprint_spec(spec: object) -> str:
    """sha256 hex of a JSON-able object's canonical JSON.

    Dict key order does not matter; tuples hash like lists.

    Raises
    ------
    ConfigError
        For values that are not JSON (NaN, sets, objects), naming the path to them.
    """
    return fingerprint_bytes(canonical_json(spec).encode("utf-8"))


# ----------------------------------------------------------------------------- files


def _fspath(path: object, owner: str) -> str:
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(
            f"The 'path' parameter of {owner} must be a str or os.PathLike. "
            f"Got {type(path).__name__}.",
            parameter="path",
        )
    text = str(os.fspath(path))
    if "\x00" in text:
        raise ConfigError(
            f"{owner} cannot read {short_repr(text, limit=PATH_QUOTE)}: {NUL_REASON}",
            parameter="path",
        )
    return text


def _too_long(err: OSError, path: str, owner: str) -> ConfigError | None:
    """The error for a name the system refuses as too long, else ``None`` (re-raise)."""
    if err.errno != errno.ENAMETOOLONG:
        return None
    return ConfigError(
        f"{owner} cannot read {short_repr(path, limit=PATH_QUOTE)}: {os_reason(err)}",
        parameter="path",
    )


def fingerprint_file(path: str | os.PathLike[str], *, fs: AbstractFileSystem | None = None) -> str:
    """sha256 hex of a file's bytes, read in 1 MiB blocks.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ConfigError
        For a path no file can have: a NUL character in it, or a name the system refuses
        as too long.
    """
    h = hashlib.sha256()
    opener = fs.open if fs is not None else open
    p = _fspath(path, "fingerprint_file")
    try:
        f = opener(p, "rb")
    except OSError as err:
        raise _too_long(err, p, "fingerprint_file") or err from None
    with f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def fingerprint_path(path: str | os.PathLike[str], *, fs: AbstractFileSystem | None = None) -> str:
    """sha256 hex of a file, or of a directory's tree of files.

    A directory hashes the sorted ``relative/posix/path`` and content hash of each file
    beneath it (empty directories are not content), so it does not depend on where the
    directory lives or on the order the filesystem lists it.

    Raises
    ------
    FileNotFoundError
        When nothing exists at ``path``.
    ConfigError
        For a path no file can have (see :func:`fingerprint_file`).
    """
    p = _fspath(path, "fingerprint_path")
    if fs is None:
        local = Path(p)
        try:
            is_file, is_dir = local.is_file(), local.is_dir()
        except OSError as err:  # Python 3.11 raises for a name too long; 3.12 says False
            raise _too_long(err, p, "fingerprint_path") or err from None
        if is_file:
            return fingerprint_file(local)
        if not is_dir:
            raise FileNotFoundError(p)
        files = sorted(
            (q.relative_to(local).as_posix(), q) for q in local.rglob("*") if q.is_file()
        )
        entries = [(rel, fingerprint_file(q)) for rel, q in files]
    else:
        if fs.isfile(p):
            return fingerprint_file(p, fs=fs)
        if not fs.isdir(p):
            raise FileNotFoundError(p)
        root = p.rstrip("/")
        found = sorted(fs.find(root))
        entries = [(f[len(root) :].lstrip("/"), fingerprint_file(f, fs=fs)) for f in found]
    h = hashlib.sha256(b"prodml-dir-v1\n")
    for rel, digest in entries:
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------- tables


class TableHasher:
    """Incremental, chunking-independent content hash of a table.

    Feed chunks in row order with :meth:`update`; read :meth:`hexdigest`. Each column is
    hashed as separate streams (validity, values, string lengths) so that concatenating
    chunks and hashing gives the same streams as hashing the chunks one by one.

    Parameters
    ----------
    column_order
        ``"ignore"`` (default) hashes columns in sorted name order; ``"keep"`` makes the
        order part of the hash.

    Examples
    --------
    >>> import pyarrow as pa
    >>> h = TableHasher()
    >>> h.update(pa.table({"x": [1.0, 2.0]}))
    >>> h.update(pa.table({"x": [3.0]}))
    >>> h.hexdigest() == fingerprint_table(pa.table({"x": [1.0, 2.0, 3.0]}))
    True
    """

    def __init__(self, column_order: Literal["ignore", "keep"] = "ignore") -> None:
        check_params(
            "TableHasher",
            {"column_order": column_order},
            {"column_order": [OneOf(("ignore", "keep"))]},
        )
        self.column_order = column_order
        self._names: tuple[str, ...] | None = None
        self._kinds: dict[str, str] = {}
        self._streams: dict[str, dict[str, Any]] = {}
        self._rows = 0

    def update(self, chunk: object) -> None:
        """Hash the next chunk (DataFrame, Table or RecordBatch) of rows."""
        for cols in iter_columns(chunk, what="table chunk"):
            self._update(cols)

    def _update(self, cols: Columns) -> None:
        if self._names is None:
            self._names = cols.names
        elif set(cols.names) != set(self._names) or (
            self.column_order == "keep" and cols.names != self._names
        ):
            raise SchemaError(
                problems=[
                    SchemaProblem(
                        None,
                        "input",
                        f"chunk columns {list(cols.names)} differ from the first chunk's "
                        f"{list(self._names)}",
                    )
                ]
            )
        if cols.num_rows == 0:
            return
        for name in cols.names:
            kind = _hash_kind(cols, name)
            prev = self._kinds.get(name, "null")
            if prev == "null":
                self._kinds[name] = kind
            elif kind not in ("null", prev):
                raise SchemaError(
                    problems=[
                        SchemaProblem(
                            name, "type", f"chunks disagree on the type: {prev} then {kind}"
                        )
                    ]
                )
            streams = self._streams.setdefault(
                name,
                {
                    "valid": hashlib.sha256(),
                    "values": hashlib.sha256(),
                    "lengths": hashlib.sha256(),
                },
            )
            _hash_column(cols, name, kind, streams)
        self._rows += cols.num_rows

    def hexdigest(self) -> str:
        """The sha256 hex of everything fed so far."""
        names = list(self._names or ())
        if self.column_order == "ignore":
            names.sort()
        h = hashlib.sha256(_VERSION)
        h.update(f"\0rows={self._rows}\0cols={len(names)}".encode())
        for name in names:
            kind = self._kinds.get(name, "null")
            # A column seen only as nulls hashes the same whatever its storage type was.
            h.update(f"\0{name}\0{kind}\0".encode())
            streams = self._streams.get(name)
            if streams is not None:
                for key in ("valid", "values", "lengths"):
                    h.update(streams[key].digest())
        return h.hexdigest()


def _hash_kind(cols: Columns, name: str) -> str:
    info = cols.kind(name)  # detected once per view: _hash_column and float64 read it again
    if info.kind == "mixed":
        raise SchemaError(
            problems=[
                SchemaProblem(
                    name,
                    "type",
                    f"cannot hash values of mixed types, e.g. {short_repr(info.example)}",
                    info.row,
                )
            ]
        )
    if info.kind == "null" or cols.null_mask(name).all():
        # All-null chunks add only to the validity stream, whatever their storage type.
        return "null"
    # Ints and floats are one logical kind: numbers hash by value (1 == 1.0).
    return "number" if info.kind in ("int", "float") else info.kind


def _hash_column(cols: Columns, name: str, kind: str, streams: dict[str, Any]) -> None:
    nulls = cols.null_mask(name)
    streams["valid"].update((~nulls).astype(np.uint8).tobytes())
    if kind == "null":
        return
    valid = ~nulls
    if kind == "number":
        raw_kind = cols.kind(name).kind
        # + 0.0 turns -0.0 into 0.0: numbers hash by value, and -0.0 == 0.0.
        floats = cols.float64(name, allow_bool=False)[valid] + 0.0
        if raw_kind == "int":
            ints = pc.cast(cols.arrow(name), pa.int64()).to_numpy(zero_copy_only=False)
            ints = np.asarray(ints)[valid].astype(np.int64)
        else:
            # Integral floats also hash their exact integer value, so that an int chunk and a
            # float chunk (pandas turns ints with nulls into floats) with the same numbers agree.
            exact = (np.floor(floats) == floats) & (np.abs(floats) < 2.0**63)
            ints = np.where(exact, floats, 0.0).astype(np.int64)
        streams["values"].update(floats.astype("<f8").tobytes())
        streams["lengths"].update(ints.astype("<i8").tobytes())
    elif kind == "bool":
        b = cols.objects(name)[valid].astype(bool)
        streams["values"].update(b.astype(np.uint8).tobytes())
    elif kind == "datetime":
        dt = cols.datetime64(name, utc=True)[valid].astype("datetime64[ns]").view("<i8")
        streams["values"].update(dt.tobytes())
    else:  # string, category: length-prefixed UTF-8 stream of the non-null values
        arr = cols.arrow(name)
        if pa.types.is_dictionary(arr.type):
            arr = pc.cast(arr, arr.type.value_type)
        arr = pc.drop_null(pc.cast(arr, pa.large_string()))
        for chunk in arr.chunks:
            if len(chunk) == 0:
                continue
            offsets = np.frombuffer(chunk.buffers()[1], dtype="<i8")[
                chunk.offset : chunk.offset + len(chunk) + 1
            ]
            streams["lengths"].update(np.diff(offsets).astype("<i8").tobytes())
            data = chunk.buffers()[2]
            if data is not None:
                streams["values"].update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def fingerprint_table(data: object, *, column_order: Literal["ignore", "keep"] = "ignore") -> str:
    """sha256 hex of a table's content, independent of chunking and storage types.

    Parameters
    ----------
    data
        A DataFrame, Table, RecordBatch, Parquet file, or an iterable of those chunks.
    column_order
        ``"ignore"`` (default): column order does not change the hash. ``"keep"``: it does.

    Raises
    ------
    SchemaError
        When chunks disagree on columns or types, or a column mixes value types.
    """
    h = TableHasher(column_order)
    for cols in iter_columns(data, what="table"):
        h._update(cols)
    return h.hexdigest()
