"""Real exports are messy: the importer must get every figure right on them anyway.

* Business time is the truth of order: rows out of file order give the right opening
  time, case attributes and step order; a shuffled copy gives the same histories.
* ``collapse_repeats`` merges consecutive repeated rows into their first.
* Case tables add case attributes (their values win); duplicate keys are refused.
* A re-import with new or changed case attributes records ``CaseAttributesChanged``
  events (history kept, verify passes), and nothing when nothing changed.

Expected values are worked out by hand from the small files written here, or by an
independent pandas computation.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from event_store import ImportFormatError, open_store
from event_store.domain import TOPIC_CASE_CHANGED
from event_store.io.case_table import join_case_table, read_case_table
from event_store.io.importing import read_histories, read_log
from event_store.io.read_base import ColumnMapping
from event_store.integrity.verify import verify_store
from tests.datasets import HELPDESK, dataset_path

HEADER = "case:concept:name,concept:name,time:timestamp,org:resource,org:group,case:channel,case:vip\n"
ROWS = [  # file order is NOT time order
    "T1,Handle,2024-03-01T10:00:00+00:00,b,Second,email,\n",
    "T2,Receive,2024-03-02T08:00:00+00:00,a,First,,yes\n",
    "T1,Close,2024-03-01T12:00:00+00:00,c,Second,chat,no\n",
    "T1,Receive,2024-03-01T09:00:00+00:00,a,First,,\n",
    "T2,Close,2024-03-02T07:30:00+00:00,c,,phone,\n",
    "T3,Receive,2024-03-03T09:00:00+00:00,a,First,web,no\n",
]


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def unref(histories):
    """The histories without line numbers, keyed by ticket (file order of tickets does not count)."""
    out = {}
    for h in histories:
        steps = tuple(dataclasses.replace(s, source_ref=None) for s in h.steps)
        out[h.ticket] = dataclasses.replace(h, steps=steps, source_ref=None)
    return out


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return str(path)


# -- business time is the truth of order --------------------------------------------------


def test_rows_out_of_file_order_give_the_earliest_row(tmp_path):
    (t1, t2, t3) = read_histories(write(tmp_path / "log.csv", HEADER + "".join(ROWS)))
    # T1's first row in the file is Handle at 10:00 by team Second, channel email;
    # its earliest row is Receive at 09:00 by team First, with no channel.
    assert t1.ticket == "T1" and t1.opened_at == t("2024-03-01T09:00:00+00:00")
    assert [s.activity for s in t1.steps] == ["Receive", "Handle", "Close"]
    assert [s.source_ref for s in t1.steps] == ["log.csv:5", "log.csv:2", "log.csv:4"]
    assert t1.source_ref == "log.csv:5"
    # channel: the earliest row with a value (Handle, 10:00); vip: only Close has one.
    assert t1.case == {"channel": "email", "vip": "no", "team": "First"}
    # T2: Close (07:30) is before Receive (08:00) in business time; that is the order.
    assert t2.opened_at == t("2024-03-02T07:30:00+00:00")
    assert [s.activity for s in t2.steps] == ["Close", "Receive"]
    assert t2.case == {"channel": "phone", "vip": "yes", "team": "First"}  # Close has no team
    assert t3.case == {"channel": "web", "vip": "no", "team": "First"}


def test_a_shuffled_copy_gives_the_same_histories(tmp_path):
    text = HEADER + "".join(ROWS)
    sorted_rows = sorted(ROWS, key=lambda r: (r.split(",")[0], r.split(",")[2]))
    shuffled = pd.read_csv(write(tmp_path / "a.csv", text), dtype=str,
                           keep_default_na=False).sample(frac=1, random_state=7)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    a = read_histories(write(tmp_path / "sorted.csv", HEADER + "".join(sorted_rows)))
    b = read_histories(str(tmp_path / "shuffled.csv"))
    c = read_histories(str(tmp_path / "a.csv"))
    assert unref(a) == unref(b) == unref(c)
    assert len(unref(a)) == 3 and sum(len(h.steps) for h in a) == 6


def test_parquet_rows_out_of_order_keep_their_types(tmp_path):
    df = pd.DataFrame({
        "case:concept:name": ["P1", "P1", "P1"],
        "concept:name": ["Handle", "Receive", "Close"],
        "time:timestamp": pd.to_datetime(["2024-01-01T10:00Z", "2024-01-01T09:00Z", "2024-01-01T11:00Z"]),
        "case:priority": [None, "P2", "P1"],
        "case:score": [7, None, 9],
        "n": [1, 2, 3],
    })
    df.to_parquet(tmp_path / "log.parquet")
    (h,) = read_histories(str(tmp_path / "log.parquet"))
    assert h.opened_at == t("2024-01-01T09:00:00+00:00")
    assert [(s.activity, s.attrs["n"]) for s in h.steps] == [("Receive", 2), ("Handle", 1), ("Close", 3)]
    assert [s.source_ref for s in h.steps] == ["log.parquet:2", "log.parquet:1", "log.parquet:3"]
    # priority from Receive (earliest row with one), score from Handle (Receive has none)
    assert h.case == {"priority": "P2", "score": 7.0}


def test_start_and_complete_rows_are_folded_in_time_order(tmp_path):
    text = ("case:concept:name,concept:name,lifecycle:transition,time:timestamp\n"
            "S,Handle,complete,2024-01-01T10:00:00+00:00\n"
            "S,Check,complete,2024-01-01T09:30:00+00:00\n"
            "S,Handle,start,2024-01-01T09:00:00+00:00\n"
            "S,Check,start,2024-01-01T09:10:00+00:00\n")
    (h,) = read_histories(write(tmp_path / "lc.csv", text))
    assert [(s.activity, s.started_at, s.occurred_at) for s in h.steps] == [
        ("Check", t("2024-01-01T09:10:00+00:00"), t("2024-01-01T09:30:00+00:00")),
        ("Handle", t("2024-01-01T09:00:00+00:00"), t("2024-01-01T10:00:00+00:00")),
    ]
    assert h.opened_at == t("2024-01-01T09:00:00+00:00")  # the earliest work start


def test_xes_events_out_of_order_are_sorted(tmp_path):
    xes = tmp_path / "log.xes"
    xes.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<log xes.version="1.0">\n<trace>\n'
        '\t<string key="concept:name" value="X1"/>\n'
        '\t<event>\n\t\t<string key="concept:name" value="Handle"/>\n\t\t<string key="org:group" value="B"/>\n'
        '\t\t<date key="time:timestamp" value="2024-01-01T10:00:00+00:00"/>\n\t</event>\n'
        '\t<event>\n\t\t<string key="concept:name" value="Receive"/>\n\t\t<string key="org:group" value="A"/>\n'
        '\t\t<date key="time:timestamp" value="2024-01-01T09:00:00+00:00"/>\n\t</event>\n'
        "</trace>\n</log>\n")
    for fast in (True, False):
        from event_store.io.xes_read import read_xes

        (h,) = read_xes(str(xes), fast=fast)
        assert [s.activity for s in h.steps] == ["Receive", "Handle"]
        assert h.opened_at == t("2024-01-01T09:00:00+00:00") and h.case == {"team": "A"}


@pytest.mark.slow
def test_shuffled_helpdesk_gives_the_same_histories(tmp_path):
    """Helpdesk written as CSV sorted and shuffled (random_state=7): same tickets, steps
    and case attributes. Rows with the same ticket and time keep file order, so the
    only difference allowed is the order within such ties; in Helpdesk, 3 tickets have
    two different activities at the same second (pandas finds them below), and the
    shuffle happens to reverse all three pairs."""
    import pm4py

    df = pm4py.read_xes(str(dataset_path(*HELPDESK)))[
        ["case:concept:name", "concept:name", "time:timestamp", "org:resource"]]
    df.to_csv(tmp_path / "sorted.csv", index=False)
    df.sample(frac=1, random_state=7).to_csv(tmp_path / "shuffled.csv", index=False)
    a = unref(read_histories(str(tmp_path / "sorted.csv")))
    b = unref(read_histories(str(tmp_path / "shuffled.csv")))
    assert len(a) == len(b) == 4580
    assert sum(len(h.steps) for h in a.values()) == sum(len(h.steps) for h in b.values()) == 21348
    ties = df[df.duplicated(["case:concept:name", "time:timestamp"], keep=False)]
    ambiguous = set(ties.groupby("case:concept:name").filter(
        lambda g: g.groupby("time:timestamp")["concept:name"].nunique().max() > 1)["case:concept:name"])
    assert ambiguous == {"Case 1345", "Case 3897", "Case 732"}
    different = {k for k in a if a[k] != b[k]}
    assert different <= ambiguous
    key = lambda s: (s.occurred_at, s.activity, s.actor)  # noqa: E731
    for k in ambiguous:
        assert a[k].opened_at == b[k].opened_at and a[k].case == b[k].case
        assert sorted(a[k].steps, key=key) == sorted(b[k].steps, key=key)
        # the sorted file keeps the XES's order, as pm4py read it
        assert [s.activity for s in a[k].steps] == df[df["case:concept:name"] == k]["concept:name"].tolist()


# -- collapse_repeats -----------------------------------------------------------------------

REPEATS = ("case:concept:name,concept:name,time:timestamp,org:resource\n"
           "R,New,2024-01-01T09:00:00+00:00,a\nR,New,2024-01-01T09:05:00+00:00,b\n"
           "R,New,2024-01-01T09:10:00+00:00,c\nR,Active,2024-01-01T10:00:00+00:00,a\n"
           "R,Active,2024-01-01T10:30:00+00:00,a\nR,New,2024-01-01T11:00:00+00:00,d\n"
           "Q,New,2024-01-02T09:00:00+00:00,a\n")


def test_collapse_repeats_merges_consecutive_rows_into_the_first(tmp_path):
    expected = [("New", "2024-01-01T09:00:00+00:00", "a", {"last_at": "2024-01-01T09:10:00+00:00", "repeats": 3}),
                ("Active", "2024-01-01T10:00:00+00:00", "a", {"last_at": "2024-01-01T10:30:00+00:00", "repeats": 2}),
                ("New", "2024-01-01T11:00:00+00:00", "d", {})]
    lines = REPEATS.splitlines(keepends=True)
    shuffled = lines[0] + "".join(lines[i] for i in (6, 3, 1, 7, 5, 2, 4))
    for text in (REPEATS, shuffled):
        result = read_log(write(tmp_path / "r.csv", text), collapse_repeats=True)
        assert (result.rows, result.rows_collapsed) == (7, 3)
        r = next(h for h in result.histories if h.ticket == "R")
        assert [(s.activity, s.occurred_at.isoformat(), s.actor, s.attrs) for s in r.steps] == expected
    plain = read_log(write(tmp_path / "r.csv", REPEATS))
    assert plain.rows_collapsed == 0 and sum(len(h.steps) for h in plain.histories) == 7


def test_collapse_repeats_in_xes(tmp_path):
    events = "".join(
        f'<event><string key="concept:name" value="{a}"/><date key="time:timestamp" value="2024-01-01T{h}:00:00+00:00"/></event>\n'
        for a, h in (("New", "09"), ("Active", "12"), ("New", "10"), ("New", "11"), ("Active", "13"), ("New", "14")))
    path = tmp_path / "r.xes"
    path.write_text(f'<log>\n<trace><string key="concept:name" value="R"/>\n{events}</trace>\n</log>\n')
    result = read_log(str(path), collapse_repeats=True)
    assert result.rows_collapsed == 3
    assert [(s.activity, s.attrs) for s in result.histories[0].steps] == [
        ("New", {"last_at": "2024-01-01T11:00:00+00:00", "repeats": 3}),
        ("Active", {"last_at": "2024-01-01T13:00:00+00:00", "repeats": 2}), ("New", {})]


# -- suspect input -----------------------------------------------------------------------------


def test_duplicate_header_and_nul_bytes_are_refused(tmp_path):
    dup = write(tmp_path / "dup.csv", "case:concept:name,concept:name,time:timestamp,org:resource,concept:name\n"
                                      "A,New,2024-01-01T09:00:00+00:00,a,x\n")
    with pytest.raises(ImportFormatError, match=r"dup.csv: line 1: column name 'concept:name' appears 2 times "
                                                r"\(columns 2 and 5\)"):
        read_histories(dup)
    nul = write(tmp_path / "nul.csv", "case:concept:name,concept:name,time:timestamp,org:resource\n"
                                      "A,New,2024-01-01T09:00:00+00:00,a\nA,Done,2024-01-01T10:00:00+00:00,b\x00c\n")
    with pytest.raises(ImportFormatError, match=r"nul.csv: line 3, column 'org:resource': the value holds a NUL"):
        read_histories(nul)


BASE = "ticket,status,at\nA,Open,2024-01-01 08:00:00\nA,Closed,2024-01-01 09:00:00\n"
FLAGS = {"case": "ticket", "activity": "status", "timestamp": "at", "tz": "UTC"}


@pytest.mark.parametrize("columnar", ["1", "0"])
@pytest.mark.parametrize(("role", "words", "flag"), [
    ("resource", "missing resource column 'nosuch'", "--resource-column"),
    ("team", "missing team column 'nosuch'", "--team-column"),
    ("start", "missing work-start column 'nosuch'", "--start-column"),
    ("lifecycle", "missing lifecycle column 'nosuch'", "--lifecycle-column"),
])
def test_a_named_column_the_file_lacks_is_refused(tmp_path, monkeypatch, columnar, role, words, flag):
    monkeypatch.setenv("CSMINE_COLUMNAR", columnar)
    path = write(tmp_path / "base.csv", BASE)
    with pytest.raises(ImportFormatError) as err:
        read_log(path, mapping=ColumnMapping(**FLAGS, **{role: "nosuch"}))
    message = str(err.value)
    assert message.startswith(f"base.csv: {words} (columns are: ticket, status, at; ") and flag in message
    # the default name, named outright, is required too; left to its default it is read when there
    with pytest.raises(ImportFormatError, match=f"base.csv: missing {words.split()[1]} column"):
        read_log(path, mapping=ColumnMapping(**FLAGS, named=frozenset({role})))
    assert read_log(path, mapping=ColumnMapping(**FLAGS)).rows == 2


@pytest.mark.parametrize("columnar", ["1", "0"])
def test_rows_that_all_have_one_field_more_than_the_header_are_named(tmp_path, monkeypatch, columnar):
    monkeypatch.setenv("CSMINE_COLUMNAR", columnar)
    trailing = write(tmp_path / "tc.csv", "ticket,status,at\nA,Open,2024-01-01 08:00:00,\nA,Done,2024-01-01 09:00:00,\n")
    with pytest.raises(ImportFormatError) as err:
        read_log(trailing, mapping=ColumnMapping(**FLAGS))
    assert str(err.value) == ("tc.csv: line 2 has 4 fields, the header 3: the line ends with ',' (an empty last "
                              "field); remove the ',' at the end of each line, or name the last column in the header")
    extra = write(tmp_path / "ex.csv", "ticket,status,at\nA,Open,2024-01-01 08:00:00,x\n")
    with pytest.raises(ImportFormatError, match=r"^ex\.csv: line 2 has 4 fields, the header 3; a value holding ','"):
        read_log(extra, mapping=ColumnMapping(**FLAGS))


# -- lines: where each row starts in the file ------------------------------------------------


@pytest.mark.parametrize("columnar", ["1", "0"])
def test_a_bad_time_after_blank_lines_names_its_line(tmp_path, monkeypatch, columnar):
    monkeypatch.setenv("CSMINE_COLUMNAR", columnar)
    rows = "".join(f"T{i},Open,2024-01-01 08:{i:02d}:00\n" for i in range(27))  # lines 2 to 28
    path = write(tmp_path / "blank.csv", "ticket,status,at\n" + rows + "\n\nT9,Open,yesterday\n")  # line 31
    with pytest.raises(ImportFormatError, match=r"^blank\.csv: line 31: cannot read value 'yesterday'"):
        read_log(path, mapping=ColumnMapping(**FLAGS))


NOTES = ("ticket,status,at,note\n"                                      # line 1
         'A,Open,2024-01-01 08:00:00,"a note\nover two lines"\n'          # lines 2-3
         "A,Active,2024-01-01 09:00:00,5\" screen\n"                     # line 4
         "\n"                                                            # line 5: blank
         'B,Open,2024-01-01 10:00:00,"""quoted"", and\n\nthree lines"\n'  # lines 6-8
         "  \n"                                                          # line 9: spaces
         "B,Closed,2024-01-01 11:00:00,plain\n"                          # line 10
         "A,Closed,2024-01-01 12:00:00,last")                            # line 11, no line end


@pytest.mark.parametrize("collapse", [False, True])
@pytest.mark.parametrize("columnar", ["1", "0"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_source_refs_are_the_lines_where_rows_start(tmp_path, monkeypatch, columnar, newline, collapse):
    monkeypatch.setenv("CSMINE_COLUMNAR", columnar)
    path = write(tmp_path / "notes.csv", NOTES.replace("\n", newline))
    if newline == "\n" and columnar == "1" and not collapse:  # not with the line of spaces, which pyarrow refuses
        clean = write(tmp_path / "clean.csv", NOTES.replace("  \n", ""))
        from event_store.io.columnar import ColumnarLog, read_csv_columns

        log = read_csv_columns(clean, lifecycle="auto", mapping=ColumnMapping(**FLAGS))
        assert isinstance(log, ColumnarLog)
        assert [s.source_ref for h in log.histories for s in h.steps] == [
            "clean.csv:2", "clean.csv:4", "clean.csv:10", "clean.csv:6", "clean.csv:9"]
    read = read_log(path, mapping=ColumnMapping(**FLAGS), collapse_repeats=collapse)
    a, b = read.histories
    assert [s.source_ref for s in a.steps] == ["notes.csv:2", "notes.csv:4", "notes.csv:11"]
    assert [s.source_ref for s in b.steps] == ["notes.csv:6", "notes.csv:10"]
    assert (a.source_ref, b.source_ref) == ("notes.csv:2", "notes.csv:6")
    assert b.steps[0].attrs["note"] == f'"quoted", and{newline}{newline}three lines'


def test_case_table_and_nul_errors_name_the_line_too(tmp_path):
    table = write(tmp_path / "cases.csv", 'ticket,segment\nT1,"gold\nplus"\n\nT1,silver\n')
    with pytest.raises(ImportFormatError, match=r"ticket 'T1' has 2 rows \(lines 2 and 5\)"):
        read_case_table(table, "ticket")
    nul = write(tmp_path / "nul.csv", 'ticket,status,at\nA,"Open\nnow",2024-01-01 08:00:00\nA,Do\x00ne,2024-01-01 09:00:00\n')
    with pytest.raises(ImportFormatError, match=r"nul\.csv: line 4, column 'status': the value holds a NUL"):
        read_log(nul, mapping=ColumnMapping(**FLAGS))
    short = write(tmp_path / "short.csv", 'ticket,status,at\nA,"Open\nnow",2024-01-01 08:00:00\n\nA,x,y,z\n')
    with pytest.raises(ImportFormatError, match=r"short\.csv: line 5 has 4 fields, the header 3"):
        read_log(short, mapping=ColumnMapping(**FLAGS))


# -- case tables ----------------------------------------------------------------------------------


def test_case_table_values_win_and_unmatched_rows_are_counted(tmp_path):
    events = read_histories(write(tmp_path / "log.csv", HEADER + "".join(ROWS)))
    table = read_case_table(write(tmp_path / "cases.csv", "ticket;case:channel;segment;team\n"
                                                          "T1;letter;gold;Back\nT3;;silver;\nT9;fax;bronze;Front\n"),
                            "ticket")
    assert table.attributes == ("channel", "segment", "team")
    joined = join_case_table(events, table)
    assert (joined.matched, joined.without_row, joined.without_events) == (2, 1, 1)
    by_id = {h.ticket: h.case for h in joined.histories}
    assert by_id["T1"] == {"channel": "letter", "vip": "no", "team": "Back", "segment": "gold"}
    assert by_id["T2"] == {"channel": "phone", "vip": "yes", "team": "First"}  # no case row
    assert by_id["T3"] == {"channel": "web", "vip": "no", "team": "First", "segment": "silver"}  # empty cells: no value


def test_case_table_duplicate_keys_are_refused(tmp_path):
    path = write(tmp_path / "cases.csv", "id,channel\nT1,phone\nT2,chat\nT1,email\nT2,web\nT3,x\n")
    with pytest.raises(ImportFormatError, match=r"case table cases.csv: ticket 'T1' has 2 rows \(lines 2 and 4\); "
                                                r"1 more ticket id repeat: keep one row per ticket"):
        read_case_table(path, "id")
    with pytest.raises(ImportFormatError, match=r"missing ticket id column 'ticket'.*--case-key"):
        read_case_table(path, "ticket")


# -- case attributes changed on re-import ----------------------------------------------------------

FIRST = ("case:concept:name,concept:name,time:timestamp,case:channel,case:vip\n"
         "A,New,2024-01-01T09:00:00+00:00,phone,no\nA,Close,2024-01-01T10:00:00+00:00,,\n"
         "B,New,2024-01-02T09:00:00+00:00,email,yes\n")
SECOND = ("case:concept:name,concept:name,time:timestamp,case:channel,case:vip,case:region\n"
          "A,New,2024-01-01T09:00:00+00:00,chat,no,EU\nA,Close,2024-01-01T10:00:00+00:00,,,\n"
          "B,New,2024-01-02T09:00:00+00:00,email,yes,\nB,Close,2024-01-02T11:00:00+00:00,,,\n")


def read_model(store):
    return (store.db.query("SELECT ticket, channel, region, case_attrs FROM tickets ORDER BY ticket"),
            store.db.query("SELECT ticket, version, activity, channel, region, corrected FROM event_log "
                           "ORDER BY ticket, version"))


def test_changed_case_attributes_are_recorded_once(store_url, tmp_path):
    first = read_histories(write(tmp_path / "first.csv", FIRST))
    second = read_histories(write(tmp_path / "second.csv", SECOND))
    with open_store(store_url, create=True) as store:
        r1 = store.import_histories(first)
        assert (r1.tickets_added, r1.events_added, r1.tickets_case_changed) == (2, 3, 0)
        # A manual correction of a value the source never changes is kept.
        store.correct("B", 0, {"vip": "no"}, "customer asked", occurred_at=datetime(2024, 2, 1, tzinfo=UTC))
        r2 = store.import_histories(second)
        # A: channel phone -> chat, region new; B: region empty (no value), vip unchanged
        # in the source (yes -> yes), one new step.
        assert (r2.tickets_added, r2.events_added, r2.tickets_unchanged, r2.tickets_case_changed) == (0, 1, 0, 1)
        r3 = store.import_histories(second)
        assert (r3.events_added, r3.tickets_unchanged, r3.tickets_case_changed) == (0, 2, 0)
        assert store.get_ticket("A")["case"] == {"channel": "chat", "vip": "no", "region": "EU"}
        assert store.get_ticket("B")["case"] == {"channel": "email", "vip": "no"}
        events = store.ticket_events("A")
        assert [type(e).__name__ for e in events] == ["Opened", "ActivityRecorded", "ActivityRecorded",
                                                       "CaseAttributesChanged"]
        assert events[0].case["channel"] == "phone"  # the old value stays in the history
        assert events[3].changes == {"channel": "chat", "region": "EU"} and events[3].source_ref == "second.csv:2"
        table = store.recorder.events_table_name
        assert store.db.query(f"SELECT COUNT(*) FROM {table} WHERE topic = ?", (TOPIC_CASE_CHANGED,))[0][0] == 1
        tickets, rows = read_model(store)
        assert tickets == [("A", "chat", "EU", '{"vip":"no"}'), ("B", "email", None, '{"vip":"no"}')]
        assert rows == [("A", 1, "New", "chat", "EU", 0), ("A", 2, "Close", "chat", "EU", 0),
                        ("B", 1, "New", "email", None, 0), ("B", 3, "Close", "email", None, 0)]  # B#2: the correction
        # The read model rebuilt from the log (catch-up path) equals the one the import wrote.
        store.projection.rebuild()
        assert read_model(store) == (tickets, rows)
        report = verify_store(store)
        assert report.ok, report


def test_typed_case_attribute_changes_from_parquet(tmp_path):
    def frame(score, when):
        return pd.DataFrame({"case:concept:name": ["P"], "concept:name": ["New"],
                             "time:timestamp": pd.to_datetime(["2024-01-01T09:00Z"]),
                             "case:score": [score], "case:due": pd.to_datetime([when])})
    frame(1, "2024-02-01T00:00Z").to_parquet(tmp_path / "a.parquet")
    frame(2, "2024-02-01T00:00Z").to_parquet(tmp_path / "b.parquet")
    with open_store(str(tmp_path / "s.db"), create=True) as store:
        store.import_histories(read_histories(str(tmp_path / "a.parquet")))
        assert store.import_histories(read_histories(str(tmp_path / "a.parquet"))).tickets_case_changed == 0
        assert store.import_histories(read_histories(str(tmp_path / "b.parquet"))).tickets_case_changed == 1
        (event,) = [e for e in store.ticket_events("P") if type(e).__name__ == "CaseAttributesChanged"]
        assert event.changes == {"score": 2}  # the unchanged datetime is not repeated
        row = store.db.query("SELECT case_attrs FROM tickets")[0][0]
        assert json.loads(row)["score"] == 2


def test_mapping_dialect_fields_apply(tmp_path):
    path = write(tmp_path / "x.csv", "id|step|at\nA|Réçu|2024-01-01T09:00:00+00:00\n", encoding="latin-1")
    mapping = ColumnMapping(case="id", activity="step", timestamp="at", sep="|", encoding="latin-1")
    (h,) = read_histories(path, mapping=mapping)
    assert h.steps[0].activity == "Réçu"
