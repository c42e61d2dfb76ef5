"""The app ``prodml serve`` listens with at once, while the model loads on a thread.

:class:`Loading` is a pure ASGI application (no starlette import). Until the app its
``load`` builds is ready, ``GET /healthz`` is 200 (the process is alive: a liveness probe
must not kill a slow load), ``GET /readyz`` is 503 with ``{"status", "reason"}`` and every
other request a 503 problem with a ``Retry-After`` header. Once loaded, the built app's
lifespan starts (its micro-batcher, its readiness) and every request goes to it.

A load that fails is either **transient** (the registry's database or storage cannot be
reached: an ``OSError``, a database driver's ``OperationalError``, a timeout, or a prodml
error raised from one, as the registry's "metadata store ... failed" is), retried
with a doubling delay (1 s up to 30 s) for ``retry_for_s`` seconds while readiness stays
503 and says why, or **permanent** (any other failure: the reference does not resolve, an
artifact fails its hash, the model fails its check, a type is not trusted), after which
readiness stays 503 with the reason and the server is told to stop: ``prodml serve``
then prints the error on one line and exits 2, as KServe's model server exits when its
model fails to load and Kubernetes restarts the container with a back-off. The reason
never quotes a database or storage error (their messages hold hosts, users, sometimes
URLs): only its type; a prodml error's message goes through
:func:`~prodml.serving._echo.echo` (credentials and personal data masked).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from prodml.errors import ProdMLError
from prodml.serving._access import AccessLog
from prodml.serving._echo import echo
from prodml.serving._guard import Message, Receive, RequestGuard, Scope, Send

__all__ = ["Loading", "load_failure"]

_log = logging.getLogger("prodml.serving")

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
_TRANSIENT_NAMES = frozenset(
    {"OperationalError", "InterfaceError", "ConnectionError", "TimeoutError",
     "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "BusyLoadingError"}
)  # fmt: skip
"""Types of database, S3 or Redis client errors saying the service cannot be reached now."""


def load_failure(err: BaseException) -> tuple[bool, str]:
    """Whether a failed load may work if retried, and a reason safe to show anyone.

    Examples
    --------
    >>> load_failure(ConnectionRefusedError(111, "Connection refused"))
    (True, 'the registry cannot be reached (ConnectionRefusedError)')
    >>> from prodml.errors import NotFoundError
    >>> load_failure(NotFoundError("no alias 'production' on model 'churn'"))
    (False, "no alias 'production' on model 'churn'")
    """
    if isinstance(err, ProdMLError):
        # The registry translates a driver's error into its own (RegistryError "metadata
        # store ... failed"): the cause it was raised from says whether a retry may work.
        cause = _transient(err.__cause__, any_os_error=False)
        if cause is not None:
            return True, f"the registry cannot be reached ({type(cause).__name__})"
        message = err.args[0] if err.args else type(err).__name__  # KeyError quoting off
        return False, echo(str(message).splitlines()[0][:300])
    if _transient(err, any_os_error=True) is not None:
        return True, f"the registry cannot be reached ({type(err).__name__})"
    return False, f"an unexpected {type(err).__name__} (see the server's log)"


def _transient(err: BaseException | None, *, any_os_error: bool) -> BaseException | None:
    """``err`` or the first error it was raised from that says a service is unreachable now.

    Under a prodml error only the types named in ``_TRANSIENT_NAMES`` count (connection
    refused, timeouts, a driver's ``OperationalError``): its other ``OSError`` causes (a
    missing or unreadable artifact file) will not mend.
    """
    seen = 0
    while err is not None and seen < 8:  # a chain is short; a cycle must not hang the load
        if not isinstance(err, ProdMLError) and (
            (any_os_error and isinstance(err, OSError))
            or any(t.__name__ in _TRANSIENT_NAMES for t in type(err).__mro__)
        ):
            return err
        err, seen = err.__cause__, seen + 1
    return None


class Loading:
    """An ASGI app answering probes while ``load`` builds the app to serve, then that app.

    Parameters
    ----------
    load
        Builds the ASGI app to serve (``create_app(Predictor.from_registry(...))``); run on
        a thread once the server has started, so the port answers at once.
    name
        What is loading, for readiness reasons (``"churn@production"``).
    retry_for_s
        How long transient failures are retried before the load counts as failed.
    on_ready
        Called (on the event loop) once the loaded app has started.
    dumps
        JSON encoder of answer bodies.
    access_log
        Log the answers given while loading as the loaded app logs its own (one JSON line
        each, see :mod:`prodml.serving._access`); give the loaded app the same setting.
    """

    def __init__(
        self,
        load: Callable[[], Any],
        *,
        name: str,
        retry_for_s: float = 300.0,
        on_ready: Callable[[], None] | None = None,
        dumps: Callable[[Any], bytes] | None = None,
        access_log: bool = False,
    ) -> None:
        self.load = load
        self.name = name
        self.retry_for_s = retry_for_s
        self.on_ready = on_ready
        self.dumps = dumps or (lambda obj: json.dumps(obj, separators=(",", ":")).encode())
        self.error: BaseException | None = None
        """The failure that stopped the load for good (``None`` while loading or once loaded)."""
        self._app: Any = None
        self._status = ("loading", f"loading {name}")
        self._retry_at = 0.0
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._lifespan: tuple[asyncio.Queue[Message], asyncio.Task[Any], Any] | None = None
        guarded = RequestGuard(self._not_ready, self.dumps)
        self._guarded: Any = AccessLog(guarded) if access_log else guarded

    def attach(self, server: Any) -> None:
        """The uvicorn ``Server`` to stop (``should_exit``) when the load fails for good."""
        self._server = server

    @property
    def ready(self) -> bool:
        """Whether the loaded app serves."""
        return self._app is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is not None:
            await app(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._own_lifespan(receive, send)
        else:
            await self._guarded(scope, receive, send)

    # -- before the app is loaded ---------------------------------------------------------

    async def _not_ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # a websocket: closed unanswered (the loaded app has none either)
        path, method = scope.get("path"), scope.get("method")
        status, reason = self._status
        if path == "/healthz" and method in ("GET", "HEAD"):
            await _answer(send, 200, "application/json", b'{"status":"ok"}')
        elif path == "/readyz" and method in ("GET", "HEAD"):
            body = self.dumps({"status": status, "reason": reason})
            await _answer(send, 503, "application/json", body, self._retry_after())
        else:
            body = self.dumps(
                {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                 "detail": f"the model is not loaded yet: {reason}"}
            )  # fmt: skip
            await _answer(send, 503, "application/problem+json", body, self._retry_after())

    def _retry_after(self) -> bytes:
        wait = self._retry_at - time.monotonic()
        return str(max(1, math.ceil(wait))).encode()

    async def _own_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loop = asyncio.get_running_loop()
                threading.Thread(target=self._load_loop, name="prodml-load", daemon=True).start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._stopping.set()
                await self._stop_loaded()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- the load, on its thread ----------------------------------------------------------

    def _load_loop(self) -> None:
        delay, deadline = FIRST_DELAY_S, time.monotonic() + self.retry_for_s
        while not self._stopping.is_set():
            try:
                app = self.load()
            except Exception as err:  # noqa: BLE001 - classified, shown safely, re-raised by the CLI
                transient, reason = load_failure(err)
                if transient and time.monotonic() + delay <= deadline:
                    self._retry_at = time.monotonic() + delay
                    self._status = ("failed", f"{reason}; retrying in {delay:g} s")
                    _log.warning("prodml serve: loading %s failed: %s", self.name, self._status[1])
                    self._stopping.wait(delay)
                    delay = min(2 * delay, MAX_DELAY_S)
                    continue
                self._fail(err, reason)
                return
            loop = self._loop
            if loop is None or self._stopping.is_set():
                return
            try:
                asyncio.run_coroutine_threadsafe(self._hand_over(app), loop).result()
            except Exception as err:  # noqa: BLE001 - the loaded app's startup failed
                self._fail(err, load_failure(err)[1])
            return

    def _fail(self, err: BaseException, reason: str) -> None:
        self.error = err
        self._retry_at = 0.0
        self._status = ("failed", reason)
        _log.debug("prodml serve: loading %s failed for good: %s", self.name, reason)
        if self._server is not None:
            self._server.should_exit = True

    async def _hand_over(self, app: Any) -> None:
        """Start ``app``'s lifespan, then send every request to it."""
        if self._stopping.is_set():  # the server began stopping: never start it
            return
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        started, stopped = loop.create_future(), loop.create_future()

        async def send(message: Message) -> None:
            kind = message["type"]
            target = started if kind.startswith("lifespan.startup") else stopped
            if target.done():
                return
            if kind.endswith(".failed"):
                target.set_exception(RuntimeError(message.get("message") or kind))
            else:
                target.set_result(None)

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": {}}  # fmt: skip
        task = loop.create_task(app(scope, inbox.get, send))
        await inbox.put({"type": "lifespan.startup"})
        await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():  # the app returned or raised without a startup answer
            task.result()  # raises what it raised
            raise RuntimeError("the app's lifespan ended before its startup")
        started.result()
        self._lifespan = (inbox, task, stopped)
        self._app = app
        if self.on_ready is not None:
            self.on_ready()

    async def _stop_loaded(self) -> None:
        """Run the loaded app's lifespan shutdown (drain micro-batches and shadow work)."""
        if self._lifespan is None:
            return
        inbox, task, stopped = self._lifespan
        self._lifespan = None
        await inbox.put({"type": "lifespan.shutdown"})
        with contextlib.suppress(Exception):
            await asyncio.wait({stopped, task}, return_when=asyncio.FIRST_COMPLETED)

    def stop(self) -> None:
        """Stop retrying a load (the server has stopped)."""
        self._stopping.set()


async def _answer(
    send: Send, status: int, kind: str, body: bytes, retry_after: bytes | None = None
) -> None:
    headers = [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
