"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``).

Messages are JSON, each ended by a NUL byte, on the child's file descriptors 3 (to
Chromium) and 4 (from it): no websocket library is needed. Enough of the protocol for
the live page's test: open a page, evaluate script, wait, take a screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.browser import FLAGS, chromium


class Chrome:
    def __init__(self, width: int = 1500, height: int = 1000) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="csmine-cdp-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        args = [chromium(), *FLAGS, f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}",
                "--remote-debugging-pipe", "about:blank"]
        shell = (f"exec {' '.join(shlex.quote(a) for a in args)} 3<&{to_child_r} 4>&{from_child_w} "
                 f"{to_child_r}<&- {from_child_w}>&-")
        self.proc = subprocess.Popen(["bash", "-c", shell], pass_fds=(to_child_r, from_child_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._id = 0
        self._buf = b""
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 60) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for reply in self._read(deadline):
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})

    def _read(self, deadline: float) -> list[dict[str, Any]]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the pipe")
                self._buf += chunk
        *parts, self._buf = self._buf.split(b"\0")
        return [json.loads(p) for p in parts if p]

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"page never satisfied: {expression}")
            time.sleep(0.1)

    def screenshot(self, out: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self._to_child)
        os.close(self._from_child)
        self.profile.cleanup()

    def __enter__(self) -> Chrome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
