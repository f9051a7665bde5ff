"""Business calendars: working hours, working days, holidays, vectorised.

SLA clocks and waiting times can count only business time. A
:class:`BusinessCalendar` says which hours of which days count, in which time
zone; :meth:`BusinessCalendar.business_seconds` measures many intervals at once
with numpy (no Python loop per interval).

The algorithm: for a time *t*, let ``F(t)`` be the business seconds from a fixed
origin (1970-01-01 local) up to *t*: whole working days before *t*'s local date
times the length of the working day, plus the part of *t*'s own day that lies
inside the working hours (if that day is a working day). Then the business time
of ``[start, end]`` is ``F(end) - F(start)``. Whole working days are counted with
:func:`numpy.busday_count` (week mask and holidays), make-up working days with a
sorted search.

Working hours are wall-clock hours of the calendar's time zone; on a day when the
clocks change inside the working hours the day is still counted at its nominal
length (the hour gained or lost is ignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from csmine.errors import CalendarError

if TYPE_CHECKING:
    import pandas as pd

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Which time counts as business time.

    Attributes:
        hours: working hours of a working day, ``(start, end)`` in hours of the
            local day, ``0 <= start < end <= 24`` (``(8, 20)``; ``(8.5, 17.5)``
            for 08:30-17:30). Hours across midnight are not supported.
        weekdays: working days of the week, Monday = 0 ... Sunday = 6.
        holidays: dates (local) that are not worked even on a working weekday.
        workdays: extra working dates (local) on a non-working weekday, e.g.
            make-up working Saturdays around public holidays.
        tz: IANA time zone whose wall clock the hours refer to.
    """

    hours: tuple[float, float] = (8.0, 20.0)
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()
    tz: str = "UTC"

    def __post_init__(self) -> None:
        h0, h1 = self.hours
        if not (0 <= h0 < h1 <= 24):
            raise CalendarError(
                f"working hours {h0:g}-{h1:g} are not a range within one day "
                "(write e.g. hours=8-20; hours across midnight are not supported)"
            )
        if not self.weekdays or any(d not in range(7) for d in self.weekdays):
            raise CalendarError(f"working days {self.weekdays!r} must be 0 (Mon) .. 6 (Sun)")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"unknown time zone {self.tz!r} (use e.g. UTC or Asia/Shanghai)") from exc

    @property
    def day_seconds(self) -> float:
        """Business seconds in one working day."""
        return (self.hours[1] - self.hours[0]) * 3600.0

    @classmethod
    def parse(cls, spec: str) -> BusinessCalendar:
        """Read ``hours=8-20,days=mon-fri,holidays=2025-01-01;2025-10-01..2025-10-07,tz=Asia/Shanghai``.

        Keys (all optional): ``hours`` (``8-20``, ``8:30-17:30``), ``days``
        (``mon-fri``, ``mon;wed;fri``), ``holidays`` and ``workdays`` (dates
        separated by ``;``, ranges as ``first..last``), ``tz``. A comma inside a
        value continues the previous key (``days=mon,wed`` works).

        Raises:
            CalendarError: The text cannot be read.
        """
        items: dict[str, str] = {}
        last: str | None = None
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep:
                if last is None:
                    raise CalendarError(f"cannot read calendar {spec!r}: {part!r} is not key=value")
                items[last] += ";" + part
                continue
            key = key.strip().lower()
            if key not in ("hours", "days", "holidays", "workdays", "tz"):
                raise CalendarError(
                    f"cannot read calendar {spec!r}: unknown key {key!r} "
                    "(use hours, days, holidays, workdays, tz)"
                )
            items[key] = value.strip()
            last = key
        kwargs: dict[str, Any] = {}
        if "hours" in items:
            kwargs["hours"] = _parse_hours(items["hours"])
        if "days" in items:
            kwargs["weekdays"] = _parse_days(items["days"])
        if "holidays" in items:
            kwargs["holidays"] = _parse_dates(items["holidays"])
        if "workdays" in items:
            kwargs["workdays"] = _parse_dates(items["workdays"])
        if "tz" in items:
            kwargs["tz"] = items["tz"]
        return cls(**kwargs)

    def describe(self) -> str:
        """One line, e.g. ``"Mon-Fri 08:00-20:00 UTC, 2 holidays"``."""
        days = ",".join(DAY_NAMES[d].capitalize() for d in sorted(self.weekdays))
        if tuple(sorted(self.weekdays)) == (0, 1, 2, 3, 4):
            days = "Mon-Fri"
        text = f"{days} {_hhmm(self.hours[0])}-{_hhmm(self.hours[1])} {self.tz}"
        if self.holidays:
            text += f", {len(self.holidays)} holiday{'s' if len(self.holidays) != 1 else ''}"
        if self.workdays:
            text += f", {len(self.workdays)} extra working day{'s' if len(self.workdays) != 1 else ''}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "hours": list(self.hours),
            "weekdays": [DAY_NAMES[d] for d in sorted(self.weekdays)],
            "holidays": [d.isoformat() for d in self.holidays],
            "workdays": [d.isoformat() for d in self.workdays],
            "tz": self.tz,
        }

    # -- measuring ---------------------------------------------------------------

    def business_seconds(self, start: Any, end: Any) -> Any:
        """Business seconds between ``start`` and ``end``, element-wise.

        Args:
            start: a tz-aware datetime / Timestamp, or an array / Series of them
                (naive values are taken as UTC).
            end: same shape as ``start`` (or a scalar broadcast against it).

        Returns:
            ``F(end) - F(start)`` as float seconds: a float for scalar input, a
            numpy array otherwise; NaN where either end is missing (NaT), negative
            when ``end`` is before ``start``.
        """
        scalar = _is_scalar(start) and _is_scalar(end)
        result = self.cumulative_seconds(end) - self.cumulative_seconds(start)
        if scalar:
            return float(np.asarray(result).reshape(-1)[0])
        return result

    def cumulative_seconds(self, times: Any) -> np.ndarray:
        """``F(t)``: business seconds from 1970-01-01 (local) to each time; NaN for NaT."""
        import pandas as pd

        idx = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(times, dtype=object))
                                              if _is_scalar(times) else times, utc=True))
        missing = np.asarray(idx.isna())
        local = idx.tz_convert(self.tz).tz_localize(None)
        filled = local.where(~missing, pd.Timestamp("1970-01-01"))
        day = filled.floor("D")
        days64 = day.to_numpy().astype("datetime64[D]")
        sec_of_day = (filled - day).total_seconds().to_numpy(dtype=float)
        h0, h1 = self.hours[0] * 3600.0, self.hours[1] * 3600.0
        weekmask = [1 if d in self.weekdays else 0 for d in range(7)]
        holidays = np.array(sorted(self.holidays), dtype="datetime64[D]")
        origin = np.datetime64("1970-01-01", "D")
        whole_days = np.busday_count(origin, days64, weekmask=weekmask, holidays=holidays).astype(float)
        is_work = np.is_busday(days64, weekmask=weekmask, holidays=holidays)
        if self.workdays:
            extra = np.array(sorted(set(self.workdays) - set(self.holidays)), dtype="datetime64[D]")
            extra = extra[~np.is_busday(extra, weekmask=weekmask)]
            # busday_count(origin, d) counts [origin, d); count extra days likewise
            # (negative for days before the origin).
            whole_days += (np.searchsorted(extra, days64, side="left")
                           - np.searchsorted(extra, origin, side="left"))
            is_work = is_work | np.isin(days64, extra)
        partial = np.clip(sec_of_day, h0, h1) - h0
        out = whole_days * (h1 - h0) + np.where(is_work, partial, 0.0)
        out[missing] = np.nan
        return np.asarray(out, dtype=float)

    def is_business_time(self, times: Any) -> np.ndarray:
        """True where a time falls inside working hours on a working day."""
        import pandas as pd

        idx = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
        local = idx.tz_convert(self.tz).tz_localize(None)
        days64 = local.floor("D").to_numpy().astype("datetime64[D]")
        weekmask = [1 if d in self.weekdays else 0 for d in range(7)]
        holidays = np.array(sorted(self.holidays), dtype="datetime64[D]")
        work = np.is_busday(days64, weekmask=weekmask, holidays=holidays)
        if self.workdays:
            work |= np.isin(days64, np.array(sorted(self.workdays), dtype="datetime64[D]"))
        sec = (local - local.floor("D")).total_seconds().to_numpy(dtype=float)
        return np.asarray(work & (sec >= self.hours[0] * 3600) & (sec < self.hours[1] * 3600))


def elapsed_seconds(start: pd.Series | np.ndarray, end: pd.Series | np.ndarray,
                    calendar: BusinessCalendar | None = None) -> np.ndarray:
    """Wall-clock (``calendar`` None) or business seconds from ``start`` to ``end``."""
    import pandas as pd

    if calendar is not None:
        return np.asarray(calendar.business_seconds(start, end), dtype=float)
    s = pd.to_datetime(pd.Series(np.asarray(start)) if not isinstance(start, pd.Series) else start, utc=True)
    e = pd.to_datetime(pd.Series(np.asarray(end)) if not isinstance(end, pd.Series) else end, utc=True)
    return np.asarray((e.to_numpy() - s.to_numpy()) / np.timedelta64(1, "s"), dtype=float)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (datetime, date, str)) or np.ndim(value) == 0


def _hhmm(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_HOURS = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")


def _parse_hours(text: str) -> tuple[float, float]:
    m = _HOURS.match(text)
    if not m:
        raise CalendarError(f"cannot read working hours {text!r} (write e.g. 8-20 or 8:30-17:30)")
    h0 = int(m.group(1)) + int(m.group(2) or 0) / 60
    h1 = int(m.group(3)) + int(m.group(4) or 0) / 60
    return (h0, h1)


def _day(name: str) -> int:
    key = name.strip().lower()[:3]
    if key not in DAY_NAMES:
        raise CalendarError(f"unknown weekday {name!r} (use mon, tue, wed, thu, fri, sat, sun)")
    return DAY_NAMES.index(key)


def _parse_days(text: str) -> tuple[int, ...]:
    days: set[int] = set()
    for part in re.split(r"[;+ ]+", text.strip()):
        if not part:
            continue
        if "-" in part:
            a, b = (_day(x) for x in part.split("-", 1))
            span = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
            days.update(span)
        else:
            days.add(_day(part))
    if not days:
        raise CalendarError(f"no working days in {text!r} (write e.g. days=mon-fri)")
    return tuple(sorted(days))


def _parse_dates(text: str) -> tuple[date, ...]:
    out: set[date] = set()
    for part in re.split(r"[;+ ]+", text.strip()):
        if not part:
            continue
        first, dots, last = part.partition("..")
        try:
            a = date.fromisoformat(first.strip())
            b = date.fromisoformat(last.strip()) if dots else a
        except ValueError as exc:
            raise CalendarError(f"cannot read date {part!r} (write 2025-10-01 or 2025-10-01..2025-10-07)") from exc
        if b < a:
            raise CalendarError(f"date range {part!r} ends before it starts")
        out.update(a + timedelta(days=i) for i in range((b - a).days + 1))
    return tuple(sorted(out))


def parse_calendar(spec: str | None) -> BusinessCalendar | None:
    """:meth:`BusinessCalendar.parse`, or None for None / empty text."""
    if spec is None or not spec.strip():
        return None
    return BusinessCalendar.parse(spec)


def as_calendar(value: BusinessCalendar | str | None) -> BusinessCalendar | None:
    """Accept a calendar, a spec string or None."""
    if value is None or isinstance(value, BusinessCalendar):
        return value
    return parse_calendar(value)


__all__ = [
    "BusinessCalendar",
    "CalendarError",
    "as_calendar",
    "elapsed_seconds",
    "parse_calendar",
]
