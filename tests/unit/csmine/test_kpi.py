"""Service KPIs on small hand-made logs; every expected value is worked out by hand.

tests/data/kpi/complaint_small.csv (complaint SOP v1: first response = Record within
30 min, Classify within 2 h of opening, Handle within 24 h of Classify, Callback within
48 h of Handle, Archive within 72 h of Callback). The end of the log is T3's last
Archive, 2025-03-06 12:00 UTC.

T1 (P1, phone) Receive 03-03 09:00, Record 09:05-09:10, Classify 09:10-09:20,
   Handle 10:00-11:00, Callback 03-04 10:00-10:10 (95), Archive 03-04 11:00.
T2 (P2, email) Receive 03-03 09:00, Record 09:40-09:50 (late), Classify 09:50-10:00,
   Escalate 10:05, Handle 12:00-13:00 (Specialist), Wait for customer 13:00,
   Handle 03-04 09:00-10:00 (Specialist), Callback 03-05 09:00-09:15 (70), Archive 03-05 10:00.
T3 (P1, chat) Receive 03-04 14:00, Record 14:05-14:15, Classify 14:15-14:30, Handle 15:00-16:00,
   Callback 03-05 10:00-10:05 (40), Archive 03-05 11:00, Reopen 03-06 09:00,
   Handle 03-06 10:00-11:00, Archive 03-06 12:00.
T4 (P2, phone) Receive 03-04 08:00, Record 08:10-08:20, Classify 08:20-08:30; still open.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from process_models import load_sop

from csmine.performance.business_calendar import BusinessCalendar
from csmine.performance.backlog import backlog_series
from csmine.performance.kpi import ticket_kpis
from csmine.performance.limits import check_limits
from csmine.performance.sop_choice import suggest_sop
from csmine.performance.summary import summarise_kpis

DATA = Path(__file__).resolve().parents[2] / "data" / "kpi"
MIN, H = 60.0, 3600.0


def read_log(name: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / name, dtype={"satisfaction": float})
    for col in ("time:timestamp", "start_timestamp"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


@pytest.fixture(scope="module")
def complaint() -> pd.DataFrame:
    return read_log("complaint_small.csv")


@pytest.fixture(scope="module")
def sop():
    return load_sop("complaint")


@pytest.fixture(scope="module")
def tickets(complaint, sop) -> pd.DataFrame:
    return ticket_kpis(complaint, sop)


def test_first_response_per_ticket(tickets):
    # Record completion - opening: T1 09:10-09:00 = 10 min; T2 09:50-09:00 = 50 min;
    # T3 14:15-14:00 = 15 min; T4 08:20-08:00 = 20 min. Target 30 min: only T2 misses.
    assert tickets["first_response_s"].to_dict() == {"T1": 10 * MIN, "T2": 50 * MIN, "T3": 15 * MIN, "T4": 20 * MIN}
    assert tickets["first_response_ok"].tolist() == [True, False, True, True]


def test_resolution_and_pauses(tickets):
    assert tickets["resolved"].tolist() == [True, True, True, False]
    # T1: last Handle 11:00 - 09:00 = 2 h.
    # T2: last Handle 03-04 10:00 - 03-03 09:00 = 25 h, minus the wait for the customer from the
    #     'Wait for customer' event (03-03 13:00) to the start of the next Handle (03-04 09:00) = 20 h -> 5 h.
    # T3: last Handle 03-06 11:00 - 03-04 14:00 = 45 h (no waits).
    res = tickets["resolution_s"]
    assert res["T1"] == 2 * H
    assert res["T2"] == 5 * H
    assert res["T3"] == 45 * H
    assert math.isnan(res["T4"])
    assert tickets["waiting_s"].tolist() == [0.0, 20 * H, 0.0, 0.0]
    # complaint v1 sets no resolution-time target
    assert tickets["resolution_ok"].isna().all()


def test_handling_throughput_and_flags(tickets):
    # handling = sum of the working intervals (completion - start):
    # T1 Record 5 + Classify 10 + Handle 60 + Callback 10 = 85 min
    # T2 Record 10 + Classify 10 + Handle 60 + Handle 60 + Callback 15 = 155 min
    # T3 Record 10 + Classify 15 + Handle 60 + Callback 5 + Handle 60 = 150 min
    # T4 Record 10 + Classify 10 = 20 min
    assert tickets["handling_s"].tolist() == [85 * MIN, 155 * MIN, 150 * MIN, 20 * MIN]
    # throughput = last event - opening: 26 h, 49 h, 46 h, 30 min
    assert tickets["throughput_s"].tolist() == [26 * H, 49 * H, 46 * H, 30 * MIN]
    assert tickets["escalated"].tolist() == [False, True, False, False]
    assert tickets["reopened"].tolist() == [False, False, True, False]
    # FCR: resolved, not escalated, not reopened, no handover, no customer wait -> only T1
    assert tickets["fcr"].tolist() == [True, False, False, False]
    # T2: First line -> Specialist (Handle) -> First line (Callback) = 2 handovers
    assert tickets["handovers"].tolist() == [0, 2, 0, 0]
    assert tickets["teams"].tolist() == [1, 2, 1, 1]
    assert tickets["first_line"].tolist() == [True, False, True, True]
    assert tickets.attrs["first_line_method"] == "first-team"
    # satisfaction: the score on the (last) Callback
    assert tickets["satisfaction"].tolist()[:3] == [95.0, 70.0, 40.0]
    assert math.isnan(tickets["satisfaction"]["T4"])
    # T3 was archived, reopened and archived again: closed; T4 never archived: open
    assert tickets["closed"].tolist() == [True, True, True, False]
    assert tickets["closed_at"]["T3"] == pd.Timestamp("2025-03-06T12:00Z")
    assert tickets["priority"].tolist() == ["P1", "P2", "P1", "P2"]
    assert tickets["channel"].tolist() == ["phone", "email", "chat", "phone"]


def test_limits_first_occurrence_and_overdue(complaint, sop, tickets):
    limits = check_limits(complaint, sop)
    by = {(r.ticket, r.step): r for r in limits.itertuples()}
    # T2 Record 50 min > 30 min: breached
    assert by[("T2", "Record")].breached and by[("T2", "Record")].elapsed_s == 50 * MIN
    # T2 first Handle 13:00, latest Classify before it 10:00: 3 h <= 24 h
    assert by[("T2", "Handle")].elapsed_s == 3 * H and not by[("T2", "Handle")].breached
    # T2 Callback 03-05 09:15 since the latest Handle before it (03-04 10:00): 23 h 15 min <= 48 h
    assert by[("T2", "Callback")].elapsed_s == 23 * H + 15 * MIN
    # T3 first Archive 03-05 11:00 since Callback 10:05: 55 min (the second Archive is not measured)
    assert by[("T3", "Archive")].elapsed_s == 55 * MIN
    # T4 has no Handle, is open, and 03-04 08:30 -> 03-06 12:00 = 51 h 30 min > 24 h: overdue
    t4 = by[("T4", "Handle")]
    assert t4.overdue and t4.breached and t4.elapsed_s == 51 * H + 30 * MIN and pd.isna(t4.at)
    # T4 has no Callback/Archive and no Handle to start their clocks: not applicable
    assert ("T4", "Callback") not in by and ("T4", "Archive") not in by
    # 4 Record + 4 Classify + 4 Handle + 3 Callback + 3 Archive rows
    assert len(limits) == 18
    assert tickets["breaches"].tolist() == [0, 1, 0, 1]
    assert tickets["limits_checked"].tolist() == [5, 5, 5, 3]
    assert tickets["sla_met"].tolist() == [True, False, True, False]


def test_summary_against_targets(tickets, sop):
    report = summarise_kpis(tickets, sop)
    fr = report.kpi("first_response")
    # first responses 10, 15, 20, 50 min: median (15 + 20) / 2 = 17.5 min;
    # P90 (linear) = 20 + 0.7 * (50 - 20) = 41 min; 3 of 4 within 30 min
    assert fr.value == 17.5 * MIN
    assert fr.p90_s == pytest.approx(41 * MIN)
    assert fr.within_target == 0.75
    assert fr.target == 30 * MIN
    assert fr.met is False  # 75 % < the 90 % attainment goal
    # T4 is still open (never archived): rates and times of ended tickets are over T1-T3
    assert (report.status.closed, report.status.open, report.status.total) == (3, 1, 4)
    rr = report.kpi("resolution_rate")
    # resolved / closed tickets = 3 / 3 (T4, open and not yet handled, does not count against it)
    assert (rr.value, rr.target, rr.met, rr.n) == (1.0, 0.98, True, 3)
    # FCR over the closed tickets: only T1 of T1, T2, T3
    assert report.kpi("first_contact_resolution").value == pytest.approx(1 / 3)
    # reopened / resolved = 1 / 3
    assert report.kpi("reopen_rate").value == pytest.approx(1 / 3)
    assert report.kpi("escalation_rate").value == 0.25
    # handling of the closed tickets 85, 150, 155 min: median 150 min
    assert report.kpi("handling_time").value == 150 * MIN
    # throughput of the closed tickets 26, 46, 49 h: median 46 h (T4's 30 min so far is its age)
    assert report.kpi("throughput_time").value == 46 * H
    sat = report.kpi("satisfaction")
    # (95 + 70 + 40) / 3 = 68.33 < 90
    assert sat.value == pytest.approx(205 / 3) and sat.met is False and sat.n == 3
    assert report.satisfaction_distribution == {"<60": 1, "60-69": 0, "70-79": 1, "80-89": 0, "90-100": 1}
    # 2 of 4 tickets meet every limit and target
    assert report.kpi("sla_attainment").value == 0.5
    # resolved tickets that stayed with the first team: T1, T3 of T1, T2, T3
    assert report.kpi("first_line_resolution").value == pytest.approx(2 / 3)
    # handovers per closed ticket: (0 + 2 + 0) / 3
    assert report.kpi("handovers").value == pytest.approx(2 / 3)
    # customer waits / ticket time of the closed tickets = 20 h / (26 + 49 + 46) h
    assert report.kpi("customer_wait_share").value == pytest.approx(20 / 121)
    # ping-pong: T2 First line -> Specialist -> First line, 1 of the 3 closed tickets
    assert report.kpi("ping_pong_rate").value == pytest.approx(1 / 3)
    # rework: T2 (Handle twice) and T3 (Archive, Handle twice) of T1-T3
    assert report.kpi("rework_rate").value == pytest.approx(2 / 3)
    sla = {row.priority: row for row in report.sla_by_priority}
    assert (sla["P1"].tickets, sla["P1"].attainment) == (2, 1.0)
    assert (sla["P2"].tickets, sla["P2"].attainment, sla["P2"].breaches) == (2, 0.0, 2)
    assert sla["P2"].first_response_within == 0.5
    # backlog: T4 open at the end (03-06 12:00), opened 03-04 08:00 -> 52 h old
    assert report.backlog.open_now == 1
    assert report.backlog.median_age_s == 52 * H
    assert report.kpi("backlog").value == 1.0
    assert report.kpi("open_age").value == 52 * H and report.kpi("open_age").n == 1
    assert report.to_dict()["kpis"][0]["name"] == "first_response"


def test_backlog_series(tickets):
    series = backlog_series(tickets)
    # opened: 03-03 T1, T2; 03-04 T3, T4. closed (final close): T1 03-04, T2 03-05, T3 03-06.
    assert series.to_dict("list") == {
        "date": ["2025-03-03", "2025-03-04", "2025-03-05", "2025-03-06"],
        "opened": [2, 2, 0, 0],
        "closed": [0, 1, 1, 1],
        "open": [2, 3, 2, 1],
    }


def test_chinese_activity_names_give_the_same_kpis(tickets, sop):
    zh = ticket_kpis(read_log("complaint_small_zh.csv"), sop)
    cols = ["first_response_s", "resolution_s", "handling_s", "waiting_s", "breaches", "handovers", "satisfaction"]
    pd.testing.assert_frame_equal(zh[cols], tickets[cols])
    assert zh["fcr"].tolist() == tickets["fcr"].tolist()


def test_calendar_and_pause_together(sop):
    # opened Fri 2025-03-07 17:50, Record Mon 03-10 09:10; calendar 09:00-18:00 Mon-Fri UTC:
    # Fri 17:50-18:00 (10 min) + Mon 09:00-09:10 (10 min) = 20 min, within 30 min (wall clock: 63 h 20 min).
    # Handle waits for the customer from Mon 10:00 to Tue 10:00 (start of the next Handle):
    # resolution = business time Fri 17:50 -> Tue 11:00 = 10 min + 9 h + 2 h = 11 h 10 min, minus the pause
    # Mon 10:00-18:00 (8 h) + Tue 09:00-10:00 (1 h) = 9 h -> 2 h 10 min.
    rows = [
        ("X", "Receive", "2025-03-07T17:50Z", None),
        ("X", "Record", "2025-03-10T09:10Z", "2025-03-10T09:00Z"),
        ("X", "Handle", "2025-03-10T10:00Z", "2025-03-10T09:30Z"),
        ("X", "Wait for customer", "2025-03-10T10:00Z", None),
        ("X", "Handle", "2025-03-11T11:00Z", "2025-03-11T10:00Z"),
    ]
    df = pd.DataFrame(rows, columns=["case:concept:name", "concept:name", "time:timestamp", "start_timestamp"])
    for col in ("time:timestamp", "start_timestamp"):
        df[col] = pd.to_datetime(df[col], utc=True)
    cal = BusinessCalendar(hours=(9, 18))
    k = ticket_kpis(df, sop, calendar=cal).iloc[0]
    assert k["first_response_s"] == 20 * MIN and bool(k["first_response_ok"])
    assert k["resolution_s"] == pytest.approx(2 * H + 10 * MIN)
    wall = ticket_kpis(df, sop).iloc[0]
    assert wall["first_response_s"] == 63 * H + 20 * MIN and not bool(wall["first_response_ok"])
    # wall clock: Fri 17:50 -> Tue 11:00 = 89 h 10 min, minus 24 h paused = 65 h 10 min
    assert wall["resolution_s"] == 65 * H + 10 * MIN


def test_without_sop_reports_what_cannot_be_computed(complaint):
    tickets = ticket_kpis(complaint, None)
    assert tickets["first_response_s"].isna().all()
    assert tickets["resolved"].isna().all()
    assert tickets["throughput_s"].tolist() == [26 * H, 49 * H, 46 * H, 30 * MIN]
    # without a close role every ticket counts as ended with its last event
    assert tickets["closed"].all()
    report = summarise_kpis(tickets, None)
    fr = report.kpi("first_response")
    assert fr.value is None and "--sop" in fr.note
    assert report.kpi("resolution_rate").value is None
    assert report.kpi("satisfaction").value == pytest.approx(205 / 3)
    assert report.kpi("handovers").value == 0.5


def test_status_log_reopen_fallback():
    # it-incident has no reopen role: work (its first-response role) after a resolution counts as a reopen
    rows = [("A", "Accepted/In Progress", "2025-01-06T08:00Z"), ("A", "Completed/Resolved", "2025-01-06T09:00Z"),
            ("A", "Accepted/In Progress", "2025-01-07T09:00Z"), ("A", "Completed/Resolved", "2025-01-07T10:00Z"),
            ("A", "Completed/Closed", "2025-01-08T10:00Z"),
            ("B", "Queued/Awaiting Assignment", "2025-01-06T08:00Z"),
            ("B", "Accepted/In Progress", "2025-01-06T10:00Z"), ("B", "Completed/In Call", "2025-01-06T10:30Z")]
    df = pd.DataFrame(rows, columns=["case:concept:name", "concept:name", "time:timestamp"])
    df["time:timestamp"] = pd.to_datetime(df["time:timestamp"], utc=True)
    sop = load_sop("it-incident")
    k = ticket_kpis(df, sop)
    assert k["reopened"].tolist() == [True, False]
    # B: first response 'Work in progress' at 10:00, 2 h after opening (08:00)
    assert k["first_response_s"].tolist() == [0.0, 2 * H]
    # status log: handling = time in working statuses; A: In Progress 1 h + 1 h (Resolved is waiting to close);
    # B: Queue is waiting, In Progress 30 min
    assert k["handling_s"].tolist() == [2 * H, 30 * MIN]
    # it-incident has no escalation role (Queue is not an escalation)
    assert k["escalated"].isna().all()


def test_status_log_only_customer_waits_pause():
    # C: In Progress 08:00-09:00, Wait - Vendor 09:00-13:00, In Progress 13:00-14:00,
    # Wait - User 14:00-16:00, Resolved 16:00, Closed +1 d 16:00
    rows = [("C", "Accepted/In Progress", "2025-01-06T08:00Z"), ("C", "Accepted/Wait - Vendor", "2025-01-06T09:00Z"),
            ("C", "Accepted/In Progress", "2025-01-06T13:00Z"), ("C", "Accepted/Wait - User", "2025-01-06T14:00Z"),
            ("C", "Completed/Resolved", "2025-01-06T16:00Z"), ("C", "Completed/Closed", "2025-01-07T16:00Z")]
    df = pd.DataFrame(rows, columns=["case:concept:name", "concept:name", "time:timestamp"])
    df["time:timestamp"] = pd.to_datetime(df["time:timestamp"], utc=True)
    k = ticket_kpis(df, load_sop("it-incident"))
    # customer wait: Wait - User only (2 h); the vendor wait is neither customer time nor work
    assert k["waiting_s"].tolist() == [2 * H]
    assert k["handling_s"].tolist() == [2 * H]
    # resolution clock: 8 h from opening to Resolved, minus the 2 h customer pause (vendor wait not paused)
    assert k["resolution_s"].tolist() == [6 * H]


def test_suggest_sop(complaint):
    assert suggest_sop(complaint) == ("complaint", 1.0)
    assert suggest_sop(read_log("complaint_small_zh.csv")) == ("complaint", 1.0)
    status = pd.read_csv(DATA / "status_small.csv")
    assert suggest_sop(status) == ("it-incident", 1.0)
    other = pd.DataFrame({"concept:name": ["foo", "bar"]})
    name, coverage = suggest_sop(other)
    assert name is None and coverage == 0.0


@pytest.mark.slow
def test_bpic2013_kpis_and_push_to_front():
    from tests.unit.csmine.test_mining import bpic_frame

    df = bpic_frame()
    sop = load_sop("it-incident")
    tickets = ticket_kpis(df, sop, priority_key="impact")
    assert len(tickets) == 7554
    # push to front, worked out ticket by ticket: never a team whose name is marked 2nd or 3rd line
    higher = df["org:group"].astype(str).str.contains(r"\b(?:2nd|3rd)\b", regex=True)
    expected = ~higher.groupby(df["case:concept:name"]).any()
    assert tickets["first_line"].astype(bool).sort_index().equals(expected.sort_index().rename("first_line"))
    assert expected.sum() == 4546  # 60.2 % of 7,554
    report = summarise_kpis(tickets, sop)
    assert {row.priority for row in report.sla_by_priority} == {"High", "Low", "Major", "Medium"}
    assert sum(row.tickets for row in report.sla_by_priority) == 7554
    # the first response role is 'Work in progress' (Accepted/In Progress): every ticket but those without one
    n_work = df.loc[df["concept:name"] == "Accepted/In Progress", "case:concept:name"].nunique()
    assert report.kpi("first_response").n == n_work
    assert np.isfinite(report.kpi("resolution_time").value)


def test_reuse_preparation_computes_each_frame_once_and_hands_out_copies(complaint, sop, tickets, monkeypatch):
    import csmine.performance.preparation as kpi
    from csmine.performance.bottlenecks import find_bottlenecks

    calls = []
    real = kpi._prepare
    monkeypatch.setattr(kpi, "_prepare", lambda *a: calls.append(a[0]) or real(*a))
    with kpi.reuse_preparation():
        first = ticket_kpis(complaint, sop)
        first["throughput_s"] = -1.0  # a caller changing its copy...
        again = ticket_kpis(complaint, sop)
        find_bottlenecks(complaint, sop)
        shared_limits = check_limits(complaint, sop)
    assert len(calls) == 1  # one encoding for KPIs, bottlenecks and limits
    pd.testing.assert_frame_equal(again, tickets)  # ...does not change what the next one gets
    ticket_kpis(complaint, sop)
    assert len(calls) == 2  # outside the block nothing is kept
    pd.testing.assert_frame_equal(shared_limits, check_limits(complaint, sop))  # the same limit checks


def test_an_open_ticket_last_waiting_on_the_customer_is_paused_to_the_end(sop):
    # T5 (open): Receive 03-01 00:00, Record 00:10, Classify 00:20, Wait for customer 01:00, nothing after.
    # T6 ends the log with its Handle on 03-10 00:00. Handle is due 24 h after Classify: the clock ran 00:20 -> 01:00
    # (40 min), then the ticket waits on the customer until the end of the log: not overdue.
    # T7 is the same without the wait (Classify is its last event): 03-01 00:20 -> 03-10 = 215 h 40 min, overdue.
    def row(t, a, at, team="First line"):
        return {"case:concept:name": t, "concept:name": a, "time:timestamp": pd.Timestamp(at, tz="UTC"),
                "start_timestamp": pd.NaT, "org:resource": "A1", "org:group": team, "case:priority": "P2",
                "case:channel": "phone", "satisfaction": np.nan}

    rows = [row("T5", "Receive", "2025-03-01 00:00"), row("T5", "Record", "2025-03-01 00:10"),
            row("T5", "Classify", "2025-03-01 00:20"), row("T5", "Wait for customer", "2025-03-01 01:00"),
            row("T6", "Receive", "2025-03-09 23:00"), row("T6", "Record", "2025-03-09 23:05"),
            row("T6", "Classify", "2025-03-09 23:10"), row("T6", "Handle", "2025-03-10 00:00"),
            row("T7", "Receive", "2025-03-01 00:00"), row("T7", "Record", "2025-03-01 00:10"),
            row("T7", "Classify", "2025-03-01 00:20")]
    df = pd.DataFrame(rows)
    by = {(r.ticket, r.step): r for r in check_limits(df, sop).itertuples()}
    assert ("T5", "Handle") not in by  # not overdue: its clock stopped at 40 min
    t7 = by[("T7", "Handle")]
    assert t7.overdue and t7.elapsed_s == 215 * H + 40 * MIN
    kpis = ticket_kpis(df, sop)
    assert kpis.loc["T5", "breaches"] == 0 and kpis.loc["T7", "breaches"] == 1
