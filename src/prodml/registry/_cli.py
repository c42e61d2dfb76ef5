"""The ``prodml registry`` subcommand: list the models, versions and aliases of a registry.

``prodml registry PATH [MODEL]`` opens a local registry (``ModelRegistry.local(PATH)``);
``prodml registry --db URL --artifacts URL [MODEL]`` opens any other (a folder and
``--db`` at once is an error). Without a model name it lists every model with its latest
ready version (what ``churn`` loads), its newest version of any status (an archived one
too) and its aliases; with one, that model's versions, newest first; with a reference
(``churn@3``, ``churn@production``), that version's row alone. MLflow's ``churn/3`` and
``models:/churn/3`` are refused with a message saying to write ``churn@3``.
The registry is opened read-only: listing never creates or changes anything, so a
database that does not exist is an error, not a new empty registry. An object store's
bucket is checked on opening, so a missing one is named at once. Credentials in the
URLs never appear in the output. ``--json`` prints a list of objects (aliases, metrics and
tags as JSON objects; a model's ``newest`` with its ``newest_status``).
A record the registry cannot read (written by a newer prodml, or damaged) is left out
with one ``warning:`` line on stderr naming the model and version; the rest is listed
(a model whose latest record is unreadable shows ``latest`` as ``None``). A folder that
holds no registry but whose ``registry/`` subfolder does (``prodml demo``'s output) is
named in the error: "did you mean prodml-demo/registry?".
Exit codes: 0 listed, 2 an error (no such registry or model), as for every command.

``prodml registry card [PATH] REF`` prints the model card of a version
(:meth:`ModelRegistry.card`) as Markdown, or ``--format html|json``, to ``--out FILE``
or the terminal. Exit codes: 0 written, 2 an error.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from prodml._quote import short_repr, shown_path
from prodml._secrets import redact_url
from prodml.errors import ConfigError

__all__ = [
    "SUBCOMMANDS",
    "add_parser",
    "card_parser",
    "check_reference",
    "open_registry",
    "prune_parser",
]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``registry`` on the ``prodml`` command's subparsers."""
    p = subparsers.add_parser(
        "registry",
        help="list the models, versions and aliases of a model registry",
        description="List a registry's models (newest version and aliases), or one model's "
        "versions with their status, aliases, metrics and tags.",
        epilog="'prodml registry card [PATH] REF' prints a version's model card; "
        "'prodml registry prune-history [PATH] MODEL' bounds a model's audit log "
        "(see their --help).",
    )
    p.add_argument(
        "path", nargs="?", help="folder of a local registry (with --db: the model instead)"
    )
    p.add_argument("model", nargs="?", help="list this model's versions")
    _store_urls(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _store_urls(p: argparse.ArgumentParser) -> None:
    """``--db URL --artifacts URL``: a registry on a database instead of a folder."""
    p.add_argument("--db", metavar="URL", help="metadata store URL instead of PATH")
    p.add_argument(
        "--artifacts", metavar="URL", help="artifact store URL, or a local folder (with --db)"
    )


def open_registry(
    path: str | None, db: str | None, artifacts: str | None, *, read_only: bool = True
) -> Any:
    """The registry a command names: ``--db URL --artifacts URL``, else a local folder.

    Read-only by default: a command that only reads never creates or changes a registry,
    so a database that does not exist is an error, not a new empty registry. A command
    that writes (``read_only=False``) does not create one either: the registry must exist.
    The artifact store's bucket (``s3://BUCKET/...``) or folder (``file:///srv/models``)
    is checked at once, so a typo in it fails now, naming it, rather than as "artifact
    file missing" at the first load. ``--artifacts`` may be a plain path: the local folder
    ``file://`` + its absolute path. A URL given where the folder is expected is refused
    with a pointer to ``--db``/``--artifacts``.
    """
    from prodml.registry import ModelRegistry  # noqa: PLC0415 - keep `prodml --help` fast

    if db and path:
        raise ConfigError(
            f"give a registry folder ({shown_path(path)}) or --db URL --artifacts URL, not both",
            parameter="db",
        )
    if db:
        if not artifacts:
            raise ConfigError("--db needs --artifacts too", parameter="artifacts")
        artifacts = _artifacts_url(artifacts)
        _require_extras(db, artifacts)
        if not read_only:  # read-only first: an error, not new tables, when there is none
            with ModelRegistry(db, artifacts, read_only=True) as probe:
                _check_artifacts(probe, artifacts)
        registry = ModelRegistry(db, artifacts, read_only=read_only)
    elif path:
        if "://" in path:
            raise ConfigError(
                f"{shown_path(redact_url(path))} is a URL, not a registry folder: open a "
                "registry on a database with --db URL --artifacts URL",
                parameter="path",
            )
        if Path(path).is_file():  # the database file itself: name its folder
            hint = f": give its folder, {shown_path(Path(path).parent)}"
            raise ConfigError(
                f"no registry at {shown_path(path)}: it is a file, not a registry folder"
                + (hint if Path(path).name == "registry.db" else "")
            )
        if not (Path(path) / "registry.db").is_file():
            inner = Path(path) / "registry"
            hint = (
                f"; did you mean {shown_path(inner)}?" if (inner / "registry.db").is_file() else ""
            )
            expected = shown_path(f"{path}/registry.db")
            raise ConfigError(f"no registry at {shown_path(path)} (expected {expected}){hint}")
        registry = ModelRegistry.local(path, read_only=read_only)
    else:
        raise ConfigError(
            "give a registry folder, or --db URL --artifacts URL (see 'prodml registry --help')"
        )
    try:
        _check_artifacts(registry, artifacts or "")
    except BaseException:
        registry.close()
        raise
    return registry


def _require_extras(db: str, artifacts: str) -> None:
    """The extra each of ``--db`` and ``--artifacts`` needs and lacks, named in one error.

    ``prodml[postgres]`` for a ``postgresql://`` database, ``prodml[s3]`` for an ``s3://``
    bucket, both when both are missing: the registry opens its artifact store first, so
    without both extras only ``s3`` was named.
    """
    from prodml._extras import require_for_flags  # noqa: PLC0415
    from prodml.registry.backends import _BACKENDS  # noqa: PLC0415

    needs = []
    for flag, kind, url in (("--db", "metadata", db), ("--artifacts", "artifacts", artifacts)):
        scheme = url.partition("://")[0].lower()
        entry = _BACKENDS[kind].get(scheme)  # type: ignore[index]
        needs.append((flag, scheme, entry.requires if entry is not None else ()))
    require_for_flags(needs)


def _artifacts_url(text: str) -> str:
    """``--artifacts``: a URL as given; a plain path is the local folder ``file://<absolute>``."""
    if "://" in text:
        return text
    return f"file://{Path(text).expanduser().absolute()}"


def _check_artifacts(registry: Any, url: str) -> None:
    """Raise a ``StorageError`` when the artifact store's bucket or folder does not exist.

    A local folder may be missing while the registry holds no model (a copy without its
    empty folder). In-memory stores have neither. Errors of the storage client (no
    credentials, an endpoint it cannot reach) go up as they are: the command prints them
    as one line.
    """
    store = registry.artifacts
    from prodml._secrets import Secrets  # noqa: PLC0415
    from prodml.errors import StorageError  # noqa: PLC0415

    fs, root = getattr(store, "fs", None), str(getattr(store, "root", ""))
    protocol = getattr(fs, "protocol", "file")
    protocols = {protocol} if isinstance(protocol, str) else set(protocol)
    if fs is None or not root or "memory" in protocols:
        return
    if protocols & {"file", "local"}:
        if not Path(root).is_dir() and registry.models():
            shown = short_repr(root, limit=120)  # tests/registry/test_cli.py pins the quotes
            raise StorageError(f"the artifacts folder {shown} does not exist", path=root)
        return
    bucket = root.split("/", 1)[0]
    try:
        fs.info(bucket)
    except FileNotFoundError:
        text = f"the bucket {bucket!r} of the artifact store {store.url} does not exist"
        raise StorageError(Secrets.of(url).scrub(text), path=bucket) from None
    except PermissionError:
        # Credentials that may read objects but not the bucket itself (least privilege
        # for serving: s3:GetObject without s3:ListBucket) cannot tell: the load will.
        return


def run(args: argparse.Namespace) -> int:
    """List what ``args`` asks for; return the exit code."""
    path, model = args.path, args.model
    if args.db and path and not model:  # `prodml registry --db URL --artifacts URL churn`
        path, model = None, path
    if model:
        check_reference(model, command=_command("prodml registry", path), version_ok=True)
    from prodml.registry._formats import UnreadableRecordWarning  # noqa: PLC0415 - fast --help

    registry = open_registry(path, args.db, args.artifacts)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnreadableRecordWarning)
            if model:
                rows = _versions(registry, model)
            else:
                rows = _with_newest(registry, _models(registry))
    finally:
        registry.close()
    shown: set[str] = set()
    for w in caught:  # one line each on stderr; the listing itself still goes out
        if issubclass(w.category, UnreadableRecordWarning):
            if str(w.message) not in shown:  # `latest` and `newest` may read the same one
                shown.add(str(w.message))
                print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        cells = [
            _model_cells(row) if "model" in row else {k: _cell(v) for k, v in row.items()}
            for row in rows
        ]
        print(_table(cells))
    return 0


def _command(words: str, path: str | None) -> str:
    """``words PATH`` with the folder the user gave (quoted for a shell), for a hint."""
    if path is None:
        return f"{words} --db URL --artifacts URL"
    return f"{words} {shlex.quote(path) if len(path) <= 120 else 'PATH'}"


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}@[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_reference(text: str, *, command: str, version_ok: bool) -> None:
    """A ``ConfigError`` saying what to type for a reference this command does not take.

    ``churn/3`` and ``models:/churn/3`` (MLflow's forms) are written ``churn@3`` here; a
    command that works on a whole model (``version_ok=False``) takes ``churn``, not
    ``churn@3``. A model name holds no ``/`` or ``@``, so neither is ever a real name.
    """
    body = text.removeprefix("models:/")
    name, slash, selector = body.rpartition("/")
    if body != text or slash:
        suggestion = f"{name}@{selector}" if slash and "@" not in body else body
        if not _PLAIN.fullmatch(suggestion) or suggestion.count("@") != 1:
            suggestion = "NAME@VERSION"  # never echo what cannot be a reference
        raise ConfigError(
            f"{short_repr(text, limit=120)} is not a model reference: prodml writes a "
            f"version as name@version or name@alias, e.g. {command} {suggestion}",
            parameter="ref",
        )
    if "@" in text and not version_ok:
        model = text.partition("@")[0]
        raise ConfigError(
            f"{command} works on a whole model, not one version: give the model name "
            f"({short_repr(model, limit=80)}), not {short_repr(text, limit=120)}",
            parameter="model",
        )


def _models(registry: Any) -> list[dict[str, Any]]:
    return [
        {
            "model": name,
            "latest": _latest(registry, name),
            "aliases": dict(sorted(registry.aliases(name).items())),
        }
        for name in registry.models()
    ]


def _with_newest(registry: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` of :func:`_models` with ``newest`` and ``newest_status`` added.

    Apart from :func:`_models` (whose three keys the conformance suites check) so that
    the keys the listing had stay exactly as they were.
    """
    for row in rows:
        newest = _newest(registry, row["model"])
        row["newest"] = None if newest is None else newest.version
        row["newest_status"] = None if newest is None else newest.status
    return rows


def _latest(registry: Any, name: str) -> int | None:
    """What ``name`` (``name@latest``) loads: the highest-numbered ``ready`` version.

    When every version is archived, that is the highest archived one. ``None`` (with a
    warning) when its record is unreadable.
    """
    from prodml.errors import IntegrityError  # noqa: PLC0415
    from prodml.registry._formats import (  # noqa: PLC0415
        NewerFormatError,
        UnreadableRecordWarning,
    )

    try:
        return int(registry.get(name, "latest").version)
    except (IntegrityError, NewerFormatError) as err:
        warnings.warn(f"skipped an unreadable record: {err}", UnreadableRecordWarning, 2)
        return None


def _newest(registry: Any, name: str) -> Any:
    """The highest-numbered version of any status but deleted (archived ones too).

    ``None`` when that record is unreadable (the search warns about it).
    """
    page = registry.search(name, page_size=1)
    return page.items[0] if page.items else None


def _model_cells(row: dict[str, Any]) -> dict[str, str]:
    """A model row as table cells: ``newest`` carries its status unless ready."""
    status = row["newest_status"]
    newest = _cell(row["newest"]) + ("" if status in (None, "ready") else f" ({status})")
    latest = _cell(row["latest"])
    if row["latest"] is not None and row["latest"] == row["newest"] and status != "ready":
        latest = newest  # every version is archived: `latest` falls back to the newest
    return {
        "model": row["model"],
        "latest ready": latest,
        "newest": newest,
        "aliases": _cell(row["aliases"]),
    }


def _versions(registry: Any, ref: str) -> list[dict[str, Any]]:
    """The rows of a model's versions, newest first; of one version for ``name@selector``."""
    name, at, _ = ref.partition("@")
    only = registry.get(ref) if at else None  # NotFoundError naming the version or alias
    if not registry.metadata.has_model(name):  # NotFoundError naming the model
        registry.get(name, "latest")
    by_version: dict[int, list[str]] = {}
    for alias, version in registry.aliases(name).items():
        by_version.setdefault(version, []).append(alias)
    if only is not None:
        return [_row(only, by_version)]
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = registry.search(name, page_token=token)
        rows.extend(_row(mv, by_version) for mv in page)
        token = page.next_token
        if token is None:
            return rows


def _row(mv: Any, by_version: dict[int, list[str]]) -> dict[str, Any]:
    return {
        "version": mv.version,
        "status": mv.status,
        "aliases": sorted(by_version.get(mv.version, [])),
        "created": mv.created_at.isoformat(timespec="seconds"),
        "metrics": dict(sorted(mv.metrics.items())),
        "tags": dict(sorted(mv.tags.items())),
    }


def _cell(value: Any) -> str:
    """A JSON row value as a table cell: ``a->v1, b->v2``, ``auc=0.9``, ``x, y``."""
    if isinstance(value, dict):
        arrow = all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())
        if arrow and value:
            return ", ".join(f"{k}->v{v}" for k, v in value.items())
        return ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()
        )
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(empty)"
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def card_parser() -> argparse.ArgumentParser:
    """The parser of ``prodml registry card``."""
    p = argparse.ArgumentParser(
        prog="prodml registry card",
        description="Print the model card of a version (description, intended use, metrics, "
        "signature, lineage, environment, approvals and alias history). Exit code 0: "
        "written, 2: error.",
    )
    p.add_argument("path", nargs="?", help="folder of a local registry (ModelRegistry.local)")
    p.add_argument("ref", help="the version: churn, churn@3, churn@production")
    _store_urls(p)
    p.add_argument(
        "--format",
        choices=["markdown", "html", "json"],
        default="markdown",
        help="output format (default: %(default)s)",
    )
    p.add_argument("--out", metavar="FILE", help="write the card here instead of printing it")
    p.set_defaults(func=run_card)
    return p


def run_card(args: argparse.Namespace) -> int:
    """Write the card ``args`` asks for; return the exit code."""
    if args.path is None and not args.db and (Path(args.ref) / "registry.db").is_file():
        # One positional fills REF: `prodml registry card reg` names the registry only.
        raise ConfigError(
            f"{shown_path(args.ref)} is a registry folder: give the version "
            "too, e.g. prodml registry card PATH churn@production",
            parameter="ref",
        )
    if args.path or args.db:  # else REF may be a folder: open_registry says what is missing
        command = _command("prodml registry card", args.path)
        check_reference(args.ref, command=command, version_ok=True)
    if args.out is not None:  # before the registry opens: a typo in it is answered at once
        from prodml._cli_files import _check_writable  # noqa: PLC0415 - keep --help fast

        _check_writable(args.out)
    registry = open_registry(args.path, args.db, args.artifacts)
    try:
        card = registry.card(args.ref)
    finally:
        registry.close()
    render = {"markdown": card.to_markdown, "html": card.to_html, "json": card.to_json}
    if args.out:
        render[args.format](args.out)  # written whole, or a ConfigError naming the path
        print(f"model card of {card.model['ref']}: {args.out}")
    else:
        text = render[args.format]()
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


_AGE_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def _age(text: str) -> timedelta:
    """``--older-than``: an age such as ``365d``, ``12h``, ``90m``, ``3600s`` or ``2w``."""
    unit = text[-1:].lower()
    number = text[:-1] if unit in _AGE_UNITS else text
    try:
        age = timedelta(seconds=float(number) * _AGE_UNITS.get(unit, 1.0))
    except (ValueError, OverflowError):  # not a number, NaN, or past timedelta's range
        age = timedelta(-1)
    if age < timedelta(0):
        raise argparse.ArgumentTypeError(
            f"expected an age such as 365d, 12h, 90m or 3600s, got {short_repr(text, 40)}"
        )
    return age


def _count(text: str) -> int:
    """``--keep``: a whole number of events, 0 or more."""
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected a count 0 or more, got {short_repr(text, 40)}")
    return count


def prune_parser() -> argparse.ArgumentParser:
    """The parser of ``prodml registry prune-history``."""
    p = argparse.ArgumentParser(
        prog="prodml registry prune-history",
        description="Remove a model's old audit events (ModelRegistry.prune_history): those "
        "older than --older-than and not among the newest --keep; give either or both. "
        "The registry logs the pruning itself, and rollback works as before. Exit code "
        "0: done (or, with --dry-run, counted), 2: error.",
    )
    p.add_argument("path", nargs="?", help="folder of a local registry (ModelRegistry.local)")
    p.add_argument("model", help="the model whose audit log to bound")
    p.add_argument("--older-than", type=_age, metavar="AGE", help="e.g. 365d, 12h, 90m, 2w")
    p.add_argument("--keep", type=_count, metavar="N", help="keep at least the newest N events")
    p.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    _store_urls(p)
    p.set_defaults(func=run_prune)
    return p


def run_prune(args: argparse.Namespace) -> int:
    """Prune (or count, with ``--dry-run``) what ``args`` asks for; return the exit code."""
    if args.path is None and not args.db and (Path(args.model) / "registry.db").is_file():
        # One positional fills MODEL: `prodml registry prune-history reg` names the registry.
        raise ConfigError(
            f"{shown_path(args.model)} is a registry folder: give the model "
            "too, e.g. prodml registry prune-history PATH churn --older-than 365d",
            parameter="model",
        )
    if args.path or args.db:
        check_reference(args.model, command="prodml registry prune-history", version_ok=False)
    if args.older_than is None and args.keep is None:
        raise ConfigError(
            "give --older-than AGE, --keep N, or both: without them nothing is removed",
            parameter="before",
        )
    registry = open_registry(args.path, args.db, args.artifacts, read_only=args.dry_run)
    try:
        removed = registry.prune_history(
            args.model, before=args.older_than, keep=args.keep, dry_run=args.dry_run
        )
    finally:
        registry.close()
    verb = "would remove" if args.dry_run else "removed"
    print(f"{args.model}: {verb} {removed} audit event(s)")
    return 0


SUBCOMMANDS = {"card": card_parser, "prune-history": prune_parser}
"""``prodml registry WORD ...``: the subcommands under the registry's positionals."""
