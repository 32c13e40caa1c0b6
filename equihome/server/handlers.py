"""Tornado handlers: the REST API of PROTOCOL.md (the WebSocket protocol: ``websocket``).

The handlers know nothing of how they are mounted: the application factory (app.py) gives
each one the shared :class:`Services` (run manager, API keys, limits). Authentication is a
method (``current_owner``) that the Jupyter extension can replace with Jupyter's identity.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, TypedDict

import tornado.ioloop
import tornado.web
import tornado.websocket

from equihome import __version__, config_json_schema
from equihome.io.config import PRESETS, ConfigError, FundConfig, load_config
from equihome.io.scenario_arrays import ScenarioArrays, UnknownMetric, decode
from equihome.io.schemas import RESULT_SCHEMA
from equihome.run.analyses import KINDS, validate_request
from equihome.run.engine import check_size
from equihome.run.engine import work_estimate as estimate_work
from equihome.server.auth import ApiKeys
from equihome.server.lifecycle import STATUSES, SimulationRecord
from equihome.server.runs import (
    Conflict,
    NotFound,
    NotStored,
    QuotaExceeded,
    RunManager,
    TooManyRuns,
    json_text,
)
from equihome.server.store import SIMULATION
from equihome.server.tapes import engine_config

log = logging.getLogger("equihome.server")

MAX_BODY = 1024 * 1024          # bytes of a REST request body
MAX_LIMIT = 200                 # largest page of GET /simulations
MAX_CONFIG_BYTES = 64 * 1024    # JSON of a run's validated config (and of an analysis's params)
MAX_NAME = 200                  # characters of a run's name
DEFAULT_MAX_WORK = 2e10         # scenarios x months x loans of one run (x variants: analyses)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass
class Services:
    """What every handler shares: the run manager, the keys, and the server's limits."""

    runs: RunManager
    keys: ApiKeys
    allowed_origins: tuple[str, ...] = ()   # CORS: origins a browser dashboard may use
    max_work: float = DEFAULT_MAX_WORK
    outbox_bytes: int = 0                   # unsent WebSocket bytes of every client


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


class AnalysisRecord(PublicRecord):
    """An analysis record as the API answers it: a simulation record's fields (its id also
    as ``analysis_id``) plus ``kind`` and ``params``."""

    analysis_id: str
    kind: str
    params: dict[str, Any]


def analysis_view(rec: SimulationRecord) -> AnalysisRecord:
    """The public analysis record: the simulation fields, ``analysis_id``, kind and params."""
    view = record_view(rec)
    return {**view, "analysis_id": rec["id"], "kind": rec["kind"],
            "params": rec["params"] or {}}


def valid_uuid(text: Any) -> bool:
    return canonical_id(text) is not None


def canonical_id(text: Any) -> str | None:
    """A run id in its one spelling (lower-case hyphenated UUID), None if not a UUID."""
    if not isinstance(text, str) or len(text) != 36:
        return None
    try:
        value = str(uuid.UUID(text))
    except ValueError:
        return None
    return value if value == text.lower() else None


def _utf8(text: str) -> bool:
    """False for text that is not valid Unicode (a lone surrogate from a JSON escape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def host_name(host: str) -> str:
    """The name part of a Host header value (``[::1]:8000`` -> ``[::1]``)."""
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def loopback_origin(origin: str | None) -> bool:
    """True for no Origin or an http(s) origin on a loopback name."""
    if not origin:
        return True
    scheme, _, rest = origin.partition("://")
    return scheme in ("http", "https") and host_name(rest) in LOOPBACK_NAMES


def open_access_refusal(services: Services, host: str, origin: str | None) -> str | None:
    """Why a --no-auth server refuses a request (DNS rebinding, cross-site), or None."""
    if not services.keys.open_access:
        return None
    if host_name(host) not in LOOPBACK_NAMES:
        return f"Host {host!r} is not a loopback name (this server runs without keys)"
    if not loopback_origin(origin):
        return f"Origin {origin!r} is not loopback (this server runs without keys)"
    return None


class ApiError(Exception):
    """An error answer: status, code, message and optional details."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class BaseHandler(tornado.web.RequestHandler):
    """JSON in, JSON out, errors as ``{"error": {code, message, details}}``."""

    services: Services
    compat = False  # an earlier-engine route: answer in that SDK's shapes

    def initialize(self, services: Services, compat: bool = False) -> None:
        self.services = services
        self.compat = compat
        self.cors_headers()

    def cors_headers(self) -> None:
        """CORS: name the request's Origin as allowed when it is one of --allow-origin."""
        origin = self.request.headers.get("Origin")
        services = getattr(self, "services", None)  # None while tornado builds the handler
        if origin and services is not None and origin in services.allowed_origins:
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Vary", "Origin")

    def check_xsrf_cookie(self) -> None:
        """API keys, not cookies, authenticate here, so there is no XSRF to check."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.cors_headers()  # again after an error cleared the headers

    def options(self, *args: Any) -> None:
        """A CORS preflight: allowed only for the --allow-origin origins."""
        origin = self.request.headers.get("Origin")
        if not origin or origin not in self.services.allowed_origins:
            raise ApiError(403, "forbidden", f"origin {origin!r} is not allowed (--allow-origin)")
        self.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
        self.set_header("Access-Control-Allow-Headers", "Content-Type, X-API-Key")
        self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

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
        refusal = open_access_refusal(self.services, self.request.host,
                                      self.request.headers.get("Origin"))
        if refusal:
            raise ApiError(403, "forbidden", refusal)
        self.check_body()

    #: bytes a request body may have (the loan-tape upload allows more)
    max_body = MAX_BODY

    def check_body(self) -> None:
        """413 for a body over ``max_body``. A handler that streams its body (the loan-tape
        upload) overrides it: there it runs before the body is read."""
        length = int(self.request.headers.get("Content-Length") or 0)
        if length > self.max_body or len(self.request.body or b"") > self.max_body:
            raise ApiError(413, "too_large", f"request body over the {self.max_body} byte limit")

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

    async def simulation_call(self, fn, owner: str, sim_id: str) -> Any:
        """Run a run-manager request on a run of this route's kinds, turning its exceptions
        into HTTP answers (ids are compared lower-case)."""
        canonical = canonical_id(sim_id)
        if canonical is None:
            raise ApiError(404, "not_found", f"unknown {self.NOUN}")
        try:
            return await fn(owner, canonical, self.KINDS)
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
        if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME
                                 or not name.isprintable() or not _utf8(name)):
            msg = f"name: must be printable text of at most {MAX_NAME} characters"
            raise ApiError(422, "invalid_request", msg, [{"loc": ["name"], "msg": msg}])
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
        size = len(json_text(cfg.to_dict()).encode())
        if size > MAX_CONFIG_BYTES:
            msg = f"config: {size:,} bytes of JSON; the limit is {MAX_CONFIG_BYTES:,}"
            raise ApiError(422, "invalid_config", msg, [{"loc": ["config"], "msg": msg}])
        return cfg, name

    async def engine_config(self, owner: str, cfg: FundConfig) -> FundConfig:
        """The config the engine will run, its portfolio resolved and validated off the loop
        (``tapes.engine_config``): an uploaded tape of this key (``tape:<id>``) inlined, every
        bad row a 422 before anything runs; an unknown tape or a file path is a 422 naming
        portfolio.loans. The stored record keeps ``tape:<id>`` (the tapes module says why)."""
        if cfg.portfolio is None:
            return cfg
        try:
            return await asyncio.to_thread(engine_config, self.services.runs.store, owner, cfg)
        except ConfigError as exc:
            raise config_error(exc) from None

    def check_work(self, cfg: FundConfig, runs: int = 1) -> None:
        """422 when the run (``runs`` of them: an analysis's variants) is beyond --max-work."""
        work = estimate_work(cfg) * runs
        if work > self.services.max_work:
            msg = (f"work: this {'analysis' if runs > 1 else 'run'} needs about {work:.3g} "
                   f"loan-months (scenarios x months x loans{' x runs' if runs > 1 else ''}); "
                   f"this server allows {self.services.max_work:.3g} (--max-work); lower "
                   "num_simulations, fund_term or the number of loans")
            raise ApiError(422, "too_much_work", msg, [{"loc": ["num_simulations"], "msg": msg}])

    async def create(self, owner: str, cfg: FundConfig, name: str | None, kind: str,
                     params: dict | None) -> None:
        """Queue the run and answer 201 with its record (429 beyond the per-key limit)."""
        try:
            rec = await self.services.runs.create(owner, cfg.to_dict(), name,
                                                  seeded=cfg.monte_carlo_seed is not None,
                                                  kind=kind, params=params)
        except TooManyRuns as exc:
            raise ApiError(429, "too_many_requests", str(exc)) from None
        except QuotaExceeded as exc:
            raise ApiError(507, "quota_exceeded", str(exc)) from None
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
        self.check_work(await self.engine_config(owner, cfg))
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
        views = [self.view(r) for r in items]
        self.reply(views if self.compat else {"items": views, "next_cursor": cursor})


class SimulationHandler(BaseHandler):
    """GET one record; DELETE cancels if needed and deletes record and result."""

    async def get(self, sim_id: str) -> None:
        rec = await self.simulation_call(self.services.runs.get, self.current_owner(), sim_id)
        self.reply(self.view(rec))

    async def delete(self, sim_id: str) -> None:
        await self.simulation_call(self.services.runs.delete, self.current_owner(), sim_id)
        if self.compat:  # the earlier SDK parses the answer as JSON
            self.reply({"id": sim_id.lower(), "simulation_id": sim_id.lower(), "deleted": True})
            return
        self.set_status(204)
        self.finish()


class ResultHandler(BaseHandler):
    async def get(self, sim_id: str) -> None:
        text = await self.simulation_call(self.services.runs.result, self.current_owner(), sim_id)
        self.finish(text)


#: the answers of GET .../scenarios: the Accept media type -> (format, Content-Type)
SCENARIO_FORMATS = {
    "application/json": ("json", "application/json; charset=utf-8"),
    "text/csv": ("csv", "text/csv; charset=utf-8"),
    "application/octet-stream": ("binary", "application/octet-stream"),
}


def negotiate(accept: str | None) -> str:
    """The media type of SCENARIO_FORMATS that ``accept`` (an Accept header) prefers most:
    highest q first, then the order given; JSON for none, ``*/*`` or nothing supported."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept or "").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media.lower() in SCENARIO_FORMATS and q > 0:
            ranked.append((-q, i, media.lower()))
    return min(ranked)[2] if ranked else "application/json"


def render_scenarios(blob: bytes, metrics: list[str] | None, media: str) -> bytes | str:
    """The stored compact arrays as ``media``, only ``metrics`` (all when None);
    UnknownMetric for a name the run does not have. CPU-bound: run it off the event loop."""
    if media == "application/octet-stream" and metrics is None:
        return blob  # exactly as stored
    arrays: ScenarioArrays = decode(blob).select(metrics)
    fmt = SCENARIO_FORMATS[media][0]
    return arrays.to_bytes() if fmt == "binary" else arrays.to_csv() if fmt == "csv" \
        else arrays.to_json()


class ScenariosHandler(BaseHandler):
    """GET the per-scenario metric arrays of a completed simulation: JSON columns (default),
    CSV (``Accept: text/csv``) or the compact binary (``Accept: application/octet-stream``);
    ``?metrics=a,b`` selects columns. 404/409 as for the result."""

    def metric_names(self) -> list[str] | None:
        """The ``metrics`` query as a list of names (None: all); 400 for an empty one."""
        raw = self.get_query_arguments("metrics")
        if not raw:
            return None
        names = [n.strip() for text in raw for n in text.split(",")]
        if not all(names):
            raise ApiError(400, "bad_request", "metrics: give comma-separated metric names, "
                           f"e.g. ?metrics=lp_irr,lp_tvpi (got {','.join(raw)!r})")
        return names

    async def get(self, sim_id: str) -> None:
        owner = self.current_owner()
        metrics = self.metric_names()
        media = negotiate(self.request.headers.get("Accept"))
        try:
            blob = await self.simulation_call(self.services.runs.scenarios, owner, sim_id)
        except NotStored as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        try:
            body = await asyncio.to_thread(render_scenarios, blob, metrics, media)
        except UnknownMetric as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        self.set_header("Content-Type", SCENARIO_FORMATS[media][1])
        self.add_header("Vary", "Accept")
        self.finish(body)


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
        if len(json_text(params).encode()) > MAX_CONFIG_BYTES:
            msg = f"params: over {MAX_CONFIG_BYTES:,} bytes of JSON"
            raise ApiError(422, "invalid_params", msg, [{"loc": ["params"], "msg": msg}])
        engine = await self.engine_config(owner, cfg)
        try:
            runs = await asyncio.to_thread(  # up to 200 plans: off the event loop
                validate_request, {"kind": kind, "config": engine.to_dict(), "params": params})
        except ConfigError as exc:
            raise config_error(exc) from None
        except ValueError as exc:
            raise ApiError(422, "invalid_params", str(exc),
                           [{"loc": ["params"], "msg": str(exc)}]) from None
        self.check_work(engine, runs)
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
