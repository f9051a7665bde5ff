"""Every kind of bad SOP file gets an issue with its line and a useful message."""

from __future__ import annotations

import pytest

from process_models import ModelNotFoundError, validate_sop
from process_models.toml_format import locate
from process_models.validation import check_toml

GOOD = """\
id = "mini"
title = "Mini"
version = "1"

flow = ["seq",
  "Receive",
  ["optional", "Escalate"],
  ["loop", "Handle", "Wait"],
  "Close",
]

[targets]
first_response = "30 min"

[[steps]]
name = "Receive"
label_zh = "接收"
role = "agent"

[[steps]]
name = "Escalate"
label_zh = "升级"
role = "supervisor"

[[steps]]
name = "Handle"
label_zh = "处理"
role = "agent"

[[steps]]
name = "Wait"
label_zh = "等待"
role = "customer"

[[steps]]
name = "Close"
label_zh = "关闭"
role = "agent"

[[limits]]
step = "Handle"
within = "24 h"
since = "Receive"

[roles]
first_response = ["Receive"]
waiting = ["Wait"]

[aliases]
"Ticket closed" = "Close"
"""


def issues_of(text):
    return [(i.severity, i.line, i.message) for i in validate_sop(text)]


def only_error(text):
    errors = [i for i in validate_sop(text) if i.severity == "error"]
    assert len(errors) == 1, errors
    return errors[0]


def test_good_file_is_clean():
    assert validate_sop(GOOD) == []


def test_toml_syntax_error_has_its_line():
    text = GOOD.replace('title = "Mini"', 'title = "Mini')
    [(severity, line, message)] = issues_of(text)
    assert (severity, line) == ("error", 2)
    assert message.startswith("TOML syntax error:")


def test_unknown_step_in_flow_points_at_its_line():
    typo, unused = [
        i for i in validate_sop(GOOD.replace('  "Close",\n]', '  "Closse",\n]'))
    ]
    assert (typo.line, typo.step) == (9, "Closse")
    assert "unknown step 'Closse' in flow" in typo.message
    # ... and the step meant is now unused.
    assert (unused.line, unused.step) == (36, "Close")


def test_unknown_step_in_limit():
    issue = only_error(
        GOOD.replace('step = "Handle"\nwithin', 'step = "Handel"\nwithin')
    )
    assert issue.line == 41
    assert "unknown step 'Handel' in [[limits]] #1" in issue.message


def test_unknown_since_step():
    issue = only_error(GOOD.replace('since = "Receive"', 'since = "Recieve"'))
    assert issue.line == 43
    assert (
        "unknown step 'Recieve' in 'since'" in issue.message
        and '"opened"' in issue.message
    )


def test_bad_duration():
    issue = only_error(GOOD.replace('within = "24 h"', 'within = "24 hours and a bit"'))
    assert issue.line == 42
    assert "cannot read duration '24 hours and a bit'" in issue.message


def test_duration_given_as_number():
    issue = only_error(GOOD.replace('within = "24 h"', "within = 24"))
    assert issue.line == 42 and "must be a duration string" in issue.message


def test_unknown_step_in_role():
    issue = only_error(GOOD.replace('waiting = ["Wait"]', 'waiting = ["Wait", "Hold"]'))
    assert issue.line == 47
    assert "unknown step 'Hold' in role 'waiting'" in issue.message


def test_unknown_kpi_role_is_a_warning():
    [(severity, line, message)] = issues_of(GOOD.replace("waiting =", "waitng ="))
    assert (severity, line) == ("warning", 47)
    assert "unknown KPI role 'waitng'" in message


def test_alias_to_unknown_step():
    issue = only_error(
        GOOD.replace('"Ticket closed" = "Close"', '"Ticket closed" = "Shut"')
    )
    assert issue.line == 50
    assert "alias 'Ticket closed' points to unknown step 'Shut'" in issue.message


def test_alias_cannot_shadow_a_step():
    issue = only_error(GOOD.replace('"Ticket closed" = "Close"', '"Receive" = "Close"'))
    assert issue.line == 50 and "cannot shadow a step name" in issue.message


def test_unreachable_step():
    text = GOOD.replace(
        "[[limits]]",
        '[[steps]]\nname = "Archive"\nlabel_zh = "归档"\nrole = "agent"\n\n[[limits]]',
    )
    issue = only_error(text)
    assert issue.line == 41 and issue.step == "Archive"
    assert (
        "never used in the flow (unreachable)" in issue.message
        and "off_flow = true" in issue.message
    )


def test_off_flow_step_is_fine_outside_and_an_error_inside_the_flow():
    text = GOOD.replace(
        "[[limits]]",
        '[[steps]]\nname = "Reopen"\nlabel_zh = "重开"\nrole = "agent"\n'
        "off_flow = true\n\n[[limits]]",
    )
    assert validate_sop(text) == []
    issue = only_error(
        text.replace('name = "Reopen"', 'name = "Close"').replace(
            '[[steps]]\nname = "Close"\nlabel_zh = "关闭"\nrole = "agent"\n\n', "", 1
        )
    )
    assert "marked off_flow but used in the flow" in issue.message and issue.line == 9


def test_duplicate_step():
    text = GOOD.replace('name = "Wait"', 'name = "Handle"')
    errors = [i for i in validate_sop(text) if i.severity == "error"]
    [dup] = [i for i in errors if "duplicate" in i.message]
    assert dup.line == 31
    assert "duplicate step 'Handle' (first defined at line 26)" in dup.message
    # 'Wait' is now undefined where the flow and the role use it.
    assert {i.line for i in errors if i is not dup} == {8, 47}


def test_unknown_key_in_a_step():
    issue = only_error(GOOD.replace('role = "supervisor"', 'rolle = "supervisor"'))
    assert issue.line == 23 and "unknown key 'rolle' in [[steps]] #2" in issue.message


def test_missing_chinese_label_is_a_warning():
    [(severity, line, message)] = issues_of(GOOD.replace('label_zh = "升级"\n', ""))
    assert (severity, line) == ("warning", 21)
    assert "step 'Escalate' has no Chinese label" in message


def test_bad_operator_and_loop_arity():
    bad_op = validate_sop(
        GOOD.replace('["optional", "Escalate"]', '["maybe", "Escalate"]')
    )[0]
    assert bad_op.line == 7 and "unknown flow operator 'maybe'" in bad_op.message
    issue = only_error(
        GOOD.replace(
            '["loop", "Handle", "Wait"]', '["loop", "Handle", "Wait", "Close"]'
        )
    )
    assert issue.line == 8 and "'loop' takes a do part" in issue.message


def test_percentage_target_is_caught():
    text = GOOD.replace(
        'first_response = "30 min"', 'first_response = "30 min"\nresolution_rate = 98'
    )
    issue = only_error(text)
    assert issue.line == 14 and "write it as a fraction (0.98)" in issue.message


def test_missing_required_keys():
    issue = only_error(GOOD.replace('id = "mini"\n', ""))
    assert "the SOP has no 'id'" in issue.message


def test_validate_reads_paths_and_refuses_missing_files(tmp_path):
    path = tmp_path / "mini.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert validate_sop(path) == []
    assert validate_sop(str(path)) == []
    with pytest.raises(ModelNotFoundError, match="no such file"):
        validate_sop(str(tmp_path / "nope.toml"))


def test_check_toml_builds_nothing_on_error():
    sop, issues = check_toml(GOOD.replace('"Close",\n]', '"X",\n]'))
    assert sop is None and issues


def test_locator_finds_keys_headers_and_values():
    loc = locate(GOOD)
    assert loc.line("", None, "flow") == 5
    assert loc.line("steps", 2, "name") == 26
    assert loc.line("limits", 0) == 40
    assert loc.literal_line("", None, "flow", "Wait") == 8
    assert loc.line("aliases", None, "Ticket closed") == 50


def test_the_documented_example_is_valid():
    import re
    from pathlib import Path

    docs = Path(__file__).resolve().parents[3] / "docs" / "process-models.md"
    example = re.search(r"```toml\n(.*?)```", docs.read_text(encoding="utf-8"), re.S)
    assert example is not None
    assert validate_sop(example.group(1)) == []
