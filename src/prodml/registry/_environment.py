"""The environment a model was registered in, and the check made when it is loaded.

``register`` records, in ``lineage["environment"]``, the Python version and
implementation, the platform, and the versions of the packages the version's flavour
needs (plus, with ``environment="full"``, every installed distribution, as ``pip freeze``
would list it). ``load`` compares the recorded versions of the packages in
:data:`CHECKED_PACKAGES` with this process's: a different **major** version is a
mismatch (numpy 1 -> 2 changed its binary format and scalar behaviour; scikit-learn
models are not guaranteed to load across versions at all). A mismatch warns
(:class:`EnvironmentMismatchWarning`), refuses (:class:`EnvironmentMismatchError`) or is
ignored, per ``ModelRegistry.environment_check`` or ``load(..., environment_check=)``.

Examples
--------
>>> env = {"python": "3.11.7", "packages": {"numpy": "0.9.0"}}
>>> [m.package for m in mismatches(env)]
['numpy']
>>> mismatches({"python": "3.11.7", "packages": {}})
[]
"""

from __future__ import annotations

import platform
import re
import sys
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from prodml._quote import short_repr
from prodml.errors import ConfigError, RegistryError

__all__ = [
    "CHECKED_PACKAGES",
    "EnvironmentMismatch",
    "EnvironmentMismatchError",
    "EnvironmentMismatchWarning",
    "capture",
    "check",
    "mismatches",
]

EnvironmentCheck = Literal["warn", "error", "ignore"]
CHECKED_PACKAGES = ("numpy", "scikit-learn", "scipy", "pandas", "pyarrow", "skops")
_CORE = ("prodml", "numpy", "pandas", "pyarrow", "pydantic")
FLAVOUR_PACKAGES: dict[str, tuple[str, ...]] = {
    "files": ("prodml",),
    "prodml": _CORE,
    "sklearn": (*_CORE, "scikit-learn", "scipy", "joblib", "skops"),
    "pair": (*_CORE, "scikit-learn", "scipy", "joblib", "skops"),
}


class EnvironmentMismatchWarning(UserWarning):
    """A model is loaded where a package it needs has another major version."""


class EnvironmentMismatchError(RegistryError):
    """A model is refused because a package it needs has another major version.

    ``mismatches`` lists each package with the recorded and the installed version.
    """

    def __init__(
        self,
        message: str,
        *,
        model_name: str | None = None,
        version: int | None = None,
        mismatches: list[EnvironmentMismatch] | None = None,
    ) -> None:
        super().__init__(message, model_name=model_name, version=version)
        self.mismatches: list[EnvironmentMismatch] = list(mismatches or [])

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (str(self),), self.__dict__)


@dataclass(frozen=True)
class EnvironmentMismatch:
    """One package whose installed major version differs from the recorded one."""

    package: str
    recorded: str
    installed: str | None

    def __str__(self) -> str:
        now = self.installed or "not installed"
        return f"{self.package} {self.recorded} when registered, {now} here"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


_RECORDED = re.compile(r"([0-9]{1,9})[0-9A-Za-z.+!_-]{0,63}")
"""A recorded version this module compares (PEP 440 and local versions fit, 64 chars at most)."""


def _major(version: str) -> int | None:
    """The major version of a version string, ``None`` when it does not look like one.

    A recorded one is read back from the store: a hand-edited value of 5,000 digits
    (``int`` refuses it) or a megabyte of text (repeated in the message) is no version.
    """
    m = _RECORDED.fullmatch(version)
    return int(m.group(1)) if m else None


def capture(flavour: Any, *, full: bool = False) -> dict[str, Any]:
    """The environment of this process, for the lineage of a version of ``flavour``.

    ``flavour`` is a flavour object or name; a user flavour may list its packages in a
    ``packages`` attribute.
    """
    name = flavour if isinstance(flavour, str) else getattr(flavour, "name", "")
    wanted = FLAVOUR_PACKAGES.get(name, (*_CORE, *getattr(flavour, "packages", ())))
    packages = {d: v for d in dict.fromkeys(wanted) if (v := _version(d)) is not None}
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": packages,
    }
    if full:
        env["pip_freeze"] = sorted(
            {
                f"{d.metadata['Name']}=={d.version}"
                for d in metadata.distributions()
                if d.metadata["Name"]
            },
            key=str.lower,
        )
    return env


def mismatches(recorded: object) -> list[EnvironmentMismatch]:
    """Checked packages whose installed major version differs from ``recorded``'s.

    A recorded environment that is not a mapping of strings (an old version, a
    hand-edited row), or a recorded version that is not a version string (see
    :func:`_major`), has nothing to compare and gives no mismatch.
    """
    if not isinstance(recorded, dict) or not isinstance(recorded.get("packages"), dict):
        return []
    out = []
    for package in CHECKED_PACKAGES:
        was = recorded["packages"].get(package)
        if not isinstance(was, str) or _major(was) is None:
            continue
        now = _version(package)
        if now is None or _major(now) != _major(was):
            out.append(EnvironmentMismatch(package, was, now))
    return out


def check(
    recorded: object,
    mode: EnvironmentCheck,
    *,
    model_name: str,
    version: int,
) -> list[EnvironmentMismatch]:
    """Warn about or refuse a load in an environment that differs in a way that matters.

    Raises
    ------
    EnvironmentMismatchError
        With ``mode="error"`` and at least one mismatch.
    ConfigError
        For an unknown ``mode``.
    """
    if mode not in ("warn", "error", "ignore"):
        raise ConfigError(
            f"environment_check must be 'warn', 'error' or 'ignore'. Got {short_repr(mode)} "
            "instead.",
            parameter="environment_check",
        )
    if mode == "ignore":
        return []
    found = mismatches(recorded)
    if not found:
        return []
    message = (
        f"{model_name}@{version} was registered in another environment: "
        + "; ".join(map(str, found))
        + " (the major version differs)"
    )
    if mode == "error":
        raise EnvironmentMismatchError(
            message + "; install the recorded versions, or load with environment_check='warn'",
            model_name=model_name,
            version=version,
            mismatches=found,
        )
    warnings.warn(message, EnvironmentMismatchWarning, stacklevel=3)
    return found
