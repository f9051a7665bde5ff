"""The conformance report: a :class:`~csmine.conformance.results.ConformanceReport` built
from one alignment pass (:mod:`csmine.conformance.tickets`).

Headline figures in pm4py's order of summation, then per step, per team, channel,
phase and agent, the worst tickets, per ISO week of opening, the activities the SOP
does not know, and the closed and open tickets apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from csmine.conformance.engines import alignment_net
from csmine.conformance.frames import iso_weeks
from csmine.conformance.results import (
    KINDS,
    ConformanceReport,
    GroupConformance,
    StatusConformance,
    StepConformance,
    TicketDeviation,
    UnknownActivity,
    WeekConformance,
    WorstTicket,
)
from csmine.conformance.tickets import DeviationRows, TicketPass, event_ids
from csmine.mining.encoding import unique_ints

if TYPE_CHECKING:
    from process_models import SOP

__all__ = ["build_report", "pass_precision", "step_labeller"]


def step_labeller(sop: SOP) -> Callable[[str], str]:
    """Display label of a step (``"English / 中文"``); an unknown activity keeps its name."""
    names = set(sop.step_names)

    def label(step: str) -> str:
        return sop.label(step) if step in names else step

    return label


def pass_precision(run: TicketPass, sop: SOP, *, case_id_key: str, timestamp_key: str) -> float:
    """Align-ETC precision of the pass's step sequences on the SOP (its engine's)."""
    net = alignment_net(sop)
    if run.engine == "csmine":
        from csmine.conformance.figures import trie_precision
        from csmine.conformance.trie import trie_from_codes

        # the pass's own codes: events sorted by ticket, tickets sorted, steps as activities
        trie = trie_from_codes(run.event_ticket, run.tickets, run.step_idx, list(run.steps))
        precision = trie_precision(trie, *net)
        if precision is not None:
            return precision
    frame = pd.DataFrame(
        {
            case_id_key: np.repeat(run.tickets, run.lengths),
            "concept:name": np.asarray(run.steps, dtype=object)[run.step_idx],
        }
    )
    if timestamp_key in run.events.columns:
        frame[timestamp_key] = run.events[timestamp_key].array
    else:
        frame[timestamp_key] = pd.Timestamp("2000-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(frame)), unit="s")
    if run.engine == "csmine":  # a net beyond the compiled size: pm4py's, by precision_alignments
        from csmine.conformance.figures import precision_alignments

        return float(precision_alignments(frame, *net, case_id_key=case_id_key, timestamp_key=timestamp_key))
    import pm4py

    from csmine.conformance.pm4py_engine import as_pm4py

    return float(
        pm4py.precision_alignments(
            frame, *as_pm4py(*net), multi_processing=False, activity_key="concept:name",
            case_id_key=case_id_key, timestamp_key=timestamp_key,
        )
    )


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and the distinct values (as str), missing values as ``(none)``."""
    codes, uniq = pd.factorize(values)
    names = np.asarray([str(u) for u in uniq], dtype=object)
    missing = codes < 0
    if missing.any():
        codes = codes.copy()
        codes[missing] = len(names)
        names = np.append(names, "(none)")
    return codes.astype(np.int64), names


def _groups(
    values: np.ndarray, tidx: np.ndarray, dev_values: np.ndarray, dev_kind: np.ndarray,
    fitness: np.ndarray, is_fit: np.ndarray,
) -> tuple[GroupConformance, ...]:
    """Per value: its tickets' fitness and the deviations counted for it.

    ``values``/``tidx`` are distinct (value, ticket) pairs; missing values read ``(none)``.
    """
    if len(values) == 0:
        return ()
    codes, uniq = _codes(values)
    g, nk = len(uniq), len(KINDS)
    tickets = np.bincount(codes, minlength=g)
    fitting = np.bincount(codes, weights=is_fit[tidx].astype(np.float64), minlength=g) / tickets
    average = np.bincount(codes, weights=fitness[tidx], minlength=g) / tickets
    dev_values = np.asarray([("(none)" if v is None else str(v)) for v in dev_values], dtype=object)
    dcode = pd.Index(uniq).get_indexer(dev_values) if len(dev_values) else np.zeros(0, dtype=np.int64)
    ok = dcode >= 0
    counts = np.bincount(dcode[ok] * nk + dev_kind[ok], minlength=g * nk).reshape(g, nk)
    total = counts.sum(axis=1)
    rows = [
        GroupConformance(
            value=str(uniq[i]), tickets=int(tickets[i]), fitting_share=float(fitting[i]),
            average_fitness=float(average[i]), deviations=int(total[i]),
            deviations_per_ticket=float(total[i]) / float(tickets[i]),
            skipped=int(counts[i, 0]), extra=int(counts[i, 1]), out_of_order=int(counts[i, 2]),
            repeated=int(counts[i, 3]), wrong_branch=int(counts[i, 4]),
        )
        for i in range(g)
    ]
    rows.sort(key=lambda r: (-r.deviations, -r.tickets, r.value))
    return tuple(rows)


def _event_pairs(run: TicketPass, column: str, fallback: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (value of an event column, ticket) pairs; a missing value takes ``fallback``."""
    events = run.events
    if column in events.columns:
        codes, uniq = _column_codes(run, column, fallback)
    elif fallback is not None and any(v is not None for v in run.attrs[fallback]):
        codes, uniq = _codes(run.attrs[fallback][run.event_ticket])
    else:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64)
    n = len(run.tickets)
    keys = unique_ints(codes * n + run.event_ticket)
    return uniq[keys // n], keys % n


def _column_codes(run: TicketPass, column: str, fallback: str | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_codes` of an event column whose missing values take the ticket's ``fallback``
    attribute: factorized as a column (no Python object per event), the fallback's values
    merged in by value."""
    codes, uniq = pd.factorize(run.events[column])
    values = np.asarray(uniq, dtype=object)
    missing = codes < 0
    if fallback is not None and missing.any():
        # the fallback's values for the missing events, as codes after the column's own values
        f_codes, f_uniq = pd.factorize(run.attrs[fallback][run.event_ticket[missing]])
        merged, merged_uniq = pd.factorize(np.concatenate([values, np.asarray(f_uniq, dtype=object)]))
        codes = np.where(missing, -1, merged[np.maximum(codes, 0)]) if len(values) else np.full(len(codes), -1)
        filled = (np.where(f_codes >= 0, merged[len(values) + np.maximum(f_codes, 0)], -1) if len(f_uniq)
                  else np.full(len(f_codes), -1))
        codes[missing] = filled
        values = np.asarray(merged_uniq, dtype=object)
    names = np.asarray([str(u) for u in values], dtype=object)
    if (codes < 0).any():
        codes = np.where(codes < 0, len(names), codes)
        names = np.append(names, "(none)")
    return codes.astype(np.int64), names


class _Figures(NamedTuple):
    """Per ticket: trace fitness, alignment cost, fitting."""

    fitness: np.ndarray
    cost: np.ndarray
    is_fit: np.ndarray


def build_report(
    sop: SOP, run: TicketPass, devs: DeviationRows, precision: float | None, *, worst: int
) -> ConformanceReport:
    """The report of one pass (``worst``: how many of the lowest-fitness tickets to list)."""
    n, nk = len(run.tickets), len(KINDS)
    fitness = run.fitness[run.variant_of]
    figures = _Figures(fitness, run.cost[run.variant_of], fitness == 1.0)
    is_fit = figures.is_fit
    sum_bwc = int(run.ticket_bwc.sum())
    # sequential summation in ticket order, as pm4py accumulates
    average = float(np.cumsum(fitness)[-1]) / n
    log_fitness = 1.0 - (float(figures.cost.sum()) / float(sum_bwc) if sum_bwc > 0 else 0.0)
    s_count = len(run.steps)
    events_per_step = np.bincount(run.step_idx, minlength=s_count)
    pairs = unique_ints(run.event_ticket * s_count + run.step_idx)
    tickets_per_step = np.bincount(pairs % s_count, minlength=s_count)
    by = _breakdowns(run, devs, figures)
    unknown_mask = ~run.known
    kind_totals = np.bincount(devs.kind, minlength=nk)
    return ConformanceReport(
        sop=sop.id, sop_title=sop.title, sop_version=sop.version,
        tickets=n, events=len(run.events), variants=len(run.variants),
        log_fitness=log_fitness, average_fitness=average, fitting_tickets=int(is_fit.sum()),
        fitting_share=float(is_fit.sum()) / n, precision=precision,
        deviations=len(devs.tidx), deviating_tickets=len(unique_ints(devs.tidx)),
        kinds={k: int(kind_totals[i]) for i, k in enumerate(KINDS)},
        steps=_step_rows(sop, run, devs, events_per_step, tickets_per_step),
        by_team=by["team"], by_channel=by["channel"], by_phase=by["phase"], by_agent=by["agent"],
        worst=_worst_tickets(run, devs, figures, worst), weeks=_week_rows(run, devs, figures),
        unknown_activities=_unknown_rows(run, events_per_step, tickets_per_step),
        unknown_events=int(unknown_mask.sum()),
        unknown_tickets=len(unique_ints(run.event_ticket[unknown_mask])),
        engine=run.engine, closing=dict(run.closing),
        closed=_status_group(run, devs, ~run.ticket_open, "closed"),
        open=_status_group(run, devs, run.ticket_open, "open"),
    )


def _pending_per_step(run: TicketPass) -> np.ndarray:
    """Per step: open tickets for which the SOP expects it next."""
    pending = np.zeros(len(run.steps), dtype=np.int64)
    if run.ticket_open.any():
        per_variant = np.bincount(run.variant_of, minlength=len(run.variants))
        index = {name: i for i, name in enumerate(run.steps)}
        for v in np.flatnonzero(run.variant_open).tolist():
            for step in run.pending[v]:
                if step in index:
                    pending[index[step]] += per_variant[v]
    return pending


def _step_rows(
    sop: SOP, run: TicketPass, devs: DeviationRows, events_per_step: np.ndarray,
    tickets_per_step: np.ndarray,
) -> tuple[StepConformance, ...]:
    n, s_count, nk = len(run.tickets), len(run.steps), len(KINDS)
    kinds = np.bincount(devs.step * nk + devs.kind, minlength=s_count * nk).reshape(s_count, nk)

    def tickets_with(mask: np.ndarray) -> np.ndarray:
        keys = unique_ints(devs.tidx[mask] * s_count + devs.step[mask])
        return np.bincount(keys % s_count, minlength=s_count)

    anything = tickets_with(np.ones(len(devs.tidx), dtype=bool))
    skipped = tickets_with(devs.kind == 0)
    violated = tickets_with(devs.kind != 0)
    pending = _pending_per_step(run)
    labels = step_labeller(sop)
    return tuple(
        StepConformance(
            step=run.steps[i], label=labels(run.steps[i]), status=run.status[i],
            events=int(events_per_step[i]), tickets=int(tickets_per_step[i]),
            skipped=int(kinds[i, 0]), extra=int(kinds[i, 1]), out_of_order=int(kinds[i, 2]),
            repeated=int(kinds[i, 3]), wrong_branch=int(kinds[i, 4]),
            deviations=int(kinds[i].sum()), deviating_tickets=int(anything[i]),
            skipped_share=float(skipped[i]) / n, violated_share=float(violated[i]) / n,
            deviating_share=float(anything[i]) / n, pending=int(pending[i]),
        )
        for i in range(s_count)
    )


def _breakdowns(
    run: TicketPass, devs: DeviationRows, figures: _Figures
) -> dict[str, tuple[GroupConformance, ...]]:
    """Per team and agent (of the deviating event), per channel and phase (of the ticket)."""
    by: dict[str, tuple[GroupConformance, ...]] = {}
    for name, column, fallback, dev_values in (
        ("team", "org:group", "team", devs.team),
        ("agent", "org:resource", None, devs.agent),
    ):
        values, tidx = _event_pairs(run, column, fallback)
        by[name] = _groups(values, tidx, dev_values, devs.kind, figures.fitness, figures.is_fit)
    for name in ("channel", "phase"):
        values = run.attrs[name]
        by[name] = (
            _groups(values, np.arange(len(run.tickets)), values[devs.tidx], devs.kind,
                    figures.fitness, figures.is_fit)
            if any(v is not None for v in values) else ()
        )
    return by


def _worst_tickets(
    run: TicketPass, devs: DeviationRows, figures: _Figures, worst: int
) -> tuple[WorstTicket, ...]:
    """Lowest fitness, then highest cost, then ticket id (tickets are sorted)."""
    fitness, cost = figures.fitness, figures.cost
    ranked = np.lexsort((np.arange(len(run.tickets)), -cost, fitness))
    ranked = ranked[~figures.is_fit[ranked]][: max(worst, 0)]
    dev_first = np.searchsorted(devs.tidx, ranked, side="left")
    dev_last = np.searchsorted(devs.tidx, ranked, side="right")
    rows = []
    for t, lo, hi in zip(ranked.tolist(), dev_first.tolist(), dev_last.tolist(), strict=True):
        found = []
        for j in range(lo, hi):
            eid = None
            if devs.on_event[j]:
                eid = int(event_ids(run.events, devs.row[j : j + 1])[0])
            found.append(TicketDeviation(run.steps[devs.step[j]], KINDS[devs.kind[j]], eid,
                                         str(devs.description[j])))
        is_open = bool(run.ticket_open[t])
        rows.append(WorstTicket(str(run.tickets[t]), float(fitness[t]), int(cost[t]),
                                int(run.lengths[t]), tuple(found), "open" if is_open else "closed",
                                run.pending[run.variant_of[t]] if is_open else ()))
    return tuple(rows)


def _week_rows(
    run: TicketPass, devs: DeviationRows, figures: _Figures
) -> tuple[WeekConformance, ...]:
    """Per ISO week of opening, in time order (tickets without an opening time left out)."""
    week, monday = iso_weeks(run.opened)
    valid = np.flatnonzero(week != None)  # noqa: E711 - elementwise on an object array
    if not len(valid):
        return ()
    codes, uniq = np.unique(week[valid].astype(str), return_inverse=True)
    g = len(codes)
    per_ticket_dev = np.bincount(devs.tidx, minlength=len(run.tickets))

    def per_week(values: np.ndarray) -> np.ndarray:
        return np.bincount(uniq, weights=values[valid].astype(np.float64), minlength=g)

    count = np.bincount(uniq, minlength=g)
    fit_sum, fitting = per_week(figures.fitness), per_week(figures.is_fit)
    cost_sum, bwc_sum = per_week(figures.cost), per_week(run.ticket_bwc)
    dev_sum, open_sum = per_week(per_ticket_dev), per_week(run.ticket_open)
    first_monday: dict[str, str] = {}
    for label, m in zip(week[valid].tolist(), monday[valid].tolist(), strict=True):
        first_monday.setdefault(label, m)
    return tuple(
        WeekConformance(
            label, first_monday[label], int(count[i]), int(fitting[i]), float(fitting[i]) / int(count[i]),
            float(fit_sum[i]) / int(count[i]),
            1.0 - float(cost_sum[i]) / float(bwc_sum[i]) if bwc_sum[i] > 0 else 0.0, int(dev_sum[i]),
            int(open_sum[i]),
        )
        for i, label in enumerate(codes.tolist())
    )


def _unknown_rows(
    run: TicketPass, events_per_step: np.ndarray, tickets_per_step: np.ndarray
) -> tuple[UnknownActivity, ...]:
    """The activities the SOP does not know (most events first, as ``run.steps`` has them)."""
    ev_ticket = run.event_ticket
    unknown = []
    for i in range(len(run.steps)):
        if run.status[i] != "unknown":
            continue
        examples = run.tickets[unique_ints(ev_ticket[run.step_idx == i])[:5]]
        unknown.append(UnknownActivity(run.steps[i], int(events_per_step[i]), int(tickets_per_step[i]),
                                       tuple(str(x) for x in examples)))
    return tuple(unknown)


def _status_group(run: TicketPass, devs: DeviationRows, mask: np.ndarray, status: str) -> StatusConformance:
    """Fitness and deviations of the tickets in ``mask`` (the closed or the open ones)."""
    members = np.flatnonzero(mask)
    m = len(members)
    fitness = run.fitness[run.variant_of[members]]
    cost = run.cost[run.variant_of[members]]
    bwc = int(run.ticket_bwc[members].sum())
    in_group = mask[devs.tidx]
    kinds = np.bincount(devs.kind[in_group], minlength=len(KINDS))
    fitting = int((fitness == 1.0).sum())
    return StatusConformance(
        status=status, alignment="prefix" if status == "open" else "full", tickets=m,
        stale=int(run.ticket_stale[members].sum()), events=int(run.lengths[members].sum()),
        log_fitness=(1.0 - (float(cost.sum()) / float(bwc) if bwc > 0 else 0.0)) if m else None,
        average_fitness=float(np.cumsum(fitness)[-1]) / m if m else None,
        fitting_tickets=fitting, fitting_share=fitting / m if m else None,
        deviations=int(in_group.sum()), deviating_tickets=len(unique_ints(devs.tidx[in_group])),
        kinds={k: int(kinds[i]) for i, k in enumerate(KINDS)},
    )
