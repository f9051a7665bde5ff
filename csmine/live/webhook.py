"""Outgoing webhook: each alert POSTed as JSON to a URL, retried with backoff, off the ingest path.

The engine hands alerts to :meth:`Webhook.offer` (a non-blocking put on a bounded
queue); a background task on the server's event loop sends them one by one with
``urllib`` in a worker thread. A failed send (connection refused, timeout, a status
other than 2xx) is retried after 0.5 s, 1 s, 2 s, ... up to ``max_delay``, at most
``attempts`` times; then the alert is given up (it stays recorded in the store and
in ``/api/alerts``). Ingest never waits for the webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.error
import urllib.request
from typing import Any

log = logging.getLogger("csmine.live")

#: Alerts waiting for the webhook at most (beyond this the oldest are dropped from the queue).
QUEUE = 10_000


class Webhook:
    """Sends alerts to ``url`` in the background.

    Attributes:
        sent, failed: alerts delivered, and given up after every attempt.
    """

    def __init__(self, url: str, *, attempts: int = 8, first_delay: float = 0.5, max_delay: float = 30.0,
                 timeout: float = 5.0) -> None:
        self.url = url
        self.attempts = attempts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue = asyncio.Queue(maxsize=QUEUE)
        self._task = loop.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def offer(self, kind: str, data: dict[str, Any]) -> None:
        """Engine callback (any thread): queue an alert, never block."""
        if kind != "alert" or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._put, data)

    def _put(self, data: dict[str, Any]) -> None:
        assert self._queue is not None
        if self._queue.full():
            self._queue.get_nowait()
            self.failed += 1
        self._queue.put_nowait(data)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            alert = await self._queue.get()
            delay = self.first_delay
            for attempt in range(1, self.attempts + 1):
                error = await asyncio.to_thread(self._send, alert)
                if error is None:
                    self.sent += 1
                    break
                log.warning("webhook %s: alert %s not delivered (attempt %d of %d): %s", self.url,
                            alert.get("id"), attempt, self.attempts, error)
                if attempt < self.attempts:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_delay)
            else:
                self.failed += 1

    def _send(self, alert: dict[str, Any]) -> str | None:
        body = json.dumps(alert, ensure_ascii=False, default=str).encode("utf-8")
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8",
                                              "User-Agent": "csmine-serve"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            return str(getattr(exc, "reason", exc))


__all__ = ["Webhook"]
