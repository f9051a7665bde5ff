"""Variant batching: an event log's traces as a prefix tree, built column-wise (numpy).

Cases with the same activity sequence end at the same node, so the log's variants
(:func:`trie_variants`) are aligned once each, and align-ETC precision visits each
observed prefix once (:mod:`csmine.conformance.figures`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from csmine.errors import AlignmentError

__all__ = ["LogTrie", "log_trie", "trie_from_codes", "trie_variants"]


@dataclass(frozen=True, slots=True)
class LogTrie:
    """Prefix tree of a log's traces, built column-wise with numpy."""

    cases: pd.Index  # case ids, sorted as pandas' groupby sorts them
    case_node: np.ndarray  # terminal node per case
    case_length: np.ndarray
    parent: np.ndarray  # per node; root is node 0 with parent -1
    code: np.ndarray  # activity code per node (-1 for the root)
    depth: np.ndarray
    continuing: np.ndarray  # per node: cases that have a further event after it
    activities: list[str]  # activity per code


def _factorize(
    df: pd.DataFrame, case_id_key: str, activity_key: str
) -> tuple[np.ndarray, pd.Index, np.ndarray, pd.Index]:
    """(case codes, cases sorted, activity codes, activities), or an AlignmentError."""
    missing = [k for k in (case_id_key, activity_key) if k not in df.columns]
    if missing:
        raise AlignmentError(
            "cannot align the event log: missing column(s) "
            f"{', '.join(map(repr, missing))} "
            "(pass case_id_key= / activity_key=)"
        )
    act_codes, act_values = pd.factorize(df[activity_key])
    if (act_codes < 0).any():
        raise AlignmentError(
            f"cannot align the event log: {(act_codes < 0).sum()} event(s) have no "
            f"activity in column {activity_key!r} (drop or fill them first)"
        )
    case_codes, cases = pd.factorize(df[case_id_key], sort=True)
    if (case_codes < 0).any():
        raise AlignmentError(
            f"cannot align the event log: {(case_codes < 0).sum()} event(s) have no "
            f"case id in column {case_id_key!r}"
        )
    return case_codes, cases, act_codes, act_values


def log_trie(df: pd.DataFrame, case_id_key: str, activity_key: str) -> LogTrie:
    """The prefix tree of ``df``'s cases (events in row order within each case).

    Raises:
        AlignmentError: a column is missing, or an event has no case id or activity.
    """
    case_codes, cases, act_codes, act_values = _factorize(df, case_id_key, activity_key)
    return trie_from_codes(case_codes, cases, act_codes, [str(a) for a in act_values])


def trie_from_codes(case_codes: np.ndarray, cases: Any, act_codes: np.ndarray, activities: list[str]) -> LogTrie:
    """The prefix tree of events given as codes, in row order within each case: ``case_codes``
    index ``cases`` (ids, sorted), ``act_codes`` index ``activities`` (codes 0 and up)."""
    n_acts = max(1, len(activities))
    n_cases = len(cases)
    order = np.argsort(case_codes, kind="stable")
    cc = case_codes[order].astype(np.int64)
    ac = act_codes[order].astype(np.int64)
    lengths = np.bincount(cc, minlength=n_cases)
    starts = np.cumsum(lengths) - lengths
    pos = np.arange(len(cc), dtype=np.int64) - starts[cc]
    by_pos = np.argsort(pos, kind="stable")
    cc, ac = cc[by_pos], ac[by_pos]
    per_pos = np.bincount(pos, minlength=1) if len(pos) else np.zeros(0, dtype=np.int64)
    # one level per position: (parent node, activity) pairs become the level's nodes
    case_node = np.zeros(n_cases, dtype=np.int64)
    parents = [np.array([-1], dtype=np.int64)]
    codes = [np.array([-1], dtype=np.int64)]
    depths = [np.array([0], dtype=np.int64)]
    cont = []
    next_id = 1
    lo = 0
    for j, count in enumerate(per_pos):
        hi = lo + int(count)
        cs = cc[lo:hi]
        prev = case_node[cs]
        if j > 0:
            cont.append(prev)
        keys = prev * n_acts + ac[lo:hi]
        uniq, inv = np.unique(keys, return_inverse=True)
        case_node[cs] = next_id + inv
        parents.append(uniq // n_acts)
        codes.append(uniq % n_acts)
        depths.append(np.full(len(uniq), j + 1, dtype=np.int64))
        next_id += len(uniq)
        lo = hi
    continuing = np.bincount(
        np.concatenate(cont) if cont else np.zeros(0, dtype=np.int64), minlength=next_id
    )
    return LogTrie(
        cases=pd.Index(cases),
        case_node=case_node,
        case_length=lengths,
        parent=np.concatenate(parents),
        code=np.concatenate(codes),
        depth=np.concatenate(depths),
        continuing=continuing,
        activities=activities,
    )


def trie_variants(trie: LogTrie) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Distinct traces: (variant index per case, activity tuple per variant)."""
    nodes, case_variant = np.unique(trie.case_node, return_inverse=True)
    parent = trie.parent.tolist()
    code = trie.code.tolist()
    acts = trie.activities
    variants = []
    for node in nodes.tolist():
        seq = []
        while node > 0:
            seq.append(acts[code[node]])
            node = parent[node]
        seq.reverse()
        variants.append(tuple(seq))
    return case_variant, variants
