"""A real `equihome serve` process on a free port, for the server, schema and SDK tests.

The launcher is ``equihome.server.launcher.ServerProcess`` (the benchmarks use it too);
here it starts with the two test keys, and requests go with KEY_A unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from equihome.server.launcher import ServerProcess as Launcher

KEY_A = "test-key-alpha-0123456789"
KEY_B = "test-key-bravo-9876543210"


@dataclass
class ServerProcess(Launcher):
    """A running server with the keys KEY_A and KEY_B (the first is the default)."""

    keys: tuple[str, ...] = (KEY_A, KEY_B)
