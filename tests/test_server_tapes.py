"""Loan tapes on the server: ``POST/GET /api/loan-tapes``, ``GET/DELETE /api/loan-tapes/{id}``
and runs whose ``portfolio.loans`` is ``tape:<id>`` (PROTOCOL.md, DOMAIN.md "The fund's own
book"), against real ``equihome serve`` processes and real SQLite.

Every answer of the tape routes is validated against schemas/openapi.yaml, and one test
produces every status the document gives them (tests/test_schemas.py leaves them to this file).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
from server_helpers import TIMESTAMP, assert_no_tracebacks, get_result, wait_status
from server_util import KEY_A, KEY_B, ServerProcess
from test_schemas import OPENAPI, OPENAPI_SCHEMA, _response_pointer, _validate
from waiting import wait_until

import equihome
from equihome.io.loan_tape import load_loan_tape
from equihome.run.engine import SimulationError
from equihome.server.store import Store
from equihome.server.tapes import MAX_TAPE_BODY, with_tapes

pytest_plugins = ["pytest_jupyter.jupyter_server"]  # the Jupyter extension mounts the routes too

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "loan_tape.csv"
TAPES, TAPE = "/api/loan-tapes", "/api/loan-tapes/{id}"
SIMULATIONS = "/api/simulations"
#: the fund's position at as_of for a run on the example tape (500 loans, $108.6M advanced)
POSITION = {"as_of": "2026-06", "called_to_date": 60_000_000, "cash": 2_000_000}
LONG = 20_000  # scenarios of a run that only occupies a worker until it is cancelled
SEEN: set[tuple[str, str, str]] = set()  # (path, method, status) answered, all validated


@pytest.fixture(scope="module")
def example_rows() -> list[dict[str, Any]]:
    """The example tape's validated rows, as ``load_loan_tape`` gives them locally."""
    return load_loan_tape(EXAMPLE).to_rows()


@pytest.fixture
def srv(server):
    """The shared real server; after the test its log must show no uncaught exception."""
    yield server
    assert_no_tracebacks(server)


def call(server: ServerProcess, method: str, template: str, expect: int, *,
         key: str | None = KEY_A, raw: bytes | None = None, body: Any = None,
         content_type: str | None = None, **params: str) -> Any:
    """One REST call; its status must be ``expect`` and its body the documented one."""
    headers = {"Content-Type": content_type} if content_type else None
    status, data = server.request(method.upper(), server.base + template.format(**params),
                                  body=body, key=key, raw=raw, headers=headers, timeout=120)
    assert status == expect, f"{method.upper()} {template}: {status} {data}"
    pointer = _response_pointer(template, method, status)
    if pointer is None:
        assert data is None, data
    else:
        _validate(OPENAPI_SCHEMA(pointer), data, f"{method.upper()} {template} -> {status}")
    SEEN.add((template, method, str(status)))
    return data


def upload(server: ServerProcess, data: bytes, expect: int = 201, key: str | None = KEY_A,
           content_type: str = "text/csv") -> Any:
    return call(server, "post", TAPES, expect, key=key, raw=data, content_type=content_type)


def listed(server: ServerProcess, key: str = KEY_A) -> list[dict]:
    return call(server, "get", TAPES, 200, key=key)["items"]


def stored_bytes(rows: list[dict]) -> int:
    """What a tape's rows take in the store: compact JSON, UTF-8."""
    return len(json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode())


def tape_run(server: ServerProcess, loans: Any, expect: int = 201, key: str = KEY_A,
             n: int = 20, seed: int | None = 11, **portfolio: Any) -> Any:
    """POST a 100m simulation whose portfolio.loans is ``loans`` (position: POSITION)."""
    body = {"preset": "100m", "overrides": {"num_simulations": n, "monte_carlo_seed": seed,
                                            "portfolio": {"loans": loans, **POSITION,
                                                          **portfolio}}}
    return call(server, "post", SIMULATIONS, expect, key=key, body=body)


def local_statistics(rows: list[dict], seed: int = 11, n: int = 20) -> dict:
    """The statistics of the same run made locally with the rows inline (finite JSON)."""
    cfg = equihome.load_config("100m", {"num_simulations": n, "monte_carlo_seed": seed,
                                        "portfolio": {"loans": rows, **POSITION}})
    return json.loads(equihome.simulate(cfg).to_json())["statistics"]


def example_with(n: int) -> bytes:
    """A tape of ``n`` loans: the example's rows repeated under new ids."""
    head, *rows = EXAMPLE.read_text(encoding="utf-8").splitlines()
    out = [head] + [rows[i % len(rows)].replace("EQ-", f"K{i // len(rows):03d}-", 1)
                    for i in range(n)]
    return ("\n".join(out) + "\n").encode()


# --------------------------------------------------------------------------- upload


def test_example_tape_is_stored_listed_and_read_back(srv, example_rows):
    created = upload(srv, EXAMPLE.read_bytes())
    assert created["rows"] == 500 and created["errors"] == []
    [item] = listed(srv)
    assert item == {"id": created["id"], "rows": 500, "created_at": item["created_at"],
                    "bytes": stored_bytes(example_rows)}
    assert TIMESTAMP.match(item["created_at"])
    got = call(srv, "get", TAPE, 200, id=created["id"])
    assert got["loans"] == example_rows  # exactly what load_loan_tape gives locally
    assert {k: v for k, v in got.items() if k != "loans"} == item
    assert got["loans"][2] == {  # row 3 of the CSV, a junior-lien appreciation-share loan
        "loan_id": "EQ-00003", "origination_date": "2023-01-22", "advance": 210000.0,
        "origination_value": 774776.0, "zone": "red", "suburb": "Richlands",
        "status": "active", "contract_type": "appreciation_share", "multiple": 2.0,
        "risk_adjustment": 0.1, "cap_rate": 0.18, "lien_position": 2.0,
        "senior_balance": 232433.0}
    # a BOM and CRLF line ends are tolerated; a second upload is a second tape, listed first
    crlf = b"\xef\xbb\xbf" + EXAMPLE.read_bytes().replace(b"\n", b"\r\n")
    again = upload(srv, crlf, content_type="text/csv; charset=UTF-8")
    assert again["id"] != created["id"]
    assert call(srv, "get", TAPE, 200, id=again["id"])["loans"] == example_rows
    assert [t["id"] for t in listed(srv)] == [again["id"], created["id"]]
    call(srv, "delete", TAPE, 204, id=created["id"].upper())  # ids compared lower-case
    call(srv, "get", TAPE, 404, id=created["id"])
    call(srv, "delete", TAPE, 404, id=created["id"])
    assert [t["id"] for t in listed(srv)] == [again["id"]]


BAD = (b"loan_id,origination_date,advance,origination_value,zone,colour\n"
       b"L1,2024-01-15,-5,500000,green,x\n"
       b"L2,2024-02-30,200000,150000,purple,y\n"
       b"L1,2024-03-01,100000,400000,red,z\n"
       b"L4,,abc,300000,orange,\n")


def test_every_bad_row_is_reported_and_nothing_is_stored(srv):
    before = upload(srv, EXAMPLE.read_bytes())["id"]
    err = upload(srv, BAD, 422)["error"]
    assert err["code"] == "invalid_loan_tape"
    assert err["message"].startswith("the loan tape has 8 problem(s), e.g. columns: unknown")
    cells = {(d["row"], d["column"]): d for d in err["details"]}
    assert set(cells) == {(None, None), (1, "advance"), (2, "origination_date"), (2, "zone"),
                          (2, "origination_value"), (3, "loan_id"), (4, "origination_date"),
                          (4, "advance")}
    assert cells[1, "advance"] == {"loc": ["loans", 1, "advance"], "row": 1, "column": "advance",
                                   "value": "-5",
                                   "msg": "row 1, advance: must be a number > 0, got '-5'"}
    assert cells[2, "origination_date"]["msg"] == \
        "row 2, origination_date: must be a date YYYY-MM-DD, got '2024-02-30'"
    assert cells[2, "zone"]["msg"] == "row 2, zone: must be one of green, orange, red, got 'purple'"
    assert cells[2, "origination_value"]["msg"] == \
        "row 2, origination_value: must be > advance (200000), got 150000.0"
    assert cells[3, "loan_id"]["msg"] == \
        "row 3, loan_id: must be unique (duplicate of row 1), got 'L1'"
    assert cells[4, "origination_date"]["msg"] == "row 4, origination_date: is required, got ''"
    assert cells[4, "advance"]["msg"] == "row 4, advance: must be a number > 0, got 'abc'"
    unknown = cells[None, None]
    assert unknown["loc"] == ["loans", "columns"] and unknown["value"] == ["colour"]
    assert unknown["msg"].startswith("columns: unknown column(s); the tape's columns are loan_id,")
    # the CSV's own shape: a header named twice, a row with more cells than the header
    shape = (b"loan_id,origination_date,advance,origination_value,zone,zone\n"
             b"S1,2024-01-15,100000,500000,green,green\n"
             b"S2,2024-01-15,100000,500000,green,green,extra,cells\n")
    details = upload(srv, shape, 422)["error"]["details"]
    assert [d["msg"] for d in details] == [
        "columns: each column may appear once, got ['zone']",
        "row 2: has 2 more cell(s) than the header's 6 columns, got ['extra', 'cells']"]
    assert details[1]["loc"] == ["loans", 2] and details[1]["row"] == 2
    # not UTF-8; no rows; 150 bad rows: 100 listed, then "and 50 more"
    latin = upload(srv, EXAMPLE.read_bytes().replace(b"Stafford", b"Caf\xe9"), 422)["error"]
    assert re.fullmatch(r"body: must be UTF-8 text \(CSV\); the byte at offset [\d,]+ is not, "
                        r"got '0xe9'", latin["details"][0]["msg"])
    empty = upload(srv, b"loan_id,origination_date,advance,origination_value,zone\n", 422)
    assert [d["msg"] for d in empty["error"]["details"]] == ["loans: must hold at least one loan, "
                                                             "got []"]
    many = b"loan_id,origination_date,advance,origination_value,zone\n" + b"".join(
        b"M%d,2024-01-15,-1,500000,green\n" % i for i in range(150))
    capped = upload(srv, many, 422)["error"]
    assert len(capped["details"]) == 101 and capped["details"][-1]["msg"] == "and 50 more"
    assert capped["details"][99]["msg"] == "row 100, advance: must be a number > 0, got '-1'"
    assert capped["message"].startswith("the loan tape has 150 problem(s)")
    assert [t["id"] for t in listed(srv)] == [before]  # nothing stored by any 422


def test_refused_uploads(srv, example_rows):
    csv_bytes = EXAMPLE.read_bytes()
    for media in ("application/json", "text/plain", "text/csv; charset=latin-1"):
        err = upload(srv, csv_bytes, 415, content_type=media)["error"]
        assert err == {"code": "unsupported_media_type", "details": None, "message": (
            "a loan tape is uploaded as CSV: send Content-Type: text/csv (UTF-8), got "
            f"{media}")}
    assert upload(srv, csv_bytes, 401, key=None)["error"]["code"] == "unauthorized"
    wrong = upload(srv, csv_bytes, 401, key="wrong-key", content_type="text/plain")
    assert wrong["error"]["code"] == "unauthorized"  # the key is checked first
    # 16 MiB is the limit: a body of exactly that (the tape, then blank lines) is stored,
    # one byte more is 413 -- and the other routes keep their 1 MiB
    padded = csv_bytes + b"\n" * (MAX_TAPE_BODY - len(csv_bytes))
    assert len(padded) == 16 * 2**20
    stored = upload(srv, padded)
    assert stored["rows"] == 500
    assert call(srv, "get", TAPE, 200, id=stored["id"])["loans"] == example_rows
    err = upload(srv, padded + b"\n", 413)["error"]
    assert err["code"] == "too_large" and str(16 * 2**20) in err["message"]
    status, body = srv.request("POST", "/simulations", raw=b" " * (2**20 + 1))
    assert status == 413 and body["error"]["code"] == "too_large"
    too_many = upload(srv, example_with(20_001), 422)["error"]["details"]
    assert [d["msg"] for d in too_many] == ["loans: must have at most 20,000 loans (a run "
                                            "inlines them), got 20001"]
    assert [t["id"] for t in listed(srv)] == [stored["id"]]


def test_another_keys_tape_is_not_found(srv):
    mine = upload(srv, EXAMPLE.read_bytes())["id"]
    call(srv, "get", TAPE, 404, key=KEY_B, id=mine)
    call(srv, "delete", TAPE, 404, key=KEY_B, id=mine)
    assert listed(srv, KEY_B) == []
    err = tape_run(srv, f"tape:{mine}", 422, key=KEY_B)["error"]
    assert err["details"] == [{"loc": ["portfolio", "loans"], "msg": (
        f"portfolio.loans: no loan tape '{mine}' for this key (upload one with POST "
        f"/api/loan-tapes and give tape:<its id>), got 'tape:{mine}'")}]
    call(srv, "get", TAPE, 404, id="not-a-uuid")
    assert [t["id"] for t in listed(srv)] == [mine]  # still there for its owner


# --------------------------------------------------------------------------- runs


def test_run_on_an_uploaded_tape_equals_the_local_run(srv, example_rows):
    tape_id = upload(srv, EXAMPLE.read_bytes())["id"]
    rec = tape_run(srv, f"tape:{tape_id}")
    assert rec["config"]["portfolio"]["loans"] == f"tape:{tape_id}"  # the record keeps the id
    assert wait_status(srv, rec["id"], ("completed", "failed"))["status"] == "completed"
    result = get_result(srv, rec["id"])
    assert result["statistics"] == local_statistics(example_rows)
    assert result["num_simulations"] == 20 and result["seed"] == 11
    assert result["config"]["portfolio"] == {**rec["config"]["portfolio"]}
    # an analysis names the tape the same way
    body = {"kind": "stress", "preset": "100m", "params": {"scenarios": ["mvd_20"]},
            "overrides": {"num_simulations": 20, "monte_carlo_seed": 11,
                          "portfolio": {"loans": f"tape:{tape_id}", **POSITION}}}
    analysis = call(srv, "post", "/api/analyses", 201, body=body)

    def finished() -> dict | None:
        rec = call(srv, "get", "/api/analyses/{id}", 200, id=analysis["id"])
        return rec if rec["status"] in ("completed", "failed") else None

    done = wait_until(finished, 60, f"analysis {analysis['id']} to finish")
    assert done["status"] == "completed", done["error"]
    status, table = srv.request("GET", f"/analyses/{analysis['id']}/result")
    assert status == 200 and [r["scenario"] for r in table["rows"]] == ["base", "mvd_20"]
    assert table["config"]["portfolio"]["loans"] == f"tape:{tape_id}"


def test_file_paths_unknown_tapes_and_bad_books_are_refused_at_submit(srv):
    for path in ("/etc/passwd", "examples/loan_tape.csv"):
        err = tape_run(srv, path, 422)["error"]
        assert err["code"] == "invalid_config"
        assert err["details"] == [{"loc": ["portfolio", "loans"], "msg": (
            f"portfolio.loans: a server run takes rows or tape:<id>, not a file path, got "
            f"'{path}'")}]
    err = tape_run(srv, "tape:nonexistent", 422)["error"]
    assert err["details"][0]["loc"] == ["portfolio", "loans"]
    assert "no loan tape 'nonexistent' for this key" in err["message"]
    stranger = str(uuid.uuid4())
    assert f"no loan tape '{stranger}'" in tape_run(srv, f"tape:{stranger}", 422)["error"]["message"]
    tape_id = upload(srv, EXAMPLE.read_bytes())["id"]
    history = tape_run(srv, f"tape:{tape_id}", 422, history="/etc/passwd")["error"]
    assert history["details"] == [{"loc": ["portfolio", "history"], "msg": (
        "portfolio.history: a server run takes rows, not a file path, got '/etc/passwd'")}]
    # the book is validated before anything runs: loans originated after as_of
    early = tape_run(srv, f"tape:{tape_id}", 422, as_of="2024-01")["error"]
    first = early["details"][0]
    assert first == {"loc": ["portfolio", "loans", 2, "origination_date"], "msg": (
        "portfolio.loans: row 2, origination_date: must not be after as_of (2024-01-31), "
        "got '2025-01-25'")}
    analysis = {"kind": "stress", "preset": "100m", "params": {"scenarios": ["mvd_20"]},
                "overrides": {"portfolio": {"loans": "/etc/passwd", **POSITION}}}
    assert "not a file path" in call(srv, "post", "/api/analyses", 422,
                                     body=analysis)["error"]["message"]
    status, page = srv.request("GET", "/simulations")
    assert status == 200 and page["items"] == []  # nothing was queued


def test_runner_inlines_the_tape_and_names_a_vanished_one(tmp_path, example_rows):
    """``with_tapes`` around the real ``simulate``: the engine gets the rows, the result
    event says ``tape:<id>`` again; a tape gone since submit fails the run by name."""
    with Store(tmp_path / "s.db") as store:
        tape_id = str(uuid.uuid4())
        store.save_tape(tape_id, "alice", json.dumps(example_rows), len(example_rows))
        cfg = equihome.load_config("100m", {"num_simulations": 20, "monte_carlo_seed": 11,
                                            "portfolio": {"loans": f"tape:{tape_id}",
                                                          **POSITION}}).to_dict()
        events: list[dict] = []
        out = with_tapes(equihome.simulate, store)(cfg, on_event=events.append)
        assert json.loads(out.to_json())["statistics"] == local_statistics(example_rows)
        [final] = [e for e in events if e["type"] == "result"]
        assert final["result"]["config"]["portfolio"]["loans"] == f"tape:{tape_id}"
        assert out.to_dict()["config"]["portfolio"]["loans"] == example_rows
        store.delete_tape(tape_id)
        with pytest.raises(SimulationError, match=rf"^portfolio.loans: loan tape 'tape:{tape_id}' "
                                                  "was deleted after this run was submitted"):
            with_tapes(equihome.simulate, store)(cfg)


def test_queued_run_survives_a_restart_and_holds_its_tape(tmp_path, example_rows):
    srv = ServerProcess(db=tmp_path / "restart.db", workers=1).start()
    try:
        tape_id = upload(srv, EXAMPLE.read_bytes())["id"]
        long = call(srv, "post", SIMULATIONS, 201, body={
            "preset": "100m", "overrides": {"num_simulations": LONG}})
        wait_status(srv, long["id"], "running")
        queued = tape_run(srv, f"tape:{tape_id}")
        err = call(srv, "delete", TAPE, 409, id=tape_id)["error"]
        assert err["message"] == (f"loan tape {tape_id} is used by 1 queued or running run(s) "
                                  f"({queued['id']}): cancel them or wait until they finish")
        srv.stop()
        srv.start()  # both runs are re-queued from the store; the tape run resolves its tape
        call(srv, "post", "/api/simulations/{id}/cancel", 202, id=long["id"])
        assert wait_status(srv, queued["id"], ("completed", "failed"))["status"] == "completed"
        assert get_result(srv, queued["id"])["statistics"] == local_statistics(example_rows)
        call(srv, "delete", TAPE, 204, id=tape_id)  # no run needs it any more
        assert "no loan tape" in tape_run(srv, f"tape:{tape_id}", 422)["error"]["message"]
        assert_no_tracebacks(srv)
    finally:
        srv.stop()


# --------------------------------------------------------------------------- quota, loop


def test_tape_bytes_count_in_the_key_quota(tmp_path, example_rows):
    size = stored_bytes(example_rows)
    with Store(tmp_path / "unit.db") as store:  # the accounting itself, to the byte
        store.create("run-1", "alice", {"a": 1})
        runs, used = store.usage("alice")
        body = json.dumps(example_rows, separators=(",", ":"), ensure_ascii=False)
        store.save_tape("t-1", "alice", body, 500)
        assert store.usage("alice") == (runs, used + size) and store.usage("bob") == (0, 0)
        assert store.rekey_owners({"alice": "alice-2"}) == 1
        assert store.usage("alice-2") == (runs, used + size)
        assert store.delete_tape("t-1") and store.usage("alice-2") == (runs, used)
    # a server whose quota is exactly one example tape
    srv = ServerProcess(db=tmp_path / "quota.db",
                        extra=("--max-stored-mb", repr(size / 2**20))).start()
    try:
        first = upload(srv, EXAMPLE.read_bytes())
        assert listed(srv)[0]["bytes"] == size
        err = upload(srv, EXAMPLE.read_bytes(), 507)["error"]
        assert err["code"] == "quota_exceeded" and "delete loan tapes" in err["message"]
        # the tape's bytes count with the key's runs: no room for a run's config either
        small = {"preset": "100m", "overrides": {"num_simulations": 20}}
        assert call(srv, "post", SIMULATIONS, 507, body=small)["error"]["code"] == "quota_exceeded"
        assert upload(srv, EXAMPLE.read_bytes(), key=KEY_B)["rows"] == 500  # quotas are per key
        call(srv, "delete", TAPE, 204, id=first["id"])  # freed
        assert upload(srv, EXAMPLE.read_bytes())["rows"] == 500
        assert_no_tracebacks(srv)
    finally:
        srv.stop()


def test_parsing_a_large_tape_does_not_block_the_event_loop(srv):
    body = example_with(20_000)  # the most a tape may have
    answer: list[Any] = []
    uploading = threading.Thread(target=lambda: answer.append(upload(srv, body)))
    health: list[float] = []
    start = time.monotonic()
    uploading.start()
    while uploading.is_alive():
        t = time.monotonic()
        status, _ = srv.request("GET", "/health", key=None)
        health.append(time.monotonic() - t)
        assert status == 200
    took = time.monotonic() - start
    uploading.join()
    assert answer and answer[0]["rows"] == 20_000
    # validating 20,000 loans takes the server ~1 s; /health kept answering meanwhile
    assert len(health) >= 10, (took, health)
    assert max(health) < took / 3, (took, max(health))


# --------------------------------------------------------------------------- the document


def test_every_documented_tape_answer_is_produced(tmp_path, example_rows):
    """A tape-route status the document lists and no server gives would be a lie: produce
    each (the 401s, 413, 415, 422, 507, 404s, 409, 200s, 201, 204), each validated."""
    size = stored_bytes(example_rows)
    srv = ServerProcess(db=tmp_path / "doc.db", workers=1,
                        extra=("--max-stored-mb", repr((size + 32 * 1024) / 2**20))).start()
    try:
        unknown = str(uuid.uuid4())
        for method, template in (("post", TAPES), ("get", TAPES), ("get", TAPE),
                                 ("delete", TAPE)):
            call(srv, method, template, 401, key=None, id=unknown)
        upload(srv, b"x", 415, content_type="application/json")
        upload(srv, b" " * (MAX_TAPE_BODY + 1), 413)
        upload(srv, BAD, 422)
        tape_id = upload(srv, EXAMPLE.read_bytes())["id"]
        upload(srv, EXAMPLE.read_bytes(), 507)
        listed(srv)
        call(srv, "get", TAPE, 200, id=tape_id)
        call(srv, "get", TAPE, 404, id=unknown)
        call(srv, "delete", TAPE, 404, id=unknown)
        long = call(srv, "post", SIMULATIONS, 201, body={
            "preset": "100m", "overrides": {"num_simulations": LONG}})
        wait_status(srv, long["id"], "running")
        queued = tape_run(srv, f"tape:{tape_id}")
        call(srv, "delete", TAPE, 409, id=tape_id)
        for run in (queued, long):
            call(srv, "post", "/api/simulations/{id}/cancel", 202, id=run["id"])
            wait_status(srv, run["id"], "cancelled")
        call(srv, "delete", TAPE, 204, id=tape_id)
        assert_no_tracebacks(srv)
    finally:
        srv.stop()
    documented = {(path, method, status) for path, item in OPENAPI["paths"].items()
                  if path.startswith(TAPES) for method, op in item.items()
                  if method != "options" and isinstance(op, dict) and "responses" in op
                  for status in op["responses"]}
    assert len(documented) == 15
    assert documented - SEEN == set(), "documented but never produced"


# --------------------------------------------------------------------------- Jupyter


@pytest.fixture
def jp_server_config(tmp_path):
    return {"ServerApp": {"jpserver_extensions": {"equihome_jupyter": True}},
            "EquihomeExtension": {"db_path": str(tmp_path / "ext.db")}}


async def test_the_jupyter_extension_serves_the_tape_routes(jp_fetch, example_rows):
    """The same handlers under {base_url}equihome/api with Jupyter's auth: the upload streams
    (16 MiB limit, 413 beyond), 415 for another media type, and a run takes tape:<id>."""
    body = EXAMPLE.read_bytes()

    async def fetch(*path: str, **kw: Any) -> tuple[int, Any]:
        try:
            r = await jp_fetch("equihome", "api", *path, **kw)
        except tornado.httpclient.HTTPClientError as err:
            assert err.response is not None
            r = err.response
        return r.code, json.loads(r.body or b"null")

    code, created = await fetch("loan-tapes", method="POST", body=body,
                                headers={"Content-Type": "text/csv"})
    assert code == 201 and created["rows"] == 500
    code, got = await fetch("loan-tapes", created["id"])
    assert code == 200 and got["loans"] == example_rows
    code, err = await fetch("loan-tapes", method="POST", body=body + b"\n" * MAX_TAPE_BODY,
                            headers={"Content-Type": "text/csv"})
    assert code == 413 and err["error"]["code"] == "too_large"
    code, err = await fetch("loan-tapes", method="POST", body=body,
                            headers={"Content-Type": "text/plain"})
    assert code == 415 and err["error"]["code"] == "unsupported_media_type"
    run = {"preset": "100m", "overrides": {"num_simulations": 20, "portfolio": {
        "loans": f"tape:{created['id']}", **POSITION}}}
    code, rec = await fetch("simulations", method="POST", body=json.dumps(run))
    assert code == 201 and rec["config"]["portfolio"]["loans"] == f"tape:{created['id']}"
    code, _ = await fetch("simulations", rec["id"], method="DELETE")
    assert code == 204
    code, _ = await fetch("loan-tapes", created["id"], method="DELETE")
    assert code == 204
