"""Lazy import of optional dependencies with an error that names the extra."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

from prodml.errors import MissingExtraError

__all__ = ["require", "require_for_flags"]


def require(module: str, *, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`~prodml.errors.MissingExtraError`.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"dask.dataframe"``.
    extra
        The prodml extra that installs it, e.g. ``"dask"``.
    feature
        What needs it, for the message.

    Returns
    -------
    ModuleType
        The imported module.

    Raises
    ------
    MissingExtraError
        When the module cannot be imported.

    Examples
    --------
    >>> require("json", extra="core").__name__
    'json'
    >>> require("no_such_module_xyz", extra="dask")
    Traceback (most recent call last):
    ...
    prodml.errors.MissingExtraError: This feature needs the optional package 'no_such_module_xyz', which is not installed. Install it with: pip install 'prodml[dask]'
    """  # noqa: E501
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".", 1)[0]
        raise MissingExtraError(package=top, extra=extra, feature=feature) from err


def require_for_flags(needs: Iterable[tuple[str, str, Iterable[tuple[str, str]]]]) -> None:
    """Raise one :class:`~prodml.errors.MissingExtraError` naming each flag's missing extra.

    A command given several URLs (``--db postgresql://... --artifacts s3://...``) names the
    extra every flag needs, all in one message, before it opens anything: opening one
    store after the other named only the first one's extra, so a user installed it, ran
    the command again, and only then learned of the second.

    Parameters
    ----------
    needs
        ``(flag, scheme, [(module, extra), ...])``: what each flag's URL scheme needs.

    Raises
    ------
    MissingExtraError
        Naming, for each flag whose URL needs a module that does not import, the flag,
        its URL's scheme, the package and the extra; and one ``pip install`` line with
        every extra missing.

    Examples
    --------
    >>> require_for_flags([("--db", "sqlite", [("json", "core")])])
    >>> require_for_flags([("--db", "nosuchdb", [("no_such_driver_xyz", "postgres")])])
    Traceback (most recent call last):
    ...
    prodml.errors.MissingExtraError: --db nosuchdb://... needs the optional package 'no_such_driver_xyz', which is not installed. Install it with: pip install 'prodml[postgres]'
    """  # noqa: E501
    missing: list[tuple[str, str, str]] = []  # (what needs it, package, extra)
    for flag, scheme, requires in needs:
        for module, extra in requires:
            try:
                importlib.import_module(module)
            except ImportError:  # noqa: PERF203 - a few imports, once per command
                missing.append((f"{flag} {scheme}://...", module.split(".", 1)[0], extra))
                break  # one package per flag: its extra installs the rest
    if not missing:
        return
    extras = sorted({extra for _, _, extra in missing})
    what, package, _ = missing[0]
    err = MissingExtraError(package=package, extra=",".join(extras), feature=what)
    if len(missing) > 1:
        needs_text = " and ".join(
            f"{what} needs {package!r} (extra {extra!r})" for what, package, extra in missing
        )
        err.msg = (
            f"{needs_text}: optional packages that are not installed. Install them with: "
            f"pip install 'prodml[{','.join(extras)}]'"
        )
        err.args = (err.msg,)
    raise err
