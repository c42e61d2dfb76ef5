"""Validation of registry inputs: references, the fields of a new version, durations."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prodml._quote import short_repr
from prodml.errors import ConfigError, StorageError
from prodml.fingerprint import canonical_json
from prodml.registry._paths import check_version_number
from prodml.registry.entities import Lineage, check_alias, check_name
from prodml.registry.flavours import Flavour
from prodml.schema import Schema

__all__ = ["check_fields", "parse_ref", "save_model"]


def parse_ref(ref: str, version: int | str | None) -> tuple[str, int | str | None]:
    """Split ``"name@selector"`` (or ``name`` plus ``version``) into name and selector.

    Examples
    --------
    >>> parse_ref("churn@3", None), parse_ref("churn", "production")
    (('churn', 3), ('churn', 'production'))
    """
    if not isinstance(ref, str):
        raise ConfigError(
            f"model reference must be a str, got {type(ref).__name__}", parameter="ref"
        )
    name, at, selector = ref.partition("@")
    check_name(name)
    if at and version is not None:
        raise ConfigError(
            f"give the version either in the reference {short_repr(ref)} or as version=, not both",
            parameter="version",
        )
    sel: int | str | None = selector if at else version
    if isinstance(sel, str):
        if sel.isascii() and sel.isdigit():
            if len(sel) > 10:
                check_version_number(10**10)  # raises: too many digits to be a version
            return name, check_version_number(int(sel))
        if sel != "latest":
            check_alias(sel)
    elif sel is not None:
        if isinstance(sel, bool) or not isinstance(sel, int):
            raise ConfigError(
                f"version must be an int or alias, got {type(sel).__name__}", parameter="version"
            )
        check_version_number(sel)
    return name, sel


def check_fields(
    tags: Mapping[str, str] | None,
    description: str,
    signature: Schema | None,
    metrics: Mapping[str, float] | None,
    lineage: Lineage | Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The checked ``ModelVersion`` fields; ConfigError naming the bad one."""
    tags = dict(tags or {})
    for k, v in tags.items():
        if (
            not isinstance(k, str)
            or not k
            or len(k) > 256
            or not isinstance(v, str)
            or "\0" in k
            or "\0" in v
        ):
            raise ConfigError(
                f"tag {short_repr(k)}: {short_repr(v)} must be a non-empty str key (<= 256 chars) "
                "and a str value, without NUL characters",
                parameter="tags",
            )
    metrics = dict(metrics or {})
    for k, m in metrics.items():
        if (
            not isinstance(k, str)
            or not k
            or len(k) > 256
            or "\0" in k
            or isinstance(m, bool)
            or not isinstance(m, int | float)
            or not math.isfinite(m)
        ):
            raise ConfigError(
                f"metric {short_repr(k)}: {short_repr(m)} must be a finite number under a "
                "non-empty str name",
                parameter="metrics",
            )
    if not isinstance(description, str):
        raise ConfigError("description must be a str", parameter="description")
    if signature is not None and not isinstance(signature, Schema):
        raise ConfigError(
            f"signature must be a prodml Schema, got {type(signature).__name__}",
            parameter="signature",
        )
    if lineage is None:
        lin = Lineage()
    elif isinstance(lineage, Lineage):
        lin = lineage
    elif isinstance(lineage, Mapping):
        canonical_json(dict(lineage))
        try:
            lin = Lineage(**lineage)
        except ValueError as err:
            raise ConfigError(f"invalid lineage: {err}", parameter="lineage") from err
    else:
        raise ConfigError("lineage must be a mapping or Lineage", parameter="lineage")
    return {
        "tags": tags,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "description": description,
        "signature": signature,
        "lineage": lin,
    }


def save_model(fl: Flavour, model: Any, staging: Path, follow_symlinks: bool) -> dict[str, Any]:
    """Let ``fl`` write ``model`` into ``staging``; OS failures become StorageError."""
    options = {"follow_symlinks": True} if follow_symlinks else {}
    try:
        meta = fl.save(model, staging, **options)
    except TypeError as err:
        if options and "follow_symlinks" in str(err):
            raise ConfigError(
                f"flavour {fl.name!r} does not take follow_symlinks", parameter="follow_symlinks"
            ) from err
        raise
    except OSError as err:
        cause = err.strerror or str(err)[:200]
        raise StorageError(
            f"cannot write the model into the staging directory {staging}: {cause}",
            path=str(staging),
            errno=err.errno,
        ) from err
    if not isinstance(meta, dict):
        raise ConfigError(f"flavour {fl.name!r} returned {type(meta).__name__}, not a dict")
    canonical_json(meta)
    return meta
