"""DuckDB: the ticket-ordered events computed once per engine, shared by every query.

Most aggregates of :mod:`csmine.engines.queries`, :mod:`csmine.engines.kpis` and
:mod:`csmine.engines.bottlenecks` begin with the same common table expressions:
``ordered`` (the events joined to ``activity_info``) and ``steps`` (``ordered`` with
each event's position and neighbours in its ticket: one window sorted by ticket and
ticket order). A report runs some twenty of them, and each would read the Parquet
files and sort every event again. :class:`SharedSteps` materialises ``steps`` once as
a DuckDB temporary table (spilled to the engine's temporary folder when it does not
fit memory) and rewrites each query to read it: the portable query texts stay as they
are (Spark and PostgreSQL run them unchanged), and the figures are the same rows.

The table holds the event columns the queries read, the tie rank, the position and the
neighbours; the SOP's step and role flags (and the map's ``kept`` flag) are joined from
the query's own ``activity_info`` (a few rows), so one table serves the KPI frame, the
bottlenecks, every map level, the variants and the alignments. Only another tie order
(other tie ranks) gets its own table; at most :data:`KEEP` tables are held.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from csmine.engines.queries import _lean, _ordered, _steps

#: How many distinct ``steps`` tables one engine keeps (each is a copy of the log's events).
KEEP = 2

_STEPS = _steps()
_ORDERED = _ordered()
_LEAN_KEPT = _lean(kept_only=True)
#: the holder windows over ``ordered`` and the bottlenecks' over ``steps`` (both carry ``ticket_key`` and ``pos``)
_BY_NAME = "PARTITION BY ticket ORDER BY occurred_us, tie_rank, version"
_BY_NAME_POS = "PARTITION BY ticket ORDER BY pos"
_EVENT = ("s.ticket, s.ticket_key, s.activity, s.version, s.occurred_us, s.started_us, s.arrival_us, s.team, "
          "s.actor, s.opened_us, s.tie_rank")
_FLAGS = "a.step, a.first_response, a.resolution, a.reopen, a.escalation, a.waiting, a.closes, a.reopens"
_NEIGHBOURS = "s.pos, s.next_activity, s.next_arrival_us, s.prev_activity, s.prev_occurred_us"
_TABLE = (
    "SELECT e.ticket, e.ticket_key, e.activity, e.version, e.occurred_us, e.started_us, "
    "COALESCE(e.started_us, e.occurred_us) AS arrival_us, e.team, e.actor, e.opened_us, a.tie_rank, "
    "ROW_NUMBER() OVER w AS pos, LEAD(e.activity) OVER w AS next_activity, "
    "LEAD(COALESCE(e.started_us, e.occurred_us)) OVER w AS next_arrival_us, LAG(e.activity) OVER w AS prev_activity, "
    "LAG(e.occurred_us) OVER w AS prev_occurred_us FROM events e JOIN activity_info a ON a.activity = e.activity "
    "WINDOW w AS (PARTITION BY e.ticket_key ORDER BY e.occurred_us, a.tie_rank, e.version)"
)


def _signature(rows: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
    """What the table depends on: each activity's tie rank (the first two columns)."""
    return tuple(sorted((str(r[0]), int(r[1])) for r in rows))


class SharedSteps:
    """The ``steps`` tables of one DuckDB connection, by ``activity_info`` signature."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.tables: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        self.made = 0

    def _table(self, rows: Sequence[Sequence[Any]]) -> str:
        key = _signature(rows)
        name = self.tables.get(key)
        if name is not None:
            self.tables.move_to_end(key)
            return name
        while len(self.tables) >= KEEP:
            _, old = self.tables.popitem(last=False)
            self.con.execute(f"DROP TABLE IF EXISTS {old}")
        self.made += 1
        name = f"_csmine_steps_{self.made}"
        self.con.execute(f"CREATE TEMP TABLE {name} AS {_TABLE}")
        self.tables[key] = name
        return name

    def rewrite(self, sql: str, rows: Sequence[Sequence[Any]] | None) -> str:
        """``sql`` reading the shared table instead of recomputing ``steps``/``ordered``
        (unchanged when it uses neither, or without ``activity_info`` rows)."""
        if rows is None or not (_STEPS in sql or _ORDERED in sql or _LEAN_KEPT in sql):
            return sql
        table = self._table(rows)
        # a window over the ticket's events in ticket order: by the integer key and the stored position
        for by_name in (_BY_NAME, _BY_NAME_POS):
            sql = sql.replace(by_name, "PARTITION BY ticket_key ORDER BY pos")
        join = f"FROM {table} s JOIN activity_info a ON a.activity = s.activity"
        ordered = f"ordered AS (SELECT {_EVENT}, {_FLAGS}, s.pos {join})"
        if _STEPS in sql:
            return sql.replace(_STEPS, f"{ordered}, steps AS (SELECT {_EVENT}, {_FLAGS}, {_NEIGHBOURS} {join})", 1)
        if _LEAN_KEPT in sql:
            return sql.replace(_LEAN_KEPT, _lean_from(table), 1)
        return sql.replace(_ORDERED, ordered, 1)

    def close(self) -> None:
        for name in self.tables.values():
            self.con.execute(f"DROP TABLE IF EXISTS {name}")
        self.tables.clear()


def _lean_from(table: str) -> str:
    """:func:`csmine.engines.queries._lean` (kept activities) over the shared table: the
    window orders the kept events by their position in the ticket (one integer)."""
    return (
        f"o AS (SELECT s.ticket_key, a.code, s.occurred_us AS t, s.arrival_us AS arrival, s.pos FROM {table} s "
        "JOIN activity_info a ON a.activity = s.activity WHERE a.kept = 1), "
        "lp AS (SELECT ticket_key, code, t, LEAD(code) OVER w AS next_code, LEAD(arrival) OVER w AS next_arrival, "
        "LAG(code) OVER w AS prev_code FROM o WINDOW w AS (PARTITION BY ticket_key ORDER BY pos))"
    )


__all__ = ["KEEP", "SharedSteps"]
