"""Exit codes, mapped in one place.

0 ok; 1 bug (traceback); 2 usage (click's own); 3 bad event log or store, a file that cannot be read or written,
or Graphviz's `dot` missing or too slow (GraphvizError: the message names the fix);
4 reference model (SOP) missing or invalid; 5 a check failed (e.g. --min-fitness,
verify found tampering); 73 an output file exists (pass --force); 74 the store cannot be
written or read (read-only, disk full, I/O error); 75 temporary: run the same command again
(write conflict after the retry budget, store locked, connection lost). docs/exit-codes.md.
"""

from __future__ import annotations

from event_store.errors import (
    EventStoreError,
    IntegrityError,
    OutputExistsError,
    StorageError,
    TemporaryStoreError,
)
from process_models.errors import ProcessModelError

from csmine.errors import CheckFailedError, CsmineError, FollowDeliveryError, OutcomeError, SopMismatchError


#: sysexits.h: EX_CANTCREAT, EX_IOERR, EX_TEMPFAIL.
EXIT_OUTPUT_EXISTS, EXIT_STORAGE, EXIT_RETRY = 73, 74, 75

EXIT_CODES: dict[type[BaseException], int] = {
    OutputExistsError: EXIT_OUTPUT_EXISTS,
    StorageError: EXIT_STORAGE,
    TemporaryStoreError: EXIT_RETRY,
    FollowDeliveryError: EXIT_RETRY,
    IntegrityError: 5,
    CheckFailedError: 5,
    SopMismatchError: 4,
    OutcomeError: 2,
    EventStoreError: 3,
    ProcessModelError: 4,
    CsmineError: 3,
}
EXPECTED_ERRORS: tuple[type[BaseException], ...] = tuple(EXIT_CODES)


def exit_code_for(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
