"""The analytics find the effects built into the demo simulation (three seeds).

Each seed's centre is recorded into a real SQLite store (the demo pipeline), then
the analyses run on the store and are held to the simulation's ground truth.
"""

from __future__ import annotations

import pytest

from csmine.eventlog.filters import LogFilter

pytestmark = pytest.mark.slow

SEEDS = (7, 11, 23)


@pytest.fixture(scope="module", params=SEEDS)
def demo(request, tmp_path_factory):
    from event_store import open_store

    from csmine.eventlog.loading import load_event_log
    from csmine.simulation.demo import record_demo

    path = tmp_path_factory.mktemp(f"demo{request.param}") / "csmine.db"
    store = open_store(str(path), create=True)
    run = record_demo(store, tickets=3000, seed=request.param)
    df = load_event_log(store, attributes=["satisfaction"])
    yield store, run.truth, df
    store.close()


def _sop():
    from process_models import load_sop

    return load_sop("complaint")


def test_demo_is_recorded_with_its_phases(demo):
    store, truth, df = demo
    assert df["case:concept:name"].nunique() == truth["tickets"] == 3000
    assert len(df) == truth["events"]
    counts = df.drop_duplicates("case:concept:name")["case:phase"].value_counts(dropna=False).to_dict()
    for phase, n in truth["phase_tickets"].items():
        key = None if phase == "(no phase)" else phase
        assert counts.get(key, 0) == n, phase


def test_top_bottleneck_is_the_specialist_queue(demo):
    from csmine.performance.bottlenecks import find_bottlenecks

    _, truth, df = demo
    report = find_bottlenecks(df, _sop())
    source, target, team = truth["bottleneck"]["designed_top"]
    top = report.bottlenecks[0]
    # The wait between escalation and specialist handling is both the transition
    # Escalate -> Handle and the handover First line -> Specialist: either names it.
    assert (top.kind == "transition" and tuple(top.key) == (source, target)) or (
        top.kind == "handover" and tuple(top.key) == ("First line", team)
    ), top
    first_path = next(b for b in report.bottlenecks if b.kind in ("transition", "step"))
    assert tuple(first_path.key) == (source, target)


def test_compare_finds_the_first_response_change_with_an_interval_holding_the_truth(demo):
    from csmine.eventlog.loading import load_event_log
    from csmine.pilot.compare import compare_logs

    store, truth, _ = demo
    base = load_event_log(store, LogFilter(phase="baseline"))
    pilot = load_event_log(store, LogFilter(phase="pilot"))
    cmp = compare_logs(base, pilot, _sop(), label_a="baseline", label_b="pilot", bottlenecks=False,
                       conformance=False)
    change = cmp.kpi("first_response_timeouts").change
    rates = {r["phase"]: r for r in truth["first_response"]["rates"]}
    assert change.a == pytest.approx(rates["baseline"]["share"], abs=1e-6)
    assert change.b == pytest.approx(rates["pilot"]["share"], abs=1e-6)
    realised = rates["pilot"]["share"] - rates["baseline"]["share"]
    designed = rates["pilot"]["designed"] - rates["baseline"]["designed"]
    assert change.ci_low <= realised <= change.ci_high
    assert change.ci_low <= designed <= change.ci_high
    assert change.significant is True and change.ci_high < 0


def test_skipped_callbacks_are_found_within_a_few_points(demo):
    from csmine.conformance.deviations import check_conformance
    from csmine.eventlog.loading import load_event_log

    store, truth, _ = demo
    df = load_event_log(store, LogFilter(phase="baseline", where={"category": ("complaint",)}))
    report = check_conformance(df, _sop(), precision=False)
    found = report.step("Callback").skipped_share
    rate = next(r for r in truth["callback_skips"]["rates"] if r["phase"] == "baseline")
    assert found == pytest.approx(rate["share"], abs=0.03)
    assert found == pytest.approx(0.20, abs=0.06)


def test_the_ping_pong_pair_is_named(demo):
    from csmine.performance.bottlenecks import find_bottlenecks

    _, truth, df = demo
    top = find_bottlenecks(df, _sop()).ping_pong[0]
    assert {top.team_a, top.team_b} == set(truth["ping_pong"]["teams"])
    assert top.direct >= truth["ping_pong"]["tickets"]


def test_the_knowledge_base_day_stands_out(demo):
    from csmine.reports.report_sections import unusual_days

    _, truth, df = demo
    days = unusual_days(df)
    assert days[0].step == "Handle"
    assert days[0].date == truth["knowledge_base_down"]["date"]
    assert days[0].ratio >= 2.0


def test_report_is_the_same_page_computed_on_one_core_or_two(demo, tmp_path):
    # On large logs the report checks conformance, compares the phases and asks why in
    # forked processes; forced here on the demo, the page must equal the single-process one.
    import re

    from csmine.reports.report import build_report

    store, truth, df = demo
    pages = [build_report(store, parallel=flag) for flag in (False, True)]
    strip = [re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", p.html) for p in pages]
    assert strip[0] == strip[1]
    assert pages[1].findings.why.reports and pages[1].findings.why.to_dict() == pages[0].findings.why.to_dict()
    assert pages[1].findings.comparison["first_response_timeouts"].significant is True
    assert pages[1].findings.conformance.fitness == pages[0].findings.conformance.fitness > 0.5


def test_report_child_errors_reach_the_caller(demo):
    from csmine.errors import CsmineError
    from csmine.reports.report import build_report

    store, truth, df = demo
    # The pilot runs in region East only: asked for explicitly, the West's pilot side
    # is empty, which compare_logs (in the child) refuses.
    with pytest.raises(CsmineError, match="side pilot .* holds no tickets"):
        build_report(store, LogFilter(where={"region": ("West",)}), compare=("baseline", "pilot"), parallel=True)


def test_a_failure_in_the_parent_stops_the_child(demo, monkeypatch):
    import os

    import csmine.performance.bottlenecks
    import csmine.reports.report as report
    from csmine.reports.parallel import Job

    jobs = []
    real_init = Job.__init__

    def recording_init(self, *args):
        real_init(self, *args)
        jobs.append((self, self._pid))

    def broken(*args, **kwargs):
        raise RuntimeError("bottlenecks failed")

    monkeypatch.setattr(Job, "__init__", recording_init)
    monkeypatch.setattr(csmine.performance.bottlenecks, "find_bottlenecks", broken)
    store, truth, df = demo
    with pytest.raises(RuntimeError, match="bottlenecks failed"):
        report.build_report(store, parallel=True)
    assert len(jobs) == 1 and jobs[0][1] > 0  # a child was started...
    job, pid = jobs[0]
    assert job._pid == 0
    with pytest.raises(ProcessLookupError):  # ...and is gone (killed and reaped)
        os.kill(pid, 0)
