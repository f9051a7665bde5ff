"""Bottlenecks on hand-made logs (answers worked out in comments) and BPIC 2013
against slow per-ticket loops written independently of the vectorised code."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from process_models import load_sop

from csmine.performance.bottlenecks import find_bottlenecks
from csmine.performance.business_calendar import BusinessCalendar

DATA = Path(__file__).resolve().parents[2] / "data" / "kpi"
MIN, H = 60.0, 3600.0


def read_log(name: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / name)
    for col in ("time:timestamp", "start_timestamp"):
        if col in df.columns:
            df[col] = pd.to_datetime(df[col], utc=True)
    return df


# status_small.csv (a status log like BPIC 2013, 2025-01-06 is a Monday):
# S1: In Progress 08:00 (G1), Wait - User 09:00 (G1), In Progress 13:00 (G2 2nd), Resolved 14:00, Closed +1 d 14:00
# S2: In Progress 08:00, Wait - User 09:00, In Progress 11:00, Resolved 12:00, Closed +1 d 12:00 (all G1)
# time in status: In Progress 1 h x 4; Wait - User 4 h (S1), 2 h (S2); Resolved 24 h x 2; throughput 30 h + 28 h.


def test_status_log_without_sop():
    r = find_bottlenecks(read_log("status_small.csv"))
    assert r.status_log
    assert r.waiting_activities == ("Accepted/Wait - User",)
    wait = r.step("Accepted/Wait - User")
    assert (wait.events, wait.tickets, wait.waiting_s, wait.working_s) == (2, 2, 6 * H, 0.0)
    assert wait.median_s == 3 * H
    assert wait.share_of_time == pytest.approx(6 / 58)
    assert r.step("Accepted/In Progress").working_s == 4 * H
    # without an SOP the Resolved status is not known to be a waiting one
    assert r.step("Completed/Resolved").working_s == 48 * H
    assert sum(s.share_of_time for s in r.steps) == pytest.approx(1.0)
    assert r.total_throughput_s == 58 * H
    # Wait - User: 4 h and 2 h, median 3 h: cutting S1's 4 h to 3 h saves 1 h over the log.
    # The transition Wait - User -> In Progress carries the same intervals: a status log ranks
    # steps only; every other step has equal times.
    assert {b.kind for b in r.bottlenecks} == {"step"}
    b = r.bottlenecks[0]
    assert (b.kind, b.where) == ("step", "Accepted/Wait - User")
    assert (b.impact_s, b.mean_impact_s, b.tickets, b.occurrences) == (H, H / 2, 1, 2)
    assert b.share_of_throughput == pytest.approx(1 / 58)
    assert all(x.impact_s == 0 for x in r.bottlenecks[1:])
    assert list(r.highlight(1)) == ["Accepted/Wait - User"]
    assert r.highlight_notes(1) == {"Accepted/Wait - User": "#1 bottleneck: 30m per ticket"}
    # S1 went from G1 to the 2nd line team G2 2nd; S2 stayed in G1
    assert (r.first_line.method, r.first_line.share) == ("line-marker", 0.5)
    assert [(h.source_team, h.target_team, h.handovers, h.median_s) for h in r.handovers] == [
        ("G1", "G2 2nd", 1, 4 * H)]
    assert r.ping_pong == ()


@pytest.mark.parametrize("sop", [None, "it-incident"])
def test_status_log_ranks_each_interval_once(sop):
    # T1: Queued 00:00 (G1), In Progress 10:00 (G2 2nd), Resolved 11:00 (G2 2nd)
    # T2, T3: Queued 00:00 (G1), In Progress 00:30 (G2 2nd), Resolved 01:30 (G2 2nd)
    # throughput 11 h + 1.5 h + 1.5 h = 14 h. Queued: 10 h, 30 min, 30 min (median 30 min): 9.5 h impact.
    # The transition Queued -> In Progress and the handover G1 -> G2 2nd are the same three intervals:
    # ranking them too would claim 3 x 9.5 h = 28.5 h of a 14 h total.
    rows = []
    for case, start in (("T1", 10 * 60), ("T2", 30), ("T3", 30)):
        t0 = pd.Timestamp("2025-01-06T00:00Z")
        rows += [(case, "Queued/Awaiting Assignment", t0, "G1"),
                 (case, "Accepted/In Progress", t0 + pd.Timedelta(minutes=start), "G2 2nd"),
                 (case, "Completed/Resolved", t0 + pd.Timedelta(minutes=start + 60), "G2 2nd")]
    df = pd.DataFrame(rows, columns=["case:concept:name", "concept:name", "time:timestamp", "org:group"])
    r = find_bottlenecks(df, None if sop is None else load_sop(sop))
    assert r.status_log and r.total_throughput_s == 14 * H
    top = r.bottlenecks[0]
    assert (top.kind, top.where, top.impact_s) == ("step", "Queued/Awaiting Assignment", 9.5 * H)
    assert top.share_of_throughput == pytest.approx(9.5 / 14)
    # no ranked transition or handover re-counts a ranked status's interval
    steps = {b.key[0] for b in r.bottlenecks if b.kind == "step"}
    assert not [b for b in r.bottlenecks if b.kind != "step" and b.key[0] in steps]
    assert not [b for b in r.bottlenecks if b.kind == "handover"]
    assert sum(b.share_of_throughput for b in r.bottlenecks) <= 1.0
    assert sum(b.share_of_throughput for b in r.bottlenecks) == pytest.approx(9.5 / 14)
    # the tables still list the transition and the handover
    t = {(x.source, x.target): x for x in r.transitions}
    assert t[("Queued/Awaiting Assignment", "Accepted/In Progress")].total_s == 11 * H
    assert [(h.source_team, h.target_team, h.handovers, h.median_s) for h in r.handovers] == [
        ("G1", "G2 2nd", 3, 30 * MIN)]


def test_status_log_with_sop_and_calendar():
    sop = load_sop("it-incident")
    r = find_bottlenecks(read_log("status_small.csv"), sop)
    # resolved, waiting to be closed, counts as waiting with the SOP
    resolved = r.step("Completed/Resolved")
    assert resolved.waiting and resolved.waiting_s == 48 * H and resolved.step == "Resolve"
    assert r.first_line.resolved_share == 0.5
    # only 10:00-12:00 counts: S1 Wait - User 09:00-13:00 -> 2 h, S2 09:00-11:00 -> 1 h
    cal = BusinessCalendar(hours=(10, 12))
    rc = find_bottlenecks(read_log("status_small.csv"), sop, calendar=cal)
    assert rc.step("Accepted/Wait - User").waiting_s == 3 * H
    assert rc.calendar == "Mon-Fri 10:00-12:00 UTC"


def test_complaint_log_transitions_limits_rework_pingpong():
    r = find_bottlenecks(read_log("complaint_small.csv"), load_sop("complaint"))
    assert not r.status_log
    t = {(x.source, x.target): x for x in r.transitions}
    # Classify -> Handle: T1 09:20 -> 10:00 = 40 min, T3 14:30 -> 15:00 = 30 min (completion to start)
    ch = t[("Classify", "Handle")]
    assert (ch.events, ch.median_s, ch.waiting) == (2, 35 * MIN, True)
    assert ch.p90_s == pytest.approx(39 * MIN)
    assert t[("Escalate", "Handle")].median_s == 115 * MIN
    # Wait for customer 03-03 13:00 -> next Handle starts 03-04 09:00
    assert t[("Wait for customer", "Handle")].total_s == 20 * H
    handle = r.step("Handle")
    # own work: T1 60, T2 60 + 60, T3 60 + 60 min; queued before: T1 40, T2 115 (after Escalate),
    # T3 30 and 60 (Reopen 09:00 -> 10:00); T2's second Handle follows the customer wait, which is its own
    assert handle.working_s == 5 * H
    assert handle.waiting_before_s == (40 + 115 + 30 + 60) * MIN
    assert r.step("Wait for customer").waiting_s == 20 * H
    assert sum(s.share_of_time for s in r.steps) == pytest.approx(1.0)
    limits = {lb.step: lb for lb in r.limits}
    assert (limits["Record"].tickets, limits["Record"].breached, limits["Record"].share) == (4, 1, 0.25)
    assert (limits["Handle"].tickets, limits["Handle"].breached, limits["Handle"].overdue) == (4, 1, 1)
    assert (limits["Callback"].tickets, limits["Callback"].breached) == (3, 0)
    rework = {w.activity: w for w in r.rework}
    assert (rework["Handle"].tickets, rework["Handle"].extra_events, rework["Handle"].self_loops) == (2, 2, 0)
    assert rework["Handle"].share == pytest.approx(2 / 3)
    assert (rework["Archive"].tickets, rework["Archive"].max_repetitions) == (1, 2)
    # T2: First line -> Specialist -> First line
    assert [(p.team_a, p.team_b, p.direct, p.indirect, p.tickets) for p in r.ping_pong] == [
        ("First line", "Specialist", 1, 0, 1)]
    ho = {(h.source_team, h.target_team): h for h in r.handovers}
    assert ho[("First line", "Specialist")].median_s == 115 * MIN  # Escalate 10:05 -> Handle starts 12:00
    assert ho[("Specialist", "First line")].median_s == 23 * H  # Handle 03-04 10:00 -> Callback starts 03-05 09:00
    assert [(d.date, d.open) for d in r.backlog] == [("2025-03-03", 2), ("2025-03-04", 3), ("2025-03-05", 2),
                                                     ("2025-03-06", 1)]
    assert r.to_dict()["limits"][0]["step"] == "Record"


def test_ping_pong_hand_log():
    # team sequences: X A,B,A (direct A-B); Y A,B,C,A (indirect A-B); Z A,A,B,B,A (runs A,B,A: direct A-B);
    # W A,B,A,B (direct A-B from the first A, direct B-A from the first B)
    seqs = {"X": "ABA", "Y": "ABCA", "Z": "AABBA", "W": "ABAB"}
    rows = [(case, f"step{k}", pd.Timestamp("2025-01-01T00:00Z") + pd.Timedelta(hours=k), team)
            for case, seq in seqs.items() for k, team in enumerate(seq)]
    df = pd.DataFrame(rows, columns=["case:concept:name", "concept:name", "time:timestamp", "org:group"])
    r = find_bottlenecks(df)
    pp = {(p.team_a, p.team_b): (p.direct, p.indirect, p.tickets) for p in r.ping_pong}
    assert pp == {("A", "B"): (3, 1, 4), ("B", "A"): (1, 0, 1)}
    # handovers: A->B in X, Y, Z and twice in W; B->A in X, Z, W; B->C and C->A in Y
    ho = {(h.source_team, h.target_team): (h.handovers, h.tickets) for h in r.handovers}
    assert ho == {("A", "B"): (5, 4), ("B", "A"): (3, 3), ("B", "C"): (1, 1), ("C", "A"): (1, 1)}
    # first team A; every ticket left it at least once
    assert r.first_line.method == "first-team" and r.first_line.share == 0.0


@pytest.mark.slow
def test_bpic2013_against_per_ticket_loops():
    from tests.unit.csmine.test_mining import bpic_frame

    df = bpic_frame()
    r = find_bottlenecks(df, load_sop("it-incident"), max_rows=100_000, top=50)
    assert (r.tickets, r.events) == (7554, 65_533)
    # ping-pong and handovers counted ticket by ticket on runs of the same team
    direct, indirect, handovers = Counter(), Counter(), Counter()
    wait_user = 0.0
    total = 0.0
    for _, t in df.groupby("case:concept:name", sort=False):
        teams = [g for g in t["org:group"] if isinstance(g, str)]
        for a, b in zip(teams, teams[1:], strict=False):
            if a != b:
                handovers[(a, b)] += 1
        runs = [g for k, g in enumerate(teams) if k == 0 or g != teams[k - 1]]
        for k, a in enumerate(runs):
            nxt = next((m for m in range(k + 1, len(runs)) if runs[m] == a), None)
            if nxt == k + 2:
                direct[(a, runs[k + 1])] += 1
            elif nxt is not None and nxt > k + 2:
                indirect[(a, runs[k + 1])] += 1
        times = list(t["time:timestamp"])
        acts = list(t["concept:name"])
        total += (times[-1] - times[0]).total_seconds()
        for k in range(len(acts) - 1):
            if acts[k] == "Accepted/Wait - User":
                wait_user += (times[k + 1] - times[k]).total_seconds()
    assert {(p.team_a, p.team_b): (p.direct, p.indirect) for p in r.ping_pong} == {
        k: (direct[k], indirect[k]) for k in set(direct) | set(indirect)}
    assert {(h.source_team, h.target_team): h.handovers for h in r.handovers} == dict(handovers)
    assert r.total_throughput_s == pytest.approx(total)
    assert r.step("Accepted/Wait - User").share_of_time == pytest.approx(wait_user / total)
    # the figures the process owner asked about (see docs/analytics.md)
    assert r.step("Accepted/Wait - User").share_of_time == pytest.approx(0.212, abs=0.001)
    assert r.first_line.share == pytest.approx(4546 / 7554)
    assert (r.ping_pong[0].team_a, r.ping_pong[0].team_b) == ("D5", "D4")
    assert r.bottlenecks[0].where == "Accepted/Wait - User"


@pytest.mark.parametrize("n", [1, 2, 9, 5000])
def test_sorted_stats_equal_the_pandas_groupby(n):
    from csmine.mining.group_stats import impact_stats as _stats
    from csmine.mining.group_stats import impact_stats_pandas as _stats_pandas

    rng = np.random.default_rng(n)
    keys = rng.integers(0, 6, n)
    values = rng.exponential(300.0, n)
    cases = np.sort(rng.integers(0, max(1, n // 4), n))
    fast = _stats(keys, values, cases)
    slow = _stats_pandas(keys, values, cases)[fast.columns]
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-12, check_dtype=False)
    # the process map's paths: the same figures without the impact (both ways)
    plain = _stats(keys, values, cases, impact=False)
    assert list(plain.columns) == ["size", "median", "mean", "sum", "p90", "tickets"]
    pd.testing.assert_frame_equal(plain, fast[plain.columns])
    with_nan = np.where(np.arange(n) == 0, np.nan, values)  # the pandas path
    assert "impact" not in _stats(keys, with_nan, cases, impact=False).columns
