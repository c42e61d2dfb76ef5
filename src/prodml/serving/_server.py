"""Run an app with uvicorn: on a free loopback port in a thread, or in the foreground.

Either way uvicorn's access log (on at ``log_level="info"``) shows each path masked as a
4xx answer's quotes are (:func:`prodml.serving._echo.echo`).
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from typing import Any

from prodml._extras import require
from prodml._files import os_reason
from prodml._pickle import NotPicklable
from prodml.errors import ConfigError
from prodml.serving._echo import echo

__all__ = ["BackgroundServer", "listen", "mask_access_log", "run", "server_options"]

MAX_HEADER_BYTES = 65_536
HEADER_TIMEOUT_S = 20.0


class _MaskedPath(logging.Filter):
    """uvicorn's access log line with its path masked as serving's 4xx answers are.

    The line quotes the path and query string as sent (``POST /v1/x?token=... 404``): a
    credential or an e-mail a client put there would be logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], echo(args[2]), *args[3:])
        return True


def mask_access_log() -> None:
    """Mask the paths uvicorn's access log quotes, from now on in this process.

    Called after uvicorn's logging set-up, which replaces the logger's handlers but keeps
    its filters; once is enough.
    """
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _MaskedPath) for f in access.filters):
        access.addFilter(_MaskedPath())


def server_options(
    options: dict[str, Any], max_header_bytes: int, header_timeout_s: float
) -> dict[str, Any]:
    """The uvicorn settings with prodml's header limits (unless ``http=`` names a protocol).

    With httptools (the ``serve`` extra), a subclass of uvicorn's protocol that refuses
    headers over ``max_header_bytes`` (431) and headers not done within
    ``header_timeout_s`` (408); with h11, its own incomplete-event limit (no time limit).
    """
    for name, value, low in (
        ("max_header_bytes", max_header_bytes, 1024),
        ("header_timeout_s", header_timeout_s, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > low:
            raise ConfigError(
                f"The {name!r} parameter of the server must be a number above {low}. "
                f"Got {value!r} instead.",
                parameter=name,
            )
    out = {"h11_max_incomplete_event_size": int(max_header_bytes), **options}
    if "http" not in out:
        try:
            from prodml.serving._protocol import guarded_protocol  # noqa: PLC0415
        except ImportError:  # no httptools: uvicorn's h11 with its size limit
            out["http"] = "h11"
        else:
            out["http"] = guarded_protocol(int(max_header_bytes), float(header_timeout_s))
    return out


class BackgroundServer(NotPicklable):
    """Serve an ASGI app with uvicorn on a thread; a context manager for tests and demos.

    The port is bound before the server starts (``port=0``: a free one, read back from
    :attr:`url`). Leaving the ``with`` block shuts the server down gracefully: it stops
    accepting connections, lets in-flight requests finish (up to ``graceful_s``), then
    runs the app's shutdown.

    Parameters
    ----------
    app
        An ASGI application, e.g. ``create_app(predictor)``.
    host, port
        Where to listen (default: loopback, a free port).
    graceful_s
        Seconds in-flight requests get to finish at shutdown.
    startup_timeout_s
        Seconds to wait for the server to accept connections.
    max_header_bytes, header_timeout_s
        A request line and headers over this many bytes get 431, and ones not complete
        this many seconds after the connection opened (or the request began) get 408; the
        connection is closed either way (see :func:`server_options`).
    **uvicorn_options
        More ``uvicorn.Config`` settings (``http="httptools"``, ``log_level``...).

    Examples
    --------
    >>> import httpx, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from prodml.features import FeaturePipeline, steps
    >>> from prodml.serving import BackgroundServer, Predictor, create_app
    >>> df = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    >>> pipe = FeaturePipeline([steps.StandardScale(["x"])]).fit(df)
    >>> pred = Predictor(pipe, LogisticRegression().fit(pipe.transform(df), [0, 0, 1, 1]))
    >>> with BackgroundServer(create_app(pred)) as server:
    ...     r = httpx.post(f"{server.url}/v1/predict", json={"x": 2.5})
    >>> r.status_code, r.json()["variant"], round(r.json()["value"], 3)
    (200, 'default', 0.699)
    """

    _SHIP_INSTEAD = "its URL to clients"

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        graceful_s: float = 10.0,
        startup_timeout_s: float = 30.0,
        max_header_bytes: int = MAX_HEADER_BYTES,
        header_timeout_s: float = HEADER_TIMEOUT_S,
        **uvicorn_options: Any,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.header_timeout_s = header_timeout_s
        self.host = host
        self.port: int = port
        self.graceful_s = graceful_s
        self.startup_timeout_s = startup_timeout_s
        self.uvicorn_options = uvicorn_options
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise ConfigError("the server is not running; use it in a with block")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Bind, start serving on a thread and wait until it accepts connections."""
        uvicorn = require("uvicorn", extra="serve", feature="BackgroundServer")
        options = server_options(
            {"log_level": "warning", "lifespan": "on", **self.uvicorn_options},
            self.max_header_bytes,
            self.header_timeout_s,
        )
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, timeout_graceful_shutdown=self.graceful_s, **options)
        mask_access_log()
        self._server = uvicorn.Server(config)
        _attach(self.app, self._server)

        def serve() -> None:
            try:
                self._server.run(sockets=[sock])
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = err
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name="prodml-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(
                    f"the server did not start on {self.host}:{self.port}"
                    + (f": {self._error!r}" if self._error else "")
                )
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Shut down gracefully (in-flight requests finish) and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._server = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _attach(app: Any, server: Any) -> None:
    """Let a :class:`~prodml.serving._loading.Loading` app stop the server it runs in."""
    from prodml.serving._loading import Loading  # noqa: PLC0415 - small, pure ASGI

    if isinstance(app, Loading):
        app.attach(server)


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, or a ``ConfigError`` naming it and the reason.

    Raises
    ------
    ConfigError
        When the host does not resolve, is not an address of this machine, or the port
        is taken or not allowed.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port}: {os_reason(err)}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {os_reason(err)}") from None
    return sock


def run(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_header_bytes: int = MAX_HEADER_BYTES,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    announce: str | None = None,
    **uvicorn_options: Any,
) -> None:
    """Serve ``app`` with uvicorn in the foreground until SIGINT/SIGTERM (graceful).

    The socket is bound first, so a port in use or a host that is not this machine's is a
    :class:`~prodml.errors.ConfigError` (one line from ``prodml serve``), not uvicorn's
    log line and exit status 3. Header limits as in :func:`server_options`. ``announce``
    (what is served) is printed to stderr once the socket is bound, with the address
    (the port bound when ``port`` is 0) and how to stop.
    """
    uvicorn = require("uvicorn", extra="serve", feature="prodml serve")
    options = server_options(
        {"timeout_graceful_shutdown": 30.0, "lifespan": "on", **uvicorn_options},
        max_header_bytes,
        header_timeout_s,
    )
    sock = listen(host, port)
    if announce is not None:
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        print(f"{announce} on http://{shown}:{bound} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    # uvicorn handles SIGINT while it serves, then raises it again once stopped, which
    # becomes KeyboardInterrupt (exit 130). A process started with SIGINT ignored (a
    # shell's background job) would swallow that second one and exit 0: it gets
    # Python's usual handler for the run.
    ignored = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    )
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        config = uvicorn.Config(app, host=host, port=port, **options)
        mask_access_log()
        server = uvicorn.Server(config)
        _attach(app, server)
        server.run(sockets=[sock])
    finally:
        sock.close()
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not server.started:
        raise ConfigError(f"the server did not start on {host}:{port} (see the log above)")
