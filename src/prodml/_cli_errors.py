"""How a ``prodml`` command that failed ends: one line on stderr, secrets masked, an exit code.

Split out of :mod:`prodml.cli`, whose :func:`~prodml.cli.main` calls :func:`report` for an
exception a command raised and :func:`_interrupted` for a Ctrl-C. A
:class:`~prodml.errors.ProdMLError`, a file the system refuses, ``sys.exit("message")`` or
a server that cannot be reached is one line, ``error: ...``, and exit code 2; the reader
of stdout leaving (``prodml ... | head``) ends quietly with 141; anything else is a bug in
prodml: its traceback, an ``error:`` line and the caller's bug code (70). Credentials in
the command's URLs and in the environment are masked as ``***`` in all of it.

``prodml --help`` does not import this module: :mod:`prodml.cli` imports it only once
something failed. What a branch needs beyond that (the error classes, the traceback
module, the secrets) is imported in that branch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from prodml._quote import shown_path  # light: pulls in no numpy, pandas or pyarrow

if TYPE_CHECKING:
    from prodml._secrets import Secrets
    from prodml.errors import ProdMLError


def report(err: BaseException, argv: Sequence[str], *, bug: int) -> int:
    """Print what ``err`` says on stderr and return the exit code it ends the command with.

    Parameters
    ----------
    err
        An exception a command raised: an ``Exception``, or a ``SystemExit`` whose code is
        neither ``None`` nor an int (``sys.exit("message")``, which Python would print).
    argv
        The command's arguments: the credentials in their URLs are masked.
    bug
        The exit code of a bug in prodml (:data:`prodml.cli.EXIT_BUG`).

    Returns
    -------
    int
        141 when stdout's reader left, ``bug`` after a bug's traceback, else 2.
    """
    if isinstance(err, BrokenPipeError):  # stdout's reader left (`prodml ... | head`)
        if err.filename is None:
            return _stdout_closed()
        _say(f"error: {_one_line(err.strerror or str(err))}: {shown_path(err.filename)}", argv)
    elif isinstance(err, OSError):  # before ProdMLError: AuthorizationError is both
        where = f": {shown_path(err.filename)}" if err.filename else ""
        _say(f"error: {_one_line(err.strerror or str(err))}{where}", argv)
    elif isinstance(err, SystemExit):
        _say(f"error: {_one_line(str(err.code))}", argv)
    elif isinstance(err, _errors()):
        message = err.args[0] if err.args else type(err).__name__  # KeyError quoting off
        _say(f"error: {_one_line(str(message))}", argv)
    elif (service := _service_failure(err)) is not None:
        _say(f"error: {service}", argv)
    else:  # a bug in prodml: the traceback is what a report needs, minus any secret
        import traceback  # noqa: PLC0415 - only on this path

        _say("".join(traceback.format_exception(err)).rstrip("\n"), argv)
        _say(f"error: a bug in prodml ({type(err).__name__}): please report it", argv)
        return bug
    return 2


def _errors() -> type[ProdMLError]:
    from prodml.errors import ProdMLError  # noqa: PLC0415 - pulls in dataclasses, inspect

    return ProdMLError


def _interrupted() -> int:
    """Exit code 130 (128 + SIGINT) after one line, ``interrupted``, and no traceback.

    A second Ctrl-C while Python shuts down (joining pyarrow's or a progress bar's
    threads) then ends the process at once, by the signal itself, rather than raising a
    KeyboardInterrupt where nothing catches it and its traceback is printed.
    """
    import contextlib  # noqa: PLC0415 - only on this path
    import signal  # noqa: PLC0415

    with contextlib.suppress(ValueError):  # main() called from a thread, not the main one
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    with contextlib.suppress(OSError, ValueError):  # stderr closed
        print("interrupted", file=sys.stderr)
    return 130


def _stdout_closed() -> int:
    """Exit code 141 (128 + SIGPIPE, as a shell tool killed by it), and no error message.

    The reader of the output closed the pipe (``| head``): nothing went wrong that the user
    should read about. stdout is pointed at the null device so that Python's own flush at
    exit does not fail on it again.
    """
    import os  # noqa: PLC0415 - only on this path

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (a test's capture)
        pass
    return 141


# Client libraries of the servers a registry or store lives on, and the exceptions of
# theirs that say the server cannot be reached, refused the credentials or the request:
# the environment's fault, not a bug, so one line, not a traceback.
_SERVICE_CLIENTS = {
    "redis": "Redis",
    "botocore": "S3",
    "aiobotocore": "S3",
    "s3fs": "S3",
    "sqlalchemy": "the database",
    "psycopg": "PostgreSQL",
}
_SERVICE_FAILURES = frozenset(
    {
        "AuthenticationError",  # redis: a wrong password
        "AuthorizationError",
        "BotoCoreError",  # botocore: no credentials, an endpoint it cannot reach...
        "BusyLoadingError",
        "ClientError",  # botocore: the service said no (access denied, no such bucket)
        "ConnectionError",
        "NoPermissionError",
        "OperationalError",  # sqlalchemy, psycopg: connection refused, server gone
        "ReadOnlyError",
        "TimeoutError",
    }
)
_HINTS = {
    "NoCredentialsError": " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)",
}


def _service_failure(err: BaseException) -> str | None:
    """``err`` as one line when a server's client library raised it for a server problem.

    ``None`` for anything else (a bug in prodml, which keeps its traceback).
    """
    service = _SERVICE_CLIENTS.get(type(err).__module__.split(".")[0])
    names = {cls.__name__ for cls in type(err).__mro__}
    if service is None or not names & _SERVICE_FAILURES:
        return None
    from prodml._quote import error_line  # noqa: PLC0415

    return f"{service}: {error_line(err)}{_HINTS.get(type(err).__name__, '')}"


def _secrets(argv: Sequence[str]) -> Secrets:
    """The credentials ``argv``'s URLs and the environment hold, to keep out of stderr."""
    import os  # noqa: PLC0415 - only when there is something to print

    from prodml._secrets import Secrets, is_secret_name  # noqa: PLC0415

    found = Secrets()
    for arg in argv:
        if "://" in arg:
            url = arg.partition("=")[2] if arg.startswith("--") else arg
            # also as repr() quotes it (argparse, short_repr): a quote in it escaped
            found += Secrets.of(url) + Secrets.of(repr(url)[1:-1])
    # AWS_SECRET_ACCESS_KEY, PGPASSWORD...: the clients read them, and may echo them.
    # Short values are left alone: masking "1" or "true" would garble the message.
    env = [v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= 8]
    return found + Secrets(env)


def _say(text: str, argv: Sequence[str]) -> None:
    """Print ``text`` on stderr with every credential of ``argv`` and the environment masked."""
    print(_secrets(argv).scrub(text), file=sys.stderr)


def _one_line(text: str) -> str:
    """A message on one line: ``2 problems:`` then ``- a`` and ``- b`` -> ``2 problems: a; b``."""
    out = ""
    for raw in text.strip().splitlines():
        line = raw.strip().removeprefix("- ").strip()
        if line:
            out += line if not out else (" " if out.endswith(":") else "; ") + line
    return out or "unknown error"
