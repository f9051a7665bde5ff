"""Conformance against an SOP: hand-checked deviations and figures, and pm4py equality."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from process_models import enumerate_traces, load_sop
from tests.datasets import BPIC2013, RUNNING_EXAMPLE, dataset_path

from csmine.conformance.deviations import (
    align_ticket,
    analyse_conformance,
    check_conformance,
    ticket_deviations,
    ticket_fitness,
)
from csmine.conformance.engines import sop_net
from csmine.conformance.results import KINDS
from csmine.errors import ConformanceError, EmptyLogError
from csmine.reports.conformance_dot import render_conformance_dot, share_colour

DATA = Path(__file__).resolve().parents[2] / "data" / "conformance"
T0 = pd.Timestamp("2024-03-04 09:00", tz="UTC")  # a Monday (ISO week 2024-W10)


@pytest.fixture(scope="module", autouse=True)
def _quiet_pm4py() -> Iterator[None]:
    from pm4py.util import constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "SHOW_PROGRESS_BAR", False)
        yield


def sop(name: str):
    return load_sop(DATA / f"{name}.toml")


def log(*traces: str | list[str], start: pd.Timestamp = T0, **columns: list[str]) -> pd.DataFrame:
    """One ticket per trace (T1, T2, ...), a day apart, events ten minutes apart.

    A trace is a string of one-letter activities or a list of activity names.
    Extra keyword columns give one value per ticket (e.g. ``channel=[...]``).
    """
    rows = []
    for i, trace in enumerate(traces):
        acts = list(trace)
        for j, a in enumerate(acts):
            row = {
                "case:concept:name": f"T{i + 1}",
                "concept:name": a,
                "time:timestamp": start + pd.Timedelta(days=i, minutes=10 * j),
            }
            for key, values in columns.items():
                row[key] = values[i]
            rows.append(row)
    return pd.DataFrame(rows)


def deviations_of(trace: str | list[str], sop_name: str = "abcd") -> list[tuple[str, str]]:
    dev = ticket_deviations(log(trace), sop(sop_name))
    return list(zip(dev["step"], dev["kind"], strict=True))


# ---------------------------------------------------------------------------------
# deviation kinds on hand-made traces (SOP abcd: a -> b -> c -> d)
# ---------------------------------------------------------------------------------


def test_fitting_trace_has_no_deviation() -> None:
    assert deviations_of("abcd") == []


def test_missing_step_is_skipped_without_event() -> None:
    dev = ticket_deviations(log("acd"), sop("abcd"))
    assert list(zip(dev["step"], dev["kind"], strict=True)) == [("b", "skipped")]
    assert dev["event_id"].iloc[0] is None
    assert dev["position"].iloc[0] == 1  # where b belonged: before the event at position 1 (c)
    assert dev["description"].iloc[0] == "b skipped"


def test_unknown_activity_is_an_extra_step_and_reported() -> None:
    df = log("abxcd")
    dev = ticket_deviations(df, sop("abcd"))
    assert list(zip(dev["step"], dev["kind"], strict=True)) == [("x", "extra")]
    assert dev["event_id"].iloc[0] == 2  # the frame's row label of x (no @@event_id column)
    report = check_conformance(df, sop("abcd"))
    assert [(u.activity, u.events, u.tickets, u.examples) for u in report.unknown_activities] == [
        ("x", 1, 1, ("T1",))
    ]
    assert report.step("x").status == "unknown"
    assert report.step("x").extra == 1


def test_swapped_steps_are_one_out_of_order_deviation() -> None:
    found = deviations_of("acbd")
    assert len(found) == 1
    step, kind = found[0]
    assert kind == "out_of_order"
    assert step in {"b", "c"}  # either reading is optimal: c too early or b too late


def test_step_done_twice_is_repeated_on_the_second_event() -> None:
    df = log("abbcd")
    df["@@event_id"] = [101, 102, 103, 104, 105]
    dev = ticket_deviations(df, sop("abcd"))
    assert list(zip(dev["step"], dev["kind"], dev["event_id"], strict=True)) == [("b", "repeated", 103)]


def test_step_done_three_times_is_repeated_twice() -> None:
    assert deviations_of("abbbcd") == [("b", "repeated"), ("b", "repeated")]


def test_off_flow_step_is_extra_but_not_unknown() -> None:
    report = check_conformance(log("abcdz"), sop("abcd"))
    assert report.kinds == {"skipped": 0, "extra": 1, "out_of_order": 0, "repeated": 0, "wrong_branch": 0}
    assert report.step("z").status == "off_flow"
    assert report.unknown_activities == ()


def test_step_where_the_flow_does_not_allow_it_is_extra() -> None:
    # d then c again: c was done already in order, so a second c is "repeated";
    # but an early d (before b, c) that is done again at the end is out of order
    assert deviations_of("abcda") == [("a", "repeated")]
    assert sorted(deviations_of("adbcd")) in ([("d", "repeated")], [("d", "extra")])


def test_several_kinds_in_one_ticket() -> None:
    # b skipped, x extra (unknown), c repeated
    found = deviations_of("acxcd")
    assert sorted(found) == [("b", "skipped"), ("c", "repeated"), ("x", "extra")]


# ---------------------------------------------------------------------------------
# wrong branch (SOP xor: a -> (b -> c | e -> f) -> d)
# ---------------------------------------------------------------------------------


def test_both_branch_paths_fit() -> None:
    assert deviations_of("abcd", "xor") == []
    assert deviations_of("aefd", "xor") == []


def test_switching_branch_midway_is_one_wrong_branch() -> None:
    dev = ticket_deviations(log("abfd"), sop("xor"))
    assert list(dev["kind"]) == ["wrong_branch"]
    step, related = dev["step"].iloc[0], dev["related"].iloc[0]
    # done b where the SOP needed e (then f), or done f where it needed c (after b)
    assert (step, related) in {("b", "e"), ("f", "c")}
    assert dev["event_id"].iloc[0] is not None
    assert dev["description"].iloc[0] == f"wrong branch: {step} instead of {related}"


def test_skipping_inside_a_branch_is_skipped_not_wrong_branch() -> None:
    assert deviations_of("aed", "xor") == [("f", "skipped")]


# ---------------------------------------------------------------------------------
# aliases
# ---------------------------------------------------------------------------------


def test_aliases_map_source_activities_to_steps() -> None:
    df = log(["A-start", "b", "c", "d"])
    assert check_conformance(df, sop("abcd")).fitting_tickets == 1
    strict = check_conformance(df, sop("abcd"), mapping=False)
    assert strict.fitting_tickets == 0
    assert [u.activity for u in strict.unknown_activities] == ["A-start"]
    assert strict.kinds["skipped"] == 1 and strict.kinds["extra"] == 1


# ---------------------------------------------------------------------------------
# the report on a five-ticket log, every figure worked out by hand
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    df = pd.read_csv(DATA / "tiny.csv")
    df["time:timestamp"] = pd.to_datetime(df["time:timestamp"], utc=True)
    return df


@pytest.fixture(scope="module")
def tiny_analysis(tiny):
    return analyse_conformance(tiny, sop("abcd"))


def test_tiny_fitness_figures(tiny_analysis) -> None:
    r = tiny_analysis.report
    # T1 abcd fits; T2 acd (1 move), T3 abxcd (1), T4 acbd (2), T5 abbcd (1).
    # The cheapest SOP run costs w = 4 model moves = 40,000; a ticket's bound is
    # len * 10,000 + w. Costs 0+1+1+2+1 = 5 moves; bounds 8+7+9+8+9 = 41 moves.
    assert (r.tickets, r.events, r.variants) == (5, 21, 5)
    assert r.log_fitness == pytest.approx(1 - 5 / 41, abs=1e-12)
    per_ticket = [Fraction(1), 1 - Fraction(1, 7), 1 - Fraction(1, 9), 1 - Fraction(2, 8), 1 - Fraction(1, 9)]
    assert r.average_fitness == pytest.approx(float(sum(per_ticket) / 5), abs=1e-12)
    assert (r.fitting_tickets, r.fitting_share) == (1, 0.2)
    # a strict sequence allows exactly what the replayable prefixes show next
    assert r.precision == 1.0
    assert r.kinds == {"skipped": 1, "extra": 1, "out_of_order": 1, "repeated": 1, "wrong_branch": 0}
    assert (r.deviations, r.deviating_tickets) == (4, 4)
    assert (r.unknown_events, r.unknown_tickets) == (1, 1)


def test_tiny_per_ticket_frame(tiny_analysis) -> None:
    t = tiny_analysis.tickets
    assert list(t.index) == ["T1", "T2", "T3", "T4", "T5"]
    assert list(t["cost"]) == [0, 10_000, 10_000, 20_000, 10_000]
    assert list(t["fitness"]) == pytest.approx([1, 6 / 7, 8 / 9, 0.75, 8 / 9])
    assert list(t["is_fit"]) == [True, False, False, False, False]
    assert list(t["deviations"]) == [0, 1, 1, 1, 1]
    assert list(t["skipped"]) == [0, 1, 0, 0, 0]
    assert list(t["repeated"]) == [0, 0, 0, 0, 1]
    assert list(t["week"]) == ["2024-W10"] * 3 + ["2024-W11"] * 2
    assert list(t["channel"]) == ["phone"] * 3 + ["web"] * 2


def test_tiny_steps(tiny_analysis) -> None:
    r = tiny_analysis.report
    assert [s.step for s in r.steps] == ["a", "b", "c", "d", "z", "x"]
    assert [s.status for s in r.steps] == ["flow"] * 4 + ["off_flow", "unknown"]
    b = r.step("b")
    assert (b.label, b.events, b.tickets) == ("b / 乙", 5, 4)
    assert (b.skipped, b.repeated) == (1, 1)
    assert b.skipped_share == pytest.approx(0.2)
    moved = r.step("b").out_of_order + r.step("c").out_of_order
    assert moved == 1
    assert r.step("a").deviations == 0 and r.step("d").deviations == 0
    assert r.step("z").events == 0


def test_tiny_breakdowns(tiny_analysis) -> None:
    r = tiny_analysis.report
    teams = {g.value: g for g in r.by_team}
    # East: T1, T2 (T2's skipped b is counted for the team of c, done in its place)
    assert (teams["East"].tickets, teams["East"].deviations, teams["East"].skipped) == (2, 1, 1)
    assert teams["East"].fitting_share == 0.5
    assert (teams["West"].tickets, teams["West"].deviations) == (3, 3)
    assert teams["West"].average_fitness == pytest.approx((8 / 9 + 0.75 + 8 / 9) / 3)
    channels = {g.value: g for g in r.by_channel}
    assert (channels["phone"].tickets, channels["phone"].deviations) == (3, 2)
    assert (channels["web"].tickets, channels["web"].deviations, channels["web"].fitting_share) == (2, 2, 0.0)
    agents = {g.value: g for g in r.by_agent}
    assert agents["Xu"].deviations == 1 and agents["Xu"].extra == 1
    assert sum(g.deviations for g in r.by_agent) == 4
    assert agents["Ann"].deviations == 0 and agents["Ann"].tickets == 5
    assert r.by_phase == ()  # no ticket belongs to a phase


def test_tiny_worst_and_weeks(tiny_analysis) -> None:
    r = tiny_analysis.report
    assert [w.ticket for w in r.worst] == ["T4", "T2", "T3", "T5"]  # fitness, then cost, then id
    assert r.worst[1].deviations[0].description == "b skipped"
    assert [(w.week, w.start, w.tickets, w.fitting_tickets) for w in r.weeks] == [
        ("2024-W10", "2024-03-04", 3, 1),
        ("2024-W11", "2024-03-11", 2, 0),
    ]
    # W10: costs 0+1+1 moves of bounds 8+7+9; W11: 2+1 of 8+9
    assert r.weeks[0].log_fitness == pytest.approx(1 - 2 / 24)
    assert r.weeks[1].log_fitness == pytest.approx(1 - 3 / 17)
    assert r.weeks[1].average_fitness == pytest.approx((0.75 + 8 / 9) / 2)


def test_worst_limit_and_fitting_tickets_left_out(tiny) -> None:
    r = check_conformance(tiny, sop("abcd"), worst=2)
    assert [w.ticket for w in r.worst] == ["T4", "T2"]
    assert check_conformance(log("abcd"), sop("abcd")).worst == ()


def test_precision_hand_computed() -> None:
    # SOP a -> (b | c) -> d, log abd x 2. Prefixes: "" allows {a}, sees {a};
    # "a" allows {b, c}, sees {b} (c escapes); "ab" allows {d}, sees {d}.
    # Weighted by the 2 tickets: 1 - 2*1 / (2*1 + 2*2 + 2*1) = 0.75.
    assert check_conformance(log("abd", "abd"), sop("choice")).precision == pytest.approx(0.75)


# ---------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "repeats", "count"), [("complaint", 2, 6), ("it-incident", 1, 336)])
def test_every_trace_the_sop_allows_fits(name, repeats, count) -> None:
    shipped = load_sop(name)
    traces = sorted(enumerate_traces(shipped.flow, max_repeats=repeats))
    report = check_conformance(log(*[list(t) for t in traces]), shipped)
    assert report.tickets == len(traces) == count
    assert report.average_fitness == 1.0 and report.fitting_share == 1.0
    assert report.deviations == 0
    # log fitness counts silent routing moves (1 each against 10,000 per event), as pm4py does
    assert 0.9999 < report.log_fitness <= 1.0


def test_deviation_rows_account_for_every_alignment_move(tiny) -> None:
    # each log move and each unpaired model move is one row; a pair (out of order,
    # wrong branch) is two moves and one row
    frames = [(tiny, sop("abcd")), (log("abfd", "abcefd", "aed", "ad"), sop("xor"))]
    for df, s in frames:
        t = ticket_fitness(df, s)
        expected = t["cost"] // 10_000 - t["out_of_order"] - t["wrong_branch"]
        assert list(t["deviations"]) == list(expected)
        assert all(0.0 <= f <= 1.0 for f in t["fitness"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet="abcdefx", min_size=1, max_size=9), min_size=1, max_size=6))
def test_deviation_invariants_on_random_logs(traces) -> None:
    df = log(*traces)
    analysis = analyse_conformance(df, sop("xor"), precision=False)
    t, dev, r = analysis.tickets, analysis.deviations, analysis.report
    # every log move and unpaired model move is a row; pairs are one row for two moves
    assert list(t["deviations"]) == list(t["cost"] // 10_000 - t["out_of_order"] - t["wrong_branch"])
    assert list(t["is_fit"]) == list(t["deviations"] == 0)
    assert all(0.0 <= f <= 1.0 for f in t["fitness"])
    assert sum(r.kinds.values()) == r.deviations == len(dev)
    # an event is at most one deviation; every unknown x is an extra step
    ids = [e for e in dev["event_id"] if e is not None]
    assert len(ids) == len(set(ids))
    assert list(dev.loc[dev["step"] == "x", "kind"].unique()) in ([], ["extra"])
    assert int((dev["step"] == "x").sum()) == sum(tr.count("x") for tr in traces)
    # the alignment of one ticket shows each of its events once, in order
    first = df[df["case:concept:name"] == "T1"]
    moves = align_ticket(first, sop("xor"))
    assert [m.activity for m in moves if m.move != "model"] == list(traces[0])
    assert [m.position for m in moves if m.move != "model"] == list(range(len(traces[0])))


@pytest.mark.slow
def test_pm4py_engine_gives_the_same_answers(tiny) -> None:
    fast = analyse_conformance(tiny, sop("abcd"))
    slow = analyse_conformance(tiny, sop("abcd"), engine="pm4py")
    assert slow.report.engine == "pm4py" and fast.report.engine == "csmine"
    assert list(slow.tickets["cost"]) == list(fast.tickets["cost"])
    assert slow.report.kinds == fast.report.kinds
    assert slow.report.precision == pytest.approx(fast.report.precision)


# ---------------------------------------------------------------------------------
# align_ticket
# ---------------------------------------------------------------------------------


def test_align_ticket_moves() -> None:
    df = log("acd")
    df["@@event_id"] = [7, 8, 9]
    df["org:resource"] = ["Ann", "Cai", "Dan"]
    moves = align_ticket(df, sop("abcd"))
    assert [(m.move, m.step, m.deviation) for m in moves] == [
        ("sync", "a", None), ("model", "b", "skipped"), ("sync", "c", None), ("sync", "d", None),
    ]
    assert [m.event_id for m in moves] == [7, None, 8, 9]
    assert moves[2].actor == "Cai" and moves[1].actor is None
    assert moves[1].label == "b / 乙"
    assert moves[0].time == T0


def test_align_ticket_shows_both_sides_of_an_out_of_order_pair() -> None:
    moves = align_ticket(log("acbd"), sop("abcd"))
    assert sum(m.move != "model" for m in moves) == 4  # every event once
    assert sorted(m.move for m in moves if m.deviation == "out_of_order") == ["log", "model"]


def test_align_ticket_takes_one_ticket() -> None:
    with pytest.raises(ConformanceError, match="one ticket"):
        align_ticket(log("abcd", "abcd"), sop("abcd"))


# ---------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------


def test_empty_log_is_an_error() -> None:
    with pytest.raises(EmptyLogError, match="abcd"):
        check_conformance(log("abcd").iloc[0:0], sop("abcd"))


def test_missing_column_is_named() -> None:
    with pytest.raises(ConformanceError, match="'concept:name'"):
        check_conformance(log("abcd").drop(columns=["concept:name"]), sop("abcd"))


# ---------------------------------------------------------------------------------
# the flowchart
# ---------------------------------------------------------------------------------


def test_share_colours() -> None:
    assert share_colour(0.0) == "#e3f2e1"
    assert share_colour(0.01) == "#fff2b8"
    assert share_colour(0.10) == "#ffc27a"
    assert share_colour(0.30) == "#f27c5c"
    assert share_colour(0.80) == share_colour(1.0) == "#c8372d"


def node_line(dot: str, step: str) -> str:
    (line,) = [ln for ln in dot.splitlines() if f"<B>{step}</B>" in ln]
    return line


def test_flowchart_colours_steps_and_renders_chinese(tiny_analysis) -> None:
    import graphviz

    dot = render_conformance_dot(sop("abcd"), tiny_analysis.report)
    assert 'fontname="Noto Sans CJK SC"' in dot
    # b: 2 of 5 tickets deviate (40%), c: 1 of 5 (20%) -> 20-50% band; a, d: none -> green
    assert 'fillcolor="#f27c5c"' in node_line(dot, "b") and 'fillcolor="#f27c5c"' in node_line(dot, "c")
    assert 'fillcolor="#e3f2e1"' in node_line(dot, "a") and 'fillcolor="#e3f2e1"' in node_line(dot, "d")
    assert "skipped 20.0% · violated 20.0%" in node_line(dot, "b")
    assert "skipped 0% · violated 20.0%" in node_line(dot, "c")
    assert "1 events, 1 tickets (20.0%)" in node_line(dot, "x")  # drawn apart: not in the SOP
    assert "5 tickets · log fitness 0.878 · fitting 20.0% · precision 1.000" in dot
    svg = graphviz.Source(dot).pipe(format="svg").decode("utf-8")
    assert "乙" in svg and "丁" in svg and "偏差工单占比" in svg


def test_flowchart_of_a_conforming_log_is_green() -> None:
    s = load_sop("complaint")
    report = check_conformance(log(["Receive", "Record", "Classify", "Handle", "Callback", "Archive"]), s)
    dot = render_conformance_dot(s, report)
    for step in s.step_names:
        assert 'fillcolor="#e3f2e1"' in node_line(dot, step)
    assert "skipped" not in dot.split("legend")[0]


# ---------------------------------------------------------------------------------
# equal to pm4py: running example
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running() -> pd.DataFrame:
    import pm4py

    return pm4py.read_xes(str(dataset_path(*RUNNING_EXAMPLE)))


def pm4py_reference(df: pd.DataFrame, net) -> tuple[dict[str, int], dict[str, float], float]:
    """pm4py's per-case costs, fitness figures and precision for a log and a net."""
    import pm4py

    diag = pm4py.conformance_diagnostics_alignments(df, *net, multi_processing=False,
                                                    return_diagnostics_dataframe=True)
    costs = {str(c): int(v) for c, v in zip(diag["case_id"], diag["cost"], strict=True)}
    fitness = pm4py.fitness_alignments(df, *net, multi_processing=False)
    precision = pm4py.precision_alignments(df, *net, multi_processing=False)
    return costs, fitness, precision


@pytest.mark.parametrize("name", ["running-example", "running-example-strict"])
def test_running_example_equals_pm4py(running, name) -> None:
    s = sop(name)
    costs, fitness, precision = pm4py_reference(running, sop_net(s))
    analysis = analyse_conformance(running, s)
    r = analysis.report
    assert r.log_fitness == pytest.approx(fitness["log_fitness"], abs=1e-12)
    assert r.average_fitness == pytest.approx(fitness["average_trace_fitness"], abs=1e-12)
    assert r.fitting_share * 100 == pytest.approx(fitness["percentage_of_fitting_traces"], abs=1e-9)
    assert r.precision == pytest.approx(precision, abs=1e-12)
    assert analysis.tickets["cost"].to_dict() == costs


def test_running_example_against_the_strict_sop(running) -> None:
    r = check_conformance(running, sop("running-example-strict"))
    # reinitiate request (3 events in tickets 3 and 5) is not in the strict SOP
    assert [(u.activity, u.events, u.tickets, u.examples) for u in r.unknown_activities] == [
        ("reinitiate request", 3, 2, ("3", "5"))
    ]
    # tickets 2 and 4 check the ticket before examining: one out-of-order pair each
    t = ticket_fitness(running, sop("running-example-strict"))
    assert t.loc[["2", "4"], "out_of_order"].tolist() == [1, 1]
    assert t.loc[["1", "6"], "is_fit"].tolist() == [True, True]
    assert r.fitting_tickets == 2


def test_running_example_fits_its_textbook_model(running) -> None:
    r = check_conformance(running, sop("running-example"))
    assert (r.average_fitness, r.fitting_tickets, r.deviations) == (1.0, 6, 0)
    assert r.unknown_activities == ()


# ---------------------------------------------------------------------------------
# equal to pm4py: BPIC 2013 with the shipped it-incident SOP
# ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bpic() -> pd.DataFrame:
    import pm4py

    df = pm4py.read_xes(str(dataset_path(*BPIC2013)))
    df["concept:name"] = df["concept:name"] + "/" + df["lifecycle:transition"]
    return df


#: Set to 1 to compute pm4py's precision on the whole BPIC 2013 log (several minutes).
FULL_PRECISION = os.environ.get("CSMINE_FULL_CONFORMANCE_ORACLE") == "1"


def mapped_for_pm4py(df: pd.DataFrame, s) -> pd.DataFrame:
    """The log with activities mapped onto the SOP's steps (aliases), as csmine maps them."""
    mapped = df[["case:concept:name", "concept:name", "time:timestamp"]].copy()
    mapped["concept:name"] = mapped["concept:name"].map(s.activity_map()).fillna(mapped["concept:name"])
    return mapped


@pytest.fixture(scope="session")
def bpic_pm4py(bpic):
    """pm4py's alignments of every BPIC 2013 ticket on the it-incident net, once per session.

    pm4py's exact Dijkstra variant is used: the optimal cost of an alignment is unique,
    so every exact pm4py variant gives the same costs and fitness, and its default
    state-equation A* takes several times longer on this net (a loop with silent
    steps weakens its heuristic: minutes on 2 cores).
    """
    import pm4py
    from pm4py.algo.evaluation.replay_fitness.variants import alignment_based
    from pm4py.util import constants

    it = load_sop("it-incident")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "SHOW_PROGRESS_BAR", False)
        event_log = pm4py.convert_to_event_log(mapped_for_pm4py(bpic, it))
        aligned = pm4py.conformance_diagnostics_alignments(
            event_log, *sop_net(it), multi_processing=False,
            variant_str="Variants.VERSION_DIJKSTRA_NO_HEURISTICS",
        )
    ids = [str(tr.attributes["concept:name"]) for tr in event_log]
    costs = {t: int(a["cost"]) for t, a in zip(ids, aligned, strict=True)}
    fitness = {t: float(a["fitness"]) for t, a in zip(ids, aligned, strict=True)}
    return costs, fitness, alignment_based.evaluate(aligned)


@pytest.fixture(scope="session")
def bpic_analysis(bpic):
    return analyse_conformance(bpic, load_sop("it-incident"))


@pytest.mark.slow
def test_bpic_fitness_and_costs_equal_pm4py(bpic_analysis, bpic_pm4py) -> None:
    costs, fitness, summary = bpic_pm4py
    r, t = bpic_analysis.report, bpic_analysis.tickets
    assert (r.tickets, r.events, r.variants) == (7554, 65533, 2258)  # 2,278 source variants, 2,258 in steps
    assert t["cost"].to_dict() == costs
    assert t["fitness"].to_dict() == pytest.approx(fitness, abs=1e-12)
    assert r.log_fitness == pytest.approx(summary["log_fitness"], abs=1e-12)
    assert r.average_fitness == pytest.approx(summary["average_trace_fitness"], abs=1e-12)
    assert r.fitting_share * 100 == pytest.approx(summary["percentage_of_fitting_traces"], abs=1e-9)


@pytest.mark.slow
def test_bpic_precision_equals_pm4py(bpic) -> None:
    """pm4py's align-ETC on 800 tickets drawn with a fixed seed (the whole log with
    CSMINE_FULL_CONFORMANCE_ORACLE=1; it takes pm4py minutes)."""
    import pm4py

    it = load_sop("it-incident")
    df = bpic
    if not FULL_PRECISION:
        keep = set(random.Random(2013).sample(sorted(bpic["case:concept:name"].unique()), 800))
        df = bpic[bpic["case:concept:name"].isin(keep)]
    expected = pm4py.precision_alignments(mapped_for_pm4py(df, it), *sop_net(it), multi_processing=False)
    assert check_conformance(df, it).precision == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_bpic_report_is_consistent(bpic_analysis) -> None:
    r, t, dev = bpic_analysis.report, bpic_analysis.tickets, bpic_analysis.deviations
    assert r.unknown_activities == ()  # the SOP's aliases cover all 13 statuses
    assert r.step("Cancel").status == "off_flow" and r.step("Cancel").extra == r.step("Cancel").events == 1
    assert r.step("Unmatched").extra == 5
    assert list(t["deviations"]) == list(t["cost"] // 10_000 - t["out_of_order"] - t["wrong_branch"])
    assert r.deviations == len(dev) == int(t["deviations"].sum())
    assert sum(r.kinds.values()) == r.deviations
    assert sum(s.deviations for s in r.steps) == r.deviations
    assert r.fitting_tickets == int((t["deviations"] == 0).sum())
    assert sum(w.tickets for w in r.weeks) == r.tickets
    assert sum(g.deviations for g in r.by_team) == r.deviations
    assert sum(g.deviations for g in r.by_agent) == r.deviations
    # deviations on events carry their event's id; skipped steps none
    on_event = dev["kind"] != "skipped"
    assert dev.loc[on_event, "event_id"].notna().all() and dev.loc[~on_event, "event_id"].isna().all()
    assert set(dev["kind"]) <= set(KINDS)
    assert len(r.worst) == 10 and r.worst[0].fitness == t["fitness"].min()
