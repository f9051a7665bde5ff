"""The package's imports point one way, and stay light.

Each module imports only modules below it in :data:`LAYERS` (the order in the
package docstring), so there is no import circle, not even one hidden in a
function; nothing imports the store, the CLI or csmine; pm4py, lxml and graphviz
are imported inside the functions that use them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import process_models

PACKAGE = Path(process_models.__file__).parent

#: Bottom up; a module may import from the ones before it.
LAYERS = (
    "errors",
    "flow",
    "petri",
    "workflow_net",
    "model",
    "toml_format",
    "shipped",
    "render",
    "bpmn",
    "validation",
    "loading",
    "diff",
)
FORBIDDEN = ("csmine", "event_store", "click", "rich")
HEAVY = ("pm4py", "lxml", "graphviz", "pandas", "numpy")


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"))


def imported(tree, *, top_level_only=False):
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_has_a_layer():
    assert {layer(m) for m, _ in modules()} - {None} == set(LAYERS)


def test_imports_point_down_the_layers():
    wrong = []
    for module, tree in modules():
        if module == "process_models":
            continue  # the public face re-exports every layer
        for target in imported(tree):
            if target == "process_models":
                wrong.append((module, target))
            elif target.startswith("process_models."):
                here, there = LAYERS.index(layer(module)), LAYERS.index(layer(target))
                if there > here:
                    wrong.append((module, target))
    assert wrong == []


def test_no_circles_inside_the_subpackages():
    graph = {}
    for module, tree in modules():
        graph[module] = {t for t in imported(tree) if t.startswith("process_models.")}

    def visit(module, path):
        assert module not in path, " -> ".join([*path, module])
        for target in graph.get(module, ()):
            if layer(target) == layer(module) and target != module:
                visit(target, (*path, module))

    for module in graph:
        if module.count(".") >= 2:  # a module inside a subpackage
            visit(module, ())


def test_no_store_cli_or_csmine_and_heavy_libraries_only_in_functions():
    for module, tree in modules():
        roots = {t.split(".")[0] for t in imported(tree)}
        assert not roots & set(FORBIDDEN), module
        top = {t.split(".")[0] for t in imported(tree, top_level_only=True)}
        assert not top & set(HEAVY), module


def test_importing_the_package_loads_no_heavy_library():
    code = (
        "import sys, process_models, process_models.bpmn, process_models.render; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
