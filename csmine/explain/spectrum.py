"""The performance spectrum of SOP segments (Denisov, van der Aalst, Fahland, BPM 2018).

A *segment* ``a -> b`` is a pair of consecutive events of a ticket. Each passage of a
ticket over it is a line from the moment ``a`` completed (top axis) to the moment work
on ``b`` began (bottom axis: its start, its time when it has none) -- the wait between
the two steps, as ``csmine bottlenecks`` measures it. Drawn for every passage over the
whole period and coloured by an outcome (e.g. the tickets that breach a limit), the
lines show what an averaged map hides: lines that converge (a batch), lines that all end
at the same time of day (a release, e.g. a routing batch or the morning shift taking
the night's queue), stretches where they lengthen (a queue building up) and a slow
drift.

Patterns named, per segment:

``batch``
    at least ``min_batch`` passages whose waits end within ``batch_window`` seconds of
    each other while they began over a span at least ten times as long.
``release``
    a minute of the day (local time of ``tz``) at which at least 5% of the passages end
    (and at least ``min_batch``), five times as many as the mean of the hour before and
    the hour after it.
``queue``
    weekdays (of the wait's beginning) on which the share of passages waiting longer
    than the segment's P80 is at least 1.5 times the share overall (and at least
    ``min_passages`` passages that weekday): the queue builds up on those days.
``drift``
    the median wait of the last quarter of the period against the first quarter: at least
    1.5 times (or at most 1/1.5).
``overtaking``
    the share of passages that end before an earlier-begun passage does (not first in,
    first out: priorities or parallel work).

Segments: the directly-follows pairs whose two activities are SOP steps (every pair
without an SOP), the ``top`` with most total waiting time. Computed on whole columns;
the drawing keeps at most ``max_lines`` passages per segment (an even sample).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from process_models import SOP

    from csmine.explain.outcomes import OutcomeSpec

__all__ = ["PerformanceSpectrum", "SpectrumPattern", "SpectrumSegment", "discover_performance_spectrum"]

_WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


@dataclass(frozen=True, slots=True)
class SpectrumPattern:
    """A pattern seen in a segment's spectrum.

    Attributes:
        kind: ``batch``, ``release``, ``queue``, ``drift`` or ``overtaking``.
        words: the pattern in words.
        share: the share of the segment's passages it concerns (0-1).
        detail: figures behind it (JSON-ready).
    """

    kind: str
    words: str
    share: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpectrumSegment:
    """One segment's passages and patterns.

    Attributes:
        source, target: the two activities.
        passages: passages over the segment.  tickets: tickets with at least one.
        median_s, p90_s, total_s: the wait (seconds).
        outcome_share: share of passages whose ticket has the outcome (None: no outcome).
        begin, end: per drawn passage, epoch seconds of the two ends.
        flag: per drawn passage, whether its ticket has the outcome.
        patterns: what the spectrum shows.
    """

    source: str
    target: str
    passages: int
    tickets: int
    median_s: float
    p90_s: float
    total_s: float
    outcome_share: float | None
    begin: np.ndarray = field(repr=False)
    end: np.ndarray = field(repr=False)
    flag: np.ndarray = field(repr=False)
    patterns: tuple[SpectrumPattern, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "target": self.target, "passages": self.passages, "tickets": self.tickets,
            "median_s": round(self.median_s, 3), "p90_s": round(self.p90_s, 3), "total_s": round(self.total_s, 3),
            "outcome_share": None if self.outcome_share is None else round(self.outcome_share, 6),
            "patterns": [{"kind": p.kind, "words": p.words, "share": round(p.share, 6), "detail": p.detail}
                         for p in self.patterns],
        }


@dataclass(frozen=True)
class PerformanceSpectrum:
    """The spectrum of the busiest segments.

    Attributes:
        segments: the segments, most total waiting first.
        outcome: the outcome colouring the lines (its words), or None.
        start, end: the period drawn (epoch seconds).
        tz: time zone of the times of day.
    """

    segments: tuple[SpectrumSegment, ...]
    outcome: str | None
    start: float
    end: float
    tz: str

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "tz": self.tz,
                "start": pd.Timestamp(self.start, unit="s", tz="UTC").isoformat(),
                "end": pd.Timestamp(self.end, unit="s", tz="UTC").isoformat(),
                "segments": [s.to_dict() for s in self.segments]}


def _hd(seconds: float) -> str:
    from csmine.formatting import human_duration

    return human_duration(seconds)


def _patterns(source: str, target: str, begin: np.ndarray, end: np.ndarray, wait: np.ndarray, tz: str, *,
              min_batch: int, batch_window: float, min_passages: int) -> list[SpectrumPattern]:
    """What one segment's spectrum shows (see the module docstring), in that order."""
    if len(end) < min_passages:
        return []
    seg = f"{source} → {target}"
    found = [_batch(seg, begin, end, tz, min_batch, batch_window), _release(seg, end, tz, min_batch),
             _queue(seg, begin, wait, tz, min_passages), _drift(seg, begin, wait, min_passages),
             _overtaking(seg, begin, end)]
    return [x for x in found if x is not None]


def _batch(seg: str, begin: np.ndarray, end: np.ndarray, tz: str, min_batch: int,
           batch_window: float) -> SpectrumPattern | None:
    """Runs of ends close together that began far apart."""
    n = len(end)
    order = np.argsort(end, kind="stable")
    e, b = end[order], begin[order]
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = np.diff(e) > batch_window
    run = np.cumsum(new_run) - 1
    size = np.bincount(run)
    heads = np.flatnonzero(new_run)
    span_e = np.maximum.reduceat(e, heads) - np.minimum.reduceat(e, heads)
    span_b = np.maximum.reduceat(b, heads) - np.minimum.reduceat(b, heads)
    batch = (size >= min_batch) & (span_b >= 10 * np.maximum(span_e, batch_window))
    if not batch.any():
        return None
    in_batch = int(size[batch].sum())
    biggest = int(np.argmax(np.where(batch, size, 0)))
    at = pd.Timestamp(float(e[np.flatnonzero(run == biggest)[0]]), unit="s", tz="UTC").tz_convert(tz)
    return SpectrumPattern(
        "batch", f"{seg}: {in_batch / n:.0%} of the passages end in {int(batch.sum()):,} batches of "
                 f"{min_batch} or more (the largest, {int(size[biggest])}, at {at:%a %Y-%m-%d %H:%M})",
        in_batch / n, {"batches": int(batch.sum()), "largest": int(size[biggest]), "largest_at": at.isoformat()})


def _release(seg: str, end: np.ndarray, tz: str, min_batch: int) -> SpectrumPattern | None:
    """One minute of the day takes a large share of the ends."""
    local = pd.Series(pd.to_datetime(end, unit="s", utc=True)).dt.tz_convert(tz)
    minute = (local.dt.hour * 60 + local.dt.minute).to_numpy()
    counts = np.bincount(minute, minlength=1440)
    top_minute = int(np.argmax(counts))
    share = counts[top_minute] / len(end)
    around = np.concatenate([counts[np.arange(top_minute - 60, top_minute) % 1440],
                             counts[np.arange(top_minute + 1, top_minute + 61) % 1440]])
    if not (share >= 0.05 and counts[top_minute] >= min_batch and counts[top_minute] >= 5 * around.mean()):
        return None
    return SpectrumPattern(
        "release", f"{seg}: released in a batch at {top_minute // 60:02d}:{top_minute % 60:02d} — "
                   f"{share:.0%} of the passages end at that minute of the day",
        float(share), {"minute_of_day": f"{top_minute // 60:02d}:{top_minute % 60:02d}",
                       "passages": int(counts[top_minute])})


def _queue(seg: str, begin: np.ndarray, wait: np.ndarray, tz: str, min_passages: int) -> SpectrumPattern | None:
    """Queues building up on some weekdays (by the day the wait began): the share of their
    passages that wait longer than the segment's P80 is 1.5 times the share overall."""
    start_local = pd.Series(pd.to_datetime(begin, unit="s", utc=True)).dt.tz_convert(tz)
    weekday = start_local.dt.day_of_week.to_numpy()
    p80 = float(np.percentile(wait, 80))
    long_wait = wait > p80
    overall = float(long_wait.mean())
    if overall <= 0:
        return None
    slow_days = []
    for d in range(7):
        sel = weekday == d
        if sel.sum() >= min_passages and long_wait[sel].mean() >= 1.5 * overall:
            slow_days.append((d, float(long_wait[sel].mean()), int(sel.sum())))
    if not slow_days:
        return None
    names = ", ".join(_WEEKDAYS[d] for d, _, _ in slow_days)
    worst = max(slow_days, key=lambda x: x[1])
    share = sum(k for _, _, k in slow_days) / len(wait)
    return SpectrumPattern(
        "queue", f"{seg}: the queue builds up on {names} ({worst[1]:.0%} of the passages on "
                 f"{_WEEKDAYS[worst[0]]} wait longer than {_hd(p80)}, the P80, vs {overall:.0%} overall)",
        float(share), {"weekdays": [_WEEKDAYS[d][:-1] for d, _, _ in slow_days],
                       "share_over_p80": {(_WEEKDAYS[d][:-1]): round(m, 4) for d, m, _ in slow_days},
                       "overall_share": round(overall, 4), "p80_s": round(p80, 3)})


def _drift(seg: str, begin: np.ndarray, wait: np.ndarray, min_passages: int) -> SpectrumPattern | None:
    """The last quarter of the period against the first."""
    lo, hi = float(begin.min()), float(begin.max())
    if hi <= lo:
        return None
    q = (begin - lo) / (hi - lo)
    first, last = wait[q <= 0.25], wait[q >= 0.75]
    if len(first) < min_passages or len(last) < min_passages:
        return None
    m1, m2 = float(np.median(first)), float(np.median(last))
    if not (m1 > 0 and (m2 / m1 >= 1.5 or m2 / m1 <= 1 / 1.5)):
        return None
    way = "lengthens" if m2 > m1 else "shortens"
    return SpectrumPattern(
        "drift", f"{seg}: the wait {way} over the period (median {_hd(m1)} in the first quarter, "
                 f"{_hd(m2)} in the last)", 1.0, {"first_median_s": round(m1, 3), "last_median_s": round(m2, 3)})


def _overtaking(seg: str, begin: np.ndarray, end: np.ndarray) -> SpectrumPattern | None:
    """Passages that end before an earlier-begun passage does."""
    by_begin = np.argsort(begin, kind="stable")
    e2 = end[by_begin]
    before = np.maximum.accumulate(np.concatenate([[-np.inf], e2[:-1]]))
    overtaken = float((e2 < before).mean())
    if overtaken < 0.1:
        return None
    return SpectrumPattern(
        "overtaking", f"{seg}: {overtaken:.0%} of the passages end before one that began earlier "
                      "(not first in, first out)", overtaken, {})


def discover_performance_spectrum(
    df: pd.DataFrame,
    sop: SOP | None = None,
    *,
    outcome: str | OutcomeSpec | None = None,
    segments: list[tuple[str, str]] | None = None,
    top: int = 4,
    calendar: Any = None,
    closing: Any = None,
    tz: str = "UTC",
    max_lines: int = 2000,
    min_batch: int = 5,
    batch_window: float = 60.0,
    min_passages: int = 20,
) -> PerformanceSpectrum:
    """The performance spectrum of the busiest SOP segments (see the module docstring).

    Args:
        df: event-log frame (events of a ticket in time order).
        sop: the SOP: segments between its steps (aliases mapped); None: every pair.
        outcome: colour the lines by this outcome (:mod:`csmine.explain.outcomes`).
        segments: the ``(source, target)`` activities to show (default: the ``top``
            with most total waiting).
        top: how many segments when ``segments`` is not given.
        calendar: business calendar of the outcome's clocks.
        closing: the open/closed rule (for the outcome).
        tz: time zone of the times of day and weekdays.
        max_lines: passages drawn per segment at most (an even sample).
        min_batch: passages that make a batch.
        batch_window: seconds within which the ends of a batch fall.
        min_passages: passages needed for a weekday, quarter or segment pattern.
    """
    from csmine.performance.preparation import prepare

    prep = prepare(df, sop)
    log = prep.log
    flag_t, label = _outcome_flags(df, prep, sop, outcome, calendar, closing)
    passages = _passages(prep, sop)
    out = []
    for s_name, t_name, sel in passages.chosen(segments, top):
        b, e, w = passages.begin[sel], passages.end[sel], passages.wait[sel]
        tickets = log.case[passages.i[sel]]
        flags = flag_t[tickets] if flag_t is not None else np.zeros(len(sel), dtype=bool)
        pats = _patterns(s_name, t_name, b, e, w, tz, min_batch=min_batch, batch_window=batch_window,
                         min_passages=min_passages)
        draw = np.arange(len(sel)) if len(sel) <= max_lines else np.linspace(0, len(sel) - 1, max_lines).astype(int)
        out.append(SpectrumSegment(
            source=s_name, target=t_name, passages=len(sel), tickets=int(len(np.unique(tickets))),
            median_s=float(np.median(w)), p90_s=float(np.percentile(w, 90)), total_s=float(w.sum()),
            outcome_share=float(flags.mean()) if flag_t is not None else None,
            begin=b[draw], end=e[draw], flag=flags[draw], patterns=tuple(pats)))
    start = float(np.nanmin(log.ts)) if log.n else 0.0
    end = float(np.nanmax(log.ts)) if log.n else 0.0
    return PerformanceSpectrum(tuple(out), label, start, end, tz)


def _outcome_flags(df: pd.DataFrame, prep: Any, sop: SOP | None, outcome: str | OutcomeSpec | None,
                   calendar: Any, closing: Any) -> tuple[np.ndarray | None, str | None]:
    """Per ticket code, whether it has the outcome, and the outcome in words (None, None: no outcome)."""
    if outcome is None:
        return None, None
    from csmine.explain.outcomes import evaluate_outcome, parse_outcome
    from csmine.performance.kpi import analyse_tickets

    spec = parse_outcome(outcome) if isinstance(outcome, str) else outcome
    kpis, limits = analyse_tickets(prep, sop, calendar, closing=closing)
    deviations = None
    if spec.kind == "deviation" and sop is not None:
        from csmine.conformance.deviations import ticket_deviations

        deviations = ticket_deviations(df, sop, closing=closing)
    result = evaluate_outcome(spec, prep, kpis, limits, sop, deviations=deviations, calendar=calendar)
    return result.flag, f"tickets that {result.label}"


@dataclass(frozen=True)
class _Passages:
    """Every passage between two consecutive events whose steps are both SOP steps (all without
    an SOP): event positions ``i`` -> ``j``, the wait's two ends and length, and its segment
    as a code of ``labels`` pairs (``source * len(labels) + target``)."""

    i: np.ndarray
    begin: np.ndarray
    end: np.ndarray
    wait: np.ndarray
    segment: np.ndarray
    labels: list[str]

    def chosen(self, segments: list[tuple[str, str]] | None, top: int) -> list[tuple[str, str, np.ndarray]]:
        """``(source, target, passages)`` of the segments asked for, else of the ``top`` with most
        total waiting (ties: the segment seen first); none without a passage."""
        k = len(self.labels)
        if segments is None:
            keys, first, inverse = np.unique(self.segment, return_index=True, return_inverse=True)
            totals = np.bincount(inverse, weights=self.wait, minlength=len(keys))
            seen = np.argsort(first, kind="stable")  # groupby(sort=False): in order of appearance
            ranked = seen[np.argsort(-totals[seen], kind="stable")]
            codes = [int(keys[r]) for r in ranked[:top]]
        else:
            index = {name: n for n, name in enumerate(self.labels)}
            codes = [index[str(a)] * k + index[str(b)] if str(a) in index and str(b) in index else -1
                     for a, b in segments]
            names = [(str(a), str(b)) for a, b in segments]
        out = []
        for n, code in enumerate(codes):
            s_name, t_name = (self.labels[code // k], self.labels[code % k]) if segments is None else names[n]
            sel = np.flatnonzero(self.segment == code) if code >= 0 else np.zeros(0, dtype=np.int64)
            if len(sel):
                out.append((s_name, t_name, sel))
        return out


def _passages(prep: Any, sop: SOP | None) -> _Passages:
    """The passages of the prepared log (see :class:`_Passages`), on activity codes."""
    from csmine.explain.coding import step_labels

    log = prep.log
    i, j = log.pairs()
    begin_all = log.ts[i]
    end_all = log.arrival()[j]
    if sop is not None:
        label_of, labels = step_labels(prep)
        steps = {s.name for s in sop.steps}
        in_sop = np.asarray([labels[c] in steps for c in label_of], dtype=bool)
        keep = in_sop[log.act[i]] & in_sop[log.act[j]]
    else:
        labels = [str(a) for a in log.activities]
        index: dict[str, int] = {}
        label_of = np.asarray([index.setdefault(x, len(index)) for x in labels], dtype=np.int64)
        labels = list(index)
        keep = np.ones(len(i), dtype=bool)
    i, j = i[keep], j[keep]
    segment = label_of[log.act[i]] * len(labels) + label_of[log.act[j]]
    begin, end = begin_all[keep], end_all[keep]
    return _Passages(i=i, begin=begin, end=end, wait=np.clip(end - begin, 0, None), segment=segment,
                     labels=labels)
