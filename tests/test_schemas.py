"""schemas/openapi.yaml and schemas/asyncapi.yaml against the code and a running server.

* The committed YAML equals ``schemas/generate.py``'s output, and its result schema equals
  ``equihome.io.schemas.RESULT_SCHEMA`` (so neither can drift from the code).
* Every route of ``app.routes()`` is documented, with exactly the methods its handler
  implements, and every documented path is served.
* A full REST scenario against a real ``equihome serve``: every response is validated
  against the schema of its path + method + status, and every documented status of the
  ``/api`` operations is produced at least once.
* Every WebSocket message of complete, cancelled and replayed runs, and the answers to
  invalid commands, validated against the AsyncAPI message of its ``type``.
* The same for analyses (ANALYSES.md): every kind created, read, listed and its result
  fetched with small runs, the 4xx answers, and every WebSocket message of complete,
  failed, cancelled and replayed analyses, each against its documented schema.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import time
import uuid
from pathlib import Path

import pytest
import tornado.web
import tornado.websocket
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from server_util import KEY_A, KEY_B
from waiting import wait_until
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

import equihome
from equihome.io.config import PRESETS
from equihome.io.schemas import RESULT_SCHEMA
from equihome.io.stress import LIBRARY, StressScenario
from equihome.run.analyses import KINDS, PARAMS, STRESS_COLUMNS, TORNADO_COLUMNS
from equihome.run.engine import STAGES
from equihome.server.app import routes
from equihome.server.handlers import MAX_BODY, Services

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
OPENAPI = yaml.safe_load((SCHEMAS / "openapi.yaml").read_text(encoding="utf-8"))
ASYNCAPI = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8"))
UPDATE_TYPES = {"progress", "module_started", "module_completed", "intermediate_result",
                "result", "error", "guardrail_violation"}
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
FINISHED = ("completed", "failed", "cancelled")
LONG = {"num_simulations": 100_000}  # a run that is still going when the test cancels it
ANALYSES = "/api/analyses"
LOAN_TAPES = "/api/loan-tapes"  # every answer produced and checked in tests/test_server_tapes.py
#: documented answers produced (and checked against this document) in tests/test_hardening.py
PRODUCED_IN_HARDENING = {("/api/simulations", "post", "507"), ("/api/analyses", "post", "507")}
CUSTOM = {"name": "custom", "price_shock": {"start_month": 6, "decline": -0.25,
                                            "decline_months": 12},
          "hazard_multipliers": {"start_month": 6, "months": 12, "refinance": 0.3},
          "overrides": {"recovery_rates": {"red": 0.6}}}
#: one small analysis of each kind (params), and the module names of its variants
ANALYSIS_PARAMS = {
    "stress": {"scenarios": ["mvd_20", CUSTOM], "statistic": "lp_tvpi:p50"},
    "tornado": {"parameters": {"appreciation_rates": 0.01, "default_rates": "x2",
                               "avg_loan_ltv": [0.3, 0.4]}},
    "breakeven": {"parameter": "appreciation_rates", "bounds": [0.0, 0.15],
                  "target": {"statistic": "lp_irr:p50", "value": "hurdle"}, "xtol": 1e-4},
    "sweep": {"grid": {"avg_loan_ltv": [0.3, 0.4]}},
}


# --------------------------------------------------------------------------- helpers


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _validators(doc: dict, uri: str):
    """validator(pointer): a draft 2020-12 validator for the schema at ``pointer`` in ``doc``,
    with the document's own ``#/components/...`` references resolvable."""
    registry = Registry().with_resource(uri, Resource(contents=doc, specification=DRAFT202012))
    cache: dict[str, Draft202012Validator] = {}

    def validator(pointer: str) -> Draft202012Validator:
        if pointer not in cache:
            cache[pointer] = Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=registry,
                                                  format_checker=FormatChecker())
        return cache[pointer]

    return validator


OPENAPI_SCHEMA = _validators(OPENAPI, "urn:equihome:openapi")
ASYNCAPI_SCHEMA = _validators(ASYNCAPI, "urn:equihome:asyncapi")


def _validate(validator: Draft202012Validator, instance, what: str) -> None:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"{what}: " + "; ".join(
        f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])


def _response_pointer(template: str, method: str, status: int) -> str | None:
    """JSON pointer of the documented response body schema (None: no body documented)."""
    op = OPENAPI["paths"][template][method]
    assert str(status) in op["responses"], f"{method.upper()} {template}: status {status} is " \
                                           f"not documented ({sorted(op['responses'])})"
    resp = op["responses"][str(status)]
    base = f"/paths/{_escape(template)}/{method}/responses/{status}"
    if "$ref" in resp:
        base = resp["$ref"][1:]
        resp = OPENAPI["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    if "content" not in resp:
        return None
    return f"{base}/content/application~1json/schema"


def _ws_message_pointers() -> dict[str, str]:
    """Server message type -> JSON pointer of its payload schema in asyncapi.yaml."""
    out = {}
    for name, msg in ASYNCAPI["components"]["messages"].items():
        if name.endswith("Command"):
            continue
        payload = msg["payload"]
        out[msg["name"]] = payload["$ref"][1:] if "$ref" in payload else \
            f"/components/messages/{name}/payload"
    return out


def _command_pointers() -> dict[str, str]:
    return {msg["payload"]["properties"]["action"]["const"]: f"/components/messages/{name}/payload"
            for name, msg in ASYNCAPI["components"]["messages"].items()
            if name.endswith("Command")}


class Rest:
    """REST calls through the real server; each response checked against openapi.yaml."""

    def __init__(self, server):
        self.server = server
        self.seen: set[tuple[str, str, str]] = set()

    def __call__(self, method: str, template: str, expect: int, body=None, key: str | None = KEY_A,
                 raw: bytes | None = None, query: str = "", **params):
        method = method.lower()
        url = self.server.base + template.format(**params) + query
        if body is not None and expect < 300:  # what the server accepts, the document allows
            _validate(OPENAPI_SCHEMA(f"/paths/{_escape(template)}/{method}/requestBody/content/"
                                     "application~1json/schema"), body, f"request {template}")
        status, data = self.server.request(method.upper(), url, body=body, key=key, raw=raw)
        assert status == expect, f"{method.upper()} {url}: {status} {data}"
        pointer = _response_pointer(template, method, status)
        if pointer is None:
            assert data is None, f"{method.upper()} {template} {status}: undocumented body {data}"
        else:
            _validate(OPENAPI_SCHEMA(pointer), data, f"{method.upper()} {template} -> {status}")
        self.seen.add((template, method, str(status)))
        return data

    def wait(self, sim_id: str, prefix: str = "/api", key: str = KEY_A, timeout: float = 60) -> dict:
        """The record once the simulation has finished (AssertionError at the deadline)."""

        def finished() -> dict | None:
            rec = self("get", prefix + "/simulations/{id}", 200, key=key, id=sim_id)
            return rec if rec["status"] in FINISHED else None

        return wait_until(finished, timeout, f"simulation {sim_id} to finish")

    def wait_running(self, sim_id: str, timeout: float = 30) -> None:
        wait_until(lambda: self("get", "/api/simulations/{id}", 200, id=sim_id)["status"] != "queued",
                   timeout, f"simulation {sim_id} to start")


def _documented_operations(compat: bool | None = None, preflights: bool = False):
    """(template, method, operation) of the documented REST operations; the CORS preflights
    (OPTIONS, answered only with --allow-origin: tests/test_hardening.py) when asked."""
    for template, item in OPENAPI["paths"].items():
        if compat is not None and template.startswith("/api") == compat:
            continue
        for method in HTTP_METHODS:
            if method in item and (preflights or method != "options"):
                yield template, method, item[method]


# --------------------------------------------------------------------------- static checks


def _load_generator():
    spec = importlib.util.spec_from_file_location("schemas_generate", SCHEMAS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_yaml_is_the_generated_output():
    gen = _load_generator()
    for path, text in gen.outputs().items():  # compared as data: PyYAML's layout may vary
        assert yaml.safe_load(path.read_text(encoding="utf-8")) == yaml.safe_load(text), \
            f"{path.name} is out of date: run python schemas/generate.py"


def test_result_and_config_schemas_cannot_drift():
    assert OPENAPI["components"]["schemas"]["Result"] == RESULT_SCHEMA
    assert ASYNCAPI["components"]["schemas"]["Result"] == RESULT_SCHEMA
    assert OPENAPI["components"]["schemas"]["FundConfig"]["properties"].keys() == \
        equihome.config_json_schema()["properties"].keys()
    assert ASYNCAPI["components"]["schemas"]["Module"]["enum"] == list(STAGES)
    assert ASYNCAPI["components"]["schemas"]["Violation"] == \
        RESULT_SCHEMA["properties"]["guardrails"]["items"]


def test_simulate_result_matches_result_schema():
    Draft202012Validator.check_schema(RESULT_SCHEMA)
    data = equihome.simulate("100m", num_simulations=64, seed=1).data
    _validate(Draft202012Validator(RESULT_SCHEMA), data, "simulate().data")
    _validate(Draft202012Validator(RESULT_SCHEMA), json.loads(json.dumps(data, allow_nan=False)),
              "simulate().data as JSON")


def _refs(node, out: list[str]) -> list[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append(v)
            else:
                _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)
    return out


def _resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for token in ref[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def test_openapi_is_a_valid_document():
    assert OPENAPI["openapi"].startswith("3.1")
    for ref in _refs(OPENAPI, []):
        _resolve(OPENAPI, ref)  # every reference resolves
    ids = [op["operationId"] for _, _, op in _documented_operations(preflights=True)]
    assert len(ids) == len(set(ids))
    for schema in OPENAPI["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for template, method, op in _documented_operations(preflights=True):
        assert op["responses"], (template, method)
        public = op.get("security", OPENAPI["security"]) == []
        assert public == (template == "/api/health" or method == "options"), \
            f"{method} {template}: auth"
        if not public:
            assert "401" in op["responses"], (template, method)
    schemes = OPENAPI["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {("header", "X-API-Key"),
                                                                 ("query", "api_key")}
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(OPENAPI)


def test_asyncapi_is_a_consistent_document():
    assert ASYNCAPI["asyncapi"].startswith("3.")
    for ref in _refs(ASYNCAPI, []):
        _resolve(ASYNCAPI, ref)
    for schema in ASYNCAPI["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    assert set(_ws_message_pointers()) == UPDATE_TYPES
    assert set(_command_pointers()) == {"subscribe", "unsubscribe", "cancel"}
    for op_name, op in ASYNCAPI["operations"].items():
        channel = op["channel"]["$ref"]
        for msg in op["messages"]:  # an operation's messages belong to its channel
            assert msg["$ref"].startswith(channel + "/messages/"), (op_name, msg)
        kinds = {_resolve(ASYNCAPI, _resolve(ASYNCAPI, m["$ref"])["$ref"])["name"]
                 for m in op["messages"]}
        expected = UPDATE_TYPES if op["action"] == "send" else {"subscribe", "unsubscribe",
                                                                 "cancel"}
        assert kinds == expected, op_name
    for kind, pointer in _ws_message_pointers().items():  # the envelope of every update
        for variant in _variants(_resolve(ASYNCAPI, "#" + pointer)):
            assert {"type", "simulation_id", "timestamp"} <= set(variant["required"]), kind
            assert variant["properties"]["type"] == {"const": kind}


def _variants(schema: dict) -> list[dict]:
    """The alternatives of a message payload (oneOf), their $refs followed."""
    out = []
    for variant in schema.get("oneOf", [schema]):
        variant = _resolve(ASYNCAPI, variant["$ref"]) if "$ref" in variant else variant
        out += _variants(variant) if "oneOf" in variant else [variant]
    return out


def test_analysis_schemas_cannot_drift():
    """The analysis schemas name exactly what the code accepts and answers."""
    schemas = OPENAPI["components"]["schemas"]
    for kind in KINDS:
        title = kind.title()
        assert set(schemas[f"{title}Params"]["properties"]) == set(PARAMS[kind])
        assert schemas[f"{title}Result"]["properties"]["kind"] == {"const": kind}
        assert schemas[f"{title}AnalysisRecord"]["properties"]["kind"] == {"const": kind}
        record = schemas[f"{title}AnalysisRecord"]
        assert set(record["required"]) == set(schemas["SimulationRecord"]["required"]) | {
            "analysis_id", "kind", "params"}
        for create in schemas[f"Create{title}Analysis"]["oneOf"]:
            assert create["properties"]["kind"] == {"const": kind}
    assert schemas["AnalysisKind"]["enum"] == list(KINDS)
    assert schemas["StressScenarioName"]["enum"] == list(LIBRARY)
    assert schemas["StressRow"]["required"] == STRESS_COLUMNS
    assert schemas["TornadoRow"]["required"] == TORNADO_COLUMNS
    assert schemas["StressResult"]["properties"]["columns"]["const"] == STRESS_COLUMNS
    assert schemas["TornadoResult"]["properties"]["columns"]["const"] == TORNADO_COLUMNS
    scenario = StressScenario.model_json_schema()
    for name, sub in scenario.pop("$defs").items():
        assert json.dumps(schemas[name]).replace("#/components/schemas/", "#/$defs/") == \
            json.dumps(sub), name
    assert json.dumps(schemas["StressScenario"]).replace("#/components/schemas/", "#/$defs/") \
        == json.dumps(scenario)
    for name in ("AnalysisResult", "AnalysisRow", "StressScenario", "Statistic", "FundConfig"):
        assert ASYNCAPI["components"]["schemas"][name] == schemas[name], name
    pattern = re.compile(ASYNCAPI["components"]["schemas"]["AnalysisModule"]["pattern"])
    assert all(pattern.match(f"{k}:x") for k in KINDS)
    assert not any(pattern.match(m) for m in (*STAGES, "analysis", "stress:", "nope:x"))
    assert "invalid_params" in schemas["Error"]["properties"]["error"]["properties"]["code"][
        "enum"]


def _handler_methods(handler: type) -> set[str]:
    base = tornado.web.RequestHandler
    return {m for m in HTTP_METHODS if getattr(handler, m) is not getattr(base, m)}


def _served_by(table, sample: str):
    """The route Tornado picks for a path: the first whose pattern matches it whole."""
    for pattern, handler, _ in table:
        if re.fullmatch(pattern, sample):
            return pattern, handler
    return None, None


def test_every_route_is_documented_and_every_documented_path_is_served():
    table = routes(Services(runs=None, keys=None), "/", compat=True)
    rest = [r for r in table if not issubclass(r[1], tornado.websocket.WebSocketHandler)]
    ws = [r for r in table if issubclass(r[1], tornado.websocket.WebSocketHandler)]

    def sample(template: str) -> str:
        return re.sub(r"\{[^}]+\}", "0f1e2d3c-0000-4000-8000-000000000000", template)

    documented: dict[str, set[str]] = {}  # route pattern -> methods documented on it
    for template, item in OPENAPI["paths"].items():
        pattern, handler = _served_by(table, sample(template))
        assert handler is not None, f"{template} is documented but no route serves it"
        methods = {m for m in HTTP_METHODS if m in item}
        assert methods == _handler_methods(handler), \
            f"{template}: documented {sorted(methods)}, {handler.__name__} implements " \
            f"{sorted(_handler_methods(handler))}"
        documented.setdefault(pattern, set()).update(methods)
    for pattern, handler, _ in rest:
        assert documented.get(pattern) == _handler_methods(handler), \
            f"route {pattern} ({handler.__name__}) is not documented in openapi.yaml"
    for which in ("config", "result"):  # both alternatives of /api/schema/(config|result)
        assert f"/api/schema/{which}" in OPENAPI["paths"]
    addresses = [c["address"] for c in ASYNCAPI["channels"].values()]
    for address in addresses:
        pattern, handler = _served_by(table, sample(address))
        assert handler is not None and issubclass(handler, tornado.websocket.WebSocketHandler), \
            f"channel {address} is not a WebSocket route"
    for pattern, _, _ in ws:
        assert any(re.fullmatch(pattern, sample(a)) for a in addresses), \
            f"WebSocket route {pattern} is not a channel in asyncapi.yaml"


# --------------------------------------------------------------------------- REST, live


def test_rest_responses_match_openapi(server):
    api = Rest(server)
    sim = "/api/simulations/{id}"
    unknown = str(uuid.uuid4())

    # health (no key), then 401 on every authenticated operation, /api and compatibility
    health = api("get", "/api/health", 200, key=None)
    assert health["version"] == equihome.__version__
    for template, method, op in _documented_operations():
        if "401" in op["responses"] and not template.startswith(ANALYSES):
            api(method, template, 401, key=None, id=unknown, name="100m")
    api("get", "/api/simulations", 401, key=None, query="?api_key=wrong-key")
    api("get", "/api/simulations", 200, key=None, query=f"?api_key={KEY_A}")  # key in query

    # presets and schemas
    presets = api("get", "/api/presets", 200)
    assert [p["name"] for p in presets["items"]] == sorted(PRESETS)
    api("get", "/api/presets/{name}", 200, name="100m")
    api("get", "/api/presets/{name}", 404, name="no-such-preset")
    assert api("get", "/api/schema/result", 200) == RESULT_SCHEMA
    assert api("get", "/api/schema/config", 200) == equihome.config_json_schema()

    # create: 400, 413, 422
    create = "/api/simulations"
    assert api("post", create, 400, raw=b"{not json")["error"]["code"] == "bad_json"
    api("post", create, 400, body=[1, 2])
    big = b'{"preset": "100m", "name": "' + b"x" * (MAX_BODY + 10) + b'"}'
    assert api("post", create, 413, raw=big)["error"]["code"] == "too_large"
    bad = api("post", create, 422, body={"config": {"price_path": {"volatility": {
        "green": 0.1, "orange": 0.1, "red": "high"}}}})
    assert ["price_path", "volatility", "red"] in [d["loc"] for d in bad["error"]["details"]]
    api("post", create, 422, body={"preset": "100m", "colour": "red"})
    api("post", create, 422, body={"preset": "100m", "config": {}})
    api("post", create, 422, body={"preset": "no-such-preset"})
    api("post", create, 422, body={"preset": "100m", "name": "n" * 201})
    api("post", create, 422, body={"preset": "100m", "overrides": {"fund_term": 0}})

    # a completed simulation: create (preset, and full config), get, result, 409s
    small = {"preset": "100m", "overrides": {"num_simulations": 200}, "name": "small"}
    done = api("post", create, 201, body=small)
    assert done["id"] == done["simulation_id"] and done["status"] == "queued"
    cfg = dict(PRESETS["100m"], num_simulations=100)
    by_config = api("post", create, 201, body={"config": cfg, "name": None})
    assert api.wait(done["id"])["status"] == "completed"
    assert api.wait(by_config["id"])["status"] == "completed"
    result = api("get", sim + "/result", 200, id=done["id"])
    assert result["num_simulations"] == 200
    scenarios = api("get", sim + "/scenarios", 200, id=done["id"], query="?metrics=lp_irr")
    assert list(scenarios["metrics"]) == ["lp_irr"] and len(scenarios["metrics"]["lp_irr"]) == 200
    api("get", sim + "/scenarios", 400, id=done["id"], query="?metrics=no_such_metric")
    api("post", sim + "/cancel", 409, id=done["id"])

    # running and queued simulations (two workers): 409 on result, 202 on cancel
    first = api("post", create, 201, body={"preset": "100m", "overrides": LONG})
    second = api("post", create, 201, body={"preset": "100m", "overrides": LONG})
    queued = api("post", create, 201, body={"preset": "100m", "overrides": LONG})
    api.wait_running(first["id"])
    api("get", sim + "/result", 409, id=first["id"])
    api("get", sim + "/result", 409, id=queued["id"])
    api("get", sim + "/scenarios", 409, id=first["id"])
    assert api("post", sim + "/cancel", 202, id=queued["id"])["status"] == "cancelled"
    assert api("post", sim + "/cancel", 202, id=first["id"])["status"] in ("running", "cancelled")
    assert api.wait(first["id"])["status"] == "cancelled"
    api("post", sim + "/cancel", 409, id=first["id"])
    api("get", sim + "/result", 409, id=first["id"])
    api("delete", sim, 204, id=second["id"])  # cancels it, then deletes
    api("get", sim, 404, id=second["id"])

    # 404: unknown, and another key's simulation
    for method, template in (("get", sim), ("delete", sim), ("get", sim + "/result"),
                             ("get", sim + "/scenarios"), ("post", sim + "/cancel")):
        api(method, template, 404, id=unknown)
        api(method, template, 404, id=done["id"], key=KEY_B)

    # list: filters, paging, 400s
    page = api("get", "/api/simulations", 200, query="?limit=1")
    assert len(page["items"]) == 1 and isinstance(page["next_cursor"], str)
    api("get", "/api/simulations", 200, query=f"?limit=1&cursor={page['next_cursor']}")
    done_list = api("get", "/api/simulations", 200, query="?status=completed")
    assert {r["id"] for r in done_list["items"]} == {done["id"], by_config["id"]}
    for query in ("?status=bogus", "?limit=0", "?limit=ten", f"?limit={10**6}", "?cursor=@@@"):
        api("get", "/api/simulations", 400, query=query)

    # 429: too many queued or running simulations for one key
    mine = []
    for _ in range(1000):
        status, body = server.request("POST", "/simulations", {"preset": "100m",
                                                               "overrides": LONG}, key=KEY_B)
        if status != 201:
            break
        mine.append(body["id"])
    api("post", create, 429, body={"preset": "100m", "overrides": LONG}, key=KEY_B)
    for sim_id in mine:
        api("delete", sim, 204, id=sim_id, key=KEY_B)
    api("get", "/api/health", 200, key=None)

    # delete a finished simulation
    api("delete", sim, 204, id=by_config["id"])

    # the compatibility routes of the earlier engine's client
    old = api("post", "/simulations/", 201, body={"config": cfg})
    assert old["simulation_id"] and old["status"] == "queued"
    api("get", "/simulations/", 200)
    assert api.wait(old["id"], prefix="")["status"] == "completed"
    api("get", "/simulations/{id}/result", 200, id=old["id"])
    api("post", "/simulations/{id}/cancel", 409, id=old["id"])
    assert api("delete", "/simulations/{id}", 200, id=old["id"])["deleted"] is True
    cancelled = api("post", "/simulations/", 201, body={"config": {**cfg, **LONG}})
    api("post", "/simulations/{id}/cancel", 202, id=cancelled["id"])
    api.wait(cancelled["id"], prefix="")

    # every documented response of the /api operations was produced; the compatibility
    # routes answered with each operation's success status
    documented = {(t, m, s) for t, m, op in _documented_operations(compat=False)
                  for s in op["responses"] if not t.startswith((ANALYSES, LOAN_TAPES))}
    documented -= PRODUCED_IN_HARDENING
    assert documented - api.seen == set(), "documented but never produced"
    for template, method, op in _documented_operations(compat=True):
        ok = min(s for s in op["responses"] if s.startswith("2"))
        assert (template, method, ok) in api.seen, (template, method, ok)


# --------------------------------------------------------------------------- WebSocket, live


class Messages:
    """Every server message received, validated against asyncapi.yaml by its type."""

    def __init__(self):
        self.pointers = _ws_message_pointers()
        self.all: list[dict] = []

    def check(self, text: str) -> dict:
        msg = json.loads(text)
        assert msg.get("type") in self.pointers, f"undocumented message type: {msg}"
        _validate(ASYNCAPI_SCHEMA(self.pointers[msg["type"]]), msg, f"{msg['type']} message")
        self.all.append(msg)
        return msg

    async def until(self, ws, done, timeout: float = 60) -> list[dict]:
        """Receive (and check) messages until ``done(msg)``; return them all."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.check(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
            got.append(msg)
            if done(msg):
                return got


def _is_end(sim_id: str):
    return lambda m: m["simulation_id"] == sim_id and m["type"] in ("result", "error")


async def _post(server, body: dict, key: str = KEY_A) -> dict:
    status, rec = await asyncio.to_thread(server.request, "POST", "/simulations", body, key)
    assert status == 201, rec
    return rec


def _command_is_valid(command) -> bool:
    """Whether a command (text or object) matches one of asyncapi.yaml's command messages."""
    if isinstance(command, str):
        try:
            command = json.loads(command)
        except ValueError:
            return False
    return any(ASYNCAPI_SCHEMA(p).is_valid(command) for p in _command_pointers().values())


async def _send(ws, command, well_formed: bool = True) -> None:
    if well_formed:
        assert _command_is_valid(command), command
    await ws.send(command if isinstance(command, str) else json.dumps(command))


async def _ws_scenario(server) -> Messages:
    msgs = Messages()
    async with connect(server.ws_url(), max_size=None) as ws:
        # a complete run, subscribed from the start (loan_term > fund_term: a warning with
        # max_allowed)
        rec = await _post(server, {"preset": "100m",
                                   "overrides": {"num_simulations": 2000, "loan_term": 12}})
        await _send(ws, {"action": "subscribe", "simulation_id": rec["id"]})
        run = await msgs.until(ws, _is_end(rec["id"]))
        assert run[-1]["type"] == "result", run[-1]
        kinds = {m["type"] for m in run}
        assert kinds == UPDATE_TYPES - {"error"}, kinds
        inter = {m["module"] for m in run if m["type"] == "intermediate_result"}
        assert inter == {"metrics", "waterfall_engine"}
        assert "max_allowed" in next(m for m in run if m["type"] == "guardrail_violation"
                                     )["violation"]["details"]
        completed = rec["id"]

        # cancellations: a running one (error names the stage) and a queued one (module null)
        running = await _post(server, {"preset": "100m", "overrides": LONG})
        other = await _post(server, {"preset": "100m", "overrides": LONG})
        queued = await _post(server, {"preset": "100m", "overrides": LONG})
        for r in (running, queued):
            await _send(ws, {"action": "subscribe", "simulation_id": r["id"]})
        await msgs.until(ws, lambda m: m["type"] == "progress" and m["simulation_id"] == running["id"])
        await _send(ws, {"action": "cancel", "simulation_id": queued["id"]})
        end = (await msgs.until(ws, _is_end(queued["id"])))[-1]
        assert end["error"] == "cancelled" and end["module"] is None
        await _send(ws, {"action": "cancel", "simulation_id": running["id"]})
        end = (await msgs.until(ws, _is_end(running["id"])))[-1]
        assert end["error"] == "cancelled" and end["module"] in STAGES
        status, _ = await asyncio.to_thread(server.request, "DELETE", f"/simulations/{other['id']}")
        assert status == 204

    # invalid commands, on a connection with no subscriptions: one error each, no module;
    # the first six are malformed (asyncapi.yaml rejects them too), the rest name a
    # simulation this key cannot subscribe to or cancel
    foreign = await _post(server, {"preset": "100m", "overrides": {"num_simulations": 64}}, KEY_B)
    some = str(uuid.uuid4())
    commands = [
        ("{not json", None, False),
        ("[1, 2]", None, False),
        ({"action": "jump", "simulation_id": some}, some, False),
        ({"action": "subscribe"}, None, False),
        ({"action": "subscribe", "simulation_id": "not-a-uuid"}, "not-a-uuid", False),
        ({"action": "subscribe", "simulation_id": 42}, None, False),
        ({"action": "subscribe", "simulation_id": some}, some, True),
        ({"action": "cancel", "simulation_id": some}, some, True),
        ({"action": "cancel", "simulation_id": completed}, completed, True),
        ({"action": "subscribe", "simulation_id": foreign["id"]}, foreign["id"], True),
    ]
    async with connect(server.ws_url(), max_size=None) as ws:
        for command, sim_id, well_formed in commands:
            assert _command_is_valid(command) == well_formed, command
            await _send(ws, command, well_formed)
            answer = msgs.check(await asyncio.wait_for(ws.recv(), 10))
            assert answer["type"] == "error" and "module" not in answer, (command, answer)
            assert answer["simulation_id"] == sim_id, (command, answer)

    # a late subscriber on the earlier engine's route gets the replay, result included
    # (fewer scenarios than min_simulations: an info violation with min_allowed)
    small = await _post(server, {"preset": "100m", "overrides": {"num_simulations": 200}})
    async with connect(server.ws_url(path=f"/ws/simulations/{small['id']}"), max_size=None) as ws:
        replay = await msgs.until(ws, _is_end(small["id"]))
        assert replay[-1]["type"] == "result"
        assert any("min_allowed" in m["violation"]["details"] for m in replay
                   if m["type"] == "guardrail_violation")
    async with connect(server.ws_url(path=f"/ws/simulations/{small['id']}"), max_size=None) as ws:
        replay = await msgs.until(ws, _is_end(small["id"]))  # after completion, too
        assert replay[-1]["type"] == "result"

    # a bad or missing key is refused at the handshake: 401 with the REST error body
    for key in ("wrong-key", None):
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.ws_url(key=key)):
                pass
        assert info.value.response.status_code == 401
        _validate(OPENAPI_SCHEMA("/components/schemas/Error"),
                  json.loads(info.value.response.body), "WebSocket 401 body")
    return msgs


def test_websocket_messages_match_asyncapi(server):
    msgs = asyncio.run(_ws_scenario(server))
    assert {m["type"] for m in msgs.all} == UPDATE_TYPES
    assert all(m["timestamp"].endswith("Z") for m in msgs.all)


# --------------------------------------------------------------------------- analyses, live


def _analysis_body(kind: str, params: dict | None = None, n: int = 60, **extra) -> dict:
    body = {"kind": kind, "preset": "100m",
            "overrides": {"num_simulations": n, "monte_carlo_seed": 5}, **extra}
    if params is not None:
        body["params"] = params
    return body


def _wait_analysis(api: Rest, an_id: str, statuses=FINISHED, key: str = KEY_A,
                   timeout: float = 180) -> dict:
    def reached() -> dict | None:
        rec = api("get", ANALYSES + "/{id}", 200, key=key, id=an_id)
        return rec if rec["status"] in statuses else None

    return wait_until(reached, timeout, f"analysis {an_id} in {statuses}")


def _check_result(kind: str, result: dict, params: dict) -> None:
    """A completed analysis's result: its kind's schema, and the numbers the request asked for."""
    _validate(OPENAPI_SCHEMA(f"/components/schemas/{kind.title()}Result"), result,
              f"{kind} result")
    assert result["kind"] == kind and result["num_simulations"] == 60 and result["seed"] == 5
    rows = result["rows"]
    if kind == "stress":
        assert [r["scenario"] for r in rows] == ["base", "mvd_20", "custom"]
        assert result["statistic"] == "lp_tvpi:p50" and rows[0]["change"] == 0.0
        assert rows[1]["irr_p50"] < rows[0]["irr_p50"]  # a market decline costs return
        assert [s["name"] for s in result["params"]["scenarios"]] == ["mvd_20", "custom"]
        assert set(result["fans"]) == {"years", "base", "mvd_20", "custom"}
    elif kind == "tornado":
        assert {r["parameter"] for r in rows} == set(params["parameters"])
        swings = [r["swing"] for r in rows]
        assert swings == sorted(swings, reverse=True) and swings[0] > 0
        ltv = next(r for r in rows if r["parameter"] == "avg_loan_ltv")
        assert (ltv["low"], ltv["high"]) == (0.3, 0.4)
        zones = next(r for r in rows if r["parameter"] == "appreciation_rates")
        assert set(zones["low"]) == {"green", "orange", "red"}
        assert result["base_value"] == rows[0]["stat_base"]
    elif kind == "breakeven":
        assert result["converged"] and abs(result["value"] - result["target"]) <= 1e-5
        assert 0.0 < result["x"] < 0.15 and result["iterations"] == len(rows) >= 3
        assert [r["iteration"] for r in rows] == list(range(len(rows)))
    else:
        assert result["grid_keys"] == ["avg_loan_ltv"]
        assert [r["avg_loan_ltv"] for r in rows] == [0.3, 0.4]
        assert any(r["efficient"] for r in rows)


def test_analysis_rest_responses_match_openapi(server):
    api = Rest(server)
    one = ANALYSES + "/{id}"
    unknown = str(uuid.uuid4())
    for template, method, _ in _documented_operations(compat=False):
        if template.startswith(ANALYSES):
            api(method, template, 401, key=None, id=unknown)

    # 400, 413 and the three 422 codes, each naming its field
    assert api("post", ANALYSES, 400, raw=b"{not json")["error"]["code"] == "bad_json"
    api("post", ANALYSES, 400, body=[1, 2])
    big = b'{"kind": "stress", "preset": "100m", "name": "' + b"x" * (MAX_BODY + 10) + b'"}'
    assert api("post", ANALYSES, 413, raw=big)["error"]["code"] == "too_large"
    for body, code, loc in (
            (_analysis_body("nope"), "invalid_request", ["kind"]),
            (_analysis_body("stress", colour=1), "invalid_request", ["colour"]),
            (_analysis_body("stress", {"scenarios": [{"name": "x", "price_shock": {
                "decline": -2}}]}), "invalid_config", ["scenarios", 0, "price_shock", "decline"]),
            (_analysis_body("stress", {"scenarios": ["mvd_99"]}), "invalid_config",
             ["scenarios", 0]),
            (_analysis_body("tornado", {"statistic": "lp_irr:p51"}), "invalid_params",
             ["params"]),
            (_analysis_body("breakeven", {"bounds": [0.1, 0.05]}), "invalid_params",
             ["params"]),
            (_analysis_body("sweep", {"grid": {"avg_loan_ltv": [0.3, 0.9]}}), "invalid_config",
             ["avg_loan_ltv"])):
        err = api("post", ANALYSES, 422, body=body)["error"]
        assert err["code"] == code and loc in [d["loc"] for d in err["details"]], (body, err)
    assert api("get", ANALYSES, 200)["items"] == []  # nothing refused was stored

    # one small analysis of each kind (sweep from a full config), every answer documented
    created = {}
    for kind, params in ANALYSIS_PARAMS.items():
        body = _analysis_body(kind, params, name=f"{kind} small")
        if kind == "sweep":
            body = {"kind": kind, "params": params, "name": None,
                    "config": dict(PRESETS["100m"], num_simulations=60, monte_carlo_seed=5)}
        rec = api("post", ANALYSES, 201, body=body)
        assert rec["kind"] == kind and rec["analysis_id"] == rec["id"] == rec["simulation_id"]
        assert rec["params"] == params and rec["status"] in ("queued", "running")
        created[kind] = rec
    api("post", ANALYSES, 201, body=_analysis_body("stress"))  # no params: the whole library
    for kind, rec in created.items():
        done = _wait_analysis(api, rec["id"])
        assert done["status"] == "completed" and done["progress"] == 100, done
        result = api("get", one + "/result", 200, id=rec["id"])
        _check_result(kind, result, ANALYSIS_PARAMS[kind])
        api("post", one + "/cancel", 409, id=rec["id"])

    # list: every kind, paging, filters, 400s; analyses and simulations stay apart
    page = api("get", ANALYSES, 200)
    assert {r["kind"] for r in page["items"]} == set(KINDS) and len(page["items"]) == 5
    first = api("get", ANALYSES, 200, query="?limit=2")
    assert len(first["items"]) == 2 and isinstance(first["next_cursor"], str)
    api("get", ANALYSES, 200, query=f"?limit=2&cursor={first['next_cursor']}")
    done = api("get", ANALYSES, 200, query="?status=completed")
    assert {r["id"] for r in done["items"]} >= {r["id"] for r in created.values()}
    for query in ("?status=bogus", "?limit=0", "?limit=ten", "?cursor=@@@"):
        api("get", ANALYSES, 400, query=query)
    assert api("get", "/api/simulations", 200)["items"] == []
    api("get", "/api/simulations/{id}", 404, id=created["stress"]["id"])

    # a running analysis: 409 on result, 202 on cancel, then cancelled: 409 on both
    slow = api("post", ANALYSES, 201, body=_analysis_body(
        "tornado", {"parameters": {"hurdle_rate": 0.01, "loan_term": 2}}, n=3000))
    wait_until(lambda: api("get", one, 200, id=slow["id"])["status"] == "running", 60,
               "the tornado to start")
    api("get", one + "/result", 409, id=slow["id"])
    assert api("post", one + "/cancel", 202, id=slow["id"])["status"] in ("running", "cancelled")
    assert _wait_analysis(api, slow["id"])["status"] == "cancelled"
    api("post", one + "/cancel", 409, id=slow["id"])
    api("get", one + "/result", 409, id=slow["id"])

    # 404: unknown, another key's, and a simulation's id under /analyses
    sim = api("post", "/api/simulations", 201, body={"preset": "100m",
                                                     "overrides": {"num_simulations": 64}})
    for method, template in (("get", one), ("delete", one), ("get", one + "/result"),
                             ("post", one + "/cancel")):
        api(method, template, 404, id=unknown)
        api(method, template, 404, id=created["tornado"]["id"], key=KEY_B)
        api(method, template, 404, id=sim["id"])
    assert api("get", ANALYSES, 200, key=KEY_B)["items"] == []

    # 429: this key's queue is full (simulations and analyses count together)
    mine = []
    for _ in range(1000):
        status, body = server.request("POST", "/simulations", {"preset": "100m",
                                                               "overrides": LONG}, key=KEY_B)
        if status != 201:
            break
        mine.append(body["id"])
    api("post", ANALYSES, 429, body=_analysis_body("stress", {"scenarios": ["mvd_20"]}),
        key=KEY_B)
    for sim_id in mine:
        api("delete", "/api/simulations/{id}", 204, id=sim_id, key=KEY_B)

    # delete a finished analysis
    api("delete", one, 204, id=created["sweep"]["id"])
    api("get", one, 404, id=created["sweep"]["id"])

    documented = {(t, m, s) for t, m, op in _documented_operations(compat=False)
                  for s in op["responses"] if t.startswith(ANALYSES)}
    assert documented - PRODUCED_IN_HARDENING - api.seen == set(), "documented but never produced"


async def _ws_analysis_scenario(server) -> Messages:
    msgs = Messages()
    row_msg = ASYNCAPI_SCHEMA("/components/schemas/AnalysisRowMessage")
    result_msg = ASYNCAPI_SCHEMA("/components/schemas/AnalysisResultMessage")

    async def create(kind: str, params: dict, n: int = 60) -> dict:
        status, rec = await asyncio.to_thread(server.request, "POST", "/analyses",
                                              _analysis_body(kind, params, n))
        assert status == 201, rec
        return rec

    async with connect(server.ws_url(), max_size=None) as ws:
        # every kind, subscribed from the start, all on one connection
        ids = {}
        for kind, params in ANALYSIS_PARAMS.items():
            ids[kind] = (await create(kind, params))["id"]
            await _send(ws, {"action": "subscribe", "simulation_id": ids[kind]})
        ends: set[str] = set()

        def all_ended(m: dict) -> bool:
            if m["type"] in ("result", "error"):
                ends.add(m["simulation_id"])
            return len(ends) == len(ids)

        got = await msgs.until(ws, all_ended, timeout=240)
        streams = {kind: [m for m in got if m["simulation_id"] == an_id]
                   for kind, an_id in ids.items()}
        for kind, stream in streams.items():
            types = [m["type"] for m in stream]
            assert types[-1] == "result" and "error" not in types, (kind, stream[-1])
            assert stream[-1]["result"]["kind"] == kind
            _validate(result_msg, stream[-1], f"{kind} result message")
            _check_result(kind, stream[-1]["result"], ANALYSIS_PARAMS[kind])
            started = [m["module"] for m in stream if m["type"] == "module_started"]
            completed = [m["module"] for m in stream if m["type"] == "module_completed"]
            assert started == completed and all(m.startswith(f"{kind}:") for m in started)
            rows = [m for m in stream if m["type"] == "intermediate_result"]
            for m in rows:
                _validate(row_msg, m, f"{kind} row message")
            progress = [m for m in stream if m["type"] == "progress"]
            assert [m["progress"] for m in progress] == sorted(m["progress"] for m in progress)
            assert progress[-1]["progress"] == 100 and progress[-1]["module"] == "analysis"
            table = stream[-1]["result"]["rows"]
            if kind == "stress":
                assert started == ["stress:base", "stress:mvd_20", "stress:custom"]
                assert [m["data"]["row"] for m in rows] == table
            elif kind == "tornado":
                assert started[0] == "tornado:base" and len(started) == 1 + 2 * len(table)
                assert "tornado:avg_loan_ltv:high" in started
                assert rows[0]["data"]["row"] == {"parameter": "base"}
                assert {m["data"]["row"]["parameter"] for m in rows[1:]} == \
                    {r["parameter"] for r in table}
            elif kind == "breakeven":
                assert started == [f"breakeven:{i}" for i in range(len(table))]
                assert [m["data"]["row"] for m in rows] == table
            else:
                assert [m.partition("=")[0] for m in started] == ["sweep:avg_loan_ltv"] * 2
                assert [m["data"]["row"]["irr_p50"] for m in rows] == \
                    [r["irr_p50"] for r in table]

        # a late subscriber (another connection) gets the rows and the result again
        async with connect(server.ws_url(), max_size=None) as late:
            await _send(late, {"action": "subscribe", "simulation_id": ids["stress"]})
            replay = await msgs.until(late, _is_end(ids["stress"]))
        assert replay[-1] == streams["stress"][-1]
        assert [m for m in replay if m["type"] == "intermediate_result"] == \
            [m for m in streams["stress"] if m["type"] == "intermediate_result"]

        # a failure names the variant; a cancel while running names the running variant
        flat = await create("breakeven", {"parameter": "hurdle_rate", "bounds": [0.02, 0.05],
                                          "target": 0.5})
        await _send(ws, {"action": "subscribe", "simulation_id": flat["id"]})
        end = (await msgs.until(ws, _is_end(flat["id"]), timeout=120))[-1]
        assert end["type"] == "error" and "no root in the bounds" in end["error"]
        assert re.fullmatch(r"breakeven:\d+", end["module"]), end
        slow = await create("tornado", {"parameters": {"hurdle_rate": 0.01}}, n=3000)
        await _send(ws, {"action": "subscribe", "simulation_id": slow["id"]})
        await msgs.until(ws, lambda m: m["type"] == "module_started"
                         and m["simulation_id"] == slow["id"])
        await _send(ws, {"action": "cancel", "simulation_id": slow["id"]})
        end = (await msgs.until(ws, _is_end(slow["id"]), timeout=120))[-1]
        assert end["type"] == "error" and end["error"] == "cancelled"
        assert end["module"].startswith("tornado:"), end
    return msgs


def test_analysis_websocket_messages_match_asyncapi(server):
    msgs = asyncio.run(_ws_analysis_scenario(server))
    assert {m["type"] for m in msgs.all} == UPDATE_TYPES - {"guardrail_violation"}
    modules = {m["module"] for m in msgs.all if m["type"] == "module_started"}
    assert {m.partition(":")[0] for m in modules} == set(KINDS)
