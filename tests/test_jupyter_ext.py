"""The Jupyter server extension: loads, mounts REST + WebSocket under a prefix, Jupyter's auth."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jupyter_server")
import tornado.httpclient  # noqa: E402
import tornado.websocket  # noqa: E402

pytest_plugins = ["pytest_jupyter.jupyter_server"]

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"preset": "100m", "overrides": {"num_simulations": 64, "monte_carlo_seed": 7}}


@pytest.fixture
def jp_base_url():
    return "/my%20lab/"  # a base url with a character that needs escaping


@pytest.fixture
def allow_unauth():
    return False


@pytest.fixture
def jp_server_config(tmp_path, allow_unauth):
    return {"ServerApp": {"jpserver_extensions": {"equihome_jupyter": True},
                          "allow_unauthenticated_access": allow_unauth},
            "EquihomeExtension": {"db_path": str(tmp_path / "ext.db")}}


def url(jp_http_port, jp_base_url, path, scheme="http"):
    return f"{scheme}://localhost:{jp_http_port}{jp_base_url}equihome/{path}"


async def fetch_json(jp_fetch, *parts, **kw):
    r = await jp_fetch("equihome", *parts, **kw)
    return r.code, json.loads(r.body or b"null")


async def recv_until_final(ws, timeout=60.0):
    msgs = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        text = await asyncio.wait_for(ws.read_message(), max(0.1, deadline - loop.time()))
        assert text is not None, "socket closed early"
        msg = json.loads(text)
        msgs.append(msg)
        if msg["type"] in ("result", "error"):
            return msgs


async def test_extension_loaded(jp_serverapp):
    assert "equihome_jupyter" in jp_serverapp.extension_manager.extensions
    ext = jp_serverapp.extension_manager.extension_points["equihome_jupyter"].app
    assert ext.db_path.endswith("ext.db")


async def test_rest_and_ws_under_prefix(jp_fetch, jp_ws_fetch):
    code, health = await fetch_json(jp_fetch, "api", "health")
    assert code == 200 and health["status"] == "ok"
    code, rec = await fetch_json(jp_fetch, "api", "simulations", method="POST",
                                 body=json.dumps(SMALL))
    assert code == 201 and rec["status"] in ("queued", "running")
    ws = await jp_ws_fetch("equihome", "ws")
    ws.write_message(json.dumps({"action": "subscribe", "simulation_id": rec["id"]}))
    msgs = await recv_until_final(ws)
    ws.close()
    kinds = {m["type"] for m in msgs}
    assert msgs[-1]["type"] == "result", msgs[-1]
    assert {"progress", "module_started", "module_completed"} <= kinds
    assert all(m["simulation_id"] == rec["id"] for m in msgs)
    code, listing = await fetch_json(jp_fetch, "api", "simulations")
    assert [r["id"] for r in listing["items"]] == [rec["id"]]
    code, result = await fetch_json(jp_fetch, "api", "simulations", rec["id"], "result")
    assert result["metrics"]["irr"] == msgs[-1]["result"]["metrics"]["irr"]


async def test_analyses_under_prefix(jp_fetch, jp_ws_fetch):
    """The extension serves analyses too: create, watch a row per variant, read the table."""
    body = {"kind": "stress", "preset": "100m", "params": {"scenarios": ["haircut_10"]},
            "overrides": {"num_simulations": 40, "monte_carlo_seed": 3}}
    code, rec = await fetch_json(jp_fetch, "api", "analyses", method="POST",
                                 body=json.dumps(body))
    assert code == 201 and rec["kind"] == "stress"
    ws = await jp_ws_fetch("equihome", "ws")
    ws.write_message(json.dumps({"action": "subscribe", "simulation_id": rec["id"]}))
    msgs = await recv_until_final(ws)
    ws.close()
    rows = [m["data"]["row"]["scenario"] for m in msgs if m["type"] == "intermediate_result"]
    assert rows == ["base", "haircut_10"] and msgs[-1]["type"] == "result"
    code, result = await fetch_json(jp_fetch, "api", "analyses", rec["id"], "result")
    assert code == 200 and result == msgs[-1]["result"]
    assert result["rows"][1]["irr_p50"] < result["rows"][0]["irr_p50"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "token wrong-token"}])
async def test_rest_refuses_without_valid_token(jp_fetch, headers):
    for method, path, body in (("GET", ("api", "simulations"), None),
                               ("GET", ("api", "health"), None),
                               ("POST", ("api", "simulations"), json.dumps(SMALL))):
        with pytest.raises(tornado.httpclient.HTTPClientError) as err:
            await jp_fetch("equihome", *path, method=method, body=body,
                           headers={"Authorization": "", **headers}, follow_redirects=False)
        assert err.value.code == 403, (method, path)


@pytest.mark.parametrize("allow_unauth", [True])
async def test_never_open_with_allow_unauthenticated_access(jp_serverapp, jp_fetch, jp_ws_fetch,
                                                            allow_unauth):
    assert jp_serverapp.web_app.settings["allow_unauthenticated_access"] is True
    for path in (("api", "simulations"), ("api", "health")):
        with pytest.raises(tornado.httpclient.HTTPClientError) as err:
            await jp_fetch("equihome", *path, headers={"Authorization": ""},
                           follow_redirects=False)
        assert err.value.code == 403
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_ws_fetch("equihome", "ws", headers={"Authorization": ""})
    assert err.value.code == 403


@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_ws_refuses_without_valid_token(jp_ws_fetch, token):
    headers = {"Authorization": f"token {token}" if token else ""}
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_ws_fetch("equihome", "ws", headers=headers)
    assert err.value.code == 403


async def login(jp_serverapp, http_server_client, jp_base_url) -> tuple[str, str]:
    """Log in with the token like a browser: the login and _xsrf cookies, and the XSRF token."""
    page = await http_server_client.fetch(f"{jp_base_url}login", raise_error=False)
    xsrf = next(c.split(";", 1)[0].split("=", 1)[1] for c in page.headers.get_list("Set-Cookie")
                if c.startswith("_xsrf="))
    token = jp_serverapp.identity_provider.token
    r = await http_server_client.fetch(
        f"{jp_base_url}login", method="POST", follow_redirects=False, raise_error=False,
        body=f"password={token}&_xsrf={xsrf}", headers={"Cookie": f"_xsrf={xsrf}"})
    assert r.code == 302, r.code
    jar = "; ".join([f"_xsrf={xsrf}"] + [c.split(";", 1)[0] for c in r.headers.get_list("Set-Cookie")
                                         if not c.startswith("_xsrf=")])
    return jar, xsrf


async def test_ws_checks_origin(jp_serverapp, http_server_client, jp_base_url, jp_http_port):
    """A browser's cookie-authenticated WebSocket from another origin is refused."""
    jar, _ = await login(jp_serverapp, http_server_client, jp_base_url)
    host = f"127.0.0.1:{jp_http_port}"  # the host the login cookie was issued for

    def connect(origin):
        req = tornado.httpclient.HTTPRequest(f"ws://{host}{jp_base_url}equihome/ws",
                                             headers={"Cookie": jar, "Origin": origin})
        return tornado.websocket.websocket_connect(req)

    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await connect("http://evil.example.com")
    assert err.value.code == 403
    ws = await connect(f"http://{host}")
    ws.close()


async def test_xsrf_enforced_on_cookie_posts(jp_serverapp, jp_fetch, jp_base_url,
                                             http_server_client):
    jar, xsrf = await login(jp_serverapp, http_server_client, jp_base_url)
    # the login cookie alone authenticates a GET
    r = await jp_fetch("equihome", "api", "simulations", headers={"Authorization": "", "Cookie": jar})
    assert r.code == 200
    # a cookie-authenticated POST without the XSRF token is refused
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jp_fetch("equihome", "api", "simulations", method="POST", body=json.dumps(SMALL),
                       headers={"Authorization": "", "Cookie": jar})
    assert err.value.code == 403
    # with the token of the _xsrf cookie in X-XSRFToken, it is accepted
    r = await jp_fetch("equihome", "api", "simulations", method="POST", body=json.dumps(SMALL),
                       headers={"Authorization": "", "Cookie": jar, "X-XSRFToken": xsrf})
    assert r.code == 201


def test_server_config_file_enables_the_extension(tmp_path):
    """The jupyter_server_config.d file installed with the package enables the extension."""
    cfg = json.loads((ROOT / "jupyter_ext/jupyter-config/jupyter_server_config.d/"
                      "equihome_jupyter.json").read_text())
    assert cfg["ServerApp"]["jpserver_extensions"]["equihome_jupyter"] is True
    cfg_dir = tmp_path / "jupyter-config"  # a user config dir holding only the shipped file
    shutil.copytree(ROOT / "jupyter_ext/jupyter-config", cfg_dir)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(cfg_dir)}
    out = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "server", "extension", "list"],
                         capture_output=True, text=True, env=env, timeout=120)
    text = (out.stdout + out.stderr).replace("\x1b[32m", "").replace("\x1b[0m", "")
    assert "equihome_jupyter enabled" in text, text
    assert "equihome_jupyter  OK" in text or "equihome_jupyter OK" in text, text


async def test_connect_watches_a_run_over_the_jupyter_websocket(jp_serverapp, http_server_client,
                                                                jp_http_port,
                                                                jp_base_url):
    """equihome.connect against the extension: REST submit, WebSocket watch, same numbers."""
    import equihome
    from equihome.ui.remote import Connection

    conn = Connection(f"http://127.0.0.1:{jp_http_port}{jp_base_url}equihome/",
                      token=jp_serverapp.identity_provider.token)
    run = await asyncio.to_thread(conn.run, "100m", {"num_simulations": 64, "monte_carlo_seed": 7},
                                  None, False)
    result = await asyncio.to_thread(run.result, 60)
    local = equihome.simulate("100m", num_simulations=64, seed=7)
    assert result.metrics == local.metrics
    assert run.view.progress.value == 100.0


def test_dask_scheduler_setting_sends_runs_to_the_cluster():
    """`EquihomeExtension.dask_scheduler` makes the run manager submit Dask runs."""
    from equihome_jupyter.app import EquihomeExtension

    from equihome.run import engine

    ext = EquihomeExtension(db_path=":memory:", dask_scheduler="tcp://127.0.0.1:8786")
    plain = EquihomeExtension(db_path=":memory:")
    ext.initialize_settings()
    plain.initialize_settings()
    try:
        assert ext.runs.runner.func is engine.simulate
        assert ext.runs.runner.keywords == {"backend": "dask", "client": "tcp://127.0.0.1:8786"}
        assert plain.runs.runner is engine.simulate
    finally:
        ext.store.close()
        plain.store.close()
