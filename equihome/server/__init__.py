"""The engine server: REST and WebSocket over Tornado, SQLite persistence, API keys.

The engine never imports this package; the CLI's ``serve`` and the Jupyter extension do.
"""

from equihome.server.app import make_app, routes, serve
from equihome.server.handlers import Services
from equihome.server.lifecycle import Status, transition
from equihome.server.runs import RunManager, make_run_manager

__all__ = ["RunManager", "Services", "Status", "make_app", "make_run_manager", "routes", "serve",
           "transition"]
