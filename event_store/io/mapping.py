"""Mapping files: everything ``csmine import``'s flags say about an export, in one TOML file.

A mapping file names the export's shape (``format``), its columns or fields, the time
format and zone, the CSV dialect, case attributes, a case table, activity renames and
drops, how a status change becomes an activity (the new value, or ``"field: value"``),
which states close a ticket, and whether repeated states collapse. Presets are mapping
files shipped in ``event_store/io/presets/`` (:func:`list_presets`, :func:`load_preset`).

* :func:`read_mapping` / :func:`parse_mapping` read a file or text and check it: every
  problem is reported with its line (``m.toml:7: unknown key 'colums' (known: ...)``),
  all of them at once, as one :class:`~event_store.errors.ImportFormatError`.
* :func:`dump_mapping` writes a mapping back as TOML (``csmine import --print-mapping``);
  ``parse_mapping(dump_mapping(m)) == m``.

The format, key by key, is in ``docs/mapping-files.md``. Nothing here reads an export:
:mod:`event_store.io.vendors` does, with a mapping.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from event_store.errors import ImportFormatError
from event_store.io.read_base import LIFECYCLE_MODES, ColumnMapping
from event_store.io.mapping_check import Checker, check_encoding, check_sep

if TYPE_CHECKING:
    from event_store.application import TicketStore

#: Shapes of export a mapping can name: tables and XES (read by event_store.io.importing),
#: and change records (read by event_store.io.vendors).
TABLE_FORMATS = ("csv", "parquet", "xes")
CHANGE_FORMATS = ("servicenow-audit", "zendesk-audits", "jira-changelog")
FORMATS = (*TABLE_FORMATS, *CHANGE_FORMATS)
#: How a status change becomes an activity: the new value, or "field: value".
ACTIVITY_FORMS = ("value", "field: value")

_ROOT = ("name", "description", "format", "lifecycle", "activity_form", "collapse_repeats", "closed_when",
         "missing_values", "columns", "case_attributes", "time", "csv", "case_table", "activities", "changes")
_TABLES = {
    "columns": ("case", "activity", "timestamp", "resource", "team", "start", "lifecycle", "order"),
    "time": ("format", "zone"),
    "csv": ("delimiter", "encoding"),
    "case_table": ("file", "key", "delimiter", "encoding"),
    "activities": ("drop", "rename"),
    "changes": ("steps", "team", "attributes", "table", "case"),
}


@dataclass(frozen=True, slots=True)
class CaseTableSpec:
    """A case table to join (see :func:`event_store.io.case_table.read_case_table`).

    Attributes:
        file: its path (relative paths are relative to the mapping file's folder).
        key: its ticket id column (None: the events' case column name).
        sep: its delimiter (None: sniffed).  encoding: its encoding (None: detected).
    """

    file: str
    key: str | None = None
    sep: str | None = None
    encoding: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeRules:
    """How records of field changes (audit rows, audits, changelogs) become steps.

    Attributes:
        steps: fields whose changes are steps (``status``, ``incident_state``).
        team: the field whose value is the team of the steps from its change on
            (``assignment_group``, ``group_id``); None: no team.
        attributes: fields whose value at each step is kept as a step attribute
            (``assignee_id``).
        table: ServiceNow ``sys_audit``: only rows of this ``tablename`` (None: all).
        case: ticket attribute -> field; the field's earliest value (the value before
            its first change, else its first value) becomes the ticket attribute.
    """

    steps: tuple[str, ...] = ("status",)
    team: str | None = None
    attributes: tuple[str, ...] = ()
    table: str | None = None
    case: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportMapping:
    """What a mapping file says about an export (every field has the flags' default).

    Attributes:
        name: the mapping's (preset's) name, used in messages.
        description: one line on what export it is for.
        format: the export's shape (:data:`FORMATS`); None: from the file name.
        lifecycle: how to read ``lifecycle:transition`` (tables and XES).
        activity_form: ``"value"`` (the new value is the activity) or
            ``"field: value"`` (``"incident_state: Active"``).
        collapse_repeats: merge consecutive rows of a ticket with the same activity.
        closed_when: states (activities) that close a ticket.
        missing_values: cell values that mean "no value" (``"?"``, ``"NULL"``).
        columns: columns, time format and zone, CSV dialect, case attributes.
        order_column: a column that orders a ticket's rows with the same time (a
            modification count such as ServiceNow's ``sys_mod_count``); None: file order.
        case_table: a case table to join, if any.
        drop: activities left out (after renaming).
        rename: source activity -> the activity recorded.
        changes: rules for change records (``servicenow-audit``, ``zendesk-audits``,
            ``jira-changelog``).
        source: the file it was read from (not part of equality).
    """

    name: str | None = None
    description: str = ""
    format: str | None = None
    lifecycle: str = "auto"
    activity_form: str = "value"
    collapse_repeats: bool = False
    closed_when: tuple[str, ...] = ()
    missing_values: tuple[str, ...] = ()
    columns: ColumnMapping = field(default_factory=ColumnMapping)
    order_column: str | None = None
    case_table: CaseTableSpec | None = None
    drop: tuple[str, ...] = ()
    rename: dict[str, str] = field(default_factory=dict)
    changes: ChangeRules = field(default_factory=ChangeRules)
    source: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """How messages name it: ``preset 'zendesk'`` or ``mapping 'm.toml'``."""
        if self.source is None and self.name:
            return f"preset {self.name!r}"
        if self.source is not None and _is_preset_path(self.source):
            return f"preset {self.name!r}"
        if self.source is not None:
            return f"mapping {os.path.basename(self.source)!r}"
        return "the import flags"

    def case_table_path(self) -> str | None:
        """The case table's path: relative to the mapping file's folder when it came from one."""
        if self.case_table is None or not self.case_table.file:
            return None
        file = self.case_table.file
        if self.source is None or os.path.isabs(file) or _is_preset_path(self.source):
            return file
        return os.path.join(os.path.dirname(self.source), file)

    def refines(self) -> bool:
        """Whether it changes activities after reading (renames, drops, missing values, field form)."""
        return bool(self.rename or self.drop or self.missing_values or self.activity_form != "value"
                    or self.order_column)

    def closes(self, activity: str) -> bool:
        """Whether ``activity`` closes a ticket: it, or one of its ``/``-parts, is in ``closed_when``."""
        if not self.closed_when:
            return False
        wanted = {c.casefold() for c in self.closed_when}
        name = activity.casefold()
        return name in wanted or any(part.strip() in wanted for part in name.split("/"))


# -- reading -----------------------------------------------------------------------------------


def parse_mapping(text: str, source: str | None = None) -> ImportMapping:
    """Read a mapping from TOML text (raises ImportFormatError naming every problem's line).

    Args:
        text: the TOML text.
        source: the file it came from (for messages, and relative case-table paths).
    """
    where = os.path.basename(source) if source else "<mapping>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImportFormatError(f"mapping {where}: not valid TOML: {exc} (the format: docs/mapping-files.md)") from None
    ck = Checker(text, where)
    ck.unknown(data, _ROOT, "")
    tables = {name: ck.table(data, name) for name in ("columns", "case_attributes", "time", "csv", "case_table",
                                                      "activities", "changes")}
    for name, known in _TABLES.items():
        ck.unknown(tables[name], known, name)
    fmt, lifecycle, form = _shape(ck, data)
    columns, order_column = _columns(ck, tables)
    drop, rename = _activities(ck, tables["activities"])
    mapping = ImportMapping(
        name=ck.text(data, "name", ""),
        description=ck.text(data, "description", "", empty=True) or "",
        format=fmt,
        lifecycle=lifecycle,
        activity_form=form,
        collapse_repeats=bool(ck.flag(data, "collapse_repeats", "")),
        closed_when=ck.texts(data, "closed_when", ""),
        missing_values=ck.texts(data, "missing_values", ""),
        columns=columns,
        order_column=order_column,
        case_table=_case_table(ck, tables["case_table"]),
        drop=drop,
        rename=rename,
        changes=_changes(ck, tables["changes"]),
        source=source,
    )
    ck.raise_if_any()
    return mapping


def _shape(ck: Checker, data: dict[str, Any]) -> tuple[str | None, str, str]:
    """The top level's ``format``, ``lifecycle`` and ``activity_form``."""
    fmt = ck.text(data, "format", "")
    if fmt is not None and fmt not in FORMATS:
        ck.fail("", "format", f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")
    lifecycle = ck.text(data, "lifecycle", "") or "auto"
    if lifecycle not in LIFECYCLE_MODES:
        ck.fail("", "lifecycle", f"unknown lifecycle {lifecycle!r} (use one of {', '.join(LIFECYCLE_MODES)})")
    form = ck.text(data, "activity_form", "") or "value"
    if form not in ACTIVITY_FORMS:
        ck.fail("", "activity_form", f"activity_form {form!r}: use \"value\" (the new value is the activity) "
                                     "or \"field: value\" (e.g. \"incident_state: Active\")")
    return fmt, lifecycle, form


def _columns(ck: Checker, tables: dict[str, dict[str, Any]]) -> tuple[ColumnMapping, str | None]:
    """``[columns]``, ``[case_attributes]``, ``[time]`` and ``[csv]``: the columns and the order column."""
    cols = tables["columns"]
    defaults = ColumnMapping()
    column = {key: ck.text(cols, key, "columns") for key in _TABLES["columns"]}
    order_column = column.pop("order")
    time = tables["time"]
    tformat = ck.text(time, "format", "time")
    zone = ck.text(time, "zone", "time")
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            ck.fail("time", "zone", f"unknown time zone {zone!r} (use an IANA name such as Europe/Brussels or UTC)")
    if tformat is not None and "%" not in tformat:
        ck.fail("time", "format", f"time format {tformat!r} has no % directive (write it for strptime, "
                                  "e.g. \"%d/%m/%Y %H:%M\")")
    csv = tables["csv"]
    sep = check_sep(ck, csv, "csv")
    encoding = check_encoding(ck, csv, "csv")
    columns = ColumnMapping(
        case=column["case"] or defaults.case,
        activity=column["activity"] or defaults.activity,
        timestamp=column["timestamp"] or defaults.timestamp,
        resource=column["resource"] if "resource" in cols else defaults.resource,
        team=column["team"] if "team" in cols else defaults.team,
        start=column["start"] if "start" in cols else defaults.start,
        lifecycle=column["lifecycle"] if "lifecycle" in cols else defaults.lifecycle,
        case_attrs=ck.mapping(tables["case_attributes"], "case_attributes", "column"),
        timestamp_format=tformat, tz=zone, sep=sep, encoding=encoding,
        named=frozenset(k for k in ("resource", "team", "start", "lifecycle") if k in cols),
    )
    return columns, order_column


def _case_table(ck: Checker, ct: dict[str, Any]) -> CaseTableSpec | None:
    """``[case_table]``: the file with one row per ticket, if any."""
    if not ct:
        return None
    file = ck.text(ct, "file", "case_table")
    if file is None:
        ck.fail("case_table", None, "[case_table] needs file = \"...\" (the CSV or Parquet file with one row "
                                    "per ticket)")
        return None
    return CaseTableSpec(file, ck.text(ct, "key", "case_table"), check_sep(ck, ct, "case_table"),
                         check_encoding(ck, ct, "case_table"))


def _activities(ck: Checker, acts: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, str]]:
    """``[activities]``: the activities dropped, and the renames."""
    rename_raw = acts.get("rename", {})
    if not isinstance(rename_raw, dict):
        ck.fail("activities", "rename", "[activities] rename must be a table ([activities.rename] with "
                                        "\"source\" = \"recorded\" lines)")
        rename_raw = {}
    rename = ck.mapping(rename_raw, "activities.rename", "recorded activity")
    return ck.texts(acts, "drop", "activities"), rename


def _changes(ck: Checker, ch: dict[str, Any]) -> ChangeRules:
    """``[changes]``: how change records become steps."""
    case_raw = ch.get("case", {})
    if not isinstance(case_raw, dict):
        ck.fail("changes", "case", "[changes] case must be a table ([changes.case] with attribute = \"field\")")
        case_raw = {}
    steps = ck.texts(ch, "steps", "changes")
    if "steps" in ch and not steps:
        ck.fail("changes", "steps", "[changes] steps must name at least one field whose changes are steps")
    return ChangeRules(
        steps=steps or ChangeRules().steps,
        team=ck.text(ch, "team", "changes"),
        attributes=ck.texts(ch, "attributes", "changes"),
        table=ck.text(ch, "table", "changes"),
        case=ck.mapping(case_raw, "changes.case", "field"),
    )


def read_mapping(path: str) -> ImportMapping:
    """Read and check a mapping file (raises ImportFormatError)."""
    if not os.path.isfile(path):
        raise ImportFormatError(f"no such mapping file: {path!r} (check the path; `csmine import --list-presets` "
                                "lists the shipped ones)")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise ImportFormatError(f"mapping {os.path.basename(path)} is not UTF-8 text: save it as UTF-8") from None
    return parse_mapping(text, path)


# -- presets -----------------------------------------------------------------------------------


def _presets_dir() -> Any:
    return resources.files("event_store.io").joinpath("presets")


def _is_preset_path(path: str) -> bool:
    return os.path.dirname(os.path.abspath(path)) == os.path.abspath(str(_presets_dir()))


def list_presets() -> list[tuple[str, str]]:
    """The shipped presets: ``(name, description)``, by name."""
    names = sorted(e.name[:-5] for e in _presets_dir().iterdir() if e.name.endswith(".toml"))
    return [(name, load_preset(name).description) for name in names]


def load_preset(name: str) -> ImportMapping:
    """A shipped preset by name (raises ImportFormatError listing the presets)."""
    entry = _presets_dir().joinpath(f"{name}.toml")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or not entry.is_file():
        names = sorted(e.name[:-5] for e in _presets_dir().iterdir() if e.name.endswith(".toml"))
        raise ImportFormatError(f"unknown preset {name!r}: the presets are {', '.join(names)} "
                                "(`csmine import --list-presets`; or give your own with --mapping FILE)")
    return parse_mapping(entry.read_text(encoding="utf-8"), str(entry))


# -- what an import leaves for later commands ---------------------------------------------------

#: ``csmine_meta`` key holding the states that close a ticket, as import mappings said.
CLOSING_KEY = "import.closed_when"


def remember_closing(store: TicketStore, states: tuple[str, ...]) -> tuple[str, ...]:
    """Add ``states`` to the closing states the store keeps (a hint for ``csmine sop draft``).

    The hint is metadata, not history: it is not hash-chained, and ``--closed-when``
    or an SOP's ``closed_when`` always decide. Returns the states now kept.
    """
    kept = tuple(dict.fromkeys([*remembered_closing(store), *states]))
    if not states:
        return kept
    value = json.dumps(list(kept), ensure_ascii=False)
    with store.db.transaction(write=True) as cur:
        if store.location.kind == "postgres":
            cur.execute("INSERT INTO csmine_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                        "SET value = EXCLUDED.value", (CLOSING_KEY, value))
        else:
            cur.execute("INSERT OR REPLACE INTO csmine_meta (key, value) VALUES (?, ?)", (CLOSING_KEY, value))
    return kept


def remembered_closing(store: TicketStore) -> tuple[str, ...]:
    """The closing states earlier imports' mappings named (empty when none did)."""
    rows = store.db.query("SELECT value FROM csmine_meta WHERE key = ?", (CLOSING_KEY,))
    if not rows:
        return ()
    try:
        states = json.loads(rows[0][0])
    except ValueError:
        return ()
    return tuple(str(s) for s in states) if isinstance(states, list) else ()


def with_flags(mapping: ImportMapping, **flags: Any) -> ImportMapping:
    """The mapping with the given flags in force (flags override the file).

    Keys: ``format``, ``lifecycle``, ``collapse_repeats``, ``closed_when``, the
    :class:`~event_store.io.read_base.ColumnMapping` fields (``case``, ``activity``,
    ``timestamp``, ``resource``, ``team``, ``start``, ``timestamp_format``, ``tz``,
    ``sep``, ``encoding``; ``lifecycle_column`` for its ``lifecycle``), ``case_attrs``
    (merged into the file's), and ``case_table``, ``case_key``, ``case_sep``,
    ``case_encoding``. A column flag names its role outright (the file must have the column).
    """
    top: dict[str, Any] = {}
    cols: dict[str, Any] = {}
    table: dict[str, Any] = {}
    for key, value in flags.items():
        if key in ("format", "lifecycle", "collapse_repeats", "closed_when"):
            top[key] = value
        elif key == "lifecycle_column":
            cols["lifecycle"] = value
            cols["named"] = cols.get("named", mapping.columns.named) | {"lifecycle"}
        elif key == "case_attrs":
            cols["case_attrs"] = {**mapping.columns.case_attrs, **value}
        elif key in ("case_table", "case_key", "case_sep", "case_encoding"):
            table[key.removeprefix("case_").replace("table", "file")] = value
        elif key in ColumnMapping.__dataclass_fields__ and key != "named":
            cols[key] = value
            if key in ("resource", "team", "start"):  # named outright: the file must have it
                cols["named"] = cols.get("named", mapping.columns.named) | {key}
        else:
            raise TypeError(f"unknown import flag {key!r}")
    spec = mapping.case_table
    if table:
        base = spec or CaseTableSpec(table.get("file") or "")
        spec = dataclasses.replace(base, **{k: v for k, v in table.items()})
    return dataclasses.replace(mapping, columns=dataclasses.replace(mapping.columns, **cols), case_table=spec, **top)


__all__ = [
    "ACTIVITY_FORMS", "CHANGE_FORMATS", "CLOSING_KEY", "FORMATS", "TABLE_FORMATS", "CaseTableSpec", "ChangeRules",
    "ImportMapping", "list_presets", "load_preset", "parse_mapping", "read_mapping",
    "remember_closing", "remembered_closing", "with_flags",
]
