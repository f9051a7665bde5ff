"""Opening an engine by name (what ``--engine`` chooses)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from csmine.errors import EngineError

if TYPE_CHECKING:
    from event_store.application import TicketStore

    from csmine.engines.base import Engine
    from csmine.eventlog.filters import LogFilter


def open_engine(name: str, *, store: TicketStore | None = None, parquet: str | None = None,
                log_filter: LogFilter | None = None, spark_master: str | None = None, **settings: Any) -> Engine:
    """The engine ``name`` over the export folder ``parquet`` or the open ``store``.

    Args:
        name: ``duckdb`` (``parquet`` if given, else ``store``), ``postgres`` (``store``,
            a PostgreSQL one) or ``spark`` (``parquet``).
        log_filter: tickets to keep (opening-time window, case fields).
        spark_master: Spark's master URL.
        settings: passed to the engine (e.g. DuckDB's ``threads``, ``memory_limit``, ``spill``).

    Raises:
        EngineError: the engine cannot read what was given.
    """
    if name == "duckdb":
        from csmine.engines.base import DuckDBEngine

        source = parquet if parquet is not None else store
        if source is None:
            raise EngineError("--engine duckdb needs a store or --parquet DIR")
        return DuckDBEngine(source, log_filter, **settings)
    if name == "postgres":
        from csmine.engines.base import PostgresEngine

        if store is None:
            raise EngineError("--engine postgres needs a PostgreSQL store (--store postgresql://...)")
        return PostgresEngine(store, log_filter)
    if name == "spark":
        if parquet is None:
            raise EngineError("--engine spark reads a Parquet export: write one with "
                              "`csmine export DIR --format parquet --partition month` and pass --parquet DIR")
        from csmine.engines.spark import SparkEngine  # type: ignore[import-not-found,unused-ignore]

        engine: Engine = SparkEngine(parquet, log_filter, master=spark_master, **settings)
        return engine
    raise EngineError(f"unknown engine {name!r}: use local, duckdb, spark or postgres")


__all__ = ["open_engine"]
