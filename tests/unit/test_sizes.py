"""The size rule of docs/architecture.md: modules of at most 500 lines, functions of at most 60.

A module or function over the limit needs a reason written down: an entry in
``REASONS`` below, naming why it is longer (one pass sharing state, a table, ...).
The test fails when a new long one appears without a reason, and when a reason is
left for something that is no longer long (so the list stays true).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("csmine", "event_store", "process_models")
MODULE_LINES = 500
FUNCTION_LINES = 60

# "path" for a module, "path:function" for a function  ->  the reason it is longer.
REASONS: dict[str, str] = {}


def _long_ones(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(p for pkg in packages for p in (root / pkg).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n")
        if lines > MODULE_LINES:
            found[rel] = lines
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    found[f"{rel}:{node.name}"] = length
    return found


def test_long_modules_and_functions_have_a_written_reason():
    unexplained = {k: v for k, v in _long_ones().items() if k not in REASONS}
    assert not unexplained, (
        f"over {MODULE_LINES} lines a module or {FUNCTION_LINES} a function, without a reason "
        f"in tests/unit/test_sizes.py: split it by meaning, or write why: {unexplained}")


def test_every_reason_is_still_needed():
    stale = sorted(set(REASONS) - set(_long_ones()))
    assert not stale, f"these are no longer long; remove their reasons: {stale}"


def test_the_rule_counts_lines_as_written(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    ok_body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES - 1))
    long_body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    (pkg / "a.py").write_text(f"def fits():\n{ok_body}\n\n\ndef too_long():\n{long_body}\n")
    (pkg / "b.py").write_text("x = 1\n" * MODULE_LINES)
    (pkg / "c.py").write_text("x = 1\n" * (MODULE_LINES + 1))
    assert _long_ones(tmp_path, ("pkg",)) == {"pkg/a.py:too_long": FUNCTION_LINES + 1,
                                              "pkg/c.py": MODULE_LINES + 1}
