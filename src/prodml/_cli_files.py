"""The files the ``prodml`` commands read and write: checked, read, streamed, named.

Split out of :mod:`prodml.cli`, which keeps the parser and the built-in commands. Here:
the checks of an input path (:func:`_input_path`) and an output path
(:func:`_check_writable`), the one error for a table pyarrow cannot read
(:func:`_unreadable`), reading a Parquet/CSV file whole (:func:`_read_table`) or batch by
batch with a CSV's types those of the whole file (:func:`read_streamed`). Every path in
their messages is shown by :func:`prodml._quote.shown_path`, as in every other command's.
The subcommands of ``drift`` and ``serving`` use them too.

``prodml --help`` does not import this module; the commands that read or write a file do.
pyarrow and prodml's own heavier modules are imported inside the functions that need them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from prodml._quote import shown_path

if TYPE_CHECKING:
    from prodml.errors import ProdMLError

T = TypeVar("T")


def _refuse_url(path: str, does: str) -> None:
    """A ``ConfigError`` for ``s3://...`` and the like where a local path is expected.

    ``Path("s3://bucket/out")`` is ``s3:/bucket/out``: a folder named ``s3:`` would be
    made in the current one, and the output written there, not to the bucket.
    """
    from prodml._secrets import redact_url  # noqa: PLC0415
    from prodml.errors import ConfigError  # noqa: PLC0415

    scheme, sep, _ = path.partition("://")
    if sep and scheme and all(c.isalnum() or c in "+-." for c in scheme):
        raise ConfigError(
            f"{shown_path(redact_url(path))} is a URL: this command {does} local files only "
            "(give a path, e.g. copy from or to the URL with your storage's tools)"
        )


def _input_path(path: str, *, table: bool) -> Path:
    """``path`` when it names a file or folder to read, else a ``ConfigError`` saying why.

    An empty path is refused (``Path("")`` is the current folder), as is anything but a
    regular file or folder (a FIFO would block the command, a device never end). With
    ``table=True`` the file must be Parquet or CSV, and a folder must hold some file.
    """
    from prodml._files import os_reason  # noqa: PLC0415
    from prodml.errors import ConfigError  # noqa: PLC0415

    if not path:
        raise ConfigError("the path is empty: give a file or folder")
    _refuse_url(path, "reads")
    p, shown = Path(path), shown_path(path)
    try:
        exists, regular = p.exists(), p.is_file() or p.is_dir()
    except OSError as err:  # a name too long, a folder we may not search
        raise ConfigError(f"cannot read {shown}: {os_reason(err)}") from err
    if not exists:
        raise ConfigError(f"no such file: {shown}")
    if not regular:
        raise ConfigError(f"{shown} is not a regular file or folder")
    if table:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:  # a name of bytes that are not UTF-8: valid on Linux
            raise ConfigError(  # pyarrow takes paths as UTF-8 text and raised on it
                f"cannot read {shown}: its name is not UTF-8 text, which pyarrow needs; "
                "rename it (or link it under a UTF-8 name)"
            ) from None
        if p.is_dir():
            if not any(f.is_file() for f in p.rglob("*")):
                raise ConfigError(f"{shown}: the folder holds no Parquet files")
        elif p.suffix.lower() not in (".csv", ".tsv", ".txt", ".parquet", ".pq"):
            raise ConfigError(f"{shown}: expected a .parquet or .csv file (or a Parquet directory)")
        elif p.stat().st_size == 0:
            raise ConfigError(
                f"{shown} is empty (0 bytes): give a Parquet file, or a CSV file with a header row"
            )
    return p


# pyarrow's wrappers around the reason a file cannot be read, which name the path again
_ARROW_PREFIXES = re.compile(
    r"^(?:Error creating dataset\. Could not read schema from .*?\?: )?"
    r"(?:Could not open (?:Parquet|CSV) input source '.*?': )?",
    re.DOTALL,
)


# the file of a folder pyarrow names in those wrappers
_ARROW_SOURCE = re.compile(r"Could not (?:read schema from|open Parquet input source) '(.+?)'")


def _unreadable(path: str, err: BaseException) -> ProdMLError:
    """The one error of every command for a table file pyarrow cannot read: what and what to do.

    The same words from ``schema``, ``fingerprint --content`` and ``drift``, without
    pyarrow's "Error creating dataset ... Could not open Parquet input source '...'".
    """
    from prodml._quote import error_line  # noqa: PLC0415
    from prodml.errors import ConfigError  # noqa: PLC0415

    reason = _ARROW_PREFIXES.sub("", error_line(err), count=1)
    if Path(path).is_dir():  # a folder is Parquet files: name the one that is not
        source = _ARROW_SOURCE.search(error_line(err))
        inner = ""
        if source is not None and Path(source[1]).is_relative_to(path):
            inner = f" ({shown_path(Path(source[1]).relative_to(path))} in it)"
        return ConfigError(
            f"cannot read {shown_path(path)} as Parquet{inner}: {reason} (every file in a "
            "folder is read as Parquet: move the others out, or give one file)"
        )
    csv = Path(path).suffix.lower() in (".csv", ".tsv", ".txt")
    kind, other = ("CSV", "Parquet (.parquet)") if csv else ("Parquet", "CSV (.csv)")
    return ConfigError(
        f"cannot read {shown_path(path)} as {kind}: {reason} (check the file; the name's "
        f"suffix chooses the reader: rename a {other} file to match)"
    )


def _read_table(path: str) -> object:
    import pyarrow as pa  # noqa: PLC0415 - only the file-reading commands need it
    import pyarrow.csv as pcsv  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    p = _input_path(path, table=True)
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            return pcsv.read_csv(p)
        return pq.read_table(p)
    except (pa.ArrowException, OSError) as err:
        raise _unreadable(path, err) from err


class _WiderCsvType(Exception):  # noqa: N818 - a signal to read again, not an error
    """A CSV column needs a wider type than its first block said: read it again from the start."""


# The message of a value a CSV column's type (from the file's first block) cannot hold.
_CSV_CONVERSION = "CSV conversion error to "


def _csv_types_in_order() -> list[object]:
    """Pyarrow's CSV inference order: a column takes the first type every value converts to.

    Only the order of types that can read the same text matters (int before bool for
    ``1``, int before float, date before timestamp, seconds before nanoseconds, text
    before binary); the others never compete for one value.
    """
    import pyarrow as pa  # noqa: PLC0415

    return [pa.null(), pa.int64(), pa.bool_(), pa.date32(), pa.time32("s"), pa.timestamp("s"),
            pa.timestamp("ns"), pa.timestamp("s", "UTC"), pa.timestamp("ns", "UTC"),
            pa.float64(), pa.string(), pa.binary()]  # fmt: skip


def read_streamed(
    path: str, consume: Callable[[Iterator[object]], T], *, progress: bool | None
) -> T:
    """``consume(batches of path)``, with a CSV's types those of the whole file.

    pyarrow's streaming CSV reader takes each column's type from the file's first block
    (1 MB) and fails on a later ``1.5`` in a column of ints; its whole-file reader (which
    ``prodml schema`` uses) widens the type instead. Here the first such conversion error
    stops ``consume``; one read of the file as text (:func:`_whole_file_csv_types`) finds
    every column's whole-file type, and ``consume`` starts again with them, once however
    many columns widen. Memory stays O(batch).
    """
    try:
        return consume(_stream_table(path, progress=progress, csv_types={}))
    except _WiderCsvType:
        pass
    import pyarrow as pa  # noqa: PLC0415

    try:
        types = _whole_file_csv_types(Path(path))
    except (pa.ArrowException, OSError) as err:
        raise _unreadable(path, err) from err
    try:
        return consume(_stream_table(path, progress=progress, csv_types=types))
    except _WiderCsvType as again:  # a value no type reads (pyarrow's whole-file read fails too)
        raise _unreadable(path, again.__cause__ or again) from again.__cause__


def _whole_file_csv_types(path: Path) -> dict[str, object]:
    """Every CSV column's type over the whole file, in one read of it as raw bytes.

    A column takes the first type of :func:`_csv_types_in_order` that every value of the
    file converts to. Each column starts from the types at or past its first block's, and
    each block drops those its distinct values do not all convert to, by pyarrow's own CSV
    conversion; what is left first is the type. Bytes that are not UTF-8 leave only
    ``binary``. Returned: the columns whose type is not their first block's.
    """
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415
    import pyarrow.csv as pcsv  # noqa: PLC0415

    order = _csv_types_in_order()
    first = pcsv.open_csv(path).schema
    kept = {
        f.name: order[order.index(f.type) : -1]  # all but binary, which reads every value
        for f in first
        if f.type in order and f.type != pa.binary()
    }
    as_bytes = pcsv.ConvertOptions(
        column_types=dict.fromkeys(kept, pa.binary()), strings_can_be_null=False
    )
    for batch in pcsv.open_csv(path, convert_options=as_bytes):
        for name, candidates in kept.items():
            if candidates:
                values = pc.unique(batch.column(name))
                kept[name] = [t for t in candidates if _all_read_as(values, t)]
    wider = {
        name: candidates[0] if candidates else pa.binary() for name, candidates in kept.items()
    }
    return {f.name: wider[f.name] for f in first if f.name in wider and wider[f.name] != f.type}


def _all_read_as(values: object, type_: object) -> bool:
    """Whether pyarrow's CSV reader converts every one of ``values`` (raw bytes) to ``type_``.

    Each value is written quoted: a quoted value converts as the same value unquoted (an
    empty or ``NA`` one is a null either way).
    """
    import io  # noqa: PLC0415

    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.csv as pcsv  # noqa: PLC0415

    try:
        text = values.cast(pa.string())  # type: ignore[attr-defined]
    except pa.ArrowInvalid:  # not UTF-8: no type but binary reads it
        return False
    if type_ == pa.string():
        return True
    sink = io.BytesIO()
    options = pcsv.WriteOptions(quoting_style="all_valid")
    pcsv.write_csv(pa.table({"v": text}), sink, write_options=options)
    try:
        pcsv.read_csv(
            io.BytesIO(sink.getvalue()),
            convert_options=pcsv.ConvertOptions(column_types={"v": type_}),
        )
    except pa.ArrowInvalid:
        return False
    return True


def _stream_table(
    path: str, *, progress: bool | None, csv_types: dict[str, object] | None = None
) -> Iterator[object]:
    """Read a Parquet/CSV file batch by batch, with a progress bar on a terminal.

    Memory stays O(batch); a profile fed these batches equals the one of the whole table.
    ``csv_types``: the CSV columns' types where not their first block's; a later value
    they cannot hold raises ``_WiderCsvType`` (see :func:`read_streamed`).
    """
    import pyarrow as pa  # noqa: PLC0415 - only the file-reading commands need it
    import pyarrow.csv as pcsv  # noqa: PLC0415
    import pyarrow.dataset as pds  # noqa: PLC0415

    from prodml._progress import drawing, progress_bar  # noqa: PLC0415

    p = _input_path(path, table=True)
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            types = {} if csv_types is None else csv_types
            options = pcsv.ConvertOptions(column_types=types)
            total, batches = None, pcsv.open_csv(p, convert_options=options)
        else:
            dataset = pds.dataset(p, format="parquet")
            total, batches = dataset.count_rows(), dataset.to_batches(batch_size=65_536)
        bar = progress_bar(desc=f"profiling {p.name}", total=total, enabled=progress)
        with drawing(bar):
            for batch in batches:
                bar.update(batch.num_rows)
                yield batch
    except (pa.ArrowException, OSError) as err:
        if csv_types is not None and _CSV_CONVERSION in str(err):
            raise _WiderCsvType from err
        raise _unreadable(path, err) from err


def _check_writable(path: str | Path, *, folder: bool = False) -> Path:
    """Fail early, before long work, when an output path cannot be written.

    ``folder=False``: ``path`` is a file whose parent folder must exist and be writable.
    ``folder=True``: ``path`` is a folder that exists writable, or can be created: the
    folders missing are made to try, then removed again (the command makes them when it
    writes), so that a command failing later, on its input or its model, leaves no empty
    folder behind.

    Raises
    ------
    ConfigError
        Naming the path and why it cannot be written.
    """
    import contextlib  # noqa: PLC0415

    from prodml.errors import ConfigError  # noqa: PLC0415

    if not str(path):  # Path("") is the current folder: never what was meant
        raise ConfigError("the output path is empty: give a file or folder")
    if str(path) == "-":  # the shell's "standard output", which these outputs are not
        what = "into a folder, not to standard output; give a folder (e.g. ./out)"
        if not folder:
            what = "to a file, not to standard output; give a file path"
        raise ConfigError(f"the output path is '-': prodml writes this output {what}")
    _refuse_url(str(path), "writes")
    p = Path(path)
    made: list[Path] = []  # the folders this check makes, deepest first
    try:
        _check_writable_in(p, folder=folder, made=made)
    finally:
        for folder_made in made:
            with contextlib.suppress(OSError):  # something was written there meanwhile
                folder_made.rmdir()
    return p


def _check_writable_in(p: Path, *, folder: bool, made: list[Path]) -> None:
    """:func:`_check_writable` after its checks of the text: the path and a real write."""
    import tempfile  # noqa: PLC0415

    from prodml._files import os_reason  # noqa: PLC0415
    from prodml.errors import ConfigError  # noqa: PLC0415

    if folder:
        if p.exists() and not p.is_dir():
            raise ConfigError(f"cannot write to {shown_path(p)}: it is a file, not a folder")
        missing = p
        while not missing.exists() and missing != missing.parent:
            made.append(missing)
            missing = missing.parent
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"cannot create the folder {shown_path(p)}: {os_reason(err)}"
            ) from err
        target = p
    else:
        if p.is_dir():
            raise ConfigError(f"cannot write to {shown_path(p)}: it is a folder")
        target = p.parent if str(p.parent) else Path(".")
        if not target.is_dir():
            raise ConfigError(
                f"cannot write {shown_path(p)}: the folder {shown_path(target)} does not exist"
            )
    try:  # a real write: permission bits say nothing for root, nor for /proc or a full disk
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        raise ConfigError(f"cannot write to {shown_path(target)}: {os_reason(err)}") from err
