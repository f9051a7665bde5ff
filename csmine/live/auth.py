"""Bearer tokens for the live server: read from a 0600 file or ``CSMINE_TOKEN``.

A token file holds one token a line (blank lines and ``#`` comments are skipped). It
must not be readable or writable by the group or others (mode 0600 or stricter):
a token others can read is not a secret, so such a file is refused, with the
``chmod`` that fixes it. :func:`check_bearer` compares in constant time.
"""

from __future__ import annotations

import hmac
import os
import stat
from pathlib import Path

from csmine.errors import LiveError

#: Shortest token accepted (a guessable token is no protection).
MIN_TOKEN = 16


def load_tokens(token_file: str | Path | None, env_token: str | None) -> tuple[str, ...]:
    """The tokens that may write: those of ``token_file`` and ``env_token`` (``CSMINE_TOKEN``).

    Raises:
        LiveError: the file is missing, readable by others, empty, or a token is too short.
    """
    tokens: list[str] = []
    if token_file is not None:
        path = Path(token_file)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise LiveError(f"cannot read token file {str(path)!r}: {exc.strerror or exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise LiveError(f"token file {str(path)!r} has mode {stat.S_IMODE(mode):04o}: others can read it; "
                            f"run `chmod 600 {path}` and start again")
        tokens += [t.strip() for t in text.splitlines() if t.strip() and not t.strip().startswith("#")]
        if not tokens:
            raise LiveError(f"token file {str(path)!r} holds no token (one token a line)")
    if env_token:
        tokens.append(env_token.strip())
    for t in tokens:
        if len(t) < MIN_TOKEN:
            raise LiveError(f"a token is {len(t)} characters long; use at least {MIN_TOKEN} "
                            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    return tuple(tokens)


def check_bearer(header: str | None, tokens: tuple[str, ...]) -> bool:
    """Whether an ``Authorization`` header carries one of the tokens."""
    if not header or not tokens:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        return False
    given = value.strip().encode()
    return any(hmac.compare_digest(given, t.encode()) for t in tokens)


def write_token_file(path: str | Path, token: str) -> None:
    """Write a token file with mode 0600 (created so, never readable by others in between)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)


__all__ = ["MIN_TOKEN", "check_bearer", "load_tokens", "write_token_file"]
