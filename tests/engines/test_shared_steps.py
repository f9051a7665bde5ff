"""DuckDB's shared ``steps`` table really replaces each query's own sort of the log.

:class:`csmine.engines.shared.SharedSteps` rewrites the portable query texts by
finding their common table expressions; if a query's text changed, the rewrite would
silently stop applying (the figures still right, the report sorting the log again per
query). This pins it: every ticket-ordered aggregate the report runs, once rewritten,
reads the shared table and no longer joins and sorts ``events`` itself.
"""

from __future__ import annotations

import pytest

from csmine.engines import queries as q
from csmine.engines.kpis import ticket_times
from csmine.engines.shared import SharedSteps

D = q.DUCKDB
BUILDERS = {
    "directly_follows": q.directly_follows(D), "start_end": q.start_end(D), "variants": q.variants(D),
    "variants_by_status": q.variants_by_status(D), "ticket_variants": q.ticket_variants(D),
    "ticket_figures": q.ticket_figures(D), "step_waiting": q.step_waiting(D), "limit_checks": q.limit_checks(D),
    "rework": q.rework(D), "team_summary": q.team_summary(D),
    "ticket_times": ticket_times(D, status_log=True, line_marker=True),
}


class _Recorder:
    """A stand-in connection that keeps the DDL (the table is never read here)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def execute(self, sql: str) -> None:
        self.sql.append(sql)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_ticket_ordered_query_reads_the_shared_table(name):
    con = _Recorder()
    shared = SharedSteps(con)
    rows = [("Receive", 0), ("Handle", 1)]
    out = shared.rewrite(BUILDERS[name], rows)
    assert "_csmine_steps_1" in out
    assert "FROM events e JOIN activity_info" in BUILDERS[name]  # the query sorts the log itself ...
    assert "FROM events e JOIN activity_info" not in out  # ... and no longer once rewritten


def test_one_table_per_tie_order_and_at_most_keep():
    con = _Recorder()
    shared = SharedSteps(con)
    a, b, c = [("X", 0), ("Y", 1)], [("X", 1), ("Y", 0)], [("X", 0), ("Y", 0)]
    sql = q.directly_follows(D)
    shared.rewrite(sql, a)
    shared.rewrite(sql, list(reversed(a)))  # the same ranks in another row order: the same table
    assert shared.made == 1
    shared.rewrite(sql, b)
    shared.rewrite(sql, c)  # a third tie order: the oldest table is dropped
    assert shared.made == 3
    assert sum(s.startswith("DROP TABLE") for s in con.sql) == 1
