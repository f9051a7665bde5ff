"""Support lines (push to front): which tickets stayed in the first support line.

A team's line comes from a ``1st``/``2nd``/``3rd`` marker in its name (as in BPIC
2013: ``"G230 2nd"``); without any marker, a ticket's first line is the team of
its first event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from csmine.mining.encoding import CASE_ID, GROUP


_LINE = re.compile(r"(?i)(?:^|[\s_\-/])([123])(?:st|nd|rd)(?:$|[\s_\-/])")


def support_line_of(teams: pd.Series) -> pd.Series:
    """Support line (1, 2, 3) of each team name, from a ``2nd``/``3rd`` marker.

    Team names carrying ``1st``, ``2nd`` or ``3rd`` (as in BPIC 2013: ``"G230 2nd"``)
    get that line; names without a marker are first line. Missing teams are NA.
    """
    codes, uniques = pd.factorize(teams, sort=False)
    digit = pd.Series(pd.Index(uniques).astype(str), dtype="string").str.extract(_LINE, expand=False)
    line_of = pd.to_numeric(digit, errors="coerce").fillna(1).astype("int64").to_numpy()
    out = pd.array(np.where(codes >= 0, line_of[np.maximum(codes, 0)] if len(line_of) else 1, 0), dtype="Int64")
    out[codes < 0] = pd.NA
    return pd.Series(out, index=teams.index)


@dataclass(frozen=True, slots=True)
class FirstLine:
    """Which tickets stayed in the first support line.

    Attributes:
        method: ``"line-marker"`` when team names mark their support line
            (``2nd``/``3rd``; unmarked teams are first line), else ``"first-team"``:
            the first line of a ticket is the team of its first event.
        tickets: per ticket id, True if every event with a team was done by a
            first-line team (resp. by the ticket's first team).
    """

    method: str
    tickets: pd.Series


def first_line_tickets(
    df: pd.DataFrame, *, case_id_key: str = CASE_ID, group_key: str = GROUP
) -> FirstLine:
    """Tickets handled in the first support line only (push-to-front measure)."""
    if group_key not in df.columns or df[group_key].isna().all():
        return FirstLine("none", pd.Series(pd.NA, index=pd.Index(df[case_id_key].unique()), dtype="boolean"))
    teams = df[group_key]
    lines = support_line_of(teams)
    cases = df[case_id_key].astype(str)
    if (lines > 1).any():
        other = (lines > 1).fillna(False).astype(bool)
        method = "line-marker"
    else:
        first_team = teams.groupby(cases, sort=False).transform("first")
        other = (teams.notna() & (teams.astype(str) != first_team.astype(str))).astype(bool)
        method = "first-team"
    left = other.groupby(cases, sort=False).any()
    return FirstLine(method, ~left)
