"""The report opens in a real browser (headless Chromium) from a file: no console error,
no network request, the interactive parts work, and a screenshot is taken."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.browser import chromium, screenshot, selftest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(os.environ.get("CSMINE_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "test-artifacts"))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    chromium()
    from click.testing import CliRunner

    from csmine.cli import cli

    folder = tmp_path_factory.mktemp("report")
    out = folder / "report.html"
    result = CliRunner().invoke(cli, ["demo", "--tickets", "800", "--seed", "7", "--store", str(folder / "demo.db"),
                                      "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_report_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    assert "default-src 'none'" in text                      # CSP forbids every network load
    assert not re.search(r"""(src|href)=["']https?://""", text)  # nothing fetched from a server
    assert "接收投诉" in text and "Receive" in text              # Chinese and English labels
    assert "@font-face" in text                               # CJK glyphs travel with the page


def test_report_in_chromium_has_no_errors_no_network_and_its_controls_work(report):
    result = selftest(report)
    assert result["errors"] == []
    assert result["resources"] == []
    checks = result["checks"]
    assert checks["performance_shown"] is True
    assert checks["nodes_simplified"] < checks["nodes_full"]   # the sliders drop activities
    assert checks["tokens_mid"] > 0                            # tickets on the map mid-period
    assert checks["played_to"] is True                         # play advanced the clock


def test_report_screenshot(report, tmp_path):
    shot = screenshot(report, tmp_path / "report.png")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report.png")
    assert shot.stat().st_size > 50_000
