"""The ``prodml store`` subcommand: apply definitions, materialize, read online values.

``prodml store ACTION PATH`` opens a local store (``FeatureStore.local(PATH)``);
``--offline URL --online URL`` instead of PATH opens any other. Actions:

- ``views``: the applied views (entity, features, ttl, fingerprint, watermark);
- ``apply --file FILE``: apply definitions from a JSON file holding a list of
  ``Entity.to_dict()`` / ``FeatureView.to_dict()`` objects (told apart by ``features``);
- ``materialize [--end ISO] [--view NAME ...]``: up to ``--end`` (default now, UTC);
- ``online --entity JSON --feature VIEW:FEATURE ...``: one entity's values as JSON.

Output is a table, or JSON with ``--json`` (``online`` always prints JSON). The
``materialize`` table shows each run's window and time as ISO-8601 UTC (``start``,
``end``, ``at``); its JSON keeps :meth:`MaterializeRun.to_dict`'s microsecond fields
(``start_us``, ``end_us``, ``at_us``). Exit codes:
0 done, 2 an error (bad definitions, unknown features, a missing store), as for every
command.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prodml._files import os_reason
from prodml._quote import short_repr, shown_path
from prodml._state import STRICT_JSON
from prodml.errors import ConfigError

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``store`` on the ``prodml`` command's subparsers."""
    p = subparsers.add_parser(
        "store",
        help="apply, materialize and read a feature store",
        description="Apply feature store definitions, materialize them into the online "
        "store, list them, or read one entity's online values.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("path", nargs="?", help="folder of a local store (FeatureStore.local)")
    common.add_argument("--offline", metavar="URL", help="offline store URL instead of PATH")
    common.add_argument("--online", metavar="URL", help="online store URL (with --offline)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = p.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    sub.add_parser("views", parents=[common], help="list the applied views")
    apply = sub.add_parser("apply", parents=[common], help="apply definitions from JSON")
    apply.add_argument("--file", required=True, help="a JSON list of definitions")
    mat = sub.add_parser("materialize", parents=[common], help="write the latest values")
    mat.add_argument("--end", help="ISO time with a zone (default: now, UTC)")
    mat.add_argument("--view", action="append", help="only this view (repeatable)")
    onl = sub.add_parser("online", parents=[common], help="read one entity's online values")
    onl.add_argument("--entity", required=True, help='the keys as JSON, e.g. {"user_id": 42}')
    onl.add_argument("--feature", action="append", required=True, help="view:feature")
    p.set_defaults(func=run)


def _open(args: argparse.Namespace) -> Any:
    from prodml.store import FeatureStore  # noqa: PLC0415 - keep `prodml --help` fast

    if args.offline or args.online:
        if args.path:  # one store or the other, never a silent choice between them
            raise ConfigError(
                f"give a store folder ({shown_path(args.path)}) or --offline URL "
                "--online URL, not both",
                parameter="offline",
            )
        if not (args.offline and args.online):
            raise ConfigError("--offline and --online go together", parameter="online")
        _require_extras(args.offline, args.online)
        online_file = _sqlite_file(args.online)
        if args.store_command != "apply" and online_file is not None and not online_file.exists():
            # Opening it would create an empty store: a typo would print "(empty)".
            shown = shown_path(online_file)
            raise ConfigError(f"no online store at {shown}", parameter="online")
        return FeatureStore(args.offline, args.online)
    if not args.path:
        raise ConfigError("give a store folder, or --offline URL --online URL")
    if args.store_command != "apply" and not (Path(args.path) / "online.db").exists():
        shown, inner = shown_path(args.path), _store_below(Path(args.path))
        hint = f"; did you mean {shown_path(inner)}?" if inner is not None else ""
        raise ConfigError(f"no feature store at {shown} (expected online.db in it){hint}")
    return FeatureStore.local(args.path)


def _require_extras(offline: str, online: str) -> None:
    """The extra each of ``--offline`` and ``--online`` needs and lacks, named in one error.

    ``prodml[postgres]`` for ``postgresql://``, ``prodml[redis]`` for ``redis://``,
    ``prodml[store]`` for ``duckdb://``; every one missing, not only the first opened.
    """
    from prodml._extras import require_for_flags  # noqa: PLC0415
    from prodml.store.backends import _BACKENDS  # noqa: PLC0415

    needs = []
    for flag, kind, url in (("--offline", "offline", offline), ("--online", "online", online)):
        scheme = url.partition("://")[0].lower()
        entry = _BACKENDS[kind].get(scheme)  # type: ignore[index]
        needs.append((flag, scheme, entry.requires if entry is not None else ()))
    require_for_flags(needs)


def _store_below(path: Path) -> Path | None:
    """A local store in a folder of ``path`` (``prodml demo`` writes ``feature_store/store``).

    Only a few places are looked at (``feature_store/store`` and the first 200 entries of
    ``path``), so that a large folder given by mistake is not walked.
    """
    try:
        if not path.is_dir():
            return None
        children = [c for _, c in zip(range(200), path.iterdir(), strict=False)]
        for folder in [path / "feature_store" / "store", *sorted(children)]:
            if (folder / "online.db").is_file():
                return folder
    except OSError:  # a folder we may not list: no hint, the error stands
        return None
    return None


def _sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other schemes and ``:memory:``)."""
    if not url.lower().startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :]
    return None if path == ":memory:" else Path(path)


def _time(text: str | None) -> datetime:
    if text is None:
        return datetime.now(timezone.utc)
    try:
        end = datetime.fromisoformat(text)
    except ValueError as err:
        raise ConfigError(
            f"--end {short_repr(text, limit=40)} is not an ISO time", parameter="end"
        ) from err
    if end.utcoffset() is None:  # the API's words name a Python call, not the flag
        raise ConfigError(
            f"--end {short_repr(text, limit=40)} has no zone: add one, e.g. "
            f"{end.isoformat()}+00:00 or {end.isoformat()}Z for UTC",
            parameter="end",
        )
    return end


def run(args: argparse.Namespace) -> int:
    """Do what ``args`` asks; return the exit code."""
    # Every argument is read before the store is opened: `apply` creates a local store, and
    # a bad definitions file or time must not leave an empty one behind.
    command = args.store_command
    definitions = _definitions(args.file) if command == "apply" else []
    end = _time(args.end) if command == "materialize" else None
    entity = _entity(args.entity) if command == "online" else {}
    store = _open(args)
    try:
        out: Any
        if command == "apply":
            out = store.apply(definitions)
        elif end is not None:
            runs = [r.to_dict() for r in store.materialize(end, views=args.view)]
            out = runs if args.json else [_run_row(r) for r in runs]
        elif command == "online":
            row = store.online(entity, args.feature)
            print(json.dumps({"values": dict(row), "missing": list(row.missing)}, default=str))
            return 0
        else:
            marks = store.watermarks()
            out = [
                {
                    "view": v.name,
                    "entity": v.entity.name,
                    "features": len(v.features),
                    "ttl": str(v.ttl) if v.ttl else "-",
                    "fingerprint": v.fingerprint[:12],
                    "materialized to": marks[v.name].isoformat() if v.name in marks else "-",
                }
                for v in store.views.values()
            ]
    finally:
        store.close()
    print(json.dumps(out, indent=2, default=str) if args.json else _table(out))
    return 0


def _run_row(run: dict[str, Any]) -> dict[str, Any]:
    """One materialization as a table row: times as ISO-8601 UTC, not microseconds."""
    return {
        "view": run["view"],
        "start": "beginning" if run["start_us"] is None else _iso(run["start_us"]),
        "end": _iso(run["end_us"]),
        "entities": run["entities"],
        "written": run["written"],
        "at": _iso(run["at_us"]),
    }


def _iso(us: int) -> str:
    """Microseconds since the epoch as ISO-8601 UTC (``2024-01-01T00:00:00+00:00``)."""
    from prodml.store._time import from_micros  # noqa: PLC0415 - keep `prodml --help` fast

    return from_micros(us).isoformat()


def _entity(text: str) -> dict[str, Any]:
    try:
        entity = STRICT_JSON.decode(text)
    except ValueError as err:  # JSONDecodeError, or NaN / Infinity
        raise ConfigError(f"--entity is not JSON: {err}", parameter="entity") from err
    if not isinstance(entity, dict):
        raise ConfigError("--entity must be a JSON object", parameter="entity")
    return entity


def _definitions(file: str) -> list[Any]:
    from prodml.store import Entity, FeatureView  # noqa: PLC0415

    # Path("") is the current folder, and a FIFO would block: only a regular file is read.
    if not file:
        raise ConfigError("--file is empty: give a JSON file of definitions", parameter="file")
    path, shown = Path(file), shown_path(file)
    if path.exists() and not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file"
        raise ConfigError(f"--file {shown} is {what}: give a JSON file", parameter="file")
    try:
        items = STRICT_JSON.decode(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError too
        raise ConfigError(
            f"cannot read definitions from {shown}: {os_reason(err)}", parameter="file"
        ) from err
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise ConfigError(f"{shown}: expected a JSON list of definition objects")
    return [(FeatureView if "features" in d else Entity).from_dict(d) for d in items]


def _table(out: Any) -> str:
    if isinstance(out, dict):
        out = [{"name": k, "status": v} for k, v in out.items()]
    if not out:
        return "(empty)"
    keys = list(out[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in out)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys)]
    lines += ["  ".join(str(r[k]).ljust(widths[k]) for k in keys) for r in out]
    return "\n".join(line.rstrip() for line in lines)
