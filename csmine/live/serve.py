"""``csmine serve`` put together: the server's configuration from its options, and the run."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from csmine.live.app import LiveApp, ServeConfig
    from csmine.performance.business_calendar import BusinessCalendar


def serve_config(*, store: str, sop_name: str | None, token_file: str | None, env_token: str | None,
                 shares: tuple[float, ...], event_clock: bool, stuck: bool, webhook: str | None,
                 max_body: int, tz_name: str | None, calendar: BusinessCalendar | None,
                 public_read: bool, font_cache: Any = None, monitors: str = "process") -> ServeConfig:
    """The server's configuration; raises :class:`csmine.errors.LiveError` without a token.

    ``tz_name``: the IANA zone of business days (default: the calendar's, else UTC);
    ``monitors``: ``process`` or ``thread`` (:class:`csmine.live.engine.EngineConfig`).
    """
    from process_models import load_sop

    from csmine.errors import LiveError
    from csmine.live.app import ServeConfig
    from csmine.live.auth import load_tokens
    from csmine.live.engine import EngineConfig, wall_clock

    tokens = load_tokens(token_file, env_token)
    if not tokens:
        raise LiveError("no token: writes need one; give --token-file FILE (mode 0600) or set CSMINE_TOKEN")
    tz_name = tz_name or (calendar.tz if calendar is not None else None)
    tz: tzinfo = UTC
    if tz_name and tz_name.upper() != "UTC":
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(tz_name)
    sop = load_sop(sop_name or "complaint")
    engine = EngineConfig(store=store, sop=sop, shares=shares, calendar=calendar, tz=tz_name,
                          clock=None if event_clock else wall_clock, stuck=stuck, monitors=monitors)
    return ServeConfig(engine, tokens, public_read=public_read, max_body=max_body, webhook=webhook,
                       tz=tz, font_cache=font_cache)


def run_server(config: ServeConfig, host: str, port: int, *, quiet: bool) -> LiveApp:
    """Serve until stopped (Ctrl-C, SIGTERM); the app is returned after."""
    import uvicorn

    from csmine.live.app import create_app

    live = create_app(config)
    uvicorn.run(live.app, host=host, port=port, log_level="warning" if quiet else "info",
                timeout_graceful_shutdown=3, access_log=False)
    return live


__all__ = ["run_server", "serve_config"]
