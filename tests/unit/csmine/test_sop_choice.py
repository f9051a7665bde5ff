"""Choosing an SOP is never silent: an automatic choice needs the log's activities named
(as suggest_sop measures) AND the SOP's close and resolution steps occurring; otherwise no
SOP, with the SOPs considered and why none fits. No default SOP anywhere."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pandas as pd
import pytest

from csmine.performance.sop_choice import choose_sop
from csmine.errors import SopMismatchError
from csmine.performance.sop_choice import choose_shipped_sop, suggest_sop

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "kpi"


def status_small() -> pd.DataFrame:
    return pd.read_csv(DATA / "status_small.csv")


def problem_log() -> pd.DataFrame:
    # like BPIC 2013's closed problems: every case ends Completed/Closed, none passes Resolved
    df = status_small()
    return df[df["concept:name"] != "Completed/Resolved"].reset_index(drop=True)


def test_a_log_the_sop_fits_is_chosen_with_the_reasons():
    choice = choose_shipped_sop(pd.read_csv(DATA / "complaint_small.csv"))
    assert (choice.chosen, choice.how) == ("complaint", "automatic")
    best = choice.considered[0]
    assert (best.sop, best.coverage, best.close_step_seen) == ("complaint", 1.0, True)
    assert best.why.startswith("fits:")
    assert choose_shipped_sop(status_small()).chosen == "it-incident"


def test_full_coverage_without_a_resolution_step_is_not_enough():
    df = problem_log()
    assert suggest_sop(df) == ("it-incident", 1.0)  # coverage alone would pick it
    choice = choose_shipped_sop(df)
    assert choice.chosen is None
    it = next(c for c in choice.considered if c.sop == "it-incident")
    assert (it.coverage, it.close_step_seen, it.missing) == (1.0, False, ("resolution",))
    assert it.why == "its resolution steps 'Resolve', 'Resolve in call' never occur in the log"
    assert choice.considered[0].sop == "it-incident"  # best coverage first
    text = choice.describe()
    assert text.startswith("no SOP used") and "'Resolve'" in text and "--sop none" in text
    data = choice.to_dict()
    assert data["chosen"] is None
    assert set(data["considered"][0]) >= {"sop", "coverage", "close_step_seen", "why"}


def test_a_foreign_log_lists_every_shipped_sop_with_its_coverage():
    from process_models import list_sops

    choice = choose_shipped_sop(pd.DataFrame({"concept:name": ["foo", "bar", "foo"]}))
    assert choice.chosen is None
    assert sorted(c.sop for c in choice.considered) == sorted(list_sops())
    assert all(c.coverage == 0.0 and "needs 90%" in c.why for c in choice.considered)
    # an SOP without close or resolution steps can never be chosen by itself
    needs = next(c for c in choice.considered if c.sop == "needs-identification")
    assert "no close or resolution step" in needs.why


def test_choose_sop_never_falls_back_to_a_default():
    assert "default" not in inspect.signature(choose_sop).parameters
    sop, note, choice = choose_sop(None, problem_log(), allow_none=True, with_choice=True)
    assert sop is None and choice.chosen is None and note.startswith("no SOP used")
    fits = r"needs an SOP, and no shipped SOP fits the log \(it-incident .*\): pass --sop NAME\|FILE"
    with pytest.raises(SopMismatchError, match=fits):
        choose_sop(None, problem_log(), needs="the weekly bulletin needs an SOP")
    sop, note = choose_sop(None, status_small(), allow_none=True)
    assert sop.id == "it-incident" and "close and resolution steps occur" in note


def test_sop_none_and_an_explicit_sop():
    sop, note, choice = choose_sop("none", status_small(), allow_none=True, with_choice=True)
    assert sop is None and choice.how == "--sop none" and "no SOP (--sop none)" in note
    with pytest.raises(SopMismatchError, match="replay .* needs an SOP: --sop none is not possible here"):
        choose_sop("none", None, needs="replay runs tickets through an SOP: it needs an SOP")
    sop, note, choice = choose_sop("it-incident", problem_log(), allow_none=True, with_choice=True)
    assert sop.id == "it-incident" and note == "" and (choice.chosen, choice.how) == ("it-incident", "--sop")


def test_no_caller_passes_a_default_sop():
    # every caller of choose_sop (grep): none may ask for a fallback SOP
    calls = []
    for path in (ROOT / "csmine").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"choose_sop\(([^)]*)\)", text):
            calls.append((path.name, m.group(1)))
    assert calls and not [c for c in calls if "default=" in c[1]]
    report = (ROOT / "csmine" / "reports" / "report.py").read_text(encoding="utf-8")
    assert "suggest_sop(" not in report  # the report chooses with the same rule as the commands
