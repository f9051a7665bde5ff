"""The report's Why section and the review's why results."""

from __future__ import annotations

from datetime import UTC, date

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def demo():
    from process_models import load_sop

    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.simulate import simulate

    sim = simulate(SimulationConfig(tickets=600, seed=7))
    return histories_to_frame(sim.histories, sim.phases), load_sop("complaint")


def test_questions_are_the_top_limit_and_the_top_bottleneck(demo):
    from csmine.explain.section import why_questions
    from csmine.performance.bottlenecks import find_bottlenecks
    from csmine.performance.limits import check_limits

    df, sop = demo
    limits = check_limits(df, sop)
    questions = why_questions(limits, find_bottlenecks(df, sop))
    most = limits.groupby("step")["breached"].sum().idxmax()
    assert questions[0][1] == f"breach:{most}"
    assert questions[1][1] == "slow:Handle"  # Escalate -> Handle, the specialists' queue
    assert why_questions(limits.iloc[0:0], None) == []


def test_the_section_answers_and_draws(demo):
    from csmine.explain.section import why_section
    from csmine.reports.why_html import render_why_html
    from csmine.performance.bottlenecks import find_bottlenecks

    df, sop = demo
    section = why_section(df, sop, bottlenecks=find_bottlenecks(df, sop), resamples=50)
    assert len(section.reports) == len(section.questions) == 2
    assert section.reports[0].contributors
    page = render_why_html(section)
    assert page.startswith('<section id="why"><h2>Why</h2>') and page.endswith("</section>")
    assert "× as often" in page and "<svg" in page and "released in a batch at" in page
    assert section.to_dict()["questions"][0]["outcome"] == section.questions[0][1]


def test_an_empty_section_says_so():
    from csmine.explain.section import WhySection
    from csmine.reports.why_html import render_why_html

    assert "nothing to explain" in render_why_html(WhySection((), (), None))


def test_review_why_takes_the_tickets_opened_up_to_the_end_of_the_period(demo):
    from csmine.explain.section import review_why

    df, sop = demo
    day = date(2025, 2, 26)
    (r,) = review_why(df, sop, ("slow",), day=day, tz=UTC, what_if=0)
    opened = df.drop_duplicates("case:concept:name")["case:opened_at"]
    closed_by = pd.Timestamp("2025-02-27", tz="UTC")
    assert r.tickets <= int((opened < closed_by).sum())
    (w,) = review_why(df, sop, ("slow",), week="2025-W09", tz=UTC, what_if=0)
    assert w.tickets >= r.tickets  # the week ends on Sunday 2025-03-02
    from csmine.explain.outcomes import OutcomeError

    with pytest.raises(OutcomeError, match="ISO week"):
        review_why(df, sop, ("slow",), week="soon", tz=UTC)
