"""Tornado handlers: the REST API and the WebSocket protocol of PROTOCOL.md.

The handlers know nothing of how they are mounted: the application factory (app.py) gives
each one the shared :class:`Services` (run manager, API keys, limits). Authentication is a
method (``current_owner``) that the Jupyter extension can replace with Jupyter's identity.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, TypedDict

import tornado.ioloop
import tornado.web
import tornado.websocket

from equihome import __version__, config_json_schema
from equihome.io.config import PRESETS, ConfigError, FundConfig, load_config
from equihome.io.schemas import RESULT_SCHEMA
from equihome.run.analyses import KINDS, validate_request
from equihome.run.engine import check_size
from equihome.server.auth import ApiKeys
from equihome.server.lifecycle import STATUSES, SimulationRecord
from equihome.server.runs import Conflict, NotFound, RunManager, TooManyRuns, json_text, wire
from equihome.server.store import SIMULATION

log = logging.getLogger("equihome.server")

MAX_BODY = 1024 * 1024          # bytes of a REST request body
MAX_MESSAGE = 64 * 1024         # bytes of a WebSocket message (larger: close 1009)
MAX_SUBSCRIPTIONS = 100         # per WebSocket connection
MAX_OUTBOX = 2000               # queued messages for a slow client before it is closed (1013)
MAX_LIMIT = 200                 # largest page of GET /simulations


@dataclass
class Services:
    """What every handler shares."""

    runs: RunManager
    keys: ApiKeys


class PublicRecord(TypedDict):
    """A simulation record as the API answers it (PROTOCOL.md): no owner, no seed."""

    id: str
    simulation_id: str
    name: str | None
    status: str
    progress: float
    created_at: str
    started_at: str | None
    finished_at: str | None
    execution_time: float | None
    error: str | None
    config: dict[str, Any]


def record_view(rec: SimulationRecord) -> PublicRecord:
    """The public simulation record (PROTOCOL.md): the owner stays private."""
    return {
        "id": rec["id"], "simulation_id": rec["id"], "name": rec["name"],
        "status": rec["status"], "progress": rec["progress"], "created_at": rec["created_at"],
        "started_at": rec["started_at"], "finished_at": rec["finished_at"],
        "execution_time": rec["execution_time"], "error": rec["error"], "config": rec["config"],
    }


class AnalysisRecord(TypedDict):
    """An analysis record as the API answers it: a simulation record's fields (its id also
    as ``analysis_id``) plus ``kind`` and ``params``."""

    id: str
    analysis_id: str
    simulation_id: str
    kind: str
    name: str | None
    status: str
    progress: float
    created_at: str
    started_at: str | None
    finished_at: str | None
    execution_time: float | None
    error: str | None
    config: dict[str, Any]
    params: dict[str, Any]


def analysis_view(rec: SimulationRecord) -> AnalysisRecord:
    """The public analysis record: the simulation fields, ``analysis_id``, kind and params."""
    view = record_view(rec)
    return {**view, "analysis_id": rec["id"], "kind": rec["kind"],
            "params": rec["params"] or {}}


def valid_uuid(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


class ApiError(Exception):
    """An error answer: status, code, message and optional details."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class BaseHandler(tornado.web.RequestHandler):
    """JSON in, JSON out, errors as ``{"error": {code, message, details}}``."""

    services: Services

    def initialize(self, services: Services) -> None:
        self.services = services

    def check_xsrf_cookie(self) -> None:
        """API keys, not cookies, authenticate here, so there is no XSRF to check."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def presented_key(self) -> str | None:
        return self.request.headers.get("X-API-Key") or self.get_query_argument("api_key", None)

    def current_owner(self) -> str:
        """The owner id of the request's credentials; 401 without valid ones."""
        owner = self.services.keys.owner(self.presented_key())
        if owner is None:
            raise ApiError(401, "unauthorized", "a valid API key is required "
                           "(X-API-Key header or api_key query parameter)")
        return owner

    def prepare(self) -> None:
        length = int(self.request.headers.get("Content-Length") or 0)
        if length > MAX_BODY or len(self.request.body or b"") > MAX_BODY:
            raise ApiError(413, "too_large", f"request body over the {MAX_BODY} byte limit")

    def json_body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"null")
        except ValueError as exc:
            raise ApiError(400, "bad_json", f"malformed JSON: {exc}") from None
        except RecursionError:  # nesting deeper than the parser's recursion limit
            raise ApiError(400, "bad_json", "malformed JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        return data

    def reply(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json_text(payload))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.set_status(exc.status)
            body = {"code": exc.code, "message": exc.message, "details": exc.details}
        elif isinstance(exc, tornado.web.HTTPError):
            body = {"code": "http_error", "message": exc.log_message or self._reason,
                    "details": None}
        else:
            body = {"code": "internal", "message": "internal server error", "details": None}
        self.finish(json_text({"error": body}))

    def log_exception(self, typ, value, tb) -> None:  # ApiErrors are answers, not failures
        if not isinstance(value, ApiError):
            super().log_exception(typ, value, tb)

    #: the run kinds these routes serve: simulations, or the analysis kinds
    KINDS: tuple[str, ...] = (SIMULATION,)
    NOUN = "simulation"

    def view(self, rec: SimulationRecord) -> Any:
        return record_view(rec)

    async def simulation_call(self, fn, *args: Any) -> Any:
        """Run a run-manager request on a run of this route's kinds, turning its exceptions
        into HTTP answers."""
        try:
            return await fn(*args, self.KINDS)
        except NotFound:
            raise ApiError(404, "not_found", f"unknown {self.NOUN}") from None
        except Conflict as exc:
            raise ApiError(409, "conflict", str(exc)) from None

    def config_source(self, body: dict, allowed: set[str]) -> tuple[FundConfig, str | None]:
        """The validated config of a create request (``config`` or ``preset``, ``overrides``)
        and its name; 422 naming the field otherwise."""
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ApiError(422, "invalid_request", f"unknown field(s): {', '.join(unknown)}",
                           [{"loc": [k], "msg": f"{k}: unknown field"} for k in unknown])
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise ApiError(422, "invalid_request", "name: must be a string of at most 200 chars",
                           [{"loc": ["name"], "msg": "name: must be a string of at most 200 chars"}])
        if ("config" in body) == ("preset" in body):
            raise ApiError(422, "invalid_request", "give exactly one of 'config' or 'preset'",
                           [{"loc": ["config"], "msg": "give exactly one of 'config' or 'preset'"}])
        if "config" in body and not isinstance(body["config"], dict):
            raise ApiError(422, "invalid_config", "config: must be a JSON object",
                           [{"loc": ["config"], "msg": "config: must be a JSON object"}])
        if "preset" in body and not isinstance(body["preset"], str):
            raise ApiError(422, "invalid_config", "preset: must be a preset name",
                           [{"loc": ["preset"], "msg": "preset: must be a preset name"}])
        source = body["config"] if "config" in body else body["preset"]
        if isinstance(source, str) and source not in PRESETS:  # never a file path
            msg = f"preset: unknown preset {source!r} (available: {', '.join(sorted(PRESETS))})"
            raise ApiError(422, "invalid_config", msg, [{"loc": ["preset"], "msg": msg}])
        try:
            cfg = load_config(source, body.get("overrides"))
            check_size(cfg)
        except ConfigError as exc:
            raise config_error(exc) from None
        return cfg, name

    async def create(self, owner: str, cfg: FundConfig, name: str | None, kind: str,
                     params: dict | None) -> None:
        """Queue the run and answer 201 with its record (429 beyond the per-key limit)."""
        try:
            rec = await self.services.runs.create(owner, cfg.to_dict(), name,
                                                  seeded=cfg.monte_carlo_seed is not None,
                                                  kind=kind, params=params)
        except TooManyRuns as exc:
            raise ApiError(429, "too_many_requests", str(exc)) from None
        self.reply(self.view(rec), 201)


def config_error(exc: ConfigError) -> ApiError:
    """A 422 answer listing every offending config field."""
    details = [{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors]
    return ApiError(422, "invalid_config", str(exc), details)


class SimulationsHandler(BaseHandler):
    """POST creates a simulation; GET lists this key's simulations, newest first."""

    async def post(self) -> None:
        owner = self.current_owner()
        cfg, name = self.config_source(self.json_body(), {"config", "name", "preset", "overrides"})
        await self.create(owner, cfg, name, SIMULATION, None)

    async def get(self) -> None:
        owner = self.current_owner()
        status = self.get_query_argument("status", None)
        if status is not None and status not in STATUSES:
            raise ApiError(400, "bad_request", f"status: unknown status {status!r}")
        try:
            limit = int(self.get_query_argument("limit", "50"))
        except ValueError:
            raise ApiError(400, "bad_request", "limit: must be an integer") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, "bad_request", f"limit: must be between 1 and {MAX_LIMIT}, "
                           f"got {limit}")
        try:
            items, cursor = await self.services.runs.list(
                owner, status, limit, self.get_query_argument("cursor", None), self.KINDS)
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        self.reply({"items": [self.view(r) for r in items], "next_cursor": cursor})


class SimulationHandler(BaseHandler):
    """GET one record; DELETE cancels if needed and deletes record and result."""

    async def get(self, sim_id: str) -> None:
        rec = await self.simulation_call(self.services.runs.get, self.current_owner(), sim_id)
        self.reply(self.view(rec))

    async def delete(self, sim_id: str) -> None:
        await self.simulation_call(self.services.runs.delete, self.current_owner(), sim_id)
        self.set_status(204)
        self.finish()


class ResultHandler(BaseHandler):
    async def get(self, sim_id: str) -> None:
        text = await self.simulation_call(self.services.runs.result, self.current_owner(), sim_id)
        self.finish(text)


class CancelHandler(BaseHandler):
    async def post(self, sim_id: str) -> None:
        rec = await self.simulation_call(self.services.runs.cancel, self.current_owner(), sim_id)
        self.reply(self.view(rec), 202)


class AnalysisRoutes:
    """Mixed into the simulation handlers: the same routes for analyses (ANALYSES.md)."""

    KINDS: tuple[str, ...] = KINDS
    NOUN = "analysis"

    def view(self, rec: SimulationRecord) -> Any:
        return analysis_view(rec)


class AnalysesHandler(AnalysisRoutes, SimulationsHandler):
    """POST creates an analysis ``{"kind", "preset" | "config", "overrides", "name",
    "params"}``, validated completely before it is queued; GET lists this key's analyses."""

    async def post(self) -> None:
        owner = self.current_owner()
        body = self.json_body()
        kind = body.get("kind")
        if kind not in KINDS:
            msg = f"kind: must be one of {', '.join(KINDS)}, got {kind!r}"
            raise ApiError(422, "invalid_request", msg, [{"loc": ["kind"], "msg": msg}])
        params = body.get("params", {})
        if not isinstance(params, dict):
            msg = "params: must be a JSON object"
            raise ApiError(422, "invalid_request", msg, [{"loc": ["params"], "msg": msg}])
        cfg, name = self.config_source(
            {k: v for k, v in body.items() if k not in ("kind", "params")},
            {"config", "name", "preset", "overrides"})
        try:
            validate_request({"kind": kind, "config": cfg.to_dict(), "params": params})
        except ConfigError as exc:
            raise config_error(exc) from None
        except ValueError as exc:
            raise ApiError(422, "invalid_params", str(exc),
                           [{"loc": ["params"], "msg": str(exc)}]) from None
        await self.create(owner, cfg, name, kind, params)


class AnalysisHandler(AnalysisRoutes, SimulationHandler):
    """GET one analysis record; DELETE cancels if needed and deletes it."""


class AnalysisResultHandler(AnalysisRoutes, ResultHandler):
    """GET an analysis's result (its table)."""


class AnalysisCancelHandler(AnalysisRoutes, CancelHandler):
    """POST cancels a queued or running analysis."""


class PresetsHandler(BaseHandler):
    def get(self, name: str | None = None) -> None:
        self.current_owner()
        if name is None:
            self.reply({"items": [{"name": n, "config": load_config(n).to_dict()}
                                  for n in sorted(PRESETS)]})
        elif name in PRESETS:
            self.reply({"name": name, "config": load_config(name).to_dict()})
        else:
            raise ApiError(404, "not_found", f"unknown preset {name!r}")


class SchemaHandler(BaseHandler):
    def get(self, which: str) -> None:
        self.current_owner()
        self.reply(config_json_schema() if which == "config" else RESULT_SCHEMA)


class HealthHandler(BaseHandler):
    """Liveness without credentials: version and queue depth only."""

    def get(self) -> None:
        runs = self.services.runs
        self.reply({"status": "ok", "version": __version__, "queued": runs.queue_depth(),
                    "running": runs.running_count()})


class NotFoundHandler(BaseHandler):
    def prepare(self) -> None:
        raise ApiError(404, "not_found", f"no such endpoint: {self.request.path}")


# --------------------------------------------------------------------------- WebSocket


class SimulationSocket(tornado.websocket.WebSocketHandler):
    """The WebSocket protocol: subscribe / unsubscribe / cancel; the seven update types."""

    services: Services

    def initialize(self, services: Services) -> None:
        self.services = services
        self.owner: str | None = None
        self.subscriptions: set[str] = set()
        self.outbox: deque[str] = deque()
        self.sending = False
        self.gone = False

    def current_owner(self) -> str | None:
        return self.services.keys.owner(self.get_query_argument("api_key", None))

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Refuse the handshake (401, JSON) before upgrading when the key is wrong."""
        self.owner = self.current_owner()
        if self.owner is None:
            self.set_status(401)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json_text({"error": {"code": "unauthorized", "details": None,
                                         "message": "a valid api_key query parameter is required"}}))
            return
        await super().get(*args, **kwargs)

    def check_origin(self, origin: str) -> bool:
        """Standalone: API keys authenticate, so any origin may connect."""
        return True

    def connection_owner(self) -> str | None:
        """The owner id of this connection; None (and the connection closed 4401) without one,
        which the handshake already prevents."""
        if self.owner is None:
            self.close(4401, "unauthorized")
        return self.owner

    async def open(self, sim_id: str | None = None) -> None:
        owner = self.connection_owner()
        if owner is not None and sim_id is not None:  # /ws/simulations/{id}: the earlier client
            await self._subscribe(owner, sim_id)

    async def on_message(self, message: str | bytes) -> None:
        owner = self.connection_owner()
        if owner is None:
            return
        try:
            cmd = json.loads(message)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            return self._error(None, "malformed JSON")
        if not isinstance(cmd, dict):
            return self._error(None, "a command must be a JSON object")
        sim_id = cmd.get("simulation_id")
        given = sim_id if isinstance(sim_id, str) else None
        action = cmd.get("action")
        if action not in ("subscribe", "unsubscribe", "cancel"):
            return self._error(given, f"unknown action {action!r} (subscribe, unsubscribe, cancel)")
        if sim_id is None:
            return self._error(None, "missing simulation_id")
        if not valid_uuid(sim_id):
            return self._error(given, "simulation_id must be a UUID")
        if action == "subscribe":
            await self._subscribe(owner, sim_id)
        elif action == "unsubscribe":
            self.subscriptions.discard(sim_id)
            self.services.runs.unsubscribe(sim_id, self)
        else:
            try:
                await self.services.runs.cancel(owner, sim_id)
            except NotFound:
                self._error(sim_id, "unknown simulation")
            except Conflict as exc:
                self._error(sim_id, str(exc))

    async def _subscribe(self, owner: str, sim_id: str) -> None:
        if sim_id not in self.subscriptions and len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            return self._error(sim_id, f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
        try:
            self.subscriptions.add(sim_id)
            await self.services.runs.subscribe(owner, sim_id, self)
        except NotFound:
            self.subscriptions.discard(sim_id)
            self._error(sim_id, "unknown simulation")

    def _error(self, sim_id: str | None, text: str) -> None:
        self.send_text(json_text(wire(sim_id, {"type": "error", "error": text})))

    # Outgoing messages go through a bounded queue drained by one coroutine per client.
    def send_text(self, text: str) -> None:
        if self.gone:
            return
        if len(self.outbox) >= MAX_OUTBOX:
            log.info("closing a WebSocket client that does not read (%d queued)", MAX_OUTBOX)
            self.gone = True
            self.outbox.clear()
            self.close(1013, "client too slow: message queue full")
            return
        self.outbox.append(text)
        if not self.sending:
            self.sending = True
            tornado.ioloop.IOLoop.current().add_callback(self._drain)

    async def _drain(self) -> None:
        try:
            while self.outbox and not self.gone:
                await self.write_message(self.outbox.popleft())
        except tornado.websocket.WebSocketClosedError:
            self.gone = True
        finally:
            self.sending = False

    def on_close(self) -> None:
        self.gone = True
        for sim_id in self.subscriptions:
            self.services.runs.unsubscribe(sim_id, self)
        self.subscriptions.clear()

