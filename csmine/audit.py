"""The quality team's reproducible spot check: a hash-based sample and the service checklist.

**Sampling.** A ticket is in the sample when ``u(seed, ticket) < rate``, where
``u`` is the first 8 bytes of ``SHA-256("csmine-sample/v1" 0x00 seed 0x00 ticket)``
read as a big-endian integer and divided by 2**64 (uniform in [0, 1)). So:

* the same seed on the same tickets gives the same sample, on any machine;
* each ticket's membership depends only on the seed and its own id: tickets added
  to the store later, or filters that keep other tickets, never change whether a
  ticket is drawn (stable under unrelated growth);
* samples nest: with one seed, the 5% sample is inside the 10% sample;
* the sample size is binomial (``rate x population`` on average), not fixed.

**The checklist** (from the service manuals), each pass / fail / not applicable
with the event ids that show it:

``recorded_as_sop``
    No SOP step skipped: the ticket's optimal alignment with the SOP
    (:func:`csmine.conformance.ticket_deviations`) has no ``skipped`` deviation.
    Evidence on failure: the events that came where the skipped steps belonged.
    A ticket still open has not skipped the steps expected after its last event.
``first_response_in_time``
    The first event of the SOP's ``first_response`` role came within
    ``targets.first_response`` of the opening (the SLA clock of
    :func:`csmine.kpi.ticket_kpis`: it pauses while waiting on the customer).
    Evidence: that event. Not applicable without the role or the target.
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

A ticket passes when no applicable check fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from csmine.errors import CsmineError, EmptyLogError

if TYPE_CHECKING:
    import pandas as pd

    from csmine.calendar import BusinessCalendar
    from process_models import SOP

SAMPLE_SALT = b"csmine-sample/v1"
CHECKS: tuple[str, ...] = (
    "recorded_as_sop",
    "first_response_in_time",
    "customer_kept_informed",
    "callback_done",
    "closed_properly",
)
CHECK_WORDS: dict[str, str] = {
    "recorded_as_sop": "recorded as the SOP says",
    "first_response_in_time": "first response in time",
    "customer_kept_informed": "customer kept informed",
    "callback_done": "callback done",
    "closed_properly": "closed properly",
}
CONTACT_ROLES = ("first_response", "waiting", "resolution", "callback")
DEFAULT_INFORM_WITHIN = timedelta(hours=24)


class AuditError(CsmineError):
    """A sample or checklist cannot be made as asked (bad rate, missing columns)."""


def sample_score(seed: str, ticket: str) -> float:
    """The ticket's draw in [0, 1) for ``seed`` (see the module doc)."""
    digest = hashlib.sha256(SAMPLE_SALT + b"\x00" + seed.encode() + b"\x00" + ticket.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def sample_tickets(tickets: Iterable[str], rate: float, seed: str) -> list[str]:
    """The tickets drawn at ``rate`` with ``seed``, sorted; each ticket at most once.

    Raises:
        AuditError: ``rate`` outside (0, 1].
    """
    if not 0.0 < rate <= 1.0:
        raise AuditError(f"sample rate {rate} is outside (0, 1]: use e.g. 0.1 for 10%")
    return sorted(t for t in set(map(str, tickets)) if sample_score(seed, t) < rate)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One checklist item for one ticket.

    Attributes:
        check: one of :data:`CHECKS`.
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
        checks: one :class:`CheckResult` per item of :data:`CHECKS`, in that order.
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


@dataclass(frozen=True, slots=True)
class AuditSample:
    """A reproducible sample with its checklist.

    Attributes:
        sop: SOP id.  sop_version: its version.
        seed: the seed.  rate: the sampling rate (0-1].
        population: tickets the sample was drawn from (after filters).
        inform_within_s: the longest silence allowed by ``customer_kept_informed``.
        tickets: the sampled tickets' checklists, sorted by ticket.
        summary: check -> {"passed": n, "failed": n, "not_applicable": n}.
    """

    sop: str
    sop_version: str
    seed: str
    rate: float
    population: int
    inform_within_s: float
    tickets: tuple[TicketAudit, ...]
    summary: dict[str, dict[str, int]]

    @property
    def selected(self) -> int:
        """Tickets in the sample."""
        return len(self.tickets)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data = asdict(self)
        data["selected"] = self.selected
        return data

    def to_frame(self) -> pd.DataFrame:
        """One row per sampled ticket: ``ticket``, ``score``, ``passed`` and, per check,
        ``<check>`` (pass / fail / n/a), ``<check>_evidence`` (space-separated event ids)
        and ``<check>_detail``."""
        import pandas as pd

        rows = []
        for t in self.tickets:
            row: dict[str, Any] = {"ticket": t.ticket, "score": t.score, "passed": _word(t.passed)}
            for c in t.checks:
                row[c.check] = _word(c.passed)
                row[f"{c.check}_evidence"] = " ".join(map(str, c.evidence))
                row[f"{c.check}_detail"] = c.detail
            rows.append(row)
        columns = ["ticket", "score", "passed"] + [f"{c}{s}" for c in CHECKS for s in ("", "_evidence", "_detail")]
        return pd.DataFrame(rows, columns=columns)


def _word(value: bool | None) -> str:
    return "n/a" if value is None else "pass" if value else "fail"


def _duration(seconds: float) -> str:
    from csmine.render import human_duration

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
    import pandas as pd

    from csmine.calendar import elapsed_seconds
    from csmine.conformance import ticket_deviations
    from csmine.kpi import ticket_kpis

    if len(df) == 0:
        raise EmptyLogError("no events to audit (check the filters)")
    for key in (case_id_key, activity_key, timestamp_key):
        if key not in df.columns:
            raise AuditError(f"the event log has no column {key!r}: load it with csmine.eventlog.load_event_log")
    within = inform_within or _inform_within(sop)
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
    tickets = pd.Index(sorted(ev["ticket"].unique()), name="ticket")
    last_of = ev.groupby("ticket", sort=False).tail(1).set_index("ticket")

    def role_mask(*roles: str) -> np.ndarray | None:
        steps = {s for r in roles for s in sop.role_steps(r)}
        return ev["step"].isin(steps).to_numpy() if steps else None

    # 1. recorded as the SOP says: no skipped step
    dev = ticket_deviations(df, sop, case_id_key=case_id_key, activity_key=activity_key,
                            timestamp_key=timestamp_key)
    dev = dev.assign(ticket=dev["ticket"].astype(str))
    kpis = ticket_kpis(df, sop, calendar=calendar, case_id_key=case_id_key, activity_key=activity_key,
                       timestamp_key=timestamp_key).reindex(tickets)
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

    # 2. first response in time (the KPI clock)
    fr_mask = role_mask("first_response")
    fr_first = ev[fr_mask].groupby("ticket")["id"].first() if fr_mask is not None else pd.Series(dtype=object)
    target = sop.targets.first_response

    # 3. customer kept informed
    contact = role_mask(*CONTACT_ROLES)
    res_mask = role_mask("resolution")
    res_last_time = (ev[res_mask].groupby("ticket")["time"].last() if res_mask is not None
                     else pd.Series(dtype="datetime64[us, UTC]"))
    end_time = res_last_time.reindex(tickets).fillna(last_of["time"].reindex(tickets))
    gaps = None
    if contact is not None:
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
    within_s = within.total_seconds()

    # 4. callback after the last resolution; 5. closed properly
    cb_mask = role_mask("callback")
    res_last_pos = (ev[res_mask].groupby("ticket")["pos"].last() if res_mask is not None
                    else pd.Series(dtype=np.int64)).reindex(tickets)
    res_last_id = (ev[res_mask].groupby("ticket")["id"].last() if res_mask is not None
                   else pd.Series(dtype=np.int64)).reindex(tickets)
    if cb_mask is not None:
        cb = ev[cb_mask]
        after = cb["pos"].to_numpy() > res_last_pos.reindex(cb["ticket"]).fillna(-1).to_numpy()
        cb_done = cb[after].groupby("ticket")["id"].first()
    close_steps = set(sop.role_steps("close"))
    ever_closed = ev[ev["step"].isin(close_steps).to_numpy()].groupby("ticket").size()

    out: list[TicketAudit] = []
    for t in tickets:
        checks: list[CheckResult] = []
        # 1
        if t in sk_steps.index:
            checks.append(CheckResult("recorded_as_sop", False, sk_ids.get(t, ()),
                                      f"skipped: {sk_steps[t]}"))
        else:
            extra, later = int(others.get(t, 0)), int(pending.get(t, 0))
            note = f"; {extra} other deviation{'s' if extra != 1 else ''} (extra, out of order or repeated)" \
                if extra else ""
            if later:
                note += f"; still open, {later} SOP step{'s' if later != 1 else ''} to come"
            checks.append(CheckResult("recorded_as_sop", True, (), f"no SOP step skipped{note}"))
        # 2
        if fr_mask is None or target is None:
            checks.append(CheckResult("first_response_in_time", None, (),
                                      "the SOP sets no first-response step or target"))
        elif t not in fr_first.index:
            checks.append(CheckResult("first_response_in_time", False, (), "no first response recorded"))
        else:
            secs_fr = float(kpis.at[t, "first_response_s"])
            ok = bool(secs_fr <= target.total_seconds() + 1e-9)
            checks.append(CheckResult(
                "first_response_in_time", ok, (int(fr_first[t]),),
                f"first response after {_duration(secs_fr)} (target {_duration(target.total_seconds())})"))
        # 3
        if gaps is None:
            checks.append(CheckResult("customer_kept_informed", None, (), "the SOP names no contact steps"))
        elif t not in contacts.index:
            checks.append(CheckResult("customer_kept_informed", False, (), "no contact with the customer recorded"))
        elif t in gaps.index and float(gaps.at[t, "gap"]) > within_s + 1e-9:
            row = gaps.loc[t]
            checks.append(CheckResult(
                "customer_kept_informed", False, (int(row["before"]), int(row["after"])),
                f"no contact for {_duration(float(row['gap']))} (allowed {_duration(within_s)})"))
        else:
            longest = float(gaps.at[t, "gap"]) if t in gaps.index else 0.0
            checks.append(CheckResult(
                "customer_kept_informed", True, contacts[t],
                f"longest silence {_duration(longest)} (allowed {_duration(within_s)})"))
        # 4
        resolved = pd.notna(res_last_id.get(t))
        closed = bool(kpis.at[t, "closed"]) if close_steps else False
        if cb_mask is None:
            checks.append(CheckResult("callback_done", None, (), "the SOP has no callback step"))
        elif t in cb_done.index:
            checks.append(CheckResult("callback_done", True, (int(cb_done[t]),), "callback after the resolution"))
        elif not resolved and not closed:
            checks.append(CheckResult("callback_done", None, (), "not resolved yet: no callback due"))
        else:
            ref = int(res_last_id[t]) if resolved else int(last_of.at[t, "id"])
            checks.append(CheckResult("callback_done", False, (ref,),
                                      "no callback after the resolution" if resolved
                                      else "closed without resolution or callback"))
        # 5
        if not close_steps:
            checks.append(CheckResult("closed_properly", None, (), "the SOP has no close step"))
        else:
            last_id, last_step = int(last_of.at[t, "id"]), last_of.at[t, "step"]
            last_act = str(last_of.at[t, "activity"])
            if last_step in close_steps and closed:
                checks.append(CheckResult("closed_properly", True, (last_id,), f"last step is {last_act}"))
            elif t not in ever_closed.index:
                checks.append(CheckResult("closed_properly", None, (), f"still open (last step {last_act})"))
            else:
                checks.append(CheckResult("closed_properly", False, (last_id,),
                                          f"last step is {last_act}, not {' / '.join(sorted(close_steps))}"))
        verdicts = [c.passed for c in checks if c.passed is not None]
        out.append(TicketAudit(str(t), None, all(verdicts) if verdicts else None, tuple(checks)))
    return out


def _inform_within(sop: SOP) -> timedelta:
    hours = dict(sop.targets.other).get("inform_within_h")
    return timedelta(hours=float(hours)) if hours else DEFAULT_INFORM_WITHIN


def audit_sample(
    df: pd.DataFrame,
    sop: SOP,
    *,
    rate: float,
    seed: str,
    inform_within: timedelta | None = None,
    calendar: BusinessCalendar | None = None,
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
) -> AuditSample:
    """Draw the reproducible sample from the tickets of ``df`` and run the checklist.

    Args:
        df: event log frame (filters already applied: the population).
        sop: the SOP to check against.
        rate: share of tickets to draw, (0, 1].
        seed: any text (e.g. the day's date); the same seed gives the same sample.
        inform_within: see :func:`audit_tickets`.
        calendar: see :func:`audit_tickets`.

    Returns:
        An :class:`AuditSample` (empty ``tickets`` when nothing is drawn).

    Raises:
        AuditError: ``rate`` outside (0, 1].
        EmptyLogError: ``df`` is empty.
    """
    if len(df) == 0:
        raise EmptyLogError("no tickets to sample from (check the filters)")
    population = df[case_id_key].astype(str)
    chosen = sample_tickets(population.unique(), rate, seed)
    within = inform_within or _inform_within(sop)
    audits: list[TicketAudit] = []
    if chosen:
        part = df[population.isin(chosen).to_numpy()]
        audits = [
            TicketAudit(a.ticket, sample_score(seed, a.ticket), a.passed, a.checks)
            for a in audit_tickets(part, sop, inform_within=within, calendar=calendar, case_id_key=case_id_key,
                                   activity_key=activity_key, timestamp_key=timestamp_key)
        ]
    summary = {
        check: {
            "passed": sum(1 for a in audits if a.check(check).passed is True),
            "failed": sum(1 for a in audits if a.check(check).passed is False),
            "not_applicable": sum(1 for a in audits if a.check(check).passed is None),
        }
        for check in CHECKS
    }
    return AuditSample(sop.id, sop.version, seed, rate, int(population.nunique()), within.total_seconds(),
                       tuple(audits), summary)
