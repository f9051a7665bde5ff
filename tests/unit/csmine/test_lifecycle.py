"""Open, closed and stale tickets (csmine.eventlog.lifecycle), values worked out by hand."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from process_models import load_sop

from csmine.errors import FilterError
from csmine.eventlog.lifecycle import ClosingRule, describe_rule, ticket_status


def frame(rows):
    df = pd.DataFrame(rows, columns=["case:concept:name", "concept:name", "time:timestamp"])
    df["time:timestamp"] = pd.to_datetime(df["time:timestamp"], utc=True)
    return df


LOG = frame([
    ("a", "New", "2024-01-01"), ("a", "Active", "2024-01-02"), ("a", "Closed", "2024-01-03"),
    ("b", "New", "2024-01-01"), ("b", "Closed", "2024-01-05"), ("b", "Active", "2024-02-20"),  # reopened
    ("c", "New", "2023-10-01"),                                                                  # open, quiet
    ("d", "New", "2024-02-25"), ("d", "Completed/Closed", "2024-03-01"),
])


def test_closed_when_regex_whole_name_or_part():
    st = ticket_status(LOG, rule=ClosingRule("closed"))
    f = st.frame
    assert list(f.index) == ["a", "b", "c", "d"]
    assert list(f["status"]) == ["closed", "open", "open", "closed"]
    assert f.at["a", "closed_at"] == pd.Timestamp("2024-01-03", tz="UTC")
    assert pd.isna(f.at["b", "closed_at"])
    # the log ends 2024-03-01; 30 days before is 2024-01-31: c (quiet since 2023-10-01) is stale, b is not
    assert list(f["stale"]) == [False, False, True, False]
    assert (st.closed, st.open, st.stale) == (2, 2, 1)
    assert st.summary()["stale_after"] == "30 d"


def test_stale_horizon_and_never():
    assert ticket_status(LOG, rule=ClosingRule("closed", timedelta(days=5))).stale == 2  # b too (2024-02-20)
    assert ticket_status(LOG, rule=ClosingRule("closed", None)).stale == 0


def test_no_rule_every_ticket_ended():
    st = ticket_status(LOG)
    assert not st.known
    assert st.closed == 4 and st.open == 0 and st.stale == 0
    assert "no closing rule" in st.rule


def test_sop_close_role_and_reopen_role():
    sop = load_sop("complaint")  # close: Archive, reopen: Reopen
    log = frame([
        ("x", "Receive", "2024-01-01"), ("x", "Archive", "2024-01-02"), ("x", "Callback", "2024-01-03"),
        ("y", "Receive", "2024-01-01"), ("y", "Archive", "2024-01-02"), ("y", "Reopen", "2024-01-04"),
        ("z", "Receive", "2024-01-01"), ("z", "Classify", "2024-01-01"),
    ])
    st = ticket_status(log, sop)
    # a Callback after Archive does not reopen (the SOP names its reopen step); Reopen does
    assert list(st.frame["status"]) == ["closed", "open", "open"]
    assert describe_rule(sop, None) == "closed by SOP 'complaint' close step Archive"


def test_bad_regex():
    with pytest.raises(FilterError, match="not a regular expression"):
        ClosingRule("(")


def test_rows_of_a_ticket_need_not_be_together():
    interleaved = LOG.iloc[[0, 3, 1, 4, 6, 2, 5, 7, 8]].reset_index(drop=True)
    a = ticket_status(LOG, rule=ClosingRule("closed")).frame
    b = ticket_status(interleaved, rule=ClosingRule("closed")).frame
    assert b.sort_index().equals(a.sort_index())


def test_sop_close_step_absent_from_log_says_every_ticket_is_open():
    sop = load_sop("complaint")
    st = ticket_status(LOG, sop)
    assert st.known and st.open == 4
    assert "no event of the log is one of these" in st.rule and "--closed-when" in st.rule
