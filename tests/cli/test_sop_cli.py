"""`csmine sop ...`: exit codes, stdout/stderr, files written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "sop"

BAD_TOML = """\
id = "bad"
title = "Bad"
version = "1"
flow = ["seq", "Receive", "Handel"]

[[steps]]
name = "Receive"
label_zh = "接收"
role = "agent"

[[steps]]
name = "Handle"
label_zh = "处理"
role = "agent"

[[limits]]
step = "Handle"
within = "soon"
"""


def test_list_table_and_json(cli):
    result = cli("sop", "list")
    assert result.exit_code == 0, result.output
    for name in ("complaint", "complaint-v2", "it-incident", "service-script"):
        assert name in result.stdout
    assert "投诉处理" in result.stdout
    result = cli("sop", "list", "--json")
    data = json.loads(result.stdout)
    assert [d["id"] for d in data][:2] == ["complaint", "complaint-v2"]
    assert data[0]["flow_steps"][0] == "Receive" and len(data[0]["fingerprint"]) == 64


def test_show_complaint(cli):
    result = cli("sop", "show", "complaint")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        "Receive → Record → Classify → [Escalate] → (Handle ↺ Wait for customer)" in out
    )
    assert "30 min after opened" in out and "48 h after Handle" in out
    assert (
        "记录登记" in out and "Reopen (off the flow)" in out and "first_response" in out
    )


def test_show_json(cli):
    data = json.loads(cli("sop", "show", "it-incident", "--json").stdout)
    assert data["id"] == "it-incident"
    assert data["aliases"]["Accepted/Wait - User"] == "Wait for user"
    assert data["targets"]["resolution_time"] == "5 d"
    limits = {s["name"]: s["limit"] for s in data["steps"] if s["limit"]}
    assert limits["Close"] == {
        "within": "8 d",
        "since": "Resolve",
        "business_hours": False,
    }


def test_show_unknown_exits_4(cli):
    result = cli("sop", "show", "complain")
    assert result.exit_code == 4
    assert "no SOP called 'complain'" in result.stderr and result.stdout == ""


def test_validate_clean(cli):
    result = cli("sop", "validate", "complaint")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("OK")


def test_validate_errors_exit_4_with_lines(cli, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD_TOML, encoding="utf-8")
    result = cli("sop", "validate", path)
    assert result.exit_code == 4
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{path}:4: error: unknown step 'Handel' in flow")
    assert any(
        line.startswith(f"{path}:12: error: step 'Handle' is never used")
        for line in lines
    )
    assert any(
        line.startswith(f"{path}:18: error: 'within' of [[limits]] #1")
        for line in lines
    )
    assert "has 3 errors" in result.stderr


def test_validate_json(cli, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BAD_TOML, encoding="utf-8")
    result = cli("sop", "validate", path, "--json")
    assert result.exit_code == 4
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["errors"] == 3
    assert [i["line"] for i in data["issues"]] == [4, 12, 18]


def test_validate_modeler_bpmn(cli):
    result = cli("sop", "validate", DATA / "refund-modeler.bpmn")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("suffix", ["svg", "png", "dot"])
def test_render(cli, tmp_path, suffix):
    out = tmp_path / f"flow.{suffix}"
    result = cli("sop", "render", "complaint", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stderr
    data = out.read_bytes()
    if suffix == "png":
        assert data.startswith(b"\x89PNG")
    else:
        assert "接收投诉".encode() in data


def test_render_unknown_suffix_is_a_usage_error(cli, tmp_path):
    result = cli("sop", "render", "complaint", "--out", tmp_path / "flow.jpeg")
    assert result.exit_code == 2 and "use .svg, .png, .pdf or .dot" in result.stderr


def test_convert_round_trip_through_files(cli, tmp_path):
    bpmn = tmp_path / "c.bpmn"
    toml = tmp_path / "c.toml"
    assert (
        cli("sop", "convert", "complaint-v2", "--to", "bpmn", "--out", bpmn).exit_code
        == 0
    )
    assert bpmn.read_text(encoding="utf-8").startswith("<?xml")
    assert cli("sop", "convert", bpmn, "--to", "toml", "--out", toml).exit_code == 0
    a = json.loads(cli("sop", "show", toml, "--json").stdout)
    b = json.loads(cli("sop", "show", "complaint-v2", "--json").stdout)
    assert a["fingerprint"] == b["fingerprint"]


def test_convert_to_stdout(cli):
    result = cli("sop", "convert", DATA / "refund-modeler.bpmn", "--to", "toml")
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.startswith('id = "refund"\n')
        and 'label_zh = "退款"' in result.stdout
    )
    pnml = cli("sop", "convert", "consultation", "--to", "pnml").stdout
    assert "<pnml>" in pnml and "Look up" in pnml


def test_convert_unsupported_bpmn_exits_4(cli, tmp_path):
    text = (DATA / "refund-modeler.bpmn").read_text(encoding="utf-8")
    path = tmp_path / "inclusive.bpmn"
    path.write_text(
        text.replace("bpmn:parallelGateway", "bpmn:inclusiveGateway"), encoding="utf-8"
    )
    result = cli("sop", "convert", path, "--to", "toml")
    assert result.exit_code == 4
    assert "inclusiveGateway 'Gateway_1v4y0kc'" in result.stderr
