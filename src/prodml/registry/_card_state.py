"""Validation of a saved :class:`~prodml.registry.ModelCard` (private).

A card read back from JSON is hostile until checked (design principle 7): every field a
rendering touches is checked for type, range and shape here, before pydantic builds the
card, and a :class:`~prodml.errors.StateError` names the field path at fault
(``ModelCard state field 'signature[0].dtype' must be ...``). Free-form sections
(``lineage``, ``environment``, ``fairness``, an audit event's ``detail``) must be JSON
values: str-keyed dicts, lists, str, bool, null, ints and finite floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prodml._state import MAX_COUNT, MAX_DEPTH, Field
from prodml.schema import LogicalType

__all__ = ["INTENDED_USE_FIELDS", "check_card_state"]

INTENDED_USE_FIELDS = ("intended_use", "out_of_scope", "limitations", "owner")
"""The intended-use fields of a card (from tags of these names or ``card()`` keywords)."""

_OWNER = "ModelCard"
_FIELDS = (
    "format_version",
    "model",
    "intended_use",
    "tags",
    "metrics",
    "signature",
    "lineage",
    "environment",
    "fairness",
    "importance",
    "aliases",
    "audit",
    "generated_at",
)
_REQUIRED = ("format_version", "model", "generated_at")
_MODEL = ("name", "version", "ref", "status", "flavour", "created_at", "created_by", "description")
_COLUMN = ("name", "dtype", "nullable", "min", "max", "allowed", "sensitive", "description")
_EVENT = ("seq", "at", "action", "actor", "alias", "version", "previous_version", "detail")
_DTYPES = tuple(t.value for t in LogicalType)
_MAX_TEXT = 1_000_000
"""Longest string a card field may hold (a description is free text; a name is short)."""
_MAX_INT_BITS = 1024
"""Widest int a free-form section may hold (``str()`` of a far wider one fails)."""


def _str(f: Field, *, long: bool = False, empty: bool = True) -> str:
    return f.str(max_len=_MAX_TEXT if long else 10_000, empty=empty)


def _opt_str(f: Field, *, long: bool = False) -> None:
    if f.value is not None:
        _str(f, long=long)


def _opt_int(f: Field, *, lo: int) -> None:
    if f.value is not None:
        f.int(lo=lo, hi=MAX_COUNT)


def _exact(f: Field, keys: tuple[str, ...]) -> Mapping[str, Any]:
    return f.dict(keys=keys)


def _json_value(f: Field, depth: int = 0) -> None:
    """``f`` is a JSON value with finite numbers, nested at most MAX_DEPTH deep."""
    v = f.value
    if v is None or isinstance(v, bool):
        return
    if isinstance(v, str):
        _str(f, long=True)
    elif isinstance(v, int):
        f.check(v.bit_length() <= _MAX_INT_BITS, f"an int of at most {_MAX_INT_BITS} bits")
    elif isinstance(v, float):
        f.float()
    elif depth >= MAX_DEPTH:
        raise f.fail(f"nested at most {MAX_DEPTH} levels deep")
    elif isinstance(v, Mapping):
        for child in f.values():
            _json_value(child, depth + 1)
    elif isinstance(v, list):
        for child in f.each():
            _json_value(child, depth + 1)
    else:
        raise f.fail("a JSON value (dict, list, str, number, bool or null)")


def _str_map(f: Field, *, keys: tuple[str, ...] | None = None) -> None:
    for k, v in f.items():
        if keys is not None and k not in keys:
            raise v.fail("absent (not one of " + ", ".join(keys) + ")")
        _str(v, long=True)


def _float_map(f: Field) -> None:
    for v in f.values():
        v.float()


def _model(f: Field) -> None:
    _exact(f, _MODEL)
    _str(f["name"], empty=False)
    f["version"].int(lo=1, hi=MAX_COUNT)
    _str(f["ref"], empty=False)
    for key in ("status", "flavour", "created_at"):
        _str(f[key])
    _opt_str(f["created_by"])
    _opt_str(f["description"], long=True)


def _column(f: Field) -> None:
    _exact(f, _COLUMN)
    _str(f["name"], empty=False)
    f["dtype"].str(choices=_DTYPES)
    f["nullable"].bool()
    f["sensitive"].bool()
    for key in ("min", "max"):
        f[key].optional_float()
    _opt_str(f["description"], long=True)
    allowed = f["allowed"]
    if allowed.value is not None:
        for item in allowed.each():
            if not isinstance(item.value, str | bool):
                item.float()


def _event(f: Field) -> None:
    _exact(f, _EVENT)
    f["seq"].count()
    _str(f["at"])
    _str(f["action"], empty=False)
    for key in ("actor", "alias"):
        _opt_str(f[key])
    for key in ("version", "previous_version"):
        _opt_int(f[key], lo=1)
    f["detail"].dict()
    _json_value(f["detail"])


def check_card_state(state: object) -> None:
    """Raise a StateError naming the first field of ``state`` that is not a card's.

    Parameters
    ----------
    state
        What :meth:`ModelCard.to_dict` wrote, read back.

    Raises
    ------
    StateError
        (also a :class:`~prodml.errors.ConfigError`) for a missing, unknown or
        malformed field.
    """
    root = Field(state, owner=_OWNER)
    d = root.dict()
    for key in _REQUIRED:
        root[key]  # raises, naming the missing field
    unknown = sorted(set(d) - set(_FIELDS))
    if unknown:
        raise root[unknown[0]].fail("absent (not a model card field)")
    _model(root["model"])
    _str(root["generated_at"])
    present = {k: root[k] for k in d}
    if "intended_use" in present:
        _str_map(present["intended_use"], keys=INTENDED_USE_FIELDS)
    if "tags" in present:
        _str_map(present["tags"])
    if "metrics" in present:
        _float_map(present["metrics"])
    if "importance" in present and present["importance"].value is not None:
        _float_map(present["importance"])
    if "signature" in present and present["signature"].value is not None:
        for col in present["signature"].each():
            _column(col)
    if "lineage" in present:
        present["lineage"].dict()
        _json_value(present["lineage"])
    for key in ("environment", "fairness"):
        if key in present and present[key].value is not None:
            present[key].dict()
            _json_value(present[key])
    if "aliases" in present:
        for alias in present["aliases"].each():
            _str(alias, empty=False)
    if "audit" in present:
        for event in present["audit"].each():
            _event(event)
