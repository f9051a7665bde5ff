"""Without Graphviz's ``dot`` (or with one too slow), drawing fails one way: exit 3, the fix, no traceback.

The commands run as real processes with a ``PATH`` that holds no ``dot``; the timeout
runs the runner on a ``dot`` that never finishes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from csmine.cli import cli as root
from csmine.errors import GraphvizError
from csmine.reports.graphviz import run_dot

DATA = Path(__file__).resolve().parents[1] / "data" / "kpi"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("no-dot") / "complaint.db")
    result = CliRunner().invoke(root, ["import", str(DATA / "complaint_small.csv"), "--store", path, "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return path


def _without_dot(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CSMINE_DEBUG", "CSMINE_STORE")}
    env["PATH"] = str(empty)
    return subprocess.run([sys.executable, "-m", "csmine", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.mark.parametrize("command", [
    ("discover", "--out", "{tmp}/map.svg", "--store", "{store}"),
    ("sop", "render", "complaint", "--out", "{tmp}/complaint.svg"),
    ("conform", "--sop", "complaint", "--out", "{tmp}/sop.png", "--store", "{store}", "--quiet"),
], ids=["discover", "sop-render", "conform"])
def test_a_missing_dot_is_one_clear_error(store, tmp_path, command):
    result = _without_dot(tmp_path, *[a.format(tmp=tmp_path, store=store) for a in command])
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: cannot draw "), result.stderr
    assert "install Graphviz: apt-get install graphviz" in result.stderr
    assert not list(tmp_path.glob("*.svg")) and not list(tmp_path.glob("*.png"))


def test_the_dot_source_needs_no_graphviz(tmp_path):
    result = _without_dot(tmp_path, "sop", "render", "complaint", "--out", str(tmp_path / "complaint.dot"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "complaint.dot").read_text(encoding="utf-8").startswith("digraph")


def test_a_dot_that_takes_too_long_is_stopped_with_the_fix(tmp_path, monkeypatch):
    slow = tmp_path / "bin" / "dot"
    slow.parent.mkdir()
    slow.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n", encoding="utf-8")
    slow.chmod(0o755)
    monkeypatch.setenv("PATH", str(slow.parent))
    with pytest.raises(GraphvizError, match=r"too big for Graphviz's `dot`: it took over 1 s; use simplification"):
        run_dot("digraph { a -> b }", "svg", timeout=1)
