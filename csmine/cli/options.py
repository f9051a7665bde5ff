"""Options shared by many commands, as decorators."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from csmine.filters import LogFilter, parse_where

DEFAULT_STORE = "csmine.db"


def store_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--store",
        envvar="CSMINE_STORE",
        default=DEFAULT_STORE,
        show_default=True,
        help="SQLite file path or postgresql:// URL (env CSMINE_STORE).",
    )(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(f)


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--quiet", "-q", is_flag=True, help="No progress bars.")(f)


def parse_time(value: str | None, *, param: str = "time") -> datetime | None:
    """Parse an ISO date or date-time; naive values are taken as UTC."""
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"cannot read {value!r} as a date or time (use e.g. 2024-03-01 or 2024-03-01T09:30+08:00)",
            param_hint=param,
        ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


_FILTER_OPTIONS = [
    click.option("--from", "from_", metavar="TIME", help="Tickets opened at or after TIME."),
    click.option("--to", "to", metavar="TIME", help="Tickets opened before TIME."),
    click.option("--phase", metavar="NAME", help="Tickets of this phase (see `csmine phase list`)."),
    click.option("--team", multiple=True, help="Only this team (repeatable)."),
    click.option("--channel", multiple=True, help="Only this channel (repeatable)."),
    click.option("--category", multiple=True, help="Only this category (repeatable)."),
    click.option("--priority", multiple=True, help="Only this priority (repeatable)."),
    click.option("--where", multiple=True, metavar="KEY=VALUE", help="Attribute filter (repeatable)."),
]


def filter_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the standard filters; the command receives ``log_filter: LogFilter``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["log_filter"] = build_filter(
            kwargs.pop("from_"),
            kwargs.pop("to"),
            kwargs.pop("phase"),
            kwargs.pop("team"),
            kwargs.pop("channel"),
            kwargs.pop("category"),
            kwargs.pop("priority"),
            kwargs.pop("where"),
        )
        return f(*args, **kwargs)

    for option in reversed(_FILTER_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def build_filter(
    from_: str | None,
    to: str | None,
    phase: str | None,
    team: tuple[str, ...] = (),
    channel: tuple[str, ...] = (),
    category: tuple[str, ...] = (),
    priority: tuple[str, ...] = (),
    where: tuple[str, ...] = (),
) -> LogFilter:
    conditions = dict(parse_where(where))
    for key, values in (("team", team), ("channel", channel), ("category", category), ("priority", priority)):
        if values:
            conditions[key] = tuple(values)
    return LogFilter(
        start=parse_time(from_, param="--from"),
        end=parse_time(to, param="--to"),
        phase=phase,
        where=conditions,
    )


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def show_progress(quiet: bool) -> bool:
    """Progress bars only on a terminal, and not with --quiet."""
    return not quiet and sys.stderr.isatty()
