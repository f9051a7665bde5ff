"""The import columns of a CSV read as Arrow: times as ISO text, JSON pieces, ticket rows.

:mod:`event_store.io.columnar` reads the file and orders its rows (ticket by ticket,
by business time); the functions here turn those rows into the columns an import
batch needs, with Arrow compute kernels and numpy, no Python object per event:
:func:`step_columns` (activity, times, actor, team, source reference, attribute
JSON) and :func:`ticket_columns` (id, uuid, opening time, case JSON and fields).
The text is what the library's JSON transcoder and ``datetime.isoformat`` write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from event_store.ordering import name_tie_ranks, tied_first
from event_store.records import CASE_FIELDS

_STR = json.encoder.encode_basestring
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'


class Unsupported(Exception):
    """The columnar reader does not cover this file: the object reader reads it."""


def local_us(ts: Any) -> np.ndarray:
    """Microseconds since the epoch of the wall-clock times in each value's own zone."""
    return ts.dt.tz_localize(None).to_numpy().astype("datetime64[us]").view("int64")  # type: ignore[no-any-return]


def utc_us(ts: Any) -> np.ndarray:
    """Microseconds since the epoch (UTC) of a tz-aware pandas Series."""
    values = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    return values.view("int64")


def _iso(utc: np.ndarray, local: np.ndarray, missing: np.ndarray | None) -> Any:
    """``datetime.isoformat()`` of tz-aware times given as UTC and wall-clock microseconds (Arrow strings).

    Seconds, then ``.ffffff`` when the microseconds are not zero, then the UTC
    offset ``+HH:MM``, as Python writes them; None where ``missing``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(utc)
    ok = np.ones(n, dtype=bool) if missing is None else ~missing
    if not ok.any():
        return pa.nulls(n, pa.string())
    check_iso_range(utc, local, missing)
    loc = np.where(ok, local, 0)
    secs = loc // 1_000_000
    offset = np.where(ok, local - utc, 0)
    base = pc.strftime(pa.array(secs, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
    micro = loc - secs * 1_000_000
    pieces = [base]
    if micro.any():
        frac = pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(pa.array(micro), pa.string()), 6, "0"), "")
        pieces.append(pc.if_else(pa.array(micro != 0), frac, pa.scalar("", pa.string())))
    minutes = offset // 60_000_000
    uniq, inv = np.unique(minutes, return_inverse=True)
    texts = [f"{'-' if m < 0 else '+'}{abs(int(m)) // 60:02d}:{abs(int(m)) % 60:02d}" for m in uniq]
    pieces.append(pc.take(pa.array(texts, pa.string()), pa.array(inv.reshape(-1))))
    joined = pc.binary_join_element_wise(*pieces, "")
    if missing is None or not missing.any():
        return joined
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), joined)


def check_iso_range(utc: np.ndarray, local: np.ndarray, missing: np.ndarray | None) -> None:
    """Raise :class:`Unsupported` for times :func:`_iso` does not write (the object reader writes them).

    Years outside 1000-9999, and UTC offsets with seconds (old local mean times).
    """
    ok = np.ones(len(utc), dtype=bool) if missing is None else ~missing
    if not ok.any():
        return
    secs = np.where(ok, local, 0) // 1_000_000
    if secs[ok].min() < -30_610_224_000 or secs[ok].max() > 253_402_300_799:  # years 1000-9999 only
        raise Unsupported
    if (np.where(ok, local - utc, 0) % 60_000_000).any():
        raise Unsupported  # offsets with seconds: rare


def pd_isna(series: Any) -> np.ndarray:
    return series.isna().to_numpy(dtype=bool)  # type: ignore[no-any-return]


def _json_str(arr: Any) -> Any:
    """JSON text of each string (null stays null): quotes added, escaping where a value needs it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pc.any(pc.match_substring_regex(arr, _NEEDS_ESCAPE)).as_py():
        enc = pc.dictionary_encode(arr).combine_chunks() if isinstance(arr, pa.ChunkedArray) else \
            pc.dictionary_encode(arr)
        escaped = pa.array([_STR(v) for v in enc.dictionary.to_pylist()], pa.string())
        return pc.take(escaped, enc.indices)
    return pc.binary_join_element_wise('"', arr, '"', "")


def step_columns(taken: Any, times: dict[str, Any], lines: np.ndarray, owner: np.ndarray, name: str, *,
                  mapping: Any, mode: str, has_lc: bool, attr_cols: Sequence[str]) -> Any:
    """One batch's step columns: values for the read model, JSON pieces for the stored state.

    ``lines``: the line of the file each step's row starts on (its source reference).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = taken.num_rows
    activity = taken.column(mapping.activity)
    attr_pieces = []
    for col in attr_cols:
        attr_pieces.append(pc.binary_join_element_wise(_STR(col) + ":", _json_str(taken.column(col)), ""))
    if has_lc:
        lc = taken.column(mapping.lifecycle)
        if mode == "status":
            activity = pc.if_else(pc.is_null(lc), activity, pc.binary_join_element_wise(activity, lc, "/"))
        elif mode == "ignore":
            keep = pc.fill_null(pc.not_equal(pc.utf8_lower(lc), "complete"), False)
            lc_json = pc.if_else(keep, _json_str(lc), pa.scalar(None, pa.string()))
            attr_pieces.append(pc.binary_join_element_wise(_STR("lifecycle:transition") + ":", lc_json, ""))
    if attr_pieces:
        inner = _join_skip(attr_pieces)
        attrs = pc.if_else(pc.equal(inner, ""), pa.scalar(None, pa.string()),
                           pc.binary_join_element_wise("{", inner, "}", ""))
    else:
        attrs = pa.nulls(n, pa.string())
    refs = pc.binary_join_element_wise(name + ":", pc.cast(pa.array(lines), pa.string()), "")
    if "started_utc" in times:
        missing = times["started_missing"]
        started_us = pa.array(times["started_utc"], mask=missing)
        started_iso = _iso(times["started_utc"], times["started_local"], missing)
    else:
        started_us = pa.nulls(n, pa.int64())
        started_iso = pa.nulls(n, pa.string())
    return pa.table({
        "activity": activity,
        "occurred_us": pa.array(times["occurred_utc"]),
        "occurred_iso": _iso(times["occurred_utc"], times["occurred_local"], None),
        "started_us": started_us,
        "started_iso": started_iso,
        "actor": _optional(taken, mapping.resource, n),
        "team": _optional(taken, mapping.team, n),
        "ref": refs,
        "attrs_json": attrs,
    })


def _optional(table: Any, col: str | None, n: int) -> Any:
    import pyarrow as pa

    if col is None or col not in table.column_names:
        return pa.nulls(n, pa.string())
    return table.column(col)


def _tie_order(activity: Any, owner: np.ndarray, occurred: np.ndarray) -> Any:
    """A function putting a column of the sorted rows into tie order: rows at one time by
    the tie rule (on the activity column, as the object reader ranks them), not the file's
    order, so that whose ticket attributes count does not depend on the row order (see
    :mod:`event_store.ordering`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    acts = pc.dictionary_encode(activity.combine_chunks() if isinstance(activity, pa.ChunkedArray) else activity)
    ranks = name_tie_ranks([str(a) for a in acts.dictionary.to_pylist()])
    perm = tied_first(owner, occurred, ranks[acts.indices.to_numpy(zero_copy_only=False)])
    if np.array_equal(perm, np.arange(len(perm))):  # no ties out of that order: the columns as they are
        return lambda col: col
    tied = pa.array(perm)
    return lambda col: col.take(tied)


def ticket_columns(taken: Any, times: dict[str, Any], lines: np.ndarray, owner: np.ndarray, name: str,
                    mapping: Any, case_cols: dict[str, str]) -> Any:
    """One row per ticket: id, uuid, opening time, case JSON and fields, source ref, step count."""
    import pyarrow as pa
    import pyarrow.compute as pc

    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    counts = np.diff(np.r_[first, len(owner)])
    nt = len(first)
    ids = taken.column(mapping.case).take(pa.array(first)).to_pylist()
    uuids = uuid5_texts(ids)
    in_tie_order = _tie_order(taken.column(mapping.activity), owner, times["occurred_utc"])
    values: dict[str, Any] = {}
    for attr, col in case_cols.items():
        values[attr] = _first_valid(in_tie_order(taken.column(col)), owner, first, nt)
    # As the object reader: no team among the case attributes (or none for this
    # ticket), then the team of the ticket's earliest stored step with one, added last.
    team = _optional(taken, mapping.team, len(owner))
    team = pc.if_else(pc.equal(team, ""), pa.scalar(None, pa.string()), team)
    step_team = _first_valid(team, owner, first, nt)
    if "team" in values:
        step_team = pc.if_else(pc.is_null(values["team"]), step_team, pa.scalar(None, pa.string()))
    pieces = [pc.binary_join_element_wise(_STR(attr) + ":", _json_str(v), "") for attr, v in values.items()]
    extra_pieces = [p for attr, p in zip(values, pieces, strict=True) if attr not in CASE_FIELDS]
    pieces.append(pc.binary_join_element_wise(_STR("team") + ":", _json_str(step_team), ""))
    values["team"] = pc.coalesce(values["team"], step_team) if "team" in values else step_team
    case_json = _object(pieces, nt, empty="{}")
    extra_json = _object(extra_pieces, nt, empty=None)
    occurred_us = times["occurred_utc"][first]
    opened_us = occurred_us
    pick = first
    if "started_utc" in times:
        big = np.iinfo(np.int64).max
        s_vals = np.where(times["started_missing"], big, times["started_utc"])
        # the earliest start of each ticket (the first such step on a tie), against the first step's time
        key = np.lexsort((np.arange(len(s_vals)), s_vals, owner))
        earliest = key[first]
        s_min = s_vals[earliest]
        use = s_min < occurred_us
        opened_us = np.where(use, s_min, occurred_us)
        opened_iso = pc.if_else(pa.array(use), _iso(times["started_utc"][earliest], times["started_local"][earliest],
                                                    ~use),
                                _iso(occurred_us, times["occurred_local"][first], None))
    else:
        opened_iso = _iso(occurred_us, times["occurred_local"][pick], None)
    fields = {f"f_{k}": values[k] if k in values else pa.nulls(nt, pa.string()) for k in CASE_FIELDS}
    return pa.table({
        "ticket": pa.array(ids, pa.string()),
        "uuid": pa.array(uuids, pa.string()),
        "opened_us": pa.array(opened_us),
        "opened_iso": opened_iso,
        "case_json": case_json,
        "extra_json": extra_json,
        "ref": pc.binary_join_element_wise(name + ":", pc.cast(pa.array(lines[first]), pa.string()), ""),
        "count": pa.array(counts),
        **fields,
    })


def uuid5_texts(names: Sequence[str]) -> list[str]:
    """``str(event_store.domain.ticket_id(name))`` of each name, without a UUID object per name."""
    import hashlib
    import uuid

    from event_store.domain import TICKET_NAMESPACE

    prefix = uuid.NAMESPACE_URL.bytes + TICKET_NAMESPACE.encode()
    sha1 = hashlib.sha1
    digests = b"".join([sha1(prefix + n.encode()).digest()[:16] for n in names])
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50  # version 5
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hx = raw.tobytes().hex()
    return [f"{hx[i:i + 8]}-{hx[i + 8:i + 12]}-{hx[i + 12:i + 16]}-{hx[i + 16:i + 20]}-{hx[i + 20:i + 32]}"
            for i in range(0, len(hx), 32)]


def _first_valid(col: Any, owner: np.ndarray, first: np.ndarray, nt: int) -> Any:
    """Per ticket, the first non-null value of ``col`` (rows grouped by ticket, in order)."""
    import pyarrow as pa

    valid = ~col.is_null().to_numpy(zero_copy_only=False)
    idx = np.flatnonzero(valid)
    pick = np.full(nt, -1, dtype=np.int64)
    if len(idx):
        grp = owner[idx]
        firsts = np.flatnonzero(np.r_[True, grp[1:] != grp[:-1]])
        pick[grp[firsts]] = idx[firsts]
    mask = pick < 0
    out = col.take(pa.array(np.where(mask, 0, pick)))
    return pc_if_null(out, mask)


def pc_if_null(arr: Any, mask: np.ndarray) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def _join_skip(pieces: list[Any]) -> Any:
    """The non-null pieces of each row joined with commas ("" when all are null).

    (pyarrow's ``null_handling="skip"`` loses rows when a piece is null throughout.)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    pool = pa.default_memory_pool()
    acc = pieces[0]
    for piece in pieces[1:]:
        acc = pc.coalesce(pc.binary_join_element_wise(acc, piece, ","), acc, piece)
        pool.release_unused()  # each step's larger copy: freed pages back, else RSS grows by all of them
    return pc.fill_null(acc, pa.scalar("", pa.string()))


def _object(pieces: list[Any], n: int, *, empty: str | None) -> Any:
    """``{piece,piece,...}`` per row, skipping null pieces; ``empty`` when a row has none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pieces:
        return pa.array([empty] * n, pa.string())
    inner = _join_skip(pieces)
    whole = pc.binary_join_element_wise("{", inner, "}", "")
    return pc.if_else(pc.equal(inner, ""), pa.scalar(empty, pa.string()), whole)
