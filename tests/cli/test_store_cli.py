"""The write-side commands: happy paths, and bad input refused clearly, store unchanged.

Every refusal exits with 3 (bad event log or store), names the file and line, the
ticket or the store, says what to do, and leaves the store exactly as it was
(event, chain, read-model counts and the chain head compared before and after).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time

import pytest

from event_store import open_store
from tests.datasets import RUNNING_EXAMPLE, dataset_path
from tests.integration.test_store_robustness import snapshot


@pytest.fixture
def filled(store_url, cli):
    """A store holding the running example (6 tickets, 42 events)."""
    result = cli("import", dataset_path(*RUNNING_EXAMPLE), "--store", store_url, "--quiet")
    assert result.exit_code == 0, result.output
    assert "6 new tickets, 42 new events" in result.stdout
    return store_url


def state(store_url):
    with open_store(store_url) as store:
        return snapshot(store)


def refused(cli, store_url, *args, match):
    before = state(store_url)
    result = cli(*args, "--store", store_url)
    assert result.exit_code == 3, result.output
    assert result.stdout == ""
    for part in match:
        assert part in result.stderr, result.stderr
    assert state(store_url) == before
    return result.stderr


def test_malformed_xml(filled, cli, tmp_path):
    path = tmp_path / "broken.xes"
    path.write_text('<?xml version="1.0"?>\n<log>\n<trace>\n<string key="concept:name" value="1"/>\n<event>\n'
                    '<string key="concept:name" value="a"/>\n</trace>\n</log>\n')
    refused(cli, filled, "import", path, match=["broken.xes:7: malformed XML", "mismatch", "fix or re-export"])


def test_truncated_gzip(filled, cli, tmp_path):
    data = dataset_path("helpdesk", "helpdesk_4580cases.xes.gz").read_bytes()
    path = tmp_path / "cut.xes.gz"
    path.write_bytes(data[: len(data) // 2])
    refused(cli, filled, "import", path, match=["cut.xes.gz: cannot read", "complete"])


def test_csv_missing_mapped_column(filled, cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,step,at\nA,Receive,2024-01-01T09:00:00+08:00\n")
    refused(cli, filled, "import", path, "--case-column", "id", "--activity-column", "step", "--timestamp-column",
            "at", "--case-attr", "channel=Channel",
            match=["t.csv: missing column 'Channel' mapped to ticket attribute 'channel'", "--case-attr"])
    refused(cli, filled, "import", path, "--case-column", "ticket",
            match=["t.csv: missing ticket id column 'ticket'", "columns are: id, step, at", "--case-column"])


def test_unparsable_timestamp_names_the_line(filled, cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\nA,Receive,2024-01-01T09:00:00+08:00\n"
                    "A,Record,2024-01-01T09:05:00+08:00\nA,Handle,yesterday noon\n")
    refused(cli, filled, "import", path, match=["t.csv: line 4: cannot read value 'yesterday noon'",
                                                 "--timestamp-format"])


def test_naive_timestamps_without_tz(filled, cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\nA,Receive,2024-01-01 09:00\n")
    refused(cli, filled, "import", path, match=["t.csv: times in column 'time:timestamp' have no time zone",
                                                 "'2024-01-01 09:00' on line 2", "--tz"])
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("case:concept:name,concept:name,time:timestamp\nA,Receive,2024-01-01T09:00+08:00\n"
                     "A,Record,2024-01-01T10:00\n")
    refused(cli, filled, "import", mixed, match=["mixed.csv: line 3: time '2024-01-01T10:00'", "--tz"])
    xes = tmp_path / "naive.xes"
    xes.write_text('<log>\n<trace>\n<string key="concept:name" value="1"/>\n<event>\n'
                   '<string key="concept:name" value="a"/>\n<date key="time:timestamp" value="2024-01-01T09:00:00"/>\n'
                   "</event>\n</trace>\n</log>\n")
    refused(cli, filled, "import", xes, match=["naive.xes:6: date '2024-01-01T09:00:00' has no time zone", "--tz"])


def test_naive_timestamps_with_tz_are_taken_in_that_zone(store_url, cli, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\nA,Receive,2024-01-01 09:00\n")
    assert cli("import", path, "--tz", "Asia/Shanghai", "--store", store_url, "--quiet").exit_code == 0
    out = json.loads(cli("stats", "--json", "--store", store_url).stdout)
    assert out["first_event"] == "2024-01-01T01:00:00+00:00"


def test_empty_files(filled, cli, tmp_path):
    for name in ("empty.xes", "empty.csv", "empty.parquet"):
        (tmp_path / name).write_bytes(b"")
        refused(cli, filled, "import", tmp_path / name, match=[f"{name} is empty: nothing to import"])
    (tmp_path / "header.csv").write_text("case:concept:name,concept:name,time:timestamp\n")
    refused(cli, filled, "import", tmp_path / "header.csv", match=["header.csv: no rows to import"])
    (tmp_path / "notraces.xes").write_text('<log xmlns="http://www.xes-standard.org/"></log>')
    refused(cli, filled, "import", tmp_path / "notraces.xes", match=["notraces.xes: no <trace> elements"])


def test_unknown_ticket_in_record(filled, cli):
    refused(cli, filled, "record", "NOPE-1", "Handle",
            match=["no ticket 'NOPE-1'", "csmine open NOPE-1"])
    refused(cli, filled, "correct", "3", "99", "activity=x", "--reason", "r",
            match=["ticket 3 has no recorded activity at version 99"])


def test_not_a_csmine_store(cli, tmp_path):
    source = dataset_path(*RUNNING_EXAMPLE)
    noise = tmp_path / "noise.db"
    noise.write_bytes(bytes(range(256)) * 4)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'x')")
    folder = tmp_path / "folder"
    folder.mkdir()
    cases = [(noise, "is not a csmine store (not an SQLite database)"),
             (other, "is an SQLite database but not a csmine store"),
             (folder, "is a directory: give a file such as")]
    for path, message in cases:
        before = path.read_bytes() if path.is_file() else None
        for args in (("import", source), ("stats",), ("record", "1", "x")):
            result = cli(*args, "--store", path)
            assert result.exit_code == 3, result.output
            assert message in result.stderr and "--store" in result.stderr or "directory" in message
        assert (path.read_bytes() if path.is_file() else None) == before
    missing = tmp_path / "missing.db"
    result = cli("stats", "--store", missing)
    assert result.exit_code == 3 and "run `csmine init --store" in result.stderr
    assert not missing.exists()  # reading never creates a store


def test_bad_postgres_urls_fail_fast(cli, pg_server):
    for url, message in (("postgresql://postgres@127.0.0.1:notaport/x", "cannot read store URL"),
                         ("postgresql://postgres@127.0.0.1:1/x", "cannot reach PostgreSQL store"),
                         (f"postgresql://postgres@127.0.0.1:{pg_server.port}/no_such_db", "cannot reach"),
                         ("mysql://localhost/x", "unknown store URL scheme 'mysql'")):
        started = time.monotonic()
        result = cli("stats", "--store", url)
        assert result.exit_code == 3, result.output
        assert message in result.stderr, result.stderr
        assert time.monotonic() - started < 10
    # A server that accepts the connection but never answers: the connect timeout ends it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = cli("stats", "--store", f"postgresql://postgres@127.0.0.1:{port}/x?connect_timeout=1")
        assert result.exit_code == 3 and "cannot reach" in result.stderr, result.output
        assert time.monotonic() - started < 8


def test_write_commands_round_trip(store_url, cli):
    store = ["--store", store_url]
    assert cli("init", *store).exit_code == 0
    assert cli("open", "CS-1", "--at", "2024-03-01T09:00+08:00", "--channel", "phone", "--emotion", "angry",
               "--attr", "vip=1", *store).stdout == "opened CS-1\n"
    assert cli("record", "CS-1", "Receive", "--at", "2024-03-01T09:02+08:00", "--by", "A1", *store).stdout == (
        "recorded CS-1 #1 Receive\n")
    assert cli("record", "CS-1", "处理", "--at", "2024-03-01T10:00+08:00", "--attr", "satisfaction=92",
               *store).stdout == "recorded CS-1 #2 处理\n"
    assert cli("correct", "CS-1", "1", "activity=Record", "--reason", "typo", *store).stdout == (
        "corrected CS-1 #1 (recorded as #3)\n")
    assert cli("retract", "CS-1", "2", "--reason", "dup", *store).stdout == "retracted CS-1 #2 (recorded as #4)\n"
    out = json.loads(cli("stats", "--json", *store).stdout)
    assert (out["tickets"], out["events"], out["activity_counts"]) == (1, 1, {"Record": 1})
    assert out["first_event"] == "2024-03-01T01:02:00+00:00"
    result = cli("open", "CS-1", *store)
    assert result.exit_code == 3 and "ticket 'CS-1' is already recorded" in result.stderr


def test_import_json_and_idempotent_rerun(store_url, cli):
    source = dataset_path(*RUNNING_EXAMPLE)
    first = json.loads(cli("import", source, "--json", "--store", store_url).stdout)
    again = json.loads(cli("import", source, "--json", "--store", store_url).stdout)
    assert first == {"tickets_seen": 6, "events_seen": 42, "tickets_added": 6, "events_added": 42,
                     "tickets_unchanged": 0, "tickets_case_changed": 0, "rows_collapsed": 0, "case_table": None}
    assert again == {"tickets_seen": 6, "events_seen": 42, "tickets_added": 0, "events_added": 0,
                     "tickets_unchanged": 6, "tickets_case_changed": 0, "rows_collapsed": 0, "case_table": None}
