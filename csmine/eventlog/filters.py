"""Filters shared by every analytic command (time window, phase, attributes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from csmine.errors import FilterError


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which tickets and events to analyse.

    Attributes:
        start: keep tickets opened at or after this business time (tz-aware).
        end: keep tickets opened before this business time (tz-aware).
        phase: keep tickets that belong to this phase (see ``csmine phase``).
        where: attribute equality tests, ``{"channel": ("phone", "email")}``; a free
            attribute keeps whole tickets with at least one matching step;
            several values of one key are alternatives, several keys must all hold.
            Case columns (channel, category, priority, emotion, customer, team,
            region), free case attributes and free step attributes are all accepted;
            an unknown key is an error that lists the known ones.
        tie_order: how events of a ticket with the same business time are ordered
            (see :mod:`csmine.eventlog.ordering`).
    """

    start: datetime | None = None
    end: datetime | None = None
    phase: str | None = None
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tie_order: str = "auto"

    def is_empty(self) -> bool:
        return self.start is None and self.end is None and not self.phase and not self.where

    def describe(self) -> str:
        parts = []
        if self.start is not None:
            parts.append(f"from {self.start.isoformat()}")
        if self.end is not None:
            parts.append(f"to {self.end.isoformat()}")
        if self.phase:
            parts.append(f"phase={self.phase}")
        for key, values in sorted(self.where.items()):
            parts.append(f"{key}={'|'.join(values)}")
        return ", ".join(parts) or "all tickets"


def parse_where(items: tuple[str, ...] | list[str]) -> dict[str, tuple[str, ...]]:
    """Parse ``key=value`` strings (``key=a,b`` for alternatives) into a dict."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise FilterError(f"cannot read filter {item!r}: expected key=value (e.g. region=East)")
        out.setdefault(key, []).extend(v.strip() for v in value.split(","))
    return {k: tuple(v) for k, v in out.items()}


def attrs_match(attrs: dict[str, object], where: dict[str, tuple[str, ...]]) -> bool:
    """Whether one event's free attributes pass every ``where`` test.

    A value passes when its text is one of the accepted values (as
    :func:`csmine.eventlog.loading.load_event_log` compares them); a missing or null
    attribute never passes.
    """
    for key, values in where.items():
        value = attrs.get(key)
        if value is None or str(value) not in values:
            return False
    return True
