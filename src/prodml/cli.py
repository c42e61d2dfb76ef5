"""The ``prodml`` command: ``demo``, ``drift``, ``registry``, ``serve``, ``score``, ...

Run ``prodml --help`` for the list; each subcommand has its own ``--help``. Exit codes:
0 success, 1 a finding where a command documents one (``prodml drift``: drift found),
2 an error of the input or the environment (a usage error too, as argparse exits): one
line on stderr (``error: ...``), never a traceback. 70 (``EX_SOFTWARE``) a bug in prodml,
after its traceback: never 1, which a cron job would read as drift found, nor 2, which
says to fix the command. 130 when interrupted. Credentials, in the URLs given or in the
environment (``PGPASSWORD``, ``AWS_SECRET_ACCESS_KEY``), are masked as ``***`` in
everything printed on stderr.

``prodml --help`` and ``--version`` import no numpy, pandas or pyarrow: a subcommand's
module is imported only when that subcommand runs (or its own ``--help`` is asked for).
"""

from __future__ import annotations

import sys


def _interrupted_hook(kind: type[BaseException], value: BaseException, tb: object) -> None:
    """``sys.excepthook`` while this module loads: Ctrl-C then prints no traceback.

    A Ctrl-C while ``prodml`` is still importing (argparse, pathlib: the first tens of
    milliseconds) is raised before :func:`main` can catch it, and Python's default hook
    prints a traceback of the import machinery. This hook prints ``interrupted`` instead,
    as :func:`main` does; Python then ends the process by SIGINT, which a shell reports as
    130. It puts the previous hook back once it has run, and the module's last line puts
    it back after a complete import, so a program importing ``prodml.cli`` keeps its own.
    """
    sys.excepthook = _previous_hook
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
    else:  # pragma: no cover - an import error of the standard library: Python's report
        _previous_hook(kind, value, tb)  # type: ignore[arg-type]


_previous_hook, sys.excepthook = sys.excepthook, _interrupted_hook

import argparse  # noqa: E402 - after the hook: a Ctrl-C while these load is reported as one
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import re  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Literal, NoReturn, TypeVar  # noqa: E402

from prodml import __version__  # noqa: E402

if TYPE_CHECKING:
    from prodml._secrets import Secrets
    from prodml.errors import ProdMLError
    from prodml.schema import Schema

# The error classes are imported when a command runs, not for `prodml --help` (they pull in
# dataclasses and inspect); `_errors()` is the one place that does it.

__all__ = ["main"]

T = TypeVar("T")

EXIT_BUG = 70
"""The exit code of a bug in prodml: sysexits.h's ``EX_SOFTWARE`` (internal software error).

Not 2, the code of every error the user can fix (a usage error, a missing file), so that a
script or a CI job tells the two apart; not 1, which ``prodml drift`` exits with for drift."""

# Subcommands contributed by subpackages: name -> (module with ``add_parser(subparsers)``,
# the one-line help shown by ``prodml --help``). The module is imported only when its
# command is chosen, so listing the commands stays instant.
_PLUGINS: dict[str, tuple[str, str]] = {
    "drift": (
        "prodml.drift._cli",
        "compare a current Parquet/CSV file with a reference one, column by column",
    ),
    "registry": (
        "prodml.registry._cli",
        "list the models, versions and aliases of a model registry",
    ),
    "serve": ("prodml.serving._cli", "serve a registry model over HTTP (extra 'serve')"),
    "score": ("prodml.serving._cli", "score Parquet files with a registry model into Parquet"),
    "store": ("prodml.store._cli", "apply, materialize and read a feature store"),
}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        if message.endswith("required: COMMAND"):  # `prodml` alone: say what it can do
            commands = next(
                (a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)),
                {},
            )
            message += f", one of: {', '.join(commands)}; start with 'prodml demo'"
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def _shown(path: object) -> str:
    """A path as an error shows it: as typed when short and printable, else quoted and cut.

    A control character would break the one-line message, and a 5,000-character name
    (the system refuses it as "File name too long") would fill the terminal.
    """
    from prodml._files import PATH_QUOTE  # noqa: PLC0415 - see the note at the top
    from prodml._quote import short_repr  # noqa: PLC0415

    text = path.decode(errors="replace") if isinstance(path, bytes) else str(path)
    if len(text) <= PATH_QUOTE and text.isprintable():
        return text
    return short_repr(text, limit=PATH_QUOTE)


def _errors() -> type[ProdMLError]:
    from prodml.errors import ProdMLError  # noqa: PLC0415 - see the note at the top

    return ProdMLError


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
            f"{_shown(redact_url(path))} is a URL: this command {does} local files only "
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
    p, shown = Path(path), _shown(path)
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


def _unreadable(path: str, err: BaseException) -> ProdMLError:
    """The one error of every command for a table file pyarrow cannot read: what and what to do.

    The same words from ``schema``, ``fingerprint --content`` and ``drift``, without
    pyarrow's "Error creating dataset ... Could not open Parquet input source '...'".
    """
    from prodml._quote import error_line  # noqa: PLC0415
    from prodml.errors import ConfigError  # noqa: PLC0415

    reason = _ARROW_PREFIXES.sub("", error_line(err), count=1)
    csv = Path(path).suffix.lower() in (".csv", ".tsv", ".txt")
    kind, other = ("CSV", "Parquet (.parquet)") if csv else ("Parquet", "CSV (.csv)")
    return ConfigError(
        f"cannot read {_shown(path)} as {kind}: {reason} (check the file; the name's "
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


_CSV_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to .*?: invalid value '(.*)'$", re.S
)


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


def _reads_as(text: str, type_: object) -> bool:
    """Whether pyarrow's CSV reader converts the one value ``text`` to ``type_``."""
    import io  # noqa: PLC0415

    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.csv as pcsv  # noqa: PLC0415

    cell = '"' + text.replace('"', '""') + '"'
    options = pcsv.ConvertOptions(column_types={"v": type_})
    try:
        pcsv.read_csv(io.BytesIO(f"v\n{cell}\n".encode()), convert_options=options)
    except pa.ArrowInvalid:
        return False
    return True


def _widen(err: BaseException, names: list[str], types: dict[str, object]) -> bool:
    """Widen ``types`` for the column a CSV conversion error names; ``False`` if none."""
    found = _CSV_CONVERSION.search(str(err))
    if found is None or int(found[1]) >= len(names):
        return False
    name, order = names[int(found[1])], _csv_types_in_order()
    current = types.get(name)
    later = order[order.index(current) + 1 :] if current in order else order[1:]
    wider = next((t for t in later if _reads_as(found[2], t)), None)
    if wider is None or wider == current:
        return False
    types[name] = wider
    return True


def read_streamed(
    path: str, consume: Callable[[Iterator[object]], T], *, progress: bool | None
) -> T:
    """``consume(batches of path)``, with a CSV's types those of the whole file.

    pyarrow's streaming CSV reader takes each column's type from the file's first block
    (1 MB) and fails on a later ``1.5`` in a column of ints; its whole-file reader (which
    ``prodml schema`` uses) widens the type instead. Here a conversion error widens the
    column's type the same way and ``consume`` starts again with it, so both commands see
    the same types, in memory O(batch): the rule of :func:`pyarrow.csv.read_csv`.
    """
    types: dict[str, object] = {}
    while True:
        try:
            return consume(_stream_table(path, progress=progress, csv_types=types))
        except _WiderCsvType:  # noqa: PERF203 - at most a few times per file
            continue


def _stream_table(
    path: str, *, progress: bool | None, csv_types: dict[str, object] | None = None
) -> Iterator[object]:
    """Read a Parquet/CSV file batch by batch, with a progress bar on a terminal.

    Memory stays O(batch); a profile fed these batches equals the one of the whole table.
    ``csv_types``: the CSV columns' types so far; a later block that needs a wider one
    widens it there and raises ``_WiderCsvType`` (see :func:`read_streamed`).
    """
    import pyarrow as pa  # noqa: PLC0415 - only the file-reading commands need it
    import pyarrow.csv as pcsv  # noqa: PLC0415
    import pyarrow.dataset as pds  # noqa: PLC0415

    from prodml._progress import drawing, progress_bar  # noqa: PLC0415

    p = _input_path(path, table=True)
    suffix, names = p.suffix.lower(), []
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            types = {} if csv_types is None else csv_types
            options = pcsv.ConvertOptions(column_types=types)
            total, batches = None, pcsv.open_csv(p, convert_options=options)
            names = batches.schema.names
        else:
            dataset = pds.dataset(p, format="parquet")
            total, batches = dataset.count_rows(), dataset.to_batches(batch_size=65_536)
        bar = progress_bar(desc=f"profiling {p.name}", total=total, enabled=progress)
        with drawing(bar):
            for batch in batches:
                bar.update(batch.num_rows)
                yield batch
    except (pa.ArrowException, OSError) as err:
        if csv_types is not None and _widen(err, names, csv_types):
            raise _WiderCsvType from err
        raise _unreadable(path, err) from err


def _check_writable(path: str | Path, *, folder: bool = False) -> Path:
    """Fail early, before long work, when an output path cannot be written.

    ``folder=False``: ``path`` is a file whose parent folder must exist and be writable.
    ``folder=True``: ``path`` is a folder that exists writable, or can be created.

    Raises
    ------
    ConfigError
        Naming the path and why it cannot be written.
    """
    import tempfile  # noqa: PLC0415

    from prodml._files import os_reason  # noqa: PLC0415
    from prodml.errors import ConfigError  # noqa: PLC0415

    if not str(path):  # Path("") is the current folder: never what was meant
        raise ConfigError("the output path is empty: give a file or folder")
    if str(path) == "-":  # the shell's "standard output", which these outputs are not
        raise ConfigError(
            "the output path is '-': prodml writes this output to a file or folder, not to "
            "standard output; give a path (e.g. ./report.json)"
        )
    _refuse_url(str(path), "writes")
    p = Path(path)
    if folder:
        if p.exists() and not p.is_dir():
            raise ConfigError(f"cannot write to {_shown(p)}: it is a file, not a folder")
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"cannot create the folder {_shown(p)}: {os_reason(err)}") from err
        target = p
    else:
        if p.is_dir():
            raise ConfigError(f"cannot write to {_shown(p)}: it is a folder")
        target = p.parent if str(p.parent) else Path(".")
        if not target.is_dir():
            raise ConfigError(
                f"cannot write {_shown(p)}: the folder {_shown(target)} does not exist"
            )
    try:  # a real write: permission bits say nothing for root, nor for /proc or a full disk
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        raise ConfigError(f"cannot write to {_shown(target)}: {os_reason(err)}") from err
    return p


def _cmd_version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    from prodml.privacy import PersonalDataWarning  # noqa: PLC0415 - keep `--help` fast
    from prodml.schema import Schema  # noqa: PLC0415 - keep `prodml --help` fast

    p = _input_path(args.path, table=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PersonalDataWarning)
        if p.is_file() and p.suffix.lower() in (".parquet", ".pq"):
            schema = _parquet_schema(p, args.path, nullable=args.nullable)
        else:
            schema = Schema.infer(_read_table(args.path), nullable=args.nullable)
    for found in caught:  # one line each, not Python's "file:line:" and source line
        if issubclass(found.category, PersonalDataWarning):
            print(f"warning: {_one_line(str(found.message))}", file=sys.stderr)
        else:  # pragma: no cover - infer warns of nothing else today
            warnings.warn_explicit(found.message, found.category, found.filename, found.lineno)
    if args.json:
        print(json.dumps(schema.to_dict(), indent=2))
    else:
        # A name is the file's data: a newline or a terminal escape in it is shown quoted,
        # never sent to the terminal (nor allowed to break the one-column-a-line output).
        names = [c.name if c.name.isprintable() else repr(c.name) for c in schema.columns]
        width = max(map(len, names)) if names else 4
        for name, c in zip(names, schema.columns, strict=True):
            tz = f" ({c.timezone})" if c.timezone else ""
            flags = ("" if c.nullable else "  not null") + ("  sensitive" if c.sensitive else "")
            print(f"{name:<{width}}  {c.dtype.value}{tz}{flags}")
    return 0


def _parquet_schema(p: Path, path: str, *, nullable: Literal["always", "observed"]) -> Schema:
    """The schema of one Parquet file from its footer and leading row groups, not all of it."""
    import pyarrow as pa  # noqa: PLC0415 - only the file-reading commands need it

    from prodml._schema_parquet import infer_parquet  # noqa: PLC0415

    try:
        return infer_parquet(p, nullable=nullable)
    except (pa.ArrowException, OSError) as err:
        raise _unreadable(path, err) from err


def _cmd_fingerprint(args: argparse.Namespace) -> int:
    from prodml._files import os_reason  # noqa: PLC0415
    from prodml.errors import ConfigError  # noqa: PLC0415
    from prodml.fingerprint import fingerprint_path, fingerprint_table  # noqa: PLC0415

    if args.content:
        print(fingerprint_table(_read_table(args.path)))
        return 0
    _input_path(args.path, table=False)
    try:
        digest = fingerprint_path(args.path)
    except OSError as err:  # a file in the folder the system refuses to read
        where = err.filename or args.path
        raise ConfigError(f"cannot read {_shown(where)}: {os_reason(err)}") from err
    print(digest)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    out = _check_writable(args.out, folder=True)
    from prodml._demo import run_demo  # noqa: PLC0415 - the demo imports every module

    return run_demo(out, seed=args.seed, quiet=args.quiet)


def _seed(text: str) -> int:
    """A random seed numpy and scikit-learn both take: an int in [0, 2**32 - 2]."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: not an integer") from None
    if not 0 <= seed < 2**32 - 1:  # the demo also seeds with seed + 1
        raise argparse.ArgumentTypeError(f"invalid seed {seed}: expected 0 to {2**32 - 2}")
    return seed


def _add_builtins(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the end-to-end demo on embedded defaults",
        description="Run the end-to-end story offline in seconds: train a churn model, register "
        "it, serve drifting traffic under a monitor, retrain on its alerts, run two canaries "
        "(one promotes, one rolls back), explain a decision, estimate costs. Writes "
        "report.html, drift.html, summary.json, the model card and a local registry to OUT. "
        "Steps that need an extra missing here (store, sign, serve) are skipped, one line each.",
        epilog="Then: open OUT/report.html, or list what it registered with "
        "'prodml registry OUT churn'.",
    )
    demo.add_argument("--out", default="prodml-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default: %(default)s)")
    demo.add_argument(
        "-q", "--quiet", action="store_true", help="print only the summary (no progress)"
    )
    demo.set_defaults(func=_cmd_demo)

    schema = sub.add_parser(
        "schema",
        help="infer the schema of a Parquet or CSV file",
        description="Print one line per column: name, type, zone, 'not null', 'sensitive'. "
        "A Parquet file is read from its footer and first row groups (64 MiB), not whole. "
        "Exit codes: 0 success, 2 an input that cannot be read.",
    )
    schema.add_argument("path", help="a Parquet or CSV file, or a folder of Parquet files")
    schema.add_argument("--json", action="store_true", help="print the schema as JSON")
    schema.add_argument(
        "--nullable",
        choices=["always", "observed"],
        default="observed",
        help="mark columns nullable always or only when they hold a null (default: %(default)s)",
    )
    schema.set_defaults(func=_cmd_schema)

    fp = sub.add_parser("fingerprint", help="sha256 of a file/directory, or of a table's content")
    fp.add_argument(
        "path", help="a file or folder (its bytes), or with --content a Parquet or CSV table"
    )
    fp.add_argument(
        "--content",
        action="store_true",
        help="hash the table's content (Parquet/CSV), independent of file layout",
    )
    fp.set_defaults(func=_cmd_fingerprint)

    version = sub.add_parser("version", help="print the prodml version")
    version.set_defaults(func=_cmd_version)


def _plugin_available(module_name: str) -> bool:
    # find_spec of the subpackage imports only `prodml` (already loaded), not the subpackage.
    package = module_name.rsplit(".", 1)[0]
    return importlib.util.find_spec(package) is not None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with every available subcommand.

    Parameters
    ----------
    command
        The subcommand about to run: only its module is imported, the others are listed
        by name and help line. ``None`` imports every subcommand's module (slower).

    Examples
    --------
    >>> parser = build_parser("version")
    >>> parser.parse_args(["version"]).command
    'version'
    """
    parser: argparse.ArgumentParser = _Parser(
        prog="prodml",
        description="Production ML building blocks from a shell: the end-to-end demo, a "
        "file's schema and fingerprint, drift between two files, a model registry, serving "
        "and batch scoring, a feature store. Exit codes: 0 success, 1 a finding a command "
        "documents (drift found), 2 an error (usage, input, environment), 70 a bug in prodml.",
        epilog="New here? 'prodml demo' runs the whole story offline in seconds. "
        "'prodml COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"prodml {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_builtins(sub)
    chosen = [command] if command in _PLUGINS else []
    for name in chosen if command is not None else list(_PLUGINS):
        module_name = _PLUGINS[name][0]
        if name not in sub.choices and _plugin_available(module_name):
            add: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = (
                importlib.import_module(module_name).add_parser
            )
            add(sub)  # may register several commands (serving: serve and score)
    for name, (module_name, help_line) in _PLUGINS.items():
        if name not in sub.choices and _plugin_available(module_name):
            sub.add_parser(name, help=help_line, add_help=False)  # listed, loaded when chosen
    return parser


_REGISTRY_SUBCOMMANDS = ("card", "prune-history")
"""``prodml registry WORD``: named here so ``prodml --help`` imports no registry code
(the parsers are ``prodml.registry._cli.SUBCOMMANDS``; a test keeps the two in step)."""


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand in ``argv``: the first word that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def _run(argv: Sequence[str]) -> int:
    if len(argv) >= 2 and argv[0] == "registry" and argv[1] in _REGISTRY_SUBCOMMANDS:
        # A subcommand under the registry's positionals (`prodml registry card ...`).
        from prodml.registry._cli import SUBCOMMANDS  # noqa: PLC0415 - keep --help fast

        inner = SUBCOMMANDS[argv[1]]()  # the same parser, with one-line usage errors
        inner_cli = _Parser(prog=inner.prog, description=inner.description,
                            epilog=inner.epilog, parents=[inner], add_help=False)  # fmt: skip
        inner_args = inner_cli.parse_args(argv[2:])
        inner_code: int = inner_args.func(inner_args)
        return inner_code
    # No command (``prodml --help``, ``--version``): "" loads no subcommand module.
    parser = build_parser(_command_of(argv) or "")
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the (sub)command they were given to, with its --help
        command = argv.index(args.command) if args.command in argv else 0
        first = argv.index(extra[0]) if extra[0] in argv else len(argv)
        given_to = parser if first < command else _deepest(parser, args)
        given_to.error(f"unrecognized arguments: {' '.join(extra)}")
    code: int = args.func(args)
    return code


def _deepest(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the deepest subcommand ``args`` chose (``prodml store views``)."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, sub.dest, None) if sub is not None else None
        if sub is None or chosen not in sub.choices:
            return parser
        parser = sub.choices[chosen]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``prodml`` command line; return the exit code.

    Errors (a :class:`~prodml.errors.ProdMLError`, a file the system refuses to read or
    write, a usage error, a database, Redis or S3 server that cannot be reached or refuses
    the credentials) print one line, ``error: ...``, on stderr and return 2; ``--help``
    and ``--version`` return 0 (no ``SystemExit`` escapes). Any other exception is a bug
    in prodml: its traceback, then an ``error:`` line, and 70 (``EX_SOFTWARE``), so that a
    script tells a bug to report from a command to fix. Output cut short by its reader
    (``prodml ... | head``) ends quietly with 141. Credentials from the URLs in
    ``argv`` and from the environment are masked in all of it.

    Examples
    --------
    >>> code = main(["version"])  # doctest: +ELLIPSIS
    0...
    >>> code
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while an error below was being reported
        return _interrupted()


def _main(argv: list[str]) -> int:
    try:
        return _run(argv)
    except BrokenPipeError as err:  # stdout's reader left (`prodml ... | head`)
        if err.filename is None:
            return _stdout_closed()
        _say(f"error: {_one_line(err.strerror or str(err))}: {_shown(err.filename)}", argv)
    except OSError as err:
        where = f": {_shown(err.filename)}" if err.filename else ""
        _say(f"error: {_one_line(err.strerror or str(err))}{where}", argv)
    except SystemExit as exit_:  # argparse: --help, --version, a usage error
        if exit_.code is None:  # sys.exit(): success, as Python itself reads it
            return 0
        if isinstance(exit_.code, int):
            return exit_.code
        # sys.exit("message"): Python would print it; returning 2 alone lost it.
        _say(f"error: {_one_line(str(exit_.code))}", argv)
    except Exception as err:  # noqa: BLE001 - the boundary: every error ends as exit 2
        if isinstance(err, _errors()):
            message = err.args[0] if err.args else type(err).__name__  # KeyError quoting off
            _say(f"error: {_one_line(str(message))}", argv)
        elif (service := _service_failure(err)) is not None:
            _say(f"error: {service}", argv)
        else:  # a bug in prodml: the traceback is what a report needs, minus any secret
            import traceback  # noqa: PLC0415 - only on this path

            _say("".join(traceback.format_exception(err)).rstrip("\n"), argv)
            _say(f"error: a bug in prodml ({type(err).__name__}): please report it", argv)
            return EXIT_BUG
    return 2


def _interrupted() -> int:
    """Exit code 130 (128 + SIGINT) after one line, ``interrupted``, and no traceback.

    A second Ctrl-C while Python shuts down (joining pyarrow's or a progress bar's
    threads) then ends the process at once, by the signal itself, rather than raising a
    KeyboardInterrupt where nothing catches it and its traceback is printed.
    """
    import contextlib  # noqa: PLC0415 - only on this path
    import signal  # noqa: PLC0415

    with contextlib.suppress(ValueError):  # main() called from a thread, not the main one
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    with contextlib.suppress(OSError, ValueError):  # stderr closed
        print("interrupted", file=sys.stderr)
    return 130


def _stdout_closed() -> int:
    """Exit code 141 (128 + SIGPIPE, as a shell tool killed by it), and no error message.

    The reader of the output closed the pipe (``| head``): nothing went wrong that the user
    should read about. stdout is pointed at the null device so that Python's own flush at
    exit does not fail on it again.
    """
    import os  # noqa: PLC0415 - only on this path

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (a test's capture)
        pass
    return 141


# Client libraries of the servers a registry or store lives on, and the exceptions of
# theirs that say the server cannot be reached, refused the credentials or the request:
# the environment's fault, not a bug, so one line, not a traceback.
_SERVICE_CLIENTS = {
    "redis": "Redis",
    "botocore": "S3",
    "aiobotocore": "S3",
    "s3fs": "S3",
    "sqlalchemy": "the database",
    "psycopg": "PostgreSQL",
}
_SERVICE_FAILURES = frozenset(
    {
        "AuthenticationError",  # redis: a wrong password
        "AuthorizationError",
        "BotoCoreError",  # botocore: no credentials, an endpoint it cannot reach...
        "BusyLoadingError",
        "ClientError",  # botocore: the service said no (access denied, no such bucket)
        "ConnectionError",
        "NoPermissionError",
        "OperationalError",  # sqlalchemy, psycopg: connection refused, server gone
        "ReadOnlyError",
        "TimeoutError",
    }
)
_HINTS = {
    "NoCredentialsError": " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)",
}


def _service_failure(err: BaseException) -> str | None:
    """``err`` as one line when a server's client library raised it for a server problem.

    ``None`` for anything else (a bug in prodml, which keeps its traceback).
    """
    service = _SERVICE_CLIENTS.get(type(err).__module__.split(".")[0])
    names = {cls.__name__ for cls in type(err).__mro__}
    if service is None or not names & _SERVICE_FAILURES:
        return None
    from prodml._quote import error_line  # noqa: PLC0415

    return f"{service}: {error_line(err)}{_HINTS.get(type(err).__name__, '')}"


def _secrets(argv: Sequence[str]) -> Secrets:
    """The credentials ``argv``'s URLs and the environment hold, to keep out of stderr."""
    import os  # noqa: PLC0415 - only when there is something to print

    from prodml._secrets import Secrets, is_secret_name  # noqa: PLC0415

    found = Secrets()
    for arg in argv:
        if "://" in arg:
            found += Secrets.of(arg.partition("=")[2] if arg.startswith("--") else arg)
    # AWS_SECRET_ACCESS_KEY, PGPASSWORD...: the clients read them, and may echo them.
    # Short values are left alone: masking "1" or "true" would garble the message.
    env = [v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= 8]
    return found + Secrets(env)


def _say(text: str, argv: Sequence[str]) -> None:
    """Print ``text`` on stderr with every credential of ``argv`` and the environment masked."""
    print(_secrets(argv).scrub(text), file=sys.stderr)


def _one_line(text: str) -> str:
    """A message on one line: ``2 problems:`` then ``- a`` and ``- b`` -> ``2 problems: a; b``."""
    out = ""
    for raw in text.strip().splitlines():
        line = raw.strip().removeprefix("- ").strip()
        if line:
            out += line if not out else (" " if out.endswith(":") else "; ") + line
    return out or "unknown error"


if sys.excepthook is _interrupted_hook:  # imported in full: main() catches Ctrl-C from here
    sys.excepthook = _previous_hook

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
