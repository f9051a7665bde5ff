"""Planted causes: the simulator plants them and writes them down; ``why`` finds them."""

from __future__ import annotations

import pytest

from csmine.simulation.config import PlantedCause, SimulationConfig
from csmine.simulation.frames import histories_to_frame
from csmine.simulation.simulate import simulate

TZ = "Asia/Shanghai"


def _fingerprint(sim):
    return [(h.ticket, h.case.get("channel"), [(s.activity, s.occurred_at, s.actor) for s in h.steps])
            for h in sim.histories]


def test_nothing_planted_is_the_built_in_centre():
    plain = simulate(SimulationConfig(tickets=300, seed=5))
    again = simulate(SimulationConfig(tickets=300, seed=5, causes=()))
    assert _fingerprint(plain) == _fingerprint(again)
    assert "planted" not in plain.truth.to_dict()
    assert plain.truth.planted == ()


@pytest.mark.parametrize("kwargs", [
    {"kind": "nope", "strength": 2},
    {"kind": "slow-team", "strength": 0, "region": "North"},
    {"kind": "slow-team", "strength": 2, "region": "Mars"},
    {"kind": "skip-step", "strength": 2},
    {"kind": "skip-step", "strength": 2, "channel": "email", "step": "Record"},
    {"kind": "skip-step", "strength": 20, "channel": "email", "base": 0.1},
    {"kind": "weekday-queue", "strength": 2, "weekday": 7},
])
def test_invalid_causes_are_refused(kwargs):
    from csmine.errors import SimulationError

    with pytest.raises(SimulationError):
        PlantedCause(**kwargs)


def test_a_planted_cause_changes_only_through_itself():
    # the built-in draws are the same; only the planted channel skips Classify
    cause = PlantedCause("skip-step", 0.5, channel="email")
    sim = simulate(SimulationConfig(tickets=600, seed=3, causes=(cause,)))
    base = simulate(SimulationConfig(tickets=600, seed=3))
    assert [h.case for h in sim.histories] == [h.case for h in base.histories]
    skipped = {h.ticket for h in sim.histories if all(s.activity != "Classify" for s in h.steps)}
    assert skipped and all(h.case["channel"] == "email" for h in sim.histories if h.ticket in skipped)
    truth = sim.truth.planted[0]
    assert truth.group == {"channel": "email"} and truth.outcome == "deviation:skipped:Classify"
    assert truth.share_out == 0.0 and truth.lift is None
    assert truth.share_in == pytest.approx(len(skipped) / truth.affected)
    assert sim.truth.to_dict()["planted"][0]["kind"] == "skip-step"


@pytest.mark.parametrize("cause", [
    PlantedCause("skip-step", 3.0, channel="online chat", base=0.1),
    PlantedCause("weekday-queue", 2.5, weekday=0),
    PlantedCause("slow-team", 2.5, region="East", category="complaint"),
    PlantedCause("reopen", 5.0, region="East", category="after-sales"),
], ids=lambda c: c.kind)
def test_why_finds_each_kind_of_planted_cause_in_its_top_3(cause):
    from process_models import load_sop

    from csmine.explain.why import explain_outcome

    sim = simulate(SimulationConfig(tickets=3000, seed=21, causes=(cause,)))
    truth = sim.truth.planted[0]
    assert truth.affected >= 200 and truth.lift is not None and truth.lift >= 1.5
    report = explain_outcome(histories_to_frame(sim.histories, sim.phases), load_sop("complaint"), truth.outcome,
                             tz=TZ, what_if=0)
    groups = [dict(zip(c.attribute.split(" & "), c.value.split(" & "), strict=True)) for c in report.contributors]
    assert truth.group in groups[:3], (truth, [c.name for c in report.contributors])
