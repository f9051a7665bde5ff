"""The performance spectrum on hand-made segments whose patterns are known."""

from __future__ import annotations

import pandas as pd
import pytest

T0 = pd.Timestamp("2025-01-06 00:00", tz="UTC")  # a Monday


def _log(passages):
    """Tickets ``Receive -> Handle``: one passage each, (begin, end) as Timestamps."""
    rows = []
    for k, (begin, end) in enumerate(passages):
        rows.append({"case:concept:name": f"T-{k:03d}", "concept:name": "Receive", "time:timestamp": begin})
        rows.append({"case:concept:name": f"T-{k:03d}", "concept:name": "Handle", "time:timestamp": end})
    return pd.DataFrame(rows)


def test_a_daily_batch_is_found_and_named():
    from csmine.explain.spectrum import discover_performance_spectrum

    passages = []
    for day in range(10):
        for j, hour in enumerate((10, 12, 14, 16, 18, 20)):
            begin = T0 + pd.Timedelta(days=day, hours=hour)
            end = T0 + pd.Timedelta(days=day + 1, hours=9, seconds=10 * j)  # all within a minute
            passages.append((begin, end))
    spectrum = discover_performance_spectrum(_log(passages), min_passages=10)
    seg = spectrum.segments[0]
    assert (seg.source, seg.target, seg.passages) == ("Receive", "Handle", 60)
    kinds = {p.kind: p for p in seg.patterns}
    assert kinds["batch"].share == 1.0 and kinds["batch"].detail["batches"] == 10
    assert kinds["release"].detail["minute_of_day"] == "09:00"
    assert kinds["release"].share == 1.0
    assert "released in a batch at 09:00" in kinds["release"].words
    # first in, first out inside each batch: nothing overtakes
    assert "overtaking" not in kinds


def test_a_queue_on_mondays_and_overtaking():
    from csmine.explain.spectrum import discover_performance_spectrum

    passages = []
    for day in range(28):
        for j in range(5):
            begin = T0 + pd.Timedelta(days=day, hours=9 + 2 * j)
            wait = pd.Timedelta(hours=5 if day % 7 == 0 else 1, minutes=7 * j)
            passages.append((begin, begin + wait))
    # one passage that overtakes many: it begins first and ends last
    passages[0] = (passages[0][0], passages[0][0] + pd.Timedelta(days=30))
    spectrum = discover_performance_spectrum(_log(passages), min_passages=10)
    kinds = {p.kind: p for p in spectrum.segments[0].patterns}
    assert kinds["queue"].detail["weekdays"] == ["Monday"]
    assert "the queue builds up on Mondays" in kinds["queue"].words
    assert kinds["overtaking"].share > 0.9
    assert "batch" not in kinds


def test_lines_are_coloured_by_the_outcome_and_drawn():
    from process_models import load_sop

    from csmine.explain.spectrum import discover_performance_spectrum
    from csmine.reports.why_html import render_spectrum_svg
    from csmine.simulation.config import SimulationConfig
    from csmine.simulation.frames import histories_to_frame
    from csmine.simulation.simulate import simulate

    sim = simulate(SimulationConfig(tickets=600, seed=7))
    df = histories_to_frame(sim.histories, sim.phases)
    spectrum = discover_performance_spectrum(df, load_sop("complaint"), outcome="slow", top=3,
                                             tz="Asia/Shanghai", max_lines=300)
    top = spectrum.segments[0]
    assert (top.source, top.target) == ("Escalate", "Handle")  # the built-in bottleneck
    assert 0 < top.outcome_share < 1 and len(top.begin) == min(300, top.passages)
    assert any(p.kind == "release" and p.detail["minute_of_day"] == "09:00" for p in top.patterns)
    svg = render_spectrum_svg(spectrum)
    assert svg.startswith("<svg") and svg.count("<path") >= 3 and "Escalate → Handle" in svg
    # the batch is named in the picture, and its segment gets a zoom on one week with 09:00 marked
    assert "batch released daily at 09:00" in svg
    assert "zoom: Escalate → Handle, the week from" in svg and "orange: 09:00 each day" in svg
    assert svg.count('stroke="#e67e22"') >= 6  # one mark per day of the week shown
    assert spectrum.to_dict()["segments"][0]["patterns"]


@pytest.mark.parametrize("pairs", [[("Receive", "Handle")]])
def test_segments_can_be_named(pairs):
    from csmine.explain.spectrum import discover_performance_spectrum

    passages = [(T0 + pd.Timedelta(hours=h), T0 + pd.Timedelta(hours=h + 1)) for h in range(30)]
    spectrum = discover_performance_spectrum(_log(passages), segments=pairs)
    assert [(s.source, s.target) for s in spectrum.segments] == pairs
    assert spectrum.segments[0].median_s == 3600.0
