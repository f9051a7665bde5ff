"""The read model's query API against a small store whose every row is written out here.

The store (built once per backend; the tests that change it build their own):

======  =========  ===================================================  =========================
ticket  opened     case (columns; free)                                 steps (log position)
======  =========  ===================================================  =========================
CS-1    T0         phone, billing, P1, team A, East; vip=True            Receive (2), 分派 (3),
                                                                         Close (4, retracted)
CS-2    T0 + 1 d   email, angry, customer c-17, team B, West;            Receive (6), Handle (7, step
                   segment="gold"                                        team C, corrected), Close (8)
CS-3    T0 + 2 d   phone, team A, West                                   Receive (10), Handle (11),
                                                                         Close (12)
CS-4    T0 + 2 d   chat, team B, East                                    Receive (14)
CS-0    T0 - 1 d   web, team C                                           none (opened at 20)
======  =========  ===================================================  =========================

CS-1 and CS-2 come from one import (positions 1-8), CS-3 and CS-4 from ``open_ticket`` and
``record_activity`` (9-14); then the correction of CS-2 version 2 (15: actor a3 -> a9 plus a
step attribute), the retraction of CS-1 version 3 (16), the phase plan (17) and two phases
(18, 19), and last CS-0 (20), opened before all the others. CS-3 and CS-4 open at the same
moment and their Receive steps happen at the same moment: the ties that paging must get right;
CS-0 is first by opening time but last by log position.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from event_store import ActivityRow, TicketHistory, open_store, ticket_id
from event_store.readmodel import chunks
from event_store.readmodel.chunks import read_columnar
from event_store.readmodel.projection import COLUMNS_TABLE, EVENT_LOG_COLUMNS
from event_store.readmodel.queries import (
    EVENT_ROW_COLUMNS,
    STEP_ROW_COLUMNS,
    TICKET_ROW_COLUMNS,
    PhaseRow,
    RowFilter,
    attribute_decoder,
    attribute_key_sets,
    case_attribute_texts,
    event_rows,
    from_us,
    has_tickets,
    last_occurred_at,
    meta_value,
    phase_rows,
    set_meta_value,
    step_attribute_rows,
    step_page,
    stored_ticket_events,
    table_rows,
    ticket_activities,
    ticket_count,
    ticket_page,
    ticket_rows_for,
    ticket_table,
    to_us,
)
from event_store.readmodel.rebuild import rebuild_read_model

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
M, H, D = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def us(value: datetime) -> int:
    """Microseconds since the epoch, by hand (every time here is a whole second)."""
    return int(value.timestamp()) * 1_000_000


DUE = T0 + 3 * D
DUE_JSON = '{"due":{"_type_":"datetime_iso","_data_":"2024-03-04T09:00:00+00:00"}}'


def _build(url: str):
    store = open_store(url, create=True)
    started = datetime.now(UTC)
    store.import_histories([
        TicketHistory("CS-1", T0, {"channel": "phone", "category": "billing", "priority": "P1", "team": "A",
                                   "region": "East", "vip": True}, (
            ActivityRow("Receive", T0 + 10 * M, actor="a1", source_ref="f.csv:2", attrs={"score": 4}),
            ActivityRow("分派", T0 + H, actor="a2"),
            ActivityRow("Close", T0 + 2 * H, actor="a1", attrs={"dup": True}),
        ), source_ref="f.csv:1"),
        TicketHistory("CS-2", T0 + D, {"channel": "email", "emotion": "angry", "customer": "c-17", "team": "B",
                                       "region": "West", "segment": "gold"}, (
            ActivityRow("Receive", T0 + D + 10 * M, actor="a1"),
            ActivityRow("Handle", T0 + D + H, actor="a3", team="C", attrs={"lang": "中文"}),
            ActivityRow("Close", T0 + D + 2 * H, actor="a3"),
        )),
    ])
    store.open_ticket("CS-3", T0 + 2 * D, {"channel": "phone", "team": "A", "region": "West"})
    store.record_activity("CS-3", "Receive", T0 + 2 * D + 10 * M, actor="a2")
    store.record_activity("CS-3", "Handle", T0 + 2 * D + H, actor="a2", started_at=T0 + 2 * D + 30 * M,
                          attrs={"score": 2})
    store.record_activity("CS-3", "Close", T0 + 2 * D + 3 * H, actor="a1", attrs={"due": DUE})
    store.open_ticket("CS-4", T0 + 2 * D, {"channel": "chat", "team": "B", "region": "East"})
    store.record_activity("CS-4", "Receive", T0 + 2 * D + 10 * M, actor="a4")
    store.correct("CS-2", 2, {"actor": "a9", "reason_code": "X"}, "wrong agent")
    store.retract("CS-1", 3, "duplicate")
    store.define_phase("baseline", T0, T0 + 2 * D, {"team": ["A"]})
    store.define_phase("pilot", T0 + 2 * D, None, note="pilot 1")
    store.open_ticket("CS-0", T0 - D, {"channel": "web", "team": "C"})
    store.built = (started, datetime.now(UTC))
    return store


def _url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("queries") / "csmine.db")
    return request.getfixturevalue("pg_server").create_database(f"q{uuid.uuid4().hex[:12]}")


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, tmp_path_factory):
    """The store above, shared by the tests that only read."""
    s = _build(_url(request, tmp_path_factory))
    yield s
    s.close()


@pytest.fixture(params=BACKENDS)
def fresh(request, tmp_path_factory):
    """The store above, for one test that changes it."""
    s = _build(_url(request, tmp_path_factory))
    yield s
    s.close()


# The live event_log rows in EVENT_ROW_COLUMNS order, without recorded_at (the recording time).
_CS1 = (us(T0), "phone", "billing", "P1", None, None, "A", "East")
_CS2 = (us(T0 + D), "email", None, None, "angry", "c-17", "B", "West")
_CS3 = (us(T0 + 2 * D), "phone", None, None, None, None, "A", "West")
_CS4 = (us(T0 + 2 * D), "chat", None, None, None, None, "B", "East")
LIVE = [
    (2, "CS-1", 1, "Receive", us(T0 + 10 * M), None, "a1", None, "f.csv:2", '{"score":4}', *_CS1),
    (3, "CS-1", 2, "分派", us(T0 + H), None, "a2", None, None, None, *_CS1),
    (6, "CS-2", 1, "Receive", us(T0 + D + 10 * M), None, "a1", None, None, None, *_CS2),
    (7, "CS-2", 2, "Handle", us(T0 + D + H), None, "a9", "C", None, '{"lang":"中文","reason_code":"X"}', *_CS2),
    (8, "CS-2", 3, "Close", us(T0 + D + 2 * H), None, "a3", None, None, None, *_CS2),
    (10, "CS-3", 1, "Receive", us(T0 + 2 * D + 10 * M), None, "a2", None, None, None, *_CS3),
    (11, "CS-3", 2, "Handle", us(T0 + 2 * D + H), us(T0 + 2 * D + 30 * M), "a2", None, None, '{"score":2}', *_CS3),
    (12, "CS-3", 3, "Close", us(T0 + 2 * D + 3 * H), None, "a1", None, None, DUE_JSON, *_CS3),
    (14, "CS-4", 1, "Receive", us(T0 + 2 * D + 10 * M), None, "a4", None, None, None, *_CS4),
]
RECORDED = EVENT_ROW_COLUMNS.index("recorded_at")

# tickets in TICKET_ROW_COLUMNS order
TICKETS = [
    ("CS-0", us(T0 - D), 20, None, "web", None, None, None, None, "C", None),
    ("CS-1", us(T0), 1, '{"vip":true}', "phone", "billing", "P1", None, None, "A", "East"),
    ("CS-2", us(T0 + D), 5, '{"segment":"gold"}', "email", None, None, "angry", "c-17", "B", "West"),
    ("CS-3", us(T0 + 2 * D), 9, None, "phone", None, None, None, None, "A", "West"),
    ("CS-4", us(T0 + 2 * D), 13, None, "chat", None, None, None, None, "B", "East"),
]

# live steps by (occurred_at, notification id): the two Receive steps at T0 + 2 d + 10 min tie
STEP_ORDER = [2, 3, 6, 7, 8, 10, 14, 11, 12]


def _strip(rows) -> list[tuple]:
    return sorted(tuple(v for i, v in enumerate(r) if i != RECORDED) for r in rows)


def _nids(rows) -> list[int]:
    return sorted(r[0] for r in rows)


def _tuples(rows) -> list[tuple]:
    return [tuple(r) for r in rows]


# -- the store itself ------------------------------------------------------------------------------


def test_the_store_holds_what_the_docstring_says(store):
    log = list(store.iter_notifications())
    assert [n.id for n in log] == list(range(1, 21))
    assert [(n.originator_id, n.originator_version) for n in log[14:16]] == [(ticket_id("CS-2"), 4),
                                                                          (ticket_id("CS-1"), 4)]


def test_times_are_microseconds_since_the_epoch():
    assert to_us(T0) == 1_709_283_600_000_000 == us(T0)
    assert to_us(datetime(2024, 3, 1, 17, 0, tzinfo=timezone(timedelta(hours=8)))) == us(T0)
    assert from_us(1_709_283_600_000_001) == T0 + timedelta(microseconds=1)
    assert from_us(0) == datetime(1970, 1, 1, tzinfo=UTC)


# -- event rows and filters ------------------------------------------------------------------------


def test_event_rows_are_the_live_rows(store):
    rows = event_rows(store)
    assert len(EVENT_ROW_COLUMNS) == 19 and EVENT_ROW_COLUMNS[RECORDED] == "recorded_at"
    assert _strip(rows) == LIVE  # the retracted Close of CS-1 (position 4) is not among them
    low, high = us(store.built[0]) - 1_000_000, us(store.built[1]) + 1_000_000
    assert all(low <= r[RECORDED] <= high for r in rows)


def test_row_filter_sql():
    assert RowFilter().sql() == ("", [])
    f = RowFilter(start_us=10, end_us=20, case={"team": ("A", "B"), "channel": ("phone",)})
    assert f.sql() == (" AND opened_at >= ? AND opened_at < ? AND team IN (?,?) AND channel IN (?)",
                       [10, 20, "A", "B", "phone"])
    assert f.sql(team_column="case_team") == (
        " AND opened_at >= ? AND opened_at < ? AND case_team IN (?,?) AND channel IN (?)", [10, 20, "A", "B", "phone"])


def test_row_filter_rejects_a_field_that_is_not_a_case_column():
    with pytest.raises(ValueError) as raised:
        RowFilter(case={"channel": ("phone",), "vip": ("true",)})
    assert str(raised.value) == ("not a case field: 'vip' (case fields: channel, category, priority, emotion, "
                                 "customer, team, region)")
    with pytest.raises(ValueError, match="not a case field: 'case_team'"):
        RowFilter(case={"case_team": ("A",)})


@pytest.mark.parametrize(("row_filter", "expected"), [
    (RowFilter(start_us=us(T0 + D), end_us=us(T0 + 2 * D)), [6, 7, 8]),
    (RowFilter(start_us=us(T0 + 2 * D)), [10, 11, 12, 14]),
    (RowFilter(end_us=us(T0 + D)), [2, 3]),
    (RowFilter(start_us=us(T0 + D), end_us=us(T0 + D)), []),
    (RowFilter(start_us=us(T0 + D) + 1), [10, 11, 12, 14]),
    # team is the ticket's team (case_team), not the step's: CS-2's Handle was done by team C
    (RowFilter(case={"team": ("A",)}), [2, 3, 10, 11, 12]),
    (RowFilter(case={"team": ("B",)}), [6, 7, 8, 14]),
    (RowFilter(case={"team": ("C",)}), []),
    (RowFilter(case={"channel": ("email", "chat")}), [6, 7, 8, 14]),
    (RowFilter(case={"channel": ("phone",), "region": ("West",)}), [10, 11, 12]),
    (RowFilter(start_us=us(T0 + D), case={"region": ("East",)}), [14]),
    (RowFilter(case={"customer": ("c-17",)}), [6, 7, 8]),
])
def test_event_rows_within_a_filter(store, row_filter, expected):
    assert _nids(event_rows(store, row_filter)) == expected
    by_position = {r[0]: r for r in LIVE}
    assert _strip(event_rows(store, row_filter)) == [by_position[n] for n in expected]


# -- tickets ---------------------------------------------------------------------------------------


def test_ticket_page_pages_through_the_tie_in_opening_time(store):
    assert TICKET_ROW_COLUMNS[:4] == ("ticket", "opened_at", "notification_id", "case_attrs")
    first = _tuples(ticket_page(store, (0, 0), RowFilter(), 3))
    assert first == TICKETS[:3]  # CS-0 (position 20) first: by opening time
    second = _tuples(ticket_page(store, (first[-1][1], first[-1][2]), RowFilter(), 3))
    assert second == TICKETS[3:]
    assert _tuples(ticket_page(store, (us(T0 - D), 20), RowFilter(), 1)) == [TICKETS[1]]
    # CS-3 and CS-4 opened at the same time: the position decides, nothing is lost or repeated
    assert _tuples(ticket_page(store, (us(T0 + 2 * D), 9), RowFilter(), 5)) == [TICKETS[4]]
    assert ticket_page(store, (us(T0 + 2 * D), 13), RowFilter(), 5) == []
    everything, after = [], (0, 0)
    while page := ticket_page(store, after, RowFilter(), 1):
        everything += _tuples(page)
        after = (page[-1][1], page[-1][2])
    assert everything == TICKETS


def test_ticket_page_with_a_filter(store):
    team_b = RowFilter(case={"team": ("B",)})
    assert _tuples(ticket_page(store, (0, 0), team_b, 1)) == [TICKETS[2]]
    assert _tuples(ticket_page(store, (us(T0 + D), 5), team_b, 1)) == [TICKETS[4]]
    assert ticket_page(store, (us(T0 + 2 * D), 13), team_b, 1) == []
    window = RowFilter(start_us=us(T0 + D), end_us=us(T0 + 2 * D) + 1)
    assert [r[0] for r in ticket_page(store, (0, 0), window, 10)] == ["CS-2", "CS-3", "CS-4"]
    assert [r[0] for r in ticket_page(store, (0, 0), RowFilter(end_us=us(T0)), 10)] == ["CS-0"]


def test_ticket_rows_for(store):
    assert _tuples(ticket_rows_for(store, "CS-2", RowFilter())) == [TICKETS[2]]
    assert _tuples(ticket_rows_for(store, "CS-2", RowFilter(case={"team": ("B",), "region": ("West",)}))) == [
        TICKETS[2]]
    assert _tuples(ticket_rows_for(store, "CS-0", RowFilter(case={"team": ("C",)}))) == [TICKETS[0]]
    assert ticket_rows_for(store, "CS-2", RowFilter(case={"team": ("A",)})) == []
    assert ticket_rows_for(store, "CS-2", RowFilter(start_us=us(T0 + 2 * D))) == []
    assert ticket_rows_for(store, "CS-9", RowFilter()) == []


def test_ticket_table_count_and_activities(store):
    assert _tuples(ticket_table(store)) == [(t[0], t[1], t[3], *t[4:]) for t in TICKETS]
    assert ticket_count(store) == 5
    assert has_tickets(store) is True
    assert ticket_activities(store, "CS-0") == []  # a ticket without steps
    assert ticket_activities(store, "CS-1") == ["Receive", "分派"]
    assert ticket_activities(store, "CS-2") == ["Receive", "Handle", "Close"]
    assert ticket_activities(store, "CS-4") == ["Receive"]
    assert ticket_activities(store, "CS-9") == []


def test_an_empty_store(tmp_path):
    with open_store(str(tmp_path / "empty.db"), create=True) as empty:
        assert (ticket_count(empty), has_tickets(empty), last_occurred_at(empty)) == (0, False, None)
        assert event_rows(empty) == [] and ticket_table(empty) == [] and phase_rows(empty) == []
        assert ticket_page(empty, (0, 0), RowFilter(), 10) == [] and step_page(empty, (0, 0), RowFilter(), 10) == []
        assert attribute_key_sets(empty) == (set(), set()) and case_attribute_texts(empty) == []
        assert read_columnar(empty).num_rows == 0


# -- steps -----------------------------------------------------------------------------------------


def test_step_page_pages_through_the_tie_in_business_time(store):
    assert STEP_ROW_COLUMNS == ("occurred_at", "notification_id", "ticket", "activity", "actor")
    first = step_page(store, (0, 0), RowFilter(), 7)
    assert [r[1] for r in first] == STEP_ORDER[:7]  # ends between the two steps at T0 + 2 d + 10 min
    assert tuple(first[-2]) == (us(T0 + 2 * D + 10 * M), 10, "CS-3", "Receive", "a2")
    assert tuple(first[-1]) == (us(T0 + 2 * D + 10 * M), 14, "CS-4", "Receive", "a4")
    first6 = step_page(store, (0, 0), RowFilter(), 6)
    rest = step_page(store, (first6[-1][0], first6[-1][1]), RowFilter(), 10)
    assert [r[1] for r in rest] == [14, 11, 12]
    seen, after = [], (0, 0)
    while page := step_page(store, after, RowFilter(), 2):
        seen += [r[1] for r in page]
        after = (page[-1][0], page[-1][1])
    assert seen == STEP_ORDER  # the retracted step (position 4) never shows


def test_step_page_with_a_filter(store):
    team_b = RowFilter(case={"team": ("B",)})
    assert [tuple(r) for r in step_page(store, (0, 0), team_b, 10)] == [
        (us(T0 + D + 10 * M), 6, "CS-2", "Receive", "a1"), (us(T0 + D + H), 7, "CS-2", "Handle", "a9"),
        (us(T0 + D + 2 * H), 8, "CS-2", "Close", "a3"), (us(T0 + 2 * D + 10 * M), 14, "CS-4", "Receive", "a4")]
    assert [r[1] for r in step_page(store, (0, 0), RowFilter(end_us=us(T0 + D)), 10)] == [2, 3]


# -- attributes ------------------------------------------------------------------------------------


def test_step_attribute_rows(store):
    assert sorted(step_attribute_rows(store)) == [
        ("CS-1", '{"score":4}'), ("CS-2", '{"lang":"中文","reason_code":"X"}'), ("CS-3", DUE_JSON),
        ("CS-3", '{"score":2}')]  # not CS-1's retracted {"dup":true}
    assert step_attribute_rows(store, RowFilter(case={"team": ("B",)})) == [
        ("CS-2", '{"lang":"中文","reason_code":"X"}')]
    assert sorted(step_attribute_rows(store, RowFilter(start_us=us(T0 + 2 * D)))) == [
        ("CS-3", DUE_JSON), ("CS-3", '{"score":2}')]


def test_case_attribute_texts_and_key_sets(store):
    assert sorted(case_attribute_texts(store)) == [("CS-1", '{"vip":true}'), ("CS-2", '{"segment":"gold"}')]
    assert attribute_key_sets(store) == ({"vip", "segment"}, {"score", "lang", "reason_code", "due"})


def test_attribute_values_decode_with_their_types(store):
    decode = attribute_decoder(store)
    assert decode(DUE_JSON.encode()) == {"due": DUE}
    assert decode('{"lang":"中文","reason_code":"X"}'.encode()) == {"lang": "中文", "reason_code": "X"}
    assert decode(b'{"vip":true}') == {"vip": True}


# -- times, phases, stored events, tables ----------------------------------------------------------


def test_last_occurred_at(store):
    assert last_occurred_at(store) == us(T0 + 2 * D + 3 * H)  # CS-3's Close
    assert last_occurred_at(store, known_at=8) == us(T0 + D + 2 * H)  # CS-2's Close
    assert last_occurred_at(store, known_at=4) == us(T0 + H)  # CS-1's Close (4) is retracted
    assert last_occurred_at(store, known_at=1) is None


def test_phase_rows(store):
    assert phase_rows(store) == [PhaseRow("baseline", T0, T0 + 2 * D, {"team": ("A",)}, ""),
                                 PhaseRow("pilot", T0 + 2 * D, None, {}, "pilot 1")]


def test_stored_ticket_events(store):
    events = stored_ticket_events(store, ticket_id("CS-2"))
    assert [(n, type(e).__name__, e.originator_version) for n, e in events] == [
        (5, "Opened", 0), (6, "ActivityRecorded", 1), (7, "ActivityRecorded", 2), (8, "ActivityRecorded", 3),
        (15, "Corrected", 4)]
    assert events[2][1].actor == "a3"  # the event as recorded; the correction says a9
    assert (events[4][1].target_version, events[4][1].changes) == (2, {"actor": "a9", "reason_code": "X"})
    assert events[0][1].case == {"channel": "email", "emotion": "angry", "customer": "c-17", "team": "B",
                                 "region": "West", "segment": "gold"}
    assert stored_ticket_events(store, ticket_id("CS-9")) == []


def test_table_rows(store):
    batches = list(table_rows(store, "tickets", "ticket", batch=3))
    assert [len(rows) for _, rows in batches] == [3, 2]
    names = list(batches[0][0])
    assert names[:2] == ["ticket", "ticket_uuid"]
    assert [r[0] for _, rows in batches for r in rows] == ["CS-0", "CS-1", "CS-2", "CS-3", "CS-4"]
    ((names, rows),) = table_rows(store, "event_log", "notification_id")
    flags = {r[0]: (r[names.index("retracted")], r[names.index("corrected")]) for r in rows}
    assert list(flags) == [2, 3, 4, 6, 7, 8, 10, 11, 12, 14]  # the retracted row is kept, flagged
    assert {n for n, f in flags.items() if f != (0, 0)} == {4, 7}
    assert (flags[4], flags[7]) == ((1, 0), (0, 1))
    ((_, phases),) = table_rows(store, "phases", "name")
    assert [r[0] for r in phases] == ["baseline", "pilot"]
    for table, key in (("csmine_meta", "key"), ("event_log", "ticket")):
        with pytest.raises(ValueError, match=f"not a read-model table: '{table}'"):
            list(table_rows(store, table, key))


def test_meta_round_trip(store):
    assert meta_value(store, "test:hint") is None
    set_meta_value(store, "test:hint", "v1")
    assert meta_value(store, "test:hint") == "v1"
    set_meta_value(store, "test:hint", "第二 v2")
    assert meta_value(store, "test:hint") == "第二 v2"
    assert meta_value(store, "schema_version") == "1"
    assert store.db.query("SELECT COUNT(*) FROM csmine_meta WHERE key = 'test:hint'")[0][0] == 1


# -- rebuild and the columnar copy -----------------------------------------------------------------


def test_rebuild_read_model_matches(fresh):
    rows, tickets, phases = event_rows(fresh), ticket_table(fresh), phase_rows(fresh)
    report = rebuild_read_model(fresh)
    assert report.match
    assert (report.notifications, report.position) == (20, 20)
    assert [(t.table, t.rows_before, t.rows_after, t.mismatches) for t in report.tables] == [
        ("event_log", 10, 10, 0), ("tickets", 5, 5, 0), ("phases", 2, 2, 0)]
    assert all(t.digest_before == t.digest_after for t in report.tables)
    assert sorted(event_rows(fresh)) == sorted(rows)
    assert ticket_table(fresh) == tickets and phase_rows(fresh) == phases


def test_rebuild_read_model_reports_a_damaged_read_model(fresh):
    with fresh.db.transaction(write=True) as cur:
        cur.execute("UPDATE event_log SET actor = 'zz' WHERE notification_id = 6")
        cur.execute("DELETE FROM tickets WHERE ticket = 'CS-4'")
    report = rebuild_read_model(fresh)
    assert not report.match
    log, tickets, phases = report.tables
    assert (log.changed, log.missing, log.added, log.mismatches) == (("6",), (), (), 1)
    assert (tickets.rows_before, tickets.rows_after, tickets.added, tickets.mismatches) == (4, 5, ("CS-4",), 1)
    assert phases.match
    assert _strip(event_rows(fresh)) == LIVE  # the rebuild put it right
    assert ticket_count(fresh) == 5


def _live_columnar(table) -> list[tuple]:
    assert table.column_names == list(EVENT_LOG_COLUMNS)
    return sorted(tuple(r[c] for c in EVENT_ROW_COLUMNS) for r in table.to_pylist() if r["retracted"] == 0)


def test_read_columnar_rows_equal_event_rows(fresh, monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK", 4)
    first = read_columnar(fresh)
    assert first.num_rows == 10  # every event_log row, the retracted one too
    assert _live_columnar(first) == sorted(event_rows(fresh))
    # two full chunks of 4 rows were kept; the 2-row tail stays in SQL
    assert _tuples(fresh.db.query(f"SELECT first_nid, last_nid, rows FROM {COLUMNS_TABLE} ORDER BY first_nid")) == [
        (1, 6, 4), (7, 11, 4)]
    second = read_columnar(fresh)
    assert second.equals(first)
    # retracting CS-3's Close (12, in the tail) drops every chunk holding a CS-3 row (10, 11):
    # the second one; the next load builds it again from the rows
    fresh.retract("CS-3", 3, "dup")
    assert _tuples(fresh.db.query(f"SELECT first_nid, last_nid FROM {COLUMNS_TABLE}")) == [(1, 6)]
    third = read_columnar(fresh)
    assert _live_columnar(third) == sorted(event_rows(fresh))
    assert [r[0] for r in sorted(event_rows(fresh))] == [2, 3, 6, 7, 8, 10, 11, 14]
    assert _tuples(fresh.db.query(f"SELECT first_nid, last_nid FROM {COLUMNS_TABLE} ORDER BY first_nid")) == [
        (1, 6), (7, 11)]
