"""Shared fixtures."""

from __future__ import annotations

import pytest
from server_util import ServerProcess


@pytest.fixture
def server(tmp_path):
    """A real `equihome serve` on a free port with two API keys (KEY_A, KEY_B)."""
    srv = ServerProcess(db=tmp_path / "equihome.db").start()
    yield srv
    srv.stop()
