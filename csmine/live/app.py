"""The live server's HTTP face (Starlette): ingest, alerts, open tickets, KPIs, the page.

Routes (``docs/live.md`` has examples):

* ``POST /api/events`` -- a JSON array or NDJSON of events; ``201 {"recorded": n,
  "received": m}`` once they are committed (``n`` new, the rest were retries);
  ``400 {"error", "index", "field", "line"}`` and nothing recorded for a bad event;
  ``413`` over ``max_body`` bytes; ``401`` without a valid bearer token.
* ``GET /api/alerts?since=ISO`` -- alerts that fired at or after ``since``;
  ``POST /api/alerts/{id}/ack`` -- acknowledge one (``{"actor", "note"}`` optional).
* ``GET /api/stream`` -- server-sent events: ``alert``, ``ack`` and ``state`` (after
  commits, at most twice a second).
* ``GET /api/open`` -- open tickets with their step, clocks and next due step.
* ``GET /api/kpi?window=today`` -- today's KPIs against the SOP's targets.
* ``GET /api/health`` -- no token needed.
* ``GET /`` -- the live page; ``/static/...`` its assets (no CDN).

Writes need a token; reads too unless ``public_read``. The engine
(:mod:`csmine.live.engine`) does the store work on its own thread; handlers wait on
its futures, so the event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from csmine.errors import LiveInputError
from csmine.live.auth import check_bearer
from csmine.live.engine import EngineConfig, LiveEngine, MonitorGone
from csmine.live.ingest import parse_body
from csmine.reports.json import to_jsonable

STATIC = Path(__file__).parent / "static"
#: Largest request body accepted by default (bytes).
MAX_BODY = 8 * 1024 * 1024
#: The page's own Chinese words (headings), for the font subset.
PAGE_ZH = "现场看板 按步骤的未结工单 预警 今日工单 其他"
#: Seconds today's KPIs are kept before they are measured again (when events came in).
KPI_TTL = 10.0
#: Longest a read waits for the monitors to handle the commits acknowledged before it (seconds).
SYNC_S = 2.0


@dataclass(frozen=True)
class ServeConfig:
    """How the server runs.

    Attributes:
        engine: what is monitored, on which store, with which clock.
        tokens: bearer tokens that may write (and read, unless ``public_read``).
        public_read: reads need no token.
        max_body: largest request body (bytes); larger gets 413.
        webhook: URL each alert is POSTed to (None: no webhook).
        tz: time zone of business days (today's KPIs).
        font_cache: folder where font subsets are kept (None: subset on each start).
    """

    engine: EngineConfig
    tokens: tuple[str, ...]
    public_read: bool = False
    max_body: int = MAX_BODY
    webhook: str | None = None
    tz: tzinfo | None = None
    font_cache: Path | None = None


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _dumps(data: Any) -> str:
    return json.dumps(to_jsonable(data), ensure_ascii=False)


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return _dumps(content).encode("utf-8")


class LiveApp:
    """The routes over one engine (``app`` is the ASGI application)."""

    def __init__(self, config: ServeConfig) -> None:
        from datetime import UTC

        self.config = config
        self.engine = LiveEngine(config.engine)
        self.tz = config.tz or UTC
        self._kpi: tuple[float, int, str, dict[str, Any]] | None = None
        self._webhook: Any = None
        self._font: str | None = None
        self.app = Starlette(routes=[
            Route("/", self.page),
            Route("/font.css", self.font_css),
            Route("/api/health", self.health),
            Route("/api/events", self.post_events, methods=["POST"]),
            Route("/api/alerts", self.get_alerts),
            Route("/api/alerts/{alert_id}/ack", self.ack, methods=["POST"]),
            Route("/api/open", self.get_open),
            Route("/api/kpi", self.get_kpi),
            Route("/api/stream", self.stream),
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ], lifespan=self.lifespan)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(self.engine.start)
        if self.config.webhook:
            from csmine.live.webhook import Webhook

            self._webhook = Webhook(self.config.webhook)
            self._webhook.start(asyncio.get_running_loop())
            self.engine.subscribe(self._webhook.offer)
        try:
            yield
        finally:
            if self._webhook is not None:
                await self._webhook.stop()
            await asyncio.to_thread(self.engine.stop)

    # -- auth ------------------------------------------------------------------------------

    def _denied(self, request: Request, *, write: bool) -> Response | None:
        if not write and self.config.public_read:
            return None
        if check_bearer(request.headers.get("authorization"), self.config.tokens):
            return None
        return _error(401, "a valid token is needed: send 'Authorization: Bearer TOKEN'"
                      + ("" if write else " (or start the server with --public-read)"),
                      )

    # -- routes ----------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def font_css(self, request: Request) -> Response:
        """The CJK font the page needs, subset to the SOP's labels and the page's own words (no CDN)."""
        if self._font is None:
            from csmine.reports.html_report import FONT_FAMILY, subset_font

            sop = self.engine.config.sop
            text = " ".join([sop.title_zh, *(s.label for s in sop.steps), PAGE_ZH])
            data = await asyncio.to_thread(subset_font, text, self.config.font_cache)
            self._font = "" if data is None else (
                f"@font-face {{ font-family: '{FONT_FAMILY}'; src: url(data:font/otf;base64,{data}) format('opentype'); }}\n")
        return Response(self._font, media_type="text/css; charset=utf-8",
                        headers={"Cache-Control": "max-age=3600"})

    async def health(self, request: Request) -> Response:
        engine = self.engine
        sop = engine.config.sop
        return _Json({"status": "ok", "sop": sop.id, "title": sop.title, "title_zh": sop.title_zh,
                      "events": engine.ingestor.events,
                      "position": engine.position, "alerts": len(engine.alerts), "now": engine.now(),
                      "public_read": self.config.public_read})

    async def _synced(self) -> None:
        """Wait (at most :data:`SYNC_S`) until the monitors handled every commit acknowledged before."""
        fut = self.engine.sync()
        try:
            await asyncio.wait_for(asyncio.wrap_future(fut), SYNC_S)
        except TimeoutError:
            fut.cancel()  # under a burst: answer with what the monitors have so far
        except MonitorGone:  # logged by the engine: answer with what is here
            pass

    async def post_events(self, request: Request) -> Response:
        denied = self._denied(request, write=True)
        if denied:
            return denied
        limit = self.config.max_body
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return _error(413, f"the body is {int(length):,} bytes, over the limit of {limit:,}; "
                               "send the events in smaller requests")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return _error(413, f"the body is over the limit of {limit:,} bytes; send smaller requests")
            chunks.append(chunk)
        try:
            events = parse_body(b"".join(chunks))
        except LiveInputError as exc:
            return _error(400, str(exc), index=exc.index, field=exc.field, line=exc.line)
        try:
            recorded = await asyncio.wrap_future(self.engine.submit(events))
        except Exception as exc:
            from event_store.errors import EventStoreError, TemporaryStoreError

            if isinstance(exc, TemporaryStoreError):
                return _error(503, f"{exc}; nothing of this request was recorded, send it again")
            if isinstance(exc, EventStoreError):
                return _error(400, f"{exc}; nothing of this request was recorded")
            raise
        return _Json({"recorded": recorded, "received": len(events)}, status_code=201)

    async def get_alerts(self, request: Request) -> Response:
        denied = self._denied(request, write=False)
        if denied:
            return denied
        since = request.query_params.get("since")
        since_t = None
        if since:
            try:
                since_t = datetime.fromisoformat(since)
            except ValueError:
                return _error(400, f"since={since[:40]!r} is not an ISO 8601 time", field="since")
            if since_t.tzinfo is None:
                return _error(400, f"since={since[:40]!r} has no time zone (add +08:00 or Z)", field="since")
        await self._synced()
        with self.engine.lock:
            rows = list(self.engine.alerts)
        if since_t is not None:
            rows = [r for r in rows if datetime.fromisoformat(r["time"]) >= since_t]
        return _Json({"count": len(rows), "alerts": rows})

    async def ack(self, request: Request) -> Response:
        denied = self._denied(request, write=True)
        if denied:
            return denied
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            return _error(400, "the body is not JSON (send {} or {\"actor\": ..., \"note\": ...})")
        body = body if isinstance(body, dict) else {}
        from event_store.errors import InvalidEventError

        try:
            row = await asyncio.wrap_future(self.engine.acknowledge(
                request.path_params["alert_id"], body.get("actor"), str(body.get("note") or "")))
        except InvalidEventError as exc:
            return _error(404, str(exc))
        return _Json(row)

    async def get_open(self, request: Request) -> Response:
        denied = self._denied(request, write=False)
        if denied:
            return denied
        engine = self.engine
        await self._synced()
        limit = request.query_params.get("limit")
        try:
            now, count, rows = await asyncio.wrap_future(
                engine.open_tickets(int(limit) if limit and limit.isdigit() else None))
        except MonitorGone as exc:
            return _error(503, f"{exc}; restart serve")
        steps = [{"step": s.name, "label": s.label, "label_zh": s.label_zh, "off_flow": s.off_flow}
                 for s in engine.config.sop.steps]
        return _Json({"now": now, "count": count, "sop": engine.config.sop.id, "steps": steps,
                      "shares": engine.config.shares, "tickets": rows})

    async def get_kpi(self, request: Request) -> Response:
        denied = self._denied(request, write=False)
        if denied:
            return denied
        window = request.query_params.get("window", "today")
        if window != "today":
            return _error(400, f"window={window!r} is not known (only 'today')", field="window")
        from csmine.live.kpi_today import kpi_today

        engine = self.engine
        await self._synced()
        position = engine.position  # before the clock: a result is never filed under a later position
        now = engine.now()
        day = now.astimezone(self.tz).date().isoformat()
        cached = self._kpi
        if cached and cached[2] == day and (cached[1] == position or time.monotonic() - cached[0] < KPI_TTL):
            return _Json(cached[3])
        cfg = engine.config
        result = await asyncio.to_thread(kpi_today, cfg.store, cfg.sop, now, self.tz, cfg.calendar)
        self._kpi = (time.monotonic(), position, day, result)
        return _Json(result)

    async def stream(self, request: Request) -> Response:
        denied = self._denied(request, write=False)
        if denied:
            return denied
        feed = _Feed(asyncio.get_running_loop())
        unsubscribe = self.engine.subscribe(feed.offer)
        return StreamingResponse(self._events(request, feed, unsubscribe), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def _events(self, request: Request, feed: _Feed, unsubscribe: Any) -> AsyncIterator[str]:
        last_state = 0.0
        pending_state: dict[str, Any] | None = None
        try:
            yield f"event: hello\ndata: {_dumps({'position': self.engine.position})}\n\n"
            while True:
                items = await feed.take(0.5)
                if not items and await request.is_disconnected():
                    return
                out = []
                for kind, data in items:
                    if kind == "commit":
                        pending_state = data
                    else:
                        out.append(f"event: {kind}\ndata: {_dumps(data)}\n\n")
                if pending_state is not None and time.monotonic() - last_state >= 0.5:
                    out.append(f"event: state\ndata: {_dumps(pending_state)}\n\n")
                    pending_state, last_state = None, time.monotonic()
                elif not items and time.monotonic() - last_state > 15:
                    out.append(": keep-alive\n\n")
                    last_state = time.monotonic()
                if out:
                    yield "".join(out)  # a burst of alerts in one write
        finally:
            with contextlib.suppress(ValueError):
                unsubscribe()


class _Feed:
    """What the engine publishes for one stream reader: a bounded buffer filled from the engine's
    threads, one wake-up of the event loop per burst (not one per alert)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int = 10_000) -> None:
        self._loop = loop
        self._items: collections.deque[tuple[str, dict[str, Any]]] = collections.deque(maxlen=size)
        self._ready = asyncio.Event()
        self._woken = False
        self._lock = threading.Lock()

    def offer(self, kind: str, data: dict[str, Any]) -> None:
        """Engine callback (any thread); a reader that does not read loses old news, not the server."""
        with self._lock:
            self._items.append((kind, data))
            if self._woken:
                return
            self._woken = True
        self._loop.call_soon_threadsafe(self._ready.set)

    async def take(self, timeout: float) -> list[tuple[str, dict[str, Any]]]:
        """Everything buffered (waiting up to ``timeout`` for something)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        with self._lock:
            self._ready.clear()
            self._woken = False
            items = list(self._items)
            self._items.clear()
        return items


def create_app(config: ServeConfig) -> LiveApp:
    """The live server's application over one store and SOP (start it with uvicorn)."""
    return LiveApp(config)


__all__ = ["MAX_BODY", "LiveApp", "ServeConfig", "create_app"]
