"""Min-plus forward passes of the dense search over a prefix tree of variants.

``dist[v] = min(dist[parent] + log move, min_r dist[parent, rows_r] + M_a[r])`` for
every tree node ``v`` (activity ``a``), filled one (depth, label) group or one depth
at a time with numpy, in blocks of at most ``_BLOCK_ELEMENTS``; ``ptr`` keeps the
arg-min row (-1: a log move) when the caller reads moves back from pointers. Used
by :mod:`csmine.conformance.dense`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["forward_by_depth", "forward_by_label"]

#: Elements of one temporary min-plus block.
_BLOCK_ELEMENTS = 2_000_000


def forward_by_label(
    n: int,
    tables: dict[int, Any],
    parent_a: np.ndarray,
    code_a: np.ndarray,
    depth_a: np.ndarray,
    dist: np.ndarray,
    ptr: np.ndarray | None,
    big: Any,
    dtype: Any,
    log_move_cost: int,
) -> None:
    """Fill ``dist`` (and ``ptr``) for the nodes of each (depth, label) group."""
    n_nodes = len(parent_a)
    order = np.lexsort((code_a, depth_a))
    keys = depth_a[order] * (int(code_a.max(initial=0)) + 2) + code_a[order]
    bounds = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [n_nodes]))
    log_cost = dtype(log_move_cost)
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        ids = order[a:b]
        if depth_a[ids[0]] == 0:
            continue
        c = int(code_a[ids[0]])
        prev = dist[parent_a[ids]]
        moved = prev + log_cost
        np.minimum(moved, big, out=moved)
        table = tables.get(c)
        if table is None or len(table[0]) == 0:
            dist[ids] = moved
            continue
        rows, m = table[0], table[1]
        r = len(rows)
        x = prev[:, rows]
        k = len(ids)
        step = max(1, _BLOCK_ELEMENTS // max(1, r * n))
        best = np.empty((k, n), dtype=dtype)
        arg = np.empty((k, n), dtype=np.int64) if ptr is not None else None
        for lo in range(0, k, step):
            hi = min(k, lo + step)
            y = x[lo:hi, :, None] + m[None, :, :]
            y.min(axis=1, out=best[lo:hi])
            if arg is not None:
                y.argmin(axis=1, out=arg[lo:hi])
        if ptr is not None and arg is not None:
            ptr[ids] = np.where(best <= moved, arg, -1)
        np.minimum(best, moved, out=best)
        np.minimum(best, big, out=best)
        dist[ids] = best


def forward_by_depth(
    n: int,
    tables: dict[int, Any],
    used: list[int],
    r_max: int,
    parent_a: np.ndarray,
    code_a: np.ndarray,
    depth_a: np.ndarray,
    dist: np.ndarray,
    ptr: np.ndarray,
    big: Any,
    dtype: Any,
    log_move_cost: int,
) -> None:
    """Fill ``dist`` and ``ptr`` one depth at a time, every label together."""
    r_pad = max(1, r_max)
    slot = {c: i for i, c in enumerate(used)}
    n_slots = len(used) + 1  # the last slot: activities no transition has
    rows_pad = np.zeros((n_slots, r_pad), dtype=np.int64)
    m_pad = np.full((n_slots, r_pad, n), big, dtype=dtype)
    for c, i in slot.items():
        rows, m = tables[c][0], tables[c][1]
        rows_pad[i, : len(rows)] = rows
        m_pad[i, : len(rows)] = m
    slot_of = np.full(int(code_a.max(initial=0)) + 2, n_slots - 1, dtype=np.int64)
    for c, i in slot.items():
        slot_of[c] = i
    node_slot = slot_of[np.where(code_a >= 0, code_a, len(slot_of) - 1)]
    order = np.argsort(depth_a, kind="stable")
    bounds = np.flatnonzero(np.diff(depth_a[order])) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(order)]))
    log_cost = dtype(log_move_cost)
    step = max(1, _BLOCK_ELEMENTS // (r_pad * n))
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        ids = order[a:b]
        if depth_a[ids[0]] == 0:
            continue
        for lo in range(0, len(ids), step):
            part = ids[lo : lo + step]
            prev = dist[parent_a[part]]
            moved = prev + log_cost
            slots = node_slot[part]
            x = np.take_along_axis(prev, rows_pad[slots], axis=1)
            y = x[:, :, None] + m_pad[slots]
            best = y.min(axis=1)
            arg = y.argmin(axis=1)
            ptr[part] = np.where(best <= moved, arg, -1)
            np.minimum(best, moved, out=best)
            np.minimum(best, big, out=best)
            dist[part] = best
