"""The Jupyter server extension of the Equihome Sim Engine (package ``equihome_jupyter``).

It mounts the standalone server's handlers under ``{base_url}equihome/`` (REST at
``equihome/api/...``, WebSocket at ``equihome/ws``) with Jupyter's own authentication, XSRF
protection and WebSocket origin checks. One run manager and SQLite store per Jupyter server;
the database path is ``EquihomeExtension.db_path`` (default: ``equihome.db`` in the Jupyter
data dir).
"""

from __future__ import annotations

from .app import EquihomeExtension

__all__ = ["EquihomeExtension", "_jupyter_server_extension_points"]


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "equihome_jupyter", "app": EquihomeExtension}]
