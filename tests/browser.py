"""Headless Chromium for the report tests (Debian's `chromium`, installed by bootstrap)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1"]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (scripts/bootstrap.sh --test installs it)")
    return exe


def _run(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="csmine-chromium-") as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def selftest(report: Path) -> dict:
    """Open the report with #selftest and return what its script measured."""
    proc = _run(["--virtual-time-budget=20000", "--run-all-compositor-stages-before-draw",
                 "--dump-dom", report.resolve().as_uri() + "#selftest"])
    match = re.search(r'<pre id="selftest"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    assert match, f"no selftest output; chromium stderr: {proc.stderr[-2000:]}"
    text = html.unescape(match.group(1))
    assert text.strip(), f"selftest did not finish; stderr: {proc.stderr[-2000:]}"
    return json.loads(text)


def screenshot(report: Path, out: Path, *, width: int = 1400, height: int = 2400) -> Path:
    _run([f"--window-size={width},{height}", f"--screenshot={out}", "--virtual-time-budget=5000",
          report.resolve().as_uri()])
    assert out.exists() and out.stat().st_size > 10_000, "no screenshot written"
    return out
