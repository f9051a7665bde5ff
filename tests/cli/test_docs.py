"""The CLI reference is generated from --help and must match; every command has help."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_command_has_help_with_a_first_line():
    from csmine.cli import cli

    gen = _generator()
    missing = [" ".join(p) for p, cmd in gen.walk(cli, ["csmine"]) if not (cmd.help or "").strip()]
    assert missing == []


def test_cli_reference_is_current():
    expected = _generator().generate()
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == expected, "docs/cli.md is stale: run `python scripts/gen_cli_docs.py`"


def test_every_command_appears_in_the_reference():
    from csmine.cli import cli

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for path, cmd in _generator().walk(cli, ["csmine"]):
        assert f"## `{' '.join(path)}`" in text
        assert isinstance(cmd, click.Command)
