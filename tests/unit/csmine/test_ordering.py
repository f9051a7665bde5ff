"""Order inside a ticket: business time, then the documented tie-break (csmine.eventlog.ordering)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from process_models import load_sop

from csmine.errors import FilterError
from csmine.eventlog.ordering import activity_ranks, lifecycle_class, order_events, tied_tickets

T0 = pd.Timestamp("2024-03-01 09:00", tz="UTC")


def frame(rows):
    """rows: (ticket, minutes after T0, activity) in file order; version = file order per ticket."""
    df = pd.DataFrame(rows, columns=["case:concept:name", "m", "concept:name"])
    df["time:timestamp"] = T0 + pd.to_timedelta(df.pop("m"), unit="min")
    df["@@version"] = df.groupby("case:concept:name").cumcount() + 1
    return df.sort_values(["case:concept:name", "time:timestamp", "@@version"], kind="stable").reset_index(drop=True)


def sequence(df, ticket):
    return list(df.loc[df["case:concept:name"] == ticket, "concept:name"])


def test_lifecycle_classes():
    assert lifecycle_class("Insert ticket") == 0
    assert lifecycle_class("New") == 0
    assert lifecycle_class("Accepted/In Progress") == 0
    assert lifecycle_class("Resolve ticket") == 1
    assert lifecycle_class("Reopen") == 1  # "open" inside a word is not an opening
    assert lifecycle_class("Closed") == 2
    assert lifecycle_class("Completed/Closed") == 2
    assert lifecycle_class("Archive") == 2


def test_ties_auto_opening_first_ending_last_then_name():
    # one ticket, all three at 09:00, written Closed, Resolve ticket, Insert ticket; then Wait at 09:05
    df = frame([("A", 0, "Closed"), ("A", 0, "Resolve ticket"), ("A", 0, "Insert ticket"), ("A", 5, "Wait")])
    assert sequence(order_events(df), "A") == ["Insert ticket", "Resolve ticket", "Closed", "Wait"]
    # file order keeps the record order of the tied three
    assert sequence(order_events(df, tie_order="file"), "A") == ["Closed", "Resolve ticket", "Insert ticket", "Wait"]


def test_ties_by_sop_step_order_before_name():
    sop = load_sop("complaint")
    df = frame([("A", 0, "Receive"), ("A", 3, "Classify"), ("A", 3, "Record")])
    # by name Classify < Record; the SOP says Record comes first
    assert sequence(order_events(df), "A") == ["Receive", "Classify", "Record"]
    assert sequence(order_events(df, sop), "A") == ["Receive", "Record", "Classify"]


def test_no_ties_no_copy_and_untied_order_is_time():
    df = frame([("A", 0, "x"), ("A", 1, "y"), ("B", 0, "z")])
    assert order_events(df) is df
    assert tied_tickets(df) == 0
    assert tied_tickets(frame([("A", 0, "x"), ("A", 0, "y"), ("B", 0, "z"), ("C", 2, "u"), ("C", 2, "u")])) == 2


def test_unknown_tie_order():
    with pytest.raises(FilterError, match="unknown tie order 'random'"):
        order_events(frame([("A", 0, "x"), ("A", 0, "y")]), tie_order="random")


def test_ranks_are_a_permutation():
    ranks = activity_ranks(["b", "a", "Closed", "New"])
    assert sorted(ranks.tolist()) == [0, 1, 2, 3]
    assert ranks.tolist() == [2, 1, 3, 0]  # New, a, b, Closed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.integers(0, 3), st.sampled_from(
    ["New", "Work", "Wait", "Closed", "Resolve"])), min_size=1, max_size=25), st.randoms())
def test_shuffled_rows_give_the_same_sequences(rows, rnd):
    """A shuffled copy (file order changed) orders every ticket the same way under auto."""
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    a, b = order_events(frame(rows)), order_events(frame(shuffled))
    assert list(a["concept:name"]) == list(b["concept:name"])
    assert list(a["case:concept:name"]) == list(b["case:concept:name"])
    assert list(a["time:timestamp"]) == list(b["time:timestamp"])


def test_tied_tickets_on_codes_counts_like_pandas_duplicates():
    """Ties counted on integer codes: rows need not be grouped, times may be in any zone,
    two missing times tie (as pandas' ``duplicated``), a missing ticket id is not a ticket."""
    t = pd.Timestamp("2024-03-01 09:00", tz="Asia/Shanghai")
    df = pd.DataFrame({
        "case:concept:name": ["A", "B", "A", "C", "C", None, None, "D"],
        "time:timestamp": [t, t, t.tz_convert("UTC"), pd.NaT, pd.NaT, t, t, t],
        "concept:name": list("abcdefgh"),
    })
    # A: the same instant written in two zones; C: two missing times; the None rows do not count
    assert tied_tickets(df) == 2
    assert tied_tickets(df.iloc[[0, 1, 3, 7]]) == 0


def test_order_events_in_order_returns_the_frame_itself_else_a_sorted_copy():
    df = frame([("A", 0, "x"), ("A", 5, "y"), ("B", 1, "z")])
    assert order_events(df) is df
    swapped = df.iloc[[1, 0, 2]].reset_index(drop=True)
    out = order_events(swapped)
    assert out is not swapped
    assert sequence(out, "A") == ["x", "y"]
