"""The columnar CSV reader gives exactly what the object reader gives.

For each file both readers run: the object reader's histories are turned into
columns by ``from_histories`` (the same function the store uses for them), and
every column of every batch must equal the columnar reader's, value for value.
The files are made to hit the awkward cases: Chinese text, quotes, commas, tabs
and backslashes inside values, offsets other than UTC, microseconds, naive times
with ``--tz``, start times before the step, shuffled rows, a ticket split across
the file, status and XES lifecycles, case attributes missing on the first row,
an unnamed column.
"""

from __future__ import annotations

import os

import pytest

from event_store.io.columnar import ColumnarLog, read_csv_columns
from event_store.io.columnar_build import uuid5_texts
from event_store.io.importing import read_histories, read_log
from event_store.io.read_base import ColumnMapping
from event_store.limits import current_limits
from event_store.persistence.bulk_write import from_histories

HEADER = "case:concept:name,concept:name,time:timestamp,start_timestamp,org:resource,org:group,case:channel,case:team,note,,lifecycle:transition"

ROWS = [
    'T2,"Receive, first",2024-03-01 10:00:00+08:00,,张三,一线,phone,,"said ""hi""",x,In Progress',
    "T1,受理,2024-03-01T09:00:00.250000+08:00,2024-03-01T08:59:00+08:00,li,L1,,,,y,Awaiting Assignment",
    'T1,Record,2024-03-01T09:10:00+08:00,,li,,chat,North,"tab\there",,In Progress',
    "T3,Receive,2024-03-01T11:00:00+00:00,,,,email,,back\\slash,,",
    "T2,Close,2024-03-01T10:30:00+08:00,2024-03-01T09:00:00+08:00,王五,二线,,,,,Closed",
    "T1,Record,2024-03-01T09:10:00+08:00,,li,,,,second tie,,In Progress",
]


def _columns(path, mapping=None, lifecycle="auto"):
    mapping = mapping or ColumnMapping()
    columnar = read_csv_columns(str(path), lifecycle=lifecycle, mapping=mapping)
    assert isinstance(columnar, ColumnarLog), "the columnar reader should cover this file"
    os.environ["CSMINE_COLUMNAR"] = "0"
    try:
        objects = read_histories(str(path), lifecycle=lifecycle, mapping=mapping)
    finally:
        del os.environ["CSMINE_COLUMNAR"]
    return columnar, objects


def _assert_same(columnar, objects, store):
    encode = store.mapper.transcoder.encode
    expected = from_histories(objects, encode, store._attrs_json)
    got = list(columnar.column_batches(len(objects), current_limits()))
    assert len(got) == 1
    for name in expected.__slots__:
        if name != "rebuild":  # how each rebuilds its TicketHistory objects
            assert getattr(got[0], name) == getattr(expected, name), name
    # and the histories built from the columns equal the object reader's
    assert columnar.histories == objects


@pytest.fixture
def store(tmp_path):
    from event_store import open_store

    with open_store(str(tmp_path / "s.db"), create=True) as s:
        yield s


def test_awkward_csv_equals_the_object_reader(tmp_path, store):
    path = tmp_path / "awkward.csv"
    path.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n", encoding="utf-8")
    columnar, objects = _columns(path)
    assert [h.ticket for h in objects] == ["T2", "T1", "T3"]
    _assert_same(columnar, objects, store)


def test_naive_times_with_a_zone_and_xes_lifecycle(tmp_path, store):
    path = tmp_path / "naive.csv"
    path.write_text("id,step,at,who,lc,case:priority\n"
                    "A,open,2024-10-27 01:30:00,x,complete,\n"
                    "A,work,2024-10-27 03:30:00.000001,y,assign,P1\n"
                    "B,open,2024-06-01 12:00:00,x,complete,P2\n", encoding="utf-8")
    mapping = ColumnMapping(case="id", activity="step", timestamp="at", resource="who", lifecycle="lc",
                            tz="Europe/Brussels")
    columnar, objects = _columns(path, mapping)
    assert objects[0].steps[1].attrs == {"lifecycle:transition": "assign"}
    _assert_same(columnar, objects, store)


def test_bom_semicolons_and_no_case_attributes(tmp_path, store):
    path = tmp_path / "semi.csv"
    path.write_bytes("\ufeffcase:concept:name;concept:name;time:timestamp\nZ;a;2024-01-01T00:00:00Z\n"
                     "Y;b;2024-01-01T00:00:01Z\nZ;c;2023-12-31T23:59:59Z\n".encode())
    columnar, objects = _columns(path)
    _assert_same(columnar, objects, store)


def test_refused_files_fall_back_to_the_object_reader(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\nA,x,2024-01-01T00:00:00Z,extra\n")
    assert read_csv_columns(str(path), lifecycle="auto", mapping=ColumnMapping()) is None
    with pytest.raises(Exception) as err:
        read_log(str(path))
    assert "line 2" in str(err.value)  # the object reader's own message


def test_uuid5_texts_equal_ticket_id():
    from event_store import ticket_id

    names = ["T-1", "受理-7", "", "x" * 300]
    assert uuid5_texts(names) == [str(ticket_id(n)) for n in names]
