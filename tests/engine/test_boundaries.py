"""The house's layering, checked on the source: the engine imports no HTTP library and
no provider, and no two modules of ``mockserver`` import each other, directly or round
about (a local import or one under ``TYPE_CHECKING`` counts: it hides a cycle, it does
not break it)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mockserver"

#: What the engine may not import: HTTP libraries, the HTTP layer, the providers.
ENGINE_FORBIDDEN = ("aiohttp", "multidict", "yarl", "mockserver.providers", "mockserver.app",
                    "mockserver.admin", "mockserver.directives", "mockserver.faultwire", "mockserver.files",
                    "mockserver.intake", "mockserver.outbound", "mockserver.recording", "mockserver.serving",
                    "mockserver.testing")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """Every module ``name`` imports anywhere in its source, as absolute names (for
    ``from x import y``: ``x.y`` when that is a module of the package, else ``x``)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                out.add(candidate if candidate in MODULES else source)
    return out


GRAPH = {name: {m for m in imported(name) if m in MODULES and m != name} for name in MODULES}


def test_the_graph_sees_the_package():
    # The checks below mean nothing if the walk found no modules or no edges.
    assert "mockserver.engine.core" in MODULES and "mockserver.providers.pixverse.adapter" in MODULES
    assert "mockserver.engine.state" in GRAPH["mockserver.engine.core"]
    assert "mockserver.engine.faults" in GRAPH["mockserver.engine.state"]
    assert "aiohttp" in imported("mockserver.providers.base")


def test_the_engine_imports_no_http_and_no_provider():
    bad = {}
    for name in MODULES:
        if name == "mockserver.engine" or name.startswith("mockserver.engine."):
            hits = sorted(m for m in imported(name)
                          if any(m == f or m.startswith(f + ".") for f in ENGINE_FORBIDDEN))
            if hits:
                bad[name] = hits
    assert bad == {}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_mockserver():
    # A package importing its own submodules (``engine/__init__`` -> ``engine.core``)
    # is how a package names its API; a submodule importing the package back is not.
    graph = {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in GRAPH.items()}
    assert cycles(graph) == []


def test_settings_know_no_provider():
    # Settings hold provider sections as data; ``providers.configure`` binds them to the
    # registry, so the adapters may import settings and never the other way round.
    assert not {m for m in imported("mockserver.settings") if m.startswith("mockserver.providers")}


def test_adapters_reach_the_engine_through_its_methods():
    # Credits and random draws go through Engine methods (balance, admit, was_refunded,
    # new_seed ...): an adapter reaching into engine.ledger or engine.rng bypasses them.
    reaches = []
    for name, path in MODULES.items():
        if not name.startswith("mockserver.providers."):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in ("ledger", "rng"):
                owner = node.value
                if (isinstance(owner, ast.Attribute) and owner.attr == "engine") or \
                        (isinstance(owner, ast.Name) and owner.id == "engine"):
                    reaches.append(f"{name}:{node.lineno}")
    assert reaches == []
