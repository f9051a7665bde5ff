"""The whole per-ticket KPI frame of :func:`csmine.performance.kpi.ticket_kpis`, from an engine.

:func:`engine_ticket_kpis` runs, next to :func:`csmine.engines.queries.ticket_figures`
(clocks, roles, handovers), two more per-ticket aggregates written here as portable SQL
over ``events``: :func:`ticket_times` (handling time and time in waiting statuses, split
as :func:`csmine.mining.time_split.split_time` does; customer-wait time; open, closed
and stale by :func:`csmine.eventlog.lifecycle.ticket_status`'s rule; first line) and
:func:`overdue_limits` (open tickets whose limited step never came and whose clock ran
out by the end of the log; the limits met come from
:func:`csmine.engines.queries.limit_checks`). Each uses small lookup tables computed in
Python from the few distinct activities and teams (``kpi_info``, ``team_info``).

**Local-only** (:class:`~csmine.errors.EngineError` names ``--engine local``): a business
calendar (``--calendar``, or a limit marked ``business_hours``), ``--priority-attr``
(a free attribute) and phases. The satisfaction score, a free step attribute, is read
from ``events``' ``attrs`` JSON text in the engine (:func:`last_scores`, the dialect's
``json_number``): the last score per ticket, on a callback event when the log has any.

``_frame`` is longer than usual: one table of column definitions, kept together as in
:func:`csmine.performance.kpi._analyse_tickets`, whose small helpers (``_ok``, ``_sla``,
``_fcr``, ``_ping_pong``) it reuses so that the derived flags have one definition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.engines.queries import LIMIT_COLUMNS, _steps, limit_checks, limit_rows
from csmine.errors import EmptyLogError, EngineError

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.engines.base import Engine
    from csmine.engines.queries import Dialect
    from csmine.eventlog.lifecycle import ClosingRule
    from csmine.eventlog.loading import Phase

KPI_INFO_COLUMNS = (("activity", "VARCHAR"), ("status_wait", "BIGINT"))
TEAM_INFO_COLUMNS = (("team", "VARCHAR"), ("line", "BIGINT"))

#: What the engines leave to ``--engine local`` (the frame's ``attrs['local_only']``): nothing of
#: the frame since the satisfaction score is read from the events' ``attrs`` (:func:`last_scores`).
LOCAL_ONLY: tuple[str, ...] = ()


def ticket_times(d: Dialect, *, status_log: bool, line_marker: bool) -> str:
    """Per ticket: handling and waiting-status time, customer wait, closing status, first line (µs).

    ``status_log``: no event of the log has a start (every gap belongs to the event
    before it, waiting when that event opens a waiting status); else every gap is
    waiting and the work is the events' own durations. ``line_marker``: some team
    name marks a 2nd/3rd line (first line: only line-1 teams), else a ticket stays in
    the first line while every team is its first team.

    Columns: ticket, handling_us, status_wait_us, customer_wait_us, last_close, last_reopen,
    closed_at_us, left_first_line, waited, last_us, resolved_at_us, and the case fields priority,
    channel, case_team, case_opened_us, category, emotion, customer, region.
    """
    gap = "GREATEST(COALESCE(next_arrival_us - occurred_us, 0), 0)"
    own = "CASE WHEN started_us IS NOT NULL THEN GREATEST(occurred_us - started_us, 0) ELSE 0 END"
    gap_work = f"CASE WHEN status_wait = 0 THEN {gap} ELSE 0 END" if status_log else "0"
    gap_wait = f"CASE WHEN status_wait = 1 THEN {gap} ELSE 0 END" if status_log else gap
    left = ("SUM(CASE WHEN line > 1 THEN 1 ELSE 0 END)" if line_marker else
            "SUM(CASE WHEN team IS NOT NULL AND team <> first_team THEN 1 ELSE 0 END)")
    return (
        f"WITH {_steps()}, x AS (SELECT s.*, k.status_wait, ti.line FROM steps s "
        "JOIN kpi_info k ON k.activity = s.activity LEFT JOIN team_info ti ON ti.team = s.team), "
        "ft AS (SELECT ticket, MIN(pos) AS fpos FROM x WHERE team IS NOT NULL GROUP BY ticket), "
        "ftt AS (SELECT x.ticket, x.team AS first_team FROM x JOIN ft ON ft.ticket = x.ticket AND ft.fpos = x.pos), "
        "y AS (SELECT x.*, ftt.first_team FROM x LEFT JOIN ftt ON ftt.ticket = x.ticket), "
        f"g AS (SELECT ticket, SUM(CASE WHEN status_wait = 0 THEN {own} ELSE 0 END + {gap_work}) AS handling_us, "
        f"SUM(CASE WHEN status_wait = 1 THEN {own} ELSE 0 END + {gap_wait}) AS status_wait_us, "
        "SUM(CASE WHEN waiting = 1 THEN GREATEST(COALESCE(next_arrival_us, occurred_us), arrival_us) - arrival_us "
        "ELSE 0 END) AS customer_wait_us, "
        "MAX(CASE WHEN closes = 1 THEN pos END) AS last_close, MAX(CASE WHEN reopens = 1 THEN pos END) AS last_reopen, "
        "MAX(CASE WHEN closes = 1 THEN occurred_us END) AS closed_at_us, "
        f"{left} AS left_first_line, MAX(waiting) AS waited, MAX(occurred_us) AS last_us, "
        "MAX(CASE WHEN resolution = 1 THEN occurred_us END) AS resolved_at_us FROM y GROUP BY ticket), "
        "ca AS (SELECT ticket, MAX(priority) AS priority, MAX(channel) AS channel, MAX(case_team) AS case_team, "
        "MIN(opened_us) AS case_opened_us, MAX(category) AS category, MAX(emotion) AS emotion, "
        "MAX(customer) AS customer, MAX(region) AS region FROM events GROUP BY ticket) "
        "SELECT g.*, ca.priority, ca.channel, ca.case_team, ca.case_opened_us, ca.category, ca.emotion, ca.customer, "
        "ca.region FROM g JOIN ca ON ca.ticket = g.ticket"
    )


def last_scores(d: Dialect, key: str = "satisfaction") -> str:
    """Per ticket, the last numeric value of the step attribute ``key`` in the ticket order,
    over all its events and over its callback events (``callback_info``), as
    :func:`csmine.performance.kpi._satisfaction` reads the score.

    Columns: ticket, callback (0/1), rn_all (1: the last over all events), value.
    """
    order = "occurred_us DESC, tie_rank DESC, version DESC"
    return (
        "WITH v AS (SELECT e.ticket, e.occurred_us, a.tie_rank, e.version, COALESCE(c.callback, 0) AS callback, "
        f"{d.json_number('e.attrs', key)} AS value FROM events e JOIN activity_info a ON a.activity = e.activity "
        "LEFT JOIN callback_info c ON c.activity = e.activity WHERE e.attrs IS NOT NULL), "
        f"r AS (SELECT ticket, callback, value, ROW_NUMBER() OVER (PARTITION BY ticket ORDER BY {order}) AS rn_all, "
        f"ROW_NUMBER() OVER (PARTITION BY ticket, callback ORDER BY {order}) AS rn_kind FROM v WHERE value IS NOT NULL) "
        "SELECT ticket, callback, rn_all, value FROM r WHERE rn_all = 1 OR (callback = 1 AND rn_kind = 1)"
    )


def _satisfaction(session: Any, sop: SOP | None, index: pd.Index) -> np.ndarray:
    """Each ticket's score (NaN without one): the last on a callback event when any callback
    event of the log has one, else the last on any event (the local rule)."""
    mapping = sop.activity_map() if sop is not None else {}
    callback = set(sop.roles.get("callback", ())) if sop is not None else set()
    rows = [(a, 1) for a in session.activity_events if mapping.get(a) in callback]
    f = session.run([last_scores(session.engine.dialect)],
                    extra={"callback_info": ((("activity", "VARCHAR"), ("callback", "BIGINT")), rows)})[0]
    f = f.assign(ticket=f["ticket"].astype(str), value=f["value"].astype(float))
    use = f[f["callback"].astype(int) == 1] if bool((f["callback"].astype(int) == 1).any()) else \
        f[f["rn_all"].astype(int) == 1]
    return use.drop_duplicates("ticket").set_index("ticket")["value"].reindex(index).to_numpy(dtype=float)


def overdue_limits(d: Dialect, *, known: bool, as_of_us: int) -> str:
    """Open tickets (by the closing rule; none when no rule is ``known``) without a limit's
    step whose clock (from the opening, or the last ``since`` event) minus customer
    waits exceeds the limit at ``as_of_us`` (the end of the log; a wait that is the
    ticket's last event lasts until then).

    Columns: ticket, limit_id, elapsed_us.
    """
    if not known:
        return "SELECT ticket, 0 AS limit_id, 0 AS elapsed_us FROM events WHERE 1 = 0"
    return (
        f"WITH {_steps()}, "
        "st AS (SELECT ticket, COALESCE(MIN(opened_us), MIN(arrival_us)) AS opened_us, "
        "MAX(CASE WHEN closes = 1 THEN pos END) AS lc, MAX(CASE WHEN reopens = 1 THEN pos END) AS lr "
        "FROM steps GROUP BY ticket), "
        "op AS (SELECT ticket, opened_us FROM st WHERE NOT (lc IS NOT NULL AND lc > COALESCE(lr, 0))), "
        "has AS (SELECT DISTINCT s.ticket, l.limit_id FROM steps s JOIN limits l ON s.step = l.step), "
        "ls AS (SELECT s.ticket, l.limit_id, MAX(s.occurred_us) AS since_us FROM steps s "
        "JOIN limits l ON s.step = l.since GROUP BY s.ticket, l.limit_id), "
        "c AS (SELECT o.ticket, l.limit_id, l.within_us, "
        "CASE WHEN l.since = 'opened' THEN o.opened_us ELSE ls.since_us END AS since_us FROM op o CROSS JOIN limits l "
        "LEFT JOIN has h ON h.ticket = o.ticket AND h.limit_id = l.limit_id "
        "LEFT JOIN ls ON ls.ticket = o.ticket AND ls.limit_id = l.limit_id WHERE h.ticket IS NULL), "
        # a last event that is a customer wait: the ticket still waits, paused to the end of the log
        f"pz AS (SELECT ticket, arrival_us AS ws, GREATEST(COALESCE(next_arrival_us, {as_of_us}), arrival_us) AS we "
        "FROM steps WHERE waiting = 1), "
        f"pd AS (SELECT c.ticket, c.limit_id, SUM(GREATEST(0, LEAST({as_of_us}, p.we) - GREATEST(c.since_us, p.ws))) "
        "AS paused FROM c JOIN pz p ON p.ticket = c.ticket WHERE c.since_us IS NOT NULL GROUP BY c.ticket, c.limit_id), "
        f"e AS (SELECT c.ticket, c.limit_id, {as_of_us} - c.since_us - COALESCE(pd.paused, 0) AS elapsed_us, c.within_us "
        "FROM c LEFT JOIN pd ON pd.ticket = c.ticket AND pd.limit_id = c.limit_id WHERE c.since_us IS NOT NULL) "
        "SELECT ticket, limit_id, elapsed_us FROM e WHERE elapsed_us > within_us"
    )


def check_engine_kpis(engine: Engine, *, calendar: Any = None, priority_attr: str | None = None,
                      sop: SOP | None = None) -> None:
    """Raise :class:`EngineError` for what stays with ``--engine local``."""
    name = engine.name
    if calendar is not None:
        raise EngineError(f"--calendar (business time) is not supported with --engine {name}: use --engine local")
    if priority_attr is not None:
        raise EngineError(f"--priority-attr reads a free attribute, not supported with --engine {name}: "
                          "use --engine local (the engines use the ticket's priority)")
    if sop is not None and any(lim.business_hours for lim in sop.limits):
        raise EngineError(f"SOP {sop.id} has time limits in business hours, not supported with --engine {name}: "
                          "use --engine local")


def _size(session: Any) -> pd.DataFrame:
    return session.run(["SELECT COUNT(started_us) AS starts, MAX(occurred_us) AS as_of_us, COUNT(actor) AS actors "
                        "FROM events"])[0]


def _limit_counts(met: pd.DataFrame, overdue: pd.DataFrame, index: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Per ticket: limits breached (met late, or overdue) and limits that applied."""
    rows = pd.concat([pd.DataFrame({"ticket": met["ticket"].astype(str), "b": met["breached"].astype(np.int64)}),
                      pd.DataFrame({"ticket": overdue["ticket"].astype(str), "b": np.ones(len(overdue), np.int64)})])
    g = rows.groupby("ticket")["b"]
    return (g.sum().reindex(index, fill_value=0).to_numpy(dtype=np.int64),
            g.size().reindex(index, fill_value=0).to_numpy(dtype=np.int64))


def _activity_lookups(session: Any, sop: SOP | None, status_log: bool) -> tuple[list[tuple[Any, ...]], list[str],
                                                                                 np.ndarray]:
    """``kpi_info`` rows (waiting statuses, as
    :func:`~csmine.performance.preparation.waiting_statuses`), the distinct teams, their lines."""
    from csmine.mining.first_line import support_line_of
    from csmine.mining.time_split import QUEUE_PATTERN, WAIT_PATTERN

    pattern = re.compile(QUEUE_PATTERN if sop is not None and not status_log else WAIT_PATTERN)
    roles = {r: set(s) for r, s in (sop.roles.items() if sop is not None else ()) if s}
    mapping = sop.activity_map() if sop is not None else {}
    wait_roles = {"waiting"} | ({"resolution", "close"} if status_log else set())
    rows = [(a, int(bool(pattern.search(a)) or any(mapping.get(a) in roles.get(r, ()) for r in wait_roles)))
            for a in session.activity_events]
    frame = session.run(["SELECT DISTINCT team FROM events WHERE team IS NOT NULL"])[0]
    teams = sorted(frame["team"].astype(str).tolist())
    lines = support_line_of(pd.Series(teams, dtype=object)).to_numpy(dtype=np.int64) if teams else np.zeros(0, int)
    return rows, teams, lines


def engine_ticket_kpis(engine: Engine, sop: SOP | None, *, tie_order: str = "auto",
                       closing: ClosingRule | None = None, first_response: str | None = None,
                       phases: Sequence[Phase] | None = None) -> pd.DataFrame:
    """The per-ticket KPI frame (see :func:`engine_kpi_frames`)."""
    return engine_kpi_frames(engine, sop, tie_order=tie_order, closing=closing, first_response=first_response,
                             phases=phases)[0]


def engine_kpi_frames(engine: Engine, sop: SOP | None, *, tie_order: str = "auto",
                      closing: ClosingRule | None = None, first_response: str | None = None,
                      phases: Sequence[Phase] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-ticket KPI frame of :func:`csmine.performance.kpi.ticket_kpis` (wall clock, ties
    in the SOP's step order as the ``kpi`` command orders them), with its ``attrs``;
    ``satisfaction`` from the events' attributes (:func:`last_scores`); ``phase`` from
    ``phases`` (the store's, :func:`csmine.eventlog.loading.list_phases`; None: no phase)."""
    from csmine.engines.results import _Session, engine_ticket_figures
    from csmine.eventlog.lifecycle import ClosingRule, closing_activities

    check_engine_kpis(engine, sop=sop)
    closing = closing or ClosingRule()
    d = engine.dialect
    try:
        session = _Session(engine, tie_order, sop, first_response, tie_sop=sop, closing=closing)
    except EmptyLogError:  # the local path's words
        raise EmptyLogError("the event log is empty: no tickets to measure (check the filters)") from None
    size = _size(session)
    status_log = int(size.at[0, "starts"]) == 0
    kpi_rows, teams, lines = _activity_lookups(session, sop, status_log)
    line_marker = bool((lines > 1).any())
    used_steps = {r[3] for r in session.info() if r[3] is not None}
    limits = [r for r in limit_rows(sop) if r[1] in used_steps]
    as_of_us = int(size.at[0, "as_of_us"])
    closes = closing_activities(list(session.activity_events), sop, closing)
    known = bool(closes) or (sop is not None and bool(sop.roles.get("close") or sop.closed_when)) \
        or closing.closed_when is not None
    extra = {"kpi_info": (KPI_INFO_COLUMNS, kpi_rows),
             "team_info": (TEAM_INFO_COLUMNS, list(zip(teams, (int(x) for x in lines), strict=True))),
             "limits": (LIMIT_COLUMNS, limits)}
    times, met, overdue = session.run(
        [ticket_times(d, status_log=status_log, line_marker=line_marker), limit_checks(d),
         overdue_limits(d, known=known, as_of_us=as_of_us)], extra=extra)
    fig = engine_ticket_figures(engine, sop, tie_order=tie_order, first_response=first_response, tie_sop=sop)
    times["ticket"] = times["ticket"].astype(str)
    t = times.set_index("ticket").reindex(fig.index)
    frame = _frame(fig, t, sop, first_response, known, closing, as_of_us, met, overdue, bool(teams))
    frame["satisfaction"] = _satisfaction(session, sop, frame.index)
    if phases:
        frame["phase"] = _phases(t, phases)
    _attrs(frame, session, sop, closing, closes, known, as_of_us, used_steps, first_response,
           ("line-marker" if line_marker else "first-team") if teams else "none",
           "org:group" if teams else ("org:resource" if int(size.at[0, "actors"]) else None), engine.name)
    return frame, _limit_frame(met, overdue, limits, sop)


def _limit_frame(met: pd.DataFrame, overdue: pd.DataFrame, limits: list[tuple[Any, ...]],
                 sop: SOP | None) -> pd.DataFrame:
    """The limit rows (met and overdue) with the columns
    :func:`csmine.performance.limits.limit_breaches` sums: ticket, step, since, within_s,
    business_hours, elapsed_s, breached, overdue."""
    by_id = {int(r[0]): r for r in limits}
    parts = [pd.DataFrame({"ticket": met["ticket"].astype(str), "limit_id": met["limit_id"].astype(np.int64),
                           "elapsed_s": met["elapsed_us"].astype(float) / 1e6,
                           "breached": met["breached"].astype(np.int64) > 0, "overdue": False}),
             pd.DataFrame({"ticket": overdue["ticket"].astype(str), "limit_id": overdue["limit_id"].astype(np.int64),
                           "elapsed_s": overdue["elapsed_us"].astype(float) / 1e6, "breached": True,
                           "overdue": True})]
    out = pd.concat(parts, ignore_index=True)
    out["step"] = [by_id[int(i)][1] for i in out["limit_id"]]
    out["since"] = [by_id[int(i)][2] for i in out["limit_id"]]
    out["within_s"] = [by_id[int(i)][3] / 1e6 for i in out["limit_id"]]
    out["business_hours"] = False
    return out.sort_values(["ticket", "step"], kind="stable").reset_index(drop=True)


def _frame(fig: pd.DataFrame, t: pd.DataFrame, sop: SOP | None, first_response: str | None, known: bool,
           closing: ClosingRule, as_of_us: int, met: pd.DataFrame, overdue: pd.DataFrame,
           has_teams: bool) -> pd.DataFrame:
    """The frame's columns, from the per-ticket aggregates (the local path's definitions)."""
    from csmine.performance import kpi as k

    n = len(fig)
    roles = {r for r, s in (sop.roles.items() if sop is not None else ()) if s}
    has_role = lambda role: (role == "first_response" and first_response is not None) or role in roles  # noqa: E731
    targets = sop.targets if sop is not None else None
    fr_s = np.clip(fig["first_response_s"].to_numpy(dtype=float), 0, None)
    fr_target = targets.first_response.total_seconds() if targets and targets.first_response else None
    fr_ok = k._ok(fr_s, fr_target) if has_role("first_response") and fr_target is not None else k._bool_col(None, n)
    res_s = np.clip(fig["resolution_s"].to_numpy(dtype=float), 0, None)
    res_target = targets.resolution_time.total_seconds() if targets and targets.resolution_time else None
    res_ok = k._ok(res_s, res_target) if has_role("resolution") and res_target is not None else k._bool_col(None, n)
    resolved = fig["resolved"].to_numpy(dtype=bool, na_value=False) if has_role("resolution") else None
    reopened = fig["reopened"].to_numpy(dtype=bool, na_value=False) if fig["reopened"].notna().all() and n else None
    escalated = fig["escalated"].to_numpy(dtype=bool, na_value=False) if has_role("escalation") else None
    waited = (t["waited"].fillna(0).to_numpy() > 0)
    handovers = fig["handovers"].to_numpy(dtype=np.int64)
    n_teams = fig["teams"].to_numpy(dtype=np.int64)
    breaches, checked = _limit_counts(met, overdue, fig.index)
    last_us = t["last_us"].to_numpy(dtype=np.int64)
    closed, closed_at, stale = _status(t, known, closing, as_of_us)
    to_ts = lambda us: pd.to_datetime(us, unit="us", utc=True)  # noqa: E731
    frame = pd.DataFrame({
        "opened_at": fig["opened_at"].to_numpy(),
        "first_response_s": fr_s, "first_response_ok": fr_ok,
        "resolved": k._bool_col(resolved, n),
        "resolved_at": to_ts(t["resolved_at_us"].astype(float).to_numpy()) if has_role("resolution")
        else to_ts(np.full(n, np.nan)),
        "resolution_s": res_s if has_role("resolution") else np.full(n, np.nan),
        "resolution_ok": res_ok, "fcr": k._bool_col(k._fcr(resolved, escalated, reopened, handovers, waited), n),
        "handling_s": t["handling_us"].astype(float).to_numpy() / 1e6,
        "waiting_s": t["customer_wait_us"].astype(float).to_numpy() / 1e6 if "waiting" in roles else np.full(n, np.nan),
        "throughput_s": np.clip(fig["throughput_s"].to_numpy(dtype=float), 0, None),
        "reopened": k._bool_col(reopened, n), "escalated": k._bool_col(escalated, n),
        "satisfaction": np.full(n, np.nan),
        "breaches": breaches, "limits_checked": checked, "sla_met": k._sla(breaches, checked, fr_ok, res_ok),
        "closed": closed, "status": np.where(closed, "closed", "open").astype(object), "stale": stale,
        "closed_at": to_ts(closed_at), "last_event_at": to_ts(last_us),
        "waiting_status_s": t["status_wait_us"].astype(float).to_numpy() / 1e6,
        "handovers": handovers, "teams": n_teams, "ping_pong": k._ping_pong(handovers, n_teams),
        "repeats": fig["repeats"].to_numpy(dtype=np.int64), "rework": fig["rework"].to_numpy(dtype=bool),
        "first_line": pd.array((t["left_first_line"].fillna(0) == 0).to_numpy() if has_teams else [pd.NA] * n,
                               dtype="boolean"),
        "events": fig["events"].to_numpy(dtype=np.int64),
    }, index=pd.Index(fig.index, name="ticket"))
    for col, src in (("priority", "priority"), ("channel", "channel"), ("team", "case_team")):
        frame[col] = t[src].astype(object).where(t[src].notna(), None).to_numpy(dtype=object)
    frame["phase"] = np.full(n, None, dtype=object)
    return frame


def _status(t: pd.DataFrame, known: bool, closing: ClosingRule,
            as_of_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed, closing time (µs, NaN while open) and stale, by the one closing rule
    (:func:`csmine.eventlog.lifecycle.ticket_status`); without a known rule every ticket is closed."""
    last_us = t["last_us"].to_numpy(dtype=np.int64)
    if not known:
        return np.ones(len(t), dtype=bool), last_us.astype(float), np.zeros(len(t), dtype=bool)
    lc, lr = t["last_close"], t["last_reopen"].fillna(0)
    closed = (lc.notna() & (lc > lr)).to_numpy(dtype=bool)
    closed_at = np.where(closed, t["closed_at_us"].astype(float).to_numpy(), np.nan)
    stale = np.zeros(len(t), dtype=bool)
    if closing.stale_after is not None:
        stale = ~closed & (last_us < as_of_us - round(closing.stale_after.total_seconds() * 1e6))
    return closed, closed_at, stale


def _phases(t: pd.DataFrame, phases: Sequence[Phase]) -> np.ndarray:
    """Each ticket's phase (:func:`csmine.eventlog.loading.assign_phases` on one row per ticket)."""
    from csmine.eventlog.loading import assign_phases

    cases = pd.DataFrame({"case:opened_at": pd.to_datetime(t["case_opened_us"].astype(float), unit="us", utc=True)},
                         index=t.index)
    for col, src in (("channel", "channel"), ("category", "category"), ("priority", "priority"),
                     ("emotion", "emotion"), ("customer", "customer"), ("team", "case_team"), ("region", "region")):
        cases[f"case:{col}"] = t[src].astype(object).where(t[src].notna(), None)
    return assign_phases(cases, phases).to_numpy(dtype=object)


def _attrs(frame: pd.DataFrame, session: Any, sop: SOP | None, closing: ClosingRule, closes: Any, known: bool,
           as_of_us: int, used_steps: set[str], first_response: str | None, first_line_method: str,
           handover_key: str | None, engine: str) -> None:
    """``frame.attrs`` as :func:`csmine.performance.kpi.ticket_kpis` sets them (plus ``local_only``)."""
    from process_models.model import format_duration

    from csmine.eventlog.lifecycle import describe_rule

    rule = describe_rule(sop, closing)
    if known and not closes:
        rule += ("; no event of the log is one of these, so every ticket is open "
                 "(name the status that closes a ticket with --closed-when)")
    info = session.info()
    flags = {role: any(r[4 + i] for r in info) for i, role in enumerate(("first_response", "resolution", "reopen",
                                                                          "escalation", "waiting"))}
    absent: dict[str, list[str]] = {}
    for role, steps in (sop.roles.items() if sop is not None else ()):
        if steps and not (flags[role] if role in flags else any(r[3] in steps for r in info)):
            absent[role] = list(steps)
    if first_response is not None:  # the pattern replaces the SOP's role (in its place)
        if flags["first_response"]:
            absent.pop("first_response", None)
        else:
            absent["first_response"] = [first_response]
    frame.attrs.update({
        "first_line_method": first_line_method, "sop": sop.id if sop is not None else None, "calendar": None,
        "closing_rule": rule, "closing_known": known,
        "stale_after": None if closing.stale_after is None else format_duration(closing.stale_after),
        "as_of": pd.Timestamp(as_of_us, unit="us", tz="UTC").isoformat(), "absent_roles": absent,
        "absent_limit_steps": sorted({lim.step for lim in (sop.limits if sop is not None else ())
                                      if lim.step not in used_steps}),
        "handover_key": handover_key, "first_response_rule": first_response,
        "local_only": list(LOCAL_ONLY), "engine": engine,
    })


def activity_frame(engine: Engine, *, weighted: bool = True) -> pd.DataFrame:
    """The log's activities as a frame (``concept:name``) for :func:`csmine.performance.sop_choice.choose_sop`.

    ``weighted``: one row per event (categorical codes; the automatic choice weighs SOPs by
    their activities' event counts: a few seconds per 10M events); else one row per
    distinct activity, most events first (enough to check that a named SOP knows the log).
    """
    from csmine.engines.queries import distinct_activities
    from csmine.mining.encoding import ACTIVITY

    f = engine.run([distinct_activities(engine.dialect)], {})[0]
    f = f.assign(activity=f["activity"].astype(str)).sort_values(["events", "activity"], ascending=[False, True])
    names = f["activity"].tolist()
    repeat = f["events"].to_numpy(dtype=np.int64) if weighted else np.ones(len(names), dtype=np.int64)
    codes = np.repeat(np.arange(len(names), dtype=np.int32), repeat)
    return pd.DataFrame({ACTIVITY: pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object))})


def engine_kpi_report(frame: pd.DataFrame, sop: SOP | None) -> Any:
    """:func:`csmine.performance.summary.summarise_kpis` of an engine's frame, the figures the
    engine leaves to ``--engine local`` (``attrs['local_only']``) said so instead of "none"."""
    from dataclasses import replace

    from csmine.performance.summary import summarise_kpis

    report = summarise_kpis(frame, sop)
    engine = frame.attrs.get("engine", "duckdb")
    if "satisfaction" not in frame.attrs.get("local_only", ()):
        return report
    kpis = tuple(replace(k, note=f"not computed with --engine {engine}: satisfaction is a free event attribute "
                                  "(use --engine local)") if k.name == "satisfaction" else k for k in report.kpis)
    return replace(report, kpis=kpis)


__all__ = ["LOCAL_ONLY", "activity_frame", "last_scores", "engine_kpi_frames", "engine_kpi_report", "check_engine_kpis", "engine_ticket_kpis", "overdue_limits", "ticket_times"]
