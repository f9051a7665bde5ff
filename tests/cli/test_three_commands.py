"""From a ticket system's export to an SOP check in three commands.

``csmine import EXPORT --preset NAME``, ``csmine sop draft --out ours.toml``,
``csmine report --sop ours.toml``: on each preset's fixture and on the shared
Helpdesk log they end in a report whose conformance, bottleneck and KPI sections
are filled. Also: a shuffled export gives the same store, a file that does not match
the preset fails (exit 3) naming the field and the preset and writes nothing,
``--print-mapping`` turns a command line into a mapping file that imports the same,
flags override a preset, and ``sop diff`` shows what a designer changed.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from event_store import open_store
from tests.datasets import HELPDESK, dataset_path

DATA = Path(__file__).resolve().parents[1] / "data" / "presets"
FIXTURES = [
    ("servicenow", "servicenow_incidents.csv", 3, 11),
    ("servicenow-audit", "servicenow_sys_audit.csv", 2, 8),
    ("zendesk", "zendesk_audits.json", 3, 14),  # 11 status changes and 3 public replies
    ("jira", "jira_search_changelog.json", 3, 10),
]


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def store_rows(path: str) -> dict[str, list]:
    """The store's tickets and steps, without what depends on file positions or the clock."""
    with open_store(path) as s:
        steps = s.db.query("SELECT ticket, version, activity, occurred_at, started_at, actor, team, attrs, opened_at, "
                           "channel, category, priority, customer, case_team, region FROM event_log "
                           "ORDER BY ticket, version")
        tickets = s.db.query("SELECT ticket, opened_at, channel, category, priority, customer, team, region, "
                             "case_attrs FROM tickets ORDER BY ticket")
    strip = [(*row[:7], json.dumps({k: v for k, v in json.loads(row[7] or "{}").items()}, sort_keys=True), *row[8:])
             for row in steps]
    return {"steps": strip, "tickets": tickets}


def findings(cli, store, sop, tmp_path):
    result = ok(cli("report", "--sop", sop, "--out", tmp_path / "report.html", "--json", "--store", store))
    return json.loads(result.stdout)["findings"]


def assert_filled(f):
    kpis = f["kpis"]
    for key in ("first_response", "resolution_rate", "resolution_time", "sla_attainment", "backlog"):
        assert kpis[key] is not None, key
    assert f["conformance"] is not None and f["conformance"]["fitness"] > 0
    assert f["bottlenecks"]


def test_list_presets(cli):
    out = ok(cli("import", "--list-presets")).stdout.splitlines()
    assert [line.split()[0] for line in out] == ["jira", "servicenow", "servicenow-audit", "status-log",
                                                 "xes-lifecycle", "zendesk"]
    assert "Zendesk Ticket Audits API JSON" in out[-1]


@pytest.mark.parametrize(("preset", "fixture", "tickets", "events"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_three_commands_on_each_preset_fixture(cli, tmp_path, preset, fixture, tickets, events):
    store = str(tmp_path / "s.db")
    out = ok(cli("import", DATA / fixture, "--preset", preset, "--store", store)).stdout
    assert f"{tickets} new tickets, {events} new events" in out
    assert "tickets end in a closing state" in out
    draft = ok(cli("sop", "draft", "--out", tmp_path / "ours.toml", "--store", store))
    assert draft.stdout.startswith(f"wrote {tmp_path / 'ours.toml'}: SOP 'ours'")
    assert "fitness" in draft.stdout and "left out:" in draft.stdout
    assert "the closed_when of the import's mapping" in (tmp_path / "ours.toml").read_text(encoding="utf-8")
    ok(cli("sop", "validate", tmp_path / "ours.toml"))
    assert_filled(findings(cli, store, tmp_path / "ours.toml", tmp_path))


def _shuffle(src: Path, dst: Path, seed: int) -> None:
    if src.suffix == ".csv":
        lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
        body = lines[1:]
        random.Random(seed).shuffle(body)
        dst.write_text(lines[0] + "".join(body), encoding="utf-8")
        return
    data = json.loads(src.read_text(encoding="utf-8"))
    key = "audits" if "audits" in data else "issues"
    rng = random.Random(seed)
    rng.shuffle(data[key])
    for issue in data[key]:
        if "changelog" in issue:
            rng.shuffle(issue["changelog"]["histories"])
    dst.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(("preset", "fixture", "tickets", "events"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_the_same_export_shuffled_gives_the_same_store(cli, tmp_path, preset, fixture, tickets, events):
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    ok(cli("import", DATA / fixture, "--preset", preset, "--store", a))
    shuffled = tmp_path / f"shuffled-{fixture}"
    _shuffle(DATA / fixture, shuffled, seed=11)
    ok(cli("import", shuffled, "--preset", preset, "--store", b))
    assert store_rows(a) == store_rows(b)
    again = ok(cli("import", shuffled, "--preset", preset, "--store", a)).stdout
    assert "0 new tickets, 0 new events" in again


def _refused(cli, tmp_path, *args, match):
    store = tmp_path / "refused.db"
    result = cli(*args, "--store", store)
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    for part in match:
        assert part in result.stderr, result.stderr
    assert not store.exists()


def test_a_file_that_does_not_match_the_preset_names_the_field_and_the_preset(cli, tmp_path):
    path = tmp_path / "audit.csv"
    path.write_text((DATA / "servicenow_sys_audit.csv").read_text(encoding="utf-8").replace("fieldname", "field", 1),
                    encoding="utf-8")
    _refused(cli, tmp_path, "import", path, "--preset", "servicenow-audit",
             match=["missing field 'fieldname'", "which preset 'servicenow-audit' reads"])
    _refused(cli, tmp_path, "import", DATA / "servicenow_sys_audit.csv", "--preset", "servicenow",
             match=["missing ticket id column 'number', which preset 'servicenow' reads"])
    page = json.loads((DATA / "zendesk_audits.json").read_text(encoding="utf-8"))
    del page["audits"][0]["ticket_id"]
    path = tmp_path / "audits.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    _refused(cli, tmp_path, "import", path, "--preset", "zendesk",
             match=["an audit without 'ticket_id', which preset 'zendesk' reads"])


def test_a_json_file_of_another_api_says_which_shape_was_expected(cli, tmp_path):
    _refused(cli, tmp_path, "import", DATA / "jira_search_changelog.json", "--preset", "zendesk",
             match=["expected the Zendesk Ticket Audits API's JSON", "it looks like a Jira search result"])
    _refused(cli, tmp_path, "import", DATA / "zendesk_audits.json", "--preset", "jira",
             match=["expected a Jira search result with the changelog"])
    _refused(cli, tmp_path, "import", DATA / "zendesk_audits.json",
             match=["a JSON export: say which system made it with --preset zendesk"])


def test_print_mapping_makes_the_command_line_a_file_that_imports_the_same(cli, tmp_path):
    flags = ("--case-column", "number", "--activity-column", "incident_state", "--timestamp-column",
             "sys_updated_at", "--timestamp-format", "%d/%m/%Y %H:%M", "--tz", "UTC", "--resource-column",
             "sys_updated_by", "--team-column", "assignment_group", "--case-attr", "priority=priority",
             "--collapse-repeats", "--closed-when", "Closed|Resolved")
    src = DATA / "servicenow_incidents.csv"
    text = ok(cli("import", src, *flags, "--print-mapping")).stdout
    assert 'case = "number"' in text and 'closed_when = ["Closed", "Resolved"]' in text
    assert '# delimiter = ","' in text  # detected, left to uncomment
    mapping = tmp_path / "ours.toml"
    mapping.write_text(text, encoding="utf-8")
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    ok(cli("import", src, *flags, "--store", a))
    ok(cli("import", src, "--mapping", mapping, "--store", b))
    assert store_rows(a) == store_rows(b)
    # and the file prints back as itself
    assert ok(cli("import", src, "--mapping", mapping, "--print-mapping")).stdout == text


def test_flags_override_the_preset(cli, tmp_path):
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    src = DATA / "servicenow_incidents.csv"
    ok(cli("import", src, "--preset", "servicenow", "--store", a))
    ok(cli("import", src, "--preset", "servicenow", "--tz", "Asia/Shanghai", "--store", b))
    first = {r[0]: r[3] for r in store_rows(a)["steps"]}
    shifted = {r[0]: r[3] for r in store_rows(b)["steps"]}
    assert {t: first[t] - shifted[t] for t in first} == {t: 8 * 3600 * 10**6 for t in first}
    text = ok(cli("import", src, "--preset", "servicenow", "--tz", "Asia/Shanghai", "--print-mapping")).stdout
    assert 'zone = "Asia/Shanghai"' in text and 'case = "number"' in text


def test_sop_draft_refuses_to_overwrite_an_edited_file(cli, tmp_path):
    store = str(tmp_path / "s.db")
    ok(cli("import", DATA / "zendesk_audits.json", "--preset", "zendesk", "--store", store))
    out = tmp_path / "ours.toml"
    out.write_text("# my edits\n", encoding="utf-8")
    result = cli("sop", "draft", "--out", out, "--store", store)
    assert result.exit_code == 73 and "exists already" in result.stderr
    assert out.read_text(encoding="utf-8") == "# my edits\n"
    ok(cli("sop", "draft", "--out", out, "--store", store, "--force"))


def test_sop_diff_shows_what_the_designer_changed(cli, tmp_path):
    result = ok(cli("sop", "diff", "complaint", "complaint-v2"))
    assert result.stdout.splitlines()[0] == "complaint v1 → complaint-v2 v2"
    assert "  step 'Handle': limit 24 h after Classify → 8 h after Classify" in result.stdout
    assert "  step 'Callback': limit 48 h after Handle → 24 h after Handle" in result.stdout
    store = str(tmp_path / "s.db")
    ok(cli("import", DATA / "zendesk_audits.json", "--preset", "zendesk", "--store", store))
    draft = tmp_path / "draft.toml"
    ok(cli("sop", "draft", "--out", draft, "--store", store))
    text = draft.read_text(encoding="utf-8")
    edited = tmp_path / "ours.toml"
    role = re.search(r'name = "pending"\nrole = "([^"]*)"', text).group(1)
    edited.write_text(text.replace(f'name = "pending"\nrole = "{role}"', 'name = "pending"\nrole = "customer"')
                      .replace('version = "0.1"', 'version = "1"'), encoding="utf-8")
    out = ok(cli("sop", "diff", draft, edited)).stdout
    assert "  version: '0.1' → '1'" in out
    assert f"  step 'pending': role {role} → customer" in out
    data = json.loads(ok(cli("sop", "diff", draft, draft, "--json")).stdout)
    assert data["identical"] and data["changes"] == []


@pytest.mark.slow
def test_three_commands_on_helpdesk(cli, tmp_path):
    store = str(tmp_path / "helpdesk.db")
    ok(cli("import", dataset_path(*HELPDESK), "--preset", "xes-lifecycle", "--store", store))
    draft = ok(cli("sop", "draft", "--out", tmp_path / "ours.toml", "--store", store)).stdout
    fitness = float(draft.split("fitness ")[1].split(",")[0])
    precision = float(draft.split("precision ")[1].split(" ")[0])
    assert fitness >= 0.90 and precision >= 0.75, draft
    sop = tmp_path / "ours.toml"
    kpi = {k["name"]: k for k in json.loads(ok(cli("kpi", "--sop", sop, "--json", "--store", store)).stdout)["kpis"]}
    for name in ("first_response", "resolution_rate", "resolution_time", "sla_attainment", "backlog"):
        assert kpi[name]["value"] is not None and kpi[name]["n"] > 0, name
    limits = json.loads(ok(cli("bottlenecks", "--sop", sop, "--json", "--store", store)).stdout)["limits"]
    assert len(limits) >= 3 and all(row["tickets"] > 0 for row in limits)
    assert all(0.05 < row["share"] <= 0.25 for row in limits)  # P80 proposals: about a fifth breach
    assert_filled(findings(cli, store, sop, tmp_path))
