"""Rows into PostgreSQL by ``COPY … (FORMAT csv)``, the CSV rendered by Arrow in C++.

The bulk paths (:mod:`event_store.persistence.bulk_write`) hold their rows as columns:
Python lists, ranges, constants and, for the read model, Arrow arrays. Rendering them
as COPY text value by value in Python took most of an import's client time on
PostgreSQL; here every column becomes an Arrow array (``bytea`` values hex-encoded,
one ``bytes.hex`` call each) and Arrow's CSV writer renders the rows in C++, in pieces
that the server parses while the next is rendered.

The encoding is PostgreSQL's CSV: a NULL is an unquoted empty field, every text value
is quoted (so an empty string stays an empty string, and commas, quotes and line
breaks inside values are kept), integers are plain.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np

from event_store.persistence.db import Cursor


def bytea_texts(values: Sequence[bytes]) -> Any:
    """``bytea`` input texts (``\\x`` and the hex digits) of byte strings, as an Arrow string array.

    (``bytes.hex`` per value is C; a numpy scatter of the digits measured slower.)
    """
    import pyarrow as pa

    return pa.array([f"\\x{bytes(v).hex()}" for v in values], type=pa.large_string())


def arrow_column(values: Any, n: int) -> Any:
    """One column of a bulk write (list, range, ``itertools.repeat``, numpy or Arrow array) as an Arrow array."""
    import pyarrow as pa

    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    if isinstance(values, range):
        return pa.array(np.arange(values.start, values.stop, values.step, dtype=np.int64))
    if isinstance(values, repeat):
        values = list(values)
    if isinstance(values, np.ndarray):
        return pa.array(values)
    first = next((v for v in values if v is not None), None)
    if isinstance(first, (bytes, bytearray, memoryview)):
        if any(v is None for v in values):
            raise ValueError("a bytea column of a bulk write holds a NULL")
        return bytea_texts(values)
    array = pa.array(values)
    if len(array) != n:
        raise ValueError(f"a bulk-write column holds {len(array)} values for {n} rows")
    return array


#: Rows rendered and sent at a time.
COPY_ROWS = 20_000


def copy_columns(cur: Cursor, table: str, columns: Sequence[str], data: Sequence[Any], n: int) -> None:
    """``COPY table (columns) FROM STDIN (FORMAT csv)`` of ``n`` rows given column by column."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not n:
        return
    arrays = [arrow_column(col, n) for col in data]
    frame = pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
    del arrays
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with cur.raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)") as copy:
        # In pieces: the server parses one while the next is rendered (Arrow releases the GIL).
        for piece in frame.to_batches(max_chunksize=COPY_ROWS):
            sink = pa.BufferOutputStream()
            pacsv.write_csv(piece, sink, options)
            copy.write(memoryview(sink.getvalue()))
