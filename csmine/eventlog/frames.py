"""The read model's rows as the event-log frame: sorted, typed, free attributes expanded.

Pure conversions, no store access: :mod:`csmine.eventlog.loading` reads the
``event_log`` rows (as an Arrow table, or as SQL rows) and these functions turn them
into the pm4py-ready DataFrame it returns. Attribute texts (JSON from the store's
transcoder) are decoded with the ``decode`` function the caller passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from csmine.eventlog.ordering import activity_ranks

if TYPE_CHECKING:
    import pandas as pd

CASE_ID = "case:concept:name"
ACTIVITY = "concept:name"
TIMESTAMP = "time:timestamp"
START = "start_timestamp"
RESOURCE = "org:resource"
GROUP = "org:group"

#: Decodes one attribute text of the store into its attributes.
Decode = Callable[[bytes], dict[str, Any]]

# Frame column <- event_log column, in the frame's order (GROUP is team, else the ticket's team).
_FRAME_COLUMNS = (
    (CASE_ID, "ticket"), (ACTIVITY, "activity"), (TIMESTAMP, "occurred_at"), (START, "started_at"),
    (RESOURCE, "actor"), (GROUP, None), ("case:opened_at", "opened_at"), ("case:channel", "channel"),
    ("case:category", "category"), ("case:priority", "priority"), ("case:emotion", "emotion"),
    ("case:customer", "customer"), ("case:team", "case_team"), ("case:region", "region"),
    ("@@event_id", "notification_id"), ("@@version", "version"), ("recorded_at", "recorded_at"),
    ("source_ref", "source_ref"),
)
_TIME_COLUMNS = frozenset({"occurred_at", "started_at", "opened_at", "recorded_at"})


def expanded_keys(attributes: Sequence[str] | str | None, free_filters: Mapping[str, Sequence[str]],
                  found: Sequence[Mapping[str, Any]]) -> list[str]:
    """The free attributes that become columns: those filtered on and those asked for
    (``attributes="all"``: every key in ``found``, the decoded attribute sets)."""
    if attributes == "all":
        keys: set[str] = set().union(*found) if found else set()
    else:
        keys = set(free_filters) | (set(attributes) if attributes else set())
    return sorted(keys)


def sort_order(table: Any, tie_order: str | None) -> Any:
    """Row indices sorting ``table`` by (ticket, time, tie rank, version).

    Tickets are ranked once in their dictionary, activities given their tie rank once
    (:mod:`csmine.eventlog.ordering`), then an integer sort.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    tickets = pc.dictionary_encode(table["ticket"].combine_chunks())
    ticket_rank = pc.take(pc.rank(tickets.dictionary, sort_keys="ascending", tiebreaker="first"), tickets.indices)
    acts = pc.dictionary_encode(table["activity"].combine_chunks())
    act_rank = pc.take(pa.array(activity_ranks(acts.dictionary.to_pylist(), None, tie_order)), acts.indices)
    return pc.sort_indices(
        pa.table({"t": ticket_rank, "o": table["occurred_at"], "a": act_rank, "v": table["version"]}),
        sort_keys=[("t", "ascending"), ("o", "ascending"), ("a", "ascending"), ("v", "ascending")],
    )


def table_to_frame(table: Any, order: Any, *, with_attrs: bool) -> tuple[pd.DataFrame, Any, Any]:
    """The frame's columns of an ``event_log`` Arrow table, rows taken in ``order``.

    Returns:
        ``(frame, attrs, positions)``: times ``datetime64[us, UTC]``, text columns pandas'
        default string dtype (object of None when every value is missing); ``attrs`` is the
        table's attribute-text column when ``with_attrs`` (else None), **not** reordered
        (:func:`expand_table_attributes` takes only the rows it needs); ``positions`` the
        table row of each frame row (numpy), None when they are the same.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    utc = pa.timestamp("us", tz="UTC")
    names: list[str] = []
    arrays: list[Any] = []
    for name, source in _FRAME_COLUMNS:
        col = pc.coalesce(table["team"], table["case_team"]) if source is None else table[source]
        if source in _TIME_COLUMNS:
            col = col.cast(utc)
        names.append(name)
        arrays.append(col)
    positions: Any = order.to_numpy(zero_copy_only=False)
    if len(positions) and np.array_equal(positions, np.arange(len(positions))):
        positions = None  # (an import writes tickets whole, so the rows are often in order already)
    else:
        with ThreadPoolExecutor(2) as pool:  # gathering strings is the costly part; arrow releases the GIL
            arrays = list(pool.map(lambda col: col.take(order), arrays))
    # Text columns with no value at all are object columns of None, as pandas infers them.
    empty_text = [name for name, col in zip(names, arrays, strict=True)
                  if pa.types.is_string(col.type) and col.null_count == n]
    frame_table = pa.Table.from_arrays(arrays, names=names)
    df = frame_table.to_pandas(split_blocks=True, self_destruct=True)
    del frame_table, arrays
    for name in empty_text:
        df[name] = pd.Series(np.full(n, None, dtype=object), index=df.index, dtype=object)
    return df, (table["attrs"] if with_attrs else None), positions


def expand_table_attributes(df: pd.DataFrame, attrs_column: Any, attributes: Sequence[str] | str | None,
                            free_filters: Mapping[str, Sequence[str]], decode: Decode,
                            positions: Any = None) -> None:
    """Add the free attributes (:func:`expanded_keys`) of an Arrow attribute-text column to ``df``.

    Row ``i`` of ``df`` has the text at ``positions[i]`` of the column (None: at ``i``).
    Attribute texts repeat a lot: each distinct text is decoded once, then the values
    are spread with the dictionary indices (no per-event Python work). When the keys
    are named (not ``"all"``), only the rows whose text holds one of them as a JSON
    string are gathered and decoded: an export with a value of its own on every event (a
    comment, a row id) makes nearly every text distinct, and the rest cannot hold the keys
    (at 10M events, the whole column reordered and dictionary-encoded took two more copies
    of it, 1.2 GB).
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(attrs_column, pa.ChunkedArray):
        attrs_column = attrs_column.combine_chunks()
    n = len(df)
    if attributes != "all":
        may = _holding_keys(attrs_column, expanded_keys(attributes, free_filters, ()))
        rows = np.flatnonzero(may if positions is None else may[positions])  # frame rows
        source = rows if positions is None else positions[rows]
        attrs_column = attrs_column.take(pa.array(source, pa.int64()))
    else:
        rows = np.arange(n)
        if positions is not None:
            attrs_column = attrs_column.take(pa.array(positions, pa.int64()))
    encoded = pc.dictionary_encode(attrs_column)
    del attrs_column
    texts = encoded.dictionary
    wanted = pc.not_equal(texts, "").to_numpy(zero_copy_only=False)  # "": no attributes
    if attributes != "all":
        wanted &= _holding_keys(texts, expanded_keys(attributes, free_filters, ()))
    chosen = np.flatnonzero(wanted)
    decoded = [decode(t.encode()) for t in texts.take(pa.array(chosen)).to_pylist()]
    index = pc.fill_null(encoded.indices, len(texts)).to_numpy(zero_copy_only=False)
    for key in expanded_keys(attributes, free_filters, decoded):
        values = np.full(len(texts) + 1, None, dtype=object)  # the last slot: no attributes
        values[chosen] = [d.get(key) for d in decoded]
        column = np.full(n, None, dtype=object)
        column[rows] = values[index]
        df[key] = pd.Series(column, index=df.index, dtype=object)


def _holding_keys(texts: Any, keys: Sequence[str]) -> Any:
    """Per attribute text: may it hold one of ``keys``? (It contains the key as a JSON
    string, escaped as Python's JSON encoder writes it with or without ``ensure_ascii``:
    a text without it cannot hold the key; one with it is decoded to be sure.)"""
    import json

    import numpy as np
    import pyarrow.compute as pc

    mask = np.zeros(len(texts), dtype=bool)
    for needle in {json.dumps(k, ensure_ascii=a) for k in keys for a in (True, False)}:
        mask |= pc.fill_null(pc.match_substring(texts, needle), False).to_numpy(zero_copy_only=False)
    return mask


def expand_text_attributes(df: pd.DataFrame, texts: Sequence[str | None], attributes: Sequence[str] | str | None,
                           free_filters: Mapping[str, Sequence[str]], decode: Decode) -> None:
    """Add the free attributes (:func:`expanded_keys`) of one attribute text per row to ``df``."""
    import pandas as pd

    memo: dict[str, dict[str, Any]] = {}

    def attrs_of(text: str | None) -> dict[str, Any]:
        if not text:
            return {}
        found = memo.get(text)
        if found is None:
            found = memo[text] = decode(text.encode())
        return found

    parsed = [attrs_of(a) for a in texts]
    for key in expanded_keys(attributes, free_filters, parsed):
        df[key] = pd.Series([p.get(key) for p in parsed], index=df.index, dtype=object)
