"""``csmine sop``: list, show, validate, render and convert SOP models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from csmine.cli.options import echo_json, json_option, out_path

_IMAGE_FORMATS = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": "dot",
    ".gv": "dot",
}


def _console(file: Any = None) -> Any:
    from rich.console import Console

    stream = file or click.get_text_stream("stdout")
    tty = stream.isatty()
    return Console(
        file=stream,
        width=None if tty else 120,
        no_color=not tty,
        color_system="auto" if tty else None,
        highlight=False,
        soft_wrap=False,
    )


@click.group("sop")
def sop_group() -> None:
    """Designed SOP flows: list, show, validate, draw and convert them.

    An SOP is a TOML file (or a BPMN 2.0 file from a modeler) with the flow,
    steps with Chinese labels, roles, time limits, targets, KPI roles and
    aliases. See docs/process-models.md for the format.

    \b
    Example:
        csmine sop list
        csmine sop show complaint
        csmine sop validate my-sop.toml
    """


@sop_group.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List the SOPs shipped with csmine.

    \b
    Example:
        csmine sop list
        csmine sop list --json
    """
    from process_models import list_sops, load_sop

    sops = [load_sop(name) for name in list_sops()]
    if as_json:
        echo_json(
            [
                {
                    "id": s.id,
                    "title": s.title,
                    "title_zh": s.title_zh,
                    "version": s.version,
                    "steps": len(s.steps),
                    "flow_steps": list(s.flow_steps),
                    "fingerprint": s.fingerprint,
                }
                for s in sops
            ]
        )
        return
    from rich.table import Table

    table = Table(title="Shipped SOPs", title_justify="left")
    for col in ("name", "title", "标题", "version", "steps"):
        table.add_column(
            col, justify="right" if col in ("steps", "version") else "left"
        )
    for s in sops:
        table.add_row(s.id, s.title, s.title_zh, s.version, str(len(s.steps)))
    _console().print(table)


@sop_group.command("show")
@click.argument("name")
@json_option
def show_command(name: str, as_json: bool) -> None:
    """Show an SOP: flow, steps, limits, targets, KPI roles and aliases.

    NAME is a shipped SOP (see `csmine sop list`) or a .toml/.bpmn file.

    \b
    Example:
        csmine sop show complaint
        csmine sop show it-incident --json
    """
    from process_models import load_sop

    sop = load_sop(name)
    if as_json:
        data = sop.to_dict()
        data["fingerprint"] = sop.fingerprint
        data["source"] = sop.source
        echo_json(data)
        return
    _print_sop(sop)


def _print_sop(sop: Any) -> None:
    from rich.table import Table

    from process_models.model import flow_to_text, format_duration, targets_to_dict

    con = _console()
    title = f"{sop.title}  {sop.title_zh}".strip()
    con.print(f"{title}  (id {sop.id}, version {sop.version})")
    if sop.description:
        con.print(sop.description)
    con.print()
    con.print(f"Flow: {flow_to_text(sop.flow)}")
    con.print()
    steps = Table(title="Steps", title_justify="left")
    for col in ("step", "中文", "role", "time limit", "KPI roles"):
        steps.add_column(col)
    kpi: dict[str, list[str]] = {}
    for role, names in sop.roles.items():
        for n in names:
            kpi.setdefault(n, []).append(role)
    for s in sop.steps:
        limit = ""
        if s.limit is not None:
            clock = ", business hours" if s.limit.business_hours else ""
            limit = f"{format_duration(s.limit.within)} after {s.limit.since}{clock}"
        name = s.name + (" (off the flow)" if s.off_flow else "")
        steps.add_row(name, s.label_zh, s.role, limit, ", ".join(kpi.get(s.name, [])))
    con.print(steps)
    targets = Table(title="Targets", title_justify="left")
    targets.add_column("target")
    targets.add_column("value", justify="right")
    for key, value in targets_to_dict(sop.targets).items():
        targets.add_row(key, str(value))
    con.print(targets)
    if sop.aliases:
        aliases = Table(title="Aliases", title_justify="left")
        aliases.add_column("source activity")
        aliases.add_column("step")
        for source, step in sop.aliases.items():
            aliases.add_row(source, step)
        con.print(aliases)


@sop_group.command("validate")
@click.argument("file")
@click.option(
    "--no-soundness", is_flag=True, help="Skip the workflow-net soundness check."
)
@json_option
def validate_command(file: str, no_soundness: bool, as_json: bool) -> None:
    """Check an SOP file; exit 4 when it has errors, 0 when clean or only warnings.

    Reports TOML syntax and schema errors with their line, unknown step names in
    the flow, limits, roles and aliases, steps the flow never reaches, bad
    durations, BPMN elements csmine cannot read, and whether the derived
    workflow net is (easy-)sound.

    \b
    Example:
        csmine sop validate my-sop.toml
        csmine sop validate drawn-in-camunda.bpmn --json
    """
    from process_models import ModelFormatError, validate_sop

    issues = validate_sop(file, soundness=not no_soundness)
    errors = [i for i in issues if i.severity == "error"]
    if as_json:
        echo_json(
            {
                "file": file,
                "valid": not errors,
                "errors": len(errors),
                "warnings": len(issues) - len(errors),
                "issues": [
                    {
                        "severity": i.severity,
                        "line": i.line,
                        "step": i.step,
                        "message": i.message,
                    }
                    for i in issues
                ],
            }
        )
    else:
        for issue in issues:
            click.echo(issue.format(file))
        if not errors:
            click.echo(f"{file}: OK" + (f" ({len(issues)} warnings)" if issues else ""))
    if errors:
        raise ModelFormatError(
            f"{file} has {len(errors)} error{'s' if len(errors) != 1 else ''}; fix "
            "them and "
            "run `csmine sop validate` again"
        )


@sop_group.command("render")
@click.argument("name")
@click.option(
    "--out",
    "out",
    required=True,
    type=out_path,
    help="Output file: .svg, .png, .pdf or .dot.",
)
def render_command(name: str, out: str | Path) -> None:
    """Draw an SOP as a flowchart (steps with Chinese labels, roles, time limits).

    NAME is a shipped SOP or a .toml/.bpmn file; the format follows the suffix
    of --out.

    \b
    Example:
        csmine sop render complaint --out complaint.svg
        csmine sop render it-incident --out incident.png
    """
    from process_models import load_sop
    from process_models.render import render_sop, render_sop_image

    out = Path(out)
    fmt = _IMAGE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise click.BadParameter(
            f"cannot tell the format of '{out}' (use .svg, .png, .pdf or .dot)",
            param_hint="--out",
        )
    sop = load_sop(name)
    if fmt == "dot":
        out.write_text(render_sop(sop), encoding="utf-8")
    else:
        out.write_bytes(render_sop_image(sop, fmt))
    click.echo(f"wrote {out}", err=True)


@sop_group.command("convert")
@click.argument("file")
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Choice(["bpmn", "pnml", "toml"]),
    help="Target format.",
)
@click.option(
    "--out",
    "out",
    type=out_path,
    help="Write here instead of to stdout.",
)
def convert_command(file: str, to: str, out: str | None) -> None:
    """Convert an SOP between TOML, BPMN 2.0 (with layout) and PNML.

    FILE is a .toml or .bpmn file or a shipped SOP name. BPMN output opens in
    bpmn.io and Camunda Modeler and reads back to the same SOP; PNML is the
    workflow net (transitions labelled with step names).

    \b
    Example:
        csmine sop convert complaint --to bpmn --out complaint.bpmn
        csmine sop convert drawn.bpmn --to toml --out my-sop.toml
    """
    from process_models import dump_sop, load_sop
    from process_models.bpmn import write_bpmn, write_pnml

    sop = load_sop(file)
    text = {"bpmn": write_bpmn, "pnml": write_pnml, "toml": dump_sop}[to](sop)
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(sop_group)
