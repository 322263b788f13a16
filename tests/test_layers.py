"""The tree is the architecture: each layer imports only from the layers below it, and no module
imports itself back through others (counting imports inside functions and `importlib` strings)."""

from __future__ import annotations

from import_graph import graph, imports_of, modules

FOUNDATION = {"compressors", "compressors.environment", "compressors.artifacts", "compressors.progress", "compressors.data",
              "compressors.names", "compressors.stats"}
# layer -> the layers its modules may import from (a layer may always import from itself).
ALLOWED = {
    "foundation": set(),
    "formats": {"foundation"},
    "steps": {"foundation", "formats"},
    "measure": {"foundation", "formats"},
    "history": {"foundation", "measure"},
    "registry": {"foundation", "formats", "steps", "measure"},
    "suite": {"foundation", "formats", "steps", "measure", "registry"},
    "search": {"foundation", "formats", "steps", "measure", "history", "registry", "suite"},
    "commands": {"foundation", "formats", "steps", "measure", "history", "registry", "suite", "search"},
    "cli": {"foundation", "commands"},
    "plugin": {"foundation", "formats", "steps", "measure", "registry", "suite"},
}


def layer_of(module: str) -> str:
    if module in FOUNDATION:
        return "foundation"
    part = module.split(".")[1]
    if part in ("formats", "steps", "measure", "history", "commands", "search"):
        return part
    return {
        "profiles": "registry", "variants": "registry", "suite_config": "registry", "chains": "registry", "suite": "suite",
        "lock": "suite", "cli": "cli", "pytest_plugin": "plugin",
    }[part]


def test_every_module_imports_only_from_its_layer_and_the_layers_below() -> None:
    wrong = [
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
        for module, targets in graph().items()
        for target in sorted(targets)
        if layer_of(target) != layer_of(module) and layer_of(target) not in ALLOWED[layer_of(module)]
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back_through_others() -> None:
    edges = graph()
    cycles = []

    def visit(node: str, path: list[str], on_path: set[str], done: set[str]) -> None:
        on_path.add(node)
        for target in sorted(edges[node]):
            if target in on_path:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in done:
                visit(target, path + [target], on_path, done)
        on_path.discard(node)
        done.add(node)

    done: set[str] = set()
    for start in sorted(edges):
        if start not in done:
            visit(start, [start], set(), done)
    # The package's own __init__ is the parent of everything; it imports nothing.
    assert not [c for c in cycles if not c.startswith("compressors ->")], "\n".join(cycles)


def test_the_layer_map_knows_every_module() -> None:
    for module in modules():
        layer_of(module)


def test_the_checker_sees_imports_inside_functions_and_through_strings(tmp_path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "import importlib\n"
        "def f():\n    from compressors.steps import base\n"
        "def g():\n    return importlib.import_module('compressors.suite')\n"
        "LOADERS = {'torch': 'compressors.formats.dense:load'}\n"
    )
    known = {"compressors.steps.base", "compressors.steps", "compressors.suite", "compressors.formats.dense"}
    assert imports_of(source, "compressors.sample", known) == known
