"""The prodml exception hierarchy.

Every error raised by prodml because of user input, configuration or stored state is a
subclass of :class:`ProdMLError`, so one ``except ProdMLError`` catches them all. Where an
error semantically *is* a built-in error, it also inherits that built-in, so code written
against ``ValueError`` or ``KeyError`` keeps working::

    ProdMLError
    ├── SchemaError           (ValueError)            data does not match a schema
    ├── NotFittedError        (ValueError, AttributeError)  used before fit
    ├── ConfigError           (ValueError)            a bad parameter or setting
    │   └── UnpicklableError  (TypeError)             a connection holder was pickled or copied
    ├── RegistryError                                 model registry failures
    │   ├── NotFoundError     (KeyError)              no such model, version or alias
    │   ├── ConflictError                             concurrent or duplicate write
    │   ├── IntegrityError                            stored artifact does not match its hash
    │   ├── AuthorizationError (PermissionError)     an authorizer refused an alias move
    │   └── StorageError                              the OS refused a read or write of the store
    ├── DriftError            (ValueError)            a drift test cannot be run
    ├── PolicyError           (ValueError)            bad rollout or bandit input
    ├── StateError            (ValueError)            saved state failed validation on load
    └── MissingExtraError     (ImportError)           an optional dependency is not installed

Errors carry the context a caller needs to act on them as attributes (``column``,
``model_name``, ``version``, ``parameter``, ``extra``); the message says the same in words.

Examples
--------
>>> from prodml.errors import ProdMLError, NotFoundError
>>> try:
...     raise NotFoundError("model 'churn' has no alias 'production'", model_name="churn")
... except ProdMLError as err:
...     print(type(err).__name__, err.model_name, "-", err)
NotFoundError churn - model 'churn' has no alias 'production'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prodml._quote import short_repr

__all__ = [
    "AuthorizationError",
    "ConfigError",
    "ConflictError",
    "DriftError",
    "IntegrityError",
    "MissingExtraError",
    "NotFittedError",
    "NotFoundError",
    "PolicyError",
    "ProdMLError",
    "RegistryError",
    "SchemaError",
    "SchemaProblem",
    "StateError",
    "StorageError",
    "UnpicklableError",
]


class ProdMLError(Exception):
    """Root of every error prodml raises on bad input, configuration or state."""


@dataclass(frozen=True)
class SchemaProblem:
    """One thing wrong with a table or record, as listed by :class:`SchemaError`.

    Parameters
    ----------
    column
        The column at fault, or ``None`` for a problem with the whole input.
    kind
        A short machine-readable tag: ``"missing"``, ``"extra"``, ``"type"``, ``"null"``,
        ``"range"``, ``"allowed"``, ``"input"``, ``"unknown_category"``.
    message
        A sentence a person can act on, naming the value and what was expected.
    row
        Position of the first offending row, when there is one.
    """

    column: str | None
    kind: str
    message: str
    row: int | None = None

    def __str__(self) -> str:
        where = f"column {short_repr(self.column)}: " if self.column is not None else ""
        at = f" (first at row {self.row})" if self.row is not None else ""
        return f"{where}{self.message}{at}"


class SchemaError(ProdMLError, ValueError):
    """Data does not match the expected schema.

    One error lists *every* problem found, so a caller fixes them all in one round.

    Parameters
    ----------
    message
        Summary; when omitted it is built from ``problems``.
    problems
        Each problem found. ``column`` is the first problem's column.
    column
        The column at fault when there is a single one.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        problems: Sequence[SchemaProblem] = (),
        column: str | None = None,
    ) -> None:
        self.problems: tuple[SchemaProblem, ...] = tuple(problems)
        if column is None and self.problems:
            column = self.problems[0].column
        self.column = column
        if message is None:
            if len(self.problems) == 1:
                message = str(self.problems[0])
            else:
                lines = "\n".join(f"  - {p}" for p in self.problems)
                message = f"{len(self.problems)} problems found:\n{lines}"
        super().__init__(message)

    @property
    def columns(self) -> list[str]:
        """Columns named by the problems, in order, without repeats."""
        seen: dict[str, None] = {}
        for p in self.problems:
            if p.column is not None:
                seen.setdefault(p.column)
        return list(seen)


class NotFittedError(ProdMLError, ValueError, AttributeError):
    """An estimator, pipeline or detector was used before ``fit``."""

    def __init__(self, message: str, *, estimator: str | None = None) -> None:
        self.estimator = estimator
        super().__init__(message)


class ConfigError(ProdMLError, ValueError):
    """A parameter or setting has an invalid value."""

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        self.parameter = parameter
        super().__init__(message)


class UnpicklableError(ConfigError, TypeError):
    """An object holding live connections was pickled or copied; the message says what to ship.

    Registries, feature stores, predictors, servers and controllers stand for a database, a
    bucket, a thread or a socket: a worker should receive their URLs or ``to_dict()`` and
    build its own. Also a ``TypeError``, like the error ``pickle`` raises for any object it
    cannot pickle, so ``except TypeError`` keeps working.
    """


class RegistryError(ProdMLError):
    """The model registry could not complete an operation."""

    def __init__(
        self,
        message: str,
        *,
        model_name: str | None = None,
        version: int | str | None = None,
    ) -> None:
        self.model_name = model_name
        self.version = version
        super().__init__(message)


class NotFoundError(RegistryError, KeyError):
    """No model, version, alias or artifact with that name exists."""

    # KeyError.__str__ wraps the message in quotes; show it as written instead.
    if TYPE_CHECKING:  # the same method, declared for type checkers (pyright)

        def __str__(self) -> str: ...

    else:
        __str__ = Exception.__str__


class ConflictError(RegistryError):
    """A write collided with existing state (a duplicate, or a concurrent change)."""


class IntegrityError(RegistryError):
    """A stored artifact is missing or does not match the hash recorded for it."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        model_name: str | None = None,
        version: int | str | None = None,
    ) -> None:
        self.path = path
        super().__init__(message, model_name=model_name, version=version)


class AuthorizationError(RegistryError, PermissionError):
    """The registry's authorizer refused an action (a protected alias without approval).

    Also a :class:`PermissionError` (hence an ``OSError`` with ``errno`` ``None``), so
    code that handles refusals generically keeps working. ``alias`` and ``action`` name
    what was refused; nothing was changed.
    """

    def __init__(
        self,
        message: str,
        *,
        model_name: str | None = None,
        version: int | str | None = None,
        alias: str | None = None,
        action: str | None = None,
    ) -> None:
        self.alias = alias
        self.action = action
        super().__init__(message, model_name=model_name, version=version)


class StorageError(RegistryError):
    """The operating system refused a read or write of the registry's storage.

    Disk full, a file size limit, a permission or read-only location, a path that is a
    file where a directory was expected: the message names the path and the cause, and
    the registry is left as it was before the operation.

    Parameters
    ----------
    message
        What failed, naming the path and the cause.
    path
        The path or key that could not be read or written.
    errno
        The OS error number (``errno.ENOSPC``...), when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        errno: int | None = None,
        model_name: str | None = None,
        version: int | str | None = None,
    ) -> None:
        self.path = path
        self.errno = errno
        super().__init__(message, model_name=model_name, version=version)


class DriftError(ProdMLError, ValueError):
    """A drift test cannot be run on the data given (a ValueError, as the data is wrong)."""

    def __init__(self, message: str, *, column: str | None = None) -> None:
        self.column = column
        super().__init__(message)


class PolicyError(ProdMLError, ValueError):
    """A rollout policy or bandit got input it cannot act on."""

    def __init__(self, message: str, *, variant: str | None = None) -> None:
        self.variant = variant
        super().__init__(message)


class StateError(ProdMLError, ValueError):
    """Saved state (``from_dict``/``from_json`` input) failed validation on load.

    The message names the field path (``state.summary.treatment.count``) and what was
    expected. Raised by every ``from_dict``/``from_json``; the instance raised is also an
    instance of the loading module's own error class (``PolicyError`` for rollout,
    ``ConfigError`` elsewhere), so code catching those keeps working.

    Parameters
    ----------
    message
        What is wrong, naming the field path and what was expected.
    path
        The field path at fault (``"state.n"``), or None for the whole input.
    owner
        The class whose state was being loaded (``"ADWIN"``).
    """

    def __init__(self, message: str, *, path: str | None = None, owner: str = "") -> None:
        self.path = path
        self.owner = owner
        # Attributes of the module error classes a StateError may also be.
        self.parameter = path
        self.variant: str | None = None
        self.column: str | None = None
        Exception.__init__(self, message)


class MissingExtraError(ProdMLError, ImportError):
    """An optional dependency is needed; the message names the extra that installs it."""

    def __init__(self, *, package: str, extra: str, feature: str | None = None) -> None:
        self.package = package
        self.extra = extra
        what = f"{feature} needs" if feature else "This feature needs"
        message = (
            f"{what} the optional package {package!r}, which is not installed. "
            f"Install it with: pip install 'prodml[{extra}]'"
        )
        super().__init__(message, name=package)
