"""Prefix alignments of open tickets: hand-worked costs, and costs equal to independent references.

A *prefix alignment* explains the events of a ticket that has not ended with the
cheapest run of the SOP that may stop in any reachable marking: model moves after
the last event are not paid. pm4py has no prefix alignment, so two references are
built here without csmine's engine:

* **pm4py, minimum over final markings** (:func:`pm4py_prefix_cost`): every marking
  reachable from the initial marking is found with pm4py's own token game
  (``pm4py.objects.petri_net.semantics``), the prefix is aligned by pm4py's exact
  Dijkstra alignment with that marking as final marking, and the least cost is the
  reference. This is the definition of a prefix alignment's cost, so the costs
  (silent moves included) must be equal.
* **brute force over the SOP's language** (:func:`language_deviations`, small SOPs):
  every prefix ``w`` of every step sequence the SOP allows (loops cut after two
  redos) is a possible model run; aligning the events ``s`` with it costs
  ``len(s) + len(w) - 2 * LCS(s, w)`` deviations (sync moves on a longest common
  subsequence, every other event a log move, every other step a model move). The
  least over all ``w`` is the number of deviations of an optimal prefix alignment.

Costs by hand use the complaint SOP (Receive → Record → Classify → [Escalate] →
(Handle ↺ Wait for customer) → Callback → Archive) and small SOPs in
tests/data/conformance.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from process_models import enumerate_traces, load_sop

from csmine.conformance.alignments import align_log, align_variants, compile_model
from csmine.conformance.engines import sop_net
from csmine.conformance.figures import fitness_summary
from csmine.conformance.moves import LOG_MOVE_COST
from csmine.conformance.pm4py_engine import prefix_net

pm4py = pytest.importorskip("pm4py")

DATA = Path(__file__).resolve().parents[2] / "data" / "conformance"

COMPLAINT = ("Receive", "Record", "Classify", "Handle", "Callback", "Archive")

PARALLEL_TOML = """
id = "parallel"
title = "a, then b and c in any order, then d"
version = "1"
flow = ["seq", "a", ["and", "b", "c"], "d"]

[[steps]]
name = "a"
[[steps]]
name = "b"
[[steps]]
name = "c"
[[steps]]
name = "d"
"""


@pytest.fixture(scope="module", autouse=True)
def _quiet_pm4py() -> Iterator[None]:
    from pm4py.util import constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "SHOW_PROGRESS_BAR", False)
        yield


@cache
def sop(name: str):
    if name in ("complaint", "it-incident"):
        return load_sop(name)
    if name == "parallel":
        import tempfile

        path = Path(tempfile.mkdtemp()) / "parallel.toml"
        path.write_text(PARALLEL_TOML, encoding="utf-8")
        return load_sop(path)
    return load_sop(DATA / f"{name}.toml")


def net_of(name: str):
    return sop_net(sop(name))


def prefix(name: str, *events: str, method: str = "auto"):
    return align_variants(*net_of(name), [tuple(events)], prefix=True, method=method)[0]


def visible(moves) -> list[tuple[str, str | None]]:
    return [(m.kind, m.activity) for m in moves if m.kind != "tau"]


# ---------------------------------------------------------------------------------
# the two references
# ---------------------------------------------------------------------------------


def reachable_markings(net, im) -> list:
    """Every marking reachable from ``im``, by pm4py's token game."""
    from pm4py.objects.petri_net import semantics

    seen = [im]
    frontier = [im]
    while frontier:
        m = frontier.pop()
        for t in semantics.enabled_transitions(net, m):
            nm = semantics.execute(t, net, m)
            if nm not in seen:
                seen.append(nm)
                frontier.append(nm)
    return seen


@cache
def _markings(name: str) -> list:
    net, im, _ = net_of(name)
    return reachable_markings(net, im)


def pm4py_prefix_cost(name: str, events: Sequence[str]) -> int:
    """Least pm4py alignment cost of ``events`` over every reachable marking as final marking."""
    from pm4py.algo.conformance.alignments.petri_net.variants import dijkstra_no_heuristics
    from pm4py.objects.log.obj import Event, Trace

    net, im, _ = net_of(name)
    trace = Trace([Event({"concept:name": a}) for a in events])
    costs = []
    for fm in _markings(name):
        res = dijkstra_no_heuristics.apply(trace, net, im, fm, parameters={})
        costs.append(int(res["cost"]))
    return min(costs)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            cur = row[j]
            row[j] = prev + 1 if x == y else max(row[j], row[j - 1])
            prev = cur
    return row[-1]


@cache
def _language_prefixes(name: str) -> frozenset[tuple[str, ...]]:
    words = enumerate_traces(sop(name).flow, max_repeats=2)
    return frozenset(w[:k] for w in words for k in range(len(w) + 1))


def language_deviations(name: str, events: Sequence[str]) -> int:
    """Least deviations (log + model moves) of ``events`` against any prefix of the SOP's language."""
    return min(len(events) + len(w) - 2 * _lcs(events, w) for w in _language_prefixes(name))


# ---------------------------------------------------------------------------------
# hand-worked prefixes
# ---------------------------------------------------------------------------------


def test_a_prefix_the_sop_allows_costs_nothing_and_its_steps_to_come_are_pending() -> None:
    # Receive, Record, Classify: three sync moves, no model move after Classify is paid.
    a = prefix("complaint", "Receive", "Record", "Classify")
    assert (a.cost, a.fitness, a.is_fit, a.prefix) == (0, 1.0, True, True)
    assert visible(a.moves) == [("sync", "Receive"), ("sync", "Record"), ("sync", "Classify")]
    # next: escalate (optional: a silent move skips it) or handle; only Handle is needed
    assert a.enabled == ("Escalate", "Handle")
    assert a.required == ("Handle",)
    # the full alignment of the same events pays Handle, Callback and Archive (3 x 10,000
    # plus the silent moves): fitness 1 - 3 / (3 + 6) = 0.67, the figure the issue reports
    full = align_variants(*net_of("complaint"), [("Receive", "Record", "Classify")])[0]
    assert full.cost // LOG_MOVE_COST == 3 and round(full.fitness, 2) == 0.67


def test_a_skipped_step_inside_the_prefix_is_one_model_move() -> None:
    # Receive, Classify: Record was skipped (one model move, 10,000). The other
    # cheapest reading, Classify as a log move with Record still to come, costs the
    # same; ties go to fewer log moves, so the events are explained where possible.
    a = prefix("complaint", "Receive", "Classify")
    assert a.cost == 10_000
    assert visible(a.moves) == [("sync", "Receive"), ("model", "Record"), ("sync", "Classify")]
    assert a.enabled == ("Escalate", "Handle")
    assert a.fitness == 1 - 1 / 2  # 1 - deviations / events: the empty prefix costs nothing


def test_a_step_done_before_its_turn_is_a_log_move_when_that_is_cheaper() -> None:
    # Receive, Record, Handle. Skipping Classify and doing Handle costs 10,000 for
    # Classify plus 1 for the silent move past the optional Escalate = 10,001;
    # Handle as a log move (Classify still expected next) costs 10,000 and wins.
    a = prefix("complaint", "Receive", "Record", "Handle")
    assert a.cost == 10_000
    assert visible(a.moves) == [("sync", "Receive"), ("sync", "Record"), ("log", "Handle")]
    assert a.enabled == ("Classify",) and a.required == ("Classify",)
    assert a.fitness == pytest.approx(1 - 1 / 3)
    assert pm4py_prefix_cost("complaint", ("Receive", "Record", "Handle")) == 10_000


@pytest.mark.parametrize(
    ("events", "cost", "enabled", "moves"),
    [
        ((), 0, ("Receive",), []),
        (("Receive",), 0, ("Record",), [("sync", "Receive")]),
        # one event that is not the first step: skip Receive (ties with a log move)
        (("Record",), 10_000, ("Classify",), [("model", "Receive"), ("sync", "Record")]),
        # Classify done before Record: Classify a log move, still expected next
        (("Receive", "Classify", "Record"), 10_000, ("Classify",),
         [("sync", "Receive"), ("log", "Classify"), ("sync", "Record")]),
        # an activity the SOP does not know is a log move
        (("Receive", "x"), 10_000, ("Record",), [("sync", "Receive"), ("log", "x")]),
        # escalated twice: one of the two is a log move (either; conformance reads the
        # later one as the repeat)
        (("Receive", "Record", "Classify", "Escalate", "Escalate"), 10_000, ("Handle",), None),
        # waiting for the customer: handling goes on next (the loop back)
        (("Receive", "Record", "Classify", "Handle", "Wait for customer"), None, ("Handle",),
         [("sync", a) for a in ("Receive", "Record", "Classify", "Handle", "Wait for customer")]),
        # the whole flow: nothing is left to do
        (COMPLAINT, None, (), [("sync", a) for a in COMPLAINT]),
    ],
)
def test_complaint_prefixes_by_hand(events, cost, enabled, moves) -> None:
    a = prefix("complaint", *events)
    if cost is None:  # fits: only silent routing moves are paid (skip Escalate, enter the loop)
        assert a.cost < LOG_MOVE_COST and a.fitness == 1.0
    else:
        assert a.cost == cost
    assert a.enabled == enabled
    if moves is not None:
        assert visible(a.moves) == moves
    else:
        assert [m.activity for m in a.moves if m.kind == "log"] == ["Escalate"]
    assert a.cost == pm4py_prefix_cost("complaint", events)


def test_whole_flow_as_a_prefix_costs_what_its_full_alignment_costs() -> None:
    net = net_of("complaint")
    full = align_variants(*net, [COMPLAINT])[0]
    a = prefix("complaint", *COMPLAINT)
    assert a.cost == full.cost == 2 and a.enabled == ()
    assert dict(a.marking) == {str(p.name): c for p, c in net[2].items()}  # the final marking


@pytest.mark.parametrize(
    ("name", "events", "cost", "enabled", "required"),
    [
        ("abcd", "ab", 0, ("c",), ("c",)),
        ("abcd", "ac", 10_000, ("d",), ("d",)),  # b skipped
        ("abcd", "b", 10_000, ("c",), ("c",)),  # a skipped
        ("abcd", "acb", 10_000, ("c",), ("c",)),  # c done early: a log move, c still next
        ("abcd", "abcd", 0, (), ()),
        ("xor", "a", 0, ("b", "e"), ()),  # either branch: neither is required
        ("xor", "ab", 0, ("c",), ("c",)),
        ("xor", "abf", 10_000, ("c",), ("c",)),  # f belongs to the other branch
        ("xor", "ae", 0, ("f",), ("f",)),
        ("parallel", "ac", 0, ("b",), ("b",)),  # c before b is allowed; b still needed
        ("parallel", "acb", 0, ("d",), ("d",)),
        ("parallel", "ad", 10_000, ("b", "c"), ("b", "c")),  # d too early: b and c to come
    ],
)
def test_small_sops_by_hand(name, events, cost, enabled, required) -> None:
    a = prefix(name, *events)
    assert (a.cost - a.cost % LOG_MOVE_COST, a.enabled, a.required) == (cost, enabled, required)
    assert a.cost == pm4py_prefix_cost(name, tuple(events))
    assert a.cost // LOG_MOVE_COST == language_deviations(name, tuple(events))


# ---------------------------------------------------------------------------------
# against the references on many prefixes
# ---------------------------------------------------------------------------------


def _prefixes(name: str, n_random: int, seed: int) -> list[tuple[str, ...]]:
    """Every prefix of the SOP's traces (one loop redo), and mutated ones (drop, swap, insert)."""
    s = sop(name)
    steps = list(s.flow_steps)
    words = sorted(enumerate_traces(s.flow, max_repeats=1))
    out = {w[:k] for w in words for k in range(len(w) + 1)}
    rng = random.Random(seed)
    pool = sorted(out)
    for _ in range(n_random):
        w = list(rng.choice(pool))
        for _ in range(rng.randint(1, 2)):
            op = rng.choice(("drop", "swap", "insert"))
            if op == "drop" and w:
                del w[rng.randrange(len(w))]
            elif op == "swap" and len(w) > 1:
                i = rng.randrange(len(w) - 1)
                w[i], w[i + 1] = w[i + 1], w[i]
            else:
                w.insert(rng.randrange(len(w) + 1), rng.choice([*steps, "x"]))
        out.add(tuple(w))
    return sorted(out, key=lambda v: (len(v), v))


@pytest.mark.parametrize(("name", "n_random"), [("abcd", 30), ("xor", 30), ("parallel", 30), ("complaint", 40)])
def test_costs_equal_both_references(name, n_random) -> None:
    variants = _prefixes(name, n_random, seed=2024)
    got = align_variants(*net_of(name), variants, prefix=True)
    for v, a in zip(variants, got, strict=True):
        assert a.cost == pm4py_prefix_cost(name, v), v
        assert a.cost // LOG_MOVE_COST == language_deviations(name, v), v
        assert a.fitness == (1.0 if not v else 1 - (a.cost // LOG_MOVE_COST) / len(v))


@pytest.mark.slow
def test_it_incident_prefixes_equal_pm4py() -> None:
    variants = _prefixes("it-incident", 40, seed=2013)
    variants = [v for v in variants if len(v) <= 6][:80]
    got = align_variants(*net_of("it-incident"), variants, prefix=True)
    for v, a in zip(variants, got, strict=True):
        assert a.cost == pm4py_prefix_cost("it-incident", v), v


@pytest.mark.parametrize("name", ["complaint", "parallel", "xor"])
def test_the_three_methods_agree(name) -> None:
    variants = _prefixes(name, 25, seed=7)
    net = net_of(name)
    dense = align_variants(*net, variants, prefix=True, method="dense")
    astar = align_variants(*net, variants, prefix=True, method="astar")
    via_pm4py = align_variants(*net, variants, prefix=True, method="pm4py")  # on prefix_net
    for v, a, b, c in zip(variants, dense, astar, via_pm4py, strict=True):
        assert a.cost == b.cost == c.cost, v
        # the same tie-break (fewest log moves) on every method
        count = [sum(m.kind == "log" for m in x.moves) for x in (a, b, c)]
        assert count[0] == count[1] == count[2], v


def test_moves_replay_and_explain_every_event() -> None:
    from pm4py.objects.petri_net import semantics

    net, im, _ = net_of("complaint")
    by_name = {str(t.name): t for t in net.transitions}
    for v in _prefixes("complaint", 30, seed=11):
        a = prefix("complaint", *v)
        assert [m.activity for m in a.moves if m.kind in ("sync", "log")] == list(v)
        assert sum(m.cost for m in a.moves) == a.cost
        assert a.moves[-1:] == () or a.moves[-1].kind in ("sync", "log")  # no paid move after the end
        m = im
        for mv in a.moves:
            if mv.transition is not None:
                m = semantics.execute(by_name[mv.transition], net, m)
                assert m is not None
        assert {str(p.name): c for p, c in m.items() if c} == dict(a.marking)


def test_prefix_net_is_the_pm4py_reference_construction() -> None:
    net, im, _ = net_of("complaint")
    net2, im2, fm2, model_cost, sync_cost = prefix_net(net, im)
    drains = [t for t in net2.transitions if t.name.startswith("csmine-drain:")]
    assert len(drains) == len(net.places) and all(model_cost[t] == 0 for t in drains)
    assert len(fm2) == 0 and len(net2.transitions) == len(net.transitions) + len(net.places)
    assert not [t for t in net.transitions if str(t.name).startswith("csmine-drain:")]  # a copy
    assert {str(t.name) for t in net.transitions} <= {str(t.name) for t in net2.transitions}
    assert all(sync_cost[t] == 0 for t in net2.transitions if t.label is not None)
    assert sum(1 for _ in im2) == sum(1 for _ in im)


def test_prefix_and_full_alignments_are_cached_apart() -> None:
    net = net_of("abcd")
    cache: dict = {}
    full = align_variants(*net, [("a", "b")], cache=cache)[0]
    part = align_variants(*net, [("a", "b")], cache=cache, prefix=True)[0]
    again = align_variants(*net, [("a", "b")], cache=cache)[0]
    assert (full.cost, part.cost, again.cost) == (20_000, 0, 20_000)
    assert not full.prefix and part.prefix and again is full
    assert len(cache) == 2


def test_align_log_and_fitness_summary_in_prefix_mode() -> None:
    # three unfinished tickets on abcd: a b (fits), a c (b skipped), c (a log move:
    # cheaper than skipping a and b)
    df = pd.DataFrame({"case:concept:name": ["1", "1", "2", "2", "3"],
                       "concept:name": ["a", "b", "a", "c", "c"]})
    cases, _ = align_log(df, *net_of("abcd"), prefix=True)
    assert cases["cost"].tolist() == [0, 10_000, 10_000]
    assert cases["fitness"].tolist() == [1.0, 0.5, 0.0]
    # log fitness 1 - 20,000 / (5 events x 10,000): the empty prefix costs nothing
    summary = fitness_summary(df, *net_of("abcd"), prefix=True)
    assert summary["log_fitness"] == pytest.approx(1 - 20_000 / 50_000)
    assert summary["average_trace_fitness"] == pytest.approx(0.5)
    assert summary["percentage_of_fitting_traces"] == pytest.approx(100 / 3)
    # the same tickets as finished ones pay for every step still missing
    full = fitness_summary(df, *net_of("abcd"))
    assert full["log_fitness"] < summary["log_fitness"]


def test_prefix_fitness_is_never_negative() -> None:
    # the all-log-moves alignment is always a prefix alignment: cost <= len x 10,000
    for v in _prefixes("xor", 30, seed=3):
        a = prefix("xor", *v)
        assert a.cost <= max(len(v), 0) * LOG_MOVE_COST
        assert 0.0 <= a.fitness <= 1.0


def test_large_nets_use_the_same_definition() -> None:
    # A* over the explicit graph (forced) gives the dense pass's costs on it-incident
    model = compile_model(*net_of("it-incident"))
    variants = [("Work in progress",), ("Queue", "Work in progress", "Resolve"),
                ("Resolve",), ("Work in progress", "Wait for user", "Close")]
    dense = model.align(variants, prefix=True, method="dense")
    astar = model.align(variants, prefix=True, method="astar")
    assert [a.cost for a in dense] == [a.cost for a in astar]
    assert dense[1].enabled == ("Close",) and dense[1].required == ("Close",)


@pytest.mark.slow
def test_a_graph_above_the_eager_pointer_limit(tmp_path) -> None:
    """11 steps in parallel: 2,050 markings, so the dense pass recovers its moves per step."""
    steps = list("abcdefghijk")
    text = 'id = "wide"\ntitle = "wide"\nversion = "1"\n'
    text += 'flow = ["seq", "s", ["and", %s], "z"]\n' % ", ".join(f'"{x}"' for x in steps)
    text += "".join(f'[[steps]]\nname = "{x}"\n' for x in ["s", *steps, "z"])
    path = tmp_path / "wide.toml"
    path.write_text(text, encoding="utf-8")
    model = compile_model(*sop_net(load_sop(path)))
    assert model.n_states == 2_050
    rng = random.Random(1)
    variants = []
    for _ in range(25):
        w = ["s", *rng.sample(steps, rng.randint(0, 11))]
        if rng.random() < 0.5 and len(w) > 2:
            del w[rng.randrange(len(w))]
        if rng.random() < 0.3:
            w.insert(rng.randrange(len(w) + 1), rng.choice([*steps, "z", "x"]))
        variants.append(tuple(w))
    dense = model.align(variants, prefix=True, method="dense")
    astar = model.align(variants, prefix=True, method="astar")
    for v, a, b in zip(variants, dense, astar, strict=True):
        assert a.cost == b.cost, v
        assert sum(m.kind == "log" for m in a.moves) == sum(m.kind == "log" for m in b.moves), v
        assert [m.activity for m in a.moves if m.kind in ("sync", "log")] == list(v)
    # after s and b, every other parallel step is next, and each is needed
    first = model.align([("s", "b")], prefix=True)[0]
    assert first.cost == 0 and first.enabled == tuple(x for x in steps if x != "b") == first.required
