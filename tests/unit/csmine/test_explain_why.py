"""``explain_outcome`` on a hand-made log whose answer is worked out by hand.

100 tickets, one a day at 10:00 UTC, each ``Receive -> Record -> Archive``. The Record
limit of the complaint SOP is 30 min after opening; a ticket breaches it when its Record
comes 45 min after Receive (else 10 min). Channel and priority are set so that::

                 email             phone            stratum
    priority  breach / tickets  breach / tickets    O / N
    P1           15 / 20            5 / 20         20 / 40
    P2           10 / 20            5 / 40         15 / 60
    all          25 / 40           10 / 60         35 / 100

(five times the table of ``test_explain_statistics.py``). For ``channel = email``:

* share_in 25/40 = 0.625, share_out 10/60 = 0.166667, lift 3.75;
* Katz: SE = sqrt(1/25 - 1/40 + 1/10 - 1/60) = sqrt(0.098333) = 0.313581, 95% CI
  exp(ln 3.75 -+ 1.959964 x 0.313581) = 2.028198 .. 6.933496;
* Newcombe: Wilson 25/40 = 0.470324 .. 0.757770, Wilson 10/60 = 0.093132 .. 0.280316;
  difference 0.458333 with 95% CI 0.266394 .. 0.610107;
* adjusted for priority (Mantel-Haenszel): R = 15 x 20/40 + 10 x 40/60 = 14.166667,
  S = 5 x 20/40 + 5 x 20/60 = 4.166667, RR = 3.4; Greenland-Robins P = (8000 - 3000)/1600 +
  (12000 - 3000)/3600 = 5.625, Var = 5.625 / 59.027778 = 0.095294, SE = 0.308697,
  95% CI 1.856586 .. 6.226481.

What-if: email tickets behaving like phone tickets means their wait before Record is drawn
from the phone tickets' waits (10 of 60 are 45 min): each email ticket breaches with
probability 1/6, so the expected breach share is (10 + 40/6) / 100 = 0.1667 instead of 0.35.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

CELLS = (  # priority, channel, tickets, breaches
    ("P1", "email", 20, 15), ("P1", "phone", 20, 5),
    ("P2", "email", 20, 10), ("P2", "phone", 40, 5),
)


def hand_made_log(late=None) -> pd.DataFrame:
    """The log above; ``late(k)`` decides instead whether ticket ``k`` breaches."""
    rows = []
    start = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)
    k = 0
    for priority, channel, tickets, breaches in CELLS:
        for j in range(tickets):
            opened = start + timedelta(days=k)
            breach = late(k) if late is not None else j < breaches
            record = opened + timedelta(minutes=45 if breach else 10)
            ticket = f"T-{k:03d}"
            for activity, at, actor in (("Receive", opened, None), ("Record", record, "A-01"),
                                        ("Archive", record + timedelta(minutes=20), "A-01")):
                rows.append({"case:concept:name": ticket, "concept:name": activity, "time:timestamp": at,
                             "start_timestamp": pd.NaT, "org:resource": actor, "org:group": "First line",
                             "case:channel": channel, "case:priority": priority, "case:opened_at": opened})
            k += 1
    df = pd.DataFrame(rows)
    for col in ("time:timestamp", "case:opened_at", "start_timestamp"):
        df[col] = pd.to_datetime(df[col], utc=True)
    return df.sort_values(["case:concept:name", "time:timestamp"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def report():
    from process_models import load_sop

    from csmine.explain.why import explain_outcome

    return explain_outcome(hand_made_log(), load_sop("complaint"), "breach:Record", min_support=10,
                           what_if=1, resamples=400, seed=3)


def test_the_outcome_is_counted_as_by_hand(report):
    assert (report.tickets, report.with_outcome) == (100, 35)
    assert report.label.startswith("breach the Record limit")


def test_email_figures_are_the_hand_worked_ones(report):
    email = next(c for c in report.contributors if (c.attribute, c.value) == ("channel", "email"))
    assert (email.support, email.with_outcome) == (40, 25)
    assert email.share_in == pytest.approx(0.625)
    assert email.share_out == pytest.approx(10 / 60)
    assert email.lift == pytest.approx(3.75)
    assert email.lift_ci == pytest.approx((2.028198, 6.933496), abs=1e-5)
    assert email.difference == pytest.approx(0.458333, abs=1e-6)
    assert email.difference_ci == pytest.approx((0.266394, 0.610107), abs=1e-6)
    assert email.adjusted_for == ("priority",)
    assert email.adjusted_lift == pytest.approx(3.4)
    assert email.adjusted_ci == pytest.approx((1.856586, 6.226481), abs=1e-5)
    assert email.q_value <= 0.05
    # the issue's plain-words form: crude lift with its interval; the adjusted one (what the test is about)
    assert email.words.startswith(
        "Email tickets breach the Record limit (30m after opening) 3.8× as often (95% CI 2.0–6.9; 3.40× after "
        "adjusting for priority, 95% CI 1.86–6.23): 62% of 40 vs 17%; +46 points (95% CI +27 to +61)")
    assert (email.tested_effect, email.test) == ("adjusted_lift", "exact")


def test_json_has_the_issue_keys_first(report):
    d = report.to_dict()
    assert list(d)[:5] == ["outcome", "tickets", "with_outcome", "tested", "contributors"]
    item = d["contributors"][0]
    assert list(item)[:8] == ["attribute", "value", "share_in", "share_out", "lift", "ci", "adjusted_lift",
                              "support"]
    email = next(c for c in d["contributors"] if c["value"] == "email")
    assert email["ci"] == pytest.approx([2.0282, 6.9335], abs=1e-4)


def test_what_if_email_behaved_like_phone(report):
    first = report.contributors[0]
    what = report.what_if[0]
    assert (first.attribute, first.value) == ("channel", "email")
    assert what.method == "durations"
    assert what.observed == pytest.approx(0.35)
    assert what.estimate == pytest.approx(1 / 6, abs=0.03)
    assert what.ci[0] < 1 / 6 < what.ci[1]
    assert what.tickets == pytest.approx((what.estimate - 0.35) * 100)


def test_nothing_is_found_where_there_is_nothing():
    from process_models import load_sop

    from csmine.explain.why import explain_outcome

    # every third ticket breaches, whatever its channel, priority or weekday
    df = hand_made_log(late=lambda k: k % 3 == 0)
    r = explain_outcome(df, load_sop("complaint"), "breach:Record", min_support=10, what_if=0)
    assert r.with_outcome == 34
    assert r.contributors == ()
    assert "No group" in r.summary()


def test_features_are_one_vectorised_pass():
    from process_models import load_sop

    from csmine.explain.features import ticket_features
    from csmine.explain.outcomes import evaluate_outcome, parse_outcome
    from csmine.performance.kpi import analyse_tickets
    from csmine.performance.preparation import prepare

    df = hand_made_log()
    sop = load_sop("complaint")
    prep = prepare(df, sop)
    kpis, limits = analyse_tickets(prep, sop)
    outcome = evaluate_outcome(parse_outcome("breach:Record"), prep, kpis, limits, sop)
    feats = ticket_features(prep, kpis, outcome)
    names = {(a, v) for a, v in zip(feats.attribute, feats.value, strict=True)}
    assert ("channel", "email") in names and ("channel & priority", "email & P1") in names
    assert ("weekday", "Monday") in names
    # the window of breach:Record ends at Record: Archive is never on the path
    assert ("step", "Archive") not in names and ("step", "Record") not in names
    email = [i for i, (a, v) in enumerate(zip(feats.attribute, feats.value, strict=True)) if (a, v) == ("channel",
                                                                                                         "email")][0]
    assert feats.members(email).sum() == 40
    assert np.bincount(feats.candidate).max() <= 100


def test_the_text_renderer_is_plain_data(report):
    from csmine.reports.text.blocks import Table
    from csmine.reports.text.why import render_why

    text = render_why(report)
    tables = [b for b in text.blocks if isinstance(b, Table)]
    assert len(tables) == 1
    table = tables[0]
    assert list(table.headers) == ["#", "attribute", "value", "tickets", "share in", "share out", "lift (95% CI)",
                                   "adjusted (95% CI)", "q"]
    email = next(r for r in table.rows if r[2] == "email")
    assert email[6] == "3.8 (2.0–6.9)" and email[7] == "3.40 (1.86–6.23)"
    assert any("The test is about the adjusted lift" in n for n in text.notes)
