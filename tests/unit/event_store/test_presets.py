"""Presets and mapping files: each vendor fixture read exactly as worked out by hand.

The fixtures in tests/data/presets are hand-written from the vendors' documented
export shapes (ServiceNow's incident table and sys_audit columns, Zendesk's Ticket
Audits API, Jira's search result with expand=changelog), a few tickets each. For
each: the tickets, steps, teams, actors and case attributes below were worked out
by hand from the file; a shuffled copy (rows, audits, issues, histories) gives the
same tickets; a file that lacks a field the preset reads names the field and the
preset; a file of another API shape says which shape was expected.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import io
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from event_store.io import json_stream
from event_store.errors import ImportFormatError
from event_store.io.importing import read_log
from event_store.io.mapping import (
    ImportMapping,
    list_presets,
    load_preset,
    parse_mapping,
    read_mapping,
    with_flags,
)
from event_store.io.json_stream import JsonStream
from event_store.io.mapping_dump import dump_mapping
from event_store.io.vendors import read_source

DATA = Path(__file__).resolve().parents[2] / "data" / "presets"


def canon(histories):
    """Tickets as comparable data: everything but where each row sat in the file."""
    return sorted(
        (h.ticket, h.opened_at, tuple(sorted(h.case.items())),
         tuple((s.activity, s.occurred_at, s.actor, s.team, s.started_at, tuple(sorted(s.attrs.items())))
               for s in h.steps))
        for h in histories
    )


def steps_of(history):
    return [(s.activity, s.occurred_at.isoformat(), s.actor, s.team) for s in history.steps]


def by_ticket(read):
    return {h.ticket: h for h in read.histories}


# -- the presets -------------------------------------------------------------------------------


def test_the_shipped_presets_are_listed_and_read_back_from_their_own_dump():
    names = [n for n, _ in list_presets()]
    assert names == ["jira", "servicenow", "servicenow-audit", "status-log", "xes-lifecycle", "zendesk"]
    for name in names:
        preset = load_preset(name)
        assert preset.name == name and preset.description
        again = parse_mapping(dump_mapping(preset))
        assert again == preset, name


def test_an_unknown_preset_lists_the_presets():
    with pytest.raises(ImportFormatError, match=r"unknown preset 'zendsk': the presets are jira, servicenow"):
        load_preset("zendsk")


# -- ServiceNow incident table -----------------------------------------------------------------


def test_servicenow_incident_table_as_worked_out_by_hand():
    read = read_source(str(DATA / "servicenow_incidents.csv"), load_preset("servicenow"))
    assert (read.rows, read.rows_collapsed, read.rows_dropped, read.closed) == (13, 2, 0, 2)
    t = by_ticket(read)
    assert list(t) == ["INC0000045", "INC0000047", "INC0000050"]  # order of first appearance
    inc45 = t["INC0000045"]
    assert steps_of(inc45) == [
        ("New", "2016-02-29T01:16:00+00:00", "Created 6", "Group 56"),
        ("Active", "2016-02-29T01:23:00+00:00", "Resolver 149", "Group 56"),  # and 08:53, collapsed
        ("Resolved", "2016-02-29T11:29:00+00:00", "Resolver 149", "Group 56"),
        ("Closed", "2016-03-05T12:00:00+00:00", "Updated 908", "Group 56"),
    ]
    assert inc45.steps[1].attrs == {"active": "true", "sys_mod_count": "1", "assigned_to": "Resolver 149",
                                    "last_at": "2016-02-29T08:53:00+00:00", "repeats": 2}
    assert inc45.steps[0].attrs == {"active": "true", "sys_mod_count": "0"}  # assigned_to '?' is no value
    assert inc45.case == {"priority": "3 - Moderate", "channel": "Phone", "category": "Category 55",
                          "team": "Group 56"}
    inc47 = t["INC0000047"]
    # two updates in the same minute, in the file the other way round: sys_mod_count orders them
    assert steps_of(inc47) == [
        ("New", "2016-02-29T04:40:00+00:00", "Created 171", "Group 70"),
        ("Active", "2016-02-29T04:57:00+00:00", "Resolver 89", "Group 70"),
        ("Awaiting User Info", "2016-02-29T04:57:00+00:00", "Resolver 89", "Group 70"),
        ("Active", "2016-03-01T09:52:00+00:00", "Resolver 89", "Group 24"),
        ("Resolved", "2016-03-01T10:00:00+00:00", "Resolver 31", "Group 24"),
    ]
    assert inc47.case["priority"] == "3 - Moderate"  # the earliest row's, not the later "2 - High"
    inc50 = t["INC0000050"]
    assert steps_of(inc50) == [
        ("New", "2016-03-02T14:01:00+00:00", "Created 8", None),  # assignment_group '?'
        ("Active", "2016-03-02T14:30:00+00:00", "Resolver 12", "Group 25"),
    ]
    assert inc50.case["team"] == "Group 25"  # the earliest step with a team
    assert inc50.opened_at == datetime(2016, 3, 2, 14, 1, tzinfo=UTC)


def _shuffled_csv(path: Path, tmp_path: Path, seed: int = 3) -> Path:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    body = lines[1:]
    random.Random(seed).shuffle(body)
    out = tmp_path / f"shuffled-{path.name}"
    out.write_text(lines[0] + "".join(body), encoding="utf-8")
    return out


@pytest.mark.parametrize(("fixture", "preset"), [("servicenow_incidents.csv", "servicenow"),
                                                 ("servicenow_sys_audit.csv", "servicenow-audit")])
def test_servicenow_csv_shuffled_gives_the_same_tickets(tmp_path, fixture, preset):
    mapping = load_preset(preset)
    original = read_source(str(DATA / fixture), mapping)
    for seed in (1, 2, 3):
        shuffled = read_source(str(_shuffled_csv(DATA / fixture, tmp_path, seed)), mapping)
        assert canon(shuffled.histories) == canon(original.histories)


def test_servicenow_table_without_a_column_names_it_and_the_preset(tmp_path):
    text = (DATA / "servicenow_incidents.csv").read_text(encoding="utf-8").replace("incident_state", "state", 1)
    path = tmp_path / "incidents.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFormatError) as err:
        read_source(str(path), load_preset("servicenow"))
    message = str(err.value)
    assert "missing activity column 'incident_state'" in message and "preset 'servicenow'" in message
    assert "--activity-column" in message


@pytest.mark.parametrize(("column", "words"), [
    ("sys_updated_by", "missing resource column 'sys_updated_by'"),
    ("assignment_group", "missing team column 'assignment_group'"),
    ("sys_mod_count", "missing order column 'sys_mod_count'"),
])
def test_servicenow_table_without_an_actor_team_or_order_column_is_refused(tmp_path, column, words):
    text = (DATA / "servicenow_incidents.csv").read_text(encoding="utf-8").replace(column, "other", 1)
    path = tmp_path / "incidents.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFormatError) as err:
        read_source(str(path), load_preset("servicenow"))
    message = str(err.value)
    assert f"incidents.csv: {words}, which preset 'servicenow' reads (the file's columns: number, " in message


def test_a_mapping_naming_a_column_the_file_lacks_is_refused(tmp_path):
    path = tmp_path / "base.csv"
    path.write_text("ticket,status,at\nA,Open,2024-01-01 08:00:00\n", encoding="utf-8")
    mapping = tmp_path / "ours.toml"
    mapping.write_text('[columns]\ncase = "ticket"\nactivity = "status"\ntimestamp = "at"\n'
                       'resource = "agent_name"\n\n[time]\nzone = "UTC"\n', encoding="utf-8")
    with pytest.raises(ImportFormatError) as err:
        read_source(str(path), read_mapping(str(mapping)))
    assert ("base.csv: missing resource column 'agent_name', which mapping 'ours.toml' reads (the file's "
            "columns: ticket, status, at)") in str(err.value)
    # a mapping that names no actor reads the default column when there is one, as the flags do
    mapping.write_text(mapping.read_text(encoding="utf-8").replace('resource = "agent_name"\n', ""), encoding="utf-8")
    assert read_source(str(path), read_mapping(str(mapping))).rows == 1


def test_status_log_reads_its_actor_and_team_only_when_the_file_has_them(tmp_path):
    text = (DATA / "status_log.csv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "bare.csv"
    path.write_text("\n".join(",".join(line.split(",")[:3]) for line in text) + "\n", encoding="utf-8")
    read = read_source(str(path), load_preset("status-log"))
    assert read.rows == 7 and all(s.actor is None and s.team is None for h in read.histories for s in h.steps)
    with pytest.raises(ImportFormatError, match=r"missing resource column 'org:resource', which preset 'status-log'"):
        read_source(str(path), with_flags(load_preset("status-log"), resource="org:resource"))


def test_a_printed_mapping_names_only_the_columns_that_were_named():
    text = dump_mapping(with_flags(ImportMapping(), case="id", resource="agent"))
    assert 'resource = "agent"' in text and '# team = "org:group"' in text and '\nteam =' not in text
    assert parse_mapping(text) == with_flags(ImportMapping(), case="id", resource="agent")


# -- ServiceNow sys_audit ----------------------------------------------------------------------


SYS_A = "9d385017c611228701d22104cc95c371"
SYS_B = "e8caedcbc0a80164017df472f39eaed1"
GROUP_1, GROUP_2 = "8a4dde73c6112278017a6a4baf547aa7", "287ebd7da9fe198100f92cc8d1d2154e"


def test_servicenow_sys_audit_as_worked_out_by_hand():
    read = read_source(str(DATA / "servicenow_sys_audit.csv"), load_preset("servicenow-audit"))
    # 21 rows: 8 state changes are steps; the other 12 incident fields and the sys_user row are not
    assert (read.rows, read.rows_collapsed, read.rows_dropped, read.closed) == (21, 0, 13, 1)
    t = by_ticket(read)
    assert list(t) == [SYS_A, SYS_B]
    assert steps_of(t[SYS_A]) == [
        ("New", "2024-03-04T08:00:00+00:00", "abel.tuter", GROUP_1),
        ("In Progress", "2024-03-04T08:20:00+00:00", "beth.anglin", GROUP_1),
        ("On Hold", "2024-03-04T10:05:00+00:00", "beth.anglin", GROUP_1),
        # two updates in the same second: record_checkpoint 3, then 4 (which changed the group first)
        ("In Progress", "2024-03-05T09:00:00+00:00", "abel.tuter", GROUP_1),
        ("Resolved", "2024-03-05T09:00:00+00:00", "beth.anglin", GROUP_2),
        ("Closed", "2024-03-08T09:00:01+00:00", "system", GROUP_2),
    ]
    assert t[SYS_A].steps[0].attrs == {}
    assert t[SYS_A].steps[1].attrs == {"assigned_to": "46d44a23a9fe19810012d100cca80666"}
    # the earliest values: priority 3 (later changed to 2), from the insert rows
    assert t[SYS_A].case == {"priority": "3", "category": "inquiry", "channel": "phone", "team": GROUP_1}
    assert steps_of(t[SYS_B]) == [
        ("New", "2024-03-06T13:00:00+00:00", "don.goodliffe", "d625dccec0a8016700a222a0f7900d06"),
        ("In Progress", "2024-03-06T13:05:00+00:00", "don.goodliffe", "d625dccec0a8016700a222a0f7900d06"),
    ]
    assert t[SYS_B].case["priority"] == "1"


def test_servicenow_sys_audit_from_the_table_api_json_gives_the_same_tickets(tmp_path):
    import csv

    with open(DATA / "servicenow_sys_audit.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(5).shuffle(rows)
    path = tmp_path / "sys_audit.json"
    path.write_text(json.dumps({"result": rows}), encoding="utf-8")
    mapping = load_preset("servicenow-audit")
    assert canon(read_source(str(path), mapping).histories) == \
        canon(read_source(str(DATA / "servicenow_sys_audit.csv"), mapping).histories)


def test_servicenow_sys_audit_without_newvalue_names_it_and_the_preset(tmp_path):
    text = (DATA / "servicenow_sys_audit.csv").read_text(encoding="utf-8").replace(",newvalue,", ",new_value,", 1)
    path = tmp_path / "sys_audit.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"missing field 'newvalue'.*which preset 'servicenow-audit' reads"):
        read_source(str(path), load_preset("servicenow-audit"))


# -- Zendesk ----------------------------------------------------------------------------------


def test_zendesk_audits_as_worked_out_by_hand():
    read = read_source(str(DATA / "zendesk_audits.json"), load_preset("zendesk"))
    # 25 Create/Change events: 11 status events are steps, 14 other fields are not; and of
    # the 6 comments, 5 are public: 2 are descriptions (the requester's, in the ticket's
    # first audit), 3 replies are steps; the private note at 35440 07:40 is not
    assert (read.rows, read.rows_collapsed, read.rows_dropped, read.closed) == (28, 0, 14, 2)
    t = by_ticket(read)
    assert list(t) == ["35436", "35437", "35440"]  # first appearance in the file
    assert steps_of(t["35436"]) == [
        ("new", "2024-05-06T09:00:00+00:00", "20978392", None),
        # the agent's public comment in the audit that opens the ticket: the first reply
        ("Agent reply", "2024-05-06T09:12:00+00:00", "235323", "360000123"),
        ("open", "2024-05-06T09:12:00+00:00", "235323", "360000123"),  # group set in the same audit
        ("Agent reply", "2024-05-06T15:30:00+00:00", "235323", "360000123"),
        ("pending", "2024-05-06T15:30:00+00:00", "235323", "360000123"),
        ("Customer reply", "2024-05-07T08:05:00+00:00", "20978392", "360000123"),  # the requester answers
        ("open", "2024-05-07T08:05:00+00:00", "20978392", "360000123"),
        ("solved", "2024-05-07T10:00:00+00:00", "235323", "360000123"),
        ("closed", "2024-05-11T10:00:00+00:00", None, "360000123"),  # author -1: the system
    ]
    assert [s.attrs for s in t["35436"].steps][::4] == [
        {"priority": "normal"}, {"assignee_id": "235323", "priority": "normal"},
        {"assignee_id": "235323", "priority": "high"}]
    assert t["35436"].case == {"priority": "normal", "channel": "web", "category": "question", "team": "360000123"}
    assert t["35436"].steps[2].source_ref == "zendesk_audits.json:32 audit 2127301200"
    # two audits in the same second: the audit ids order them
    assert steps_of(t["35437"]) == [
        ("new", "2024-05-06T11:00:00+00:00", "20978400", "360000456"),
        ("open", "2024-05-06T11:00:00+00:00", "235324", "360000456"),
        ("solved", "2024-05-06T11:45:00+00:00", "235324", "360000456"),
    ]
    assert t["35437"].case["channel"] == "email"
    assert steps_of(t["35440"]) == [
        ("new", "2024-05-08T07:00:00+00:00", "20978411", None),
        ("open", "2024-05-08T07:30:00+00:00", "235323", "360000123"),
    ]


def _audits() -> dict:
    return json.loads((DATA / "zendesk_audits.json").read_text(encoding="utf-8"))


def test_zendesk_audits_shuffled_as_pages_ndjson_or_gzip_give_the_same_tickets(tmp_path):
    mapping = load_preset("zendesk")
    want = canon(read_source(str(DATA / "zendesk_audits.json"), mapping).histories)
    page = _audits()
    shapes = {}
    for seed in (1, 2):
        audits = copy.deepcopy(page["audits"])
        random.Random(seed).shuffle(audits)
        shapes[f"page{seed}.json"] = json.dumps({**page, "audits": audits}, indent=2)
        shapes[f"audits{seed}.ndjson"] = "\n".join(json.dumps(a) for a in audits) + "\n"
        half = len(audits) // 2
        pages = [{"audits": audits[:half], "next_page": "https://x/2"}, {"audits": audits[half:], "next_page": None}]
        shapes[f"pages{seed}.json"] = json.dumps(pages[0]) + "\n" + json.dumps(pages[1])  # concatenated
        shapes[f"array{seed}.json"] = json.dumps(pages)  # pages in an array
        shapes[f"bare{seed}.json"] = json.dumps(audits)  # an array of audits
    for name, text in shapes.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert canon(read_source(str(path), mapping).histories) == want, name
    gz = tmp_path / "audits.ndjson.gz"
    gz.write_bytes(gzip.compress(shapes["audits1.ndjson"].encode()))
    assert canon(read_source(str(gz), mapping).histories) == want


def test_zendesk_incremental_ticket_events_are_streamed_from_their_container():
    text = json.dumps({"ticket_events": [
        {"id": 901, "ticket_id": 7, "timestamp": 1714986000, "created_at": "2024-05-06T09:00:00Z", "updater_id": 11,
         "via": "Web form", "event_type": "Audit",
         "child_events": [{"id": 902, "via": "Web form", "via_reference_id": None, "status": "new",
                           "event_type": "Create"},
                          {"id": 903, "via": "Web form", "via_reference_id": None, "comment_present": True,
                           "comment_public": True, "event_type": "Comment"}]},
        {"id": 910, "ticket_id": 7, "timestamp": 1714986600, "created_at": "2024-05-06T09:10:00Z", "updater_id": 12,
         "via": "Web form", "event_type": "Audit",
         "child_events": [{"id": 911, "via": "Web form", "via_reference_id": None, "group_id": 360000123,
                           "previous_value": None, "event_type": "Change"},
                          {"id": 912, "via": "Web form", "via_reference_id": None, "status": "open",
                           "previous_value": "new", "event_type": "Change"}]},
    ], "next_page": None, "count": 2, "end_of_stream": True, "end_time": 1714986600})
    stream = io.BytesIO(text.encode())
    got = list(JsonStream(stream.read, "events.json").items(("ticket_events",)))
    assert [c for c, _i, _l in got] == ["ticket_events", "ticket_events"]


def test_zendesk_incremental_ticket_events_become_steps(tmp_path):
    path = tmp_path / "events.ndjson"
    lines = [
        {"id": 901, "ticket_id": 7, "created_at": "2024-05-06T09:00:00Z", "updater_id": 11, "via": "Web form",
         "event_type": "Audit", "child_events": [{"id": 902, "status": "new", "event_type": "Create"},
                                                 {"id": 903, "comment_present": True, "event_type": "Comment"}]},
        {"id": 910, "ticket_id": 7, "created_at": "2024-05-06T09:10:00Z", "updater_id": 12, "via": "Web form",
         "event_type": "Audit",
         "child_events": [{"id": 911, "group_id": 360000123, "previous_value": None, "event_type": "Change"},
                          {"id": 912, "status": "open", "previous_value": "new", "event_type": "Change"}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    [ticket] = read_source(str(path), load_preset("zendesk")).histories
    assert steps_of(ticket) == [("new", "2024-05-06T09:00:00+00:00", "11", None),
                                ("open", "2024-05-06T09:10:00+00:00", "12", "360000123")]
    assert ticket.case == {"channel": "Web form", "team": "360000123"}


def test_zendesk_audit_without_created_at_names_it_and_the_preset(tmp_path):
    page = _audits()
    del page["audits"][3]["created_at"]
    path = tmp_path / "audits.json"
    path.write_text(json.dumps(page, indent=1), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"audits\.json:\d+: an audit without 'created_at', which preset "
                                                r"'zendesk' reads"):
        read_source(str(path), load_preset("zendesk"))


# -- Jira -----------------------------------------------------------------------------------------


CEST = timezone(timedelta(hours=2))


def test_jira_changelog_as_worked_out_by_hand():
    read = read_source(str(DATA / "jira_search_changelog.json"), load_preset("jira"))
    assert (read.rows, read.rows_collapsed, read.rows_dropped, read.closed, read.notes) == (21, 0, 11, 2, ())
    t = by_ticket(read)
    assert list(t) == ["SUP-101", "SUP-102", "SUP-103"]
    mia, jon = "5b10ac8d82e05b22cc7d4ef5", "5b10a2844c20165700ede21g"
    # the first status (the first change's fromString) at creation, by the reporter; histories out of order
    assert steps_of(t["SUP-101"]) == [
        ("Open", "2024-06-03T09:15:00+02:00", jon, None),
        ("In Progress", "2024-06-03T09:40:12.345000+02:00", mia, None),
        ("Waiting for customer", "2024-06-03T11:02:00+02:00", mia, None),
        ("In Progress", "2024-06-04T08:30:00+02:00", jon, None),
        ("Resolved", "2024-06-04T10:00:00+02:00", mia, None),
        ("Done", "2024-06-06T10:00:00+02:00", "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", None),
    ]
    assert t["SUP-101"].opened_at == datetime(2024, 6, 3, 9, 15, tzinfo=CEST)
    assert [s.attrs for s in t["SUP-101"].steps[:2]] == [{}, {"assignee": "Mia Krystof"}]
    # priority before its first change (Medium), not today's High
    assert t["SUP-101"].case == {"priority": "Medium", "category": "Incident"}
    assert t["SUP-101"].steps[1].source_ref == "jira_search_changelog.json:7 history 10401"
    # no status change: one step, the status it has
    assert steps_of(t["SUP-102"]) == [("Open", "2024-06-05T14:00:00+00:00", "5b10a2844c20165700ede21h", None)]
    assert t["SUP-102"].case == {"priority": "Low", "category": "Service request"}
    assert [s.activity for s in t["SUP-103"].steps] == ["Open", "In Progress", "Closed"]


def _jira() -> dict:
    return json.loads((DATA / "jira_search_changelog.json").read_text(encoding="utf-8"))


def test_jira_shuffled_and_one_issue_per_line_give_the_same_tickets(tmp_path):
    mapping = load_preset("jira")
    want = canon(read_source(str(DATA / "jira_search_changelog.json"), mapping).histories)
    for seed in (1, 2, 3):
        page = _jira()
        rng = random.Random(seed)
        rng.shuffle(page["issues"])
        for issue in page["issues"]:
            rng.shuffle(issue["changelog"]["histories"])
        path = tmp_path / f"search{seed}.json"
        path.write_text(json.dumps(page), encoding="utf-8")
        assert canon(read_source(str(path), mapping).histories) == want
        lines = tmp_path / f"issues{seed}.ndjson"
        lines.write_text("\n".join(json.dumps(i) for i in page["issues"]), encoding="utf-8")
        assert canon(read_source(str(lines), mapping).histories) == want


def test_jira_truncated_changelog_is_reported(tmp_path):
    page = _jira()
    page["issues"][0]["changelog"]["total"] = 140
    path = tmp_path / "search.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    read = read_source(str(path), load_preset("jira"))
    assert read.notes and "1 issue with a truncated changelog" in read.notes[0]


def test_jira_without_the_changelog_says_expand_changelog(tmp_path):
    page = _jira()
    del page["issues"][1]["changelog"]
    path = tmp_path / "search.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"issue SUP-102 has no changelog.histories: run the search with "
                                                r"expand=changelog \(preset 'jira' reads"):
        read_source(str(path), load_preset("jira"))


def test_jira_issue_without_created_names_it(tmp_path):
    page = _jira()
    del page["issues"][2]["fields"]["created"]
    path = tmp_path / "search.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"issue SUP-103's fields without 'created', which preset 'jira'"):
        read_source(str(path), load_preset("jira"))


# -- the wrong shape -------------------------------------------------------------------------------


def test_a_jira_file_read_as_zendesk_says_which_shape_was_expected():
    with pytest.raises(ImportFormatError) as err:
        read_source(str(DATA / "jira_search_changelog.json"), load_preset("zendesk"))
    message = str(err.value)
    assert "not the shape preset 'zendesk' reads: expected the Zendesk Ticket Audits API's JSON" in message
    assert "(its keys: expand, startAt, maxResults, total, issues)" in message
    assert "it looks like a Jira search result (--preset jira)" in message


def test_a_zendesk_file_read_as_jira_says_which_shape_was_expected():
    with pytest.raises(ImportFormatError) as err:
        read_source(str(DATA / "zendesk_audits.json"), load_preset("jira"))
    message = str(err.value)
    assert "not the shape preset 'jira' reads: expected a Jira search result with the changelog" in message
    assert "it looks like Zendesk ticket audits (--preset zendesk)" in message


def test_a_csv_read_as_zendesk_is_not_json(tmp_path):
    with pytest.raises(ImportFormatError, match=r"line 1: not valid JSON"):
        read_source(str(DATA / "servicenow_incidents.csv"), load_preset("zendesk"))


def test_broken_json_names_its_line_without_reading_on(tmp_path):
    text = (DATA / "zendesk_audits.json").read_text(encoding="utf-8")
    text = text.replace('"ticket_id": 35437,', '"ticket_id" 35437,', 1)
    path = tmp_path / "audits.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"audits\.json: line 25: not valid JSON \(Expecting ':' delimiter\)"):
        read_source(str(path), load_preset("zendesk"))


def test_a_json_export_without_a_preset_asks_for_one():
    from event_store.io.vendors import _detect

    with pytest.raises(ImportFormatError, match=r"--preset zendesk, --preset jira or --preset servicenow-audit"):
        _detect(str(DATA / "zendesk_audits.json"))


# -- streaming -------------------------------------------------------------------------------------


def test_json_is_streamed_one_object_at_a_time(monkeypatch):
    monkeypatch.setattr(json_stream, "_CHUNK", 512)
    audit = _audits()["audits"][1]
    audits = []
    for i in range(3000):
        a = copy.deepcopy(audit)
        a["id"], a["ticket_id"] = 10_000 + i, 1_000 + i // 3
        audits.append(a)
    data = json.dumps({"audits": audits, "count": len(audits)}).encode()
    biggest = max(len(json.dumps(a)) for a in audits)
    stream = JsonStream(io.BytesIO(data).read, "big.json")
    most = 0
    seen = []
    for _c, item, _line in stream.items(("audits",)):
        seen.append(item["id"])
        most = max(most, len(stream.buf))
    assert seen == [a["id"] for a in audits]
    assert len(data) > 2_000_000 and most < 2 * 512 + 4 * biggest  # never more than about one object


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_numbers_and_literals_across_chunk_boundaries(monkeypatch, chunk):
    monkeypatch.setattr(json_stream, "_CHUNK", chunk)
    items = [{"a": 12345678901234567890, "b": -0.125e-3, "c": True, "d": None, "e": "x\u00e9\"y", "f": [1, 22, 333]},
             12345, "text", 1.5, False]
    text = "\n".join(json.dumps(i) for i in items) + " "
    got = [i for _c, i, _l in JsonStream(io.BytesIO(text.encode()).read, "n.json").items(())]
    assert got == items


def test_a_byte_order_mark_and_lines_are_honoured():
    text = b"\xef\xbb\xbf" + b'{"k": 1}\n\n{"k": 2}\n'
    got = [(i, line) for _c, i, line in JsonStream(io.BytesIO(text).read, "bom.json").items(())]
    assert got == [({"k": 1}, 1), ({"k": 2}, 3)]


# -- the importing hook ----------------------------------------------------------------------------


def test_read_log_dispatches_change_record_formats():
    read = read_log(str(DATA / "zendesk_audits.json"), fmt="zendesk-audits")
    assert canon(read.histories) == canon(read_source(str(DATA / "zendesk_audits.json"),
                                                      load_preset("zendesk")).histories)


# -- mapping files ---------------------------------------------------------------------------------


GOOD = """\
name = "ours"
format = "csv"
collapse_repeats = true
closed_when = ["Closed"]

[columns]
case = "Ticket"
activity = "Status"
timestamp = "Changed"

[time]
format = "%d.%m.%Y %H:%M"
zone = "Europe/Berlin"

[activities]
drop = ["Draft"]

[activities.rename]
"In Bearbeitung" = "In Progress"
"""


def test_a_mapping_file_is_read_with_every_key():
    m = parse_mapping(GOOD)
    assert (m.name, m.format, m.collapse_repeats, m.closed_when, m.drop) == ("ours", "csv", True, ("Closed",),
                                                                            ("Draft",))
    assert (m.columns.case, m.columns.activity, m.columns.timestamp) == ("Ticket", "Status", "Changed")
    assert (m.columns.timestamp_format, m.columns.tz) == ("%d.%m.%Y %H:%M", "Europe/Berlin")
    assert m.rename == {"In Bearbeitung": "In Progress"}
    assert parse_mapping(dump_mapping(m)) == m


def test_mapping_problems_are_all_named_with_their_lines():
    bad = (GOOD.replace('format = "csv"', 'format = "xlsx"')
           .replace("[columns]", "[colums]")
           .replace('zone = "Europe/Berlin"', 'zone = "Europe/Berlinn"')
           .replace("collapse_repeats = true", 'collapse_repeats = "yes"'))
    with pytest.raises(ImportFormatError) as err:
        parse_mapping(bad, "/tmp/ours.toml")
    message = str(err.value)
    assert message.startswith("mapping ours.toml has 4 problems:")
    assert "ours.toml:2: unknown format 'xlsx' (use one of csv, parquet, xes, servicenow-audit" in message
    assert "ours.toml:3: 'collapse_repeats' must be true or false, not a string ('yes')" in message
    assert "ours.toml:6: unknown key 'colums' in the top level; did you mean 'columns'?" in message
    assert "ours.toml:13: unknown time zone 'Europe/Berlinn'" in message


def test_a_mapping_that_is_not_toml_says_so(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"mapping m.toml: not valid TOML"):
        read_mapping(str(path))
    with pytest.raises(ImportFormatError, match=r"no such mapping file"):
        read_mapping(str(tmp_path / "nope.toml"))


def test_flags_override_the_file():
    m = with_flags(parse_mapping(GOOD), case="id", tz="UTC", case_attrs={"channel": "Kanal"},
                   collapse_repeats=False, case_table="tickets.csv")
    assert (m.columns.case, m.columns.activity, m.columns.tz) == ("id", "Status", "UTC")
    assert m.columns.case_attrs == {"channel": "Kanal"} and m.collapse_repeats is False
    assert m.case_table is not None and m.case_table.file == "tickets.csv"
    assert parse_mapping(dump_mapping(m)) == m


def test_renames_drops_and_the_field_form_apply_before_collapsing(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Ticket,Status,Changed\n"
                    "T1,Neu,01.03.2024 09:00\nT1,Draft,01.03.2024 09:05\nT1,Offen,01.03.2024 09:10\n"
                    "T1,In Bearbeitung,01.03.2024 10:00\nT1,In Progress,01.03.2024 11:00\n", encoding="utf-8")
    m = dataclasses.replace(parse_mapping(GOOD), rename={"Neu": "Open", "Offen": "Open",
                                                         "In Bearbeitung": "In Progress"})
    [t] = read_source(str(path), m).histories
    assert [(s.activity, s.attrs.get("repeats")) for s in t.steps] == [("Open", 2), ("In Progress", 2)]
    field_form = dataclasses.replace(m, rename={}, drop=(), activity_form="field: value", collapse_repeats=False)
    [t] = read_source(str(path), field_form).histories
    assert t.steps[0].activity == "Status: Neu"


def test_the_default_mapping_is_the_flags_defaults():
    assert ImportMapping() == parse_mapping("")


# -- the generic presets ---------------------------------------------------------------------------


def test_xes_lifecycle_joins_the_status_to_the_activity():
    read = read_source(str(DATA / "bpic_style.xes"), load_preset("xes-lifecycle"))
    assert (read.rows, read.closed) == (9, 1)  # Completed/Closed closes; In Call does not, by this preset
    t = by_ticket(read)
    assert steps_of(t["1-364285768"]) == [  # the file lists Queued first: time decides
        ("Accepted/In Progress", "2012-05-02T09:59:00+02:00", "Frederic", "V30"),
        ("Queued/Awaiting Assignment", "2012-05-02T10:12:00+02:00", "Frederic", "V30"),
        ("Accepted/In Progress", "2012-05-02T14:20:00+02:00", "Anne Claire", "V5 3rd"),
        ("Completed/Resolved", "2012-05-03T08:00:00+02:00", "Anne Claire", "V5 3rd"),
        ("Completed/Closed", "2012-05-10T08:00:00+02:00", "Siebel", "V5 3rd"),
    ]
    assert t["1-364285768"].case == {"team": "V30"}
    assert [s.activity for s in t["1-364285769"].steps] == ["Accepted/In Progress", "Completed/In Call"]


def test_status_log_collapses_repeated_states():
    read = read_source(str(DATA / "status_log.csv"), load_preset("status-log"))
    assert (read.rows, read.rows_collapsed, read.closed) == (7, 2, 1)
    t = by_ticket(read)
    assert list(t) == ["S2", "S1"]
    assert [(s.activity, s.occurred_at.strftime("%H:%M"), s.attrs.get("repeats")) for s in t["S1"].steps] == [
        ("new", "08:00", 2), ("open", "09:00", 2), ("closed", "12:00", None)]
    assert t["S1"].steps[1].attrs["last_at"] == "2025-01-06T09:40:00+00:00"
    assert [s.activity for s in t["S2"].steps] == ["new", "open"]
    # the same file with other columns: the flags override the preset's
    other = with_flags(load_preset("status-log"), case="ticket")
    with pytest.raises(ImportFormatError, match=r"missing ticket id column 'ticket', which preset 'status-log'"):
        read_source(str(DATA / "status_log.csv"), other)


def test_zendesk_replies_in_the_incremental_export_and_without_comment_steps(tmp_path):
    path = tmp_path / "events.ndjson"
    lines = [
        {"id": 901, "ticket_id": 7, "created_at": "2024-05-06T09:00:00Z", "updater_id": 11, "event_type": "Audit",
         "child_events": [{"id": 902, "status": "new", "event_type": "Create"},
                          {"id": 903, "event_type": "Comment", "public": True, "author_id": 11}]},  # description
        {"id": 910, "ticket_id": 7, "created_at": "2024-05-06T09:20:00Z", "updater_id": 12, "event_type": "Audit",
         "child_events": [{"id": 911, "event_type": "Comment", "public": True, "author_id": 12},
                          {"id": 912, "event_type": "Comment", "public": False, "author_id": 12},  # a note
                          {"id": 913, "status": "pending", "previous_value": "new", "event_type": "Change"}]},
        {"id": 920, "ticket_id": 7, "created_at": "2024-05-06T11:00:00Z", "updater_id": 11, "event_type": "Audit",
         "child_events": [{"id": 921, "event_type": "Comment", "public": True, "author_id": 11}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    [ticket] = read_source(str(path), load_preset("zendesk")).histories
    assert [(s.activity, s.occurred_at.strftime("%H:%M"), s.actor) for s in ticket.steps] == [
        ("new", "09:00", "11"), ("Agent reply", "09:20", "12"), ("pending", "09:20", "12"),
        ("Customer reply", "11:00", "11")]
    # a mapping whose steps do not list "comment" reads the statuses only, as before
    plain = dataclasses.replace(load_preset("zendesk"), changes=dataclasses.replace(
        load_preset("zendesk").changes, steps=("status",)))
    [ticket] = read_source(str(path), plain).histories
    assert [s.activity for s in ticket.steps] == ["new", "pending"]
