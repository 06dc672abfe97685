"""A `tutor serve` host on loopback for tests and benchmarks: a free port, the app in a thread, or the
command in its own process, each ready once ``/v1/health`` answers."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, *, timeout_s: float) -> None:
    """Return once ``url``'s ``/v1/health`` answers 200 (or the time is up: the caller's requests say why)."""
    import httpx

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)


@contextmanager
def app_in_thread(app):
    """Serve the ASGI ``app`` with uvicorn in a daemon thread; yields ``(url, stop)``."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    try:
        yield f"http://127.0.0.1:{port}", stop
    finally:
        stop()
