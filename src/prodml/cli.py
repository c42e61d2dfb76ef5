"""The ``prodml`` command: ``demo``, ``schema``, ``fingerprint`` and ``version``.

Run ``prodml --help`` for the list; each subcommand has its own ``--help``. Exit codes:
0 success, 1 a finding (e.g. drift found), 2 an error (the message of the
:class:`~prodml.errors.ProdMLError` is printed, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from prodml import __version__
from prodml.errors import ProdMLError

__all__ = ["main"]

# Subcommands contributed by subpackages: module path of a function ``add_parser(subparsers)``.
# Each is imported only if present, so the CLI works whatever parts are installed.
_PLUGINS = ("prodml.drift._cli", "prodml.registry._cli", "prodml.serving._cli", "prodml.store._cli")


def _read_table(path: str) -> object:
    import pyarrow.csv as pcsv  # noqa: PLC0415 - only the file-reading commands need it
    import pyarrow.parquet as pq  # noqa: PLC0415

    p = Path(path)
    if not p.exists():
        raise ProdMLError(f"no such file: {path}")
    if p.suffix.lower() in (".csv", ".tsv", ".txt"):
        return pcsv.read_csv(p)
    if p.is_dir() or p.suffix.lower() in (".parquet", ".pq"):
        return pq.read_table(p)
    raise ProdMLError(f"{path}: expected a .parquet or .csv file (or a Parquet directory)")


def _cmd_version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from prodml.schema import Schema  # noqa: PLC0415 - keep `prodml --help` fast

    schema = Schema.infer(_read_table(args.path), nullable=args.nullable)
    if args.json:
        print(json.dumps(schema.to_dict(), indent=2))
    else:
        width = max(len(c.name) for c in schema.columns) if len(schema) else 4
        for c in schema.columns:
            tz = f" ({c.timezone})" if c.timezone else ""
            print(f"{c.name:<{width}}  {c.dtype.value}{tz}{'' if c.nullable else '  not null'}")
    return 0


def _cmd_fingerprint(args: argparse.Namespace) -> int:
    from prodml.fingerprint import fingerprint_path, fingerprint_table  # noqa: PLC0415

    if args.content:
        print(fingerprint_table(_read_table(args.path)))
    else:
        print(fingerprint_path(args.path))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from prodml._demo import run_demo  # noqa: PLC0415 - the demo imports every module

    return run_demo(Path(args.out), seed=args.seed, quiet=args.quiet)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="prodml", description="Production ML building blocks: demo and inspection tools."
    )
    parser.add_argument("--version", action="version", version=f"prodml {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the end-to-end demo on embedded defaults")
    demo.add_argument("--out", default="prodml-demo", help="output folder (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--quiet", action="store_true", help="print only the summary")
    demo.set_defaults(func=_cmd_demo)

    schema = sub.add_parser("schema", help="infer the schema of a Parquet or CSV file")
    schema.add_argument("path")
    schema.add_argument("--json", action="store_true", help="print the schema as JSON")
    schema.add_argument(
        "--nullable",
        choices=["always", "observed"],
        default="observed",
        help="mark columns nullable always or only when they hold a null (default: %(default)s)",
    )
    schema.set_defaults(func=_cmd_schema)

    fp = sub.add_parser("fingerprint", help="sha256 of a file/directory, or of a table's content")
    fp.add_argument("path")
    fp.add_argument(
        "--content",
        action="store_true",
        help="hash the table's content (Parquet/CSV), independent of file layout",
    )
    fp.set_defaults(func=_cmd_fingerprint)

    version = sub.add_parser("version", help="print the prodml version")
    version.set_defaults(func=_cmd_version)

    for module_name in _PLUGINS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            # A plugin module that is not there is skipped; a broken one is an error.
            if err.name is None or not (module_name + ".").startswith(err.name + "."):
                raise
            continue
        add: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = (
            module.add_parser
        )
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``prodml`` command line; return the exit code.

    Examples
    --------
    >>> code = main(["version"])  # doctest: +ELLIPSIS
    0...
    >>> code
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["registry", "card"]:  # a subcommand under the registry's positionals
        from prodml.registry._cli import card_parser  # noqa: PLC0415 - keep --help fast

        args = card_parser().parse_args(argv[2:])
    else:
        args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ProdMLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
