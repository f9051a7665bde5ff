"""Write docs/cli.md from the commands' --help (the reference never drifts: a test checks it)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def walk(cmd: click.Command, path: list[str]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from walk(cmd.commands[name], [*path, name])


def generate() -> str:
    from csmine.cli import cli

    out = ["# CLI reference", "",
           "Generated from `--help` by `scripts/gen_cli_docs.py`; `tests/cli/test_docs.py` checks it is current.", ""]
    for path, cmd in walk(cli, ["csmine"]):
        ctx = click.Context(cmd, info_name=" ".join(path), terminal_width=100, max_content_width=100,
                            help_option_names=["-h", "--help"])
        out.append(f"## `{' '.join(path)}`")
        out.append("")
        out.append("```text")
        out.append(cmd.get_help(ctx).rstrip())
        out.append("```")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    (ROOT / "docs" / "cli.md").write_text(generate(), encoding="utf-8")
    print("wrote docs/cli.md")
