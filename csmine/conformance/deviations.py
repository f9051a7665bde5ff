"""Conformance of tickets to an SOP: fitness, precision and deviations in plain words.

Every ticket's activity sequence is mapped onto the SOP's steps (step names and the
SOP's aliases) and aligned with the SOP's workflow net by an *optimal alignment*
(:mod:`csmine.conformance.alignments`, the same costs as pm4py's). Alignments are computed once per
*variant* (distinct step sequence) and the results are spread over the tickets with
numpy, so the cost grows with the number of variants, not tickets.

From the alignments come:

* **fitness** — pm4py's alignment-based figures: the log fitness
  ``1 - sum(cost) / sum(len * 10,000 + w)`` (``w``: cost of the cheapest complete run
  of the SOP) and the average trace fitness; the share of *fitting* tickets (trace
  fitness 1.0);
* **precision** — align-ETC (pm4py's ``precision_alignments``): how much of what the
  SOP allows is actually seen in the log;
* **deviations**, read from the alignment moves in the words a process designer or an
  auditor uses:

  ``skipped``
      a step of the SOP that the ticket did not do (a model move on a visible step);
  ``extra``
      an event the SOP does not allow at that point: an activity the SOP does not
      know, a step that is off the SOP's flow, or a step where the flow does not allow
      it (a log move that none of the rules below explains);
  ``out_of_order``
      a step done, but not where the SOP puts it: a log move of step X paired with a
      model move of X elsewhere in the same alignment (counted once, on X);
  ``repeated``
      a step done again where the SOP does not allow a repetition: a log move of a
      step the ticket already did earlier;
  ``wrong_branch``
      in an exclusive choice of the SOP, a step of one branch done where the SOP
      needed another branch: a log move of a step in one branch paired with a model
      move of a step in another branch of the same choice (counted once, on the step
      that was done).

Activities the SOP does not know are never dropped: they stay in the trace (so the
alignment counts them as log moves, lowering fitness), and they are reported with
their event and ticket counts.

**Open tickets.** With ``closing=`` (a :class:`csmine.eventlog.lifecycle.ClosingRule`; the SOP's
``close`` role and ``closed_when`` apply), tickets that are not closed are *open*:
they are aligned by a *prefix alignment* (the cheapest SOP run that explains what
happened so far and may stop anywhere), so the steps still to come are not
deviations. The SOP steps an open ticket can do next are its *pending* steps. Closed
and open tickets get their own figures; alignments run once per distinct (variant,
open or closed) pair. Without ``closing`` every ticket counts as ended (full
alignments, pm4py's figures).

This module holds the public analytics. Next to it: the alignment pass
(:mod:`csmine.conformance.tickets`), the classification of moves
(:mod:`csmine.conformance.classify`), the alignment engines
(:mod:`csmine.conformance.engines`), the per-ticket frames
(:mod:`csmine.conformance.frames`), the report (:mod:`csmine.conformance.summary`)
and the result types (:mod:`csmine.conformance.results`). The SOP flowchart with
the conformance overlay is :func:`csmine.reports.conformance_dot.render_conformance_dot`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmine.conformance.classify import describe
from csmine.conformance.engines import Engine
from csmine.conformance.frames import deviation_frame, ticket_frame
from csmine.conformance.results import (
    AlignedMove,
    ConformanceAnalysis,
    ConformanceReport,
    PendingStep,
    TicketAlignment,
)
from csmine.conformance.summary import build_report, pass_precision, step_labeller
from csmine.conformance.tickets import (
    DeviationRows,
    TicketPass,
    column_values,
    event_ids,
    run_pass,
    spread_deviations,
)
from csmine.errors import ConformanceError

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.eventlog.lifecycle import ClosingRule

__all__ = [
    "align_ticket",
    "analyse_conformance",
    "check_conformance",
    "ticket_alignment",
    "ticket_deviations",
    "ticket_fitness",
]


def analyse_conformance(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    worst: int = 10,
    precision: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    closing: ClosingRule | None = None,
) -> ConformanceAnalysis:
    """Align the tickets with the SOP once and return the report and both frames.

    Args and metrics: see :func:`check_conformance`, :func:`ticket_fitness` and
    :func:`ticket_deviations`.
    """
    run, devs, report = _checked(df, sop, mapping=mapping, worst=worst, precision=precision, engine=engine,
                                 case_id_key=case_id_key, activity_key=activity_key,
                                 timestamp_key=timestamp_key, closing=closing)
    return ConformanceAnalysis(report, ticket_frame(run, devs), deviation_frame(run, devs))


def _checked(df: pd.DataFrame, sop: SOP, *, mapping: bool, worst: int, precision: bool, engine: Engine,
             case_id_key: str, activity_key: str, timestamp_key: str,
             closing: ClosingRule | None) -> tuple[TicketPass, DeviationRows, ConformanceReport]:
    """The alignment pass, its deviations and the report (the frames are made by the caller that needs them)."""
    run = run_pass(
        df, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, closing=closing,
    )
    devs = spread_deviations(run)
    prec: float | None = None
    if precision:
        prec = pass_precision(run, sop, case_id_key=case_id_key, timestamp_key=timestamp_key)
    return run, devs, build_report(sop, run, devs, prec, worst=worst)


def check_conformance(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    worst: int = 10,
    precision: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    closing: ClosingRule | None = None,
) -> ConformanceReport:
    """Check an event log against an SOP with optimal alignments.

    Each ticket's activities are mapped to SOP steps (``sop.map_activity``: step names
    and aliases); activities the SOP does not know keep their name, are aligned as log
    moves (they lower fitness) and are listed in ``unknown_activities``. Alignments are
    exact (optimal, the standard costs: 10,000 per log or visible model move, 1 per
    silent move) and computed once per variant.

    Args:
        df: event-log frame, one row per event, events of a ticket in time order
            (as :func:`csmine.eventlog.loading.load_event_log` returns). Optional columns
            used when present: ``org:group``, ``org:resource``, ``case:team``,
            ``case:channel``, ``case:phase``, ``case:opened_at``, ``@@event_id``.
        sop: the SOP to check against.
        mapping: map source activities with the SOP's aliases (``False``: only
            activities named exactly like a step count as that step).
        worst: how many of the lowest-fitness tickets to list.
        precision: compute align-ETC precision (cheap with the csmine engine).
        engine: ``"auto"`` (csmine's alignment engine), ``"csmine"`` or ``"pm4py"``
            (pm4py's state-equation A*, single process; same costs, slower).
        case_id_key: ticket id column.
        activity_key: activity column.
        timestamp_key: business time column.
        closing: tell open tickets from closed ones with this rule
            (:func:`csmine.eventlog.lifecycle.ticket_status`: the SOP's ``close`` role and
            ``closed_when``, plus the rule's ``closed_when`` regex and stale horizon).
            Open tickets get prefix alignments (their steps still to come are
            pending, not skipped). None: every ticket counts as ended (full
            alignments for all, pm4py's figures). Where the rule knows no closing
            activity, every ticket is closed too, and ``report.closing`` says so.

    Returns:
        A :class:`~csmine.conformance.results.ConformanceReport`.

    Raises:
        ConformanceError: a required column is missing.
        EmptyLogError: the log has no events.
    """
    return _checked(
        df, sop, mapping=mapping, worst=worst, precision=precision, engine=engine,
        case_id_key=case_id_key, activity_key=activity_key, timestamp_key=timestamp_key,
        closing=closing,
    )[2]


def ticket_fitness(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    closing: ClosingRule | None = None,
) -> pd.DataFrame:
    """Per-ticket alignment fitness against an SOP.

    Returns:
        One row per ticket, index ``ticket`` (sorted), columns: ``fitness`` (pm4py's
        trace fitness, 0-1; for an open ticket the prefix fitness), ``cost``
        (optimal alignment cost, int, equal to pm4py's), ``is_fit`` (fitness ==
        1.0), ``events``, ``deviations`` (deviation count), ``variant`` (variant
        number within this log, open and closed tickets apart), ``opened_at``,
        ``week`` (ISO week of opening), ``team``, ``channel``, ``phase`` (ticket
        attributes, None when absent), one count column per deviation kind,
        ``status`` (``closed``/``open``, see ``closing`` in
        :func:`check_conformance`), ``stale`` and ``pending`` (open tickets: the
        steps the SOP expects next, a tuple).
    """
    run = run_pass(
        df, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, closing=closing,
    )
    return ticket_frame(run, spread_deviations(run))


def ticket_deviations(
    df: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    closing: ClosingRule | None = None,
) -> pd.DataFrame:
    """Every deviation of every ticket from the SOP, in words.

    With ``closing`` (see :func:`check_conformance`) open tickets are held against
    the start of an SOP run: the steps they have still to do are not deviations.

    Returns:
        One row per ticket x deviation, sorted by ticket then position, columns:
        ``ticket``; ``step`` (SOP step, or the source activity for activities the SOP
        does not know); ``kind`` (one of :data:`~csmine.conformance.results.KINDS`); ``event_id`` (the deviating
        event's ``@@event_id`` -- the frame's row label when that column is absent --
        or None for a skipped step); ``position`` (the event's position in the
        ticket, or for a skipped step the position of the event that came in its
        place); ``activity`` (source activity, None for skipped); ``time`` (business
        time, None for skipped); ``related`` (for wrong branch: the step the SOP
        expected); ``description`` (in words); ``team``, ``agent`` (who the deviation
        is counted for, see :class:`~csmine.conformance.results.GroupConformance`), ``channel``, ``phase``.
    """
    run = run_pass(
        df, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, closing=closing,
    )
    return deviation_frame(run, spread_deviations(run))


def align_ticket(
    df_one_ticket: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    open_ticket: bool = False,
) -> list[AlignedMove]:
    """The optimal alignment of one ticket with the SOP, move by move.

    Args:
        df_one_ticket: the ticket's events (one ticket only), in time order.
        sop: the SOP.
        mapping: see :func:`check_conformance`.
        engine: see :func:`check_conformance`.
        case_id_key: ticket id column.
        activity_key: activity column.
        timestamp_key: business time column.
        open_ticket: the ticket is still open: a prefix alignment (the steps still
            to come are not model moves; see :func:`ticket_alignment` for them).

    Returns:
        The moves in order, silent moves left out; each event appears once (as a
        sync or log move), each skipped SOP step as a model move.

    Raises:
        ConformanceError: the frame holds more than one ticket, or a column is missing.
        EmptyLogError: the frame is empty.
    """
    return list(ticket_alignment(
        df_one_ticket, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, open_ticket=open_ticket,
    ).moves)


def ticket_alignment(
    df_one_ticket: pd.DataFrame,
    sop: SOP,
    *,
    mapping: bool = True,
    engine: Engine = "auto",
    case_id_key: str = "case:concept:name",
    activity_key: str = "concept:name",
    timestamp_key: str = "time:timestamp",
    open_ticket: bool = False,
) -> TicketAlignment:
    """One ticket's alignment with the SOP: moves, cost, fitness and pending steps.

    A closed ticket (``open_ticket=False``) is held against a whole SOP run, an open
    one against the start of one (a prefix alignment): its fitness is ``1 -
    deviations / events`` (1.0 when what happened so far fits) and ``pending`` lists
    the steps the SOP expects next (see :class:`~csmine.conformance.results.PendingStep`).

    Args: see :func:`align_ticket`.

    Raises:
        ConformanceError: the frame holds more than one ticket, or a column is missing.
        EmptyLogError: the frame is empty.
    """
    if case_id_key in df_one_ticket.columns and df_one_ticket[case_id_key].nunique() > 1:
        raise ConformanceError(
            f"align_ticket takes one ticket, got {df_one_ticket[case_id_key].nunique()} "
            "(select one with df[df['case:concept:name'] == TICKET])"
        )
    run = run_pass(
        df_one_ticket, sop, mapping=mapping, engine=engine, case_id_key=case_id_key,
        activity_key=activity_key, timestamp_key=timestamp_key, all_open=open_ticket,
    )
    labels = step_labeller(sop)
    pending = tuple(PendingStep(step, labels(step), step in run.required[0]) for step in run.pending[0])
    fitness = float(run.fitness[0])
    return TicketAlignment("open" if open_ticket else "closed", _aligned_moves(run, sop, timestamp_key),
                           int(run.cost[0]), fitness, fitness == 1.0, pending)


def _aligned_moves(run: TicketPass, sop: SOP, timestamp_key: str) -> tuple[AlignedMove, ...]:
    """The one ticket's classified moves with their events' ids, times, actors and teams."""
    events = run.events
    every = np.arange(len(events))
    ids = event_ids(events, every)
    acts = run.activities
    times = events[timestamp_key].to_numpy(dtype=object) if timestamp_key in events.columns else None
    actors = column_values(events, "org:resource", every)
    teams = column_values(events, "org:group", every)
    labels = step_labeller(sop)
    status = dict(zip(run.steps, run.status, strict=True))
    out = []
    for it in run.items[0]:
        on_event = it.move != "model"
        p = it.position
        out.append(
            AlignedMove(
                move=it.move,
                step=it.label,
                activity=str(acts[p]) if on_event else None,
                label=labels(it.label),
                position=p,
                event_id=ids[p] if on_event else None,
                time=pd.Timestamp(times[p]) if on_event and times is not None else None,
                actor=actors[p] if on_event else None,
                team=teams[p] if on_event else None,
                deviation=it.deviation,
                description=describe(it, status.get(it.label, "unknown")),
            )
        )
    return tuple(out)

