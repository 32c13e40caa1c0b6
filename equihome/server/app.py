"""The application factory and ``equihome serve``.

:func:`routes` builds the handler table for a URL prefix; the standalone server mounts it
at ``/`` (REST under ``/api``, WebSocket at ``/ws``, plus the earlier engine's routes) and
the Jupyter extension mounts the same handlers under ``{base_url}equihome/``.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import tornado.httpserver
import tornado.netutil
import tornado.web

from equihome.server.auth import ApiKeys, collect_keys, generate_key, is_loopback
from equihome.server.handlers import (
    MAX_BODY,
    MAX_MESSAGE,
    AnalysesHandler,
    AnalysisCancelHandler,
    AnalysisHandler,
    AnalysisResultHandler,
    CancelHandler,
    HealthHandler,
    NotFoundHandler,
    PresetsHandler,
    ResultHandler,
    SchemaHandler,
    Services,
    SimulationHandler,
    SimulationsHandler,
    SimulationSocket,
)
from equihome.server.runs import make_run_manager

log = logging.getLogger("equihome.server")
ID = r"([^/]+)"
PING_INTERVAL = 30  # s between WebSocket pings; a client that misses a pong is dropped


def routes(services: Services, prefix: str = "/", compat: bool = True) -> list:
    """Handler table: REST under ``{prefix}api``, WebSocket at ``{prefix}ws``.

    compat adds the earlier engine's routes (``/simulations/`` and ``/ws/simulations/{id}``).
    """
    api = f"{prefix}api"
    kw = {"services": services}
    table = [
        (rf"{api}/simulations/?", SimulationsHandler, kw),
        (rf"{api}/simulations/{ID}/result", ResultHandler, kw),
        (rf"{api}/simulations/{ID}/cancel", CancelHandler, kw),
        (rf"{api}/simulations/{ID}", SimulationHandler, kw),
        (rf"{api}/analyses/?", AnalysesHandler, kw),
        (rf"{api}/analyses/{ID}/result", AnalysisResultHandler, kw),
        (rf"{api}/analyses/{ID}/cancel", AnalysisCancelHandler, kw),
        (rf"{api}/analyses/{ID}", AnalysisHandler, kw),
        (rf"{api}/presets", PresetsHandler, kw),
        (rf"{api}/presets/{ID}", PresetsHandler, kw),
        (rf"{api}/schema/(config|result)", SchemaHandler, kw),
        (rf"{api}/health", HealthHandler, kw),
        (rf"{prefix}ws", SimulationSocket, kw),
    ]
    if compat:
        table += [
            (rf"{prefix}simulations/?", SimulationsHandler, kw),
            (rf"{prefix}simulations/{ID}/result", ResultHandler, kw),
            (rf"{prefix}simulations/{ID}/cancel", CancelHandler, kw),
            (rf"{prefix}simulations/{ID}", SimulationHandler, kw),
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


async def run_server(host: str, port: int, db: str, keys: ApiKeys, workers: int,
                     max_active: int, ready=None, dask_scheduler: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM; running simulations are re-run at the next start.

    workers: simulations at once (0: one per CPU). dask_scheduler: run simulations as Dask
    tasks on the cluster at this address (the WebSocket protocol and the results are
    unchanged); None runs them on local threads.
    """
    runs = make_run_manager(db, workers=workers, max_active=max_active,
                            dask_scheduler=dask_scheduler)
    requeued = await runs.start()
    services = Services(runs, keys)
    # bodies up to 8x the limit are read and answered 413 in JSON; beyond, the connection drops
    server = tornado.httpserver.HTTPServer(make_app(services), max_body_size=8 * MAX_BODY,
                                           xheaders=False)
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
    runs.store.close()


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
          dask_scheduler: str | None = None) -> int:
    """Start the server (blocking). Returns a process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
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
    keys = collect_keys(api_keys or [], keys_file)
    shown_key = None
    if not no_auth and not keys:
        keys = [generate_key()]
        shown_key = keys[0]

    def ready(bound: int) -> None:
        print(banner(host, bound, shown_key, auth=not no_auth), flush=True)

    asyncio.run(run_server(host, port, db, ApiKeys(keys, open_access=no_auth), workers,
                           max_active, ready, dask_scheduler))
    return 0
