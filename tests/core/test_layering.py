"""The import direction `shared` <- `nf_skills` <- `nf_services` <- `nf_assets` <- `nf_cli` /
`nf_gateway`, and no import cycles, read from the source (function-level imports included). Both
known-debt lists are empty now; keep them so."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYER = {
    "shared": 0,
    "nf_skills": 1,
    "nf_services": 2,
    "nf_assets": 3,
    "nf_cli": 4,
    "nf_gateway": 4,
}
# (importer, imported) pairs of modules that import a higher layer
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()


def _modules() -> dict[str, Path]:
    out = {}
    for top in LAYER:
        for path in (REPO / top).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    """Project modules `path` imports, resolved to the longest known module name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        for name in names:
            parts = name.split(".")
            for i in range(len(parts), 0, -1):
                if ".".join(parts[:i]) in known:
                    found.add(".".join(parts[:i]))
                    break
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(p, set(mods)) - {m} for m, p in mods.items()}


def _package_level(module: str, pkg: str) -> bool:
    return module == pkg or module.startswith(pkg + ".")


def test_no_new_import_of_a_higher_layer():
    upward = set()
    for mod, deps in _graph().items():
        for dep in deps:
            if LAYER[dep.split(".")[0]] > LAYER[mod.split(".")[0]]:
                known = {(a, b) for a, b in KNOWN_UPWARD if mod == a and _package_level(dep, b)}
                upward |= known or {(mod, dep)}
    assert upward - KNOWN_UPWARD == set(), "new imports against the layering"
    assert KNOWN_UPWARD - upward == set(), "fixed: remove from KNOWN_UPWARD"


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(frozenset(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_new_import_cycle():
    # package __init__ modules re-export their children: an edge into one is not a cycle
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in _graph().items()}
    cycles = _cycles(graph)
    assert cycles - KNOWN_CYCLES == set(), "new import cycles"
    assert KNOWN_CYCLES - cycles == set(), "fixed: remove from KNOWN_CYCLES"
