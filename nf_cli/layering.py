"""The project's import graph read from the source (function-level imports included), and the
layer of each top-level package: a module may import its own layer and the ones below."""

from __future__ import annotations

import ast
from pathlib import Path

from shared.config import REPO_ROOT

# package -> (layer, what lives there); nf_cli and nf_gateway are both entry points
LAYERS = {
    "shared": (0, "settings, database, errors, storage, telemetry, models: no nf imports"),
    "nf_skills": (1, "SKILL_01..22 as pure functions with pydantic contracts"),
    "nf_services": (2, "services: recorder, providers, media, governance, RAG, admission"),
    "nf_assets": (3, "Dagster definitions, one module per domain, merged in definitions.py"),
    "nf_cli": (4, "the `nf` command"),
    "nf_gateway": (4, "the HTTP gateway (FastAPI)"),
}


def modules(root: Path = REPO_ROOT) -> dict[str, Path]:
    out = {}
    for top in LAYERS:
        for path in (root / top).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path, known: set[str]) -> set[str]:
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


def graph(root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    mods = modules(root)
    return {m: imports(p, set(mods)) - {m} for m, p in mods.items()}


def layer(module: str) -> int:
    return LAYERS[module.split(".")[0]][0]
