"""Lineage events in the OpenLineage format, and the sinks they are sent to.

prodml actions that make or move a model (``ModelRegistry.register``, ``set_alias``,
``rollback``) emit an OpenLineage ``RunEvent`` (a plain JSON-safe dict) to the
registry's ``lineage_sink``; a feature store's ``materialize`` and batch scoring
(``prodml.serving.score``, a :class:`JobRun`: ``START``, then ``COMPLETE`` or ``FAIL``)
emit theirs to the sink they are given: a :class:`JsonLinesSink` (one event per line of a file),
an :class:`InMemoryLineageSink`, the ``openlineage-python`` client
(:class:`prodml.integrations.openlineage.OpenLineageSink`, extra ``lineage``), or any
object with an ``emit(event)`` method.

Naming follows the OpenLineage naming conventions: jobs live in the namespace given to
the sink's owner (default ``"prodml"``) and are named ``<model>.<action>``; a model
version is the dataset ``models/<model>/<version>`` (an alias: ``models/<model>@<alias>``)
in the registry's namespace; a training set is the dataset named by its fingerprint in
the namespace ``prodml.fingerprint``; a feature view is ``<view>`` in ``prodml.store``.

Examples
--------
>>> sink = InMemoryLineageSink()
>>> event = run_event(
...     "COMPLETE",
...     job="churn.register",
...     outputs=[dataset("registry", "models/churn/1")],
...     at="2026-01-01T00:00:00+00:00",
... )
>>> sink.emit(event)
>>> sink.events[0]["eventType"], sink.events[0]["outputs"][0]["name"]
('COMPLETE', 'models/churn/1')
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Protocol, cast, runtime_checkable

from prodml import __version__
from prodml._files import PATH_QUOTE, _sync_folder, checked_path, make_folder, os_reason
from prodml._params import Interval, TypeOf, check_params
from prodml._pickle import LockedState
from prodml._quote import short_repr
from prodml.errors import ConfigError, StateError

__all__ = [
    "InMemoryLineageSink",
    "JobRun",
    "JsonLinesSink",
    "LineageSink",
    "dataset",
    "emit",
    "run_event",
]

_log = logging.getLogger("prodml.lineage")

# One lock per lineage file in this process, shared by every JsonLinesSink that appends to
# it (the sink itself, its pickled or deep copies, a second sink built on the same path).
_FILE_LOCKS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> Any:
    """The lock of the file at ``path`` (links resolved) in this process."""
    key = os.path.realpath(path)
    with _FILE_LOCKS_GUARD:
        lock = _FILE_LOCKS.get(key)
        if lock is None:
            lock = _FILE_LOCKS[key] = threading.Lock()
        return lock


PRODUCER = f"https://github.com/prodml/prodml/tree/v{__version__}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACET_URL = "https://prodml.readthedocs.io/en/latest/governance/#lineage-events"
EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]


def new_run_id() -> str:
    """A new run id: a UUID version 7 (RFC 9562), as the OpenLineage clients make them.

    Its first 48 bits are the Unix time in milliseconds, so run ids sort by when their
    runs began (what a lineage backend's index wants); the other 74 free bits are random.

    Examples
    --------
    >>> uuid.UUID(new_run_id()).version
    7
    """
    value = (time.time_ns() // 1_000_000 & (1 << 48) - 1) << 80
    value |= 0x7 << 76 | secrets.randbits(12) << 64  # version 7, rand_a
    value |= 0b10 << 62 | secrets.randbits(62)  # RFC 9562 variant, rand_b
    return str(uuid.UUID(int=value))


def _parse_run_id(value: object) -> str | None:
    """``value`` (text of at most 64 characters) in the canonical UUID form, or ``None``.

    The one reading of a run id: :func:`run_event` builds events with it and
    :func:`prodml.integrations.openlineage.to_openlineage` checks them with it.
    """
    if isinstance(value, str) and len(value) <= 64:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            return None
    return None


def _parse_event_time(value: object) -> datetime | None:
    """``value`` (an aware datetime, or ISO 8601 text with an offset) as a datetime, or ``None``."""
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value) if len(value) <= 64 else None
        except ValueError:
            when = None
    if not isinstance(when, datetime) or when.utcoffset() is None:
        return None
    return when


def _run_id(run_id: object) -> str:
    """``run_id`` in the canonical UUID form, or the ConfigError saying it is not one."""
    canonical = _parse_run_id(run_id)
    if canonical is not None:
        return canonical
    raise ConfigError(
        f"An OpenLineage run id must be a UUID (a str such as {new_run_id()!r}). Got "
        f"{short_repr(run_id)} instead.",
        parameter="run_id",
    )


def _event_time(at: object) -> str:
    """``at`` (an aware datetime or ISO 8601 text) as UTC ISO 8601, milliseconds."""
    when = _parse_event_time(at)
    if when is None:
        raise ConfigError(
            "An OpenLineage event time must be an aware datetime or ISO 8601 text with "
            f"a UTC offset. Got {short_repr(at)} instead.",
            parameter="at",
        )
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds")


@runtime_checkable
class LineageSink(Protocol):
    """Anything that takes an OpenLineage event (a JSON-safe dict)."""

    def emit(self, event: dict[str, Any]) -> None:
        """Deliver one event."""


class InMemoryLineageSink:
    """Keeps every event in ``events`` (tests, notebooks)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> None:
        """Append ``event``."""
        self.events.append(event)


class JsonLinesSink(LockedState):
    """Appends each event as one line of JSON to a file (created with its folders).

    A pickled or copied sink appends to the same file. Every sink of one file in a
    process (copies, or sinks built on the same path) shares that file's lock, so their
    writes, rotations and reads never interleave.

    Parameters
    ----------
    path
        The file. Lines are written whole under the file's lock, so threads of one
        process may share it; several processes should use one file each.
    max_bytes
        Rotate the file before an event would take it past this many bytes, as
        :class:`logging.handlers.RotatingFileHandler` does: ``path`` becomes
        ``path.1``, ``path.1`` becomes ``path.2``, and so on, and the oldest backup past
        ``backups`` is dropped. An event is never split: one larger than ``max_bytes``
        is written whole to a file of its own. ``None`` (the default) never rotates:
        the file grows for ever, as before.
    backups
        How many rotated files to keep (at least 1) when ``max_bytes`` is set.

    Rotation is a chain of atomic renames (``os.replace``), oldest first, then the
    folder is synced: a crash at any point leaves every kept event in exactly one
    file, whole, at worst with a gap in the backup numbers that the next rotation
    closes. Only the events of the backup past ``backups`` are dropped, by design.

    Raises
    ------
    ConfigError
        For a ``max_bytes`` that is not a positive int or ``None``, or ``backups`` that
        is not an int >= 1.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "lineage.jsonl"
    >>> sink = JsonLinesSink(path, max_bytes=300, backups=2)  # two events a file
    >>> for n in range(10):
    ...     sink.emit({"n": n, "pad": "x" * 100})
    >>> [e["n"] for e in sink.read()], sorted(p.name for p in path.parent.iterdir())
    ([4, 5, 6, 7, 8, 9], ['lineage.jsonl', 'lineage.jsonl.1', 'lineage.jsonl.2'])
    """

    _new_lock = threading.Lock

    def __init__(self, path: str | Path, *, max_bytes: int | None = None, backups: int = 5) -> None:
        # Checked here, not on first use: a sink's errors are logged, not raised (see
        # emit()), so a bad bound found at the first event would lose lineage quietly.
        check_params(
            "JsonLinesSink",
            {"max_bytes": max_bytes, "backups": backups},
            {
                "max_bytes": [Interval(int, 1, None), TypeOf(type(None), "None")],
                "backups": [Interval(int, 1, None)],
            },
        )
        self.path: Path = checked_path(path, "the lineage file")
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = _file_lock(self.path)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._lock = _file_lock(self.path)  # the file's, not a lock of the copy's own

    def emit(self, event: dict[str, Any]) -> None:
        """Append ``event`` as a line and flush it, rotating first when it would not fit.

        Raises
        ------
        ConfigError
            Naming the file and the OS's reason when its folder cannot be made, the file
            cannot be appended to, or a rotation rename fails (the event is then not
            written, and every file is as it was or one rename further).
        """
        line = json.dumps(event, sort_keys=True, allow_nan=False) + "\n"
        with self._lock:
            make_folder(self.path.parent, "the lineage file's folder", parameter="path")
            try:
                if self.max_bytes is not None:
                    self._rotate_for(len(line.encode("utf-8")))
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line)
            except (OSError, ValueError) as err:  # ValueError: a NUL in the path
                raise ConfigError(
                    f"cannot append to the lineage file {self._shown()}: {os_reason(err)}",
                    parameter="path",
                ) from err

    def _rotate_for(self, size: int) -> None:
        try:
            now = self.path.stat().st_size
        except FileNotFoundError:
            return
        if now == 0 or now + size <= cast("int", self.max_bytes):
            return
        # Oldest first, so each file always has exactly one name: .N-1 replaces .N (the
        # one dropped), ..., then the live file becomes .1.
        for n in range(self.backups - 1, 0, -1):
            older = self._backup(n)
            if older.exists():
                os.replace(older, self._backup(n + 1))
        os.replace(self.path, self._backup(1))
        _sync_folder(self.path.parent)

    def _backup(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def files(self) -> list[Path]:
        """The files that hold events now, oldest first (backups, then ``path``)."""
        kept = self.backups if self.max_bytes is not None else 0
        found = [self._backup(n) for n in range(kept, 0, -1) if self._backup(n).exists()]
        if self.path.exists():
            found.append(self.path)
        return found

    def read(self) -> list[dict[str, Any]]:
        """Every event kept so far, oldest first (the backups', then the file's).

        Read under the file's lock, so a rotation by a sink of this process never hides
        events from it. Safe while other processes append: a last line without its
        newline is an event still being written (or cut short by a crash) and is left out.

        Raises
        ------
        StateError
            For a complete line that is not a JSON object (a file edited by hand, or a
            line cut short by a crash and appended to), naming the file and line number.
        """
        events: list[dict[str, Any]] = []
        with self._lock:
            for path in self.files():
                events.extend(self._read_file(path))
        return events

    def _read_file(self, path: Path) -> list[dict[str, Any]]:
        events = []
        try:
            # Bytes that are not UTF-8 become lone surrogates, which _parse_line refuses.
            f = path.open(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:  # rotated away between listing and opening
            return []
        with f:
            for number, line in enumerate(f, 1):
                if not line.endswith("\n"):
                    # A line still being written: stop here. Iterating on would read
                    # the rest of it, once written, as a line of its own.
                    break
                if not line.strip():
                    continue
                event = _parse_line(line)
                if event is None:
                    shown = short_repr(str(path), limit=PATH_QUOTE)
                    raise StateError(
                        f"line {number} of the lineage file {shown} is not a JSON "
                        "object (UTF-8, strict JSON: no NaN or Infinity, no lone "
                        "surrogate, at most 100 levels deep); move the file aside or "
                        "remove that line",
                        owner="JsonLinesSink",
                    )
                events.append(event)
        return events

    def _shown(self) -> str:
        return short_repr(str(self.path), limit=PATH_QUOTE)

    def __repr__(self) -> str:
        if self.max_bytes is None:
            return f"JsonLinesSink({str(self.path)!r})"
        return (
            f"JsonLinesSink({str(self.path)!r}, max_bytes={self.max_bytes}, backups={self.backups})"
        )


_MAX_DEPTH = 100


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity, -Infinity: not JSON, and never emitted


def _parse_line(line: str) -> dict[str, Any] | None:
    r"""The JSON object on ``line``, or ``None`` when it is not one an ``emit`` wrote.

    ``emit`` writes UTF-8, strict JSON (``allow_nan=False``) of what ``json.dumps``
    accepts; a line that is anything else was edited or damaged: bytes that are not
    UTF-8 (read as lone surrogates), NaN or Infinity, a lone surrogate (``\ud800``: no
    UTF-8 encoder takes it), or nesting deep enough to exhaust the stack of whoever walks
    it.
    """
    try:
        event = json.loads(line, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or not _plain(event, _MAX_DEPTH):
        return None
    return event


def _plain(value: Any, depth: int) -> bool:
    """Whether ``value`` nests at most ``depth`` levels and its text encodes as UTF-8."""
    if isinstance(value, str):
        if value.isascii():
            return True
        from prodml._state import is_unicode  # noqa: PLC0415 - numpy: not on import

        return is_unicode(value)
    if isinstance(value, dict | list):
        if depth == 0:
            return False
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return all(
            (not isinstance(k, str) or _plain(k, depth)) and _plain(v, depth - 1) for k, v in items
        )
    return True


def facet(**fields: Any) -> dict[str, Any]:
    """A custom prodml facet: ``fields`` plus the ``_producer`` and ``_schemaURL`` keys."""
    return {"_producer": PRODUCER, "_schemaURL": _FACET_URL, **fields}


def dataset(
    namespace: str, name: str, facets: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """An OpenLineage dataset reference."""
    return {"namespace": namespace, "name": name, "facets": dict(facets or {})}


_EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")


def run_event(
    event_type: EventType,
    *,
    job: str,
    namespace: str = "prodml",
    inputs: Sequence[Mapping[str, Any]] = (),
    outputs: Sequence[Mapping[str, Any]] = (),
    run_id: str | None = None,
    run_facets: Mapping[str, Mapping[str, Any]] | None = None,
    job_facets: Mapping[str, Mapping[str, Any]] | None = None,
    at: str | datetime | None = None,
) -> dict[str, Any]:
    """An OpenLineage ``RunEvent`` as a JSON-safe dict.

    ``run_id`` defaults to a new UUID version 7 (:func:`new_run_id`); ``at``, the event
    time, to now. Both are checked: the spec's run id is a UUID and its event time an
    RFC 3339 date-time, which has an offset; the event carries ``at`` converted to UTC.

    Raises
    ------
    ConfigError
        For an unknown event type, an empty job name or namespace, a ``run_id`` that is
        not a UUID, or an ``at`` that is not an aware datetime (or ISO 8601 text with
        an offset).
    """
    if not isinstance(event_type, str) or event_type not in _EVENT_TYPES:
        raise ConfigError(
            f"unknown OpenLineage event type {short_repr(event_type)}", parameter="event"
        )
    for name, value in (("job", job), ("namespace", namespace)):
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"a lineage job needs a name and a namespace: {name} must be a non-empty str. "
                f"Got {short_repr(value)}.",
                parameter=name,
            )
    return {
        "eventType": event_type,
        "eventTime": _event_time(datetime.now(timezone.utc) if at is None else at),
        "run": {
            "runId": new_run_id() if run_id is None else _run_id(run_id),
            "facets": dict(run_facets or {}),
        },
        "job": {"namespace": namespace, "name": job, "facets": dict(job_facets or {})},
        "inputs": [dict(d) for d in inputs],
        "outputs": [dict(d) for d in outputs],
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


def emit(sink: object, event: dict[str, Any]) -> bool:
    """Send ``event`` to ``sink``; a failing sink is logged, never raised (``False``).

    The action the event describes has already happened: losing its lineage record must
    not turn it into an error.
    """
    if sink is None:
        return False
    try:
        sink.emit(event)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a broken sink must not undo or fail the action
        _log.exception("prodml lineage sink %r failed", sink)
        return False
    return True


class JobRun:
    """One run of a job, reported as it goes: ``START``, then ``COMPLETE`` or ``FAIL``.

    Every event of the run shares its ``runId`` (a UUID version 7). Without a sink
    (``None``) nothing is built or sent; a failing sink is logged (see :func:`emit`).

    Examples
    --------
    >>> sink = InMemoryLineageSink()
    >>> run = JobRun(sink, job="churn.score", inputs=[dataset("file", "/data/in")])
    >>> run.start()
    >>> run.complete(outputs=[dataset("file", "/data/out")])
    >>> [e["eventType"] for e in sink.events], sink.events[0]["run"] == sink.events[1]["run"]
    (['START', 'COMPLETE'], True)
    """

    def __init__(
        self,
        sink: object,
        *,
        job: str,
        namespace: str = "prodml",
        inputs: Sequence[Mapping[str, Any]] = (),
        outputs: Sequence[Mapping[str, Any]] = (),
        run_facets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.sink = sink
        self.job = job
        self.namespace = namespace
        self.inputs: list[Mapping[str, Any]] = list(inputs)
        self.outputs: list[Mapping[str, Any]] = list(outputs)
        self.run_facets: dict[str, Mapping[str, Any]] = dict(run_facets or {})
        self.run_id: str = new_run_id()

    def _emit(
        self,
        event_type: EventType,
        outputs: Sequence[Mapping[str, Any]] | None,
        facets: Mapping[str, Mapping[str, Any]] | None,
    ) -> None:
        if self.sink is None:
            return
        event = run_event(
            event_type,
            job=self.job,
            namespace=self.namespace,
            inputs=self.inputs,
            outputs=self.outputs if outputs is None else outputs,
            run_id=self.run_id,
            run_facets={**self.run_facets, **(facets or {})},
        )
        emit(self.sink, event)

    def start(self) -> None:
        """Emit ``START``."""
        self._emit("START", None, None)

    def complete(
        self,
        *,
        outputs: Sequence[Mapping[str, Any]] | None = None,
        run_facets: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Emit ``COMPLETE``, with the outputs as they ended up (default: as declared)."""
        self._emit("COMPLETE", outputs, run_facets)

    def fail(self, error: BaseException) -> None:
        """Emit ``FAIL`` naming the error's type (not its message, which may quote data)."""
        self._emit("FAIL", None, {"prodml_error": facet(error=type(error).__name__)})
