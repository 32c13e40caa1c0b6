"""The shape ARCHITECTURE.md fixes: no import cycle, the engine knows nothing of the server or
the widgets, no source file far past 600 lines. Read from the source (every import, lazy
ones inside functions included), so a cycle hidden behind a late import still counts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "equihome"
MAX_LINES = 650  # "no file over ~600 lines"

#: Modules the engine's own stages and orchestration consist of (dotted, without the package).
ENGINE = {"engine", "backends", "loan_generator", "price_path_simulator", "exit_simulator",
          "cashflow_aggregator", "fee_engine", "waterfall_engine", "metrics",
          "guardrail_monitor", "config", "layout", "kernels", "reference", "result"}
FORBIDDEN_FOR_ENGINE = ("equihome.server", "equihome.ui.widgets", "equihome.ui.explorer",
                        "equihome.ui.remote", "equihome.run.distributed", "tornado", "ipywidgets",
                        "sqlite3", "IPython")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path, modules: frozenset[str] = frozenset()) -> set[str]:
    """Every module ``path`` imports, anywhere in the file, as absolute dotted names.

    ``from pkg import a`` counts as importing ``pkg.a`` when that is one of ``modules``
    (a submodule), else as importing ``pkg`` itself.
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names}
            out.update(subs & modules if subs <= modules else {base})
    return out


def graph() -> dict[str, set[str]]:
    """Import edges between the package's own modules."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = frozenset(files) | {module_name(p) for p in PACKAGE.rglob("*.pyx")}
    return {name: {m for m in imports_of(path, known) if m in files and m != name}
            for name, path in files.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    edges = graph()
    assert len(edges) > 20
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("short", sorted(ENGINE))
def test_the_engine_imports_no_server_widget_or_backend(short):
    path = next(p for p in PACKAGE.rglob("*.py") if p.stem == short)
    bad = sorted(m for m in imports_of(path) if m.startswith(FORBIDDEN_FOR_ENGINE))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_no_source_file_is_far_past_600_lines():
    sources = [p for ext in ("*.py", "*.pyx", "*.pxi") for p in PACKAGE.rglob(ext)]
    sources += list((ROOT / "jupyter_ext").rglob("*.py"))
    long = {str(p.relative_to(ROOT)): n for p in sources
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
