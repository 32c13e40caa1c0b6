"""The extension app: one run manager and store per Jupyter server, the handlers mounted.

The handlers are the standalone server's classes (``equihome.server.handlers``), each
subclassed with Jupyter's base handler so that Jupyter's identity provider authenticates it
(token or login cookie), XSRF is enforced on browser POSTs and the WebSocket's origin is
checked. Every method requires a known user, even with ``allow_unauthenticated_access``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, Unicode, default

from equihome.server.app import routes
from equihome.server.auth import ApiKeys
from equihome.server.handlers import ApiError, BaseHandler, Services
from equihome.server.runs import RunManager, make_run_manager
from equihome.server.websocket import SimulationSocket

PREFIX = "/equihome/"
HTTP_METHODS = ("get", "post", "delete", "put", "patch")


OWNER = "jupyter"


def owner_of(user: Any) -> str | None:
    """The owner id of an authenticated Jupyter request, None without a user.

    A Jupyter server is one person's: whoever holds its token or login cookie owns all of
    its simulations (Jupyter's default identity provider makes a fresh anonymous user name
    for each token-authenticated request, so the name cannot be the owner).
    """
    return None if user is None else OWNER


class _Lazy:
    """Starts the run manager on first use, on the server's running loop (once)."""

    def __init__(self, runs: RunManager):
        self.runs = runs
        self.started = False
        self.stopped = False
        self.ping = 30.0  # s between WebSocket pings, and the time to answer one
        self._lock: asyncio.Lock | None = None

    async def ensure(self) -> None:
        if self.started:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self.started:
                await self.runs.start()
                self.started = True


class JupyterRest:
    """Mixed in first: Jupyter's authentication, XSRF and origin checks for a REST handler."""

    starter: _Lazy

    def set_default_headers(self) -> None:
        APIHandler.set_default_headers(self)
        BaseHandler.set_default_headers(self)

    def finish(self, *args: Any, **kwargs: Any) -> Any:
        """Jupyter's finish, keeping the Content-Type the handler chose (CSV or binary
        scenario arrays; JSON otherwise): APIHandler would make every answer JSON."""
        kwargs.setdefault("set_content_type",
                          self._headers.get("Content-Type", "application/json"))  # type: ignore[attr-defined]
        return APIHandler.finish(self, *args, **kwargs)  # type: ignore[arg-type]

    def check_xsrf_cookie(self) -> None:  # Jupyter's check (token requests are exempt)
        return APIHandler.check_xsrf_cookie(self)

    def get_login_url(self) -> str:  # an API answers 403, never redirects to the login page
        raise tornado.web.HTTPError(403)

    async def prepare(self) -> None:
        await APIHandler.prepare(self)  # identity, XSRF on POST, origin
        if self._finished:
            return
        if self.current_user is None:
            raise tornado.web.HTTPError(403)
        BaseHandler.prepare(self)
        await self.starter.ensure()

    def current_owner(self) -> str:
        owner = owner_of(self.current_user)
        if owner is None:
            raise ApiError(403, "forbidden", "Jupyter authentication is required")
        return owner


class JupyterSocket:
    """Mixed in first: Jupyter's authentication and origin check for the WebSocket."""

    starter: _Lazy

    def set_default_headers(self) -> None:  # JupyterHandler's page headers mean nothing here
        pass

    def clear_cookie(self, *args: Any, **kwargs: Any) -> None:  # meaningless for websockets
        pass

    async def prepare(self) -> None:
        await JupyterHandler.prepare(self, _redirect_to_login=False)
        if self.current_user is not None:
            await self.starter.ensure()

    def check_origin(self, origin: str | None = None) -> bool:
        return WebSocketMixin.check_origin(self, origin)

    @property
    def ping_interval(self) -> float | None:
        return self.starter.ping or None

    @property
    def ping_timeout(self) -> float | None:
        return self.starter.ping or None

    def current_owner(self) -> str | None:
        return owner_of(self.current_user)

    def get_compression_options(self) -> None:
        return None


def jupyter_handler(cls: type, starter: _Lazy) -> type:
    """``cls`` subclassed with Jupyter's auth; every HTTP method needs a known user."""
    if issubclass(cls, SimulationSocket):
        attrs: dict[str, Any] = {"starter": starter, "get": ws_authenticated(cls.get)}
        return type(f"Jupyter{cls.__name__}", (JupyterSocket, cls, JupyterHandler), attrs)
    # CORS preflights are Jupyter's own (its allow_origin settings), not --allow-origin's
    attrs = {"starter": starter, "options": APIHandler.options}
    for m in HTTP_METHODS:
        if m in cls.__dict__ or any(m in b.__dict__ for b in cls.__mro__[1:-1]
                                    if issubclass(b, BaseHandler)):
            attrs[m] = tornado.web.authenticated(getattr(cls, m))
    return type(f"Jupyter{cls.__name__}", (JupyterRest, cls, APIHandler), attrs)


class EquihomeExtension(ExtensionApp):
    """Mounts the Equihome REST API and WebSocket under ``{base_url}equihome/``."""

    name = "equihome_jupyter"
    load_other_extensions = True

    db_path = Unicode(help="SQLite database of the simulations (default: equihome/equihome.db "
                           "in the Jupyter data dir)").tag(config=True)
    workers = Int(2, help="simulations run at the same time (0: one per CPU)").tag(config=True)
    max_active = Int(100, help="queued or running simulations per user").tag(config=True)
    ping_interval = Float(30.0, help="seconds between WebSocket pings (0: none)").tag(config=True)
    dask_scheduler = Unicode("", help="run simulations as Dask tasks on the cluster at this "
                                      "address, e.g. tcp://scheduler:8786 (needs equihome[dask]; "
                                      "empty: run them in this server)").tag(config=True)

    @default("db_path")
    def _default_db(self) -> str:
        return str(Path(jupyter_data_dir()) / "equihome" / "equihome.db")

    def initialize_settings(self) -> None:
        self.runs = make_run_manager(self.db_path, workers=self.workers,
                                     max_active=self.max_active,
                                     dask_scheduler=self.dask_scheduler or None, logger=self.log)
        self.store = self.runs.store
        self.starter = _Lazy(self.runs)
        self.services = Services(self.runs, ApiKeys([]))
        self.starter.ping = self.ping_interval
        self.log.info("equihome: simulations stored in %s", self.db_path)

    def initialize_handlers(self) -> None:
        for pattern, cls, kwargs in routes(self.services, PREFIX, compat=False):
            self.handlers.append((pattern, jupyter_handler(cls, self.starter), kwargs))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.starter.ensure()

    async def stop_extension(self) -> None:
        if self.starter.started and not self.starter.stopped:
            self.starter.stopped = True
            await self.runs.stop()
        self.runs.close()
