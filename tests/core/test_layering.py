"""The import direction `shared` <- `nf_skills` <- `nf_services` <- `nf_assets` <- `nf_cli` /
`nf_gateway`, and no import cycles, read from the source (function-level imports included). Both
known-debt lists are empty now; keep them so."""

from __future__ import annotations

from nf_cli import layering

# (importer, imported) pairs of modules that import a higher layer
KNOWN_UPWARD: set[tuple[str, str]] = set()
KNOWN_CYCLES: set[frozenset[str]] = set()


def _graph() -> dict[str, set[str]]:
    return layering.graph()


def _package_level(module: str, pkg: str) -> bool:
    return module == pkg or module.startswith(pkg + ".")


def test_no_new_import_of_a_higher_layer():
    upward = set()
    for mod, deps in _graph().items():
        for dep in deps:
            if layering.layer(dep) > layering.layer(mod):
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
