"""What a feature store keeps about itself: applied definitions and materialization runs.

Both live in the online store's state table as JSON with a format version, and both are
hostile until validated: :func:`load_definitions` and :func:`load_watermark` check types,
shapes and invariants and raise :class:`~prodml.errors.ConfigError` naming the field path
(``materialized.txn.runs[3].end_us``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from prodml._quote import short_repr
from prodml._state import load_json, state_error
from prodml.errors import ConfigError
from prodml.store._definitions import Entity, FeatureView

__all__ = [
    "DEFINITIONS",
    "UNKNOWN_TTL",
    "MaterializeRun",
    "Watermark",
    "dump_definitions",
    "load_definitions",
    "load_watermark",
    "watermark_key",
]

FORMAT_VERSION = 1
DEFINITIONS = "definitions"
_MAX_RUNS = 50
_VERSION = re.compile(r"[0-9a-f]{16}")
_US_MAX = 253_402_300_800_000_000  # 10000-01-01
#: ``Watermark.ttl_us`` of a record that does not say (ttls are positive).
UNKNOWN_TTL = -1


def watermark_key(view: str) -> str:
    """The state name of a view's materialization record."""
    return f"materialized:{view}"


def _parse(text: str, what: str) -> dict[str, Any]:
    d = load_json(text, owner=f"stored {what}")
    if not isinstance(d, dict):
        raise ConfigError(f"stored {what} must be a JSON object, got {type(d).__name__}")
    version = d.get("format_version")
    if version != FORMAT_VERSION or type(version) is not int:
        newer = type(version) is int and version > FORMAT_VERSION
        raise state_error(
            f"{what}.format_version: {short_repr(version, 20)!r} is not supported "
            f"(expected {FORMAT_VERSION})"
            + ("; it was written by a newer prodml. Upgrade prodml to read it." if newer else ""),
            path="format_version",
            owner=f"stored {what}",
        )
    return d


def _mapping(d: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = d.get(key)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}.{key}: expected an object, got {type(value).__name__}")
    return value


def dump_definitions(entities: Mapping[str, Entity], views: Mapping[str, FeatureView]) -> str:
    """The JSON text of the applied definitions."""
    return json.dumps(
        {
            "format_version": FORMAT_VERSION,
            "entities": {n: e.to_dict() for n, e in sorted(entities.items())},
            "views": {n: v.to_dict() for n, v in sorted(views.items())},
        },
        sort_keys=True,
    )


def load_definitions(text: str | None) -> tuple[dict[str, Entity], dict[str, FeatureView]]:
    """Entities and views from stored JSON, validated (``ConfigError`` with the path)."""
    if text is None:
        return {}, {}
    d = _parse(text, "definitions")
    entities: dict[str, Entity] = {}
    views: dict[str, FeatureView] = {}
    for name, raw in _mapping(d, "entities", "definitions").items():
        entities[name] = _load(Entity, raw, f"definitions.entities.{name}")
    for name, raw in _mapping(d, "views", "definitions").items():
        views[name] = _load(FeatureView, raw, f"definitions.views.{name}")
    for name, view in views.items():
        path = f"definitions.views.{name}"
        if view.name != name:
            raise ConfigError(f"{path}.name: {view.name!r} differs from its key")
        if view.schema is None or view.entity.dtypes is None:
            raise ConfigError(f"{path}: stored views must carry a schema and key dtypes")
        if entities.get(view.entity.name) != view.entity:
            raise ConfigError(f"{path}.entity: differs from entity {view.entity.name!r}")
    for name, entity in entities.items():
        if entity.name != name:
            raise ConfigError(f"definitions.entities.{name}.name: differs from its key")
    return entities, views


def _load(cls: Any, raw: object, path: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: expected an object, got {type(raw).__name__}")
    try:
        return cls.from_dict(raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


@dataclass(frozen=True)
class MaterializeRun:
    """One materialization of one view: the window, rows read and records written.

    ``start_us`` is ``None`` for a run from the beginning; ``written`` counts records that
    were inserted or replaced (a re-run of a window writes none).
    """

    view: str
    start_us: int | None
    end_us: int
    entities: int
    written: int
    at_us: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


@dataclass(frozen=True)
class Watermark:
    """What has been materialized for a view: up to ``end_us``, under ``version``.

    ``ttl_us`` is the shortest ttl (microseconds, ``None``: no limit) of the runs since
    the last run from the beginning: each run skips rows older than its ttl, so a view
    whose ttl grew past it must be materialized from the beginning again.
    :data:`UNKNOWN_TTL` marks a record written before prodml kept it.
    """

    view: str
    version: str
    end_us: int
    runs: tuple[MaterializeRun, ...] = field(default_factory=tuple)
    ttl_us: int | None = UNKNOWN_TTL

    def with_run(self, run: MaterializeRun, version: str, ttl_us: int | None) -> Watermark:
        """The record after ``run``, made under ``ttl_us`` (the watermark never moves back)."""
        same = version == self.version
        end = max(self.end_us, run.end_us) if same else run.end_us
        runs = ((*self.runs, run) if same else (run,))[-_MAX_RUNS:]
        covered = ttl_us
        if same and run.start_us is not None and self.ttl_us != UNKNOWN_TTL:
            old = self.ttl_us
            covered = old if ttl_us is None else ttl_us if old is None else min(old, ttl_us)
        return Watermark(self.view, version, end, runs, covered)

    def covers(self, ttl_us: int | None) -> bool:
        """Whether the runs so far wrote every row a view with ``ttl_us`` can read."""
        if self.ttl_us == UNKNOWN_TTL or self.ttl_us is None:
            return True
        return ttl_us is not None and ttl_us <= self.ttl_us

    def dumps(self) -> str:
        """The JSON text of this record."""
        return json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "view": self.view,
                "version": self.version,
                "end_us": self.end_us,
                "runs": [r.to_dict() for r in self.runs],
                **({} if self.ttl_us == UNKNOWN_TTL else {"ttl_us": self.ttl_us}),
            }
        )


def _opt_int(d: Mapping[str, Any], key: str, path: str) -> int | None:
    return None if d.get(key) is None else _int(d, key, path)


def _int(d: Mapping[str, Any], key: str, path: str) -> int:
    v = d.get(key)
    if type(v) is not int or not -_US_MAX <= v <= _US_MAX:
        raise ConfigError(f"{path}.{key}: expected an int in range, got {str(v)[:30]!r}")
    return v


def load_watermark(text: str | None, view: str) -> Watermark | None:
    """A view's materialization record from stored JSON, validated."""
    if text is None:
        return None
    path = f"materialized.{view}"
    d = _parse(text, path)
    if d.get("view") != view:
        raise ConfigError(f"{path}.view: {str(d.get('view'))[:40]!r} is not {view!r}")
    version = d.get("version")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ConfigError(f"{path}.version: expected 16 hex digits, got {str(version)[:40]!r}")
    end = _int(d, "end_us", path)
    raw_runs = d.get("runs")
    if not isinstance(raw_runs, list) or len(raw_runs) > _MAX_RUNS:
        raise ConfigError(f"{path}.runs: expected a list of at most {_MAX_RUNS} runs")
    runs = []
    for i, r in enumerate(raw_runs):
        rp = f"{path}.runs[{i}]"
        if not isinstance(r, Mapping) or set(r) != {
            "view",
            "start_us",
            "end_us",
            "entities",
            "written",
            "at_us",
        }:
            raise ConfigError(f"{rp}: expected an object with the fields of a MaterializeRun")
        start = _opt_int(r, "start_us", rp)
        run_end = _int(r, "end_us", rp)
        entities, written = _int(r, "entities", rp), _int(r, "written", rp)
        if start is not None and start >= run_end:
            raise ConfigError(f"{rp}.start_us: must be before end_us")
        if not 0 <= written <= entities:
            raise ConfigError(f"{rp}.written: must be in [0, entities]")
        if r["view"] != view:
            raise ConfigError(f"{rp}.view: must be {view!r}")
        runs.append(MaterializeRun(view, start, run_end, entities, written, _int(r, "at_us", rp)))
    if runs and max(r.end_us for r in runs) != end:
        raise ConfigError(f"{path}.end_us: must equal the latest run's end_us")
    ttl = d.get("ttl_us", UNKNOWN_TTL)
    if ttl != UNKNOWN_TTL and ttl is not None and (type(ttl) is not int or ttl <= 0):
        raise ConfigError(f"{path}.ttl_us: expected a positive integer or null")
    return Watermark(view, version, end, tuple(runs), ttl)
