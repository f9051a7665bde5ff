"""Variants: the distinct activity sequences of a log and the tickets that follow each.

Sequences are grouped with numpy on the encoded log (:func:`variant_ids`), so no
Python work is done per ticket; :func:`discover_variants` ranks them by tickets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from csmine.mining.encoding import ACTIVITY, CASE_ID, START_TS, TIMESTAMP, EncodedLog, encode_log, unique_ints


@dataclass(frozen=True, slots=True)
class Variant:
    """A distinct activity sequence and the tickets that follow it.

    Attributes:
        activities: the sequence.
        tickets: tickets with exactly this sequence.
        share: ``tickets`` over all tickets (0-1).
        cumulative_share: share of tickets covered by this and all more frequent
            variants (0-1); the coverage of the top-k list.
        median_throughput_s: median time from the first event's start (or
            completion) to the last event's completion, seconds.
        example_ticket: one ticket of the variant (the first in the log).
    """

    activities: tuple[str, ...]
    tickets: int
    share: float
    cumulative_share: float
    median_throughput_s: float
    example_ticket: str = ""


def variant_ids(codes: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Variant index per ticket and the code sequence of each variant.

    ``codes[starts[t]:starts[t] + lengths[t]]`` is ticket ``t``'s sequence. Tickets are
    grouped by length; within a length the code rows are made unique with numpy, so
    no Python work is done per ticket (variants are numbered by length, then by rows).
    """
    variant_of = np.empty(len(starts), dtype=np.int64)
    sequences: list[np.ndarray] = []
    for length in unique_ints(lengths):
        members = np.flatnonzero(lengths == length)
        rows = codes[starts[members][:, None] + np.arange(length)[None, :]]
        uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
        variant_of[members] = len(sequences) + inverse.reshape(-1)
        sequences.extend(uniq)
    return variant_of, sequences


def case_variants(log: EncodedLog) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per ticket code its variant code, and the variants' activity tuples.

    Variants are numbered in the order their first ticket appears.
    """
    if log.n == 0:
        return np.array([], dtype=np.int64), []
    starts = np.flatnonzero(log.first)
    lengths = np.diff(np.append(starts, log.n))
    variant_of, sequences = variant_ids(log.act, starts, lengths)
    first_ticket = np.full(len(sequences), len(starts), dtype=np.int64)
    np.minimum.at(first_ticket, variant_of, np.arange(len(starts)))
    by_appearance = np.argsort(first_ticket, kind="stable")
    renumber = np.empty(len(sequences), dtype=np.int64)
    renumber[by_appearance] = np.arange(len(sequences))
    names = np.asarray(log.activities, dtype=object)
    tuples = [tuple(names[sequences[v]].tolist()) for v in by_appearance]
    return renumber[variant_of], tuples


def case_throughput(log: EncodedLog) -> np.ndarray:
    """Per ticket code: last completion minus first start (or completion), seconds."""
    arrival = log.arrival()
    begin = np.minimum.reduceat(np.where(np.isnan(arrival), log.ts, arrival), np.flatnonzero(log.first))
    end = np.maximum.reduceat(log.ts, np.flatnonzero(log.first))
    return np.asarray(end - begin, dtype=float)


def discover_variants(
    df: pd.DataFrame,
    top: int | None = None,
    *,
    case_id_key: str = CASE_ID,
    activity_key: str = ACTIVITY,
    timestamp_key: str = TIMESTAMP,
    start_timestamp_key: str | None = START_TS,
) -> list[Variant]:
    """Variants (distinct activity sequences), most frequent first.

    Args:
        df: event log frame.
        top: keep only the ``top`` most frequent (None: all).

    Returns:
        Variants ordered by tickets (descending), then by sequence; shares are of
        all tickets, so the last ``cumulative_share`` is the top-k coverage.
    """
    if len(df) == 0:
        return []
    log = encode_log(df, case_id_key=case_id_key, activity_key=activity_key,
                     timestamp_key=timestamp_key, start_timestamp_key=start_timestamp_key)
    codes, tuples = case_variants(log)
    thr = case_throughput(log)
    n_var = len(tuples)
    counts = np.bincount(codes, minlength=n_var)
    medians = pd.Series(thr).groupby(codes).median().reindex(range(n_var)).to_numpy(dtype=float)
    firsts = np.full(n_var, len(codes), dtype=np.int64)
    np.minimum.at(firsts, codes, np.arange(len(codes)))
    n_cases = len(codes)
    order = sorted(range(n_var), key=lambda v: (-int(counts[v]), tuples[v]))
    if top is not None:
        order = order[: max(top, 0)]
    out = []
    running = 0
    for v in order:
        running += int(counts[v])
        out.append(Variant(
            activities=tuples[v],
            tickets=int(counts[v]),
            share=int(counts[v]) / n_cases,
            cumulative_share=running / n_cases,
            median_throughput_s=float(medians[v]),
            example_ticket=str(log.cases[int(firsts[v])]),
        ))
    return out
