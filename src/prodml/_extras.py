"""Lazy import of optional dependencies with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from prodml.errors import MissingExtraError

__all__ = ["require"]


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
