"""Engines: where the aggregates of :mod:`csmine.engines.queries` run.

An :class:`Engine` runs query texts over its ``events`` relation, with small lookup
tables (name -> (columns, rows)) registered for the duration of the call, and returns
one pandas frame per query (aggregates only: a few rows per activity, path, variant
or ticket). :mod:`csmine.engines.results` turns those frames into the result objects
the local path returns.

* :class:`DuckDBEngine` — DuckDB over the Parquet export (read in place, out of core)
  or over a store (the read model streamed once into a DuckDB database, on disk when
  ``spill`` names a folder);
* :class:`PostgresEngine` — the queries pushed down to the PostgreSQL read model
  (:func:`event_store.readmodel.relation.query_read_model`): no event leaves the server.

Filters: the opening-time window and case-column values (``--from``/``--to``,
``--where channel=...``) are applied to ``events``; phases and free attributes are the
local path's (:class:`~csmine.errors.EngineError` names the way out).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from event_store.readmodel.relation import TICKET_KEY

from csmine.engines.queries import DUCKDB, EVENT_COLUMN_NAMES, POSTGRES, Dialect
from csmine.errors import EngineError

if TYPE_CHECKING:
    import pandas as pd

    from event_store.application import TicketStore

    from csmine.eventlog.filters import LogFilter

Lookups = Mapping[str, tuple[Sequence[tuple[str, str]], Sequence[Sequence[Any]]]]

#: The case fields a filter may name, as ``events`` columns.
_CASE_COLUMNS = {"channel": "channel", "category": "category", "priority": "priority", "emotion": "emotion",
                 "customer": "customer", "team": "case_team", "region": "region"}


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def filter_condition(log_filter: LogFilter | None, engine: str) -> str:
    """The SQL condition over ``events`` for ``log_filter`` ('' for none).

    Raises:
        EngineError: the filter needs the local path (a phase or a free attribute).
    """
    if log_filter is None:
        return ""
    parts: list[str] = []
    if log_filter.phase:
        raise EngineError(f"--phase is not supported with --engine {engine}: use --engine local, "
                          "or --from/--to for the phase's window")
    if log_filter.start is not None:
        parts.append(f"opened_us >= {_us(log_filter.start)}")
    if log_filter.end is not None:
        parts.append(f"opened_us < {_us(log_filter.end)}")
    for key, values in log_filter.where.items():
        column = _CASE_COLUMNS.get(key)
        if column is None:
            raise EngineError(f"--where {key}=... is not supported with --engine {engine} (only the case fields "
                              f"{', '.join(sorted(_CASE_COLUMNS))}): use --engine local")
        parts.append(f"{column} IN ({', '.join(_literal(v) for v in values)})")
    return " AND ".join(parts)


def check_parquet_export(source: str) -> None:
    """Check a local export folder against its manifest before an engine reads it: every
    file listed is there with its SHA-256 and row count, and no other event file is
    (an engine reads every ``events/*/*.parquet``).

    Raises:
        EngineError: no manifest, or the files do not match it (names what and the fix).
    """
    import glob

    from event_store.errors import ExportCheckError
    from event_store.io.parquet_export import check_export, read_manifest

    again = f"export again with `csmine export {source} --format parquet --partition month`"
    try:
        result = check_export(source)
        manifest = read_manifest(source) or {}
    except ExportCheckError as exc:
        raise EngineError(f"{exc}: an engine reads only a checked export; {again}") from None
    listed = {os.path.normpath(f["file"]) for p in manifest.get("partitions", {}).values() for f in p["files"]}
    found = {os.path.relpath(f, source) for f in glob.glob(os.path.join(source, "events", "*", "*.parquet"))}
    problems = list(result.problems) + [f"{f} is not in the manifest" for f in sorted(found - listed)]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise EngineError(f"{source} does not match its manifest: {'; '.join(problems[:3])}{more}. "
                          f"Nothing was read; {again}")


def _us(dt: Any) -> int:
    from datetime import UTC, datetime

    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1_000_000) if dt.tzinfo else \
        int((dt - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


class Engine:
    """Runs the aggregate queries over one ``events`` relation.

    Attributes:
        name: ``duckdb``, ``postgres``, ``spark``.
        dialect: its :class:`~csmine.engines.queries.Dialect`.
    """

    name = "engine"
    dialect: Dialect = DUCKDB

    def run(self, queries: Sequence[str], lookups: Lookups) -> list[pd.DataFrame]:
        """One frame per query, the lookups registered meanwhile."""
        raise NotImplementedError

    def close(self) -> None:
        """Free what the engine holds."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DuckDBEngine(Engine):
    """DuckDB over a Parquet export folder or over a store.

    Args:
        source: an export folder (with ``manifest.json`` and ``events/``) or an open store.
        log_filter: tickets to keep (window and case fields).
        threads: DuckDB threads (None: DuckDB's default, every core).
        memory_limit: e.g. ``"4GB"`` (None: DuckDB's default, 80% of memory).
        spill: folder for DuckDB's temporary files and, for a store, its database file.
        check: check an export folder against its manifest first (:func:`check_parquet_export`).
    """

    name = "duckdb"
    dialect = DUCKDB

    def __init__(self, source: str | TicketStore, log_filter: LogFilter | None = None, *,
                 threads: int | None = None, memory_limit: str | None = None, spill: str | None = None,
                 check: bool = True) -> None:
        import duckdb

        from event_store.readmodel.relation import parquet_events_select

        where = filter_condition(log_filter, self.name)
        self._file: str | None = None
        if isinstance(source, str):
            self.con = duckdb.connect()
            self._settings(threads, memory_limit, spill)
            files = os.path.join(source, "events", "*", "*.parquet")
            folder = os.path.join(source, "events")
            if not os.path.isdir(folder) or not os.listdir(folder):
                raise EngineError(f"{source} holds no Parquet export (no events/ folder with partitions): "
                                  "write one with `csmine export DIR --format parquet --partition month`")
            if check:
                check_parquet_export(source)
            parquet = f"read_parquet('{_path(files)}', hive_partitioning = true)"
            present = [r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {parquet}").fetchall()]
            select = parquet_events_select(parquet, lambda c: f"epoch_us({c})", present)
        else:
            from event_store.readmodel.relation import event_batches, events_arrow_schema

            import pyarrow as pa

            if spill:
                self._file = os.path.join(spill, f"csmine-events-{os.getpid()}.duckdb")
            self.con = duckdb.connect(self._file or ":memory:")
            self._settings(threads, memory_limit, spill)
            reader = pa.RecordBatchReader.from_batches(events_arrow_schema(), event_batches(source))
            self.con.register("_stream", reader)
            self.con.execute("CREATE TABLE events_all AS SELECT * FROM _stream")
            self.con.unregister("_stream")
            select = f"SELECT *, ticket AS {TICKET_KEY} FROM events_all"
        cols = ", ".join((*EVENT_COLUMN_NAMES, TICKET_KEY))
        self.con.execute(f"CREATE TEMP VIEW events AS SELECT {cols} FROM ({select}) e"
                         + (f" WHERE {where}" if where else ""))
        from csmine.engines.shared import SharedSteps

        self.shared = SharedSteps(self.con)  # the ticket-ordered events, sorted once per engine

    def _settings(self, threads: int | None, memory_limit: str | None, spill: str | None) -> None:
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")
        if spill:
            self.con.execute(f"SET temp_directory = '{_path(spill)}'")
            # never fill the disk: past this DuckDB fails the query with an error naming the limit
            free = shutil.disk_usage(spill).free
            self.con.execute(f"SET max_temp_directory_size = '{max(free // 2, 1 << 30) // (1 << 20)}MiB'")
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET enable_progress_bar = false")

    def run(self, queries: Sequence[str], lookups: Lookups) -> list[pd.DataFrame]:
        import pandas as pd

        for name, (columns, rows) in lookups.items():
            frame = pd.DataFrame([tuple(r) for r in rows], columns=[c for c, _ in columns])
            for c, t in columns:
                frame[c] = frame[c].astype("Int64" if t == "BIGINT" else object)
            self.con.register(f"_{name}", frame)
            cols = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in columns)
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {cols} FROM _{name}")
            self.con.unregister(f"_{name}")
        rows = lookups["activity_info"][1] if "activity_info" in lookups else None
        try:
            return [self.con.execute(self.shared.rewrite(sql, rows)).df() for sql in queries]
        finally:
            for name in lookups:
                self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def close(self) -> None:
        self.shared.close()
        self.con.close()
        if self._file is not None:
            for suffix in ("", ".wal"):
                if os.path.exists(self._file + suffix):
                    os.remove(self._file + suffix)


def _path(path: str) -> str:
    return path.replace("'", "''")


class PostgresEngine(Engine):
    """The aggregates pushed down to the PostgreSQL read model of ``store``."""

    name = "postgres"
    dialect = POSTGRES

    def __init__(self, store: TicketStore, log_filter: LogFilter | None = None) -> None:
        if store.location.kind != "postgres":
            raise EngineError(f"--engine postgres needs a PostgreSQL store; {store.location.display} is SQLite "
                              "(use --engine duckdb, or --store postgresql://...)")
        self.store = store
        self.where = filter_condition(log_filter, self.name)

    def run(self, queries: Sequence[str], lookups: Lookups) -> list[pd.DataFrame]:
        import pandas as pd

        from event_store.readmodel.relation import query_read_model

        results = query_read_model(self.store, queries, lookups, where=self.where)
        return [pd.DataFrame(rows, columns=names) for names, rows in results]


__all__ = ["DuckDBEngine", "Engine", "PostgresEngine", "check_parquet_export", "filter_condition"]
