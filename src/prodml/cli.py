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

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

from prodml import __version__, _caused_by_ctrl_c

if TYPE_CHECKING:
    from prodml.schema import Schema

# The file helpers (prodml._cli_files) and the reporting of a failure (prodml._cli_errors)
# are imported when a command runs or fails, not for `prodml --help`: the error classes
# they use pull in dataclasses and inspect.

__all__ = ["main"]

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
        if message.startswith("the following arguments are required") or (
            "invalid choice" in message
        ):  # argparse says this before the flags it does not know: name those too
            unknown = _unknown_flags(self, _ARGV.get())
            if unknown:
                message = f"unrecognized arguments: {' '.join(unknown)}; {message}"
        message = _masked(message, _ARGV.get())  # argparse quotes the arguments it refuses
        self.exit(2, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def _unknown_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """The ``--flags`` of ``argv`` that ``parser`` knows under no name (nor a prefix of one).

    Only the name: a value given with ``=`` may be a URL with a password.
    """
    known = [k for k in parser._option_string_actions if k.startswith("--")]
    unknown = []
    for arg in argv:
        name = arg.partition("=")[0]
        if not arg.startswith("--") or arg == "--" or " " in arg:  # "--" ends the options
            continue
        if name not in known and not (
            parser.allow_abbrev and any(k.startswith(name) for k in known)
        ):
            unknown.append(name)
    return unknown


_ARGV: ContextVar[Sequence[str]] = ContextVar("_ARGV", default=())
"""The arguments :func:`main` is parsing: a usage error masks their URLs' credentials."""


def _masked(message: str, argv: Sequence[str] = ()) -> str:
    """``message`` with the credentials of ``argv``, of the URLs it quotes and of the env masked.

    A usage error repeats the argument it refuses (``invalid choice: 'postgresql://bob:
    PASSWORD@db/x'``, ``unrecognized arguments: ...``): the same ``***`` as every error.
    The URLs are taken from ``argv`` whole, so that a password with a quote or a space in
    it is masked too, also where argparse quotes it as Python does (a quote escaped): see
    :func:`prodml._cli_errors._secrets`.
    """
    import os  # noqa: PLC0415 - only on a usage error

    env = (v for v in os.environ.values() if len(v) >= 8)  # _cli_errors keeps credentials
    if "://" not in message and not any(v in message for v in env):
        return message  # nothing to mask: a usage error stays as quick as argparse's own
    import re  # noqa: PLC0415

    from prodml._cli_errors import _secrets  # noqa: PLC0415

    quoted = re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+", message)
    return _secrets([*argv, *quoted]).scrub(message)


def _cmd_version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    from prodml._cli_errors import _one_line  # noqa: PLC0415 - keep `prodml --help` fast
    from prodml._cli_files import _input_path, _read_table  # noqa: PLC0415
    from prodml.privacy import PersonalDataWarning  # noqa: PLC0415 - keep `--help` fast
    from prodml.schema import Schema  # noqa: PLC0415 - keep `prodml --help` fast

    p = _input_path(args.path, table=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PersonalDataWarning)
        if p.is_dir() or p.suffix.lower() in (".parquet", ".pq"):
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
    """The schema of a Parquet file or folder from footers and leading row groups, not all."""
    import pyarrow as pa  # noqa: PLC0415 - only the file-reading commands need it

    from prodml._cli_files import _unreadable  # noqa: PLC0415
    from prodml._schema_parquet import infer_parquet  # noqa: PLC0415

    try:
        return infer_parquet(p, nullable=nullable)
    except (pa.ArrowException, OSError) as err:
        raise _unreadable(path, err) from err


def _cmd_fingerprint(args: argparse.Namespace) -> int:
    from prodml._cli_files import _input_path, _read_table  # noqa: PLC0415
    from prodml._files import os_reason  # noqa: PLC0415
    from prodml._quote import shown_path  # noqa: PLC0415
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
        raise ConfigError(f"cannot read {shown_path(where)}: {os_reason(err)}") from err
    print(digest)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from prodml._cli_files import _check_writable  # noqa: PLC0415 - keep `--help` fast

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
        "'prodml registry OUT/registry churn'.",
    )
    demo.add_argument("--out", default="prodml-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--seed", type=_seed, default=0, help="random seed (default: %(default)s)")
    demo.add_argument(
        "-q", "--quiet", action="store_true", help="print only the summary (no progress)"
    )
    demo.set_defaults(func=_cmd_demo)

    schema = sub.add_parser(
        "schema",
        help="infer the schema of a Parquet or CSV file, or a folder of Parquet files",
        description="Print one line per column: name, type, zone, 'not null', 'sensitive'. "
        "Parquet (a file, or a folder of files) is read from its footers and first row groups "
        "(64 MiB in all), not whole. "
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
    token = _ARGV.set(argv)
    try:
        _catch_ctrl_c_from_here()
        return _main(argv)
    except KeyboardInterrupt:  # also while an error below was being reported
        from prodml._cli_errors import _interrupted  # noqa: PLC0415 - keep `--help` fast

        return _interrupted()
    finally:
        _ARGV.reset(token)


def _catch_ctrl_c_from_here() -> None:
    """Put back the ``sys.excepthook`` the command started with: :func:`main` catches Ctrl-C.

    :mod:`prodml` replaces it, when the process is the ``prodml`` command, so that a Ctrl-C
    while the command's modules load prints ``interrupted`` and no traceback.
    """
    import prodml  # noqa: PLC0415 - loaded already: prodml.cli is its submodule

    if sys.excepthook is prodml._interrupted_while_starting:
        sys.excepthook = prodml._hook_before_start


def _main(argv: list[str]) -> int:
    try:
        return _run(argv)
    except SystemExit as exit_:  # argparse: --help, --version, a usage error
        if exit_.code is None:  # sys.exit(): success, as Python itself reads it
            return 0
        if isinstance(exit_.code, int):
            return exit_.code
        return _failed(exit_, argv)  # sys.exit("message"): Python would print it
    except Exception as err:  # the boundary: every error ends as an exit code
        if _caused_by_ctrl_c(err):  # a RuntimeError of Python's wrapping the Ctrl-C
            raise KeyboardInterrupt from err
        return _failed(err, argv)


def _failed(err: BaseException, argv: list[str]) -> int:
    """What ``err`` says, on stderr (see :func:`prodml._cli_errors.report`); the exit code."""
    from prodml._cli_errors import report  # noqa: PLC0415 - only once something failed

    return report(err, argv, bug=EXIT_BUG)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
