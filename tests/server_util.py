"""A real `equihome serve` process on a free port, for the server, schema and SDK tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

KEY_A = "test-key-alpha-0123456789"
KEY_B = "test-key-bravo-9876543210"


@dataclass
class ServerProcess:
    """A running server: its URLs, keys, database file and process."""

    db: Path
    keys: tuple[str, ...] = (KEY_A, KEY_B)
    workers: int = 2
    extra: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen | None = None
    output: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.base}/api"

    def ws_url(self, key: str | None = KEY_A, path: str = "/ws") -> str:
        q = f"?api_key={key}" if key is not None else ""
        return f"ws://127.0.0.1:{self.port}{path}{q}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start (or restart, on the same port if it had one) and wait until /health answers."""
        cmd = [sys.executable, "-m", "equihome.cli", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--db", str(self.db), "--workers", str(self.workers)]
        for k in self.keys:
            cmd += ["--api-key", k]
        cmd += list(self.extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server exited:\n" + "".join(self.output))
            self.output.append(line)
            m = re.search(r"serving on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        self._drain_output()
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.api}/health", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not answer /health")

    def _drain_output(self) -> None:
        import threading

        def pump(stream=self.proc.stdout, out=self.output):
            for line in stream:
                out.append(line)

        threading.Thread(target=pump, daemon=True).start()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop the process (SIGTERM: graceful; SIGKILL: a crash) and return its exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def request(self, method: str, path: str, body=None, key: str | None = KEY_A,
                raw: bytes | None = None, headers: dict | None = None) -> tuple[int, object]:
        """(status, parsed JSON body or None) of a REST call; path is relative to /api."""
        url = path if path.startswith("http") else f"{self.api}{path}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            hdrs["X-API-Key"] = key
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            text = err.read()
            return err.code, json.loads(text) if text else None
