"""Helpers for bulk work (imports): memory management."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def pause_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Bulk import creates hundreds of thousands of short-lived tuples and dicts while
    the parsed log stays alive; every generation-2 collection would walk all of it.
    Nothing here creates reference cycles, so reference counting frees everything.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
