"""Options shared by many commands, as decorators."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

import click

from csmine.eventlog.filters import LogFilter, parse_where
from csmine.reports.json import dumps

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
    """``--quiet``: no progress and no informational lines on stderr (see :func:`info`)."""
    return click.option("--quiet", "-q", is_flag=True,
                        help="No progress and no informational lines on stderr (the SOP chosen, files written, "
                             "simplification); warnings, caveats and errors still print.")(f)


def info(message: str, quiet: bool) -> None:
    """An informational line on stderr (which SOP was chosen, a file written), unless ``--quiet``.

    Warnings and caveats (``warning:``, ``note:``) are not information: they print either way.
    """
    if message and not quiet:
        click.echo(message, err=True)


def _calendar(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from csmine.performance.business_calendar import parse_calendar

    return parse_calendar(value)  # CalendarError (exit 3) names what is wrong with the spec


#: ``--calendar SPEC``: the command receives ``calendar: BusinessCalendar | None`` (None: wall clock).
calendar_option = click.option(
    "--calendar", "calendar", metavar="SPEC", callback=_calendar,
    help="Business calendar: time counts only in business hours, e.g. "
         "hours=8-20,days=mon-fri,holidays=2025-01-01;2025-05-01,tz=Asia/Shanghai (default: wall clock).")


def _zone(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from datetime import UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if value.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise click.BadParameter(f"unknown time zone {value!r} (use e.g. UTC or Asia/Shanghai)") from exc


#: ``--tz NAME``: the command receives ``tz: tzinfo``.
tz_option = click.option("--tz", "tz", default="UTC", show_default=True, metavar="ZONE", callback=_zone,
                         help="Time zone of business days and printed times.")


def parse_time(value: str | None, *, param: str = "time", require_zone: bool = False) -> datetime | None:
    """Parse an ISO date or date-time.

    Naive values (no zone) are taken as UTC, or refused with ``require_zone``
    (times that are recorded as business facts must say where they happened).
    """
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
        if require_zone:
            raise click.BadParameter(
                f"{value!r} has no time zone: give a time zone, e.g. 2025-03-01T09:00+08:00 (or Z for UTC)",
                param_hint=param,
            )
        dt = dt.replace(tzinfo=UTC)
    return dt


_FILTER_OPTIONS = [
    click.option("--from", "from_", metavar="TIME", help="Tickets opened at or after TIME (no zone given: UTC)."),
    click.option("--to", "to", metavar="TIME", help="Tickets opened before TIME (no zone given: UTC)."),
    click.option("--phase", metavar="NAME", help="Tickets of this phase (see `csmine phase list`)."),
    click.option("--team", multiple=True, help="Only this team (repeatable)."),
    click.option("--channel", multiple=True, help="Only this channel (repeatable)."),
    click.option("--category", multiple=True, help="Only this category (repeatable)."),
    click.option("--priority", multiple=True, help="Only this priority (repeatable)."),
    click.option("--where", multiple=True, metavar="KEY=VALUE",
                 help="Ticket or step attribute filter, e.g. impact=2 (repeatable; an unknown key lists the known ones)."),
    click.option("--tie-order", type=click.Choice(["auto", "file"]), default="auto", show_default=True,
                 help="Order of a ticket's events with the same time: auto (opening/ending names, SOP step "
                      "order, name) or file (record order)."),
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
            tie_order=kwargs.pop("tie_order"),
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
    *,
    tie_order: str = "auto",
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
        tie_order=tie_order,
    )


def closing_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--closed-when REGEX`` and ``--stale-after DURATION``; the command receives
    ``closing: csmine.eventlog.lifecycle.ClosingRule`` (see that module for the rule)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from csmine.eventlog.lifecycle import DEFAULT_STALE_AFTER, ClosingRule

        closed_when = kwargs.pop("closed_when")
        stale = kwargs.pop("stale_after")
        horizon = DEFAULT_STALE_AFTER
        if stale is not None:
            if stale.strip().lower() in ("never", "none", "0"):
                horizon = None
            else:
                from process_models.errors import ProcessModelError
                from process_models.model import parse_duration

                try:
                    horizon = parse_duration(stale)
                except (ProcessModelError, ValueError) as exc:
                    raise click.BadParameter(f"{exc} (e.g. 30d, 2 weeks, never)", param_hint="--stale-after") from None
        kwargs["closing"] = ClosingRule(closed_when=closed_when or None, stale_after=horizon)
        return f(*args, **kwargs)

    wrapper = click.option(
        "--stale-after", metavar="DURATION",
        help="Open tickets with no event for this long before the log's end are reported stale "
             "(default 30 d; 'never' turns it off).")(wrapper)
    wrapper = click.option(
        "--closed-when", metavar="REGEX",
        help="Activities that close a ticket, besides the SOP's close step (e.g. 'Closed|Resolved'; "
             "case-insensitive, whole name or one /-part). Tickets not closed are open.")(wrapper)
    return wrapper


def echo_json(data: Any) -> None:
    """Print ``data`` as strict JSON (no NaN/Infinity tokens)."""
    click.echo(dumps(data))


class OutPath(click.ParamType):
    """An output path whose folder must already exist (checked before any work).

    ``-`` (stdout) passes through. With ``folder=True`` the value is a folder to be
    made, and its parent must exist.
    """

    name = "path"

    def __init__(self, *, folder: bool = False) -> None:
        self.folder = folder

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, PurePath) or str(value) == "-":
            return value if not isinstance(value, PurePath) else str(value)
        text = str(value)
        path = Path(text).expanduser()
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.exists():
            self.fail(f"cannot write {text!r}: folder {str(parent)!r} does not exist", param, ctx)
        if not parent.is_dir():
            self.fail(f"cannot write {text!r}: {str(parent)!r} is not a folder", param, ctx)
        if not self.folder and path.is_dir():
            self.fail(f"cannot write {text!r}: it is a folder (give a file name)", param, ctx)
        if self.folder and path.exists() and not path.is_dir():
            self.fail(f"cannot write {text!r}: it is a file (give a folder)", param, ctx)
        return text


#: The parameter type of every option or argument naming a file csmine writes.
out_path = OutPath()
#: The same, for a folder csmine makes (its parent must exist).
out_folder = OutPath(folder=True)


class DrawingPath(OutPath):
    """An output path for a drawing: its extension must be one Graphviz draws (or ``.dot``).

    Checked before any work, as a usage error (exit 2).
    """

    name = "drawing"

    def __init__(self, suffixes: tuple[str, ...]) -> None:
        super().__init__()
        self.suffixes = suffixes

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = super().convert(value, param, ctx)
        if text is not None and Path(str(text)).suffix.lower() not in self.suffixes:
            shown = [s for s in self.suffixes if s != ".gv"]
            self.fail(f"cannot tell the format of {str(text)!r} (use {', '.join(shown[:-1])} or {shown[-1]})",
                      param, ctx)
        return text


#: A map or flowchart: .svg, .png, .pdf, or the DOT source (.dot, .gv).
drawing_path = DrawingPath((".svg", ".png", ".pdf", ".dot", ".gv"))
#: ``conform --out``: the SOP flowchart coloured by deviations (.svg, .png or .dot).
chart_path = DrawingPath((".svg", ".png", ".dot", ".gv"))


def sop_option(
    dest: str = "sop",
    *,
    required: bool = False,
    default_text: str = "the shipped SOP that names the log's activities",
    help: str = "SOP: a shipped name (see `csmine sop list`) or a .toml/.bpmn file",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--sop NAME|FILE`` option; resolve its value with :func:`csmine.performance.sop_choice.choose_sop`."""
    text = f"{help}." if required else f"{help}; default: {default_text}."
    return click.option("--sop", dest, required=required, metavar="NAME|FILE", help=text)


@dataclasses.dataclass(frozen=True)
class EngineChoice:
    """What ``--engine``, ``--parquet`` and ``--spark-master`` asked for.

    Attributes:
        name: ``local`` (the in-process path), ``duckdb``, ``spark`` or ``postgres``.
        parquet: a Parquet export folder (``csmine export DIR --partition month``) for
            duckdb (default: the store itself) and spark (required).
        spark_master: the Spark master URL (default: Spark's own settings, else ``local[*]``).
    """

    name: str = "local"
    parquet: str | None = None
    spark_master: str | None = None

    @property
    def local(self) -> bool:
        return self.name == "local"

    def open(self, store: Any, log_filter: LogFilter) -> Any:
        """The engine (a context manager) over ``store`` or the export, for ``log_filter``."""
        from csmine.engines.open import open_engine

        return open_engine(self.name, store=store, parquet=self.parquet, log_filter=log_filter,
                           spark_master=self.spark_master)


@contextlib.contextmanager
def engine_source(engine: EngineChoice, store: str) -> Iterator[Any]:
    """The open store the engine reads (None when it reads only ``--parquet``)."""
    if engine.parquet is not None and engine.name in ("duckdb", "spark"):
        yield None
        return
    from event_store import open_store

    with open_store(store) as s:
        yield s


def engine_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine local|duckdb|spark|postgres`` with ``--parquet DIR`` and ``--spark-master URL``;
    the command receives ``engine: EngineChoice``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["engine"] = EngineChoice(kwargs.pop("engine_name"), kwargs.pop("parquet"), kwargs.pop("spark_master"))
        return f(*args, **kwargs)

    for option in reversed((
        click.option("--engine", "engine_name", type=click.Choice(["local", "duckdb", "spark", "postgres"]),
                     default="local", show_default=True, envvar="CSMINE_ENGINE",
                     help="Where the aggregation runs: in this process (local), DuckDB (the store or --parquet, "
                          "out of core), Spark (--parquet), or the PostgreSQL store's server (env CSMINE_ENGINE)."),
        click.option("--parquet", metavar="DIR", type=click.Path(file_okay=False),
                     help="A Parquet export (csmine export DIR --partition month) for --engine duckdb or spark "
                          "(spark also reads hdfs://, s3a://, ... URIs)."),
        click.option("--spark-master", metavar="URL", envvar="SPARK_MASTER",
                     help="--engine spark: the cluster (spark://host:7077, yarn, local[4], ...; env SPARK_MASTER; "
                          "default: spark-submit's, else local[*])."),
    )):
        wrapper = option(wrapper)
    return wrapper


def show_progress(quiet: bool) -> bool:
    """Progress bars only on a terminal, and not with --quiet."""
    return not quiet and sys.stderr.isatty()


def preload_pm4py() -> None:
    """Start importing pm4py in a background thread.

    Commands that build an SOP's Petri net need pm4py, whose import costs about two
    seconds of CPU; it runs on the second core while the store is read (SQLite and
    Arrow release the GIL), and the later ``import pm4py`` waits for it to finish.
    """
    import importlib
    import threading

    if "pm4py" in sys.modules:
        return

    def load() -> None:
        try:
            importlib.import_module("pm4py")
        except Exception:  # noqa: BLE001 -- the real import later reports any problem
            pass

    threading.Thread(target=load, name="csmine-preload-pm4py", daemon=True).start()
