"""The backend interface: what runs a validated plan's chunks (local threads, a Dask cluster).

A backend is a callable ``backend(plan, tracker)`` that runs every chunk of ``plan`` and
reports to ``tracker`` (an ``engine.RunTracker``: see its docstring for the calls). Backend
modules register a factory under a name; the engine looks backends up here and imports
none of them. A backend whose dependency is optional (Dask) is known by its module name
and imported on first use, when it registers itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

Backend = Callable[[Any, Any], None]          # (plan, tracker) -> None
BackendFactory = Callable[..., Backend]       # (client=..., task_size=...) -> Backend

_FACTORIES: dict[str, BackendFactory] = {}
_LAZY = {"dask": "equihome.run.distributed",     # name -> module that registers it on import
         "local": "equihome.run.local"}


def register(name: str, factory: BackendFactory) -> None:
    """Make ``factory(client=..., task_size=...)`` the backend called ``name``."""
    _FACTORIES[name] = factory


def names() -> tuple[str, ...]:
    """Every backend name, registered or importable."""
    return tuple(sorted(set(_FACTORIES) | set(_LAZY)))


def get(name: str, client: Any = None, task_size: int | None = None) -> Backend:
    """The backend ``name`` with its options (ValueError if unknown; ImportError naming the
    extra to install when its dependency is missing)."""
    if name not in _FACTORIES and name in _LAZY:
        importlib.import_module(_LAZY[name])
    if name not in _FACTORIES:
        raise ValueError(f"backend: must be one of {', '.join(map(repr, names()))}, got {name!r}")
    return _FACTORIES[name](client=client, task_size=task_size)
