"""The main job: ``csmine demo`` and ``csmine report``."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from csmine.cli.mine import first_response_option
from csmine.cli.options import (
    EngineChoice,
    closing_options,
    echo_json,
    engine_option,
    engine_source,
    filter_options,
    info,
    json_option,
    out_path,
    preload_pm4py,
    quiet_option,
    show_progress,
    sop_option,
    store_option,
)
from csmine.cli.render import print_text, progress_bar

if TYPE_CHECKING:
    from csmine.reports.report import ReportResult
    from csmine.simulation.demo import DemoRun


def _stages(enabled: bool) -> Any:
    def say(label: str) -> None:
        if enabled:
            click.echo(f"  {label}…", err=True)

    return say


def _parallel() -> bool | None:
    """``CSMINE_PARALLEL=0`` keeps the report in one process; else the report decides."""
    return False if os.environ.get("CSMINE_PARALLEL", "1") == "0" else None


def _font_cache() -> Path:
    """``$XDG_CACHE_HOME/csmine/fonts`` (default ``~/.cache``): font subsets kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "csmine" / "fonts"


def _write_report(store: Any, log_filter: Any, sop_name: str | None, compare: tuple[str, str] | None,
                  out: str, quiet: bool, closing: Any = None, first_response: str | None = None,
                  engine: Any = None) -> ReportResult:
    from process_models import load_sop

    from csmine.reports.report import build_report

    none = sop_name is not None and sop_name.strip().lower() == "none"
    # no --sop: build_report uses a shipped SOP only when it fits the log (findings.sop_choice says why)
    sop = load_sop(sop_name) if sop_name and not none else None
    result = build_report(store, log_filter, sop=sop, compare=compare, progress=_stages(show_progress(quiet)),
                          parallel=_parallel(), auto_sop=not none, closing=closing, first_response=first_response,
                          font_cache=_font_cache(), engine=engine)
    from event_store.io.files import write_text

    write_text(out, result.html, force=True)  # a report is regenerated: replaced, never half-written
    choice = result.findings.sop_choice
    if choice.how != "--sop":
        info(choice.describe(), quiet)
    return result


@contextlib.contextmanager
def _report_store(engine: EngineChoice, store: str) -> Iterator[Any]:
    """The store the ``--parquet`` export was written from, when it is at ``--store`` (its phases
    and demo truth go into the report; the figures come from the export); else what the
    engine reads (None beside an export of another store or none)."""
    from event_store import open_store
    from event_store.io.parquet_export import read_manifest
    from event_store.readmodel.queries import meta_value

    if engine.parquet is not None and "://" not in engine.parquet and "://" not in store and os.path.exists(store):
        manifest = read_manifest(engine.parquet) or {}
        with open_store(store) as s:
            same = manifest.get("store_id") == (meta_value(s, "created_at") or s.location.display)
            yield s if same else None
        return
    with engine_source(engine, store) as s:
        yield s


@click.command("report")
@filter_options
@sop_option("sop_name", default_text="the shipped SOP that fits the log (names its activities, its close and "
            "resolution steps occur), else none; none for no SOP", help="SOP to hold the tickets against")
@click.option("--compare", nargs=2, metavar="A B", help="Two phases to compare (default: baseline pilot if defined).")
@click.option("--out", default="report.html", show_default=True, type=out_path)
@first_response_option
@closing_options
@engine_option
@json_option
@quiet_option
@store_option
def report_cmd(log_filter: Any, sop_name: str | None, compare: tuple[str, str] | None, out: str,
               first_response: str | None, closing: Any, engine: EngineChoice, as_json: bool, quiet: bool,
               store: str) -> None:
    """Write the self-contained HTML report (no network needed to open it).

    KPI tiles against the SOP's targets, the process map with a frequency /
    performance switch and activity / path sliders, the SOP flowchart with
    conformance, ranked bottlenecks, the phase comparison, variants, the backlog,
    ticket traces and an animation of tickets moving over the map. On logs of
    200,000 events or more, conformance and the phase comparison run in a second
    process on another core (CSMINE_PARALLEL=0 turns that off). Without an SOP
    (--sop none, or none fits) the tiles show what needs none, each empty one says
    why; --closed-when counts open tickets apart, --first-response gives the
    first-response rule. With --engine duckdb|spark|postgres (and --parquet
    DIR) the figures are computed in the engine and the findings are the local
    ones, except the Why section, which needs every ticket's events in this
    process; the page also leaves out the SOP's per-step deviation table and
    overlay and the comparison's map (docs/scale.md).

    \b
    Example:
        csmine report --out report.html
        csmine report --sop complaint --compare baseline pilot --channel phone
        csmine report --sop none --closed-when Closed --first-response 'Take in charge ticket'
        csmine report --engine duckdb --parquet lake/
    """
    from csmine.reports.text.report import render_report_written, report_payload

    if engine.local:
        from event_store import open_store

        with open_store(store) as s:
            result = _write_report(s, log_filter, sop_name, compare or None, out, quiet, closing, first_response)
    else:
        with _report_store(engine, store) as s, engine.open(s, log_filter) as e:
            result = _write_report(s, log_filter, sop_name, compare or None, out, quiet, closing, first_response,
                                   engine=e)
    if as_json:
        echo_json(report_payload(result, out))
        return
    print_text(render_report_written(result, out, os.path.getsize(out)))


@click.command("demo")
@click.option("--tickets", default=3000, show_default=True, help="Tickets to simulate.")
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same centre).")
@click.option("--out", default="report.html", show_default=True, type=out_path)
@click.option("--replace", is_flag=True, help="Start the SQLite store afresh if it holds another demo.")
@json_option
@quiet_option
@store_option
def demo_cmd(tickets: int, seed: int, out: str, replace: bool, as_json: bool, quiet: bool, store: str) -> None:
    """Simulate a service centre (baseline, pilot, rollout) and write the report.

    Simulates arrivals with daily and weekly rhythm, channels, categories,
    emotions, priorities, teams and agents with capacity; a 6-week baseline, a
    4-week pilot of the revised SOP in region East, then rollout. Known effects are
    built in and written down as ground truth (shown in the report next to what
    csmine finds).

    \b
    Example:
        csmine demo
        csmine demo --tickets 5000 --seed 11 --store demo.db --out demo.html
    """
    preload_pm4py()  # the SOP net needs pm4py; import it while the store is read
    from csmine.reports.text.report import demo_payload, render_demo
    from csmine.simulation.demo import discard_store

    started = time.perf_counter()
    if replace:
        discard_store(store)
    run, truth_path, result, where = _demo(store, tickets, seed, out, quiet)
    elapsed = time.perf_counter() - started
    if as_json:
        echo_json(demo_payload(run, result, out, seconds=elapsed, store=where, truth_path=str(truth_path)))
        return
    print_text(render_demo(result, out, seconds=elapsed, store=where, truth_path=str(truth_path)))


def _demo(store: str, tickets: int, seed: int, out: str, quiet: bool) -> tuple[DemoRun, Path, ReportResult, str]:
    """Record the demo centre (a progress bar on a terminal), write its ground truth beside
    ``out`` (``.truth.json``) and the report to ``out``."""
    from event_store import open_store

    from csmine.simulation.demo import record_demo

    progress = show_progress(quiet)
    with open_store(store, create=True) as s:
        if progress:
            click.echo(f"csmine demo: simulating {tickets:,} tickets (seed {seed}) into {s.location.display}", err=True)
        with progress_bar("recording events", tickets, progress) as advance:
            run = record_demo(s, tickets=tickets, seed=seed, progress=lambda t, e: advance(t))
        truth_path = Path(out).with_suffix(".truth.json")
        from event_store.io.files import write_text

        write_text(str(truth_path), json.dumps(run.truth, indent=2, ensure_ascii=False), force=True)
        if progress:
            click.echo("writing the report:", err=True)
        return run, truth_path, _write_report(s, None, None, None, out, quiet), s.location.display


def register(cli: click.Group) -> None:
    """Add this module's commands to the root group."""
    cli.add_command(report_cmd)
    cli.add_command(demo_cmd)
