"""JSON-safe save and validated restore of a GroupMetrics (private).

Layout::

    {"format_version": 1, "kind": "GroupMetrics",
     "config": {...the constructor settings...},
     "state": {"groups": [[value, ...], ...],             # one list per group
               "confusion": [[tn, fp, fn, tp], ...],      # same order as groups
               "histograms": [[...2 * bins ints...], ...] or null,
               "dropped": {"column": count, ...},
               # only when a group value is a token (below):
               "salt_id": "...",
               # only when config.weighted is true:
               "weights": [[w_tn, w_fp, w_fn, w_tp], ...],          # sums of sample_weight
               "weights_squared": [[...], ...]}}                     # sums of their squares

A group value that looks like personal data (:func:`prodml.privacy.find_personal_data`)
is saved as its salted token (``pm:`` and 16 hex digits), never as itself, and
``state.salt_id`` names the salt (:attr:`prodml.privacy.Privacy.salt_id`, never the salt):
the state a report is made from shows those groups by the same tokens, and a process
with the same salt (``PRODML_PRIVACY_SALT``) matches new records of the values to them.
A state saved with another salt still loads, as saved, with a
:class:`prodml.privacy.PersonalDataWarning`: new records of those values will be other
groups. A state holding the values themselves (saved before tokens) loads too, and is
saved with tokens from then on.

``config.weighted`` is written only when true, so an unweighted state is exactly what it
was before weights existed, and a state without it loads as unweighted. A weighted state
says so in its config, and a prodml without weights refuses it (unknown setting) rather
than reading its counts as unweighted.

Saved state is hostile until checked: every field's type, shape, range and the
invariants between them (histogram totals equal the confusion counts per class; groups
distinct and within the policies) are validated, and a StateError (also a ConfigError)
names the field path (``state.confusion[2][1]``) and what was expected.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prodml._state import check_depth, check_format_version, is_unicode, load_json, state_error
from prodml.errors import ConfigError, SchemaError, StateError
from prodml.fairness._ingest import MISSING_LABEL, OTHER, privacy, public_key, short, sort_key
from prodml.fairness._kinds import Kinds
from prodml.privacy import PersonalDataWarning, is_token

if TYPE_CHECKING:
    from prodml.fairness._group_metrics import GroupMetrics

__all__ = ["FORMAT_VERSION", "dump", "is_salt_id", "load", "parse_json"]

FORMAT_VERSION = 1
_MAX_COUNT = 2**62  # counts beyond this are corrupt (and would lose precision as floats)
_MAX_JSON = 64 * 1024 * 1024


def dump(gm: GroupMetrics) -> dict[str, Any]:
    """Settings and counts of ``gm``, JSON-safe, groups sorted canonically."""
    saved = [public_key(k) for k in gm._keys]
    order = sorted(range(len(saved)), key=lambda i: sort_key(saved[i]))
    bins2 = 2 * gm.bins
    hist = gm._hist
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": "GroupMetrics",
        "config": gm.config(),
        "state": {
            "groups": [list(saved[i]) for i in order],
            "confusion": [gm._conf[4 * i : 4 * i + 4] for i in order],
            "histograms": None
            if hist is None
            else [hist[i * bins2 : (i + 1) * bins2] for i in order],
            "dropped": dict(sorted(gm._dropped.items())),
        },
    }
    if any(is_token(v) for key in saved for v in key):
        out["state"]["salt_id"] = gm._token_salt or privacy().salt_id
    w = gm._w
    if w is not None:
        out["state"]["weights"] = [w[8 * i : 8 * i + 4] for i in order]
        out["state"]["weights_squared"] = [w[8 * i + 4 : 8 * i + 8] for i in order]
    return out


def parse_json(text: object) -> Any:
    """Parsed JSON, refused with a StateError (a ConfigError) when hostile (see load_json).

    Text nested too deeply is "not valid JSON" here, as it was before load_json.
    """
    try:
        return load_json(text, owner="GroupMetrics", max_bytes=_MAX_JSON)
    except StateError as err:
        if "nested" not in str(err):
            raise
        raise state_error(
            f"GroupMetrics state is not valid JSON: {err}", owner="GroupMetrics"
        ) from None


def _fail(path: str, expected: str, got: object) -> StateError:
    """A StateError (also a ConfigError, as before) naming the field path at fault."""
    return state_error(
        f"GroupMetrics state field {path!r} must be {expected}. Got {short(got)} instead.",
        path=path,
        owner="GroupMetrics",
    )


def _mapping(data: object, path: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise _fail(path, "a dict", data)
    return data


def _list(data: object, path: str, length: int | None = None) -> list[Any]:
    if not isinstance(data, list):
        raise _fail(path, "a list", data)
    if length is not None and len(data) != length:
        raise _fail(path, f"a list of {length} items", f"{len(data)} items")
    return data


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_COUNT:
        raise _fail(path, f"an int in [0, {_MAX_COUNT})", value)
    return value


def _group_value(value: object, path: str) -> object:
    if isinstance(value, str) and not is_unicode(value):
        raise _fail(path, "valid Unicode text", "a str with a lone surrogate")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _fail(path, "a str, int, bool, finite float or null", value)


def load(cls: type[GroupMetrics], data: object) -> GroupMetrics:
    """Rebuild a GroupMetrics from :func:`dump` output, validating everything."""
    top = _mapping(data, "<root>")
    check_depth(top, owner="GroupMetrics")
    if top.get("kind") != "GroupMetrics":
        raise _fail("kind", "'GroupMetrics'", top.get("kind"))
    check_format_version(top.get("format_version"), FORMAT_VERSION, owner="GroupMetrics")
    config = dict(_mapping(top.get("config"), "config"))
    known = set(cls(["x"], weighted=True).config())
    extra = sorted(set(config) - known, key=str)
    if extra:
        raise _fail(f"config.{str(extra[0])[:40]}", "a GroupMetrics setting", extra[0])
    absent = sorted(known - set(config) - {"weighted"})  # absent: saved before weights
    if absent:
        raise _fail(f"config.{absent[0]}", "present", None)
    try:
        gm = cls(**config)
    except ConfigError as err:
        raise state_error(
            f"GroupMetrics state field 'config.{err.parameter}': {err}",
            path=f"config.{err.parameter}",
            owner="GroupMetrics",
        ) from None
    state = _mapping(top.get("state"), "state")
    _load_counts(gm, state)
    return gm


def _load_counts(gm: GroupMetrics, state: Mapping[str, Any]) -> None:
    k = len(gm.sensitive)
    groups = _list(state.get("groups"), "state.groups")
    if len(groups) > gm.max_groups:
        raise _fail("state.groups", f"at most max_groups={gm.max_groups} groups", len(groups))
    confusion = _list(state.get("confusion"), "state.confusion", len(groups))
    keys: list[tuple[object, ...]] = []
    seen: set[tuple[object, ...]] = set()
    salt = _salt_id(state)
    kinds = Kinds(gm.sensitive, gm.categories)
    for i, g in enumerate(groups):
        values = _list(g, f"state.groups[{i}]", k)
        key = tuple(
            _check_group_value(
                gm, j, _group_value(v, f"state.groups[{i}][{j}]"), f"state.groups[{i}][{j}]"
            )
            for j, v in enumerate(values)
        )
        try:  # [true] and [1] (or [1] and [1.0]) would be one group: refused, as in update
            kinds.add(key)
        except SchemaError as err:
            j = gm.sensitive.index(str(err.problems[0].column))
            raise _fail(
                f"state.groups[{i}][{j}]",
                "a value of the type its column's equal values have (true, 1 and 1.0 "
                "are one group)",
                key[j],
            ) from None
        if key in seen or public_key(key) in seen:  # a value and its token: one group
            raise _fail(f"state.groups[{i}]", "a group not listed before", list(key))
        seen.add(key)
        seen.add(public_key(key))
        keys.append(key)
    conf = []
    for i, row in enumerate(confusion):
        cells = _list(row, f"state.confusion[{i}]", 4)
        conf.append([_count(c, f"state.confusion[{i}][{j}]") for j, c in enumerate(cells)])
    hist_rows = _load_histograms(gm, state.get("histograms"), conf)
    weight_rows = _load_weights(gm, state, conf)
    dropped = _mapping(state.get("dropped", {}), "state.dropped")
    for name, n in dropped.items():
        if name not in gm.sensitive:
            raise _fail(f"state.dropped.{str(name)[:40]}", "a sensitive column", name)
        gm._dropped[name] = _count(n, f"state.dropped.{name}")
    tokens = any(is_token(v) for key in keys for v in key)
    if tokens and salt is None:  # to_dict writes the salt id whenever a group is a token
        raise _fail("state.salt_id", "present (the groups hold tokens)", None)
    if tokens and salt != privacy().salt_id:
        warnings.warn(
            "GroupMetrics state holds group values that look like personal data as tokens "
            f"made with another salt (id {salt}, this process {privacy().salt_id}): the "
            "groups load as saved, but new records of those values will be other groups; "
            "set the PRODML_PRIVACY_SALT environment variable to one secret in every "
            "process that saves or loads this state",
            PersonalDataWarning,
            stacklevel=4,
        )
        gm._token_salt = salt
    for i, key in enumerate(keys):
        cell = gm._new_cell(key)
        gm._conf[4 * cell : 4 * cell + 4] = conf[i]
        if hist_rows is not None and gm._hist is not None:
            bins2 = 2 * gm.bins
            gm._hist[cell * bins2 : (cell + 1) * bins2] = hist_rows[i]
        if weight_rows is not None and gm._w is not None:
            gm._w[8 * cell : 8 * cell + 8] = weight_rows[i]


def _salt_id(state: Mapping[str, Any]) -> str | None:
    """``state.salt_id``: None when absent, else a short text (it is only compared)."""
    salt = state.get("salt_id")
    if salt is None:
        return None
    if not is_salt_id(salt):
        raise _fail("state.salt_id", "a salt id (16 lowercase hex digits)", salt)
    return salt


def is_salt_id(value: object) -> bool:
    """Whether ``value`` has the form of :attr:`prodml.privacy.Privacy.salt_id`."""
    return type(value) is str and _SALT_ID.fullmatch(value) is not None


_SALT_ID = re.compile(r"[0-9a-f]{16}")


def _check_group_value(gm: GroupMetrics, j: int, value: object, path: str) -> object:
    name = gm.sensitive[j]
    if value is None and gm.missing != "group":
        raise _fail(path, f"a value (missing={gm.missing!r} keeps no missing group)", value)
    if value == MISSING_LABEL and gm.missing == "group":
        raise _fail(path, "not the missing group's label (missing='group'): null", value)
    allowed = gm._policies.allowed.get(name)
    if value == OTHER and allowed is not None:
        if gm.unseen != "group":
            raise _fail(path, f"a declared category (unseen={gm.unseen!r})", value)
        return value
    if allowed is not None and value is not None and value not in allowed:
        raise _fail(path, f"one of the declared categories of {name!r}", value)
    return value


def _load_histograms(
    gm: GroupMetrics, data: object, conf: list[list[int]]
) -> list[list[int]] | None:
    if gm.threshold is None:
        if data is not None:
            raise _fail("state.histograms", "null (no threshold, so no scores)", data)
        return None
    rows = _list(data, "state.histograms", len(conf))
    out = []
    bins = gm.bins
    for i, row in enumerate(rows):
        cells = _list(row, f"state.histograms[{i}]", 2 * bins)
        counts = [_count(c, f"state.histograms[{i}][{j}]") for j, c in enumerate(cells)]
        tn, fp, fn, tp = conf[i]
        if sum(counts[:bins]) != tn + fp or sum(counts[bins:]) != fn + tp:
            raise _fail(
                f"state.histograms[{i}]",
                f"counts adding up to the group's negatives ({tn + fp}) and positives ({fn + tp})",
                f"{sum(counts[:bins])} and {sum(counts[bins:])}",
            )
        out.append(counts)
    return out


def _weight(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "a finite number >= 0", value)
    w = float(value)
    if not (math.isfinite(w) and w >= 0.0):
        raise _fail(path, "a finite number >= 0", value)
    return w


def _load_weights(
    gm: GroupMetrics, state: Mapping[str, Any], conf: list[list[int]]
) -> list[list[float]] | None:
    """Weight sums of a weighted state, checked against the record counts."""
    if gm._w is None:
        for name in ("weights", "weights_squared"):
            if state.get(name) is not None:
                raise _fail(f"state.{name}", "absent (config.weighted is not true)", "a value")
        return None
    rows: list[list[float]] = [[] for _ in conf]
    for name in ("weights", "weights_squared"):
        data = _list(state.get(name), f"state.{name}", len(conf))
        for i, row in enumerate(data):
            cells = _list(row, f"state.{name}[{i}]", 4)
            rows[i].extend(_weight(c, f"state.{name}[{i}][{j}]") for j, c in enumerate(cells))
    for i, row in enumerate(rows):
        for j in range(4):
            w, q = row[j], row[4 + j]
            if conf[i][j] == 0 and (w or q):
                raise _fail(f"state.weights[{i}][{j}]", "0 (the cell has no records)", w or q)
            if (w > 0) != (q > 0):
                raise _fail(
                    f"state.weights_squared[{i}][{j}]",
                    "positive exactly when the weight sum is",
                    q,
                )
    return rows
