"""What-if: the KPI if one group of tickets behaved like the rest.

The KPI is the outcome's share among the tickets it applies to (the breach share, the
share of slow tickets, ...). Two ways to make the group "behave like the rest":

``durations`` (outcomes on a duration: a time limit, first response, throughput,
handling, waiting before a step)
    The measure is split into the parts each event adds (see below). The same tickets
    are replayed with the group's parts replaced by parts drawn at random from the
    other tickets' parts *of the same step and kind* (waiting before the step, or
    working on it); parts of steps the others never have are kept, and so are the
    customer's waits (the SLA clocks' pauses). The replayed measure is compared with
    the same threshold (the limit, or the percentile as observed).
``rates`` (deviations, reopens, first-contact resolution, "any breach")
    Each ticket of the group is given the others' rate of its own stratum of the
    adjustment attributes (priority x channel): the outcomes the group would have if
    it had the others' rates, its own mix.

Each of ``resamples`` replicates reweights every ticket with a Poisson(1) bootstrap
weight (drawn as the Poisson total of each set of tickets that matters: the same
distribution) and takes one of :data:`REPLAYS` independent draws of the replacement parts
(in turn), so the interval (2.5th-97.5th percentiles of the replicates) holds both the
sampling error and the randomness of the replay. The estimate is the replicates' median.

**Parts of a measure.** The events of a ticket inside the measure's window
``[clock start, stopping event]`` cut it into consecutive parts: for each event, the
*wait* from the previous event's completion (or the clock start) to its start, and the
*work* from its start to its completion (only the time not already covered).
The parts add up exactly to the measure: throughput is all of them from the opening to
the last event; a time-limit or first-response clock is the parts inside its window
except those of a customer wait (from a waiting-role event to the next event's start);
handling is the working time of :func:`csmine.mining.time_split.split_time`; waiting
before a step is its waits. With a business calendar every part is business time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from csmine.explain.features import FeatureSet
    from csmine.explain.measuring import Outcome
    from csmine.performance.preparation import Prepared

__all__ = ["WhatIf", "estimate_what_if", "measure_parts"]

_WAIT, _WORK = 0, 1
#: Independent replays of the group's durations; the bootstrap replicates cycle through them.
REPLAYS = 20


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The KPI if a group behaved like the rest.

    Attributes:
        observed: the outcome's share among the tickets it applies to, as recorded.
        estimate: the share in the replay (median of the replicates).
        ci: 95% interval of the replayed share (2.5th and 97.5th percentiles).
        change: ``estimate - observed`` (negative: fewer tickets with the outcome).
        tickets: ``change`` in tickets (at the recorded number of tickets).
        method: ``durations`` or ``rates`` (see the module docstring).
        resamples: replicates.
        replaced: for ``durations``, the parts of the group's tickets replaced (of all
            their parts); for ``rates``, the group's tickets.
    """

    observed: float
    estimate: float
    ci: tuple[float, float]
    change: float
    tickets: float
    method: str
    resamples: int
    replaced: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "observed": round(self.observed, 6),
            "estimate": round(self.estimate, 6),
            "ci": [round(self.ci[0], 6), round(self.ci[1], 6)],
            "change": round(self.change, 6),
            "tickets": round(self.tickets, 1),
            "method": self.method,
            "resamples": self.resamples,
            "replaced": self.replaced,
        }

    def words(self, group: str) -> str:
        """``If email tickets behaved like the rest: 9.8% (95% CI 9.1–10.6%) instead of 12.0%``."""
        how = "their step times drawn from the others'" if self.method == "durations" else "at the others' rates"
        fewer = "fewer" if self.tickets < 0 else "more"
        return (f"If {group} behaved like the rest ({how}): {100 * self.estimate:.1f}% (95% CI "
                f"{100 * self.ci[0]:.1f}–{100 * self.ci[1]:.1f}%) instead of {100 * self.observed:.1f}%, "
                f"about {abs(self.tickets):,.0f} {fewer} tickets")


@dataclass(frozen=True)
class Parts:
    """A measure cut into parts (arrays over parts).

    Attributes:
        ticket: ticket code.  key: activity code * 2 + kind (0 wait, 1 work).
        seconds: length.  replaceable: may be replaced (not a customer wait).
        complete: per ticket code, whether its measure is made of these parts (False
            e.g. for an overdue limit, whose clock runs to the end of the log: such a
            ticket keeps its outcome in the replay).
    """

    ticket: np.ndarray
    key: np.ndarray
    seconds: np.ndarray
    replaceable: np.ndarray
    complete: np.ndarray


def measure_parts(outcome: Outcome, prep: Prepared, sop: Any = None, *, calendar: Any = None) -> Parts | None:
    """The parts of the outcome's measure for every ticket it applies to (None: not a duration)."""
    kind = outcome.measure_kind
    if kind == "rate" or outcome.measure is None or outcome.threshold_s is None:
        return None
    if kind == "wait-before":
        return _wait_before_parts(outcome, prep, calendar)
    if kind == "handling":
        return _handling_parts(outcome, prep, sop, calendar)
    if kind == "waiting":
        return _waiting_parts(outcome, prep, calendar)
    return _window_parts(outcome, prep, calendar)


def _wait_before_parts(outcome: Outcome, prep: Prepared, calendar: Any) -> Parts:
    """Waiting before a step: the waits before its events."""
    from csmine.explain.events import step_mask, wait_before

    log = prep.log
    mask = step_mask(prep, outcome.wait_step or "") & outcome.applies[log.case]
    w = wait_before(prep, calendar)
    pos = np.flatnonzero(mask)
    return Parts(log.case[pos], log.act[pos] * 2 + _WAIT, w[pos], np.ones(len(pos), dtype=bool),
                 outcome.applies.copy())


def _handling_parts(outcome: Outcome, prep: Prepared, sop: Any, calendar: Any) -> Parts:
    """Handling: the working time of every event (:func:`csmine.mining.time_split.split_time`)."""
    from csmine.mining.time_split import split_time
    from csmine.performance.preparation import waiting_statuses

    log = prep.log
    split = split_time(log, waiting_statuses(prep, sop), calendar)
    pos = np.flatnonzero(outcome.applies[log.case])
    return Parts(log.case[pos], log.act[pos] * 2 + _WORK, split.work_s[pos], np.ones(len(pos), dtype=bool),
                 outcome.applies.copy())


def _waiting_parts(outcome: Outcome, prep: Prepared, calendar: Any) -> Parts:
    """Waiting: each customer wait, from a waiting-role event to the next event's start."""
    from csmine.explain.events import waiting_role
    from csmine.mining.time_split import seconds_between

    log = prep.log
    pos = np.flatnonzero(waiting_role(prep) & outcome.applies[log.case])
    nxt = np.minimum(pos + 1, log.n - 1)
    arrival = log.arrival()
    end = np.where(log.last[pos], log.ts[pos], arrival[nxt])
    sec = np.clip(seconds_between(arrival[pos], np.maximum(end, arrival[pos]), calendar), 0, None)
    return Parts(log.case[pos], log.act[pos] * 2 + _WAIT, sec, np.ones(len(pos), dtype=bool), outcome.applies.copy())


def _window_parts(outcome: Outcome, prep: Prepared, calendar: Any) -> Parts | None:
    """Throughput and clocks: consecutive parts (the wait before each event, the work on it)
    inside the window ``[clock start, stopping event]``; a clock leaves out the customer's waits."""
    from csmine.explain.events import waiting_role
    from csmine.mining.time_split import seconds_between

    log = prep.log
    pauses = waiting_role(prep)
    if outcome.measure_kind == "throughput":
        t0 = prep.opened
        stop_of = np.full(len(log.cases), -1, dtype=np.int64)
        stop = np.flatnonzero(log.last)
        stop_of[log.case[stop]] = stop
    elif outcome.clock is None:
        return None
    else:
        t0, stop_of = outcome.clock
    complete = outcome.applies & (stop_of >= 0) & np.isfinite(t0)
    # the events inside their ticket's window, then every figure on those events only (at 10M
    # events a dozen whole-log arrays at once were over a gigabyte)
    idx = _inside_window(outcome, log, t0, stop_of)
    first = log.first[idx]
    before = np.maximum(idx - 1, 0)  # the event before (unused for a ticket's first)
    prev_ts = np.where(first, -np.inf, log.ts[before])
    prev_pause = ~first & pauses[before]
    t0_i = t0[log.case[idx]]
    arrival = log.arrival()[idx]
    ts = log.ts[idx]
    begin = np.maximum(prev_ts, t0_i)
    work_from = np.maximum(np.maximum(arrival, prev_ts), t0_i)
    wait_s = np.clip(seconds_between(begin, np.maximum(arrival, begin), calendar), 0, None)
    work_s = np.clip(seconds_between(work_from, np.maximum(ts, work_from), calendar), 0, None)
    ticket = np.concatenate([log.case[idx], log.case[idx]])
    key = np.concatenate([log.act[idx] * 2 + _WAIT, log.act[idx] * 2 + _WORK])
    seconds = np.concatenate([wait_s, work_s])
    is_pause = np.concatenate([prev_pause, pauses[idx]])
    if outcome.measure_kind != "throughput":
        keep = ~is_pause
        return Parts(ticket[keep], key[keep], seconds[keep], np.ones(int(keep.sum()), dtype=bool), complete)
    return Parts(ticket, key, seconds, ~is_pause, complete)


def _inside_window(outcome: Outcome, log: Any, t0: np.ndarray, stop_of: np.ndarray) -> np.ndarray:
    """The events (positions) after their ticket's clock start and up to its stopping event."""
    stop_e = stop_of[log.case]
    inside = outcome.applies[log.case] & (stop_e >= 0) & (np.arange(log.n) <= stop_e)
    del stop_e
    t0e = t0[log.case]
    inside &= np.isfinite(t0e) & (log.ts > t0e)
    return np.flatnonzero(inside)


def _stratum(features: FeatureSet, adjust: tuple[str, ...], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.int64)
    for name in adjust:
        codes = features.strata.get(name)
        if codes is not None:
            out = out * (int(codes.max(initial=0)) + 1) + codes
    return np.unique(out, return_inverse=True)[1].astype(np.int64)


def estimate_what_if(
    outcome: Outcome,
    members: np.ndarray,
    prep: Prepared,
    kpis: pd.DataFrame,
    features: FeatureSet,
    *,
    sop: Any = None,
    calendar: Any = None,
    resamples: int = 200,
    seed: int = 0,
    adjust: tuple[str, ...] = (),
    parts: Parts | None = None,
) -> WhatIf | None:
    """The outcome's share if the tickets in ``members`` behaved like the rest (see the module doc).

    Args:
        outcome: the outcome.
        members: per ticket code, whether it belongs to the group.
        prep: the prepared log.  kpis: its KPI frame.  features: its candidate groups
            (for the strata).
        sop: the SOP (which statuses are waiting, for handling).
        calendar: business calendar of the clocks.
        resamples: replicates (at least 20).
        seed: random seed.
        adjust: attributes of the strata for the ``rates`` method.
        parts: :func:`measure_parts` of the outcome when already cut (the same for every
            group); None: cut here.

    Returns:
        None when the group or the rest is empty.
    """
    applies = outcome.applies
    group = members & applies
    rest = applies & ~members
    if not group.any() or not rest.any():
        return None
    rng = np.random.default_rng(seed)
    resamples = max(int(resamples), 20)
    observed = float(outcome.flag[applies].mean())
    parts = parts if parts is not None else measure_parts(outcome, prep, sop, calendar=calendar)
    if parts is None:
        results = _rate_replicates(outcome, group, rest, features, adjust, rng, resamples, observed)
        replaced, method = int(group.sum()), "rates"
    else:
        results, replaced = _duration_replicates(outcome, group, rest, parts, features.tickets, rng, resamples,
                                                 observed)
        method = "durations"
    estimate = float(np.median(results))
    lo_ci, hi_ci = (float(x) for x in np.percentile(results, [2.5, 97.5]))
    change = estimate - observed
    return WhatIf(observed=observed, estimate=estimate, ci=(lo_ci, hi_ci), change=change,
                  tickets=change * int(applies.sum()), method=method, resamples=resamples, replaced=replaced)


def _rate_replicates(outcome: Outcome, group: np.ndarray, rest: np.ndarray, features: FeatureSet,
                     adjust: tuple[str, ...], rng: np.random.Generator, resamples: int,
                     observed: float) -> np.ndarray:
    """``rates``: each of the group's tickets at the others' rate of its stratum, per replicate.

    Poisson(1) weights per ticket: a set of tickets weighs Poisson(its size), so the
    bootstrap needs only each stratum's counts (exactly the same distribution).
    """
    y = outcome.flag
    stratum = _stratum(features, adjust, features.tickets)
    size = int(stratum.max(initial=0)) + 1
    gi, ri = np.flatnonzero(group), np.flatnonzero(rest)
    rest_pos = np.bincount(stratum[ri], weights=y[ri].astype(float), minlength=size)
    rest_neg = np.bincount(stratum[ri], minlength=size) - rest_pos
    group_n = np.bincount(stratum[gi], minlength=size).astype(float)
    results = np.empty(resamples)
    for r in range(resamples):
        a_pos = rng.poisson(rest_pos)
        a_neg = rng.poisson(rest_neg)
        g = rng.poisson(group_n)
        den = a_pos + a_neg
        overall = a_pos.sum() / den.sum() if den.sum() else 0.0
        rate = np.where(den > 0, a_pos / np.where(den > 0, den, 1), overall)
        total_w = float(den.sum() + g.sum())
        results[r] = (float(a_pos.sum()) + float((g * rate).sum())) / total_w if total_w else observed
    return results


def _duration_replicates(outcome: Outcome, group: np.ndarray, rest: np.ndarray, parts: Parts, n_t: int,
                         rng: np.random.Generator, resamples: int, observed: float) -> tuple[np.ndarray, int]:
    """``durations``: the group's parts drawn from the others' of the same step and kind,
    :data:`REPLAYS` draws cycled through the bootstrap reweightings (both the replay's
    randomness and the sampling error are in the interval, at a fraction of the cost of
    drawing every part for every replicate); and the number of parts replaced."""
    y = outcome.flag
    gi = np.flatnonzero(group)
    swap_t, lo, hi, pool_vals, fixed = _swaps(group, rest, parts, n_t)
    threshold = float(outcome.threshold_s or 0.0)
    overdue = ~parts.complete
    # only the group's tickets are replayed: their measures, on codes local to the group
    local = np.full(n_t, -1, dtype=np.int64)
    local[gi] = np.arange(len(gi))
    swap_g, fixed_g, overdue_g, y_g = local[swap_t], fixed[gi], overdue[gi], y[gi]
    replays = []
    for _ in range(min(REPLAYS, resamples)):
        draw = pool_vals[lo + (rng.random(len(lo)) * (hi - lo)).astype(np.int64)]
        new = fixed_g + np.bincount(swap_g, weights=draw, minlength=len(gi))
        replay = (new >= threshold) if outcome.inclusive else (new > threshold + 1e-9)
        replays.append(np.where(overdue_g | ~np.isfinite(new), y_g, replay).astype(float))
    # Poisson(1) weights per ticket: a set of tickets weighs Poisson(its size), so each
    # replicate needs four draws (the same distribution as weighing every ticket)
    rest_pos = float(y[rest].sum())
    rest_neg = float(rest.sum()) - rest_pos
    group_pos = [float(x.sum()) for x in replays]
    n_group = float(len(gi))
    results = np.empty(resamples)
    for r in range(resamples):
        k = r % len(replays)
        a_pos, a_neg = rng.poisson(rest_pos), rng.poisson(rest_neg)
        g_pos, g_neg = rng.poisson(group_pos[k]), rng.poisson(n_group - group_pos[k])
        total_w = a_pos + a_neg + g_pos + g_neg
        results[r] = (a_pos + g_pos) / total_w if total_w else observed
    return results, len(swap_t)


def _swaps(group: np.ndarray, rest: np.ndarray, parts: Parts,
           n_t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The group's replaceable parts that the others have parts of the same key for: their
    tickets and their pools (``lo:hi`` in ``pool_vals``, the others' parts sorted by key), and
    per ticket the seconds of the parts kept."""
    in_rest = rest[parts.ticket] & parts.replaceable
    swap = group[parts.ticket] & parts.replaceable
    pool_idx = np.flatnonzero(in_rest)
    pool_idx = pool_idx[np.argsort(parts.key[pool_idx], kind="stable")]
    pool_keys = parts.key[pool_idx]
    swap_idx = np.flatnonzero(swap)
    keys = parts.key[swap_idx]
    lo = np.searchsorted(pool_keys, keys, side="left")
    hi = np.searchsorted(pool_keys, keys, side="right")
    can = hi > lo
    swap_idx, lo, hi = swap_idx[can], lo[can], hi[can]
    swapped = np.zeros(len(parts.ticket), dtype=bool)
    swapped[swap_idx] = True
    fixed = np.bincount(parts.ticket, weights=np.where(swapped, 0.0, parts.seconds), minlength=n_t)
    return parts.ticket[swap_idx], lo, hi, parts.seconds[pool_idx], fixed
