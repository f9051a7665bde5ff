"""Process maps, variants, models and map rendering.

DFG counts and waiting times are compared with pm4py's own discover_dfg /
discover_performance_dfg on the running example and on BPIC 2013; simplification,
variants and rendering on hand-made logs with the answers worked out in comments.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.datasets import dataset_path

from csmine.errors import EmptyLogError, MiningError, RenderError
from csmine.formatting import human_duration
from csmine.mining.encoding import encode_log
from csmine.mining.first_line import first_line_tickets, support_line_of
from csmine.mining.maps import END, START, discover_map
from csmine.mining.model import discover_model
from csmine.mining.time_split import split_time
from csmine.mining.variants import discover_variants
from csmine.reports.graphviz import dot_to
from csmine.reports.labels import wrap_label
from csmine.reports.maps import render_map

BPIC = ("bpic2013", "BPI_Challenge_2013_incidents.xes.gz")
RUNNING = ("pm4py_standard", "running-example.xes")


def _pm4py():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py
    return pm4py


def read_xes(path: Path) -> pd.DataFrame:
    pm4py = _pm4py()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm4py.read_xes(str(path), show_progress_bar=False)


@functools.cache
def bpic_frame() -> pd.DataFrame:
    """BPIC 2013 incidents with the store's columns (activity = status/sub-status).

    Reading the XES takes ~20 s, so the frame is cached as Parquet next to the
    dataset's pytest cache (keyed by the file's size and mtime) and in memory.
    """
    path = dataset_path(*BPIC)
    stat = path.stat()
    cache_dir = Path(__file__).resolve().parents[3] / ".pytest_cache" / "csmine-datasets"
    cache = cache_dir / f"bpic2013-{stat.st_size}-{int(stat.st_mtime)}.parquet"
    if cache.exists():
        return pd.read_parquet(cache)
    raw = read_xes(path)
    df = pd.DataFrame({
        "case:concept:name": raw["case:concept:name"].astype(str).to_numpy(dtype=object),
        "concept:name": (raw["concept:name"].astype(str) + "/" + raw["lifecycle:transition"].astype(str))
        .to_numpy(dtype=object),
        "time:timestamp": raw["time:timestamp"],
        "org:resource": raw["org:resource"].astype(object).to_numpy(),
        "org:group": raw["org:group"].astype(object).to_numpy(),
        "impact": raw["impact"].astype(object).to_numpy(),
        "organization involved": raw["organization involved"].astype(object).to_numpy(),
    })
    df = df.sort_values(["case:concept:name", "time:timestamp"], kind="stable").reset_index(drop=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    df.to_parquet(cache)
    return df


def frame(rows: list[tuple], *, start: bool = False) -> pd.DataFrame:
    """A log from (case, activity, time[, start][, team]) tuples; times are ISO strings (UTC)."""
    cols = ["case:concept:name", "concept:name", "time:timestamp"]
    if start:
        cols.append("start_timestamp")
    if len(rows[0]) > len(cols):
        cols.append("org:group")
    df = pd.DataFrame(rows, columns=cols)
    df["time:timestamp"] = pd.to_datetime(df["time:timestamp"], utc=True)
    if start:
        df["start_timestamp"] = pd.to_datetime(df["start_timestamp"], utc=True)
    return df


# -- DFG equals pm4py -------------------------------------------------------------


def assert_map_equals_pm4py(df: pd.DataFrame) -> None:
    pm4py = _pm4py()
    plain = df[["case:concept:name", "concept:name", "time:timestamp"]].copy()
    dfg, starts, ends = pm4py.discover_dfg(plain.copy())
    perf, _, _ = pm4py.discover_performance_dfg(plain.copy())
    pmap = discover_map(plain)
    assert {e.key: e.events for e in pmap.edges} == dict(dfg)
    for e in pmap.edges:
        assert e.median_s == pytest.approx(perf[e.key]["median"], abs=1e-6), e
        assert e.mean_s == pytest.approx(perf[e.key]["mean"], rel=1e-9, abs=1e-6), e
        assert e.total_s == pytest.approx(perf[e.key]["sum"], rel=1e-9), e
    assert {e.target: e.events for e in pmap.start_edges} == dict(starts)
    assert {e.source: e.events for e in pmap.end_edges} == dict(ends)
    # case frequencies against a per-case count done the slow way
    cases: dict[tuple[str, str], set[str]] = defaultdict(set)
    for case, acts in plain.groupby("case:concept:name", sort=False)["concept:name"]:
        seq = list(acts)
        for a, b in zip(seq, seq[1:], strict=False):
            cases[(a, b)].add(case)
    assert {e.key: e.cases for e in pmap.edges} == {k: len(v) for k, v in cases.items()}
    assert pmap.path_coverage == 1.0 and pmap.activity_coverage == 1.0
    assert sum(n.events for n in pmap.nodes) == len(plain)


@pytest.mark.slow
def test_running_example_map_equals_pm4py():
    assert_map_equals_pm4py(read_xes(dataset_path(*RUNNING)))


@pytest.mark.slow
def test_bpic2013_map_and_variants_equal_pm4py():
    df = bpic_frame()
    assert len(df) == 65_533
    assert_map_equals_pm4py(df)
    variants = discover_variants(df)
    pm4py = _pm4py()
    theirs = pm4py.get_variants(df[["case:concept:name", "concept:name", "time:timestamp"]].copy())
    assert len(variants) == 2278 == len(theirs)
    assert {v.activities: v.tickets for v in variants} == dict(theirs)
    assert variants[-1].cumulative_share == pytest.approx(1.0)


def test_running_example_variants_equal_pm4py():
    df = read_xes(dataset_path(*RUNNING))
    variants = discover_variants(df)
    assert {v.activities: v.tickets for v in variants} == dict(_pm4py().get_variants(df.copy()))
    assert [v.cumulative_share for v in variants] == pytest.approx([k / 6 for k in range(1, 7)])


# -- hand-made logs ----------------------------------------------------------------

# three tickets A->B->C taking 1 h, 3 h and 2 h; one ticket A->C taking 2 h
VARIANT_LOG = [
    ("1", "A", "2025-01-01T00:00Z"), ("1", "B", "2025-01-01T00:30Z"), ("1", "C", "2025-01-01T01:00Z"),
    ("2", "A", "2025-01-01T00:00Z"), ("2", "B", "2025-01-01T02:00Z"), ("2", "C", "2025-01-01T03:00Z"),
    ("3", "A", "2025-01-01T00:00Z"), ("3", "B", "2025-01-01T01:00Z"), ("3", "C", "2025-01-01T02:00Z"),
    ("4", "A", "2025-01-01T00:00Z"), ("4", "C", "2025-01-01T02:00Z"),
]


def test_variants_hand_checked():
    v = discover_variants(frame(VARIANT_LOG))
    assert [x.activities for x in v] == [("A", "B", "C"), ("A", "C")]
    assert [x.tickets for x in v] == [3, 1]
    assert [x.share for x in v] == [0.75, 0.25]
    assert [x.cumulative_share for x in v] == [0.75, 1.0]
    # throughputs 1 h, 3 h, 2 h -> median 2 h; the single A->C ticket: 2 h
    assert [x.median_throughput_s for x in v] == [7200.0, 7200.0]
    assert v[0].example_ticket == "1"
    assert discover_variants(frame(VARIANT_LOG), top=1)[0].cumulative_share == 0.75


def test_map_hand_checked_waiting_times():
    pmap = discover_map(frame(VARIANT_LOG))
    ab = pmap.edge("A", "B")
    # A->B waits 30 min, 2 h, 1 h: median 1 h, mean 70 min, P90 = 1 h + 0.8 * (2 h - 1 h) = 1 h 48 min
    assert (ab.events, ab.cases) == (3, 3)
    assert ab.median_s == 3600.0
    assert ab.mean_s == pytest.approx(4200.0)
    assert ab.p90_s == pytest.approx(6480.0)
    assert ab.total_s == 12600.0
    assert pmap.edge("A", "C").median_s == 7200.0
    assert pmap.edge(START, "A").events == 4
    assert pmap.edge("C", END).events == 4
    assert pmap.node("C").cases == 4


def test_waiting_uses_start_timestamp_when_known():
    # B starts 20 min after A completes, and works 10 min: waiting on A->B is 20 min
    df = frame([("1", "A", "2025-01-01T00:00Z", None), ("1", "B", "2025-01-01T00:30Z", "2025-01-01T00:20Z")],
               start=True)
    pmap = discover_map(df)
    assert pmap.edge("A", "B").median_s == 1200.0
    assert pmap.node("B").work_median_s == 600.0
    assert pmap.node("A").work_median_s is None


def test_activity_slider_keeps_frequent_activities_and_reroutes_paths():
    df = read_xes(dataset_path(*RUNNING))
    pmap = discover_map(df, activities=0.8)
    # event counts: check ticket 9, decide 9, examine casually 6, register request 6, examine thoroughly 3,
    # pay compensation 3, reinitiate request 3, reject request 3 (42 events). Most frequent first, ties by name:
    # 9+9+6+6 = 30 < 0.8 * 42 = 33.6; + examine thoroughly = 33 < 33.6; + pay compensation = 36 >= 33.6.
    assert {n.activity for n in pmap.nodes} == {"check ticket", "decide", "examine casually",
                                                 "register request", "examine thoroughly", "pay compensation"}
    assert pmap.dropped_activities == ("reinitiate request", "reject request")
    assert pmap.activity_coverage == pytest.approx(36 / 42)
    # the paths are those of the log without the dropped activities
    pm4py = _pm4py()
    kept = df[~df["concept:name"].isin(pmap.dropped_activities)]
    dfg, starts, ends = pm4py.discover_dfg(kept.copy())
    assert {e.key: e.events for e in pmap.edges} == dict(dfg)
    # tickets ending with 'reject request' now end at 'decide'
    assert {e.source: e.events for e in pmap.end_edges} == dict(ends) == {"decide": 3, "pay compensation": 3}


def reachable(pmap, root: str, reverse: bool) -> set[str]:
    adj = defaultdict(set)
    for e in pmap.all_edges():
        a, b = (e.target, e.source) if reverse else (e.source, e.target)
        adj[a].add(b)
    seen, stack = {root}, [root]
    while stack:
        for v in adj[stack.pop()]:
            if v not in seen:
                seen.add(v)
                stack.append(v)
    return seen


@pytest.mark.parametrize("paths", [0.05, 0.3, 0.6, 0.9])
def test_path_slider_keeps_every_activity_connected(paths):
    df = read_xes(dataset_path(*RUNNING))
    pmap = discover_map(df, paths=paths)
    names = {n.activity for n in pmap.nodes}
    assert names <= reachable(pmap, START, reverse=False)
    assert names <= reachable(pmap, END, reverse=True)
    assert pmap.path_coverage >= paths - 1e-9
    full = discover_map(df)
    assert len(pmap.all_edges()) + pmap.dropped_paths == len(full.all_edges())
    # kept paths carry the same numbers as in the full map
    for e in pmap.edges:
        assert full.edge(e.source, e.target) == e


def test_path_slider_keeps_most_frequent_paths():
    # 6 x (A->B), 3 x (A->C), 1 x (A->B->C): arcs start->A 10, A->B 7, B->end 6, A->C 3, C->end 4, B->C 1
    rows = []
    for k in range(6):
        rows += [(f"b{k}", "A", "2025-01-01T00:00Z"), (f"b{k}", "B", "2025-01-01T01:00Z")]
    for k in range(3):
        rows += [(f"c{k}", "A", "2025-01-01T00:00Z"), (f"c{k}", "C", "2025-01-01T01:00Z")]
    rows += [("x", "A", "2025-01-01T00:00Z"), ("x", "B", "2025-01-01T01:00Z"), ("x", "C", "2025-01-01T02:00Z")]
    pmap = discover_map(frame(rows), paths=0.7)
    # 31 arc occurrences; 0.7 * 31 = 21.7: start->A 10, A->B 7 (17), B->end 6 (23) >= 21.7 -> 3 arcs;
    # C is then added back through its widest connections: A->C (3) in, C->end (4) out; B->C (1) stays hidden
    assert {e.key for e in pmap.all_edges()} == {(START, "A"), ("A", "B"), ("B", END), ("A", "C"), ("C", END)}
    assert pmap.dropped_paths == 1
    assert pmap.path_coverage == pytest.approx(30 / 31)
    forced = discover_map(frame(rows), paths=0.7, keep=[("B", "C")])
    assert ("B", "C") in {e.key for e in forced.edges}


def test_bad_sliders_and_empty_log():
    df = frame(VARIANT_LOG)
    with pytest.raises(MiningError, match="activities"):
        discover_map(df, activities=0)
    with pytest.raises(MiningError, match="paths"):
        discover_map(df, paths=1.5)
    with pytest.raises(EmptyLogError):
        discover_map(df.iloc[0:0])
    with pytest.raises(MiningError, match="no column"):
        discover_map(df.drop(columns=["time:timestamp"]))


def test_unsorted_input_is_sorted_by_ticket_and_time():
    df = frame(VARIANT_LOG).sample(frac=1.0, random_state=3)
    assert discover_map(df) == discover_map(frame(VARIANT_LOG))


def test_split_time_status_log():
    # status log: In Progress 0-1 h, Wait - User 1-5 h, In Progress 5-6 h, Resolved at 6 h (last)
    df = frame([("1", "In Progress", "2025-01-01T00:00Z"), ("1", "Wait - User", "2025-01-01T01:00Z"),
                ("1", "In Progress", "2025-01-01T05:00Z"), ("1", "Resolved", "2025-01-01T06:00Z")])
    log = encode_log(df)
    split = split_time(log, np.array([False, True, False, False]))
    assert split.wait_s.tolist() == [0, 4 * 3600, 0, 0]
    assert split.work_s.tolist() == [3600, 0, 3600, 0]
    assert split.gap_owner.tolist() == [0, 1, 2, 3]


def test_split_time_start_complete_log():
    # Record works 09:05-09:10; Classify waits 09:10-09:30, works 09:30-09:40; Wait for customer at 10:00
    # (a waiting step without start) until Handle starts at 12:00, works until 13:00
    df = frame([("1", "Receive", "2025-01-01T09:00Z", None),
                ("1", "Record", "2025-01-01T09:10Z", "2025-01-01T09:05Z"),
                ("1", "Classify", "2025-01-01T09:40Z", "2025-01-01T09:30Z"),
                ("1", "Wait for customer", "2025-01-01T10:00Z", None),
                ("1", "Handle", "2025-01-01T13:00Z", "2025-01-01T12:00Z")], start=True)
    split = split_time(encode_log(df), np.array([False, False, False, True, False]))
    m = 60
    # waiting: 5 min before Record, 20 min before Classify, 20 min before 'Wait for customer' (attributed to
    # it as the queue before it), 2 h in 'Wait for customer'
    assert split.wait_s.tolist() == [0, 5 * m, 20 * m, 20 * m + 120 * m, 0]
    assert split.work_s.tolist() == [0, 5 * m, 10 * m, 0, 60 * m]
    assert split.wait_s.sum() + split.work_s.sum() == 4 * 3600  # 09:00 -> 13:00


def test_support_lines_and_first_line():
    teams = pd.Series(["G97", "G230 2nd", "V5 3rd", None, "S42"])
    assert support_line_of(teams).tolist() == [1, 2, 3, pd.NA, 1]
    marked = frame([("1", "a", "2025-01-01T00:00Z", "G97"), ("1", "b", "2025-01-01T01:00Z", "S42"),
                    ("2", "a", "2025-01-01T00:00Z", "G97"), ("2", "b", "2025-01-01T01:00Z", "G230 2nd")])
    fl = first_line_tickets(marked)
    assert fl.method == "line-marker"
    assert fl.tickets.to_dict() == {"1": True, "2": False}
    plain = frame([("1", "a", "2025-01-01T00:00Z", "Desk"), ("1", "b", "2025-01-01T01:00Z", "Desk"),
                   ("2", "a", "2025-01-01T00:00Z", "Desk"), ("2", "b", "2025-01-01T01:00Z", "Experts")])
    fl = first_line_tickets(plain)
    assert fl.method == "first-team"
    assert fl.tickets.to_dict() == {"1": True, "2": False}


def test_discover_model_writes_bpmn_that_pm4py_reads(tmp_path):
    pm4py = _pm4py()
    df = read_xes(dataset_path(*RUNNING))
    model = discover_model(df, noise=0.0)
    assert set(model.activities) == set(df["concept:name"])
    net, im, fm = model.to_petri_net()
    # the inductive miner without noise filtering fits every trace
    fitness = pm4py.fitness_token_based_replay(df.copy(), net, im, fm)
    assert fitness["log_fitness"] == pytest.approx(1.0)
    path = tmp_path / "model.bpmn"
    model.write_bpmn(str(path))
    back = pm4py.read_bpmn(str(path))
    labels = {n.get_name() for n in back.get_nodes() if n.get_name()}
    assert set(model.activities) <= labels
    assert model.to_dict()["tree"].startswith("->(")
    with pytest.raises(MiningError, match="noise"):
        discover_model(df, noise=1.0)


# -- rendering --------------------------------------------------------------------------


def test_render_map_dot_and_files(tmp_path):
    df = frame([("1", "接收投诉", "2025-01-01T00:00Z"), ("1", "处理 \"急\" & <快>", "2025-01-01T02:10Z"),
                ("2", "接收投诉", "2025-01-01T00:00Z"), ("2", "处理 \"急\" & <快>", "2025-01-01T02:10Z")])
    pmap = discover_map(df)
    dot = render_map(pmap, title="投诉处理")
    assert 'fontname="Noto Sans CJK SC"' in dot
    assert "接收投诉" in dot and "2 cases" in dot
    assert "&amp;" in dot and "&lt;快&gt;" in dot
    perf = render_map(pmap, mode="performance", highlight={("接收投诉", "处理 \"急\" & <快>"): "#4a148c"},
                      notes={"接收投诉": "#1 bottleneck"})
    assert "median 2h 10m" in perf
    assert 'color="#4a148c"' in perf and "#1 bottleneck" in perf
    svg = dot_to(dot, tmp_path / "map.svg")
    text = svg.read_text(encoding="utf-8")
    assert "接收投诉" in text and "Noto Sans CJK SC" in text
    png = dot_to(dot, tmp_path / "map.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dot_to(dot, tmp_path / "map.dot").read_text(encoding="utf-8") == dot
    with pytest.raises(RenderError, match=r"\.svg"):
        dot_to(dot, tmp_path / "map.jpg")
    with pytest.raises(RenderError, match="mode"):
        render_map(pmap, mode="heat")


def test_render_compare_marks_changes():
    base = discover_map(frame(VARIANT_LOG))
    # now every ticket goes A->C: A->C rises from 1 of 4 tickets to 2 of 2 (+75 pp)
    now = discover_map(frame([("9", "A", "2025-01-01T00:00Z"), ("9", "C", "2025-01-01T01:00Z"),
                              ("8", "A", "2025-01-01T00:00Z"), ("8", "C", "2025-01-01T01:00Z")]))
    dot = render_map(now, compare=base)
    assert "+75.0 pp" in dot
    assert "gone" not in dot  # B is not in the new map, so its paths are not drawn
    perf = render_map(now, mode="performance", compare=base)
    # A->C median 2 h before, 1 h now: -50 %
    assert "-50%" in perf


def test_wrap_label_and_durations():
    assert wrap_label("Queued/Awaiting Assignment", 20) == ["Queued/Awaiting", "Assignment"]
    assert wrap_label("短") == ["短"]
    assert all(len(line) <= 10 for line in wrap_label("等待客户确认处理结果并回访归档", 20))
    assert [human_duration(x) for x in (None, 45, 720, 7800, 93600, 86400 * 3, -300)] == [
        "-", "45s", "12m", "2h 10m", "1d 2h", "3d", "-5m"]


def test_discover_maps_equals_discover_map_at_every_level():
    from csmine.mining.maps import discover_map, discover_maps
    df = bpic_frame()
    levels_a, levels_p = (1.0, 0.9, 0.6), (1.0, 0.8, 0.5)
    maps = discover_maps(df, activities=levels_a, paths=levels_p, keep=["Completed/Closed"])
    assert len(maps) == 9
    for a in levels_a:
        for p in levels_p:
            assert maps[(a, p)] == discover_map(df, activities=a, paths=p, keep=["Completed/Closed"])
    assert maps[(0.6, 0.5)].dropped_paths > 0 and maps[(0.6, 0.5)].dropped_activities


@pytest.mark.parametrize("values", [[], [5], [3, 1, 3, 2, 1], list(range(10, 0, -1)) * 3, [-2, 7, -2, 0]])
def test_unique_ints_equals_np_unique(values):
    from csmine.mining.encoding import unique_ints

    a = np.asarray(values, dtype=np.int64)
    assert np.array_equal(unique_ints(a), np.unique(a))
    assert unique_ints(a).dtype == np.int64
