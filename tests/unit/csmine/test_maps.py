"""Drawn maps: automatic simplification to a readable size, label wrapping and truncation.

The hand-made log ``SMALL`` (8 tickets)::

    4 x A B C      2 x A C      1 x A D C      1 x A E

events: A 8, C 7, B 4, D 1, E 1 (21); nodes in map order A, C, B, D, E.
arcs (9, 29 occurrences): (start)->A 8, C->(end) 7, A->B 4, B->C 4, A->C 2,
A->D 1, A->E 1, D->C 1, E->(end) 1 (ranked in that order: events, then names).

The chain log ``chain(70)``: ticket t (1..70) runs Step 01 -> ... -> Step t, so
Step k has 71 - k events (2,485 in all); arcs: (start)->Step 01 (70), Step k ->
Step k+1 (70 - k, k = 1..69), Step t -> (end) (1 each): 140 arcs, 2,555 occurrences.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from csmine.errors import MiningError
from csmine.mining.maps import END, START, MapSimplification, discover_map
from csmine.mining.simplify import MAX_MAP_ACTIVITIES, MAX_MAP_PATHS, simplify_map
from csmine.reports.graphviz import dot_to
from csmine.reports.labels import LABEL_LINES, LABEL_WIDTH, display_label, shorten_name, wrap_label
from csmine.reports.labels import text_width as _width
from csmine.reports.maps import node_ids, render_map


def frame(traces: list[tuple[str, list[str]]]) -> pd.DataFrame:
    rows = []
    for case, acts in traces:
        for i, a in enumerate(acts):
            rows.append((case, a, pd.Timestamp("2025-03-03T08:00Z") + pd.Timedelta(minutes=10 * i)))
    return pd.DataFrame(rows, columns=["case:concept:name", "concept:name", "time:timestamp"])


SMALL = frame([(f"abc{i}", ["A", "B", "C"]) for i in range(4)] + [(f"ac{i}", ["A", "C"]) for i in range(2)]
              + [("adc", ["A", "D", "C"]), ("ae", ["A", "E"])])


def chain(n: int = 70) -> pd.DataFrame:
    return frame([(f"T{t:02d}", [f"Step {k:02d}" for k in range(1, t + 1)]) for t in range(1, n + 1)])


def arcs(pmap) -> set[tuple[str, str]]:
    return {e.key for e in pmap.all_edges()}


def test_a_map_that_fits_is_returned_as_it_is():
    pmap = discover_map(SMALL)
    assert (MAX_MAP_ACTIVITIES, MAX_MAP_PATHS) == (60, 150)
    assert simplify_map(pmap) is pmap
    assert pmap.simplification is None and pmap.to_dict()["simplification"] is None
    with pytest.raises(MiningError, match="at least 1"):
        simplify_map(pmap, max_paths=0)


def test_activity_cap_keeps_the_most_frequent_activities_and_their_arcs():
    pmap = discover_map(SMALL)
    shown = simplify_map(pmap, max_activities=3, max_paths=4)
    # A 8, C 7, B 4 kept; D and E go with their arcs. Among A, B, C: 5 arcs; the 4 most
    # frequent ((start)->A 8, C->(end) 7, A->B 4, B->C 4) connect everything, A->C 2 goes.
    assert [n.activity for n in shown.nodes] == ["A", "C", "B"]
    assert arcs(shown) == {(START, "A"), ("A", "B"), ("B", "C"), ("C", END)}
    assert shown.simplification == MapSimplification(
        activities_shown=3, activities=5, paths_shown=4, paths=9,
        events_covered=19 / 21, paths_covered=23 / 29, max_activities=3, max_paths=4)
    assert shown.activity_coverage == pytest.approx(19 / 21)
    assert shown.path_coverage == pytest.approx(23 / 29)
    assert shown.dropped_activities == ("D", "E") and shown.dropped_paths == 5
    # figures are those of the full map
    assert shown.edge("A", "B") == pmap.edge("A", "B")
    assert shown.simplification.describe() == (
        "3 of 5 activities, 4 of 9 paths (start/end arcs included) shown, covering 90.5% of events "
        "and 79.3% of path occurrences")


def test_connecting_arcs_beat_more_frequent_ones():
    shown = simplify_map(discover_map(SMALL), max_paths=8)
    # K = 8..5 most frequent arcs need D->C, E->(end) or A->E added: 9 arcs. K = 4 plus the
    # widest paths of D ((start)->A->D, D->C->(end)) and E (A->E, E->(end)) is 8. So the
    # once-taken arcs to D and E stay and A->C (2 occurrences) is the one hidden.
    assert len(shown.nodes) == 5
    assert arcs(discover_map(SMALL)) - arcs(shown) == {("A", "C")}
    assert shown.simplification.paths_covered == pytest.approx(27 / 29)


def test_the_cap_gives_way_to_connectedness():
    shown = simplify_map(discover_map(SMALL), max_paths=5)
    # even K = 0 needs 8 arcs to connect A..E from the start and to the end
    assert arcs(shown) == arcs(discover_map(SMALL)) - {("A", "C")}
    assert (shown.simplification.paths_shown, shown.simplification.max_paths) == (8, 5)


def test_kept_activities_and_arcs_are_always_shown():
    pmap = discover_map(SMALL)
    shown = simplify_map(pmap, max_activities=3, max_paths=4, keep=["E"])
    # E forced, then A and C by events; arcs among them: (start)->A, C->(end), A->C, A->E,
    # E->(end): E needs both of its arcs, so all 5 are shown
    assert [n.activity for n in shown.nodes] == ["A", "C", "E"]
    assert arcs(shown) == {(START, "A"), ("C", END), ("A", "C"), ("A", "E"), ("E", END)}
    forced = simplify_map(pmap, max_activities=3, max_paths=4, keep=[("A", "C")])
    assert arcs(forced) == {(START, "A"), ("A", "B"), ("B", "C"), ("C", END), ("A", "C")}


def test_render_map_simplifies_a_large_map_with_stable_node_ids():
    pmap = discover_map(chain(70))
    assert (len(pmap.nodes), len(pmap.all_edges()), pmap.events) == (70, 140, 2485)
    ids = node_ids(pmap)
    assert ids["Step 01"] == "n2" and ids["Step 70"] == "n71"  # n0, n1: start, end
    dot = render_map(pmap)
    nodes = set(re.findall(r"^  (n\d+) \[", dot, flags=re.M))
    assert nodes == {f"n{i}" for i in range(2, 62)}
    # 60 kept: (start)->Step 01, Step k->k+1 for k < 60, the 60 end arcs
    assert len(re.findall(r"^  \w+ -> \w+ \[", dot, flags=re.M)) == 1 + 59 + 60
    assert "simplified: the most frequent 60 of 70 activities and 120 of 140 paths (98% of events" in dot
    full = render_map(pmap, simplify=False)
    assert len(set(re.findall(r"^  (n\d+) \[", full, flags=re.M))) == 70 and "simplified" not in full
    # a highlighted activity is drawn whatever its frequency, with its id from the full map
    lit = render_map(pmap, highlight={"Step 70": "#4a148c"})
    assert re.search(r'^  n71 \[.*color="#4a148c"', lit, flags=re.M)
    assert "n61 [" not in lit  # Step 60 made room for it
    # compared with itself: no path is "gone", although 20 are hidden
    assert "gone" not in render_map(pmap, compare=pmap)


def test_wrap_label_keeps_its_rules():
    assert wrap_label("Queued/Awaiting Assignment", 20) == ["Queued/Awaiting", "Assignment"]
    assert wrap_label("短") == ["短"]
    assert wrap_label("等待客户确认处理结果并回访归档", 20) == ["等待客户确认处理结果", "并回访归档"]
    # a word longer than a line is cut at the width
    assert wrap_label("Wait-Implementation-Vendor", 20) == ["Wait-Implementation-", "Vendor"]
    assert display_label("Accepted/In Progress") == ["Accepted/In Progress"]
    assert display_label("Resolve ticket and inform the customer by phone or mail") == [
        "Resolve ticket and", "inform the customer", "by phone or mail"]
    assert display_label("Resolve ticket and inform the customer by phone, mail or chat") == [
        "Resolve ticket and", "inform the customer", "by phone, mail or…"]


@pytest.mark.parametrize("name", ["Escalate " + "x" * 100_000, "等待客户确认" * 20_000, "word " * 20_000])
def test_a_100_kb_name_is_wrapped_and_cut_in_linear_time(name):
    lines = display_label(name)
    assert len(lines) == LABEL_LINES
    assert all(_width(line) <= LABEL_WIDTH for line in lines)
    assert lines[-1].endswith("…") and name.startswith(lines[0])
    every = wrap_label(name)
    assert all(_width(line) <= LABEL_WIDTH for line in every)
    assert "".join(every).replace(" ", "") == name.replace(" ", "")
    if name.startswith("等待"):
        assert len(every) == 120_000 // 10 and lines[0] == "等待客户确认等待客户"
    short = shorten_name(name)
    assert _width(short) <= 60 and short.endswith("…")


def test_long_names_are_cut_on_the_map_and_whole_in_the_tooltip(tmp_path):
    long = "Escalate to vendor " + "x" * 100_000
    pmap = discover_map(frame([("1", ["Receive", long, "接收投诉"]), ("2", ["Receive", long])]))
    dot = render_map(pmap)
    svg = dot_to(dot, tmp_path / "map.svg").read_text(encoding="utf-8")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "Escalate to vendor" in texts and "xxxxxxxxxxxxxxxxxxx…" in texts
    assert "接收投诉" in texts
    titles = re.findall(r'xlink:title="([^"]*)"', svg)
    assert f"{long}: 2 events in 2 tickets" in titles
    # paths name their ends shortened, so the SVG holds the long name once
    assert svg.count(long) == 1 and len(svg) < 150_000
    assert pmap.to_dict()["nodes"][0]["activity"] in (long, "Receive")
