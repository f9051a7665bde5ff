"""The ``events`` relation the query engines read: the one place that knows the tables' layout.

Every engine (:mod:`csmine.engines`) runs its aggregates over one relation ``events``
with the columns :data:`EVENT_COLUMNS` (times integer microseconds since the epoch,
``team`` the step's team else the ticket's, ``attrs`` the step's free attributes as JSON
text or NULL, retracted events left out, corrections applied). This module defines that relation over

* the read-model tables ``event_log`` (SQLite or PostgreSQL): :data:`READ_MODEL_EVENTS`,
  and :func:`query_read_model`, which runs queries on the store's own database in one
  read-only snapshot, with the small lookup tables the queries join created as
  temporary tables (the PostgreSQL push-down: no event leaves the server);
* the Parquet export (:mod:`event_store.io.parquet_export`), whose files keep the
  read model's columns with times as UTC timestamps: :func:`parquet_events_select`;
* a stream of Arrow record batches of the read model (:func:`event_batches`), for an
  engine that loads the store into its own storage (DuckDB over the SQLite file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from event_store.application import TicketStore

#: The columns of ``events``, in order, with portable SQL types.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("notification_id", "BIGINT"), ("ticket", "VARCHAR"), ("version", "BIGINT"), ("activity", "VARCHAR"),
    ("occurred_us", "BIGINT"), ("started_us", "BIGINT"), ("recorded_us", "BIGINT"), ("actor", "VARCHAR"),
    ("team", "VARCHAR"), ("case_team", "VARCHAR"), ("opened_us", "BIGINT"), ("channel", "VARCHAR"),
    ("category", "VARCHAR"), ("priority", "VARCHAR"), ("emotion", "VARCHAR"), ("customer", "VARCHAR"),
    ("region", "VARCHAR"), ("source_ref", "VARCHAR"), ("attrs", "VARCHAR"),
)

#: ``events`` over the read-model table ``event_log`` (SQLite and PostgreSQL alike).
READ_MODEL_EVENTS = (
    "SELECT notification_id, ticket, version, activity, occurred_at AS occurred_us, started_at AS started_us, "
    "recorded_at AS recorded_us, actor, COALESCE(team, case_team) AS team, case_team, opened_at AS opened_us, "
    "channel, category, priority, emotion, customer, region, source_ref, attrs FROM event_log WHERE retracted = 0"
)

#: The Parquet export's event columns (times as ``timestamp[us, UTC]``), in order.
PARQUET_EVENT_COLUMNS: tuple[str, ...] = (
    "notification_id", "ticket", "version", "activity", "occurred_at", "started_at", "recorded_at", "actor", "team",
    "case_team", "opened_at", "channel", "category", "priority", "emotion", "customer", "region", "source_ref",
    "attrs", "ticket_key",
)

#: ``events``' extra column ``ticket_key``: equal for the events of one ticket and only them,
#: what the engines partition their windows by. The Parquet export stores an integer (the
#: ticket's opening notification id: sorting and hashing integers is faster than names);
#: elsewhere (the read model, an export written before the column existed) it is ``ticket``.
TICKET_KEY = "ticket_key"

#: The Parquet export's ticket columns, in order (``case_attrs`` JSON text as the read model keeps it).
PARQUET_TICKET_COLUMNS: tuple[str, ...] = (
    "ticket", "notification_id", "opened_at", "recorded_at", "channel", "category", "priority", "emotion",
    "customer", "team", "region", "case_attrs", "opened_by", "source_ref", "events", "month",
)


def parquet_events_select(source: str, epoch_us: Callable[[str], str], columns: Sequence[str] = ()) -> str:
    """``events`` (with :data:`TICKET_KEY`) over a relation ``source`` with the Parquet export's columns.

    Args:
        source: the engine's table expression for the export's event files (e.g. DuckDB's
            ``read_parquet('DIR/events/*/*.parquet', hive_partitioning = true)``).
        epoch_us: the engine's spelling of "microseconds since the epoch" of a timestamp.
        columns: the columns the files hold (``ticket_key`` is used when among them).
    """
    key = TICKET_KEY if TICKET_KEY in columns else "ticket"
    return (
        f"SELECT notification_id, ticket, version, activity, {epoch_us('occurred_at')} AS occurred_us, "
        f"{epoch_us('started_at')} AS started_us, {epoch_us('recorded_at')} AS recorded_us, actor, "
        f"COALESCE(team, case_team) AS team, case_team, {epoch_us('opened_at')} AS opened_us, channel, category, "
        f"priority, emotion, customer, region, source_ref, attrs, {key} AS {TICKET_KEY} FROM {source}"
    )


def _sql_type(portable: str, postgres: bool) -> str:
    if portable == "VARCHAR":
        return "TEXT"
    return portable


def query_read_model(store: TicketStore, queries: Sequence[str],
                     lookups: Mapping[str, tuple[Sequence[tuple[str, str]], Sequence[Sequence[Any]]]] = {},
                     *, where: str = "") -> list[tuple[list[str], list[tuple[Any, ...]]]]:
    """Run ``queries`` over ``events`` on the store's own database, in one read-only snapshot.

    ``events`` is a temporary view over ``event_log``; each lookup (name -> (columns with
    portable types, rows)) becomes a temporary table dropped at the end of the
    transaction. On PostgreSQL the aggregation runs in the server (the push-down): only
    the results travel.

    ``where`` is a condition over ``events``' columns (a window, case fields).

    Returns:
        Per query: (column names, rows).
    """
    db = store.db
    view = f"SELECT *, ticket AS {TICKET_KEY} FROM ({READ_MODEL_EVENTS}) e" + (f" WHERE {where}" if where else "")
    out: list[tuple[list[str], list[tuple[Any, ...]]]] = []
    with db.transaction() as cur:
        postgres = cur.postgres
        if postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(f"CREATE TEMP VIEW events AS {view}")
        else:
            cur.execute("DROP VIEW IF EXISTS temp.events")
            cur.execute(f"CREATE TEMP VIEW events AS {view}")
        for name, (columns, rows) in lookups.items():
            cols = ", ".join(f"{c} {_sql_type(t, postgres)}" for c, t in columns)
            suffix = " ON COMMIT DROP" if postgres else ""
            if not postgres:
                cur.execute(f"DROP TABLE IF EXISTS temp.{name}")
            cur.execute(f"CREATE TEMP TABLE {name} ({cols}){suffix}")
            if rows:
                marks = ", ".join("?" * len(columns))
                cur.executemany(f"INSERT INTO {name} VALUES ({marks})", [tuple(r) for r in rows])
        try:
            for sql in queries:
                cur.execute(sql)
                names = [d[0] for d in cur.raw.description] if cur.raw.description else []
                out.append((names, [tuple(r) for r in cur.fetchall()]))
        finally:
            if postgres:
                cur.execute("DROP VIEW IF EXISTS events")
            else:
                cur.execute("DROP VIEW IF EXISTS temp.events")
                for name in lookups:
                    cur.execute(f"DROP TABLE IF EXISTS temp.{name}")
    return out


def event_batches(store: TicketStore, batch: int = 100_000) -> Iterator[Any]:
    """``events`` of the read model as Arrow record batches, in notification order, read in
    one snapshot page by page (so memory holds one page, whatever the store's size)."""
    import pyarrow as pa

    schema = events_arrow_schema()
    last = 0
    with store.db.transaction() as cur:
        if cur.postgres:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        while True:
            rows = cur.execute(f"{READ_MODEL_EVENTS} AND notification_id > ? ORDER BY notification_id LIMIT {int(batch)}",
                               (last,)).fetchall()
            if not rows:
                return
            cols = list(zip(*rows, strict=True))
            yield pa.RecordBatch.from_arrays([pa.array(c, type=f.type) for c, f in zip(cols, schema, strict=True)],
                                             schema=schema)
            last = int(rows[-1][0])


def events_arrow_schema() -> Any:
    """The Arrow schema of :func:`event_batches` (``events``' columns and types)."""
    import pyarrow as pa

    return pa.schema([(c, pa.int64() if t == "BIGINT" else pa.string()) for c, t in EVENT_COLUMNS])


__all__ = ["EVENT_COLUMNS", "PARQUET_EVENT_COLUMNS", "PARQUET_TICKET_COLUMNS", "READ_MODEL_EVENTS", "TICKET_KEY",
           "event_batches", "events_arrow_schema", "parquet_events_select", "query_read_model"]
