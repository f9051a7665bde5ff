"""The root group registers its commands on first use: the same commands and help, fewer imports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest

from csmine.cli import LAZY_COMMANDS, CsmineGroup, cli


def _eager_group() -> click.Group:
    """Every command module registered at once, as the root group did before."""
    group = click.Group("csmine")
    for module in dict.fromkeys(m for m, _ in LAZY_COMMANDS.values()):
        importlib.import_module(module).register(group)
    return group


def _listing(group: click.Group, width: int) -> str:
    ctx = click.Context(group, info_name="csmine", terminal_width=width, max_content_width=width)
    formatter = ctx.make_formatter()
    group.format_commands(ctx, formatter)
    return formatter.getvalue()


def test_the_table_names_every_command_with_its_help_summary():
    eager = _eager_group()
    assert sorted(eager.commands) == sorted(LAZY_COMMANDS)
    for name, cmd in eager.commands.items():
        assert LAZY_COMMANDS[name][0] == cmd.callback.__module__ or isinstance(cmd, click.Group), name
        first = " ".join(click.Command(name, help=cmd.help).help.split("\n\n")[0].split())
        assert LAZY_COMMANDS[name][1] == first, f"{name}: update LAZY_COMMANDS in csmine/cli/__init__.py"


@pytest.mark.parametrize("width", [60, 80, 100, 160])
def test_help_lists_the_same_commands_as_registering_them_all(width):
    fresh = CsmineGroup("csmine")
    assert _listing(fresh, width) == _listing(_eager_group(), width)
    assert fresh._commands == {}  # listing imported nothing


def test_a_command_is_found_and_all_are_there_for_the_reference():
    assert cli.get_command(click.Context(cli), "conform").name == "conform"
    assert cli.get_command(click.Context(cli), "no-such") is None
    assert sorted(cli.commands) == sorted(LAZY_COMMANDS)


def test_conform_imports_no_other_command_module():
    code = ("import sys\nfrom csmine.cli import cli\ncli.get_command(None, 'conform')\n"
            "print(sorted(m for m in sys.modules if m.startswith('csmine.cli.') and m not in "
            "('csmine.cli.errors', 'csmine.cli.options', 'csmine.cli.render', 'csmine.cli.conform')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_imports_no_command_module():
    code = ("import sys\nfrom csmine.cli import cli\ncli(['--help'], standalone_mode=False)\n"
            "print(sorted(m for m in sys.modules if m.startswith('csmine.cli.') and m != 'csmine.cli.errors'), "
            "file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "conform" in run.stdout
    assert run.stderr.strip() == "[]"
