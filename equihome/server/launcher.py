"""A real ``equihome serve`` in a subprocess on a free port, for tests, benchmarks and scripts.

>>> srv = ServerProcess("sims.db", keys=("my-key",)).start()
>>> srv.request("GET", "/health")
(200, {'status': 'ok', ...})
>>> srv.stop()

The child runs the same ``equihome`` as this process. Its log is collected in ``output``
(read continuously, so the child never blocks on a full pipe). It serves once it has printed
its banner (its socket is bound and its run manager started by then); ``start`` returns
after one ``/health`` answer, with the whole banner in ``output``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import Any

BANNER = re.compile(r"serving on http://[^:]+:(\d+)")  # app.banner's first line
PACKAGE_ROOT = Path(__file__).resolve().parents[2]     # the folder that holds equihome/


@dataclass
class ServerProcess:
    """``equihome serve --host HOST --port PORT --db DB --workers N --api-key K ... EXTRA``.

    port 0 picks a free port (``port`` holds the bound one once started, and a restart
    reuses it). ``request`` and ``ws_url`` use the first of ``keys`` unless told otherwise.
    """

    db: Path | str
    keys: tuple[str, ...] = ()
    workers: int = 2
    extra: tuple[str, ...] = ()
    port: int = 0
    host: str = "127.0.0.1"
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)
    _pump: threading.Thread | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.base}/api"

    def _key(self, key: str | None | EllipsisType) -> str | None:
        if key is ...:
            return self.keys[0] if self.keys else None
        return key

    def ws_url(self, key: str | None | EllipsisType = ..., path: str = "/ws") -> str:
        """The WebSocket URL at ``path`` with ``?api_key=`` (none when key is None)."""
        key = self._key(key)
        q = f"?api_key={key}" if key is not None else ""
        return f"ws://{self.host}:{self.port}{path}{q}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start (or restart) the server; return once it answers and its banner is in ``output``.

        RuntimeError, with its log, if it exits or does not serve within ``timeout`` s.
        """
        cmd = [sys.executable, "-m", "equihome.cli", "serve", "--host", self.host,
               "--port", str(self.port), "--db", str(self.db), "--workers", str(self.workers)]
        for k in self.keys:
            cmd.append(f"--api-key={k}")  # one argument: a key may begin with "-"
        cmd += list(self.extra)
        path = os.pathsep.join(p for p in (str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, "PYTHONUNBUFFERED": "1",
                                                     "PYTHONPATH": path})
        bound: list[int] = []
        serving = threading.Event()   # the banner's first line (its port) was read, or EOF
        settled = threading.Event()   # a line after the banner was read, or EOF

        def pump(proc: subprocess.Popen = self.proc) -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if bound and not line.startswith(" "):  # the banner's lines are indented
                    settled.set()
                self.output.append(line)
                m = None if bound else BANNER.search(line)
                if m:
                    bound.append(int(m.group(1)))
                    serving.set()
            serving.set()
            settled.set()

        self._pump = threading.Thread(target=pump, daemon=True, name="equihome-server-log")
        self._pump.start()
        deadline = time.monotonic() + timeout
        serving.wait(timeout)
        if bound:
            self.port = bound[0]
            try:  # its answer is logged after the banner: the whole banner is in output then
                self.request("GET", "/health", key=None,
                             timeout=max(0.1, deadline - time.monotonic()))
            except OSError:
                pass  # reported below
        if not (bound and settled.wait(max(0.0, deadline - time.monotonic()))):
            self.stop(signal.SIGKILL)
            raise RuntimeError(f"the server did not start within {timeout} s:\n"
                               + "".join(self.output))
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop the process (SIGTERM: graceful; SIGKILL: a crash) and return its exit code,
        once its whole log is in ``output``."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._pump is not None:
            self._pump.join(timeout)
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self if self.proc is not None and self.proc.poll() is None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request(self, method: str, path: str, body: Any = None,
                key: str | None | EllipsisType = ..., raw: bytes | None = None,
                headers: dict | None = None, timeout: float = 30.0) -> tuple[int, Any]:
        """(status, parsed JSON body or None) of a REST call; ``path`` is relative to /api
        unless it is a full URL. ``key`` goes in X-API-Key (None: no key)."""
        url = path if path.startswith("http") else f"{self.api}{path}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        key = self._key(key)
        if key is not None:
            hdrs["X-API-Key"] = key
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            text = err.read()
            return err.code, json.loads(text) if text else None
