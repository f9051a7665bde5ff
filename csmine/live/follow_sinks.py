"""Where ``csmine follow`` delivers a batch: the store (one transaction) or ``csmine serve`` (one request).

Both report a batch as delivered only once it is durable: the store's
``import_histories`` has committed, or the server answered ``2xx`` (``csmine serve``
answers ``201`` only once the events are durable). :class:`HttpSink` retries
connection errors and ``5xx``/``429`` answers with capped exponential backoff and
jitter, for ever unless ``retry_for`` says otherwise; a ``400`` or ``413`` is bisected
down to the one event the server refuses, which is returned as refused (the follower
quarantines its row), since the server records nothing of a refused request.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any

from csmine.errors import FollowDeliveryError, FollowError

if TYPE_CHECKING:
    from event_store.application import TicketStore
    from event_store.records import ActivityRow, TicketHistory

#: Answers worth retrying (the server busy or restarting), besides connection errors.
RETRY_STATUS = (408, 425, 429, 500, 502, 503, 504)


class Stopped(Exception):  # noqa: N818 - a signal, not an error
    """A stop was asked for while a delivery waited to retry (nothing of the batch counts as delivered)."""


class StoreSink:
    """Batches into the store: one ``import_histories`` transaction per batch."""

    def __init__(self, store: TicketStore) -> None:
        self.store = store
        display = store.location.display
        self.destination = display if store.location.kind == "postgres" else os.path.abspath(display)
        self._known: set[str] = set()

    def known(self, tickets: list[str]) -> set[str]:
        """Which of ``tickets`` the store already holds."""
        out = {t for t in tickets if t in self._known}
        out.update(t for t in tickets if t not in out and self.store.has_ticket(t))
        return out

    def deliver(self, histories: list[TicketHistory],
                event_ids: dict[str, str]) -> tuple[int, list[tuple[str, str]]]:
        result = self.store.import_histories(histories, batch_size=max(1, len(histories)))
        self._known.update(h.ticket for h in histories)
        return result.events_added, []


def step_event(history: TicketHistory, step: ActivityRow, event_id: str | None) -> dict[str, Any]:
    """One step as ``csmine serve``'s event object (other case attributes and ``started_at`` go in ``attrs``)."""
    event: dict[str, Any] = {"ticket": history.ticket, "activity": step.activity,
                             "timestamp": step.occurred_at.isoformat()}
    if step.actor is not None:
        event["resource"] = step.actor
    if step.team is not None:
        event["team"] = step.team
    attrs: dict[str, Any] = {}
    for key, value in history.case.items():
        if value is None or key == "team":
            continue
        if key in ("channel", "priority"):
            event[key] = str(value)
        else:
            attrs[key] = _json_value(value)
    attrs.update({k: _json_value(v) for k, v in step.attrs.items()})
    if step.started_at is not None:
        attrs["started_at"] = step.started_at.isoformat()
    own = attrs.pop("event_id", None)
    if attrs:
        event["attrs"] = attrs
    if own is not None or event_id is not None:
        event["event_id"] = str(own) if own is not None else event_id
    return event


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class HttpSink:
    """Batches to a running ``csmine serve``: ``POST {url}/api/events`` with a bearer token.

    Args:
        url: the server (``http://127.0.0.1:8750``) or its ``/api/events`` address.
        token: the bearer token (None: no Authorization header).
        timeout: seconds per request.
        retry_for: give up (:class:`FollowDeliveryError`) after retrying this long;
            None retries until stopped.
        stop: set to interrupt a retry wait (raises :class:`Stopped`).
        on_retry: told each retry, with what failed and the wait.
        max_backoff: the longest wait between retries (seconds).
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 retry_for: float | None = None, stop: threading.Event | None = None,
                 on_retry: Any = None, max_backoff: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FollowError(f"--to {url!r}: give the server's address, e.g. http://127.0.0.1:8750")
        path = parts.path.rstrip("/")
        self.url = url.rstrip("/") if path.endswith("/api/events") else urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, path + "/api/events", "", ""))
        self.destination = self.url
        self.token, self.timeout, self.retry_for, self.stop = token, timeout, retry_for, stop
        self.on_retry, self.max_backoff = on_retry, max_backoff
        self.retries = 0
        local = parts.hostname in ("127.0.0.1", "localhost", "::1")
        # loopback never goes through an http_proxy from the environment
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({})) if local else \
            urllib.request.build_opener()

    def known(self, tickets: list[str]) -> set[str]:
        return set()  # events carry no case team to keep: nothing to look up

    def deliver(self, histories: list[TicketHistory],
                event_ids: dict[str, str]) -> tuple[int, list[tuple[str, str]]]:
        events: list[dict[str, Any]] = []
        refs: list[str] = []
        for h in histories:
            for step in h.steps:
                ref = step.source_ref or ""
                events.append(step_event(h, step, event_ids.get(ref)))
                refs.append(ref)
        return self._send(events, refs)

    def _send(self, events: list[dict[str, Any]], refs: list[str]) -> tuple[int, list[tuple[str, str]]]:
        if not events:
            return 0, []
        status, body = self._post(events)
        if 200 <= status < 300:
            return _recorded(body, len(events)), []
        reason = _reason(body, status)
        if status in (400, 413, 422):
            if len(events) == 1:
                return 0, [(refs[0], f"{self.url} refused it ({status}): {reason}")]
            mid = len(events) // 2
            a, ra = self._send(events[:mid], refs[:mid])
            b, rb = self._send(events[mid:], refs[mid:])
            return a + b, ra + rb
        if status in (401, 403):
            raise FollowError(f"{self.url} answered {status} ({reason}): give the server's token with "
                              "--token-file F (mode 0600) or CSMINE_TOKEN; nothing of this batch was delivered")
        raise FollowError(f"{self.url} answered {status} ({reason}): is it csmine serve's /api/events? "
                          "Nothing of this batch was delivered")

    def _post(self, events: list[dict[str, Any]]) -> tuple[int, bytes]:
        body = json.dumps(events, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        started = time.monotonic()
        attempt = 0
        while True:
            request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return int(response.status), response.read()
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS:
                    return int(exc.code), exc.read()
                why = f"HTTP {exc.code}"
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                why = str(getattr(exc, "reason", exc)) or type(exc).__name__
            attempt += 1
            self.retries += 1
            wait = min(self.max_backoff, 0.1 * 2 ** min(attempt, 20)) * random.uniform(0.5, 1.0)
            elapsed = time.monotonic() - started
            if self.retry_for is not None and elapsed + wait > self.retry_for:
                raise FollowDeliveryError(
                    f"{self.url}: could not deliver {len(events)} events in {elapsed:.1f} s ({attempt} attempts, "
                    f"last: {why}); the state file still points before them, so running follow again "
                    "delivers them (their event_id makes a repeat record once)")
            if self.on_retry is not None:
                self.on_retry(f"{self.url}: {why}; retry {attempt} in {wait:.1f} s")
            if self.stop is not None:
                if self.stop.wait(wait):
                    raise Stopped
            else:
                time.sleep(wait)


def _recorded(body: bytes, default: int) -> int:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return default
    if isinstance(data, dict):
        for key in ("recorded", "count", "events_added"):
            if isinstance(data.get(key), int):
                return int(data[key])
    return default


def _reason(body: bytes, status: int) -> str:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return body[:200].decode("utf-8", errors="replace").strip() or f"HTTP {status}"
    if isinstance(data, dict):
        err = data.get("error") or data.get("detail") or data.get("message")
        if isinstance(err, dict):
            err = err.get("message") or json.dumps(err, ensure_ascii=False)
        if err:
            return str(err)
    return json.dumps(data, ensure_ascii=False)[:200]


__all__ = ["HttpSink", "Stopped", "StoreSink", "step_event"]
