"""The package's import graph, read from its source: what tests/test_layers.py checks the layers
against, and what tests/steps/test_step_versions.py hashes for each step."""

from __future__ import annotations

import ast
from pathlib import Path

import compressors

PACKAGE = Path(compressors.__file__).parent


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Internal modules `path` imports anywhere in it, by statement or by `importlib.import_module("...")`."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            targets |= {arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("compressors.") and ":" in node.value:
            targets.add(node.value.split(":")[0])  # "module:function" registries
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(path, name, set(found)) for name, path in found.items()}


def reachable(graph: dict[str, set[str]], start: str, keep) -> set[str]:
    """`start` and every module it imports, directly or through others, that `keep(module)` accepts
    (the walk goes on only through accepted modules)."""
    found, todo = {start}, [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in found and keep(target):
                found.add(target)
                todo.append(target)
    return found
