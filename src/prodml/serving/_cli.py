"""The ``prodml serve`` and ``prodml score`` subcommands.

``prodml serve churn@production --registry PATH --port 8000`` serves a registry version
with uvicorn until SIGINT/SIGTERM (in-flight requests finish first), following the alias.
``prodml score churn@production IN OUT --registry PATH`` scores Parquet into Parquet parts,
resuming an interrupted run into the same ``OUT``.
``prodml serve`` listens at once and loads the model on a thread: ``/healthz`` is 200 and
``/readyz`` 503 (with the reason) until it has loaded; a load that fails for good (the
registry unreachable for ``--load-retry-for`` seconds, a reference that does not exist, or
any other failure) ends it. The registry is opened and the reference resolved before
listening, waiting at most ``--registry-wait`` seconds (:data:`OPEN_WAIT_S` by default;
0 listens at once): a database that has not answered by then (hung, slow) no longer keeps
the port closed, the open goes on on the load thread.
``--access-log`` writes one JSON line per request to stdout.
``--db URL --artifacts URL`` open a registry other than a local folder.
Exit codes: 0 done, 2 an error (one line on stderr).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import sys
import threading
from collections.abc import Callable
from typing import Any

from prodml._quote import short_repr

__all__ = ["MAX_REGISTRY_WAIT_S", "OPEN_WAIT_S", "add_parser"]

OPEN_WAIT_S = 5.0
"""Seconds ``prodml serve`` waits, by default (``--registry-wait``), for the registry to
open and the reference to resolve before it listens anyway (the open then goes on while
``/readyz`` answers 503)."""


def _port(text: str) -> int:
    """A TCP port number, checked when the command line is read (not by the server later)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: not a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: expected 0 to 65535")
    return port


MAX_REGISTRY_WAIT_S = 86_400.0
"""The longest ``--registry-wait`` (a day): past it, the retried load is the tool to use."""


def _registry_wait(text: str) -> float:
    """``--registry-wait``: seconds, 0 to :data:`MAX_REGISTRY_WAIT_S`, checked when read."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid seconds {short_repr(text, 40)}: not a number"
        ) from None
    if not 0 <= seconds <= MAX_REGISTRY_WAIT_S:  # NaN too
        raise argparse.ArgumentTypeError(
            f"invalid seconds {seconds:g}: expected 0 (do not wait) to {MAX_REGISTRY_WAIT_S:g}"
        )
    return seconds


def _at_least(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number, ``least`` or more (the API's own lower bound)."""

    def count(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid count {short_repr(text, 40)}: not a whole number"
            ) from None
        if n < least:
            raise argparse.ArgumentTypeError(f"invalid count {n}: expected {least} or more")
        return n

    return count


def _seconds(*, zero: bool, forever: bool = False) -> Callable[[str], float]:
    """An argparse type: seconds above 0, or from 0 with ``zero``; ``inf`` with ``forever``."""

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid seconds {short_repr(text, 40)}: not a number"
            ) from None
        in_range = value >= 0 if zero else value > 0  # NaN is neither
        if not in_range or (math.isinf(value) and not forever):
            expected = "0 or more" if zero else "a number above 0"
            raise argparse.ArgumentTypeError(f"invalid seconds {value:g}: expected {expected}")
        return value

    return seconds


def _registry_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", help="model reference, e.g. churn@production")
    p.add_argument("--registry", metavar="PATH", help="folder of a local registry")
    p.add_argument("--db", metavar="URL", help="metadata store URL instead of --registry")
    p.add_argument("--artifacts", metavar="URL", help="artifact store URL (with --db)")
    p.add_argument(
        "--trusted",
        action="store_true",
        help="load any type, pickle (joblib) included: only for a registry you trust",
    )
    p.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="a type skops does not trust by default, e.g. sklearn.tree._tree.Tree (repeatable)",
    )


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve`` and ``score`` on the ``prodml`` command's subparsers."""
    serve = subparsers.add_parser(
        "serve",
        help="serve a registry model over HTTP (extra 'serve')",
        description="Serve a (pipeline, model) version over HTTP: POST /v1/predict, GET "
        "/v1/model, /healthz, /readyz, /metrics, /openapi.json. The alias is watched: when "
        "it moves, the new version serves once verified.",
    )
    _registry_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    serve.add_argument("--port", type=_port, default=8000, help="default: %(default)s")
    serve.add_argument("--watch-every", type=_seconds(zero=True), default=5.0, metavar="S",
                       help="seconds between alias checks; 0 turns reload off")  # fmt: skip
    serve.add_argument(
        "--max-batch", type=_at_least(2), metavar="N", help="micro-batch up to N requests"
    )
    serve.add_argument(
        "--max-wait-ms", type=_seconds(zero=True), default=2.0, help="micro-batch wait"
    )
    serve.add_argument("--max-body-bytes", type=_at_least(1), default=1_048_576,
                       help="larger bodies get 413 (default: %(default)s)")  # fmt: skip
    serve.add_argument("--max-records", type=_at_least(1), default=1000,
                       help="longer lists get 413 (default: %(default)s)")  # fmt: skip
    serve.add_argument("--max-explain", type=_at_least(1), default=100,
                       help="longer explained lists get 413 (default: %(default)s)")  # fmt: skip
    serve.add_argument("--body-timeout", type=_seconds(zero=False), default=30.0, metavar="S",
                       help="a body slower than this gets 408 (default: %(default)s)")  # fmt: skip
    serve.add_argument("--max-header-bytes", type=_at_least(1025), default=65_536,
                       help="larger request headers get 431 (default: %(default)s)")  # fmt: skip
    serve.add_argument("--header-timeout", type=_seconds(zero=False), default=20.0, metavar="S",
                       help="headers slower than this get 408 (default: %(default)s)")  # fmt: skip
    serve.add_argument("--timeout-keep-alive", type=_seconds(zero=True), default=5.0, metavar="S",
                       help="idle connections close after S (default: %(default)s)")  # fmt: skip
    serve.add_argument("--limit-concurrency", type=_at_least(1), metavar="N",
                       help="open connections before 503 (default: no limit)")  # fmt: skip
    serve.add_argument("--json-library", choices=["auto", "orjson", "json"], default="auto")
    serve.add_argument("--access-log", action="store_true",
                       help="one JSON line per request on stdout: time, method, path, "
                       "status, duration, bytes, request id (no body, header, query)")  # fmt: skip
    serve.add_argument("--load-retry-for", type=_seconds(zero=True, forever=True),
                       default=300.0, metavar="S",
                       help="retry a registry that cannot be reached for S seconds before "
                       "exiting 2 (default: %(default)s)")  # fmt: skip
    serve.add_argument("--registry-wait", type=_registry_wait, default=OPEN_WAIT_S,
                       metavar="SECONDS", help="wait up to SECONDS for the registry to open "
                       "and the reference to resolve before listening; 0 listens at once "
                       "(default: %(default)g)")  # fmt: skip
    serve.set_defaults(func=run_serve)

    score = subparsers.add_parser(
        "score",
        help="score Parquet files with a registry model into Parquet",
        description="Score Parquet input (a file or a folder) chunk by chunk into DEST "
        "(Parquet parts with the model version and input fingerprint in their metadata); "
        "rerunning into the same DEST resumes an interrupted run.",
    )
    _registry_options(score)
    score.add_argument("source", help="Parquet file or folder")
    score.add_argument("dest", help="output folder")
    score.add_argument("--chunk-rows", type=_at_least(1), default=100_000,
                       help="rows scored at a time (default: 100000)")  # fmt: skip
    score.add_argument("--keep", action="append", default=[], metavar="COLUMN",
                       help="copy this input column to the output (repeatable)")  # fmt: skip
    score.add_argument("--restart", action="store_true", help="discard a previous run's parts")
    score.add_argument("--json", action="store_true", help="print the report as JSON")
    score.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    score.set_defaults(func=run_score)


def _open_registry(args: argparse.Namespace) -> Any:
    from prodml.registry._cli import open_registry  # noqa: PLC0415 - keep `prodml --help` fast

    return open_registry(args.registry, args.db, args.artifacts)


def _check_ref(ref: str, command: str) -> None:
    """MLflow's ``churn/3`` or ``models:/churn/3``: say to type ``churn@3`` (ConfigError)."""
    from prodml.registry._cli import check_reference  # noqa: PLC0415 - keep --help fast

    check_reference(ref, command=command, version_ok=True)


def _trusted(args: argparse.Namespace) -> Any:
    return True if args.trusted else list(args.trust)


def run_serve(args: argparse.Namespace) -> int:
    """Listen at once, load the model on a thread, serve until interrupted; the exit code.

    The registry is opened and the reference resolved first, on a thread, for at most
    ``--registry-wait`` seconds (:data:`OPEN_WAIT_S` by default): what they say by then
    (a missing model, version or alias, a refused connection, a missing bucket) is one
    line, exit 2, before listening. A registry that has not answered by then (a database
    that hangs) does not keep the port closed: the server listens, and the load waits for
    that open (a reference that does not exist then ends the command as any failed load
    does; so does every registry error with ``--registry-wait 0``, which listens at
    once). Until
    the model has loaded, ``/healthz`` is 200 and ``/readyz`` and every other route 503
    (see :mod:`prodml.serving._loading`); a load that fails for good stops the server and
    its error ends the command (one line after the ``loading`` line, exit 2).
    """
    from prodml.serving import Predictor, create_app  # noqa: PLC0415
    from prodml.serving._app import check_app_options  # noqa: PLC0415
    from prodml.serving._loading import Loading  # noqa: PLC0415
    from prodml.serving._server import run  # noqa: PLC0415

    _check_ref(args.ref, "prodml serve")
    options = {
        "max_batch": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
        "max_body_bytes": args.max_body_bytes,
        "max_records": args.max_records,
        "max_explain": args.max_explain,
        "body_timeout_s": args.body_timeout,
        "json_library": args.json_library,
        "access_log": args.access_log,
    }
    check_app_options(**options)  # before listening, not once the model has loaded

    def open_and_resolve() -> Any:
        registry = _open_registry(args)
        try:  # a reference that does not resolve is one line before listening, not after
            registry.get(args.ref)
        except BaseException:
            registry.close()
            raise
        return registry

    opened: list[Any] = []  # the registry, once open
    pending: list[concurrent.futures.Future[Any]] = []
    if args.registry_wait > 0:  # 0: listen at once, the load thread opens the registry
        pending.append(_in_background(open_and_resolve))
        try:
            opened.append(pending[0].result(timeout=args.registry_wait))
            pending.clear()
        except concurrent.futures.TimeoutError:
            pass  # a database that hangs: listen now, the load waits for this open
    served: list[Any] = []

    def load() -> Any:
        if not opened:  # each attempt bounded by the driver's connect timeout, retried
            opened.append(pending.pop().result() if pending else open_and_resolve())
        registry = opened[0]
        pred = Predictor.from_registry(
            registry, args.ref, trusted=_trusted(args), watch_every_s=args.watch_every or None
        )
        served.append(pred)
        return create_app(pred, **options)

    def ready() -> None:
        print(f"prodml serve: {args.ref} as {served[-1]!r} is ready", file=sys.stderr, flush=True)

    if args.access_log:
        _log_access_to_stdout()
    loading = Loading(
        load,
        name=args.ref,
        retry_for_s=args.load_retry_for,
        on_ready=ready,
        access_log=args.access_log,
    )
    try:
        run(
            loading,
            host=args.host,
            port=args.port,
            log_level="warning",
            announce=f"prodml serve: loading {args.ref}, listening",
            max_header_bytes=args.max_header_bytes,
            header_timeout_s=args.header_timeout,
            timeout_keep_alive=args.timeout_keep_alive,
            limit_concurrency=args.limit_concurrency,
        )
    finally:
        loading.stop()
        for pred in served:
            pred.close()
        if opened and (loading.ready or loading.error is not None):  # else the load uses it
            opened[0].close()
    if loading.error is not None:
        raise loading.error
    return 0


def _in_background(fn: Any) -> concurrent.futures.Future[Any]:
    """``fn()`` on a daemon thread (a hung connection never holds the process at exit)."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as err:  # noqa: BLE001 - handed to whoever waits for it
            future.set_exception(err)

    threading.Thread(target=run, name="prodml-open-registry", daemon=True).start()
    return future


def _log_access_to_stdout() -> None:
    """Send the access log's lines (and nothing else) to stdout, one JSON object a line."""
    import logging  # noqa: PLC0415 - keep `prodml --help` fast

    from prodml.serving._access import ACCESS_LOGGER  # noqa: PLC0415

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger(ACCESS_LOGGER)
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False  # the lines are data on stdout, not log records on stderr


def _count(n: int, noun: str) -> str:
    """``1 part``, ``3 parts``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def run_score(args: argparse.Namespace) -> int:
    """Score and print the report; return the exit code."""
    from prodml._cli_files import _check_writable, _input_path  # noqa: PLC0415
    from prodml.serving import Predictor, score  # noqa: PLC0415
    from prodml.serving._score import _input_files  # noqa: PLC0415

    _check_ref(args.ref, "prodml score")
    # The input and the output before the registry opens and the model loads (seconds),
    # not after: a typo in a path is answered at once, in the words (and with the path
    # shown as) every command uses. The files found are what is scored (a folder is
    # listed once).
    _input_path(args.source, table=False)
    files = _input_files(args.source)
    _check_writable(args.dest, folder=True)
    registry = _open_registry(args)
    try:
        pred = Predictor.from_registry(
            registry, args.ref, trusted=_trusted(args), watch_every_s=None
        )
        report = score(
            pred,
            files,
            args.dest,
            chunk_rows=args.chunk_rows,
            resume=not args.restart,
            keep_columns=args.keep,
            progress=False if args.quiet else None,  # None: a bar on a terminal only
        )
    finally:
        registry.close()
    if args.json:
        print(json.dumps({**report.__dict__, "rows_per_second": report.rows_per_second}))
    else:
        print(
            f"scored {report.rows:,} rows with {report.model} version {report.version} into "
            f"{report.output} ({_count(report.parts_written, 'part')} written, "
            f"{report.parts_skipped} kept from before) in {report.seconds:.1f} s"
        )
    return 0
