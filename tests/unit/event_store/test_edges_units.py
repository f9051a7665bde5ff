"""Units of the edges: formula neutralisation, atomic files, input limits, failure words."""

from __future__ import annotations

import gzip
import os
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from event_store import ActivityRow, TicketHistory
from event_store.errors import (
    ConnectionLostError,
    InputLimitError,
    OutputExistsError,
    StorageError,
    StoreLockedError,
)
from event_store.persistence.failures import classify, storage_errors, translate
from event_store.io.files import FORMULA_TRIGGERS, atomic_path, neutralise, restore, write_text
from event_store.limits import InputLimits, LimitedReader, check_history, parse_size, use_limits

# -- formula neutralisation -------------------------------------------------------------------


@given(st.text())
def test_restore_undoes_neutralise(text):
    assert restore(neutralise(text)) == text


@given(st.text(min_size=1))
def test_neutralised_cells_never_start_a_formula(text):
    cell = neutralise(text)
    if cell[0] in FORMULA_TRIGGERS:
        float(cell)  # only plain numbers are left as they are


@pytest.mark.parametrize(("value", "written"), [
    ("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("'x", "''x"), ("-5", "-5"), ("+1.5e3", "+1.5e3"), ("-.5", "-.5"), ("-", "'-"),
    ("a=b", "a=b"), ("", ""),
])
def test_owasp_rule(value, written):
    assert neutralise(value) == written


# -- atomic files ----------------------------------------------------------------------------


def test_atomic_path_leaves_nothing_on_failure_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_path(str(target)) as tmp:
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []
    write_text(str(target), "first")
    with pytest.raises(OutputExistsError, match="--force"):
        write_text(str(target), "second")
    assert target.read_text() == "first"
    write_text(str(target), "second", force=True)
    assert target.read_text() == "second"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # a normal file, not mkstemp's 0600


# -- limits -------------------------------------------------------------------------------------


def test_parse_size():
    assert [parse_size(v) for v in ("4096", "64K", "4KiB", "10M", "4G", "1.5k")] == [
        4096, 65536, 4096, 10 << 20, 4 << 30, 1536]
    with pytest.raises(ValueError):
        parse_size("-1")


def _history(**kw):
    from datetime import UTC, datetime

    t = datetime(2024, 1, 1, tzinfo=UTC)
    step = ActivityRow(kw.get("activity", "a"), t, actor=kw.get("actor"), source_ref="f.csv:7",
                       attrs=kw.get("attrs", {}))
    return TicketHistory(kw.get("ticket", "T"), t, kw.get("case", {}), (step,), "f.csv:2")


def test_check_history_names_the_line_the_field_and_the_flag():
    limits = InputLimits(max_field_bytes=10, max_value_bytes=20)
    check_history(_history(activity="a" * 10, attrs={"k": "v" * 20}), limits)
    with pytest.raises(InputLimitError, match=r"f\.csv:7: the activity is 11 bytes.*--max-field-bytes"):
        check_history(_history(activity="a" * 11), limits)
    with pytest.raises(InputLimitError, match=r"f\.csv:7: attribute 'k' holds a value of 21 bytes"):
        check_history(_history(attrs={"k": "v" * 21}), limits)
    with pytest.raises(InputLimitError, match=r"f\.csv:2: attribute 'vip'"):
        check_history(_history(case={"vip": "é" * 11}), limits)  # 22 bytes in UTF-8
    with pytest.raises(InputLimitError, match="the ticket id"):
        check_history(_history(ticket="T" * 11), limits)


def test_use_limits_sets_them_for_the_block():
    from event_store.limits import current_limits

    default = current_limits()
    with use_limits(InputLimits(max_ratio=5)):
        assert current_limits().max_ratio == 5
    assert current_limits() == default


def test_limited_reader_stops_at_the_ratio_without_reading_on(tmp_path):
    path = tmp_path / "z.gz"
    with gzip.open(path, "wb") as fh:
        for _ in range(40):
            fh.write(bytes(1 << 20))
    limits = InputLimits(max_ratio=100)
    with LimitedReader(str(path), limits) as reader, pytest.raises(InputLimitError, match="100 times its size"):
        while reader.read(1 << 20):
            pass
    assert reader.total <= 17 << 20  # stopped one piece past the floor


# -- failures in words ---------------------------------------------------------------------------


def _sqlite_error(path: str, sql: str) -> sqlite3.Error:
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("no error")


def test_classify_sqlite_errors(tmp_path):
    db = tmp_path / "a.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        ro.execute("INSERT INTO t VALUES (1)")
    except sqlite3.Error as exc:
        assert classify(exc) == "readonly"
    locked = sqlite3.OperationalError("database is locked")
    assert classify(locked) == "locked"
    assert classify(ValueError("x")) is None
    wrapped = RuntimeError("library")
    wrapped.__cause__ = sqlite3.OperationalError("database or disk is full")
    assert classify(wrapped) == "full"


def test_translate_gives_one_paragraph_with_store_commit_and_advice():
    err = translate(sqlite3.OperationalError("attempt to write a readonly database"), "x.db", "Nothing was written.")
    assert isinstance(err, StorageError)
    text = str(err)
    assert text.startswith("store x.db: the store is read-only") and "Nothing was written." in text
    assert "To go on:" in text and "\n" not in text
    assert isinstance(translate(sqlite3.OperationalError("database is locked"), "x", ""), StoreLockedError)
    with pytest.raises(ConnectionLostError), storage_errors("pg", "1 batch"):
        import psycopg

        raise psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")


# -- streaming XES ------------------------------------------------------------------------------


def test_large_xes_is_parsed_as_a_stream_with_the_same_result(monkeypatch):
    from event_store.io import importing, xes_read
    from tests.datasets import HELPDESK, dataset_path

    path = str(dataset_path(*HELPDESK))
    whole = xes_read.read_xes(path, fast=False)  # lxml over the whole bytes
    monkeypatch.setattr(xes_read, "FAST_SCAN_MAX", 1 << 20)  # helpdesk inflates to 13.9 MB: streamed
    streamed = importing.read_log(path)
    assert streamed.rows == sum(len(h.steps) for h in whole)
    assert streamed.histories == whole
