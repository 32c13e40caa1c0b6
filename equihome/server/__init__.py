"""The engine server: REST and WebSocket over Tornado, SQLite persistence, API keys.

The engine never imports this package; the CLI's ``serve`` and the Jupyter extension do.
"""

from .app import make_app, routes, serve
from .handlers import Services
from .lifecycle import Status, transition
from .runs import RunManager, make_run_manager

__all__ = ["RunManager", "Services", "Status", "make_app", "make_run_manager", "routes", "serve",
           "transition"]
