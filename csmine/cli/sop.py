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

    from csmine.reports.text.sop import render_sop_list, sop_list_data

    sops = [load_sop(name) for name in list_sops()]
    if as_json:
        echo_json(sop_list_data(sops))
        return
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

    from csmine.reports.text.sop import render_validation, validation_data

    issues = validate_sop(file, soundness=not no_soundness)
    if as_json:
        echo_json(validation_data(file, issues))
    else:
        print_text(render_validation(file, issues))
    errors = sum(1 for i in issues if i.severity == "error")
    if errors:
        raise ModelFormatError(f"{file} has {errors} error{'s' if errors != 1 else ''}; fix them and run "
                               "`csmine sop validate` again")


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
    from event_store.io.files import check_new, write_text

    from csmine.mining.draft import draft_sop
    from csmine.reports.text.draft import render_draft_summary

    if out is not None:
        check_new(out, force)
    df, draft_closing, source = _draft_input(store, log_filter, closing)
    if show_progress(quiet):
        click.echo(f"drafting from {df['case:concept:name'].nunique():,} tickets …", err=True)
    draft = draft_sop(df, name=name or (Path(out).stem if out else "draft"), coverage=coverage,
                      closing=draft_closing, evaluate=_evaluator(df, closing, log_filter.tie_order),
                      max_choice=max_choice, close_source=source)
    if out is not None:
        write_text(out, draft.text, force=force)  # refused above unless --force
    if as_json:
        echo_json(draft.to_dict(out))
    elif out is None:
        click.echo(draft.text, nl=False)
    if not as_json:
        click.echo(render_draft_summary(draft, out), err=out is None)


def _draft_input(store: str, log_filter: Any, closing: Any) -> tuple[Any, Any, str]:
    """The tickets to draft from (ties in record order), the closing rule the draft uses and where it came from."""
    from event_store.io.mapping import remembered_closing

    from csmine.cli.store import open_existing
    from csmine.eventlog.loading import load_event_log
    from csmine.eventlog.ordering import order_events
    from csmine.mining.draft import closing_for_draft

    with open_existing(store) as s:
        df = order_events(load_event_log(s, log_filter), None, log_filter.tie_order)
        rule, source = closing_for_draft(closing, () if closing.closed_when else remembered_closing(s))
    return df, rule, source


def _evaluator(df: Any, closing: Any, tie_order: str) -> Any:
    """A drafted SOP's alignment fitness and precision on the tickets, as `csmine conform` computes them."""
    from csmine.conformance.deviations import check_conformance
    from csmine.eventlog.ordering import order_events

    def evaluate(sop: Any) -> tuple[float, float | None]:
        report = check_conformance(order_events(df, sop, tie_order), sop, closing=closing)
        return report.log_fitness, report.precision

    return evaluate


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
    from process_models import load_sop
    from process_models.diff import diff_sops

    from csmine.reports.text.sop import render_sop_diff, sop_diff_data

    diff = diff_sops(load_sop(first), load_sop(second))
    if as_json:
        echo_json(sop_diff_data(diff))
        return
    print_text(render_sop_diff(diff))


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(sop_group)
