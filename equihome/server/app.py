"""The application factory and ``equihome serve``.

:func:`routes` builds the handler table for a URL prefix; the standalone server mounts it
at ``/`` (REST under ``/api``, WebSocket at ``/ws``, plus the earlier engine's routes) and
the Jupyter extension mounts the same handlers under ``{base_url}equihome/``.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import socket
import time
from typing import Any

import tornado.httpserver
import tornado.ioloop
import tornado.iostream
import tornado.netutil
import tornado.web

from equihome.server.auth import (
    ApiKeys,
    RedactingFilter,
    collect_keys,
    generate_key,
    is_loopback,
    redact,
)
from equihome.server.dbguard import server_secret
from equihome.server.handlers import (
    DEFAULT_MAX_WORK,
    MAX_BODY,
    AnalysesHandler,
    AnalysisCancelHandler,
    AnalysisHandler,
    AnalysisResultHandler,
    CancelHandler,
    HealthHandler,
    NotFoundHandler,
    PresetsHandler,
    ResultHandler,
    ScenariosHandler,
    SchemaHandler,
    Services,
    SimulationHandler,
    SimulationsHandler,
)
from equihome.server.runs import Quota, json_text, make_run_manager
from equihome.server.store import StoreError
from equihome.server.tape_handlers import LoanTapeHandler, LoanTapesHandler
from equihome.server.websocket import MAX_MESSAGE, SimulationSocket

log = logging.getLogger("equihome.server")
ID = r"([^/]+)"
PING_INTERVAL = 30  # s between WebSocket pings; a client that misses a pong is dropped


def routes(services: Services, prefix: str = "/", compat: bool = True) -> list:
    """Handler table: REST under ``{prefix}api``, WebSocket at ``{prefix}ws``.

    compat adds the earlier engine's routes (``/simulations/`` and ``/ws/simulations/{id}``).
    """
    api = f"{prefix}api"
    kw: dict[str, Any] = {"services": services}
    table = [
        (rf"{api}/simulations/?", SimulationsHandler, kw),
        (rf"{api}/simulations/{ID}/result", ResultHandler, kw),
        (rf"{api}/simulations/{ID}/scenarios", ScenariosHandler, kw),
        (rf"{api}/simulations/{ID}/cancel", CancelHandler, kw),
        (rf"{api}/simulations/{ID}", SimulationHandler, kw),
        (rf"{api}/analyses/?", AnalysesHandler, kw),
        (rf"{api}/analyses/{ID}/result", AnalysisResultHandler, kw),
        (rf"{api}/analyses/{ID}/cancel", AnalysisCancelHandler, kw),
        (rf"{api}/analyses/{ID}", AnalysisHandler, kw),
        (rf"{api}/loan-tapes/?", LoanTapesHandler, kw),
        (rf"{api}/loan-tapes/{ID}", LoanTapeHandler, kw),
        (rf"{api}/presets", PresetsHandler, kw),
        (rf"{api}/presets/{ID}", PresetsHandler, kw),
        (rf"{api}/schema/(config|result)", SchemaHandler, kw),
        (rf"{api}/health", HealthHandler, kw),
        (rf"{prefix}ws", SimulationSocket, kw),
    ]
    if compat:  # the earlier SDK's shapes: a list as an array, a delete with a JSON body
        old = {**kw, "compat": True}
        table += [
            (rf"{prefix}simulations/?", SimulationsHandler, old),
            (rf"{prefix}simulations/{ID}/result", ResultHandler, old),
            (rf"{prefix}simulations/{ID}/cancel", CancelHandler, old),
            (rf"{prefix}simulations/{ID}", SimulationHandler, old),
            (rf"{prefix}ws/simulations/{ID}", SimulationSocket, kw),
        ]
    return table


def access_log(handler: tornado.web.RequestHandler) -> None:
    """One line per request: status, method, path (never the query: it may hold a key), time."""
    status = handler.get_status()
    level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
    req = handler.request
    log.log(level, "%d %s %s %.1fms", status, req.method, req.path, 1000 * req.request_time())


def make_app(services: Services, compat: bool = True) -> tornado.web.Application:
    """The standalone Tornado application."""
    return tornado.web.Application(
        routes(services, "/", compat),
        default_handler_class=NotFoundHandler, default_handler_args={"services": services},
        websocket_max_message_size=MAX_MESSAGE, websocket_ping_interval=PING_INTERVAL,
        websocket_ping_timeout=PING_INTERVAL, log_function=access_log,
    )


IDLE_TIMEOUT = 20.0   # s a connection may sit before (or between) requests; also for headers
BODY_TIMEOUT = 30.0   # s to receive a request body
RETRY_AFTER = 5       # s a client told 503 should wait


def default_max_connections() -> int:
    """Open connections allowed: below the process's file limit, with room for the database,
    the engine and the log (at most 4,096 unless raised with --max-connections)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(4096, soft - 64))


class CappedHTTPServer(tornado.httpserver.HTTPServer):
    """An HTTPServer that answers 503 (JSON, ``Retry-After``) to connections beyond a cap and
    closes them at once, so held or idle connections cannot exhaust the process's files."""

    max_connections = 1024

    def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        if len(self._connections) >= self.max_connections:
            body = json_text({"error": {"code": "unavailable", "details": None, "message": (
                f"the server has {self.max_connections} open connections; retry in "
                f"{RETRY_AFTER} s")}}).encode()
            head = (f"HTTP/1.1 503 Service Unavailable\r\nRetry-After: {RETRY_AFTER}\r\n"
                    "Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            refusal = stream.write(head + body)
            refusal.add_done_callback(lambda _: self._refused(stream))
            return
        super().handle_stream(stream, address)

    closing = 0  # refused connections waiting to be closed

    def _refused(self, stream: tornado.iostream.IOStream) -> None:
        """End a refused connection: EOF after the answer, the socket closed a moment later
        (closing at once, with the client's request unread, would reset the connection and
        could destroy the answer); at once when many are waiting."""
        if stream.closed():
            return
        if self.closing >= 256:
            stream.close()
            return
        try:
            stream.socket.shutdown(socket.SHUT_WR)
        except OSError:
            stream.close()
            return
        self.closing += 1

        def close() -> None:
            self.closing -= 1
            stream.close()

        tornado.ioloop.IOLoop.current().call_later(1.0, close)


class ThrottledLoopErrors:
    """An asyncio exception handler that logs each kind of error once per ``interval`` s with
    a count of the repeats (accept() failing under load must not flood the log)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.last: dict[str, tuple[float, int]] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        kind = f"{type(exc).__name__}: {exc}" if exc else str(context.get("message"))
        now = time.monotonic()
        seen, repeats = self.last.get(kind, (-self.interval, 0))
        if now - seen >= self.interval:
            suffix = f" (and {repeats} more in the last {self.interval:.0f} s)" if repeats else ""
            log.error("event loop: %s%s", redact(kind), suffix)
            self.last[kind] = (now, 0)
        else:
            self.last[kind] = (seen, repeats + 1)


async def run_server(host: str, port: int, db: str, keys: ApiKeys, workers: int,
                     max_active: int, ready=None, dask_scheduler: str | None = None,
                     allow_origins: tuple[str, ...] = (), max_work: float = DEFAULT_MAX_WORK,
                     max_connections: int | None = None,
                     idle_timeout: float = IDLE_TIMEOUT, quota: Quota | None = None) -> None:
    """Serve until SIGINT/SIGTERM; running simulations are re-run at the next start.

    workers: simulations at once (0: one per CPU). dask_scheduler: run simulations as Dask
    tasks on the cluster at this address (the WebSocket protocol and the results are
    unchanged); None runs them on local threads. allow_origins: CORS origins; max_work: the
    largest run (loan-months); max_connections: open connections before 503; idle_timeout:
    s a connection may be idle or slow to send its headers; quota: what a key may store.
    Raises StoreError (naming the file) when the database cannot be used.
    """
    runs = make_run_manager(db, workers=workers, max_active=max_active,
                            dask_scheduler=dask_scheduler, quota=quota)
    try:
        keys.secret = server_secret(db)
        rekeyed = runs.store.rekey_owners(keys.renames())
    except BaseException:
        runs.close()
        raise
    if rekeyed:
        log.info("owner ids of %d stored run(s) re-keyed to the server secret", rekeyed)
    requeued = await runs.start()
    services = Services(runs, keys, allowed_origins=tuple(allow_origins), max_work=max_work)
    asyncio.get_running_loop().set_exception_handler(ThrottledLoopErrors())
    # bodies up to 8x the limit are read and answered 413 in JSON; beyond, the connection drops
    # (the loan-tape upload raises its own request's limit: tape_handlers)
    server = CappedHTTPServer(make_app(services), max_body_size=8 * MAX_BODY, xheaders=False,
                              idle_connection_timeout=idle_timeout, body_timeout=BODY_TIMEOUT)
    server.max_connections = max_connections or default_max_connections()
    sockets = tornado.netutil.bind_sockets(port, host)
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()[1]
    if requeued:
        log.info("re-queued %d unfinished simulation(s) from %s", requeued, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(bound)
    await stop.wait()
    log.info("shutting down")
    server.stop()
    await runs.stop()


def banner(host: str, port: int, key: str | None, auth: bool = True) -> str:
    """What a newcomer needs: the REST and WebSocket URLs with the key.

    key: the generated key to print, or None when keys were configured (not printed).
    """
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    q = "" if not auth else f"?api_key={key or 'YOUR_KEY'}"
    lines = [f"Equihome Sim Engine serving on http://{shown}:{port}",
             f"  REST:      http://{shown}:{port}/api/simulations{q}",
             f"  WebSocket: ws://{shown}:{port}/ws{q}"]
    if not auth:
        lines.append("  no authentication (--no-auth, loopback only)")
    elif key:
        lines.append(f"  API key:   {key}   (send it as X-API-Key or ?api_key=)")
    else:
        lines.append("  API keys:  as configured (not printed)")
    return "\n".join(lines)


def serve(host: str = "127.0.0.1", port: int = 8000, db: str = "equihome.db",
          api_keys: list[str] | None = None, keys_file: str | None = None, workers: int = 0,
          no_auth: bool = False, max_active: int = 100,
          dask_scheduler: str | None = None, *, allow_origins: tuple[str, ...] = (),
          max_work: float = DEFAULT_MAX_WORK, max_connections: int | None = None,
          idle_timeout: float = IDLE_TIMEOUT,
          quota: tuple[int, int, bool] | None = None) -> int:
    """Start the server (blocking). Returns a process exit code (2: it could not start)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:  # no key reaches a log line
        handler.addFilter(RedactingFilter())
    if no_auth and not is_loopback(host):
        log.error("--no-auth refuses to bind to %s: only loopback addresses are allowed", host)
        return 2
    if dask_scheduler:
        from equihome.run.distributed import require

        try:
            require()
        except ImportError as exc:
            log.error("--dask-scheduler: %s", exc)
            return 2
    try:
        keys = collect_keys(api_keys or [], keys_file)
    except OSError as exc:
        log.error("--keys-file %s: %s", keys_file, exc.strerror or exc)
        return 2
    shown_key = None
    if not no_auth and not keys:
        keys = [generate_key()]
        shown_key = keys[0]

    def ready(bound: int) -> None:
        print(banner(host, bound, shown_key, auth=not no_auth), flush=True)

    try:
        asyncio.run(run_server(host, port, db, ApiKeys(keys, open_access=no_auth), workers,
                               max_active, ready, dask_scheduler, allow_origins=allow_origins,
                               max_work=max_work, max_connections=max_connections,
                               idle_timeout=idle_timeout,
                               quota=Quota(*quota) if quota else None))
    except StoreError as exc:
        log.error("cannot start: %s", exc)
        return 2
    return 0
