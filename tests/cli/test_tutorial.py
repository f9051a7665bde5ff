"""docs/tutorial.md runs as written: every `$ csmine ...` line, in order, exits 0."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def tutorial_commands() -> list[str]:
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    return [line[2:].strip() for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def test_tutorial_has_the_journey():
    commands = " ".join(tutorial_commands())
    for needle in ("csmine demo", "csmine import tickets.csv", "csmine sop validate", "csmine conform",
                   "csmine compare", "csmine trace", "csmine verify"):
        assert needle in commands


def test_tutorial_runs_as_written(tmp_path):
    for example in (ROOT / "docs" / "examples").iterdir():
        shutil.copy(example, tmp_path / example.name)
    exe = Path(sys.executable).parent / "csmine"
    env = {**os.environ, "CSMINE_STORE": str(tmp_path / "unused.db")}
    for command in tutorial_commands():
        args = shlex.split(command)
        assert args[0] == "csmine"
        proc = subprocess.run([str(exe), *args[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"`{command}` failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert (tmp_path / "report.html").exists()
    assert (tmp_path / "map.svg").read_text(encoding="utf-8").lstrip().startswith(("<?xml", "<svg"))
    assert (tmp_path / "checkpoint.json").exists()
