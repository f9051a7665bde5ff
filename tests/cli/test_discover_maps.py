"""csmine discover draws large maps simplified (--full draws all) and long names cut.

The chain log: ticket t (1..70) runs Step 01 -> Step 02 -> ... -> Step t, ten minutes
apart. Step k has 71 - k events (2,485 in all). Arcs: (start) -> Step 01 (70 times),
Step k -> Step k+1 (70 - k times, k = 1..69), Step t -> (end) (once each, 70 arcs):
140 arcs carrying 70 + 2,415 + 70 = 2,555 occurrences.

Drawn with the default caps (60 activities, 150 arcs): Step 01..60 (events 70..11,
2,430 of 2,485 = 97.8 %) and their 1 + 59 + 60 = 120 arcs (70 + 2,360 + 60 = 2,490
occurrences, 97.5 %).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from csmine.cli import cli as root


def run(*args, ok: bool = True):
    result = CliRunner().invoke(root, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


def write_log(path: Path, traces: list[tuple[str, list[str]]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["case:concept:name", "concept:name", "time:timestamp"])
        for case, acts in traces:
            for i, act in enumerate(acts):
                out.writerow([case, act, f"2025-03-03T{8 + i // 6:02d}:{10 * (i % 6):02d}:00Z"])
    return path


def import_unlimited(log: Path, store: str) -> None:
    """``csmine import`` with the field-length limit (4 KiB by default) raised for a 100 KB name."""
    if "--max-field-bytes" in run("--help").stdout:
        run("--max-field-bytes", "1M", "import", log, "--store", store, "--quiet")
        return
    try:
        from event_store.limits import InputLimits, use_limits
    except ImportError:  # a version without input limits
        run("import", log, "--store", store, "--quiet")
        return
    with use_limits(InputLimits(max_field_bytes=1 << 20, max_value_bytes=1 << 20)):
        run("import", log, "--store", store, "--quiet")


@pytest.fixture(scope="module")
def chain_store(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("chain")
    log = write_log(folder / "chain.csv",
                    [(f"T{t:02d}", [f"Step {k:02d}" for k in range(1, t + 1)]) for t in range(1, 71)])
    store = str(folder / "chain.db")
    run("import", log, "--store", store, "--quiet")
    return store


def svg_counts(path: Path) -> tuple[int, int]:
    text = path.read_text(encoding="utf-8")
    return text.count('class="node"'), text.count('class="edge"')


def test_a_large_map_is_drawn_simplified_and_said_so(chain_store, tmp_path):
    svg = tmp_path / "map.svg"
    result = run("discover", "--store", chain_store, "--out", svg, "--json")
    assert ("map simplified: 60 of 70 activities, 120 of 140 paths (start/end arcs included) shown, "
            "covering 97.8% of events and 97.5% of path occurrences; --full for all") in result.stderr
    out = json.loads(result.stdout)
    assert out["simplified"] == {
        "activities_shown": 60, "activities": 70, "paths_shown": 120, "paths": 140,
        "events_covered": pytest.approx(2430 / 2485), "paths_covered": pytest.approx(2490 / 2555),
        "max_activities": 60, "max_paths": 150}
    # the data stays whole
    assert len(out["map"]["nodes"]) == 70 and len(out["map"]["edges"]) == 69
    assert out["map"]["simplification"] is None
    assert svg_counts(svg) == (60 + 2, 120)  # plus the start and end nodes
    assert "Step 60" in svg.read_text(encoding="utf-8") and "Step 61" not in svg.read_text(encoding="utf-8")


def test_full_draws_everything(chain_store, tmp_path):
    svg = tmp_path / "full.svg"
    result = run("discover", "--store", chain_store, "--out", svg, "--json", "--full")
    assert "map simplified" not in result.stderr
    assert json.loads(result.stdout)["simplified"] is None
    assert svg_counts(svg) == (70 + 2, 140)


def test_sliders_apply_first_then_the_caps(chain_store, tmp_path):
    # --activities 0.5: the 21 most frequent steps cover 1,260 >= 1,242.5 events (20: 1,210);
    # the recomputed map (42 arcs) fits: nothing more is hidden
    small = run("discover", "--store", chain_store, "--activities", "0.5", "--out", tmp_path / "a.svg", "--json")
    assert "map simplified" not in small.stderr and json.loads(small.stdout)["simplified"] is None
    assert svg_counts(tmp_path / "a.svg") == (21 + 2, 42)
    # --activities 0.99: 64 steps (2,464 >= 2,460.15 events; 63: 2,457) still pass the cap.
    # Their map: (start)->01, 63 chain arcs, 63 single end arcs and Step 64->(end) 7 times:
    # 128 arcs, 70 + 2,394 + 70 = 2,534 occurrences; 60 steps and 120 arcs (2,490) shown
    big = run("discover", "--store", chain_store, "--activities", "0.99", "--out", tmp_path / "b.svg", "--json")
    assert "map simplified: 60 of 64 activities, 120 of 128 paths" in big.stderr
    figures = json.loads(big.stdout)["simplified"]
    assert (figures["activities"], figures["paths"]) == (64, 128)
    assert figures["events_covered"] == pytest.approx(2430 / 2485)
    assert figures["paths_covered"] == pytest.approx(2490 / 2534)
    # no --out: nothing drawn, nothing said; --json still tells what a drawing would show
    quiet = run("discover", "--store", chain_store, "--json")
    assert "map simplified" not in quiet.stderr and json.loads(quiet.stdout)["simplified"]["activities_shown"] == 60


def test_a_100_kb_activity_name(tmp_path):
    long = "Escalate to vendor " + "x" * 100_000
    chinese = "等待客户确认" * 5_000
    log = write_log(tmp_path / "long.csv", [(f"L{t}", ["Receive", long, chinese, "接收投诉"]) for t in range(3)])
    store = str(tmp_path / "long.db")
    import_unlimited(log, store)
    svg = tmp_path / "map.svg"
    result = run("discover", "--store", store, "--out", svg)
    assert f"wrote {svg}" in result.stderr
    text = svg.read_text(encoding="utf-8")
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", text)
    # cut to 3 lines of at most 20 columns, the last ending in "…" (CJK characters count 2)
    assert ["Escalate to vendor", "xxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxxxxx…"] == \
        labels[labels.index("Escalate to vendor"):labels.index("Escalate to vendor") + 3]
    assert ["等待客户确认等待客户", "确认等待客户确认等待", "客户确认等待客户确…"] == \
        labels[labels.index("等待客户确认等待客户"):labels.index("等待客户确认等待客户") + 3]
    assert "接收投诉" in labels
    titles = re.findall(r'xlink:title="([^"]*)"', text)
    assert f"{long}: 3 events in 3 tickets" in titles and f"{chinese}: 3 events in 3 tickets" in titles
    # the text tables cut it too; --json keeps it whole
    assert max(len(line) for line in result.stdout.splitlines()) < 400
    nodes = json.loads(run("discover", "--store", store, "--json").stdout)["map"]["nodes"]
    assert long in {n["activity"] for n in nodes}
