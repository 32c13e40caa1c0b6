"""The engine server: REST and WebSocket over Tornado, SQLite persistence, API keys.

The engine never imports this package; the CLI's ``serve`` and the Jupyter extension do.
"""

from .app import make_app, routes, serve
from .handlers import Services
from .runs import RunManager

__all__ = ["RunManager", "Services", "make_app", "routes", "serve"]
