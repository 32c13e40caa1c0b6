"""Watch simulations on a server (standalone or the Jupyter extension) in a SimulationView.

>>> import equihome.ui.remote as eqc
>>> server = eqc.connect()            # in a notebook: the Jupyter server this kernel runs under
>>> server = eqc.connect("http://127.0.0.1:8000", key="...")   # an `equihome serve`
>>> run = server.run("100m", overrides={"num_simulations": 2000})
>>> result = run.result()

The WebSocket client runs in its own thread with its own event loop; its messages go to the
same :meth:`SimulationView.handle` an in-process run uses. A result from the server loads its
per-scenario arrays on first use (``result.scenarios``, ``result.percentile(...)``): one
request for the compact binary of ``GET /api/simulations/{id}/scenarios``, then cached.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from equihome.io.result import SimulationResult
from equihome.io.scenario_arrays import decode
from equihome.run.engine import SimulationCancelled, SimulationError
from equihome.ui.console import TextView, in_notebook
from equihome.ui.widgets import Run, SimulationView


class ServerError(RuntimeError):
    """The server answered with an error (``status`` and the JSON ``error`` body)."""

    def __init__(self, status: int, body: Any):
        err = body.get("error", body) if isinstance(body, dict) else body
        msg = err.get("message", str(err)) if isinstance(err, dict) else str(err)
        super().__init__(f"HTTP {status}: {msg}")
        self.status, self.body = status, body


class Connection:
    """A server's Equihome endpoint: ``base`` is where ``api/`` and ``ws`` live.

    Authentication: ``key`` (an API key of ``equihome serve``) or ``token`` (a Jupyter token).
    """

    def __init__(self, base: str, key: str | None = None, token: str | None = None,
                 timeout: float = 30.0):
        self.base = base if base.endswith("/") else base + "/"
        self.key, self.token, self.timeout = key, token, timeout

    def __repr__(self) -> str:
        return f"<equihome Connection {self.base}>"

    # ------------------------------------------------------------------ REST
    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.key:
            h["X-API-Key"] = self.key
        if self.token:
            h["Authorization"] = f"token {self.token}"
        return h

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON call: the parsed answer (None when empty); ServerError for an error status."""
        text = self.request_bytes(method, path, body)
        return json.loads(text) if text else None

    def request_bytes(self, method: str, path: str, body: Any = None,
                      accept: str = "application/json") -> bytes:
        """The raw body of the answer; ServerError (with the JSON error) for an error status."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={**self.headers(), "Accept": accept})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            raise ServerError(exc.code, body) from None

    def health(self) -> dict:
        return self.request("GET", "api/health")

    def submit(self, config: str | dict = "100m", overrides: dict | None = None,
               name: str | None = None) -> dict:
        """Create a simulation (a preset name or a config dict); returns its record."""
        body: dict[str, Any] = {"preset": config} if isinstance(config, str) else {"config": config}
        if overrides:
            body["overrides"] = overrides
        if name:
            body["name"] = name
        return self.request("POST", "api/simulations", body)

    def cancel(self, sim_id: str) -> dict:
        return self.request("POST", f"api/simulations/{sim_id}/cancel")

    def fetch_result(self, sim_id: str) -> SimulationResult:
        """The result of a completed simulation; its ``.scenarios`` load on first use."""
        data = self.request("GET", f"api/simulations/{sim_id}/result")
        return remote_result(self, sim_id, data)

    def scenarios(self, sim_id: str, metrics: list[str] | None = None) -> dict[str, np.ndarray]:
        """The per-scenario arrays of a completed simulation (float64, NaN where a metric does
        not exist), only ``metrics`` when given; one request for the compact binary."""
        query = "" if metrics is None else "?" + urllib.parse.urlencode(
            {"metrics": ",".join(metrics)})
        blob = self.request_bytes("GET", f"api/simulations/{sim_id}/scenarios{query}",
                                  accept="application/octet-stream")
        return decode(blob).metrics

    # ------------------------------------------------------------------ WebSocket
    def ws_url(self) -> str:
        parts = urllib.parse.urlsplit(self.base + "ws")
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urllib.parse.urlencode({"api_key": self.key}) if self.key else ""
        return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, query, ""))

    def watch(self, sim_id: str, display: bool = True,
              view: SimulationView | TextView | None = None) -> ServerRun:
        """Watch a simulation over the WebSocket into a view; returns a handle at once.

        display=True shows the widget view in a notebook and a text progress bar on stderr
        elsewhere (a terminal, a script).
        """
        if view is None:
            view = default_view(f"Equihome (server): {sim_id}", display)
        return ServerRun(self, sim_id, view)._start(self._watch_blocking, sim_id, view)

    def run(self, config: str | dict = "100m", overrides: dict | None = None,
            name: str | None = None, display: bool = True) -> ServerRun:
        """Submit a simulation and watch it."""
        rec = self.submit(config, overrides, name)
        return self.watch(rec["id"], display=display)

    def _watch_blocking(self, sim_id: str, view: SimulationView | TextView) -> SimulationResult:
        return asyncio.run(self._watch(sim_id, view))

    async def _watch(self, sim_id: str, view: SimulationView | TextView) -> SimulationResult:
        import tornado.httpclient
        import tornado.websocket

        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        req = tornado.httpclient.HTTPRequest(self.ws_url(), headers=headers,
                                             connect_timeout=self.timeout)
        ws = await tornado.websocket.websocket_connect(req)
        try:
            await ws.write_message(json.dumps({"action": "subscribe", "simulation_id": sim_id}))
            while True:
                text = await ws.read_message()
                if text is None:
                    raise ConnectionError("the server closed the WebSocket")
                msg = json.loads(text)
                if msg.get("simulation_id") not in (sim_id, None):
                    continue
                view.handle(msg)
                if msg["type"] == "result":
                    return remote_result(self, sim_id, msg["result"],
                                         msg.get("execution_time") or 0.0)
                if msg["type"] == "error":
                    if msg["error"] == "cancelled":
                        raise SimulationCancelled("cancelled")
                    raise SimulationError(msg.get("module") or "server", msg["error"])
        finally:
            ws.close()


class RemoteScenarios(Mapping[str, np.ndarray]):
    """The per-scenario arrays of a server run, fetched on first use (one request, cached;
    thread-safe): a read-only mapping like a local result's ``scenarios``."""

    def __init__(self, conn: Connection, sim_id: str):
        self.conn, self.simulation_id = conn, sim_id
        self._arrays: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the arrays have been fetched."""
        return self._arrays is not None

    def load(self) -> dict[str, np.ndarray]:
        """The arrays, fetched now if not yet (ServerError when the server cannot give them)."""
        with self._lock:
            if self._arrays is None:
                self._arrays = self.conn.scenarios(self.simulation_id)
            return self._arrays

    def __getitem__(self, metric: str) -> np.ndarray:
        return self.load()[metric]

    def __iter__(self) -> Iterator[str]:
        return iter(self.load())

    def __len__(self) -> int:
        return len(self.load())

    def __repr__(self) -> str:
        state = f"{len(self)} metrics" if self.loaded else "not loaded yet"
        return f"<scenarios of simulation {self.simulation_id} on {self.conn.base}: {state}>"


def remote_result(conn: Connection, sim_id: str, data: dict,
                  execution_time: float = 0.0) -> SimulationResult:
    """A SimulationResult of a server run whose ``.scenarios`` load on first use."""
    return SimulationResult(data, RemoteScenarios(conn, sim_id), execution_time, {}, "server")


def default_view(title: str, display: bool) -> SimulationView | TextView:
    """Where a watched run is shown: the widget view (displayed now if ``display``) in a
    notebook or when not displayed, a text progress bar on stderr elsewhere."""
    if display and not in_notebook():
        return TextView()
    view = SimulationView(title)
    if display:
        view.show()  # in a notebook replaced by the static result when the run ends
    return view


class ServerRun(Run):
    """A server simulation watched over the WebSocket (``.result()``, ``.cancel()``)."""

    def __init__(self, conn: Connection, sim_id: str, view: SimulationView | TextView):
        super().__init__(view)
        self.conn, self.simulation_id = conn, sim_id

    def cancel(self) -> None:
        self.conn.cancel(self.simulation_id)


NO_URL = ("connect() needs a url here: {why}. Only in a notebook does connect() without one "
          "find the Jupyter server the kernel runs under. Give the server's address: "
          "connect(\"http://127.0.0.1:8000\", key=\"...\") for `equihome serve` (it prints its "
          "URL and key), or connect(\"http://host:8888/equihome/\", token=\"...\") for a "
          "Jupyter server")


def kernel_id() -> str | None:
    """The id a Jupyter server gave the kernel this code runs in (its connection file is
    ``kernel-<id>.json``), or None outside a kernel or in one no server started."""
    if not in_notebook():
        return None
    from ipykernel import get_connection_file

    name = Path(get_connection_file()).stem
    return name[len("kernel-"):] if name.startswith("kernel-") else None


def owns_kernel(info: dict, kid: str, timeout: float = 5.0) -> bool:
    """Whether the Jupyter server described by ``info`` (a runtime file) runs kernel ``kid``."""
    url = f"{info['url'].rstrip('/')}/api/kernels/{urllib.parse.quote(kid)}"
    headers = {"Authorization": f"token {info['token']}"} if info.get("token") else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=timeout) as r:
            return r.status == 200
    except OSError:  # refused, 404 (not its kernel), 403 (password login), gone
        return False


def find_jupyter_server(kernel: str | None = None) -> dict:
    """The running Jupyter server that runs kernel ``kernel`` (default: this one), asked of
    each server in turn; never merely the first one found.

    Raises RuntimeError outside a notebook, or when no running server owns the kernel.
    """
    if kernel is None and not in_notebook():
        raise RuntimeError(NO_URL.format(why="this is not a notebook kernel"))
    kernel = kernel or kernel_id()
    if kernel is None:
        raise RuntimeError(NO_URL.format(why="this kernel was not started by a Jupyter server"))
    from jupyter_server.serverapp import list_running_servers

    for info in list_running_servers():
        if owns_kernel(info, kernel):
            return info
    raise RuntimeError(NO_URL.format(
        why=f"no running Jupyter server answers for this kernel ({kernel}) with its token"))


def connect(url: str | None = None, key: str | None = None, token: str | None = None
            ) -> Connection:
    """A connection to an Equihome server.

    url=None (in a notebook only): the Jupyter server this kernel runs under (its
    ``equihome/`` endpoint, with its token); elsewhere RuntimeError, saying to give the url.
    Otherwise the server's root URL (``equihome serve``: ``http://host:8000``; a Jupyter
    server: ``http://host:8888/base/equihome/``) and its API ``key`` or Jupyter ``token``.
    """
    if url is None:
        info = find_jupyter_server()
        return Connection(info["url"].rstrip("/") + "/equihome/", token=token or info.get("token"))
    return Connection(url, key=key, token=token)


__all__ = ["Connection", "RemoteScenarios", "ServerError", "ServerRun", "connect",
           "find_jupyter_server", "kernel_id"]
