"""The package layout's import rules, checked on the source with ``ast`` (no imports run).

See docs/architecture.md: ``csmine`` -> ``event_store``, ``process_models``; only
``csmine.cli`` imports click or rich; nothing below the CLI imports it; the CLI,
``event_store`` and ``process_models`` never import back up; and the csmine
subpackages import each other without cycles, apart from the ones listed here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]

#: Cycles between csmine subpackages that are known and documented in
#: docs/architecture.md ("Known cycles"); each is a set of subpackages. Any other
#: cycle fails the test. None today; remove an entry when its cycle is broken.
KNOWN_CYCLES: list[frozenset[str]] = []


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth (lazy imports too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name == "__init__.py":
        here = here.rsplit(".", 1)[0] + ".__init__"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.rsplit(".", node.level)[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # ``from csmine.conformance import alignments`` imports csmine.conformance.alignments
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


def _subpackage(path: Path) -> str | None:
    """``eventlog`` for csmine/eventlog/loading.py; None for csmine/errors.py and the like."""
    parts = path.relative_to(ROOT / "csmine").parts
    return parts[0] if len(parts) > 1 else None


def _csmine_sub(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "csmine" or len(parts) < 2:
        return None
    return parts[1] if (ROOT / "csmine" / parts[1]).is_dir() else None


def package_graph() -> nx.DiGraph:
    """Subpackage -> subpackage edges of csmine (the facade csmine/__init__.py left out)."""
    graph = nx.DiGraph()
    for path in _sources("csmine"):
        src = _subpackage(path)
        if src is None:
            continue
        graph.add_node(src)
        for name in _imports(path, "csmine"):
            dst = _csmine_sub(name)
            if dst and dst != src:
                graph.add_edge(src, dst)
    return graph


def test_only_the_cli_imports_click_or_rich() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in ("csmine", "event_store", "process_models")
        for path in _sources(package)
        if package != "csmine" or _subpackage(path) != "cli"
        for name in _imports(path, package)
        if _top(name) in {"click", "rich"}
    ]
    assert not offenders, offenders


def test_event_store_and_process_models_do_not_import_csmine() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in ("event_store", "process_models")
        for path in _sources(package)
        for name in _imports(path, package)
        if _top(name) == "csmine"
    ]
    assert not offenders, offenders


def test_no_subpackage_imports_the_cli() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _sources("csmine")
        # __main__.py is ``python -m csmine``: the CLI's entry point
        if _subpackage(path) != "cli" and path.name != "__main__.py"
        for name in _imports(path, "csmine")
        if name == "csmine.cli" or name.startswith("csmine.cli.")
    ]
    assert not offenders, offenders


def test_no_import_cycles_between_subpackages_except_the_known_ones() -> None:
    graph = package_graph()
    cycles = [frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    unknown = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    assert not unknown, f"import cycles between csmine subpackages: {unknown}"
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert not stale, f"documented cycles that no longer exist (remove them): {stale}"


def test_the_graph_sees_the_packages() -> None:
    # guard against a test that passes because it finds nothing
    graph = package_graph()
    assert {"eventlog", "mining", "performance", "reports", "cli"} <= set(graph)
    assert graph.has_edge("cli", "eventlog")


#: Attributes of a TicketStore that are its internals: the SQL adapter, the event
#: recorder and mapper. Outside event_store the store is read through
#: event_store.readmodel.queries and event_store.readmodel.chunks.
_STORE_INTERNALS = {"db", "recorder", "mapper"}
_SQL_START = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM", "CREATE TABLE", "DROP TABLE", "WITH ")


def _store_internals_and_sql(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _STORE_INTERNALS \
                and isinstance(node.value, ast.Name) and node.value.id in {"store", "s", "self.store"}:
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in _STORE_INTERNALS \
                and isinstance(node.value, ast.Attribute) and node.value.attr == "store":
            found.append(f"line {node.lineno}: .store.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.lstrip().startswith(_SQL_START):  # upper-case keywords: SQL, not prose
            found.append(f"line {node.lineno}: SQL {node.value.strip()[:40]!r}")
    return found


#: Modules outside event_store allowed SQL on their own data (not the store's read model).
#: The engines query the `events` relation that event_store.readmodel.relation defines.
_SQL_ALLOWED_PREFIXES = ("csmine/engines/",)


def test_no_sql_or_store_internals_outside_event_store() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} {hit}"
        for path in _sources("csmine")
        if not str(path.relative_to(ROOT)).startswith(_SQL_ALLOWED_PREFIXES)
        for hit in _store_internals_and_sql(path)
    ]
    assert not offenders, (
        "read the store through event_store.readmodel.queries (e.g. attribute_decoder, event_rows, "
        "ticket_page, meta_value) or event_store.readmodel.chunks.read_columnar; add a query there "
        f"if one is missing: {offenders}"
    )


def test_the_sql_rule_sees_sql() -> None:
    # guard: the checker finds the read model's own SQL
    hits = _store_internals_and_sql(ROOT / "event_store" / "readmodel" / "queries.py")
    assert any("SQL 'SELECT" in h for h in hits)
    assert any("store.db" in h for h in hits)
