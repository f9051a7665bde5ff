"""Query engines: the aggregates written once as SQL (:mod:`csmine.engines.queries`), run by
DuckDB, Spark or PostgreSQL, their results turned into csmine's result objects
(:mod:`csmine.engines.results`); ``local`` is the in-process reference path."""

from __future__ import annotations

from typing import Any

from csmine._lazy import attach

__all__ = ["ENGINES", "DuckDBEngine", "Engine", "PostgresEngine", "VariantConformance", "engine_conformance",
           "engine_map", "engine_ticket_figures", "engine_variants", "open_engine"]

ENGINES = ("local", "duckdb", "spark", "postgres")

__getattr__: Any
__dir__: Any
__getattr__, __dir__ = attach(__name__, {
    "DuckDBEngine": "base", "Engine": "base", "PostgresEngine": "base",
    "VariantConformance": "results", "engine_conformance": "results",
    "engine_map": "results", "engine_ticket_figures": "results",
    "engine_variants": "results", "open_engine": "open",
})
