"""A real csmine live server on a free loopback port, and a small stdlib HTTP client for it."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TOKEN = "test-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    status: int
    body: Any
    raw: bytes


def call(port: int, method: str, path: str, body: Any = None, *, token: str | None = TOKEN,
         raw: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 60) -> Reply:
    """One HTTP request on 127.0.0.1:port; JSON in and out."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = None
        return Reply(resp.status, parsed, payload)
    finally:
        conn.close()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.t = now

    def __call__(self) -> datetime:
        return self.t


class InProcessServer:
    """uvicorn serving a LiveApp in a thread of the test process (for injected clocks)."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        from csmine.live.app import create_app

        self.live = create_app(config)
        self.sock = free_socket()
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.live.app, log_level="warning", lifespan="on",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> InProcessServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    def call(self, *args: Any, **kwargs: Any) -> Reply:
        return call(self.port, *args, **kwargs)


class SubprocessServer:
    """``csmine serve`` as a child process (killable with SIGKILL)."""

    def __init__(self, store: str, *args: str, token_file: Path | None = None, env: dict[str, str] | None = None):
        self.store = store
        self.args = args
        self.token_file = token_file
        self.env = {**os.environ, **(env or {})}
        if token_file is None:
            self.env["CSMINE_TOKEN"] = TOKEN
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> SubprocessServer:
        with free_socket() as s:
            self.port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "csmine", "serve", "--store", self.store, "--port", str(self.port),
               "--quiet", *self.args]
        if self.token_file is not None:
            cmd += ["--token-file", str(self.token_file)]
        import tempfile

        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self._err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited {self.proc.returncode}: {self.stderr()[-2000:]}")
            try:
                if call(self.port, "GET", "/api/health", token=None, timeout=2).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("serve did not answer in time")

    def call(self, *args: Any, **kwargs: Any) -> Reply:
        return call(self.port, *args, **kwargs)

    def stderr(self) -> str:
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        self._err.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None and not self._err.closed:
            self._err.close()

    def __enter__(self) -> SubprocessServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def ev(ticket: str, activity: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {"ticket": ticket, "activity": activity, "timestamp": ts, **extra}


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(UTC)
