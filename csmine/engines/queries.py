"""The aggregates, written once as SQL over one relation ``events``, run by every engine.

Each function returns the text of one query in a portable subset of SQL that DuckDB,
Spark SQL and PostgreSQL all accept (CTEs, ``WINDOW`` clauses, ``LEAD``/``LAG``/
``ROW_NUMBER``, ``CASE``, ``COALESCE``, ``GREATEST``/``LEAST``, ``COUNT(DISTINCT)``);
the few things the three spell differently are :class:`Dialect` hooks (percentiles,
an ordered sequence aggregate, binary string order). Times are integers, microseconds
since the epoch (``*_us``), so durations are exact integer differences; results are
turned into seconds in Python (:mod:`csmine.engines.results`).

**The relations an engine provides** (and nothing else):

``events`` (:data:`EVENT_COLUMNS`)
    one row per event of the read model, retracted events left out, corrections
    applied: :mod:`event_store.readmodel.relation` defines it over the read-model
    tables and over the Parquet export (:mod:`event_store.io.parquet_export`). Its
    extra column ``ticket_key`` is equal for the events of one ticket and only them (an
    integer in the export, else the ticket's name): the lean directly-follows window
    partitions by it.
``activity_info`` (:data:`ACTIVITY_INFO_COLUMNS`)
    one row per distinct activity: its tie rank (:mod:`csmine.eventlog.ordering`),
    whether the map's activity slider keeps it, its SOP step and role flags. It is
    computed in Python from the few distinct activities (:func:`activity_info_rows`)
    and registered by the engine as a small table: the tie order's rules are regular
    expressions over names, which no portable SQL has.
``limits`` (:data:`LIMIT_COLUMNS`)
    one row per SOP time limit (:func:`limit_rows`), only for :func:`limit_checks`.

**The ticket order.** Inside a ticket, events are ordered by ``occurred_us``, then
``tie_rank``, then ``version`` (the record order): exactly the local path's order
(:func:`csmine.eventlog.frames.sort_order`), which the directly-follows counts depend on.
``version`` is unique within a ticket, so the order is total.

This module's interface is stable: the Spark engine (:mod:`csmine.engines.spark`) runs
the same texts with :data:`SPARK`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from event_store.readmodel.relation import EVENT_COLUMNS as RELATION_COLUMNS

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule

#: The ``events`` relation's columns with portable types, as event_store defines it
#: (``team`` is the step's team, else the ticket's, as the local frame's ``org:group``;
#: ``case_team`` the ticket's own).
EVENT_COLUMNS = RELATION_COLUMNS
EVENT_COLUMN_NAMES = tuple(name for name, _ in EVENT_COLUMNS)

#: The ``activity_info`` lookup relation (flags are 0/1 integers, ``step`` NULL without an SOP).
ACTIVITY_INFO_COLUMNS: tuple[tuple[str, str], ...] = (
    ("activity", "VARCHAR"), ("tie_rank", "BIGINT"), ("kept", "BIGINT"), ("step", "VARCHAR"),
    ("first_response", "BIGINT"), ("resolution", "BIGINT"), ("reopen", "BIGINT"), ("escalation", "BIGINT"),
    ("waiting", "BIGINT"), ("closes", "BIGINT"), ("reopens", "BIGINT"), ("code", "BIGINT"),
)
ROLES = ("first_response", "resolution", "reopen", "escalation", "waiting")

#: The ``limits`` lookup relation: ``since`` is a step name or ``opened``.
LIMIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("limit_id", "BIGINT"), ("step", "VARCHAR"), ("since", "VARCHAR"), ("within_us", "BIGINT"),
)

#: The separator of a variant's activities in :func:`variants` (the ASCII unit separator).
SEPARATOR = "\x1f"

_ORDER = "occurred_us, tie_rank, version"


@dataclass(frozen=True)
class Dialect:
    """How one engine spells what portable SQL lacks (the defaults: DuckDB and PostgreSQL).

    Attributes:
        name: ``duckdb``, ``postgres`` or ``spark``.
    """

    name: str

    def percentile(self, expr: str, q: float) -> str:
        """The ``q`` quantile of ``expr`` with linear interpolation (pandas' default)."""
        return f"percentile_cont({q}) WITHIN GROUP (ORDER BY {expr})"

    def sequence(self, value: str, order: str) -> str:
        """``value`` of a group's rows joined by :data:`SEPARATOR`, in ``order``
        (a comma-separated list of columns of the group's rows)."""
        return f"string_agg({value}, chr(31) ORDER BY {order})"

    def binary(self, expr: str) -> str:
        """``expr`` compared by code point (for MIN/MAX of names)."""
        return expr

    def json_number(self, expr: str, key: str) -> str:
        """The number under ``key`` of the JSON object text ``expr`` (a number or numeric text,
        as ``pandas.to_numeric(errors="coerce")`` reads it), else NULL."""
        return f"TRY_CAST(json_extract_string({expr}, {_json_path(key)}) AS DOUBLE)"


def _json_path(key: str) -> str:
    """``'$.key'`` (a plain name) or ``'$."key"'`` as a SQL string literal."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"'$.{key}'"
    return "'$.\"" + key.replace("'", "''").replace('"', '\\"') + "\"'"


#: Numeric text (what a cast to a float accepts), for PostgreSQL, whose casts have no TRY form.
_NUMERIC = r"'^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$'"


class _Postgres(Dialect):
    def binary(self, expr: str) -> str:
        return f'({expr} COLLATE "C")'

    def json_number(self, expr: str, key: str) -> str:
        value = f"(CAST({expr} AS jsonb) ->> '{key.replace(chr(39), chr(39) * 2)}')"
        return f"CASE WHEN {value} ~ {_NUMERIC} THEN CAST({value} AS DOUBLE PRECISION) END"


class _Spark(Dialect):
    def percentile(self, expr: str, q: float) -> str:
        return f"percentile({expr}, {q})"

    def json_number(self, expr: str, key: str) -> str:
        path = _json_path(key) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else \
            '"$[\'' + key.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"') + '\']"'
        return f"try_cast(get_json_object({expr}, {path}) AS DOUBLE)"

    def sequence(self, value: str, order: str) -> str:
        keys = [k.strip() for k in order.split(",")]
        fields = ", ".join(f"'k{i}', {k}" for i, k in enumerate(keys))
        return (f"array_join(transform(array_sort(collect_list(named_struct({fields}, 'x', {value}))), "
                f"s -> s.x), chr(31))")


DUCKDB = Dialect("duckdb")
POSTGRES = _Postgres("postgres")
SPARK = _Spark("spark")
DIALECTS = {d.name: d for d in (DUCKDB, POSTGRES, SPARK)}


# -- the lookup relations ---------------------------------------------------------------------------

def activity_info_rows(activities: Sequence[str], *, tie_order: str = "auto", sop: SOP | None = None,
                       kept: Sequence[str] | None = None, first_response: str | None = None,
                       tie_sop: SOP | None = None, closing: ClosingRule | None = None,
                       ) -> list[tuple[Any, ...]]:
    """The rows of ``activity_info`` for the distinct ``activities`` of the log.

    Args:
        activities: every distinct activity name (``SELECT DISTINCT activity FROM events``).
        tie_order: ``auto`` or ``file`` (:mod:`csmine.eventlog.ordering`).
        tie_sop: the SOP whose step order breaks ties (the loader breaks them without
            one, as the map, variants and KPIs do; ``conform`` with its SOP).
        closing: the closing rule; ``closes`` and ``reopens`` are the activities that close
            and reopen a ticket (:mod:`csmine.eventlog.lifecycle`; without a reopen role any
            activity that does not close reopens).
        sop: the SOP whose steps and roles the flags carry (None: no step, no role).
        kept: the activities the map keeps (None: all).
        first_response: the ``--first-response`` pattern replacing the SOP's role.
    """
    from csmine.eventlog.lifecycle import closing_activities, reopening_activities
    from csmine.eventlog.ordering import activity_ranks
    from csmine.performance.preparation import match_activities

    names = [str(a) for a in activities]
    ranks = activity_ranks(names, tie_sop, tie_order)
    mapping = sop.activity_map() if sop is not None else {}
    roles = {role: set(steps) for role, steps in (sop.roles.items() if sop is not None else ()) if steps}
    fr_match = match_activities(first_response, names) if first_response is not None else None
    keep = set(kept) if kept is not None else None
    closes = closing_activities(names, sop, closing)
    reopens = reopening_activities(names, sop)
    rows = []
    for i, name in enumerate(names):
        step = mapping.get(name)
        flags = [int(step is not None and step in roles.get(role, ())) for role in ROLES]
        if fr_match is not None:
            flags[0] = int(bool(fr_match[i]))
        closing_flag = int(name in closes)
        reopen_flag = int(name in reopens) if reopens is not None else 1 - closing_flag
        rows.append((name, int(ranks[i]), int(keep is None or name in keep), step, *flags, closing_flag, reopen_flag,
                     i))
    return rows


def limit_rows(sop: SOP | None) -> list[tuple[Any, ...]]:
    """The rows of ``limits`` for the SOP's time limits (none without an SOP)."""
    if sop is None:
        return []
    return [(i, lim.step, lim.since, round(lim.within.total_seconds() * 1_000_000))
            for i, lim in enumerate(sop.limits)]


# -- the common table expressions ------------------------------------------------------------------

def _ordered(kept_only: bool = False) -> str:
    where = " WHERE a.kept = 1" if kept_only else ""
    return (
        "ordered AS (SELECT e.ticket, e.ticket_key, e.activity, e.version, e.occurred_us, e.started_us, "
        "COALESCE(e.started_us, e.occurred_us) AS arrival_us, e.team, e.actor, e.opened_us, a.tie_rank, a.step, "
        "a.first_response, a.resolution, a.reopen, a.escalation, a.waiting, a.closes, a.reopens "
        f"FROM events e JOIN activity_info a ON a.activity = e.activity{where})"
    )


def _steps(kept_only: bool = False) -> str:
    """``ordered`` plus each event's position in its ticket and its neighbours."""
    return (
        f"{_ordered(kept_only)}, steps AS (SELECT o.*, ROW_NUMBER() OVER w AS pos, "
        "LEAD(o.activity) OVER w AS next_activity, LEAD(o.arrival_us) OVER w AS next_arrival_us, "
        "LAG(o.activity) OVER w AS prev_activity, LAG(o.occurred_us) OVER w AS prev_occurred_us "
        f"FROM ordered o WINDOW w AS (PARTITION BY o.ticket_key ORDER BY o.{_ORDER.replace(', ', ', o.')}))"
    )


# -- the aggregates --------------------------------------------------------------------------------

def activity_stats(d: Dialect) -> str:
    """Per activity: events, tickets, median and mean working time (µs; NULL without starts).

    Columns: activity, events, cases, work_median_us, work_mean_us.
    """
    return (
        f"WITH {_ordered()}, w AS (SELECT activity, ticket, "
        "CASE WHEN started_us IS NOT NULL THEN occurred_us - started_us END AS work_us FROM ordered) "
        f"SELECT activity, COUNT(*) AS events, COUNT(DISTINCT ticket) AS cases, {d.percentile('work_us', 0.5)} "
        "AS work_median_us, AVG(work_us) AS work_mean_us FROM w GROUP BY activity"
    )


def _pairs() -> str:
    """Each event's activity code and the next one's in its ticket (lean: only what the
    pair needs travels through the window's sort; integer codes sort and hash faster
    than names: twice the rate of :func:`_steps` on DuckDB)."""
    return (
        "o AS (SELECT e.ticket_key, a.code, e.occurred_us AS t, a.tie_rank, e.version FROM events e "
        "JOIN activity_info a ON a.activity = e.activity), "
        "p AS (SELECT code, LEAD(code) OVER w AS next_code FROM o "
        "WINDOW w AS (PARTITION BY ticket_key ORDER BY t, tie_rank, version))"
    )


def _lean(kept_only: bool) -> str:
    """Each (kept) event's activity code, times and next/previous code in its ticket: only
    these travel through the window's sort (integer keys; a tenth of :func:`_steps`' width)."""
    where = " WHERE a.kept = 1" if kept_only else ""
    return (
        "o AS (SELECT e.ticket_key, a.code, e.occurred_us AS t, COALESCE(e.started_us, e.occurred_us) AS arrival, "
        f"a.tie_rank, e.version FROM events e JOIN activity_info a ON a.activity = e.activity{where}), "
        "lp AS (SELECT ticket_key, code, t, LEAD(code) OVER w AS next_code, LEAD(arrival) OVER w AS next_arrival, "
        "LAG(code) OVER w AS prev_code FROM o WINDOW w AS (PARTITION BY ticket_key ORDER BY t, tie_rank, version))"
    )


def directly_follows(d: Dialect) -> str:
    """The directly-follows paths over the kept activities, with waiting times (µs).

    The waiting time on ``a -> b`` runs from the completion of ``a`` to the start of
    ``b`` (its completion without a start). Columns: source, target, events, cases,
    median_us, mean_us, p90_us, total_us.
    """
    return (
        f"WITH {_lean(kept_only=True)}, p AS (SELECT ticket_key, code, next_code, next_arrival - t AS gap_us "
        "FROM lp WHERE next_code IS NOT NULL), "
        "g AS (SELECT code, next_code, COUNT(*) AS events, COUNT(DISTINCT ticket_key) AS cases, "
        f"{d.percentile('gap_us', 0.5)} AS median_us, AVG(gap_us) AS mean_us, {d.percentile('gap_us', 0.9)} AS p90_us, "
        "SUM(gap_us) AS total_us FROM p GROUP BY code, next_code) "
        "SELECT sa.activity AS source, ta.activity AS target, g.events, g.cases, g.median_us, g.mean_us, g.p90_us, "
        "g.total_us FROM g JOIN activity_info sa ON sa.code = g.code JOIN activity_info ta ON ta.code = g.next_code"
    )


def directly_follows_counts(d: Dialect) -> str:
    """The directly-follows counts alone (the benchmark's core aggregation).

    Columns: source, target, events.
    """
    return (
        f"WITH {_pairs()}, g AS (SELECT code, next_code, COUNT(*) AS events FROM p "
        "WHERE next_code IS NOT NULL GROUP BY code, next_code) "
        "SELECT sa.activity AS source, ta.activity AS target, g.events FROM g "
        "JOIN activity_info sa ON sa.code = g.code JOIN activity_info ta ON ta.code = g.next_code"
    )


def start_end(d: Dialect) -> str:
    """The first and last kept activity of each ticket, counted.

    Columns: side (``start`` or ``end``), activity, events.
    """
    return (
        f"WITH {_lean(kept_only=True)}, se AS ("
        "SELECT 'start' AS side, code, COUNT(*) AS events FROM lp WHERE prev_code IS NULL GROUP BY code "
        "UNION ALL "
        "SELECT 'end' AS side, code, COUNT(*) AS events FROM lp WHERE next_code IS NULL GROUP BY code) "
        "SELECT se.side, a.activity, se.events FROM se JOIN activity_info a ON a.code = se.code"
    )


def variants(d: Dialect) -> str:
    """Variants with counts: each distinct activity sequence (joined by :data:`SEPARATOR`),
    its tickets, the median throughput (last completion minus first start, µs) and the
    first ticket by code point (the local path's example).

    Columns: variant, tickets, median_throughput_us, example_ticket.
    """
    return (
        f"WITH {_ordered()}, t AS (SELECT ticket, {d.sequence('activity', _ORDER)} AS variant, "
        "MAX(occurred_us) - MIN(arrival_us) AS throughput_us FROM ordered GROUP BY ticket) "
        f"SELECT variant, COUNT(*) AS tickets, {d.percentile('throughput_us', 0.5)} AS median_throughput_us, "
        f"MIN({d.binary('ticket')}) AS example_ticket FROM t GROUP BY variant"
    )


def variants_by_status(d: Dialect) -> str:
    """Variants with counts, apart for closed and open tickets: a ticket is closed when its
    last closing event (``closes``) comes after its last reopening one (``reopens``), the
    rule of :func:`csmine.eventlog.lifecycle.ticket_status`.

    Columns: variant, closed (0/1), tickets.
    """
    return (
        f"WITH {_steps()}, t AS (SELECT ticket, {d.sequence('activity', _ORDER)} AS variant, "
        "MAX(CASE WHEN closes = 1 THEN pos END) AS last_close, MAX(CASE WHEN reopens = 1 THEN pos END) AS last_reopen "
        "FROM steps GROUP BY ticket) "
        "SELECT variant, CASE WHEN last_close IS NOT NULL AND last_close > COALESCE(last_reopen, 0) THEN 1 ELSE 0 END "
        "AS closed, COUNT(*) AS tickets FROM t GROUP BY 1, 2"
    )


def ticket_variants(d: Dialect) -> str:
    """Each ticket's variant (to join per-variant results back). Columns: ticket, variant."""
    return f"WITH {_ordered()} SELECT ticket, {d.sequence('activity', _ORDER)} AS variant FROM ordered GROUP BY ticket"


def ticket_figures(d: Dialect, holder: str = "team") -> str:
    """Per-ticket KPI figures (wall clock, µs; the SOP's roles from ``activity_info``).

    ``holder`` is who has the ticket for handovers: ``team`` (the local path's
    ``org:group``) or ``actor`` (a log without teams). Customer-wait pauses (events of
    the waiting role, until the next event's start) are subtracted from the first
    response and resolution clocks, as the local path's SLA clocks do.

    Columns: ticket, events, activities, opened_us, last_us, first_response_at_us,
    first_response_us, resolved_at_us, resolution_us, reopen_events, escalated, waited,
    first_resolution_pos, last_first_response_pos, handovers, teams, throughput_us.
    """
    if holder not in ("team", "actor"):
        raise ValueError(f"holder must be team or actor, not {holder!r}")
    return (
        f"WITH {_steps()}, "
        "base AS (SELECT ticket, COUNT(*) AS events, COUNT(DISTINCT activity) AS activities, "
        "COALESCE(MIN(opened_us), MIN(arrival_us)) AS opened_us, MAX(occurred_us) AS last_us, "
        "MIN(CASE WHEN first_response = 1 THEN occurred_us END) AS first_response_at_us, "
        "MAX(CASE WHEN resolution = 1 THEN occurred_us END) AS resolved_at_us, "
        "SUM(reopen) AS reopen_events, MAX(escalation) AS escalated, MAX(waiting) AS waited, "
        "MIN(CASE WHEN resolution = 1 THEN pos END) AS first_resolution_pos, "
        "MAX(CASE WHEN first_response = 1 THEN pos END) AS last_first_response_pos FROM steps GROUP BY ticket), "
        "pauses AS (SELECT ticket, arrival_us AS ws, "
        "GREATEST(COALESCE(next_arrival_us, occurred_us), arrival_us) AS we FROM steps WHERE waiting = 1), "
        "paused AS (SELECT b.ticket, "
        "SUM(GREATEST(0, LEAST(b.first_response_at_us, p.we) - GREATEST(b.opened_us, p.ws))) AS fr_paused, "
        "SUM(GREATEST(0, LEAST(b.resolved_at_us, p.we) - GREATEST(b.opened_us, p.ws))) AS res_paused "
        "FROM base b JOIN pauses p ON p.ticket = b.ticket GROUP BY b.ticket), "
        f"held AS (SELECT ticket, {holder} AS holder, LAG({holder}) OVER w AS prev_holder FROM ordered "
        f"WHERE {holder} IS NOT NULL WINDOW w AS (PARTITION BY ticket ORDER BY {_ORDER})), "
        "teams AS (SELECT ticket, SUM(CASE WHEN prev_holder IS NOT NULL AND prev_holder <> holder THEN 1 ELSE 0 END) "
        "AS handovers, COUNT(DISTINCT holder) AS teams FROM held GROUP BY ticket) "
        "SELECT b.ticket, b.events, b.activities, b.opened_us, b.last_us, b.first_response_at_us, "
        "b.first_response_at_us - b.opened_us - COALESCE(p.fr_paused, 0) AS first_response_us, b.resolved_at_us, "
        "b.resolved_at_us - b.opened_us - COALESCE(p.res_paused, 0) AS resolution_us, b.reopen_events, "
        "b.escalated, b.waited, b.first_resolution_pos, b.last_first_response_pos, "
        "COALESCE(t.handovers, 0) AS handovers, COALESCE(t.teams, 0) AS teams, b.last_us - b.opened_us AS throughput_us "
        "FROM base b LEFT JOIN paused p ON p.ticket = b.ticket LEFT JOIN teams t ON t.ticket = b.ticket"
    )


def step_waiting(d: Dialect) -> str:
    """Waiting per step: per activity, the gap from the previous event's completion to
    its start (µs), over the events that have a previous one.

    Columns: activity, events, tickets, total_us, median_us, p90_us.
    """
    return (
        f"WITH {_steps()}, g AS (SELECT ticket, activity, arrival_us - prev_occurred_us AS wait_us FROM steps "
        "WHERE prev_occurred_us IS NOT NULL) "
        "SELECT activity, COUNT(*) AS events, COUNT(DISTINCT ticket) AS tickets, SUM(wait_us) AS total_us, "
        f"{d.percentile('wait_us', 0.5)} AS median_us, {d.percentile('wait_us', 0.9)} AS p90_us FROM g GROUP BY activity"
    )


def limit_checks(d: Dialect) -> str:
    """The SOP's time limits on every ticket whose limited step happened (wall clock).

    The clock runs from the ticket's opening (``since = 'opened'``) or from the latest
    event of the ``since`` step before the first event of the limited step; tickets
    without such a ``since`` event are not checked. Customer-wait pauses inside the
    clock are subtracted, as the local path does (wall clock: no business calendar).

    Columns: ticket, limit_id, step, since_us, at_us, elapsed_us, within_us, breached (0/1).
    """
    return (
        f"WITH {_steps()}, "
        "lim_target AS (SELECT s.ticket, l.limit_id, MIN(s.pos) AS tpos FROM steps s JOIN limits l ON s.step = l.step "
        "GROUP BY s.ticket, l.limit_id), "
        "lim_at AS (SELECT t.ticket, t.limit_id, t.tpos, s.occurred_us AS at_us, s.opened_us FROM lim_target t "
        "JOIN steps s ON s.ticket = t.ticket AND s.pos = t.tpos), "
        "lim_since AS (SELECT a.ticket, a.limit_id, MAX(s.pos) AS spos FROM lim_at a JOIN limits l ON l.limit_id = a.limit_id "
        "JOIN steps s ON s.ticket = a.ticket AND s.step = l.since AND s.pos < a.tpos "
        "GROUP BY a.ticket, a.limit_id), "
        "lim_opened AS (SELECT ticket, COALESCE(MIN(opened_us), MIN(arrival_us)) AS opened_us FROM steps GROUP BY ticket), "
        "lim_clock AS (SELECT a.ticket, a.limit_id, a.at_us, "
        "CASE WHEN l.since = 'opened' THEN o.opened_us ELSE s.occurred_us END AS since_us, l.step, l.within_us "
        "FROM lim_at a JOIN limits l ON l.limit_id = a.limit_id JOIN lim_opened o ON o.ticket = a.ticket "
        "LEFT JOIN lim_since x ON x.ticket = a.ticket AND x.limit_id = a.limit_id "
        "LEFT JOIN steps s ON s.ticket = a.ticket AND s.pos = x.spos), "
        "lim_pauses AS (SELECT ticket, arrival_us AS ws, "
        "GREATEST(COALESCE(next_arrival_us, occurred_us), arrival_us) AS we FROM steps WHERE waiting = 1), "
        "lim_paused AS (SELECT c.ticket, c.limit_id, SUM(GREATEST(0, LEAST(c.at_us, p.we) - GREATEST(c.since_us, p.ws))) "
        "AS paused_us FROM lim_clock c JOIN lim_pauses p ON p.ticket = c.ticket GROUP BY c.ticket, c.limit_id), "
        "lim_elapsed AS (SELECT c.ticket, c.limit_id, c.step, c.since_us, c.at_us, "
        "c.at_us - c.since_us - COALESCE(x.paused_us, 0) AS elapsed_us, c.within_us FROM lim_clock c "
        "LEFT JOIN lim_paused x ON x.ticket = c.ticket AND x.limit_id = c.limit_id WHERE c.since_us IS NOT NULL) "
        "SELECT ticket, limit_id, step, since_us, at_us, elapsed_us, within_us, "
        "CASE WHEN elapsed_us > within_us THEN 1 ELSE 0 END AS breached FROM lim_elapsed"
    )


def rework(d: Dialect) -> str:
    """Rework per activity: tickets doing it more than once, and the repeat events.

    Columns: activity, tickets, repeats.
    """
    return (
        f"WITH {_ordered()}, n AS (SELECT ticket, activity, COUNT(*) AS k FROM ordered GROUP BY ticket, activity) "
        "SELECT activity, COUNT(*) AS tickets, SUM(k - 1) AS repeats FROM n WHERE k > 1 GROUP BY activity"
    )


def team_summary(d: Dialect, holder: str = "team") -> str:
    """Ping-pong and rework counts over the log: tickets, tickets with a handover, with
    ping-pong (a holder had the ticket back), with rework, and the handovers in all.

    Columns: tickets, handed_over, ping_pong, reworked, handovers.
    """
    return (
        f"WITH f AS ({ticket_figures(d, holder)}) SELECT COUNT(*) AS tickets, "
        "SUM(CASE WHEN handovers > 0 THEN 1 ELSE 0 END) AS handed_over, "
        "SUM(CASE WHEN teams > 0 AND handovers + 1 > teams THEN 1 ELSE 0 END) AS ping_pong, "
        "SUM(CASE WHEN events > activities THEN 1 ELSE 0 END) AS reworked, SUM(handovers) AS handovers FROM f"
    )


def distinct_activities(d: Dialect) -> str:
    """Columns: activity (each distinct one), events."""
    return "SELECT activity, COUNT(*) AS events FROM events GROUP BY activity"


def log_size(d: Dialect) -> str:
    """Columns: tickets, events, teams (events naming a team), first_us, last_us."""
    return ("SELECT COUNT(DISTINCT ticket) AS tickets, COUNT(*) AS events, COUNT(team) AS teams, "
            "MIN(occurred_us) AS first_us, MAX(occurred_us) AS last_us FROM events")


#: Every aggregate by name (the engines' and the tests' common list).
AGGREGATES = {
    "activity_stats": activity_stats, "directly_follows": directly_follows,
    "directly_follows_counts": directly_follows_counts, "start_end": start_end, "variants": variants,
    "ticket_variants": ticket_variants, "variants_by_status": variants_by_status, "ticket_figures": ticket_figures,
    "step_waiting": step_waiting,
    "limit_checks": limit_checks, "rework": rework, "team_summary": team_summary,
    "distinct_activities": distinct_activities, "log_size": log_size,
}

__all__ = ["ACTIVITY_INFO_COLUMNS", "AGGREGATES", "DIALECTS", "DUCKDB", "EVENT_COLUMNS", "EVENT_COLUMN_NAMES",
           "LIMIT_COLUMNS", "POSTGRES", "ROLES", "SEPARATOR", "SPARK", "Dialect", "activity_info_rows",
           "limit_rows"]
