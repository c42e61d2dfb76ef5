"""Model cards built from what the registry knows: :class:`ModelCard`.

:meth:`ModelRegistry.card <prodml.registry.ModelRegistry.card>` gathers one version's
description and intended-use fields, metrics, signature, lineage (data, pipeline and
feature-view fingerprints), recorded environment, audit trail (registration, approvals,
alias moves) and, when present in its lineage, fairness and explanation summaries. The
card renders as Markdown, self-contained HTML and JSON.

Sources of each section: ``description`` and the tags ``intended_use``, ``out_of_scope``,
``limitations``, ``owner`` (or the keywords of ``card()``); the version's ``metrics``,
``signature`` and ``lineage``; ``lineage["environment"]`` (recorded by ``register``);
``lineage["fairness"]`` (a :meth:`prodml.fairness.FairnessReport.to_dict`) and
``lineage["importance"]`` (feature name -> importance); the audit log (every event
naming the version, with approver and signing key id when the log holds them).

A card shows no value that looks personal (:func:`prodml.privacy.find_personal_data`):
such strings are replaced by ``<redacted>``, and the allowed values and bounds of a
sensitive signature column are not listed. Nor does it show a credential: a URL's
password and credential-like query values become ``***`` (as in the registry's own
messages), and so do the values of tags, lineage and environment keys named like a
credential (``password``, ``secret``, ``token``...) and AWS access key ids.

Every name and value is rendered as text (see :mod:`prodml._markup`): escaped for HTML,
escaped for Markdown (no link, image, raw HTML, heading or extra table cell can come from
a value), hidden characters (line breaks, bidi overrides, NUL) shown as escapes, names
longer than 120 characters and values longer than 2,000 cut, saying how long they were.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prodml._files import write_text
from prodml._markup import MAX_NAME, MAX_TEXT, html_text, md_text
from prodml._quote import short_repr
from prodml._secrets import mask_secret_keys, mask_secrets
from prodml._state import load_json
from prodml.errors import ConfigError
from prodml.privacy import REDACTED, find_personal_data
from prodml.registry._card_state import INTENDED_USE_FIELDS, check_card_state

if TYPE_CHECKING:
    from prodml.registry.entities import AuditEvent, ModelVersion

__all__ = ["INTENDED_USE_FIELDS", "ModelCard", "build_card"]

FORMAT_VERSION = 1
_SECTIONS = ("environment", "fairness", "importance")
_ALIAS_ACTIONS = ("set_alias", "rollback", "delete_alias")


def _clean(value: Any) -> Any:
    """``value`` made JSON-safe, with every string that looks personal or secret redacted."""
    if isinstance(value, str):
        value = mask_secrets(value)  # first: a URL's password can look like an e-mail's name
        return REDACTED if find_personal_data(value) is not None else value
    if isinstance(value, Mapping):
        return {str(_clean(str(k))): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clean(str(value))


class ModelCard(BaseModel):
    """A model card: what a model version is, what it was made from, who approved it.

    Build one with ``ModelRegistry.card("churn@production")``; render it with
    :meth:`to_markdown`, :meth:`to_html` or :meth:`to_json`.

    Examples
    --------
    >>> import tempfile
    >>> from prodml.registry import ModelCard, ModelRegistry
    >>> from prodml.schema import Column, Schema
    >>> reg = ModelRegistry.local(tempfile.mkdtemp(), actor="ann")
    >>> mv = reg.register(
    ...     "churn",
    ...     Schema([Column("x", "float")]),
    ...     description="Monthly churn score",
    ...     tags={"intended_use": "rank accounts for retention calls"},
    ...     metrics={"auc": 0.81},
    ...     lineage={"data_fingerprint": "ab12"},
    ... )
    >>> _ = reg.set_alias("churn", "production", mv.version)
    >>> card = reg.card("churn@production")
    >>> card.model["ref"], card.aliases, card.metrics
    ('churn@1', ['production'], {'auc': 0.81})
    >>> print(card.to_markdown().splitlines()[0])
    # Model card: churn@1
    >>> ModelCard.from_json(card.to_json()) == card
    True
    >>> reg.close()
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(frozen=True, extra="forbid")

    format_version: int = FORMAT_VERSION
    model: dict[str, Any]
    intended_use: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    signature: list[dict[str, Any]] | None = None
    lineage: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] | None = None
    fairness: dict[str, Any] | None = None
    importance: dict[str, float] | None = None
    aliases: list[str] = Field(default_factory=list)
    audit: list[dict[str, Any]] = Field(default_factory=list)
    generated_at: str

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError(
                f"malformed ModelCard: {err.error_count()} problem(s), first at "
                f"{'.'.join(map(str, err.errors()[0]['loc'])) or 'the card'}"
            ) from err

    # -- state -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe content with ``format_version``."""
        return self.model_dump(mode="json")

    def to_json(self, path: str | Path | None = None) -> str:
        """The card as JSON text; also written to ``path`` when given.

        The file is written whole or not at all: an unusable path is a ``ConfigError``
        naming it, and a failed write keeps an earlier file.
        """
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)
        if path is not None:
            write_text(path, text, "the model card")
        return text

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> ModelCard:
        """Rebuild a card saved by :meth:`to_dict`; every field is checked, strings again.

        Raises
        ------
        ConfigError
            For another ``format_version``; a :class:`~prodml.errors.StateError` (also a
            ConfigError) naming the field path for content that is not a card's.
        """
        if not isinstance(state, Mapping) or state.get("format_version") != FORMAT_VERSION:
            got = state.get("format_version") if isinstance(state, Mapping) else None
            raise ConfigError(
                f"unsupported ModelCard format_version {short_repr(got)}; expected "
                f"{FORMAT_VERSION}",
                parameter="format_version",
            )
        check_card_state(state)
        return cls(**_clean(_mask_sections(dict(state))))

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """Rebuild a card from :meth:`to_json` output (size and nesting depth limited)."""
        return cls.from_dict(load_json(text, owner="ModelCard"))

    # -- rendering -------------------------------------------------------------------

    def _sections(self) -> list[tuple[str, list[str], list[list[str]]]]:
        """Each section as (title, header, rows) of plain text cells."""
        m = self.model
        out: list[tuple[str, list[str], list[list[str]]]] = [
            (
                "Model",
                ["field", "value"],
                [[k, _text(m.get(k))] for k in ("name", "version", "status", "flavour")]
                + [
                    ["created", f"{_text(m.get('created_at'))} by {_text(m.get('created_by'))}"],
                    ["aliases", ", ".join(self.aliases) or "-"],
                ],
            ),
            (
                "Intended use",
                ["field", "value"],
                [[k.replace("_", " "), v] for k, v in self.intended_use.items()],
            ),
            ("Metrics", ["metric", "value"], [[k, f"{v:.6g}"] for k, v in self.metrics.items()]),
        ]
        if self.signature is not None:
            out.append(
                (
                    "Signature",
                    ["column", "type", "nullable", "constraints", "sensitive"],
                    [
                        [
                            c["name"],
                            c["dtype"],
                            "yes" if c["nullable"] else "no",
                            _constraints(c),
                            "yes" if c.get("sensitive") else "",
                        ]
                        for c in self.signature
                    ],
                )
            )
        out.append(("Lineage", ["field", "value"], _flat_rows(self.lineage)))
        if self.environment is not None:
            out.append(("Environment", ["field", "value"], _flat_rows(self.environment)))
        if self.fairness is not None:
            out.append(("Fairness", *_fairness_rows(self.fairness)))
        if self.importance is not None:
            top = sorted(self.importance.items(), key=lambda kv: -abs(kv[1]))[:20]
            out.append(("Feature importance", ["feature", "importance"], _pairs(top)))
        out.append(
            (
                "Approvals and alias history",
                ["at", "action", "actor", "alias", "version", "detail"],
                [
                    [
                        _text(e.get("at")),
                        _text(e.get("action")),
                        _text(e.get("actor")),
                        _text(e.get("alias")),
                        _version_move(e),
                        _text(e.get("detail") or ""),
                    ]
                    for e in self.audit
                ],
            )
        )
        out.append(("Tags", ["tag", "value"], [[k, v] for k, v in self.tags.items()]))
        return out

    def to_markdown(self, path: str | Path | None = None) -> str:
        """The card as Markdown; also written to ``path`` when given.

        The file is written whole or not at all: an unusable path is a ``ConfigError``
        naming it, and a failed write keeps an earlier file.
        """
        lines = [f"# Model card: {md_text(self.model['ref'])}", ""]
        if self.model.get("description"):
            lines += [md_text(self.model["description"], MAX_TEXT, name=False, paragraph=True), ""]
        for title, header, rows in self._sections():
            lines += [f"## {title}", ""]
            if not rows:
                lines += ["(none recorded)", ""]
                continue
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(_cells(row, md_text)) + " |" for row in rows]
            lines.append("")
        lines.append(f"Generated {self.generated_at} by prodml from the model registry.")
        text = "\n".join(lines) + "\n"
        if path is not None:
            write_text(path, text, "the model card")
        return text

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML page (inline style, no script, no external resource).

        Also written to ``path`` when given, whole or not at all: an unusable path is a
        ``ConfigError`` naming it, and a failed write keeps an earlier file.
        """
        esc = html.escape
        ref = html_text(self.model["ref"])
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>Model card: {ref}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>Model card: {ref}</h1>",
        ]
        if self.model.get("description"):
            parts.append(f"<p>{html_text(self.model['description'], MAX_TEXT, name=False)}</p>")
        for title, header, rows in self._sections():
            parts.append(f"<h2>{esc(title)}</h2>")
            if not rows:
                parts.append('<p class="none">(none recorded)</p>')
                continue
            head = "".join(f"<th>{esc(h)}</th>" for h in header)
            body = "".join(
                "<tr>" + "".join(f"<td>{c}</td>" for c in _cells(row, html_text)) + "</tr>"
                for row in rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        parts.append(
            f'<p class="none">Generated {esc(self.generated_at)} by prodml from the model '
            "registry.</p></body></html>"
        )
        page = "\n".join(parts)
        if path is not None:
            write_text(path, page, "the model card")
        return page

    def _repr_html_(self) -> str:
        return self.to_html()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelCard):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ModelCard({short_repr(self.model['ref'])}, aliases={short_repr(self.aliases)})"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1rem}"
    "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}.none{color:#777}td{overflow-wrap:anywhere}"
)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _cells(row: Sequence[str], render: Any) -> list[str]:
    """A row's cells rendered as text: the first names something, the others are values."""
    return [render(c, MAX_NAME if i == 0 else MAX_TEXT, name=i == 0) for i, c in enumerate(row)]


def _mask_sections(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with the credential-like keys of its tags, lineage and environment masked."""
    return {k: mask_secret_keys(v) if k in _FREE_SECTIONS else v for k, v in state.items()}


_FREE_SECTIONS = ("tags", "intended_use", "lineage", "environment")


def _pairs(items: Sequence[tuple[str, Any]]) -> list[list[str]]:
    return [[k, _text(v)] for k, v in items]


def _flat_rows(d: Mapping[str, Any], prefix: str = "") -> list[list[str]]:
    rows: list[list[str]] = []
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            rows += _flat_rows(v, f"{prefix}{k}.")
        elif v is not None:
            rows.append([f"{prefix}{k}", _text(v)])
    return rows


def _constraints(col: Mapping[str, Any]) -> str:
    parts = []
    if col.get("min") is not None:
        parts.append(f">= {_text(col['min'])}")
    if col.get("max") is not None:
        parts.append(f"<= {_text(col['max'])}")
    if col.get("allowed") is not None:
        parts.append("one of " + ", ".join(map(str, col["allowed"])))
    return "; ".join(parts)


def _version_move(e: Mapping[str, Any]) -> str:
    v, prev = e.get("version"), e.get("previous_version")
    if prev is not None and v is not None:
        return f"{prev} -> {v}"
    if prev is not None:
        return f"{prev} -> (none)"
    return _text(v)


def _fairness_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The gaps of a saved FairnessReport, or its flat fields when it has none."""
    gaps = report.get("gaps")
    if isinstance(gaps, list) and gaps and all(isinstance(g, Mapping) for g in gaps):
        keys = [k for k in gaps[0] if not isinstance(gaps[0][k], Mapping | list)]
        return keys, [[_text(g.get(k)) for k in keys] for g in gaps]
    return ["field", "value"], _flat_rows(report)


def _signature(mv: ModelVersion) -> list[dict[str, Any]] | None:
    if mv.signature is None:
        return None
    return [
        {
            "name": c.name,
            "dtype": c.dtype.value,
            "nullable": c.nullable,
            # The allowed values and bounds of a sensitive column are data about people.
            "min": None if c.sensitive else c.min,
            "max": None if c.sensitive else c.max,
            "allowed": None if c.sensitive or c.allowed is None else list(c.allowed),
            "sensitive": c.sensitive,
            "description": c.description,
        }
        for c in mv.signature.columns
    ]


def _audit_row(e: AuditEvent) -> dict[str, Any]:
    detail = {
        k: v
        for k, v in e.detail.items()
        if k != "pop" and isinstance(v, str | int | float | bool | list)
    }
    return {
        "seq": e.seq,
        "at": e.at.isoformat(timespec="seconds"),
        "action": e.action,
        "actor": e.actor,
        "alias": e.alias,
        "version": e.version,
        "previous_version": e.previous_version,
        "detail": detail,
    }


def _dict_or_none(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def build_card(
    mv: ModelVersion,
    events: Sequence[AuditEvent],
    aliases: Mapping[str, int],
    overrides: Mapping[str, str],
) -> ModelCard:
    """The card of ``mv`` from its audit ``events`` (any order) and the model's aliases."""
    unknown = sorted(set(overrides) - set(INTENDED_USE_FIELDS))
    if unknown:
        raise ConfigError(
            f"unknown model card field(s) {unknown}; expected some of {list(INTENDED_USE_FIELDS)}",
            parameter="fields",
        )
    intended = {k: mv.tags[k] for k in INTENDED_USE_FIELDS if k in mv.tags}
    intended.update({k: str(v) for k, v in overrides.items()})
    lineage = mv.lineage.model_dump(mode="json", exclude_none=True)
    sections = {k: lineage.pop(k, None) for k in _SECTIONS}
    mine = [
        e
        for e in events
        if e.version == mv.version
        or (e.previous_version == mv.version and e.action in _ALIAS_ACTIONS)
    ]
    importance = sections["importance"]
    state = {
        "model": {
            "name": mv.name,
            "version": mv.version,
            "ref": mv.ref,
            "status": mv.status,
            "flavour": mv.flavour,
            "created_at": mv.created_at,
            "created_by": mv.created_by,
            "description": mv.description,
        },
        "intended_use": intended,
        "tags": {k: v for k, v in mv.tags.items() if k not in INTENDED_USE_FIELDS},
        "metrics": dict(mv.metrics),
        "signature": _signature(mv),
        "lineage": lineage,
        "environment": sections["environment"]
        if isinstance(sections["environment"], dict)
        else None,
        "fairness": sections["fairness"] if isinstance(sections["fairness"], dict) else None,
        "importance": (
            {str(k): float(v) for k, v in importance.items() if isinstance(v, int | float)}
            if isinstance(importance, dict)
            else None
        ),
        "aliases": sorted(a for a, v in aliases.items() if v == mv.version),
        "audit": [_audit_row(e) for e in sorted(mine, key=lambda e: e.seq)],
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return ModelCard(**_clean(_mask_sections(state)))
