"""``csmine sop``: list, show, validate, render and convert SOP models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from csmine.cli.options import (
    closing_options,
    drawing_path,
    echo_json,
    filter_options,
    json_option,
    out_path,
    preload_pm4py,
    quiet_option,
    show_progress,
    store_option,
)
from csmine.cli.render import print_text

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
    from csmine.reports.text.sop import render_sop_list

    print_text(render_sop_list(sops))


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
    from csmine.reports.text.sop import render_sop

    print_text(render_sop(sop))


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
    type=drawing_path,
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
    from process_models.render import render_sop

    from csmine.reports.graphviz import dot_to

    dot_to(render_sop(load_sop(name)), out)  # GraphvizError (exit 3) when `dot` is missing
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
        from event_store.io.files import write_text

        write_text(out, text, force=True)
        click.echo(f"wrote {out}", err=True)


@sop_group.command("draft")
@click.option("--out", "out", type=out_path, metavar="FILE",
              help="Write the drafted SOP here (.toml; default: print it).")
@click.option("--name", help="The SOP's id (default: the --out file's stem, else 'draft').")
@click.option("--coverage", default=0.9, show_default=True, type=click.FloatRange(0.0, 1.0, min_open=True),
              help="Share of the closed tickets whose variants the flow covers.")
@click.option("--max-choice", default=5, show_default=True, type=click.IntRange(min=2),
              help="The widest choice drafted; wider ones keep their most frequent branches.")
@click.option("--force", is_flag=True, help="Replace --out if it exists (default: refuse, exit code 73).")
@filter_options
@closing_options
@json_option
@quiet_option
@store_option
def draft_command(out: str | None, name: str | None, coverage: float, max_choice: int, force: bool,
                  log_filter: Any, closing: Any, as_json: bool, quiet: bool, store: str) -> None:
    """Draft an SOP from the recorded tickets: a flow, roles, proposed limits.

    The flow (seq, choice, optional, loop) covers the variants of --coverage of
    the closed tickets; roles come from the teams doing each step, limits are
    proposed from the observed P80 durations and marked as proposals, targets are
    left to fill in. Prints the draft's fitness and precision on the tickets and
    what it left out. Then edit it and run `csmine report --sop FILE`.

    \b
    Example:
        csmine sop draft --out ours.toml
        csmine sop draft --out ours.toml --coverage 0.8 --where channel=phone
        csmine sop draft --name helpdesk --closed-when Closed
    """
    preload_pm4py()
    import dataclasses
    import re

    from event_store.io.files import check_new
    from event_store.io.mapping import remembered_closing

    from csmine.cli.store import open_existing
    from csmine.conformance.deviations import check_conformance
    from csmine.eventlog.loading import load_event_log
    from csmine.eventlog.ordering import order_events
    from csmine.mining.draft import draft_sop

    if out is not None:
        check_new(out, force)
    with open_existing(store) as s:
        df = order_events(load_event_log(s, log_filter), None, log_filter.tie_order)
        states = () if closing.closed_when else remembered_closing(s)
    source = "--closed-when"
    draft_closing = closing
    if states:  # what the import's mapping said closes a ticket
        draft_closing = dataclasses.replace(closing, closed_when="|".join(re.escape(x) for x in states))
        source = "the closed_when of the import's mapping"

    def evaluate(sop: Any) -> tuple[float, float | None]:
        report = check_conformance(order_events(df, sop, log_filter.tie_order), sop, closing=closing)
        return report.log_fitness, report.precision

    if show_progress(quiet):
        click.echo(f"drafting from {df['case:concept:name'].nunique():,} tickets …", err=True)
    draft = draft_sop(df, name=name or (Path(out).stem if out else "draft"), coverage=coverage,
                      closing=draft_closing, evaluate=evaluate, max_choice=max_choice, close_source=source)
    if out is not None:
        from event_store.io.files import write_text

        write_text(out, draft.text, force=force)  # refused above unless --force
    if as_json:
        echo_json(_draft_json(draft, out))
    elif out is None:
        click.echo(draft.text, nl=False)
    if not as_json:
        click.echo(_draft_summary(draft, out), err=out is None)


def _draft_json(draft: Any, out: str | None) -> dict[str, Any]:
    import dataclasses

    from process_models import format_duration

    data = {k: v for k, v in dataclasses.asdict(draft).items() if k not in ("sop",)}
    data["limits"] = [{**lim, "within": format_duration(lim["within"])} for lim in data["limits"]]
    data["file"] = out
    data["id"] = draft.sop.id
    return data


def _draft_summary(d: Any, out: str | None) -> str:
    from process_models.flow import flow_to_text

    pct = (lambda a, b: f"{100 * a / b:.1f}%" if b else "-")  # noqa: E731
    closed = "ending in " + " or ".join(d.close_steps) if d.close_steps else "no closing step found: all count"
    lines = [
        (f"wrote {out}: " if out else "") + f"SOP {d.sop.id!r}, {len(d.sop.steps)} steps, "
        f"{len(d.limits)} proposed limits",
        f"  tickets: {d.tickets:,} ({d.closed_tickets:,} closed: {closed})",
        f"  flow: {flow_to_text(d.sop.flow)}",
        f"  covers: {d.kept_variants:,} of {d.variants:,} variants, {d.kept_tickets:,} of {d.closed_tickets:,} "
        f"closed tickets ({pct(d.kept_tickets, d.closed_tickets)}; --coverage {d.coverage:g})",
        f"  left out: {d.left_out_tickets:,} closed tickets ({pct(d.left_out_tickets, d.closed_tickets)}) in other "
        "variants" + ("; activities " + ", ".join(
            f"{x.activity} ({x.events:,} events, {pct(x.tickets, d.tickets)} of tickets)" for x in d.left_out[:6])
            + (f" and {len(d.left_out) - 6} more" if len(d.left_out) > 6 else "") if d.left_out else ""),
    ]
    if d.fitness is not None:
        lines.append(f"  fitness {d.fitness:.3f}, precision {(d.precision or 0):.3f} on the {d.tickets:,} tickets "
                     "(alignments, as `csmine conform` computes them)")
    target = out or "the file"
    lines.append(f"  next: edit the roles, limits (PROPOSAL) and targets (TO FILL IN) in {target}, then "
                 f"`csmine report --sop {out or 'FILE'}`")
    return "\n".join(lines)


@sop_group.command("diff")
@click.argument("first")
@click.argument("second")
@json_option
def diff_command(first: str, second: str, as_json: bool) -> None:
    """Show what changed from one SOP to another, step by step.

    FIRST and SECOND are shipped SOPs or .toml/.bpmn files: a draft and your
    edit of it, or two versions. Header, flow, steps (place in the flow, label,
    role, limit, KPI roles), targets, roles, aliases and closed_when.

    \b
    Example:
        csmine sop diff complaint complaint-v2
        csmine sop diff draft.toml ours.toml --json
    """
    import dataclasses

    from process_models import load_sop
    from process_models.diff import diff_sops

    diff = diff_sops(load_sop(first), load_sop(second))
    if as_json:
        echo_json({"a": diff.a, "b": diff.b, "identical": diff.identical,
                   "changes": [dataclasses.asdict(c) for c in diff.changes]})
        return
    click.echo(f"{diff.a} → {diff.b}")
    for change in diff.changes:
        click.echo(f"  {change.describe()}")
    n = len(diff.changes)
    click.echo("no differences" if not n else f"{n} change{'s' if n != 1 else ''}")


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(sop_group)
