"""The columnar copy of the read model (``event_log_columns``) gives the same frame as SQL.

``load_event_log`` reads Arrow chunks of ``event_log`` kept in the store; the private
``_load_rows_sql`` reads the rows with one query as before. On both backends, with a
chunk size of 7 rows so several chunks exist, the two frames are equal after an
import, after more imports (rows in the tail), after a correction and a retraction
(the ticket's chunks are invalidated and rebuilt) and after a projection rebuild.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from event_store import open_store
from event_store.readmodel.projection import COLUMNS_TABLE
from event_store.records import ActivityRow, TicketHistory

from event_store.readmodel import chunks as columnar
from csmine.eventlog.filters import LogFilter
from csmine.eventlog.loading import _load_rows_sql, load_event_log

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _history(i: int) -> TicketHistory:
    """Ticket ``CS-00i``: three steps; some with a step team, a start time, a score."""
    day = T0 + timedelta(days=i)
    steps = (
        ActivityRow("Receive", day + timedelta(minutes=1), actor=f"a{i % 3}", source_ref=f"src:{i}"),
        ActivityRow("Handle", day + timedelta(hours=1), actor=f"a{(i + 1) % 3}", team="B" if i % 2 else None,
                    started_at=day + timedelta(minutes=30) if i % 3 == 0 else None,
                    attrs={"score": float(i)} if i % 4 == 0 else {}),
        ActivityRow("Close", day + timedelta(hours=3), actor="a0"),
    )
    case = {"channel": ["phone", "email"][i % 2], "priority": "P2", "region": ["East", "West"][i % 2], "team": "A"}
    return TicketHistory(f"CS-{i:03d}", day, case, steps)


def _chunks(store) -> list[tuple[int, int, int]]:
    return [tuple(r) for r in store.db.query(f"SELECT first_nid, last_nid, rows FROM {COLUMNS_TABLE} ORDER BY first_nid")]


def _same(store) -> pd.DataFrame:
    """Assert both paths agree, unfiltered and filtered; return the unfiltered frame."""
    frames = []
    for kwargs in ({}, {"attributes": "all"},
                   {"log_filter": LogFilter(start=T0 + timedelta(days=2), end=T0 + timedelta(days=9))},
                   {"log_filter": LogFilter(where={"channel": ("email",)})},
                   {"log_filter": LogFilter(where={"score": ("0.0", "4.0")})}):
        expected = _load_rows_sql(store, **kwargs)
        got = load_event_log(store, **kwargs)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        frames.append(got)
    # CS-000 and CS-004 scored 0.0 and 4.0 on one step each: both whole tickets are kept
    assert sorted(frames[4]["case:concept:name"].unique()) == ["CS-000", "CS-004"]
    assert len(frames[4]) == len(frames[0][frames[0]["case:concept:name"].isin(["CS-000", "CS-004"])])
    return frames[0]


@pytest.mark.slow
def test_columnar_frame_equals_sql_frame(store_url, monkeypatch):
    monkeypatch.setattr(columnar, "CHUNK", 7)
    with open_store(store_url, create=True) as store:
        store.import_histories([_history(i) for i in range(8)])  # 24 activity rows
        df = _same(store)
        assert len(df) == 24 and df["case:concept:name"].dtype == "str"
        assert str(df["time:timestamp"].dtype) == "datetime64[us, UTC]"
        chunks = _chunks(store)
        # 24 rows -> three full chunks of 7 persisted, 3 rows left in the tail.
        assert [c[2] for c in chunks] == [7, 7, 7]
        assert all(chunks[k + 1][0] == chunks[k][1] + 1 for k in range(2))

        store.import_histories([_history(i) for i in range(8, 12)])  # 12 more rows: tail of 15
        _same(store)
        assert [c[2] for c in _chunks(store)] == [7, 7, 7, 7, 7]

        before = _chunks(store)
        store.correct("CS-001", 2, {"activity": "Handled"}, "typo")
        store.retract("CS-009", 3, "duplicate")
        after = _chunks(store)
        assert len(after) < len(before)  # the chunks holding CS-001 and CS-009 were dropped
        df = _same(store)
        assert "Handled" in set(df["concept:name"]) and len(df) == 35
        assert _chunks(store) == before  # rebuilt lazily with the same boundaries

        assert store.projection.rebuild() > 0
        assert _chunks(store) == []
        _same(store)
        assert len(_chunks(store)) == 5


@pytest.mark.slow
def test_a_late_step_of_an_early_ticket_is_framed_with_its_ticket(store_url, monkeypatch):
    monkeypatch.setattr(columnar, "CHUNK", 7)
    with open_store(store_url, create=True) as store:
        store.import_histories([_history(i) for i in range(8)])
        _same(store)  # rows already in frame order
        store.record_activity("CS-002", "Callback", T0 + timedelta(days=2, hours=5), actor="a1")
        for _ in range(5):  # enough new rows for a persisted chunk holding the late step
            store.record_activity("CS-007", "Note", T0 + timedelta(days=7, hours=4), actor="a2")
        df = _same(store)  # stored last, framed among CS-002's rows
        rows = df.index[df["case:concept:name"] == "CS-002"]
        assert list(df.loc[rows, "concept:name"]) == ["Receive", "Handle", "Close", "Callback"]
        assert rows[-1] == 9 and len(df) == 30  # CS-000..CS-002 hold rows 0-9
        assert [c[2] for c in _chunks(store)] == [7, 7, 7, 7]


def test_empty_store_frame_equals_sql_frame(store_url):
    with open_store(store_url, create=True) as store:
        pd.testing.assert_frame_equal(load_event_log(store), _load_rows_sql(store))


@pytest.mark.slow
def test_a_long_tail_is_kept_as_a_partial_chunk_and_cut_again(store_url, monkeypatch):
    monkeypatch.setattr(columnar, "CHUNK", 7)
    monkeypatch.setattr(columnar, "TAIL_MIN", 2)
    with open_store(store_url, create=True) as store:
        store.import_histories([_history(i) for i in range(8)])  # 24 rows
        _same(store)
        assert [c[2] for c in _chunks(store)] == [7, 7, 7, 3]  # the tail of 3 kept as a partial chunk
        _same(store)  # read from the four chunks alone
        assert [c[2] for c in _chunks(store)] == [7, 7, 7, 3]

        store.import_histories([_history(i) for i in range(8, 12)])  # 12 more: the partial chunk is cut again
        _same(store)
        chunks = _chunks(store)
        assert [c[2] for c in chunks] == [7, 7, 7, 7, 7]  # one row left in the tail, read with SQL
        assert all(chunks[k + 1][0] == chunks[k][1] + 1 for k in range(len(chunks) - 1))

        store.record_activity("CS-011", "Note", T0 + timedelta(days=11, hours=5), actor="a2")
        store.record_activity("CS-011", "Note", T0 + timedelta(days=11, hours=6), actor="a2")
        df = _same(store)  # a tail of 3 again: kept, then read back with a correction dropping it
        assert len(df) == 38 and [c[2] for c in _chunks(store)] == [7, 7, 7, 7, 7, 3]
        store.correct("CS-011", 4, {"activity": "Noted"}, "typo")
        df = _same(store)
        assert "Noted" in set(df["concept:name"])
        assert [c[2] for c in _chunks(store)] == [7, 7, 7, 7, 7, 3]
