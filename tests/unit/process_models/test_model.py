from __future__ import annotations

from datetime import timedelta

import pytest

from process_models import (
    ModelFormatError,
    ModelNotFoundError,
    Targets,
    TimeLimit,
    UnknownStepError,
    dump_sop,
    format_duration,
    list_sops,
    load_sop,
    parse_duration,
)
from process_models.model import flow_to_text
from process_models.validation import parse_sop_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30 min", timedelta(minutes=30)),
        ("2 h", timedelta(hours=2)),
        ("48 h", timedelta(hours=48)),
        ("3 d", timedelta(days=3)),
        ("1 h 30 min", timedelta(minutes=90)),
        ("90s", timedelta(seconds=90)),
        ("1 week", timedelta(days=7)),
        ("0.5 h", timedelta(minutes=30)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "soon", "3 fortnights", "0 min", "h 2"])
def test_parse_duration_rejects(text):
    with pytest.raises(ModelFormatError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(minutes=30), "30 min"),
        (timedelta(hours=48), "48 h"),
        (timedelta(hours=72), "72 h"),
        (timedelta(days=5), "5 d"),
        (timedelta(minutes=90), "1 h 30 min"),
        (timedelta(days=4, hours=2), "4 d 2 h"),
    ],
)
def test_format_duration_round_trips(value, expected):
    assert format_duration(value) == expected
    assert parse_duration(expected) == value


def test_complaint_api_matches_the_contract():
    sop = load_sop("complaint")
    assert (sop.id, sop.title, sop.version) == ("complaint", "Complaint handling", "1")
    assert sop.step_names == (
        "Receive",
        "Record",
        "Classify",
        "Escalate",
        "Handle",
        "Wait for customer",
        "Callback",
        "Archive",
        "Reopen",
    )
    assert [s.label_zh for s in sop.steps] == [
        "接收投诉",
        "记录登记",
        "分类定级",
        "升级",
        "处理",
        "等待客户",
        "回访",
        "归档",
        "重开",
    ]
    assert sop.step("Record").limit == TimeLimit(
        "Record", timedelta(minutes=30), "opened", False
    )
    assert sop.limits == (
        TimeLimit("Record", timedelta(minutes=30), "opened"),
        TimeLimit("Classify", timedelta(hours=2), "opened"),
        TimeLimit("Handle", timedelta(hours=24), "Classify"),
        TimeLimit("Callback", timedelta(hours=48), "Handle"),
        TimeLimit("Archive", timedelta(hours=72), "Callback"),
    )
    assert sop.targets == Targets(timedelta(minutes=30), 0.98, 90.0)
    assert sop.roles == {
        "first_response": ("Record",),
        "resolution": ("Handle",),
        "callback": ("Callback",),
        "close": ("Archive",),
        "reopen": ("Reopen",),
        "waiting": ("Wait for customer",),
        "escalation": ("Escalate",),
    }
    assert sop.step("Reopen").off_flow and "Reopen" not in sop.flow_steps
    assert flow_to_text(sop.flow) == (
        "Receive → Record → Classify → [Escalate] → (Handle ↺ Wait for customer) "
        "→ Callback → Archive"
    )
    assert sop.label("Wait for customer") == "Wait for customer / 等待客户"


def test_complaint_v2_differs_only_in_the_pilot_limits():
    v1, v2 = load_sop("complaint"), load_sop("complaint-v2")
    assert v2.version == "2" and v2.flow == v1.flow and v2.step_names == v1.step_names
    assert v2.step("Callback").limit.within == timedelta(hours=24)
    assert v2.step("Handle").limit.within == timedelta(hours=8)
    assert v2.targets.first_response == timedelta(minutes=30)
    changed = [a.step for a, b in zip(v1.limits, v2.limits, strict=True) if a != b]
    assert changed == ["Handle", "Callback"]
    assert v1.fingerprint != v2.fingerprint


def test_map_activity_and_activity_map():
    sop = load_sop("it-incident")
    assert sop.map_activity("Accepted/In Progress") == "Work in progress"
    assert sop.map_activity("Accepted/Wait - Customer") == "Wait for user"
    assert sop.map_activity("Resolve") == "Resolve"  # a step name maps to itself
    assert sop.map_activity("Completed/Unknown") is None
    mapping = sop.activity_map()
    assert mapping["Completed/In Call"] == "Resolve in call"
    assert mapping["Close"] == "Close"
    assert load_sop("complaint").map_activity("回访") == "Callback"


def test_step_lookup_error_names_the_steps():
    with pytest.raises(UnknownStepError, match=r"no step 'Handel'.*Handle"):
        load_sop("complaint").step("Handel")


def test_fingerprint_ignores_formatting_and_source(tmp_path):
    sop = load_sop("consultation")
    path = tmp_path / "c.toml"
    path.write_text(dump_sop(sop), encoding="utf-8")
    again = load_sop(path)
    assert again == sop and again.fingerprint == sop.fingerprint
    assert again.source == str(path) and hash(again) == hash(sop)
    changed = parse_sop_text(
        dump_sop(sop).replace('within = "30 min"', 'within = "31 min"', 1)
    )
    assert changed.fingerprint != sop.fingerprint


def test_load_sop_errors(tmp_path):
    with pytest.raises(
        ModelNotFoundError, match=r"no SOP called 'complain'.*complaint"
    ):
        load_sop("complain")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        load_sop(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'id = "x"\ntitle = "X"\nversion = "1"\nflow = ["seq", "A"]\n', encoding="utf-8"
    )
    with pytest.raises(
        ModelFormatError, match=r"line 4: error: unknown step 'A' in flow"
    ):
        load_sop(bad)


def test_list_sops_names_the_shipped_files():
    assert list_sops() == (
        "complaint",
        "complaint-v2",
        "consultation",
        "it-incident",
        "needs-identification",
        "service-script",
    )


def test_targets_get():
    t = load_sop("it-incident").targets
    assert t.get("resolution_time") == timedelta(days=5)
    assert t.get("first_response") == timedelta(hours=1)
    assert t.get("nonexistent") is None


def test_languages_are_kept_and_round_trip(tmp_path):
    text = dump_sop(load_sop("consultation"))
    declared = parse_sop_text(text.replace("\n\n[targets]", '\nlanguages = ["en", "ZH"]\n\n[targets]', 1))
    assert declared.languages == ("en", "zh")  # codes are lower-cased
    # declaring languages changes the content, so the fingerprint; dump_sop keeps it
    assert declared.fingerprint != load_sop("consultation").fingerprint
    again = parse_sop_text(dump_sop(declared))
    assert again.languages == ("en", "zh") and again.fingerprint == declared.fingerprint
    # an SOP that declares none keeps the fingerprint it had before the field existed
    assert load_sop("consultation").languages == ()
    assert "languages" not in load_sop("consultation").to_dict()
