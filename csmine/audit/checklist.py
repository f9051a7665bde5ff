"""The service checklist of the quality team's spot check, run on every ticket of a log.

Each item is pass / fail / not applicable, with the event ids that show it:

``recorded_as_sop``
    No SOP step skipped: the ticket's optimal alignment with the SOP
    (:func:`csmine.conformance.deviations.ticket_deviations`) has no ``skipped``
    deviation. Evidence on failure: the events that came where the skipped steps
    belonged. A ticket still open has not skipped the steps expected after its last event.
``first_response_in_time``
    The first event of the SOP's ``first_response`` role came within
    ``targets.first_response`` of the opening (the SLA clock of
    :func:`csmine.performance.kpi.ticket_kpis`: it pauses while waiting on the
    customer). Evidence: that event. Not applicable without the role or the target.
``customer_kept_informed``
    From the first contact until the ticket is resolved (its last event of the
    ``resolution`` role; the ticket's last event while unresolved), the customer is
    never left without contact for longer than ``inform_within`` (default 24 h, or
    the SOP target ``inform_within_h`` in hours). A contact is an event of the
    roles ``first_response``, ``waiting`` (the customer is told the ticket waits
    on them), ``resolution`` (the solution is given) or ``callback``. Evidence on
    failure: the two events around the longest silence; on success, the contacts.
``callback_done``
    An event of the ``callback`` role after the last ``resolution`` event.
    Evidence: that event. Not applicable when the SOP has no callback role, or the
    ticket is neither resolved nor closed yet (the callback is not due).
``closed_properly``
    The ticket's last event is a step of the ``close`` role and no reopen follows
    it; it fails when the ticket was closed and something happened after that.
    Evidence: the last event. Not applicable without a close role, or while the
    ticket was never closed (still open).

A ticket passes when no applicable check fails. The items, in this order, are
:data:`csmine.audit.sample.CHECKS`; :func:`csmine.audit.sample.audit_sample` runs the
checklist on a reproducible sample.

:func:`audit_tickets` gathers the evidence for all tickets at once (column-wise),
then gives each ticket its verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from csmine.errors import AuditError, EmptyLogError

if TYPE_CHECKING:
    import pandas as pd

    from process_models import SOP

    from csmine.performance.business_calendar import BusinessCalendar

#: The SOP roles whose events count as contact with the customer.
CONTACT_ROLES = ("first_response", "waiting", "resolution", "callback")
#: The longest silence ``customer_kept_informed`` allows when the SOP sets none.
DEFAULT_INFORM_WITHIN = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One checklist item for one ticket.

    Attributes:
        check: one of :data:`csmine.audit.sample.CHECKS`.
        passed: True / False, or None when it does not apply.
        evidence: event ids (``@@event_id``, log positions) that show the verdict.
        detail: the verdict in words.
    """

    check: str
    passed: bool | None
    evidence: tuple[int, ...]
    detail: str


@dataclass(frozen=True, slots=True)
class TicketAudit:
    """The checklist of one ticket.

    Attributes:
        ticket: source ticket id.
        score: its sample draw in [0, 1) (None when not sampled).
        passed: no applicable check failed (None when none applies).
        checks: one :class:`CheckResult` per item of :data:`csmine.audit.sample.CHECKS`, in that order.
    """

    ticket: str
    score: float | None
    passed: bool | None
    checks: tuple[CheckResult, ...]

    def check(self, name: str) -> CheckResult:
        """The result of one check by name."""
        for c in self.checks:
            if c.check == name:
                return c
        raise KeyError(name)


def default_inform_within(sop: SOP) -> timedelta:
    """The longest silence allowed: the SOP target ``inform_within_h`` hours, else 24 h."""
    hours = dict(sop.targets.other).get("inform_within_h")
    return timedelta(hours=float(hours)) if hours else DEFAULT_INFORM_WITHIN


def _duration(seconds: float) -> str:
    from csmine.formatting import human_duration

    return human_duration(seconds)


def audit_tickets(
    df: pd.DataFrame,
    sop: SOP,
    *,
    inform_within: timedelta | None = None,
    calendar: BusinessCalendar | None = None,
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
) -> list[TicketAudit]:
    """Run the checklist (see the module doc) on every ticket of ``df``.

    Args:
        df: event log frame; ``@@event_id`` names the events (the row label when absent).
        sop: the SOP (roles, targets, flow, aliases).
        inform_within: longest silence allowed (default: SOP target
            ``inform_within_h`` hours, else 24 h).
        calendar: count business time only (None: wall clock).

    Returns:
        One :class:`TicketAudit` per ticket, sorted by ticket (``score`` None).

    Raises:
        EmptyLogError: ``df`` is empty.
        AuditError: a needed column is missing.
    """
    if len(df) == 0:
        raise EmptyLogError("no events to audit (check the filters)")
    for key in (case_id_key, activity_key, timestamp_key):
        if key not in df.columns:
            raise AuditError(f"the event log has no column {key!r}: load it with csmine.eventlog.load_event_log")
    within = inform_within or default_inform_within(sop)
    e = _gather(df, sop, within, calendar, case_id_key, activity_key, timestamp_key)
    out: list[TicketAudit] = []
    for t in e.tickets:
        checks = [_recorded_as_sop(e, t), _first_response_in_time(e, t), _customer_kept_informed(e, t),
                  _callback_done(e, t), _closed_properly(e, t)]
        verdicts = [c.passed for c in checks if c.passed is not None]
        out.append(TicketAudit(str(t), None, all(verdicts) if verdicts else None, tuple(checks)))
    return out


# -- the evidence, for all tickets at once ---------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    """What the checks look at, per ticket (index: ticket)."""

    tickets: pd.Index  # sorted
    kpis: pd.DataFrame  # per-ticket KPIs (``closed``, ``first_response_s``)
    last_of: pd.DataFrame  # each ticket's last event: ``id``, ``step``, ``activity``, ``time``
    skipped_steps: pd.Series  # "Record, Callback" per ticket that skipped steps
    skipped_ids: pd.Series  # the events recorded where the skipped steps belonged
    other_deviations: pd.Series  # how many deviations other than skips
    pending: pd.Series  # steps still to come of an open ticket
    first_response: pd.Series | None  # id of the first first-response event (None: no such role)
    target: timedelta | None  # the SOP's first-response target
    gaps: pd.DataFrame | None  # longest silence: ``gap`` seconds, ``before`` / ``after`` ids (None: no contact role)
    contacts: pd.Series | None  # ids of the contacts within the window
    within_s: float  # the longest silence allowed
    callbacks: pd.Series | None  # id of the first callback after the last resolution (None: no callback role)
    resolution_id: pd.Series  # id of the last resolution event (NaN: unresolved)
    close_steps: set[str]
    ever_closed: pd.Series  # close steps per ticket that ever had one


def _ordered_events(df: pd.DataFrame, sop: SOP, case_id_key: str, activity_key: str,
                    timestamp_key: str) -> pd.DataFrame:
    """``ticket``, ``activity``, ``time``, ``id``, ``step``, ``pos`` of every event, in
    (ticket, time, version) order."""
    import pandas as pd

    order = [case_id_key, timestamp_key] + (["@@version"] if "@@version" in df.columns else [])
    ev = df.sort_values(order, kind="stable").reset_index(drop=False)
    ids = (ev["@@event_id"] if "@@event_id" in ev.columns else ev["index"]).to_numpy(dtype=np.int64)
    ev = pd.DataFrame({
        "ticket": ev[case_id_key].astype(str).to_numpy(dtype=object),
        "activity": ev[activity_key].astype(str).to_numpy(dtype=object),
        "time": ev[timestamp_key].to_numpy(),
        "id": ids,
    })
    ev["step"] = ev["activity"].map(sop.activity_map())
    ev["pos"] = ev.groupby("ticket", sort=False).cumcount()
    return ev


def _role_mask(ev: pd.DataFrame, sop: SOP, *roles: str) -> np.ndarray | None:
    steps = {s for r in roles for s in sop.role_steps(r)}
    return ev["step"].isin(steps).to_numpy() if steps else None


def _skips(dev: pd.DataFrame, ev: pd.DataFrame, kpis: pd.DataFrame
           ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Skipped steps and the events in their place, other deviations, and steps still
    to come, per ticket."""
    import pandas as pd

    n_events = ev.groupby("ticket").size()
    skipped = dev[dev["kind"] == "skipped"]
    # an open ticket has not skipped the steps still to come after its last event
    still_open = ~kpis["closed"].reindex(skipped["ticket"]).fillna(False).to_numpy(dtype=bool)
    to_come = still_open & (skipped["position"].to_numpy(dtype=np.int64)
                            >= n_events.reindex(skipped["ticket"]).to_numpy())
    pending = skipped[to_come].groupby("ticket").size()
    skipped = skipped[~to_come]
    others = dev[dev["kind"] != "skipped"].groupby("ticket").size()
    pos_id = ev.set_index(["ticket", "pos"])["id"]
    sk_pos = np.minimum(skipped["position"].to_numpy(dtype=np.int64),
                        n_events.reindex(skipped["ticket"]).to_numpy() - 1)
    skipped = skipped.assign(eid=pos_id.reindex(list(zip(skipped["ticket"], sk_pos, strict=True))).to_numpy())
    sk_steps = skipped.groupby("ticket")["step"].agg(lambda s: ", ".join(dict.fromkeys(map(str, s))))
    sk_ids = skipped.groupby("ticket")["eid"].agg(lambda s: tuple(dict.fromkeys(int(x) for x in s if pd.notna(x))))
    return sk_steps, sk_ids, others, pending


def _silences(ev: pd.DataFrame, sop: SOP, tickets: pd.Index, last_of: pd.DataFrame,
              calendar: BusinessCalendar | None) -> tuple[pd.DataFrame | None, pd.Series | None]:
    """Each ticket's longest silence between contacts up to its resolution, and its
    contacts (None, None: the SOP names no contact steps)."""
    import pandas as pd

    from csmine.performance.business_calendar import elapsed_seconds

    contact = _role_mask(ev, sop, *CONTACT_ROLES)
    if contact is None:
        return None, None
    res_mask = _role_mask(ev, sop, "resolution")
    res_last_time = (ev[res_mask].groupby("ticket")["time"].last() if res_mask is not None
                     else pd.Series(dtype="datetime64[us, UTC]"))
    end_time = res_last_time.reindex(tickets).fillna(last_of["time"].reindex(tickets))
    c = ev[contact].copy()
    c = c[c["time"].to_numpy() <= end_time.reindex(c["ticket"]).to_numpy()]
    # the end of the window as a pseudo-contact (the last event while unresolved)
    tail = pd.DataFrame({"ticket": tickets, "time": end_time.to_numpy(),
                         "id": np.where(res_last_time.reindex(tickets).isna(),
                                        last_of["id"].reindex(tickets).to_numpy(), -1)})
    tail = tail[tail["ticket"].isin(c["ticket"])]
    c = pd.concat([c[["ticket", "time", "id"]].assign(real=True), tail.assign(real=False)], ignore_index=True)
    c = c.sort_values(["ticket", "time"], kind="stable").reset_index(drop=True)
    same = c["ticket"].to_numpy()[1:] == c["ticket"].to_numpy()[:-1]
    secs = elapsed_seconds(c["time"].iloc[:-1].reset_index(drop=True), c["time"].iloc[1:].reset_index(drop=True),
                           calendar) if len(c) > 1 else np.array([])
    g = pd.DataFrame({"ticket": c["ticket"].to_numpy()[1:][same], "gap": np.asarray(secs)[same],
                      "before": c["id"].to_numpy()[:-1][same], "after": c["id"].to_numpy()[1:][same]})
    g = g.sort_values(["ticket", "gap"], ascending=[True, False], kind="stable")
    gaps = g.groupby("ticket").head(1).set_index("ticket")
    contacts = c[c["real"]].groupby("ticket")["id"].agg(lambda s: tuple(dict.fromkeys(int(x) for x in s)))
    return gaps, contacts


def _callbacks(ev: pd.DataFrame, sop: SOP, tickets: pd.Index) -> tuple[pd.Series | None, pd.Series]:
    """The first callback after each ticket's last resolution (None: no callback
    role), and the id of that last resolution event."""
    import pandas as pd

    res_mask = _role_mask(ev, sop, "resolution")
    res_last_pos = (ev[res_mask].groupby("ticket")["pos"].last() if res_mask is not None
                    else pd.Series(dtype=np.int64)).reindex(tickets)
    res_last_id = (ev[res_mask].groupby("ticket")["id"].last() if res_mask is not None
                   else pd.Series(dtype=np.int64)).reindex(tickets)
    cb_mask = _role_mask(ev, sop, "callback")
    if cb_mask is None:
        return None, res_last_id
    cb = ev[cb_mask]
    after = cb["pos"].to_numpy() > res_last_pos.reindex(cb["ticket"]).fillna(-1).to_numpy()
    return cb[after].groupby("ticket")["id"].first(), res_last_id


def _gather(df: pd.DataFrame, sop: SOP, within: timedelta, calendar: BusinessCalendar | None,
            case_id_key: str, activity_key: str, timestamp_key: str) -> _Evidence:
    import pandas as pd

    from csmine.conformance.deviations import ticket_deviations
    from csmine.performance.kpi import ticket_kpis

    ev = _ordered_events(df, sop, case_id_key, activity_key, timestamp_key)
    tickets = pd.Index(sorted(ev["ticket"].unique()), name="ticket")
    last_of = ev.groupby("ticket", sort=False).tail(1).set_index("ticket")
    dev = ticket_deviations(df, sop, case_id_key=case_id_key, activity_key=activity_key,
                            timestamp_key=timestamp_key)
    dev = dev.assign(ticket=dev["ticket"].astype(str))
    kpis = ticket_kpis(df, sop, calendar=calendar, case_id_key=case_id_key, activity_key=activity_key,
                       timestamp_key=timestamp_key).reindex(tickets)
    sk_steps, sk_ids, others, pending = _skips(dev, ev, kpis)
    fr_mask = _role_mask(ev, sop, "first_response")
    gaps, contacts = _silences(ev, sop, tickets, last_of, calendar)
    callbacks, res_last_id = _callbacks(ev, sop, tickets)
    close_steps = set(sop.role_steps("close"))
    return _Evidence(
        tickets=tickets, kpis=kpis, last_of=last_of, skipped_steps=sk_steps, skipped_ids=sk_ids,
        other_deviations=others, pending=pending,
        first_response=ev[fr_mask].groupby("ticket")["id"].first() if fr_mask is not None else None,
        target=sop.targets.first_response, gaps=gaps, contacts=contacts, within_s=within.total_seconds(),
        callbacks=callbacks, resolution_id=res_last_id, close_steps=close_steps,
        ever_closed=ev[ev["step"].isin(close_steps).to_numpy()].groupby("ticket").size(),
    )


# -- the verdicts, ticket by ticket ------------------------------------------------------


def _recorded_as_sop(e: _Evidence, t: str) -> CheckResult:
    if t in e.skipped_steps.index:
        return CheckResult("recorded_as_sop", False, e.skipped_ids.get(t, ()), f"skipped: {e.skipped_steps[t]}")
    extra, later = int(e.other_deviations.get(t, 0)), int(e.pending.get(t, 0))
    note = f"; {extra} other deviation{'s' if extra != 1 else ''} (extra, out of order or repeated)" \
        if extra else ""
    if later:
        note += f"; still open, {later} SOP step{'s' if later != 1 else ''} to come"
    return CheckResult("recorded_as_sop", True, (), f"no SOP step skipped{note}")


def _first_response_in_time(e: _Evidence, t: str) -> CheckResult:
    if e.first_response is None or e.target is None:
        return CheckResult("first_response_in_time", None, (), "the SOP sets no first-response step or target")
    if t not in e.first_response.index:
        return CheckResult("first_response_in_time", False, (), "no first response recorded")
    secs = float(e.kpis.at[t, "first_response_s"])
    target = e.target.total_seconds()
    return CheckResult("first_response_in_time", bool(secs <= target + 1e-9), (int(e.first_response[t]),),
                       f"first response after {_duration(secs)} (target {_duration(target)})")


def _customer_kept_informed(e: _Evidence, t: str) -> CheckResult:
    if e.gaps is None or e.contacts is None:
        return CheckResult("customer_kept_informed", None, (), "the SOP names no contact steps")
    if t not in e.contacts.index:
        return CheckResult("customer_kept_informed", False, (), "no contact with the customer recorded")
    allowed = _duration(e.within_s)
    if t in e.gaps.index and float(e.gaps.at[t, "gap"]) > e.within_s + 1e-9:
        row = e.gaps.loc[t]
        return CheckResult("customer_kept_informed", False, (int(row["before"]), int(row["after"])),
                           f"no contact for {_duration(float(row['gap']))} (allowed {allowed})")
    longest = float(e.gaps.at[t, "gap"]) if t in e.gaps.index else 0.0
    return CheckResult("customer_kept_informed", True, e.contacts[t],
                       f"longest silence {_duration(longest)} (allowed {allowed})")


def _closed(e: _Evidence, t: str) -> bool:
    return bool(e.kpis.at[t, "closed"]) if e.close_steps else False


def _callback_done(e: _Evidence, t: str) -> CheckResult:
    import pandas as pd

    if e.callbacks is None:
        return CheckResult("callback_done", None, (), "the SOP has no callback step")
    if t in e.callbacks.index:
        return CheckResult("callback_done", True, (int(e.callbacks[t]),), "callback after the resolution")
    resolved = pd.notna(e.resolution_id.get(t))
    if not resolved and not _closed(e, t):
        return CheckResult("callback_done", None, (), "not resolved yet: no callback due")
    ref = int(e.resolution_id[t]) if resolved else int(e.last_of.at[t, "id"])
    return CheckResult("callback_done", False, (ref,),
                       "no callback after the resolution" if resolved else "closed without resolution or callback")


def _closed_properly(e: _Evidence, t: str) -> CheckResult:
    if not e.close_steps:
        return CheckResult("closed_properly", None, (), "the SOP has no close step")
    last_id, last_step = int(e.last_of.at[t, "id"]), e.last_of.at[t, "step"]
    last_act = str(e.last_of.at[t, "activity"])
    if last_step in e.close_steps and _closed(e, t):
        return CheckResult("closed_properly", True, (last_id,), f"last step is {last_act}")
    if t not in e.ever_closed.index:
        return CheckResult("closed_properly", None, (), f"still open (last step {last_act})")
    return CheckResult("closed_properly", False, (last_id,),
                       f"last step is {last_act}, not {' / '.join(sorted(e.close_steps))}")


__all__ = [
    "CONTACT_ROLES",
    "DEFAULT_INFORM_WITHIN",
    "CheckResult",
    "TicketAudit",
    "audit_tickets",
    "default_inform_within",
]
