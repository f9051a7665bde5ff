"""The KPI report: a per-ticket frame summarised against the SOP's targets.

:func:`summarise_kpis` turns a :func:`~csmine.performance.kpi.ticket_kpis` frame (or
any subset of its rows) into a :class:`KpiReport`: each KPI's value, target and
whether it is met, SLA attainment per priority, the satisfaction distribution and
the backlog. One helper per group of KPIs (first response, resolution, ended
tickets' times, reopen and escalation, customer waits, satisfaction, SLA, teams,
open tickets) adds its KPIs in the report's fixed order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmine.mining.encoding import GROUP
from csmine.performance.backlog import BacklogSummary, TicketCounts, summarise_backlog, ticket_counts
from csmine.performance.plain import plain
from csmine.performance.preparation import ROLE_WORDS, missing_steps_text

if TYPE_CHECKING:
    from process_models import SOP
    from process_models.model import Targets


#: Share of tickets that must meet a time target for the KPI to count as met,
#: unless the SOP's targets set ``sla_attainment``.
DEFAULT_ATTAINMENT = 0.9

#: Satisfaction bins (points, 0-100), lower bound inclusive.
SATISFACTION_BINS = ((0, 60, "<60"), (60, 70, "60-69"), (70, 80, "70-79"), (80, 90, "80-89"), (90, 101, "90-100"))


@dataclass(frozen=True, slots=True)
class Kpi:
    """One KPI against its target.

    Attributes:
        name: key (``first_response``, ``resolution_rate``, ...).
        label: English label.
        unit: ``seconds``, ``share`` (0-1), ``points`` (0-100), ``tickets`` or ``count``.
        value: the KPI (median for times); None when it cannot be computed.
        target: the SOP's target in the same unit (None if the SOP sets none).
        met: value meets target (times: share within target >= the attainment
            goal); None without a target or value.
        n: tickets the value is based on.
        median_s / p90_s / mean_s: for times, the distribution (seconds).
        within_target: for times, share of measured tickets within the target.
        note: what the KPI measures, or why it could not be computed.
    """

    name: str
    label: str
    unit: str
    value: float | None
    target: float | None = None
    met: bool | None = None
    n: int = 0
    median_s: float | None = None
    p90_s: float | None = None
    mean_s: float | None = None
    within_target: float | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class SlaRow:
    """SLA attainment of one priority.

    Attributes:
        priority: the priority value (``"(none)"`` when missing).
        tickets: tickets of this priority.
        measured: tickets with a known SLA outcome.
        attainment: share of measured tickets meeting the SLA (None if none measured).
        first_response_within: share within the first-response target.
        resolution_within: share within the resolution-time target.
        breaches: SOP time limits breached in total.
    """

    priority: str
    tickets: int
    measured: int
    attainment: float | None
    first_response_within: float | None
    resolution_within: float | None
    breaches: int


@dataclass(frozen=True, slots=True)
class KpiReport:
    """KPIs of a set of tickets against an SOP's targets.

    Attributes:
        sop: SOP id (None without one).
        tickets: tickets measured.
        calendar: business calendar used (None: wall clock).
        kpis: the KPIs (see :class:`Kpi`), in a fixed order.
        sla_by_priority: SLA attainment per priority.
        satisfaction_distribution: tickets per satisfaction bin.
        backlog: backlog summary.
        first_line_method: how first-line tickets were identified.
        status: closed, open and stale tickets and the closing rule
            (:class:`~csmine.performance.backlog.TicketCounts`); in ``to_dict()`` this is ``tickets``.
        notes: caveats (limits left out, handovers between agents, ...).
        first_response_rule: the ``--first-response`` pattern used, if any.
    """

    sop: str | None
    tickets: int
    calendar: str | None
    kpis: tuple[Kpi, ...]
    sla_by_priority: tuple[SlaRow, ...]
    satisfaction_distribution: dict[str, int]
    backlog: BacklogSummary
    first_line_method: str
    status: TicketCounts | None = None
    notes: tuple[str, ...] = ()
    first_response_rule: str | None = None

    def kpi(self, name: str) -> Kpi:
        """The KPI called ``name`` (KeyError if absent)."""
        for k in self.kpis:
            if k.name == name:
                return k
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``tickets`` is ``{"total", "closed", "open", "stale", "rule", ...}``."""
        data = plain(asdict(self))
        status = data.pop("status", None)
        data["tickets"] = status if status is not None else {"total": self.tickets}
        if self.status is not None and not self.status.rule_known:
            data["backlog"] = None  # which tickets are open is unknown without a closing rule
        return data


def _share(mask: Any) -> tuple[float | None, int]:
    s = pd.Series(mask, dtype="boolean").dropna()
    if len(s) == 0:
        return None, 0
    return float(s.astype(bool).mean()), len(s)


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _time_kpi(name: str, label: str, values: pd.Series, target: float | None, ok: pd.Series | None,
              attainment: float, note: str) -> Kpi:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if len(v) == 0:
        return Kpi(name, label, "seconds", None, target, None, 0, note=note)
    within, _ = _share(ok) if ok is not None else (None, 0)
    met = None if (target is None or within is None) else bool(within >= attainment - 1e-12)
    return Kpi(name, label, "seconds", float(v.median()), target, met, len(v), float(v.median()),
               float(np.quantile(v.to_numpy(), 0.9)), float(v.mean()), within, note)


def _rate_kpi(name: str, label: str, mask: Any, target: float | None, note: str) -> Kpi:
    value, n = _share(mask)
    met = None if value is None or target is None else bool(value >= target - 1e-12)
    return Kpi(name, label, "share", value, target, met, n, note=note)


def _unavailable(name: str, label: str, unit: str, reason: str, target: float | None = None) -> Kpi:
    return Kpi(name, label, unit, None, target, None, 0, note=reason)


@dataclass(frozen=True)
class _Summary:
    """What every group of KPIs reads: the frame, its closed tickets, the SOP's roles and targets."""

    tickets: pd.DataFrame
    sop: SOP | None
    targets: Targets | None
    goal: float                         # attainment a time target needs
    roles: dict[str, tuple[str, ...]]   # the SOP's roles, first_response replaced by --first-response
    absent: dict[str, list[str]]        # roles no event maps to -> their steps
    fr_rule: str | None                 # the --first-response pattern
    counts: TicketCounts
    done: pd.DataFrame                  # the closed tickets (every ticket without a closing rule)
    closed_word: str                    # "closed tickets", or "tickets" without a closing rule
    no_closed: str                      # the note when no ticket is closed
    resolved: pd.Series                 # per ticket: resolved (boolean, NA without a resolution role)

    @property
    def n_done(self) -> int:
        return len(self.done)

    def why_not(self, role: str) -> str | None:
        """Why a KPI resting on ``role`` cannot be measured (None: it can)."""
        if role in self.absent:
            if role == "first_response" and self.fr_rule:
                return f"--first-response {self.fr_rule!r} matches no activity of the log"
            return missing_steps_text(role, self.absent[role])
        if role not in self.roles:
            word = ROLE_WORDS.get(role, role)
            if self.sop is None:
                extra = " or --first-response ACTIVITY" if role == "first_response" else ""
                return f"needs an SOP (--sop) {word} step{extra}"
            return f"SOP {self.sop.id!r} has no {word} step"
        return None


def _summary(tickets: pd.DataFrame, sop: SOP | None, attainment: float | None) -> _Summary:
    t = sop.targets if sop is not None else None
    goal = attainment
    if goal is None:
        goal = float(t.get("sla_attainment") or DEFAULT_ATTAINMENT) if t is not None else DEFAULT_ATTAINMENT
    attrs = tickets.attrs
    roles: dict[str, tuple[str, ...]] = dict(sop.roles) if sop is not None else {}
    fr_rule = attrs.get("first_response_rule")
    if fr_rule:
        roles["first_response"] = (str(fr_rule),)
    counts = ticket_counts(tickets)
    closed_mask = tickets["closed"].astype(bool).to_numpy() if "closed" in tickets.columns \
        else np.ones(len(tickets), dtype=bool)
    return _Summary(
        tickets=tickets, sop=sop, targets=t, goal=goal, roles=roles,
        absent=dict(attrs.get("absent_roles") or {}), fr_rule=fr_rule, counts=counts,
        done=tickets[closed_mask], closed_word="closed tickets" if counts.rule_known else "tickets",
        no_closed=f"no ticket is closed yet ({counts.open:,} open)",
        resolved=tickets["resolved"].astype("boolean"),
    )


def summarise_kpis(tickets: pd.DataFrame, sop: SOP | None, *, attainment: float | None = None) -> KpiReport:
    """Summarise a :func:`~csmine.performance.kpi.ticket_kpis` frame against the SOP's targets.

    Open and closed tickets (``closed``, by :func:`csmine.eventlog.lifecycle.ticket_status`)
    are counted apart: rates and times that are only known once a ticket has ended
    (resolution rate, first-contact resolution, handling and throughput time, time
    waiting, handovers, ping-pong, rework) are over the **closed** tickets; the
    backlog and the age of the **open** ones are shown on their own. Without a
    closing rule every ticket counts as ended, and :attr:`KpiReport.status` says so.

    A KPI resting on an SOP role that no event of the log maps to (``absent_roles``
    of the frame) is not measurable and says which step never occurs -- never
    "0 %".

    Args:
        tickets: the per-ticket frame (any subset of its rows, e.g. one phase).
        sop: the SOP whose targets apply (None: no targets).
        attainment: share of tickets that must meet a time target for the time
            KPI to count as met (default: ``targets.other['sla_attainment']`` or 0.9).

    Returns:
        The report. KPIs that cannot be computed have ``value`` None and a
        ``note`` saying why.
    """
    s = _summary(tickets, sop, attainment)
    n = len(tickets)
    sat = pd.to_numeric(tickets["satisfaction"], errors="coerce").dropna()
    notes: list[str] = []
    backlog = summarise_backlog(tickets) if n else BacklogSummary("", 0, None, 0.0, 0, None)
    kpis = [*_first_response_kpis(s), *_resolution_kpis(s), *_ended_time_kpis(s), *_reopen_escalation_kpis(s),
            *_customer_wait_kpis(s), _satisfaction_kpi(s, sat), _sla_kpi(s, notes), *_team_kpis(s, notes),
            *_open_ticket_kpis(s, backlog)]
    dist = {label: int(((sat >= lo) & (sat < hi)).sum()) for lo, hi, label in SATISFACTION_BINS} if len(sat) else {}
    return KpiReport(
        sop=sop.id if sop is not None else None,
        tickets=n,
        calendar=tickets.attrs.get("calendar"),
        kpis=tuple(kpis),
        sla_by_priority=_sla_rows(tickets),
        satisfaction_distribution=dist,
        backlog=backlog,
        first_line_method=str(tickets.attrs.get("first_line_method", "")),
        status=s.counts,
        notes=tuple(notes),
        first_response_rule=str(s.fr_rule) if s.fr_rule else None,
    )


def _first_response_kpis(s: _Summary) -> list[Kpi]:
    fr_target = _seconds(s.targets.first_response) if s.targets else None
    reason = s.why_not("first_response")
    if reason:
        return [_unavailable("first_response", "First response time", "seconds", reason, fr_target)]
    how = (f"opening to the first event matching --first-response {s.fr_rule!r}" if s.fr_rule
           else "opening to first response")
    return [_time_kpi("first_response", "First response time", s.tickets["first_response_s"], fr_target,
                      s.tickets["first_response_ok"], s.goal,
                      how + (", customer waits excluded" if "waiting" in s.roles else ""))]


def _resolution_kpis(s: _Summary) -> list[Kpi]:
    t = s.targets
    res_reason = s.why_not("resolution")
    res_target = t.resolution_rate if t else None
    if res_reason:
        return [
            _unavailable("resolution_rate", "Resolution rate", "share", res_reason, res_target),
            _unavailable("resolution_time", "Resolution time", "seconds", res_reason,
                         _seconds(t.resolution_time) if t else None),
            _unavailable("first_contact_resolution", "First-contact resolution", "share", res_reason,
                         t.first_contact_resolution if t else None),
        ]
    return [
        _rate_kpi("resolution_rate", "Resolution rate", s.done["resolved"], res_target,
                  f"resolved / {s.closed_word}" if s.n_done else s.no_closed),
        _time_kpi("resolution_time", "Resolution time", s.tickets["resolution_s"],
                  _seconds(t.resolution_time) if t else None, s.tickets["resolution_ok"], s.goal,
                  "opening to last resolution, customer waits excluded"),
        _rate_kpi("first_contact_resolution", "First-contact resolution", s.done["fcr"],
                  t.first_contact_resolution if t else None,
                  f"resolved without escalation, reopen, handover or customer wait / {s.closed_word}"
                  if s.n_done else s.no_closed),
    ]


def _ended_time_kpis(s: _Summary) -> list[Kpi]:
    """Handling and throughput time, and the share of time in waiting statuses, of ended tickets."""
    done, closed_word = s.done, s.closed_word
    kpis = [
        _time_kpi("handling_time", "Handling time", done["handling_s"], None, None, s.goal,
                  f"working time per {closed_word[:-1]}" if s.n_done else s.no_closed),
        _time_kpi("throughput_time", "Throughput time", done["throughput_s"], None, None, s.goal,
                  f"opening to last event, {closed_word}" if s.n_done else s.no_closed),
    ]
    done_time = pd.to_numeric(done["throughput_s"], errors="coerce")
    if "waiting_status_s" in done.columns and s.n_done and done_time.sum() > 0:
        in_wait = pd.to_numeric(done["waiting_status_s"], errors="coerce")
        kpis.append(Kpi("waiting_share", "Time in waiting statuses", "share",
                        float(in_wait.sum() / done_time.sum()), None, None, s.n_done,
                        note=f"time in waiting or queue statuses (between steps, in start/complete logs) / "
                             f"total time, {closed_word}"))
    else:
        kpis.append(_unavailable("waiting_share", "Time in waiting statuses", "share",
                                 s.no_closed if not s.n_done else "no ticket time to divide"))
    return kpis


def _reopen_escalation_kpis(s: _Summary) -> list[Kpi]:
    if "reopen" in s.roles:
        reason, how = s.why_not("reopen"), "reopened / resolved tickets"
    else:  # without a reopen role: work restarted (first-response role) after a resolution
        reason = s.why_not("resolution") if "resolution" in s.roles else s.why_not("reopen")
        how = "work restarted after a resolution / resolved tickets"
        if reason is None and "first_response" not in s.roles:
            reason = s.why_not("reopen")
    if reason:
        kpis = [_unavailable("reopen_rate", "Reopen rate", "share", reason)]
    else:
        reopen_base = s.tickets.loc[s.resolved.fillna(False).to_numpy(dtype=bool), "reopened"]
        kpis = [_rate_kpi("reopen_rate", "Reopen rate", reopen_base, None, how)]
    reason = s.why_not("escalation")
    kpis.append(_unavailable("escalation_rate", "Escalation rate", "share", reason) if reason else
                _rate_kpi("escalation_rate", "Escalation rate", s.tickets["escalated"], None,
                          "escalated / all tickets"))
    return kpis


def _customer_wait_kpis(s: _Summary) -> list[Kpi]:
    done_time = pd.to_numeric(s.done["throughput_s"], errors="coerce")
    reason = s.why_not("waiting")
    if reason:
        return [_unavailable("customer_wait_share", "Time waiting on the customer", "share", reason)]
    if not s.n_done or done_time.sum() <= 0:
        return [_unavailable("customer_wait_share", "Time waiting on the customer", "share", s.no_closed)]
    total_wait = pd.to_numeric(s.done["waiting_s"], errors="coerce")
    return [Kpi("customer_wait_share", "Time waiting on the customer", "share",
                float(total_wait.sum() / done_time.sum()), None, None, int(total_wait.notna().sum()),
                note=f"customer-wait time / total ticket time, {s.closed_word}")]


def _satisfaction_kpi(s: _Summary, sat: pd.Series) -> Kpi:
    sat_target = s.targets.satisfaction if s.targets else None
    if not len(sat):
        return Kpi("satisfaction", "Satisfaction", "points", None, sat_target,
                   note="no satisfaction scores in the log (attribute 'satisfaction')")
    return Kpi("satisfaction", "Satisfaction", "points", float(sat.mean()), sat_target,
               None if sat_target is None else bool(sat.mean() >= sat_target - 1e-12), len(sat),
               note="mean score (0-100)")


def _sla_kpi(s: _Summary, notes: list[str]) -> Kpi:
    """SLA attainment; notes the limits left out (their steps never occur)."""
    left_out = list(s.tickets.attrs.get("absent_limit_steps") or [])
    if left_out:
        notes.append(f"time limit{'s' if len(left_out) > 1 else ''} on {', '.join(map(repr, left_out))} left out: "
                     f"the step{'s' if len(left_out) > 1 else ''} never occur{'' if len(left_out) > 1 else 's'} "
                     "in the log")
    if s.sop is None:
        return _unavailable("sla_attainment", "SLA attainment", "share",
                            "needs an SOP (--sop) with targets or time limits")
    sla_note = "tickets meeting every applicable time limit and target / measured tickets"
    if left_out:
        sla_note += f" (limits on {', '.join(map(repr, left_out))} left out: never in the log)"
    kpi = _rate_kpi("sla_attainment", "SLA attainment", s.tickets["sla_met"], s.goal, sla_note)
    if kpi.value is None:
        kpi = _unavailable("sla_attainment", "SLA attainment", "share",
                           "no ticket reached a time limit or target of the SOP", s.goal)
    return kpi


def _team_kpis(s: _Summary, notes: list[str]) -> list[Kpi]:
    """First-line resolution, handovers, ping-pong and rework; notes handovers between agents."""
    tickets, done, closed_word, no_closed = s.tickets, s.done, s.closed_word, s.no_closed
    kpis = [_first_line_kpi(s)]
    handover_key = tickets.attrs.get("handover_key", GROUP)
    if handover_key is None:
        why = "no team or agent on any event (org:group, org:resource)"
        kpis.append(_unavailable("handovers", "Handovers per ticket", "count", why))
        kpis.append(_unavailable("ping_pong_rate", "Ping-pong (A → B → A)", "share", why))
    else:
        who, an = ("team", "a") if handover_key == GROUP else ("agent", "an")
        if handover_key != GROUP:
            notes.append(f"no event names a team (org:group): handovers and ping-pong are between agents "
                         f"({handover_key})")
        kpis.append(Kpi("handovers", "Handovers per ticket", "count",
                        float(done["handovers"].mean()) if s.n_done else None, None, None, s.n_done,
                        note=(f"changes of {who} between consecutive events, per {closed_word[:-1]}" if s.n_done
                              else no_closed)))
        pp = done["ping_pong"] if "ping_pong" in done.columns else pd.Series([], dtype="boolean")
        kpis.append(_rate_kpi("ping_pong_rate", "Ping-pong (A → B → A)", pp, None,
                              f"{closed_word} {an} {who} got back after another {who} had it / {closed_word} "
                              f"with {an} {who}" if s.n_done else no_closed))
    if "rework" in done.columns:
        kpis.append(_rate_kpi("rework_rate", "Rework (a step repeated)", done["rework"], None,
                              f"{closed_word} doing an activity more than once / {closed_word}" if s.n_done
                              else no_closed))
    return kpis


def _first_line_kpi(s: _Summary) -> Kpi:
    method = str(s.tickets.attrs.get("first_line_method", ""))
    if method == "none" or s.tickets["first_line"].isna().all():
        return _unavailable("first_line_resolution", "First-line resolution (push to front)", "share",
                            "no team on any event (org:group)")
    if "resolution" in s.roles and "resolution" not in s.absent:
        base = s.tickets.loc[s.resolved.fillna(False).to_numpy(dtype=bool), "first_line"]
        return _rate_kpi("first_line_resolution", "First-line resolution (push to front)", base, None,
                         f"resolved tickets that never left the first line / resolved tickets ({method})")
    return _rate_kpi("first_line_resolution", "First-line resolution (push to front)", s.done["first_line"],
                     None, f"{s.closed_word} that never left the first line / {s.closed_word} ({method})")


def _open_ticket_kpis(s: _Summary, backlog: BacklogSummary) -> list[Kpi]:
    """The backlog and the age of the open tickets (both need a closing rule)."""
    counts = s.counts
    if not counts.rule_known:
        no_rule = "needs a closing rule: an SOP close step or --closed-when ACTIVITY"
        return [_unavailable("backlog", "Backlog (open tickets)", "tickets", no_rule),
                _unavailable("open_age", "Age of open tickets", "seconds", no_rule)]
    stale = (f"; {backlog.stale:,} stale (no event for {counts.stale_after})"
             if counts.stale_after is not None else "")
    kpis = [Kpi("backlog", "Backlog (open tickets)", "tickets", float(backlog.open_now), None, None, len(s.tickets),
                median_s=backlog.median_age_s, note="open at the end of the log" + stale)]
    if backlog.open_now:
        kpis.append(Kpi("open_age", "Age of open tickets", "seconds", backlog.median_age_s, None, None,
                        backlog.open_now, backlog.median_age_s, backlog.p90_age_s, backlog.mean_age_s,
                        note="opening to the end of the log, open tickets" + stale))
    else:
        kpis.append(_unavailable("open_age", "Age of open tickets", "seconds",
                                 "no ticket is open at the end of the log"))
    return kpis


def _sla_rows(tickets: pd.DataFrame) -> tuple[SlaRow, ...]:
    """SLA attainment per priority (``"(none)"`` for tickets without one), in priority order."""
    if not len(tickets):
        return ()
    rows = []
    pr = tickets["priority"].astype(object).where(tickets["priority"].notna(), "(none)").astype(str)
    for value in sorted(pr.unique()):
        part = tickets[(pr == value).to_numpy()]
        att, measured = _share(part["sla_met"])
        rows.append(SlaRow(
            priority=value,
            tickets=len(part),
            measured=measured,
            attainment=att,
            first_response_within=_share(part["first_response_ok"])[0],
            resolution_within=_share(part["resolution_ok"])[0],
            breaches=int(part["breaches"].sum()),
        ))
    return tuple(rows)
