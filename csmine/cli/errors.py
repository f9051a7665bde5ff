"""Exit codes, mapped in one place.

0 ok; 1 bug (traceback); 2 usage (click's own); 3 bad event log or store, or a file that cannot be read or written;
4 reference model (SOP) missing or invalid; 5 a check failed (e.g. --min-fitness,
verify found tampering).
"""

from __future__ import annotations

from event_store.errors import EventStoreError, IntegrityError
from process_models.errors import ProcessModelError

from csmine.errors import CheckFailedError, CsmineError



class SopMismatchError(CsmineError):
    """The SOP chosen for a command cannot be used on this log (it knows none of its
    activities, or no shipped SOP fits and the command needs one). Exit code 4."""


EXIT_CODES: dict[type[BaseException], int] = {
    IntegrityError: 5,
    CheckFailedError: 5,
    SopMismatchError: 4,
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
