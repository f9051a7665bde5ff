"""CSV and Parquet files read into a checked DataFrame, with what messages need.

:func:`read_frame` reads a table. For CSV the dialect is detected unless given: a
byte-order mark names the encoding (:func:`text_encoding`: UTF-8, UTF-16 LE/BE), else
UTF-8; the delimiter is sniffed (:func:`sniff`) among ``,`` ``;`` tab ``|`` on the first
:data:`SNIFF_BYTES` (the one that splits every line into the header's number of
fields), tab for ``.tsv``. A CSV that csmine exported itself (its manifest matches, see
:mod:`event_store.io.files`) has the quotes csmine added before formula-like cells removed.

Suspect input is refused rather than guessed at: a header with the same column
name twice (pandas would silently rename the second ``name.1``), a NUL byte in a
value, a line that does not decode in the encoding. Every error names the file, the
line (or row) and what to pass.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass
from typing import Any

from event_store.errors import ImportFormatError
from event_store.io.csv_lines import RowLines, scan_lines
from event_store.io.files import read_manifest, restore_frame
from event_store.io.read_base import inflated, parse_sep
from event_store.limits import current_limits

#: Delimiters the CSV sniffer chooses among, in order of preference on a tie.
DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 64 * 1024


@dataclass(slots=True)
class Frame:
    """A table as read, with what is needed for messages."""

    df: Any
    lines: RowLines  # each row's line (CSV: where it starts in the file) or number (Parquet)
    row_word: str
    sep: str | None = None  # the delimiter used (CSV)
    sniffed: str | None = None  # the delimiter the sample suggests (CSV)
    option: str = "--"

    def sep_hint(self) -> str:
        """'; the file looks ;-separated: pass --sep ';'' when the sample suggests another delimiter."""
        if self.sniffed is None or self.sep is None or self.sniffed == self.sep:
            return ""
        return f"; the file looks {_sep_word(self.sniffed)}-separated: pass {self.option}sep {_sep_arg(self.sniffed)}"


def _sep_word(sep: str) -> str:
    return "tab" if sep == "\t" else sep


def _sep_arg(sep: str) -> str:
    return "tab" if sep == "\t" else f"'{sep}'"


def listing(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}" if len(numbers) > 1 else str(numbers[0])


def read_frame(path: str, name: str, fmt: str, *, sep: str | None, encoding: str | None, option: str,
               min_fields: int) -> Frame:
    """Read a CSV or Parquet file into a DataFrame; suspect input refused (see the module docstring)."""
    import pandas as pd

    if fmt == "csv":
        frame = _read_csv(path, name, sep=sep, encoding=encoding, option=option, min_fields=min_fields)
    else:
        import pyarrow.parquet as pq

        try:
            names = [str(n) for n in pq.read_schema(path).names]
            check_header(names, name, "schema")
            df = pq.read_table(path).to_pandas(types_mapper={}.get, timestamp_as_object=False)
        except ImportFormatError:
            raise
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ImportFormatError(f"{name}: cannot read as PARQUET: {first} (is it really a PARQUET file?)") from None
        frame = Frame(df, RowLines(1), "row", option=option)
    if frame.df.empty:
        raise ImportFormatError(f"{name}: no rows to import (only a header?)")
    _check_nul(frame.df, name, frame.lines, frame.row_word, pd)
    return frame


def _read_csv(path: str, name: str, *, sep: str | None, encoding: str | None, option: str,
              min_fields: int) -> Frame:
    import pandas as pd

    sep = parse_sep(sep, f"{option}sep")
    inflated(path, current_limits(), "CSV")  # a compressed file is refused before pandas inflates it
    manifest = read_manifest(path)
    head = read_head(path, name)
    enc = text_encoding(head, encoding, name, option)
    text = head.decode(enc, errors="replace")
    if len(head) >= SNIFF_BYTES and text.rfind("\n") > 0:
        text = text[: text.rfind("\n") + 1]  # whole lines only
    sniffed = sniff(text)
    if sep is None:
        sep = "\t" if path.lower().endswith((".tsv", ".tsv.gz")) else (sniffed or ",")
    frame = Frame(None, RowLines(), "line", sep, sniffed, option)  # line 1 is the header
    header = header_fields(text, sep)
    if len(header) < min_fields and frame.sep_hint():
        raise ImportFormatError(
            f"{name}: line 1 splits into {len(header)} column{'' if len(header) == 1 else 's'} "
            f"with {option}sep {_sep_arg(sep)}{frame.sep_hint()}"
        )
    check_header(header, name, "line 1")
    try:
        frame.df = pd.read_csv(path, sep=sep, encoding=enc, dtype=str, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError:
        raise ImportFormatError(_encoding_message(path, name, enc, option)) from None
    except pd.errors.EmptyDataError:
        raise ImportFormatError(f"{name} is empty: nothing to import (check the export that made it)") from None
    except pd.errors.ParserError as exc:
        raise ImportFormatError(_parser_message(name, str(exc), frame, lambda n: _record_line(path, enc, sep, n)))\
            from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFormatError(f"{name}: cannot read as CSV: {first} (is it really a CSV file?)") from None
    frame.lines = scan_lines(path, sep, enc).checked(len(frame.df))
    if not isinstance(frame.df.index, pd.RangeIndex):  # pandas made the first field(s) the index
        raise ImportFormatError(_more_fields_message(name, frame, len(header)))
    if manifest is not None and manifest.get("cells") == "neutralised":
        # csmine's own export: take off the quotes it put before formula-like cells
        frame.df = restore_frame(frame.df)
    return frame


def _open_binary(path: str) -> Any:
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def read_head(path: str, name: str) -> bytes:
    try:
        with _open_binary(path) as fh:
            return bytes(fh.read(SNIFF_BYTES))
    except (OSError, EOFError, zlib.error) as exc:
        gz = "gzipped " if path.lower().endswith(".gz") else ""
        raise ImportFormatError(f"{name}: cannot read ({exc}); is it really a {gz}CSV file? "
                                "(check the file is complete)") from None


def text_encoding(head: bytes, encoding: str | None, name: str, option: str) -> str:
    """The codec to read with: the one given, else what a byte-order mark says, else UTF-8."""
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise ImportFormatError(f"{name}: unknown encoding {encoding!r} ({option}encoding takes a Python codec "
                                    "name such as utf-8, latin-1, cp1252 or utf-16)") from None
        return "utf-8-sig" if codec == "utf-8" and head.startswith(codecs.BOM_UTF8) else encoding
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def sniff(text: str) -> str | None:
    """The delimiter that splits the sample's lines most consistently into the header's field count."""
    best: str | None = None
    best_score: tuple[float, int] | None = None
    for cand in DELIMITERS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(text), delimiter=cand) if r]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        score = (sum(1 for c in counts if c == counts[0]) / len(counts), counts[0])
        if best_score is None or score > best_score:
            best, best_score = cand, score
    return best


def header_fields(text: str, sep: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text), delimiter=sep), [])
    except csv.Error:
        return []


def check_header(names: list[str], name: str, where: str) -> None:
    positions: dict[str, list[int]] = {}
    for i, col in enumerate(names, 1):
        if "\x00" in col:
            raise ImportFormatError(f"{name}: {where}, column {i}: the column name holds a NUL byte (\\0): "
                                    "the file is damaged or partly binary; re-export it")
        if col != "":  # pandas names empty headers "Unnamed: N", uniquely
            positions.setdefault(col, []).append(i)
    for col, pos in positions.items():
        if len(pos) > 1:
            raise ImportFormatError(
                f"{name}: {where}: column name {col!r} appears {len(pos)} times (columns {listing(pos)}); "
                "give each column its own name"
                + (f" (read as is, the second would silently become {col + '.1'!r})" if where == "line 1" else "")
            )


def _check_nul(df: Any, name: str, lines: RowLines, row_word: str, pd: Any) -> None:
    for col in df.columns:
        series = df[col]
        if not (series.dtype == object or isinstance(series.dtype, pd.StringDtype)):
            continue
        try:
            hit = series.str.contains("\x00", regex=False, na=False)
        except (AttributeError, TypeError):  # an object column without text
            continue
        if hit.any():
            i = int(hit.to_numpy(dtype=bool).nonzero()[0][0])
            raise ImportFormatError(
                f"{name}: {row_word} {lines.of(i)}, column {col!r}: the value holds a NUL byte (\\0), which a "
                "text export never should: the file is damaged or partly binary; clean or re-export it"
            )


def _encoding_message(path: str, name: str, enc: str, option: str) -> str:
    """Which line does not decode, and what to pass (only run when reading failed)."""
    where, detail = "a line", ""
    try:
        decoder = codecs.getincrementaldecoder(enc)()
        with _open_binary(path) as fh:
            for lineno, line in enumerate(fh, 1):
                try:
                    decoder.decode(line)
                except UnicodeDecodeError as exc:
                    where = f"line {lineno}"
                    if 0 <= exc.start < len(line):
                        detail = f" (byte 0x{line[exc.start]:02X} at byte {exc.start + 1} of the line)"
                    break
    except (OSError, EOFError, zlib.error, LookupError):
        pass
    codec = codecs.lookup(enc).name
    if codec in ("utf-8", "utf-8-sig"):
        return f"{name}: {where} is not valid UTF-8{detail}: pass {option}encoding latin-1 (or cp1252)"
    return (f"{name}: {where} is not valid {enc}{detail}: pass the file's encoding with {option}encoding, "
            "e.g. utf-8, latin-1 or cp1252")


def _more_fields_message(name: str, frame: Frame, fields: int) -> str:
    """The first row has more fields than the header (pandas then takes the first as the index)."""
    df = frame.df
    more = df.index.nlevels
    sep = frame.sep or ","
    where = f"{name}: line {frame.lines.of(0)} has {fields + more} fields, the header {fields}"
    if more == 1 and len(df.columns) and df[df.columns[-1]].isna().iloc[0]:
        return (f"{where}: the line ends with {_sep_arg(sep)} (an empty last field); remove the {_sep_arg(sep)} "
                "at the end of each line, or name the last column in the header")
    return f"{where}{_quoting_hint(frame)}"


def _quoting_hint(frame: Frame) -> str:
    return frame.sep_hint() or (f"; a value holding {_sep_word(frame.sep or ',')!r} must be in double quotes "
                                "(check the quoting on that line)")


def _record_line(path: str, enc: str, sep: str, record: int) -> int:
    """The line record ``record`` (pandas' count: 1 is the header, blank lines count) starts on.

    Only run when reading failed: the records before it are read one by one.
    """
    line = 1
    try:
        with _open_binary(path) as raw, io.TextIOWrapper(raw, encoding=enc, errors="replace", newline="") as fh:
            rows = csv.reader(fh, delimiter=sep)
            for _ in range(record - 1):
                if next(rows, None) is None:
                    break
                line = rows.line_num + 1
    except (OSError, EOFError, zlib.error, csv.Error):
        return record
    return line


def _parser_message(name: str, message: str, frame: Frame, line_of: Any) -> str:
    hint = _quoting_hint(frame)
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if m:
        return f"{name}: line {line_of(int(m.group(2)))} has {m.group(3)} fields, the header {m.group(1)}{hint}"
    first = message.strip().splitlines()[0] if message.strip() else "parse error"
    return f"{name}: cannot read as CSV: {first}{hint}"


__all__ = [
    "DELIMITERS", "SNIFF_BYTES", "Frame", "check_header", "header_fields", "listing", "read_frame", "read_head",
    "sniff", "text_encoding",
]
