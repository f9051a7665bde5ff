"""Open tickets are open: conformance, `csmine conform` and `csmine trace` on hand-made logs.

Every expected figure is worked out in the comments. The complaint SOP's flow is
Receive → Record → Classify → [Escalate] → (Handle ↺ Wait for customer) → Callback →
Archive; its close step is Archive; its cheapest complete run has 6 visible steps and
costs 60,002 (two silent routing moves), so a closed ticket's fitness is
``1 - deviations / (events + 6)``. An open ticket's prefix fitness is
``1 - deviations / events``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from event_store import ActivityRow, TicketHistory, open_store
from process_models import load_sop

from csmine.conformance.deviations import analyse_conformance, check_conformance, ticket_alignment, ticket_deviations
from csmine.eventlog.lifecycle import ClosingRule

DATA = Path(__file__).resolve().parents[2] / "data" / "conformance"
T0 = pd.Timestamp("2025-03-03 09:00", tz="UTC")  # a Monday
FULL = ["Receive", "Record", "Classify", "Handle", "Callback", "Archive"]


@pytest.fixture(scope="module", autouse=True)
def _quiet_pm4py() -> Iterator[None]:
    from pm4py.util import constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "SHOW_PROGRESS_BAR", False)
        yield


def log(start: pd.Timestamp = T0, **tickets: list[str]) -> pd.DataFrame:
    """One ticket per keyword, its events ten minutes apart from ``start``."""
    rows = [
        {"case:concept:name": t, "concept:name": a, "time:timestamp": start + pd.Timedelta(minutes=10 * i)}
        for t, acts in tickets.items() for i, a in enumerate(acts)
    ]
    return pd.DataFrame(rows)


COMPLAINTS = dict(
    A=FULL,  # closed, fits (cost 2: the silent moves)
    B=FULL[:3],  # open, fits so far: Receive, Record, Classify
    C=["Receive", "Classify"],  # open: Record skipped
    D=["Receive", "Classify", "Record"],  # open: Classify done before Record
    E=["Receive", "Record", "Handle"],  # open: Handle before Classify
    F=["Receive", "Record", "Handle", "Callback", "Archive"],  # closed: Classify skipped
)


@pytest.fixture(scope="module")
def complaints():
    return analyse_conformance(log(**COMPLAINTS), load_sop("complaint"), closing=ClosingRule())


# ---------------------------------------------------------------------------------
# the library
# ---------------------------------------------------------------------------------


def test_open_tickets_are_told_apart_and_counted(complaints) -> None:
    r = complaints.report
    assert {k: r.closing[k] for k in ("closed", "open", "stale", "rule_known")} == {
        "closed": 2, "open": 4, "stale": 0, "rule_known": True}
    assert r.closing["rule"] == "closed by SOP 'complaint' close step Archive"
    t = complaints.tickets
    assert t["status"].to_dict() == {"A": "closed", "B": "open", "C": "open", "D": "open", "E": "open",
                                     "F": "closed"}


def test_open_ticket_fitness_and_pending_steps(complaints) -> None:
    t = complaints.tickets
    # B fits so far: prefix fitness 1.0 (a full alignment would say 1 - 3 / (3 + 6) = 0.67)
    assert (t.at["B", "fitness"], t.at["B", "cost"], t.at["B", "deviations"]) == (1.0, 0, 0)
    assert t.at["B", "pending"] == ("Escalate", "Handle")
    # C: Record skipped, 1 - 1/2; next as after Classify
    assert (t.at["C", "fitness"], t.at["C", "cost"], t.at["C", "pending"]) == (0.5, 10_000, ("Escalate", "Handle"))
    # D: Classify done before Record (a log move; the SOP still expects it next): 1 - 1/3
    assert t.at["D", "fitness"] == pytest.approx(2 / 3) and t.at["D", "pending"] == ("Classify",)
    # E: Handle as a log move (10,000) beats skipping Classify (10,000 + 1 silent move)
    assert t.at["E", "cost"] == 10_000 and t.at["E", "pending"] == ("Classify",)
    # closed tickets keep pm4py's figures: F 1 - 1 / (5 + 6)
    assert t.at["F", "fitness"] == pytest.approx(10 / 11) and t.at["F", "pending"] == ()
    assert (t.at["A", "cost"], t.at["A", "fitness"]) == (2, 1.0)


def test_pending_steps_are_not_deviations(complaints) -> None:
    dev = complaints.deviations
    rows = sorted(zip(dev["ticket"], dev["step"], dev["kind"], strict=True))
    assert rows == [("C", "Record", "skipped"), ("D", "Classify", "out_of_order"), ("E", "Handle", "extra"),
                    ("F", "Classify", "skipped")]
    d = dev[dev["ticket"] == "D"].iloc[0]
    assert d["description"] == "Classify out of order: done earlier than the SOP puts it"
    r = complaints.report
    assert r.step("Handle").skipped == 0 and r.step("Callback").skipped == 0 and r.step("Archive").skipped == 0
    # open tickets per next step: Escalate and Handle (B, C), Classify (D, E)
    assert {s.step: s.pending for s in r.steps if s.pending} == {"Classify": 2, "Escalate": 2, "Handle": 2}


def test_closed_and_open_figures_separately(complaints) -> None:
    r = complaints.report
    closed, opened = r.closed, r.open
    assert (closed.status, closed.alignment, opened.status, opened.alignment) == ("closed", "full", "open", "prefix")
    # closed A (6 events, cost 2) and F (5 events, cost 10,002): w = 60,002
    assert (closed.tickets, closed.events, closed.fitting_tickets, closed.deviations) == (2, 11, 1, 1)
    assert closed.log_fitness == pytest.approx(1 - (2 + 10_002) / (60_000 + 60_002 + 50_000 + 60_002))
    assert closed.average_fitness == pytest.approx((1 + 10 / 11) / 2)
    # open B, C, D, E: 11 events, costs 0 + 3 x 10,000, w = 0
    assert (opened.tickets, opened.events, opened.fitting_tickets, opened.deviations) == (4, 11, 1, 3)
    assert opened.log_fitness == pytest.approx(1 - 30_000 / 110_000)
    assert opened.average_fitness == pytest.approx((1 + 0.5 + 2 / 3 + 2 / 3) / 4)
    assert opened.kinds == {"skipped": 1, "extra": 1, "out_of_order": 1, "repeated": 0, "wrong_branch": 0}
    # the headline is over all tickets, each aligned as its status says
    assert r.deviations == closed.deviations + opened.deviations == 4
    assert r.log_fitness == pytest.approx(1 - 40_004 / (230_004 + 110_000))
    assert r.fitting_tickets == 2
    worst = {w.ticket: w for w in r.worst}
    assert worst["C"].status == "open" and worst["C"].pending == ("Escalate", "Handle")
    assert worst["F"].status == "closed"
    assert sum(w.open_tickets for w in r.weeks) == 4


def test_without_a_closing_rule_every_ticket_is_ended_as_before() -> None:
    df = log(**COMPLAINTS)
    r = check_conformance(df, load_sop("complaint"))
    assert r.closing["rule_known"] is False and r.closing["open"] == 0
    assert r.open.tickets == 0 and r.closed.tickets == 6
    # B as an ended ticket: Handle, Callback, Archive skipped, fitness 1 - 3/9
    dev = ticket_deviations(df, load_sop("complaint"))
    assert sorted(dev.loc[dev["ticket"] == "B", "step"]) == ["Archive", "Callback", "Handle"]


def test_an_sop_without_close_step_counts_every_ticket_as_ended() -> None:
    tiny = pd.read_csv(DATA / "tiny.csv", parse_dates=["time:timestamp"])
    abcd = load_sop(DATA / "abcd.toml")
    before = check_conformance(tiny, abcd)
    after = check_conformance(tiny, abcd, closing=ClosingRule())
    assert after.closing["rule_known"] is False
    assert after.closing["rule"].startswith("no closing rule")
    assert (after.log_fitness, after.kinds, after.open.tickets) == (before.log_fitness, before.kinds, 0)
    # --closed-when d: every tiny ticket ends with d, so all are closed and nothing changes
    named = check_conformance(tiny, abcd, closing=ClosingRule(closed_when="d"))
    assert named.closing["rule_known"] and named.closing["closed"] == 5
    assert named.log_fitness == before.log_fitness


def test_closed_when_regex_opens_tickets_without_the_activity() -> None:
    abcd = load_sop(DATA / "abcd.toml")
    df = log(T1=list("abcd"), T2=list("ab"))
    r = analyse_conformance(df, abcd, closing=ClosingRule(closed_when="d"))
    assert r.tickets["status"].tolist() == ["closed", "open"]
    assert r.tickets.at["T2", "fitness"] == 1.0 and r.tickets.at["T2", "pending"] == ("c",)
    assert r.report.closing["rule"] == "closed by --closed-when 'd'"


def test_stale_tickets_are_open_and_counted() -> None:
    df = pd.concat([log(start=T0, OLD=FULL[:2]), log(start=T0 + pd.Timedelta(days=40), NEW=FULL)])
    r = check_conformance(df, load_sop("complaint"), closing=ClosingRule())
    assert (r.closing["open"], r.closing["stale"], r.open.stale) == (1, 1, 1)
    never = check_conformance(df, load_sop("complaint"), closing=ClosingRule(stale_after=None))
    assert never.closing["stale"] == 0 and never.closing["open"] == 1


def test_ticket_alignment_of_an_open_ticket() -> None:
    one = log(B=FULL[:3])
    a = ticket_alignment(one, load_sop("complaint"), open_ticket=True)
    assert (a.status, a.cost, a.fitness, a.is_fit) == ("open", 0, 1.0, True)
    assert [m.move for m in a.moves] == ["sync", "sync", "sync"]
    assert [(p.step, p.label, p.required) for p in a.pending] == [
        ("Escalate", "Escalate / 升级", False), ("Handle", "Handle / 处理", True)]
    closed = ticket_alignment(one, load_sop("complaint"))
    assert closed.status == "closed" and closed.pending == ()
    assert [m.step for m in closed.moves if m.deviation == "skipped"] == ["Handle", "Callback", "Archive"]


def test_one_alignment_per_variant_and_status() -> None:
    from csmine.conformance import classify as conformance

    conformance._CLASSIFIED.clear()
    df = log(**{f"O{i}": FULL[:3] for i in range(50)}, **{f"C{i}": FULL for i in range(50)})
    r = check_conformance(df, load_sop("complaint"), closing=ClosingRule(), precision=False)
    assert r.variants == 2 and r.closing["open"] == 50
    # the empty trace (for w), the closed variant and the open one
    assert len(conformance._CLASSIFIED) == 3


def test_pm4py_engine_gives_the_same_open_figures() -> None:
    df = log(**COMPLAINTS)
    fast = analyse_conformance(df, load_sop("complaint"), closing=ClosingRule(), precision=False)
    slow = analyse_conformance(df, load_sop("complaint"), closing=ClosingRule(), precision=False, engine="pm4py")
    assert list(slow.tickets["cost"]) == list(fast.tickets["cost"])
    assert list(slow.tickets["pending"]) == list(fast.tickets["pending"])
    assert slow.report.kinds == fast.report.kinds


def test_open_tickets_need_a_time_column() -> None:
    from csmine.errors import ConformanceError

    df = log(B=FULL[:3]).drop(columns=["time:timestamp"])
    with pytest.raises(ConformanceError, match="time:timestamp"):
        check_conformance(df, load_sop("complaint"), closing=ClosingRule())


# ---------------------------------------------------------------------------------
# `csmine conform`
# ---------------------------------------------------------------------------------

S0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # a Monday


def _store(path: str, plans: dict[str, tuple[tuple[str, int], ...]], start: datetime = S0) -> str:
    """Tickets opened an hour apart from ``start``; each step (activity, minutes after opening)."""
    with open_store(path, create=True) as s:
        s.import_histories([
            TicketHistory(ticket, start + timedelta(hours=i), {"channel": "phone"},
                          tuple(ActivityRow(a, start + timedelta(hours=i, minutes=m), actor="A-1")
                                for a, m in steps))
            for i, (ticket, steps) in enumerate(plans.items())
        ])
    return path


FLOW = (("Receive", 0), ("Record", 10), ("Classify", 40), ("Handle", 300), ("Callback", 1500), ("Archive", 1560))


@pytest.fixture
def complaint_store(tmp_path) -> str:
    """CS-1 closed (the whole flow, its Archive at 03-04 03:00, the end of the log);
    CS-4 open after Classify (opened 02:00, Classify 02:40); CS-5 open, Record skipped
    (opened 03:00, Classify 03:20)."""
    return _store(str(tmp_path / "c.db"), {
        "CS-1": FLOW, "CS-4": FLOW[:3], "CS-5": (("Receive", 0), ("Classify", 20)),
    })


def test_conform_text_states_the_rule_and_the_open_tickets(cli, complaint_store) -> None:
    result = cli("conform", "--sop", "complaint", "--store", complaint_store, "-q")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1 closed · 2 open — closed by SOP 'complaint' close step Archive" in out
    assert "closed (full alignment)" in out and "open (prefix alignment)" in out
    assert "pending (open tickets)" in out
    assert "CS-5 (open)" in out and "next: Escalate, Handle" in out


def test_conform_json_has_both_groups(cli, complaint_store) -> None:
    data = json.loads(cli("conform", "--sop", "complaint", "--store", complaint_store, "--json", "-q").stdout)
    assert {k: data["closing"][k] for k in ("closed", "open", "stale", "rule_known")} == {
        "closed": 1, "open": 2, "stale": 0, "rule_known": True}
    # closed: CS-1 fits (cost 2 of 60,000 + 60,002)
    assert data["closed"]["tickets"] == 1 and data["closed"]["log_fitness"] == pytest.approx(1 - 2 / 120_002)
    # open: CS-4 fits so far, CS-5 skipped Record: 1 - 10,000 / (5 x 10,000)
    assert data["open"]["tickets"] == 2 and data["open"]["log_fitness"] == pytest.approx(0.8)
    assert data["open"]["average_fitness"] == pytest.approx((1 + 0.5) / 2)
    assert data["kinds"]["skipped"] == 1  # Record of CS-5; nothing for the steps still to come
    pending = {s["step"]: s["pending"] for s in data["steps"]}
    assert (pending["Escalate"], pending["Handle"], pending["Callback"]) == (2, 2, 0)


def test_conform_closed_when_and_stale_after_options(cli, complaint_store) -> None:
    data = json.loads(cli("conform", "--sop", "complaint", "--store", complaint_store, "--json", "-q",
                          "--closed-when", "Classify").stdout)
    assert data["closing"]["closed"] == 3 and data["closing"]["rule"].endswith("--closed-when 'Classify'")
    stale = json.loads(cli("conform", "--sop", "complaint", "--store", complaint_store, "--json", "-q",
                           "--stale-after", "1 h").stdout)
    assert stale["closing"]["stale"] == 2 and stale["open"]["stale"] == 2
    bad = cli("conform", "--sop", "complaint", "--store", complaint_store, "--stale-after", "soon")
    assert bad.exit_code == 2


def test_conform_without_a_closing_rule_says_so_once(cli, tmp_path) -> None:
    store = str(tmp_path / "tiny.db")
    assert cli("import", DATA / "tiny.csv", "--store", store, "-q").exit_code == 0
    result = cli("conform", "--sop", DATA / "abcd.toml", "--store", store, "-q")
    text = "no closing rule (no SOP close step, no --closed-when): every ticket counted as ended"
    assert result.stdout.count(text) == 1
    assert "0.8780" in result.stdout and "open (prefix alignment)" not in result.stdout


# ---------------------------------------------------------------------------------
# `csmine trace`
# ---------------------------------------------------------------------------------


def test_trace_of_an_open_ticket_lists_pending_steps_with_due_times(cli, complaint_store) -> None:
    t = json.loads(cli("trace", "CS-4", "--sop", "complaint", "--json", "--store", complaint_store).stdout)
    assert (t["status"], t["stale"], t["closing_known"]) == ("open", False, True)
    assert t["closing_rule"] == "closed by SOP 'complaint' close step Archive"
    # fits so far: prefix fitness 1.0, and no skipped step
    assert t["fitness"] == 1.0 and t["deviations"] == {}
    assert all(m["move"] != "model" for m in t["moves"])
    # the end of the log: CS-1's Archive, 03-03 01:00 + 1,560 min = 03-04 03:00
    assert t["log_end"] == "2025-03-04T03:00:00+00:00"
    escalate, handle = t["pending"]
    assert (escalate["step"], escalate["required"], escalate["due_at"], escalate["within_s"]) == (
        "Escalate", False, None, None)
    # Handle within 24 h since Classify (02:40): due 03-04 02:40, overdue at 03:00
    assert (handle["step"], handle["required"], handle["since"], handle["within_s"]) == (
        "Handle", True, "Classify", 86_400)
    assert (handle["start_at"], handle["due_at"], handle["overdue"]) == (
        "2025-03-03T02:40:00+00:00", "2025-03-04T02:40:00+00:00", True)
    # CS-5 (Classify at 03:20): Record skipped inside the prefix; Handle due 03-04 03:20, not yet overdue
    t5 = json.loads(cli("trace", "CS-5", "--sop", "complaint", "--json", "--store", complaint_store).stdout)
    assert t5["deviations"] == {"skipped": 1} and t5["fitness"] == 0.5
    assert [(p["step"], p["due_at"], p["overdue"]) for p in t5["pending"]] == [
        ("Escalate", None, False), ("Handle", "2025-03-04T03:20:00+00:00", False)]


def test_trace_text_and_html_of_an_open_ticket(cli, complaint_store, tmp_path) -> None:
    text = cli("trace", "CS-4", "--sop", "complaint", "--store", complaint_store).stdout
    assert "status: open — closed by SOP 'complaint' close step Archive" in text
    assert "follows SOP complaint so far: no deviation, fitness 1.00" in text
    assert "pending: the next steps SOP complaint expects" in text and "OVERDUE" in text
    assert "skipped" not in text
    page = tmp_path / "cs4.html"
    assert cli("trace", "CS-4", "--sop", "complaint", "--html", page, "--store", complaint_store).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "open 未结" in html and "Pending: next steps 待办" in html and "pending 待办" in html
    assert "skipped 跳过" not in html
    closed = cli("trace", "CS-1", "--sop", "complaint", "--json", "--store", complaint_store)
    c = json.loads(closed.stdout)
    assert (c["status"], c["pending"], c["fitness"]) == ("closed", [], 1.0)


def test_trace_as_of_makes_a_closed_ticket_open_then(cli, complaint_store) -> None:
    # CS-1 (opened 01:00) as it stood at 03-03 04:00: Receive, Record, Classify (01:40); Handle came at 06:00
    t = json.loads(cli("trace", "CS-1", "--sop", "complaint", "--as-of", "2025-03-03T04:00:00Z", "--json",
                       "--store", complaint_store).stdout)
    assert t["status"] == "open" and t["log_end"] == "2025-03-03T04:00:00+00:00"
    assert [p["step"] for p in t["pending"]] == ["Escalate", "Handle"]
    handle = t["pending"][1]
    # Classify at 01:40, due 03-04 01:40; not overdue at 04:00 on 03-03
    assert (handle["due_at"], handle["overdue"]) == ("2025-03-04T01:40:00+00:00", False)


def test_trace_due_time_on_the_business_calendar(tmp_path) -> None:
    from csmine.audit.trace import trace_ticket

    sop_path = tmp_path / "bh.toml"
    sop_path.write_text('''
id = "bh"
title = "Business-hours limit"
version = "1"
flow = ["seq", "Receive", "Record", "Archive"]
[[steps]]
name = "Receive"
[[steps]]
name = "Record"
[[steps]]
name = "Archive"
[[limits]]
step = "Record"
within = "2 h"
since = "opened"
business_hours = true
[roles]
close = ["Archive"]
''', encoding="utf-8")
    bh = load_sop(sop_path)
    friday = datetime(2025, 3, 7, 19, 0, tzinfo=UTC)
    store = _store(str(tmp_path / "bh.db"), {"B-1": (("Receive", 0),)}, start=friday)
    with open_store(store) as s:
        # default calendar Mon-Fri 08-20 UTC: 1 h on Friday (19-20), 1 h on Monday (08-09)
        t = trace_ticket(s, "B-1", sop=bh, integrity=False, log_end=datetime(2025, 3, 10, 8, 30, tzinfo=UTC))
        (record,) = t.pending
        assert (record.step, record.business_hours, record.due_at, record.overdue) == (
            "Record", True, datetime(2025, 3, 10, 9, 0, tzinfo=UTC), False)
        later = trace_ticket(s, "B-1", sop=bh, integrity=False, log_end=datetime(2025, 3, 10, 9, 30, tzinfo=UTC))
        assert later.pending[0].overdue is True
        # a wall clock would have made it due at Friday 21:00
        from csmine.performance.business_calendar import BusinessCalendar

        night = BusinessCalendar(hours=(0, 24), weekdays=(0, 1, 2, 3, 4, 5, 6))
        wall = trace_ticket(s, "B-1", sop=bh, integrity=False, calendar=night,
                            log_end=datetime(2025, 3, 8, 0, 0, tzinfo=UTC))
        assert wall.pending[0].due_at == datetime(2025, 3, 7, 21, 0, tzinfo=UTC)
        assert wall.pending[0].overdue is True


def test_trace_due_time_pauses_while_waiting_on_the_user(tmp_path) -> None:
    from csmine.audit.trace import trace_ticket

    it = load_sop("it-incident")
    # opened 03-03 01:00; In Progress 01:10; Wait - User 02:00 until In Progress on 03-05 02:00 (48 h)
    store = _store(str(tmp_path / "it.db"), {
        "INC-1": (("Accepted/In Progress", 10), ("Accepted/Wait - User", 60), ("Accepted/In Progress", 60 + 48 * 60)),
        "INC-2": (("Accepted/In Progress", 10), ("Completed/In Call", 20), ("Completed/Closed", 8 * 24 * 60)),
    })
    with open_store(store) as s:
        t = trace_ticket(s, "INC-1", sop=it, integrity=False)
    assert t.status == "open" and t.fitness == 1.0
    pending = {p.step: p for p in t.pending}
    assert set(pending) == {"Queue", "Assign", "Work in progress", "Wait for user", "Wait", "Wait for vendor",
                            "Wait for implementation", "Resolve", "Resolve in call"}
    assert not any(p.required for p in t.pending)  # Resolve or Resolve in call: neither is needed
    # Resolve within 5 d since opened, the 48 h wait on the user not counted: due 03-10 01:00
    resolve = pending["Resolve"]
    assert (resolve.since, resolve.start_at, resolve.due_at) == (
        "opened", datetime(2025, 3, 3, 1, 0, tzinfo=UTC), datetime(2025, 3, 10, 1, 0, tzinfo=UTC))
    # the log ends with INC-2's Closed: opened 02:00 + 8 d = 03-11 02:00, after the due time
    assert t.log_end == datetime(2025, 3, 11, 2, 0, tzinfo=UTC) and resolve.overdue is True
    # the first Work in progress is measured already (first-occurrence limits)
    assert pending["Work in progress"].due_at is None
    assert pending["Work in progress"].note == "the limit applies to the first Work in progress, already done"
    assert pending["Resolve in call"].within_s is None


def test_trace_of_a_stale_ticket(cli, tmp_path) -> None:
    store = _store(str(tmp_path / "st.db"), {"OLD": FLOW[:2]})
    with open_store(store) as s:
        s.import_histories([TicketHistory("NEW", S0 + timedelta(days=45), {"channel": "phone"},
                                          tuple(ActivityRow(a, S0 + timedelta(days=45, minutes=m)) for a, m in FLOW))])
    t = json.loads(cli("trace", "OLD", "--sop", "complaint", "--json", "--store", store).stdout)
    assert (t["status"], t["stale"]) == ("open", True)
    text = cli("trace", "OLD", "--sop", "complaint", "--store", store).stdout
    assert "status: open, stale: no event for" in text
    fresh = json.loads(cli("trace", "OLD", "--sop", "complaint", "--json", "--stale-after", "never",
                           "--store", store).stdout)
    assert (fresh["status"], fresh["stale"]) == ("open", False)
