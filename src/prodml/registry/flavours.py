"""Flavours: how a kind of model is written to files and read back.

============  ==============================================  ===========================
flavour       handles                                         files
============  ==============================================  ===========================
``files``     a :class:`pathlib.Path` to a file or directory  ``files/<name>``
``prodml``    a ``prodml.*`` object with ``to_json`` and a    ``object.json``
              ``from_json`` classmethod (Schema, pipelines)
``pair``      a 2-tuple ``(pipeline, model)`` of the above    ``pipeline/``, ``model/``
``sklearn``   a scikit-learn estimator                        ``model.skops`` (skops) or
                                                              ``model.joblib``
============  ==============================================  ===========================

Loading never runs pickle unless asked: skops files load only types skops trusts by
default unless ``trusted`` lists more (or is ``True``), and joblib files (used when skops is
not installed) load only with ``trusted=True``; registering a scikit-learn model without
skops warns (:class:`PickleFallbackWarning`). JSON flavours import only classes in the
``prodml.`` namespace. Add a flavour with :func:`register_flavour`.

Examples
--------
>>> from prodml.schema import Column, Schema
>>> flavour_for(Schema([Column("x", "float")])).name
'prodml'
"""

from __future__ import annotations

import abc
import importlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from prodml._data import type_name
from prodml._quote import short_repr
from prodml.errors import ConfigError, RegistryError
from prodml.registry._formats import caller_stacklevel
from prodml.registry._paths import path_problem

__all__ = [
    "FilesFlavour",
    "Flavour",
    "PairFlavour",
    "PickleFallbackWarning",
    "ProdMLJSONFlavour",
    "SklearnFlavour",
    "Trust",
    "flavour_for",
    "get_flavour",
    "register_flavour",
]

Trust = bool | Sequence[str]

_SKOPS_HINT = "pip install 'prodml[sklearn]'"


class PickleFallbackWarning(UserWarning):
    """A scikit-learn model was stored with joblib (pickle) because skops is not installed.

    Loading it will need ``trusted=True`` (``--trusted`` for ``prodml serve`` and
    ``prodml score``). Install skops (``pip install 'prodml[sklearn]'``) before
    registering to store it with skops instead.
    """


class Flavour(abc.ABC):
    """Writes one kind of model into an empty directory and reads it back."""

    name: ClassVar[str]

    @abc.abstractmethod
    def handles(self, obj: object) -> bool:
        """Whether this flavour can save ``obj``."""

    @abc.abstractmethod
    def save(self, obj: Any, path: Path) -> dict[str, Any]:
        """Write ``obj`` under directory ``path``; return JSON-able metadata for load."""

    @abc.abstractmethod
    def load(self, path: Path, meta: dict[str, Any], *, trusted: Trust = False) -> Any:
        """Read the object back from ``path`` (files already verified by the registry)."""

    def check_meta(self, meta: Mapping[str, Any], files: Mapping[str, str]) -> str | None:
        """Why ``meta`` (as read back from a store) cannot be loaded from ``files``.

        The registry calls this at registration and before every load, with the
        version's manifest (relative path -> sha256). Return ``None`` when ``meta`` is
        well formed and every path it names is one of ``files``; otherwise a phrase
        naming the field at fault (``"basename: ..."``). Override it in any flavour whose
        metadata names files or classes: everything in ``meta`` may have been written by
        someone else.
        """
        return None


_FLAVOURS: dict[str, Flavour] = {}


def register_flavour(flavour: Flavour, *, first: bool = True) -> None:
    """Add (or replace) a flavour; ``first`` makes it win automatic detection.

    Raises
    ------
    ConfigError
        When ``flavour`` is not a :class:`Flavour` instance with a name.
    """
    if not isinstance(flavour, Flavour) or not isinstance(getattr(flavour, "name", None), str):
        raise ConfigError(
            "The 'flavour' parameter of register_flavour must be a Flavour instance with a "
            f"name. Got {type(flavour).__name__} instead.",
            parameter="flavour",
        )
    _FLAVOURS.pop(flavour.name, None)
    if first:
        items = [(flavour.name, flavour), *_FLAVOURS.items()]
        _FLAVOURS.clear()
        _FLAVOURS.update(items)
    else:
        _FLAVOURS[flavour.name] = flavour


def get_flavour(name: str) -> Flavour:
    """The flavour registered as ``name``."""
    try:
        return _FLAVOURS[name]
    except KeyError:
        raise ConfigError(
            f"unknown flavour {short_repr(name)}; known: {', '.join(_FLAVOURS)}",
            parameter="flavour",
        ) from None


def flavour_for(obj: object) -> Flavour:
    """The first registered flavour that handles ``obj``.

    Raises
    ------
    ConfigError
        Saying the model is missing (``None``), is a name or path rather than a model
        (a ``str``), or is of a type no flavour saves, and what can be registered.
    """
    for flavour in _FLAVOURS.values():
        if flavour.handles(obj):
            return flavour
    raise _not_a_model(obj)


_STORABLE = (
    "a fitted scikit-learn estimator, a prodml object, a (pipeline, model) pair or a "
    "pathlib.Path of saved files"
)
"""What :meth:`ModelRegistry.register` stores with the built-in flavours, for messages."""


def _not_a_model(obj: object, what: str = "the model to register") -> ConfigError:
    """The error for ``obj``, which no flavour saves: missing, a path, or an unknown type.

    Only a ``str`` or ``bytes`` value is quoted (a file name says what the user meant);
    any other value is named by its type, since a dict or an array passed by mistake may
    hold data about people.
    """
    if what.endswith("pair"):
        register = (
            "each part of a pair must be a fitted scikit-learn estimator, a prodml object "
            "or a pathlib.Path of saved files (or of a type a flavour added with "
            "register_flavour() saves)"
        )
    else:
        register = f"register {_STORABLE}, or add a flavour with register_flavour()"
    if obj is None:
        return ConfigError(f"{what} is missing (None): {register}", parameter="model")
    if isinstance(obj, tuple) and len(obj) == 2:
        for label, part in zip(("pipeline", "model"), obj, strict=True):
            if not any(f.handles(part) for f in _FLAVOURS.values()) or isinstance(part, tuple):
                inner = _not_a_model(part, f"the {label} of the (pipeline, model) pair")
                return ConfigError(str(inner), parameter="model")
    if isinstance(obj, str | bytes):
        shown = short_repr(obj, limit=120)
        return ConfigError(
            f"no flavour can save an object of type {type(obj).__name__} ({what}, {shown}): "
            "a name or a path is not a model. To store a saved file or folder pass "
            f"pathlib.Path({shown}); otherwise {register}",
            parameter="model",
        )
    return ConfigError(
        f"no flavour can save an object of type {type_name(obj)} ({what}): it is not a "
        f"model prodml knows; {register}",
        parameter="model",
    )


class FilesFlavour(Flavour):
    """Any file or directory, given as a :class:`pathlib.Path`; loads as a fresh copy.

    Symbolic links are refused unless ``follow_symlinks=True`` is passed to ``register``;
    then each link is replaced by a copy of what it points at, and the copy is hashed.
    """

    name = "files"

    def handles(self, obj: object) -> bool:
        """Whether this flavour can save ``obj``."""
        return isinstance(obj, os.PathLike)

    def save(self, obj: Any, path: Path, *, follow_symlinks: bool = False) -> dict[str, Any]:
        """Write ``obj`` under ``path``; return the metadata load needs."""
        if not isinstance(obj, str | os.PathLike):  # register(..., flavour="files")
            raise ConfigError(
                "the 'files' flavour stores a file or folder, given as a pathlib.Path. Got "
                f"{type_name(obj)}, which is not a path.",
                parameter="model",
            )
        src = Path(obj)
        if not src.exists() and not src.is_symlink():
            raise ConfigError(f"cannot register {str(src)!r}: no such file or directory")
        problem = path_problem(src.name)
        if problem is not None:
            raise ConfigError(f"cannot register {str(src)!r}: its name {problem}")
        if not follow_symlinks:
            link = _first_link(src)
            if link is not None:
                raise ConfigError(
                    f"cannot register {str(src)!r}: {str(link)!r} is a symbolic link. Links "
                    "are not stored; pass follow_symlinks=True to store a copy of what each "
                    "link points at (make sure that is nothing private), or remove them",
                    parameter="follow_symlinks",
                )
        dest = path / "files" / src.name
        dest.parent.mkdir(parents=True)
        _copy(src, dest, frozenset())
        return {"basename": src.name, "kind": "dir" if dest.is_dir() else "file"}

    def check_meta(self, meta: Mapping[str, Any], files: Mapping[str, str]) -> str | None:
        """Why ``meta`` cannot be loaded from ``files``, or ``None``."""
        base = meta.get("basename")
        problem = path_problem(base)
        if problem is not None or not isinstance(base, str) or "/" in base:
            return f"basename {str(base)[:80]!r} {problem or 'has a /'}"
        kind = meta.get("kind")
        if kind == "file":
            if set(files) != {f"files/{base}"}:
                return f"kind 'file' but the manifest does not hold exactly 'files/{base}'"
        elif kind == "dir":
            if any(not rel.startswith(f"files/{base}/") for rel in files):
                return f"kind 'dir' but the manifest holds files outside 'files/{base}/'"
        else:
            return f"kind {str(kind)[:20]!r} is not 'file' or 'dir'"
        return None

    def load(self, path: Path, meta: dict[str, Any], *, trusted: Trust = False) -> Path:
        """Read the object back from a verified directory."""
        base = str(meta["basename"])
        if path_problem(base) is not None or "/" in base:
            raise RegistryError(f"refusing to load files named {base[:80]!r}")
        out = Path(tempfile.mkdtemp(prefix="prodml-files-")) / base
        src = path / "files" / base
        if meta.get("kind") == "dir":
            shutil.copytree(src, out, symlinks=True)
        else:
            shutil.copyfile(src, out, follow_symlinks=False)
        return out


def _first_link(src: Path) -> Path | None:
    """The first symbolic link at or under ``src`` (walked without following links)."""
    if src.is_symlink():
        return src
    for root, dirs, names in os.walk(src):
        for n in sorted(dirs + names):
            if os.path.islink(os.path.join(root, n)):
                return Path(root, n)
    return None


def _copy(src: Path, dest: Path, seen: frozenset[str]) -> None:
    """Copy ``src`` to ``dest`` following links; refuse loops and special files."""
    if src.is_dir():
        real = os.path.realpath(src)
        if real in seen:
            raise ConfigError(f"cannot register: {str(src)!r} is a symbolic link loop")
        dest.mkdir()
        for entry in sorted(os.listdir(src)):
            _copy(src / entry, dest / entry, seen | {real})
    elif src.is_file():
        shutil.copyfile(src, dest)
    else:
        what = "a dangling symbolic link" if src.is_symlink() else "not a regular file"
        raise ConfigError(f"cannot register {str(src)!r}: it is {what}")


class ProdMLJSONFlavour(Flavour):
    """A ``prodml.*`` object saved as its own JSON (``to_json`` / ``from_json``)."""

    name = "prodml"

    def handles(self, obj: object) -> bool:
        """Whether this flavour can save ``obj``."""
        cls = type(obj)
        return (
            cls.__module__.startswith("prodml.")
            and callable(getattr(obj, "to_json", None))
            and callable(getattr(cls, "from_json", None))
        )

    def save(self, obj: Any, path: Path) -> dict[str, Any]:
        """Write ``obj`` under ``path``; return the metadata load needs."""
        cls = type(obj)
        (path / "object.json").write_text(obj.to_json(), encoding="utf-8")
        return {"class": f"{cls.__module__}:{cls.__qualname__}"}

    def check_meta(self, meta: Mapping[str, Any], files: Mapping[str, str]) -> str | None:
        """Why ``meta`` cannot be loaded from ``files``, or ``None``."""
        target = meta.get("class")
        if not isinstance(target, str) or not target.startswith("prodml.") or ":" not in target:
            return f"class {str(target)[:80]!r} is not a prodml.* class"
        if set(files) != {"object.json"}:
            return "the manifest does not hold exactly 'object.json'"
        return None

    def load(self, path: Path, meta: dict[str, Any], *, trusted: Trust = False) -> Any:
        """Read the object back from a verified directory."""
        target = str(meta.get("class", ""))
        module_name, _, qualname = target.partition(":")
        if not module_name.startswith("prodml.") or not qualname:
            raise RegistryError(
                f"refusing to load class {short_repr(target)}: JSON artifacts load only "
                "prodml.* classes"
            )
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        from_json = getattr(obj, "from_json", None)
        if not isinstance(obj, type) or not callable(from_json):
            raise RegistryError(f"{short_repr(target)} is not a class with from_json")
        return from_json((path / "object.json").read_text(encoding="utf-8"))


class PairFlavour(Flavour):
    """A ``(pipeline, model)`` tuple; each part is saved with its own flavour."""

    name = "pair"
    _parts = ("pipeline", "model")

    def handles(self, obj: object) -> bool:
        """Whether this flavour can save ``obj``."""
        if not isinstance(obj, tuple) or len(obj) != 2:
            return False
        try:
            return all(flavour_for(part).name not in ("pair",) for part in obj)
        except ConfigError:
            return False

    def save(self, obj: Any, path: Path, **options: Any) -> dict[str, Any]:
        """Write ``obj`` under ``path``; return the metadata load needs.

        ``options`` (``follow_symlinks``) go to the parts saved as files.
        """
        parts = []
        for label, part in zip(self._parts, obj, strict=True):
            flavour = flavour_for(part)
            sub = path / label
            sub.mkdir()
            extra = options if isinstance(flavour, FilesFlavour) else {}
            parts.append({"flavour": flavour.name, "meta": flavour.save(part, sub, **extra)})
        return {"parts": parts}

    def check_meta(self, meta: Mapping[str, Any], files: Mapping[str, str]) -> str | None:
        """Why ``meta`` cannot be loaded from ``files``, or ``None``."""
        parts = meta.get("parts")
        if not isinstance(parts, list) or len(parts) != len(self._parts):
            return "parts is not a list of two entries"
        covered = 0
        for i, (label, part) in enumerate(zip(self._parts, parts, strict=True)):
            if not isinstance(part, dict) or not isinstance(part.get("meta"), dict):
                return f"parts[{i}] is not an object with a meta object"
            name = part.get("flavour")
            if name == self.name or not isinstance(name, str) or name not in _FLAVOURS:
                return f"parts[{i}].flavour {str(name)[:40]!r} is not a registered flavour"
            sub = {r[len(label) + 1 :]: h for r, h in files.items() if r.startswith(label + "/")}
            covered += len(sub)
            problem = _FLAVOURS[name].check_meta(part["meta"], sub)
            if problem is not None:
                return f"parts[{i}].meta.{problem}"
        return None if covered == len(files) else "the manifest holds files outside the parts"

    def load(self, path: Path, meta: dict[str, Any], *, trusted: Trust = False) -> Any:
        """Read the object back from a verified directory."""
        return tuple(
            get_flavour(str(p["flavour"])).load(path / label, p["meta"], trusted=trusted)
            for label, p in zip(self._parts, meta["parts"], strict=True)
        )


class SklearnFlavour(Flavour):
    """A scikit-learn estimator, via skops when installed, else joblib.

    skops loads without running pickle; any type skops does not trust by default must be
    named in ``trusted`` (or ``trusted=True``). joblib is pickle, so it needs
    ``trusted=True``.
    """

    name = "sklearn"

    def handles(self, obj: object) -> bool:
        """Whether this flavour can save ``obj``."""
        from sklearn.base import BaseEstimator  # noqa: PLC0415 - keep import prodml light

        return isinstance(obj, BaseEstimator)

    def save(self, obj: Any, path: Path) -> dict[str, Any]:
        """Write ``obj`` under ``path``; return the metadata load needs.

        With ``register(..., flavour="sklearn")`` any estimator is taken, a duck-typed
        one too (an object with a ``fit`` method); a value that has none (a file name, a
        dict of coefficients) is refused rather than pickled as a model.
        """
        if not callable(getattr(obj, "fit", None)) and not self.handles(obj):
            raise ConfigError(
                "the 'sklearn' flavour stores a scikit-learn estimator (an object with a "
                f"fit method). Got {type_name(obj)}, which is not one; load the model "
                "first, or pass a pathlib.Path with flavour='files' to store saved files",
                parameter="model",
            )
        try:
            import skops.io as sio  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: PLC0415 - optional
        except ImportError:
            import joblib  # type: ignore[import-untyped, import-not-found, unused-ignore]  # noqa: PLC0415

            warnings.warn(
                f"skops is not installed, so this {type_name(obj)} is stored with joblib "
                "(pickle): loading it will need trusted=True (--trusted for prodml serve "
                f"and prodml score). Run {_SKOPS_HINT} before registering to store it "
                "with skops, which loads without running pickle",
                PickleFallbackWarning,
                stacklevel=caller_stacklevel(),
            )
            joblib.dump(obj, path / "model.joblib")
            return {"format": "joblib"}
        sio.dump(obj, path / "model.skops")
        return {"format": "skops"}

    def check_meta(self, meta: Mapping[str, Any], files: Mapping[str, str]) -> str | None:
        """Why ``meta`` cannot be loaded from ``files``, or ``None``."""
        fmt = meta.get("format")
        if fmt not in ("skops", "joblib"):
            return f"format {str(fmt)[:20]!r} is not 'skops' or 'joblib'"
        if set(files) != {f"model.{fmt}"}:
            return f"the manifest does not hold exactly 'model.{fmt}'"
        return None

    def load(self, path: Path, meta: dict[str, Any], *, trusted: Trust = False) -> Any:
        """Read the object back from a verified directory."""
        if meta.get("format") == "joblib":
            if trusted is not True:
                raise RegistryError(
                    "it was saved with joblib (pickle), skops not being installed when it "
                    "was registered, and pickle can run arbitrary code when loaded. Load it "
                    "with trusted=True (prodml serve/score: --trusted) only if you trust "
                    f"whoever can write to this registry; or run {_SKOPS_HINT} and register "
                    "the model again, to store it with skops"
                )
            import joblib  # noqa: PLC0415

            return joblib.load(path / "model.joblib")
        from prodml._extras import require  # noqa: PLC0415

        sio = require("skops.io", extra="sklearn", feature="Loading a skops model")
        file = path / "model.skops"
        if trusted is True:
            return sio.load(file, trusted=list(sio.get_untrusted_types(file=file)))
        allowed = list(trusted) if trusted else None
        try:
            return sio.load(file, trusted=allowed)
        except Exception as err:
            refused = sorted(set(sio.get_untrusted_types(file=file)) - set(allowed or ()))
            if not refused:
                raise
            raise RegistryError(
                f"the model holds types skops does not trust by default: {refused}; "
                "pass trusted=[...] naming them (or trusted=True) to load it"
            ) from err


for _flavour in (FilesFlavour(), ProdMLJSONFlavour(), PairFlavour(), SklearnFlavour()):
    register_flavour(_flavour, first=False)
