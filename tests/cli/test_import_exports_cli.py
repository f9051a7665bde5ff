"""`csmine import` on messy real exports, through the CLI: dialects, refusals, repeats,
case tables and changed case attributes.

Every refusal exits with 3, prints no traceback, names the file (and line) and the
fix, and writes nothing: a fresh store is not even created, a filled one is unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from event_store import open_store
from tests.datasets import HELPDESK, dataset_path
from tests.integration.test_store_robustness import snapshot

CSMINE = str(Path(sys.executable).with_name("csmine"))

LATIN1 = ("Fall;Tätigkeit;Zeitpunkt;Kanal\n"
          "K1;Eröffnet;2024-03-01T09:00:00+01:00;Télefon\n"
          "K1;Geprüft;2024-03-01T09:30:00+01:00;\n"
          "K2;Eröffnet;2024-03-02T10:00:00+01:00;E-Mail\n")
MAPPING = ("--case-column", "Fall", "--activity-column", "Tätigkeit", "--timestamp-column", "Zeitpunkt",
           "--case-attr", "channel=Kanal")


def refused(cli, store, *args, match):
    """Exit 3, the message parts on stderr, no traceback, nothing written."""
    existed = Path(store).exists()
    before = None
    if existed:
        with open_store(store) as s:
            before = snapshot(s)
    result = cli(*args, "--store", store)
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    for part in match:
        assert part in result.stderr, result.stderr
    if existed:
        with open_store(store) as s:
            assert snapshot(s) == before
    else:
        assert not Path(store).exists()
    return result.stderr


def stats(cli, store):
    return json.loads(cli("stats", "--json", "--store", store).stdout)


# -- dialects ----------------------------------------------------------------------------


def test_semicolon_latin1_file(cli, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(LATIN1.encode("latin-1"))
    store = str(tmp_path / "s.db")
    # delimiter detected, encoding not given: the message names the encoding and the line
    refused(cli, store, "import", path, *MAPPING,
            match=["export.csv: line 1 is not valid UTF-8", "pass --encoding latin-1 (or cp1252)"])
    # a wrong --sep: the message names the delimiter the file looks like (encoding given or not)
    for extra in ((), ("--encoding", "latin-1")):
        refused(cli, store, "import", path, *MAPPING, "--sep", ",", *extra,
                match=["export.csv: line 1 splits into 1 column with --sep ','",
                       "the file looks ;-separated: pass --sep ';'"])
    result = cli("import", path, *MAPPING, "--sep", ";", "--encoding", "latin-1", "--store", store)
    assert result.exit_code == 0, result.output
    assert "2 new tickets, 3 new events" in result.stdout
    out = stats(cli, store)
    assert out["activity_counts"] == {"Eröffnet": 2, "Geprüft": 1}
    assert out["attribute_counts"]["channel"] == {"Télefon": 1, "E-Mail": 1}
    # the delimiter is also found without --sep
    again = cli("import", path, *MAPPING, "--encoding", "latin-1", "--store", store)
    assert again.exit_code == 0 and "0 new tickets, 0 new events" in again.stdout


def test_a_later_line_that_is_not_utf8_is_named(cli, tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(("case:concept:name,concept:name,time:timestamp\n" + "A,New,2024-01-01T09:00:00+00:00\n" * 3)
                     .encode() + "A,Réçu,2024-01-01T10:00:00+00:00\n".encode("cp1252"))
    refused(cli, str(tmp_path / "s.db"), "import", path,
            match=["late.csv: line 5 is not valid UTF-8 (byte 0xE9", "--encoding latin-1 (or cp1252)"])


@pytest.mark.parametrize(("name", "data"), [
    ("bom8.csv", b"\xef\xbb\xbf" + "case:concept:name;concept:name;time:timestamp\nA;Réçu;2024-01-01T09:00Z\n".encode()),
    ("bom16.csv", "\ufeffcase:concept:name|concept:name|time:timestamp\nA|Réçu|2024-01-01T09:00Z\n".encode("utf-16-le")),
    ("be16.csv", "\ufeffcase:concept:name\tconcept:name\ttime:timestamp\nA\tRéçu\t2024-01-01T09:00Z\n".encode("utf-16-be")),
    ("plain.tsv", "case:concept:name\tconcept:name\ttime:timestamp\nA\tRéçu\t2024-01-01T09:00Z\n".encode()),
])
def test_byte_order_marks_and_delimiters_are_detected(cli, tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    store = str(tmp_path / "s.db")
    result = cli("import", path, "--store", store)
    assert result.exit_code == 0, result.output
    assert stats(cli, store)["activity_counts"] == {"Réçu": 1}


def test_a_line_with_too_many_fields_is_named(cli, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\nA,New,2024-01-01T09:00Z\n"
                    "A,Call back, later,2024-01-01T10:00Z\n")
    refused(cli, str(tmp_path / "s.db"), "import", path,
            match=["bad.csv: line 3 has 4 fields, the header 3", "double quotes"])


def test_a_comma_at_the_end_of_every_line_is_named(cli, tmp_path):
    path = tmp_path / "tc.csv"
    path.write_text("ticket,status,at\nA,Open,2024-01-01 08:00:00,\n")
    refused(cli, str(tmp_path / "s.db"), "import", path, "--case-column", "ticket", "--activity-column", "status",
            "--timestamp-column", "at", "--tz", "UTC",
            match=["tc.csv: line 2 has 4 fields, the header 3: the line ends with ','",
                   "remove the ',' at the end of each line"])


# -- suspect input ---------------------------------------------------------------------------


@pytest.fixture
def filled(cli, tmp_path):
    store = str(tmp_path / "filled.db")
    path = tmp_path / "ok.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\nA,New,2024-01-01T09:00Z\n")
    assert cli("import", path, "--store", store, "-q").exit_code == 0
    return store


def test_duplicate_header_names_are_refused(cli, filled, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp,org:resource,concept:name\n"
                    "B,New,2024-01-01T09:00Z,a,Call\n")
    refused(cli, filled, "import", path,
            match=["dup.csv: line 1: column name 'concept:name' appears 2 times (columns 2 and 5)",
                   "'concept:name.1'"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_arrays([pa.array([v]) for v in ("B", "New", "2024-01-01T09:00Z", "x")],
                                        names=["case:concept:name", "concept:name", "time:timestamp",
                                               "concept:name"]), tmp_path / "dup.parquet")
    refused(cli, filled, "import", tmp_path / "dup.parquet",
            match=["dup.parquet: schema: column name 'concept:name' appears 2 times (columns 2 and 4)"])


def test_nul_bytes_are_refused(cli, filled, tmp_path):
    path = tmp_path / "nul.csv"
    path.write_bytes(b"case:concept:name,concept:name,time:timestamp,org:resource\n"
                     b"B,New,2024-01-01T09:00Z,a\nB,Close,2024-01-01T10:00Z,b\x00\x00\n")
    refused(cli, filled, "import", path, match=["nul.csv: line 3, column 'org:resource'", "NUL byte"])


F = ("--case-column", "ticket", "--activity-column", "status", "--timestamp-column", "at", "--tz", "UTC")


def test_a_named_column_the_file_lacks_is_refused(cli, filled, tmp_path):
    path = tmp_path / "base.csv"
    path.write_text("ticket,status,at\nA,Open,2024-01-01 08:00:00\nA,Closed,2024-01-01 09:00:00\n")
    refused(cli, filled, "import", path, *F, "--resource-column", "nosuchres", "--team-column", "nosuchteam",
            match=["base.csv: missing resource column 'nosuchres' (columns are: ticket, status, at;",
                   "--resource-column"])
    refused(cli, filled, "import", path, *F, "--team-column", "nosuchteam",
            match=["base.csv: missing team column 'nosuchteam'", "--team-column"])
    mapping = tmp_path / "ours.toml"
    mapping.write_text('[columns]\ncase = "ticket"\nactivity = "status"\ntimestamp = "at"\n'
                       'resource = "agent_name"\n\n[time]\nzone = "UTC"\n')
    refused(cli, filled, "import", path, "--mapping", mapping,
            match=["base.csv: missing resource column 'agent_name', which mapping 'ours.toml' reads"])
    ok = cli("import", path, *F, "--store", str(tmp_path / "s.db"), "-q")  # no actor named: none needed
    assert ok.exit_code == 0, ok.output


def test_bad_sep_is_a_usage_error(cli, tmp_path):
    result = cli("import", tmp_path / "x.csv", "--sep", ";;", "--store", str(tmp_path / "s.db"))
    assert result.exit_code == 2 and "give one character" in result.stderr


# -- collapse repeats ------------------------------------------------------------------------


def test_collapse_repeats(cli, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("case:concept:name,concept:name,time:timestamp\n"
                    "R,Active,2024-01-01T10:00Z\nR,New,2024-01-01T09:00Z\nR,New,2024-01-01T09:05Z\n"
                    "R,New,2024-01-01T09:10Z\nR,Active,2024-01-01T10:30Z\nR,New,2024-01-01T11:00Z\n")
    store = str(tmp_path / "s.db")
    result = cli("import", path, "--collapse-repeats", "--store", store)
    assert result.exit_code == 0, result.output
    assert "1 new tickets, 3 new events" in result.stdout
    assert "collapsed 3 repeated rows into their first" in result.stdout
    with open_store(store) as s:
        rows = s.db.query("SELECT activity, attrs FROM event_log ORDER BY version")
    assert [(a, json.loads(x) if x else {}) for a, x in rows] == [
        ("New", {"last_at": "2024-01-01T09:10:00+00:00", "repeats": 3}),
        ("Active", {"last_at": "2024-01-01T10:30:00+00:00", "repeats": 2}), ("New", {})]
    as_json = json.loads(cli("import", path, "--collapse-repeats", "--json", "--store", store).stdout)
    assert (as_json["rows_collapsed"], as_json["events_added"]) == (3, 0)


# -- case tables --------------------------------------------------------------------------------


def test_case_table_join_equals_a_pandas_merge(cli, tmp_path):
    events = pd.DataFrame({
        "case:concept:name": [f"C{i % 40}" for i in range(120)],
        "concept:name": ["Receive", "Handle", "Close"] * 40,
        "time:timestamp": [f"2024-01-{1 + i % 28:02d}T{8 + i % 9:02d}:00:00+00:00" for i in range(120)],
        "case:channel": ["web"] * 120,  # overridden by the case table where it has a value
    })
    events.to_csv(tmp_path / "events.csv", index=False)
    ids = [f"C{i}" for i in range(5, 50)]  # C0-C4 have no case row; C40-C49 have no events
    cases = pd.DataFrame({"ticket_id": ids,
                          "channel": [["phone", "email", "chat"][i % 3] for i in range(45)],
                          "case:segment": [["gold", "silver"][i % 2] for i in range(45)]})
    cases.loc[7, "channel"] = None  # an empty cell: the events file's value stays
    cases.to_parquet(tmp_path / "cases.parquet")
    store = str(tmp_path / "s.db")
    result = cli("import", tmp_path / "events.csv", "--case-table", tmp_path / "cases.parquet",
                 "--case-key", "ticket_id", "--store", store)
    assert result.exit_code == 0, result.output
    assert (f"case table {tmp_path / 'cases.parquet'}: 45 rows; 35 tickets matched, 5 tickets with events but no "
            f"row, 10 rows with no events in") in result.stdout
    # independent computation: one row per ticket, merged with the case table
    per_ticket = events.drop_duplicates("case:concept:name")[["case:concept:name", "case:channel"]]
    merged = per_ticket.merge(cases, left_on="case:concept:name", right_on="ticket_id", how="left")
    expected = merged["channel"].fillna(merged["case:channel"]).value_counts().to_dict()
    assert stats(cli, store)["attribute_counts"]["channel"] == expected
    with open_store(store) as s:
        segments = dict(s.db.query("SELECT ticket, json_extract(case_attrs, '$.segment') FROM tickets"))
    assert pd.Series(segments).dropna().value_counts().to_dict() == merged["case:segment"].value_counts().to_dict()


def test_case_table_duplicate_keys_refused(cli, tmp_path):
    (tmp_path / "e.csv").write_text("case:concept:name,concept:name,time:timestamp\nT1,New,2024-01-01T09:00Z\n")
    (tmp_path / "c.csv").write_text("case:concept:name,priority\nT1,P1\nT2,P2\nT1,P3\n")
    refused(cli, str(tmp_path / "s.db"), "import", tmp_path / "e.csv", "--case-table", tmp_path / "c.csv",
            match=["case table c.csv: ticket 'T1' has 2 rows (lines 2 and 4): keep one row per ticket"])
    (tmp_path / "semi.csv").write_text("case:concept:name;priority\nT1;P1\n")
    result = cli("import", tmp_path / "e.csv", "--case-table", tmp_path / "semi.csv", "--case-sep", ",",
                 "--store", str(tmp_path / "s.db"))
    assert result.exit_code == 3 and "pass --case-sep ';'" in result.stderr


# -- changed case attributes on re-import ------------------------------------------------------


def test_reimport_records_changed_case_attributes(cli, tmp_path):
    store = str(tmp_path / "s.db")
    (tmp_path / "e.csv").write_text("case:concept:name,concept:name,time:timestamp,case:channel\n"
                                    "A,New,2024-01-01T09:00Z,phone\nB,New,2024-01-02T09:00Z,phone\n"
                                    "C,New,2024-01-03T09:00Z,email\n")
    (tmp_path / "c1.csv").write_text("case:concept:name,priority\nA,P1\nB,P2\nC,P2\n")
    (tmp_path / "c2.csv").write_text("case:concept:name,priority,channel\nA,P1,phone\nB,P1,chat\nC,P3,chat\n")
    args = ("import", tmp_path / "e.csv", "--store", store)
    first = cli(*args)
    assert first.exit_code == 0 and "case attributes changed" not in first.stdout
    second = cli(*args, "--case-table", tmp_path / "c1.csv")  # priority is new on all 3
    assert "0 new tickets, 0 new events" in second.stdout
    assert "case attributes changed on 3 tickets" in second.stdout
    third = cli(*args, "--case-table", tmp_path / "c2.csv")  # A unchanged; B and C changed
    assert "case attributes changed on 2 tickets" in third.stdout
    fourth = json.loads(cli(*args, "--case-table", tmp_path / "c2.csv", "--json").stdout)
    assert (fourth["tickets_case_changed"], fourth["tickets_unchanged"], fourth["events_added"]) == (0, 3, 0)
    assert fourth["case_table"]["matched"] == 3
    out = stats(cli, store)
    assert (out["tickets"], out["events"]) == (3, 3)
    assert out["attribute_counts"]["priority"] == {"P1": 2, "P3": 1}
    assert out["attribute_counts"]["channel"] == {"chat": 2, "phone": 1}
    with open_store(store) as s:
        assert s.db.query("SELECT ticket, channel, priority FROM tickets ORDER BY ticket") == [
            ("A", "phone", "P1"), ("B", "chat", "P1"), ("C", "chat", "P3")]
        assert s.db.query("SELECT ticket, channel, priority FROM event_log ORDER BY ticket") == [
            ("A", "phone", "P1"), ("B", "chat", "P1"), ("C", "chat", "P3")]
        table = s.recorder.events_table_name
        assert s.db.query(f"SELECT COUNT(*) FROM {table}")[0][0] == 3 + 3 + 3 + 2  # opened, steps, changes
    verify = cli("verify", "--store", store)
    assert verify.exit_code == 0, verify.output


# -- the shuffled Helpdesk log ------------------------------------------------------------------


@pytest.mark.slow
def test_shuffled_helpdesk_gives_the_same_stats_and_kpis(tmp_path):
    import pm4py

    df = pm4py.read_xes(str(dataset_path(*HELPDESK)))[
        ["case:concept:name", "concept:name", "time:timestamp", "org:resource"]]
    df.to_csv(tmp_path / "sorted.csv", index=False)
    df.sample(frac=1, random_state=7).to_csv(tmp_path / "shuffled.csv", index=False)
    outputs = {}
    for name in ("sorted", "shuffled"):
        store = str(tmp_path / f"{name}.db")
        subprocess.run([CSMINE, "import", str(tmp_path / f"{name}.csv"), "--store", store, "-q"], check=True,
                       capture_output=True)
        for command in ("stats", "kpi"):
            run = subprocess.run([CSMINE, command, "--json", "--store", store], capture_output=True, text=True,
                                 check=True)
            data = json.loads(run.stdout)
            for key in ("store", "generated_at", "source"):
                data.pop(key, None)
            outputs[name, command] = data
    assert outputs["sorted", "stats"] == outputs["shuffled", "stats"]
    assert outputs["sorted", "kpi"] == outputs["shuffled", "kpi"]
    assert (outputs["sorted", "stats"]["tickets"], outputs["sorted", "stats"]["events"]) == (4580, 21348)


def test_an_order_column_is_named_with_the_tie_order_that_keeps_it(cli, tmp_path):
    # minute times tie; the order column (as ServiceNow's sys_mod_count) put them in the store
    csv = tmp_path / "mods.csv"
    csv.write_text("id,state,at,n\nA,New,2024-01-01 08:00,1\nA,Resolved,2024-01-01 08:00,3\n"
                   "A,Active,2024-01-01 08:00,2\n", encoding="utf-8")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\ncase = "id"\nactivity = "state"\ntimestamp = "at"\norder = "n"\n'
                       '[time]\nzone = "UTC"\n', encoding="utf-8")
    db = str(tmp_path / "s.db")
    result = cli("import", str(csv), "--mapping", str(mapping), "--store", db)
    assert result.exit_code == 0, result.output
    assert "stored in n order; analyse with --tie-order file" in result.stdout
    kept = cli("trace", "A", "--tie-order", "file", "--json", "--store", db)
    assert [s["activity"] for s in json.loads(kept.stdout)["steps"]] == ["New", "Active", "Resolved"]
