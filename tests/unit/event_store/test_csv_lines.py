"""Each CSV row's first line in the file, found from the bytes (event_store.io.csv_lines).

Random files are written with what makes rows and lines differ: blank lines and lines of
spaces, values in quotes over several lines (with ``""``, the delimiter and line ends
inside), quotes inside unquoted values (``5" screen``), LF, CRLF and CR line ends, a
byte-order mark, no line end after the last row. The writer notes the line each row
starts on; the scan must find exactly those, in chunks of any size, and as many rows as
pandas (and pyarrow, where it reads the file) reads.
"""

from __future__ import annotations

import gzip
import random
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from event_store.io import csv_lines
from event_store.io.csv_lines import RowLines, scan_lines

_BREAK = re.compile(r"\r\n|\r|\n")


def _field(rng: random.Random, sep: str, end: str) -> str:
    kind = rng.random()
    if kind < 0.5:
        return rng.choice(["", "a", "Open", "5\" screen", "x\"y\"z", "T-01", "2024-01-01 08:00:00"])
    inner = "".join(rng.choice(["a", " ", sep, '""', "\n", "\r\n", end, "b", "\"\"\"\""]) for _ in range(rng.randint(0, 6)))
    return f'"{inner}"'


def _write(rng: random.Random, sep: str, end: str, *, bom: bool, rows: int) -> tuple[str, list[int]]:
    """A CSV text and the line each of its rows starts on (the header is on line 1 or later)."""
    parts: list[str] = []
    line = 1
    lines: list[int] = []

    def put(text: str) -> None:
        nonlocal line
        parts.append(text)
        line += len(_BREAK.findall(text))

    put("\ufeff" if bom else "")
    while rng.random() < 0.2:
        put(end)  # blank lines before the header
    header = sep.join(["ticket", '"status"', "at"])
    put(header + end)
    for i in range(rows):
        while rng.random() < 0.15:
            put(rng.choice([end, "   " + end, "\t " + end if sep != "\t" else end]))
        lines.append(line)
        fields = [f"T{i}", _field(rng, sep, end), _field(rng, sep, end)]
        put(sep.join(fields) + ("" if i == rows - 1 and rng.random() < 0.3 else end))
    return "".join(parts), lines


@pytest.mark.parametrize("seed", range(40))
def test_the_scan_finds_the_line_each_row_starts_on(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    sep = rng.choice([",", ";", "\t", "|"])
    end = rng.choice(["\n", "\r\n", "\r"])
    text, expected = _write(rng, sep, end, bom=rng.random() < 0.3, rows=rng.randint(1, 60))
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(csv_lines, "CHUNK_BYTES", rng.choice([1, 7, 64, 1 << 20]))
    got = scan_lines(str(path), sep)
    assert got.rows == len(expected)
    assert got.at(np.arange(len(expected))).tolist() == expected
    df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert df["ticket"].tolist() == [f"T{i}" for i in range(len(expected))]  # pandas reads those rows
    try:  # and pyarrow too, where it reads the file (not with lines of spaces)
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True))
    except pa.ArrowInvalid:
        assert re.search(r"(^|[\r\n])[ \t]+(\r|\n|$)", text)
    else:
        assert table.column("ticket").to_pylist() == df["ticket"].tolist()


def test_a_gzipped_latin1_or_utf16_file_is_scanned_too(tmp_path):
    text = 'a;b;c\n\nK1;"Réçu\nsur deux lignes";x\nK2;Geprüft;y\n'
    for name, data, enc in (("l.csv", text.encode("latin-1"), "latin-1"),
                            ("u.csv", text.encode("utf-16"), "utf-16"),
                            ("g.csv.gz", gzip.compress(text.encode()), "utf-8")):
        (tmp_path / name).write_bytes(data)
        assert scan_lines(str(tmp_path / name), ";", enc).at([0, 1]).tolist() == [3, 5], name


def test_row_lines_of_a_part_and_a_count_that_does_not_match():
    lines = RowLines(2, [3, 10], [2, 5], rows=20)
    assert lines.at(np.arange(12)).tolist() == [2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 17, 18]
    assert lines.after(9).at([0, 1]).tolist() == [13, 17] and lines.after(9).of(1) == 17
    assert lines.checked(20) is lines
    assert lines.checked(19).at([0, 5]).tolist() == [2, 7]  # the reader read other rows: rows counted as lines
    assert RowLines(1).of(0) == 1


def test_a_header_alone_has_no_rows(tmp_path):
    (tmp_path / "h.csv").write_bytes(b"a,b,c\n\n")
    assert scan_lines(str(tmp_path / "h.csv"), ",").rows == 0
