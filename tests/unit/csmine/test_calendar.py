"""Business calendar: business_seconds on intervals checked by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from csmine.performance.business_calendar import BusinessCalendar, CalendarError, parse_calendar


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


H = 3600.0
DEFAULT = BusinessCalendar()  # Mon-Fri 08:00-20:00 UTC


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        # same working day, inside the hours: 10:00 -> 11:30 = 1.5 h
        (utc(2025, 1, 6, 10, 0), utc(2025, 1, 6, 11, 30), 1.5),
        # before opening to after closing on one day: only 08:00-20:00 counts = 12 h
        (utc(2025, 1, 6, 5, 0), utc(2025, 1, 6, 23, 0), 12.0),
        # both ends before opening: 0 h
        (utc(2025, 1, 6, 2, 0), utc(2025, 1, 6, 7, 0), 0.0),
        # overnight: Mon 18:00 -> Tue 09:30 = Mon 18-20 (2 h) + Tue 08-09:30 (1.5 h) = 3.5 h
        (utc(2025, 1, 6, 18, 0), utc(2025, 1, 7, 9, 30), 3.5),
        # weekend: Fri 17:00 -> Mon 10:00 = Fri 17-20 (3 h) + Sat/Sun 0 + Mon 08-10 (2 h) = 5 h
        (utc(2025, 1, 3, 17, 0), utc(2025, 1, 6, 10, 0), 5.0),
        # a whole working week Mon 00:00 -> next Mon 00:00 = 5 days x 12 h = 60 h
        (utc(2025, 1, 6), utc(2025, 1, 13), 60.0),
        # starting on a Saturday: Sat 12:00 -> Mon 09:00 = Mon 08-09 = 1 h
        (utc(2025, 1, 4, 12, 0), utc(2025, 1, 6, 9, 0), 1.0),
    ],
)
def test_business_seconds_default_calendar(start, end, hours):
    assert DEFAULT.business_seconds(start, end) == pytest.approx(hours * H)


def test_holiday_is_skipped():
    cal = BusinessCalendar(holidays=(date(2025, 1, 1),))
    # Tue 2024-12-31 19:00 -> Thu 2025-01-02 09:00: Tue 19-20 (1 h) + Wed holiday (0) + Thu 08-09 (1 h) = 2 h
    assert cal.business_seconds(utc(2024, 12, 31, 19), utc(2025, 1, 2, 9)) == pytest.approx(2 * H)
    # without the holiday, Wed counts 12 h more
    assert DEFAULT.business_seconds(utc(2024, 12, 31, 19), utc(2025, 1, 2, 9)) == pytest.approx(14 * H)


def test_time_zone_of_the_hours():
    cal = BusinessCalendar(tz="Asia/Shanghai")
    # 2025-01-06 00:00Z is 08:00 in Shanghai (Mon), 12:00Z is 20:00: the whole 12 h day
    assert cal.business_seconds(utc(2025, 1, 6, 0), utc(2025, 1, 6, 12)) == pytest.approx(12 * H)
    # 12:00Z -> 24:00Z is 20:00 -> 08:00 next day in Shanghai: nothing
    assert cal.business_seconds(utc(2025, 1, 6, 12), utc(2025, 1, 7, 0)) == pytest.approx(0.0)


def test_make_up_working_day_and_golden_week():
    cal = BusinessCalendar.parse(
        "hours=8-20,days=mon-fri,holidays=2025-10-01..2025-10-07,workdays=2025-09-28,tz=Asia/Shanghai"
    )
    assert len(cal.holidays) == 7
    # Sat 2025-09-27 08:00 CST -> Thu 2025-10-09 08:00 CST:
    # Sun 28 (make-up day) 12 h + Mon 29 12 h + Tue 30 12 h + Oct 1-7 holidays 0 + Wed 8 12 h = 48 h
    start = pd.Timestamp("2025-09-27T08:00", tz="Asia/Shanghai")
    end = pd.Timestamp("2025-10-09T08:00", tz="Asia/Shanghai")
    assert cal.business_seconds(start, end) == pytest.approx(48 * H)
    assert cal.is_business_time(pd.Series([pd.Timestamp("2025-09-28T10:00", tz="Asia/Shanghai"),
                                           pd.Timestamp("2025-10-02T10:00", tz="Asia/Shanghai")])).tolist() == [
        True, False]


def test_vectorised_equals_scalar_and_handles_missing():
    starts = pd.Series(pd.to_datetime(["2025-01-03T17:00Z", "2025-01-06T18:00Z", None, "2025-01-06T11:00Z"], utc=True))
    ends = pd.Series(pd.to_datetime(["2025-01-06T10:00Z", "2025-01-07T09:30Z", "2025-01-07T09:30Z",
                                     "2025-01-06T10:00Z"], utc=True))
    out = DEFAULT.business_seconds(starts, ends)
    assert isinstance(out, np.ndarray)
    assert out[0] == pytest.approx(5 * H)
    assert out[1] == pytest.approx(3.5 * H)
    assert np.isnan(out[2])
    # end before start: negative (F(end) - F(start)) = -1 h
    assert out[3] == pytest.approx(-1 * H)
    for k in (0, 1, 3):
        assert DEFAULT.business_seconds(starts[k], ends[k]) == pytest.approx(out[k])


def test_parse_spec():
    cal = parse_calendar("hours=8:30-17:30,days=mon,wed,fri,tz=Europe/Brussels")
    assert cal.hours == (8.5, 17.5)
    assert cal.weekdays == (0, 2, 4)
    assert cal.tz == "Europe/Brussels"
    assert cal.describe() == "Mon,Wed,Fri 08:30-17:30 Europe/Brussels"
    assert parse_calendar("days=sat-mon").weekdays == (0, 5, 6)
    assert parse_calendar("holidays=2025-01-01;2025-05-01").holidays == (date(2025, 1, 1), date(2025, 5, 1))
    assert parse_calendar("") is None
    assert parse_calendar(None) is None
    assert BusinessCalendar().describe() == "Mon-Fri 08:00-20:00 UTC"


@pytest.mark.parametrize(
    "spec",
    ["hours=20-8", "hours=8", "colour=red", "days=funday", "holidays=2025-13-01", "tz=Mars/Olympus",
     "holidays=2025-01-05..2025-01-01", "8-20"],
)
def test_bad_specs_raise(spec):
    with pytest.raises(CalendarError):
        BusinessCalendar.parse(spec)
