"""What keeps one client of ``tutor serve`` from starving the others: the request guard, the HTTP
connection's header deadline, and the upload folders.

* ``Guard`` (ASGI middleware, every ``/v1/*`` request but ``/v1/health``), in this order: the token
  (401), the declared size (413), the client's requests in progress (at most ``per_client`` per client
  address, else 429), the uploads in progress (at most ``max_uploads``, else 503), then it receives the
  whole body **before** taking a queue place: a body must arrive within ``body_timeout_s``, or keep
  coming at ``min_upload_kb_s`` or faster after that (else 408 and the connection is closed), and stay
  under ``max_upload_mb`` (413). Only then does the request take a place in the ``Gate`` (503 when full)
  and is the body handed on (spooled to disk past 1 MB). A client that sends one byte every 2 s thus
  holds one of its own ``per_client`` places for ``body_timeout_s``, never a place in the queue.
* ``guarded_http_protocol()`` wraps uvicorn's HTTP protocol (httptools or h11): a connection must send
  a request's complete headers within ``header_timeout_s`` of connecting or of its first byte after the
  previous answer (else 408, closed), and at most ``MAX_HEAD_BYTES`` of them (else 431, closed); the rest
  of a body answered early (401, 413, 429) is read and dropped for at most ``body_timeout_s``, then the
  connection is closed; an idle kept-alive connection is closed after uvicorn's ``timeout_keep_alive``
  (5 s). ``uvicorn_config()`` makes the uvicorn configuration that ``tutor serve`` runs.
* ``make_upload_root()`` makes this server's private upload folder ``tutor-serve-*`` with a lock file
  holding its PID (locked while the server lives), after removing the folders of servers that died
  without cleaning up (SIGKILL, power cut): ours, and either unlocked or, from older versions, without
  a lock file and untouched for an hour.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import stat
import tempfile
import time
from pathlib import Path

MAX_HEAD_BYTES = 16 * 1024  # a request line and headers; ours are well under 1 kB
UPLOAD_PREFIX = "tutor-serve-"
OWNER_FILE = ".owner"
LEGACY_STALE_S = 3600.0
CLOSE = {"Connection": "close"}  # a 408: the rest of that slow body is not read


def error_response(status: int, message: str, headers: dict | None = None):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


# ---------------------------------------------------------------------------------------------
# the guard
# ---------------------------------------------------------------------------------------------
class ClientLimit:
    """Requests in progress per client address; at most ``limit`` each (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    def try_enter(self, client: str | None) -> bool:
        if not self.limit or client is None:
            return True
        if self.counts.get(client, 0) >= self.limit:
            return False
        self.counts[client] = self.counts.get(client, 0) + 1
        return True

    def leave(self, client: str | None) -> None:
        if not self.limit or client is None:
            return
        left = self.counts.get(client, 0) - 1
        if left > 0:
            self.counts[client] = left
        else:
            self.counts.pop(client, None)


class _TooSlow(Exception):
    pass


class _TooLarge(Exception):
    pass


class Guard:
    """Auth, per-client limit, body deadline and size, then the queue: see the module docstring.

    After the inner app answers, the queue place is given back with the analysis time the endpoint put
    in ``scope["tutor_analysis_s"]`` (for ``Retry-After``)."""

    def __init__(self, inner, *, token: str, gate, clients: ClientLimit, upload_root: Path, max_bytes: int,
                 body_timeout_s: float, min_upload_kb_s: float, max_uploads: int, prefix: str = "/v1") -> None:
        self.inner = inner
        self.token = token
        self.gate = gate
        self.clients = clients
        self.upload_root = upload_root
        self.max_bytes = max_bytes
        self.body_timeout_s = body_timeout_s
        self.min_rate = min_upload_kb_s * 1000
        self.max_uploads = max_uploads
        self.uploading = 0
        self.prefix = prefix

    def _too_large(self):
        return error_response(413, f"the request is larger than {self.max_bytes / 1024 / 1024:.4g} MB")

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.prefix + "/") or path == f"{self.prefix}/health":
            return await self.inner(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), self.token.encode()):
            return await error_response(401, "missing or wrong token (send 'Authorization: Bearer TOKEN')",
                                        {"WWW-Authenticate": "Bearer"})(scope, receive, send)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._too_large()(scope, receive, send)
        client = scope["client"][0] if scope.get("client") else None
        if not self.clients.try_enter(client):
            wait = self.gate.retry_after_s()
            return await error_response(
                429, f"too many requests from {client} at once (at most {self.clients.limit}); retry in {wait} s",
                {"Retry-After": str(wait)})(scope, receive, send)
        try:
            await self._admitted(scope, receive, send)
        finally:
            self.clients.leave(client)

    async def _admitted(self, scope, receive, send):
        if self.uploading >= self.max_uploads:
            wait = self.gate.retry_after_s()
            return await error_response(503, f"too many uploads at once; retry in {wait} s",
                                        {"Retry-After": str(wait)})(scope, receive, send)
        self.uploading += 1
        try:
            body = await self._receive_body(receive)
        except _TooSlow:
            rate = f" (or keep sending at {self.min_rate / 1000:g} kB/s or faster)" if self.min_rate else ""
            return await error_response(
                408, f"the request body did not arrive within {self.body_timeout_s:g} s{rate}",
                CLOSE)(scope, receive, send)
        except _TooLarge:
            return await self._too_large()(scope, receive, send)
        finally:
            self.uploading -= 1
        if body is None:  # the client went away
            return None
        spool, size = body
        try:
            if not self.gate.try_enter():
                wait = self.gate.retry_after_s()
                return await error_response(503, f"the analysis queue is full; retry in {wait} s",
                                            {"Retry-After": str(wait)})(scope, receive, send)
            try:
                await self.inner(scope, _replay(spool, size, receive), send)
            finally:
                self.gate.leave(scope.get("tutor_analysis_s"))
        finally:
            spool.close()

    async def _receive_body(self, receive):
        """The whole body in a spooled file and its size; ``None`` when the client disconnected."""
        loop = asyncio.get_running_loop()
        spool = tempfile.SpooledTemporaryFile(max_size=1 << 20, dir=self.upload_root)
        started = loop.time()
        received = 0
        try:
            while True:
                allowed = self.body_timeout_s
                if self.min_rate:
                    allowed = max(allowed, received / self.min_rate)
                left = started + allowed - loop.time()
                if left <= 0:
                    raise _TooSlow
                try:
                    message = await asyncio.wait_for(receive(), timeout=left)
                except TimeoutError:
                    raise _TooSlow from None
                if message["type"] == "http.disconnect":
                    spool.close()
                    return None
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.max_bytes:
                    raise _TooLarge
                spool.write(chunk)
                if not message.get("more_body", False):
                    spool.seek(0)
                    return spool, received
        except BaseException:
            spool.close()
            raise


def _replay(spool, size: int, receive):
    """An ASGI ``receive`` that hands on the body already received, then the client's own messages."""
    state = {"sent": 0, "done": False}

    async def replayed():
        if state["done"]:
            return await receive()
        chunk = spool.read(1 << 16)
        state["sent"] += len(chunk)
        more = state["sent"] < size
        state["done"] = not more
        return {"type": "http.request", "body": chunk, "more_body": more}

    return replayed


# ---------------------------------------------------------------------------------------------
# the connection: headers within a deadline
# ---------------------------------------------------------------------------------------------
def guarded_http_protocol(base=None, *, header_timeout_s: float = 10.0, drain_timeout_s: float = 30.0,
                          max_head_bytes: int = MAX_HEAD_BYTES):
    """uvicorn's HTTP protocol class (``base``: httptools when installed, else h11) with a deadline for
    a request's headers and a cap on their size (see the module docstring), and ``drain_timeout_s`` for
    the rest of a body the app answered without reading (a 401, 413 or 429 to an upload in progress)."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol as base

    def reply(transport, status: bytes, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\ncontent-length: "
                        + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        transport.close()

    class GuardedHTTPProtocol(base):
        _timer = None
        _timer_kind = ""
        _head_bytes = 0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm("head", header_timeout_s)

        def data_received(self, data: bytes) -> None:
            state = self._state()
            if state == "idle":  # the headers of a request, before they are complete
                self._head_bytes += len(data)
                if self._timer_kind != "head":
                    self._arm("head", header_timeout_s)
            elif state == "draining" and self._timer_kind != "drain":
                self._arm("drain", drain_timeout_s)
            super().data_received(data)
            if self._state() == "running":  # the headers are in: the request runs
                self._disarm()
                self._head_bytes = 0
            elif self._head_bytes > max_head_bytes and self._state() == "idle" and not self.transport.is_closing():
                self._disarm()
                reply(self.transport, b"431 Request Header Fields Too Large",
                      f"the request line and headers are larger than {max_head_bytes // 1024} kB")

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _state(self) -> str:
            """idle (no request, or between two), running (headers in, no complete answer yet), or
            draining (answered, the rest of its body still arriving)."""
            cycle = getattr(self, "cycle", None)
            if cycle is None:
                return "idle"
            if not cycle.response_complete:
                return "running"
            return "draining" if cycle.more_body else "idle"

        def _arm(self, kind: str, seconds: float) -> None:
            self._disarm()
            self._timer_kind = kind
            self._timer = self.loop.call_later(seconds, self._timeout)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
            self._timer_kind = ""

        def _timeout(self) -> None:
            kind, state = self._timer_kind, self._state()
            self._timer, self._timer_kind = None, ""
            if state == "running" or self.transport.is_closing():
                return
            if state == "idle" and kind == "head" and self._head_bytes:
                reply(self.transport, b"408 Request Timeout",
                      f"the request headers did not arrive within {header_timeout_s:g} s")
            else:  # connected and said nothing, or still sending a body nobody reads
                self.transport.close()

    GuardedHTTPProtocol.__name__ = GuardedHTTPProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedHTTPProtocol


def uvicorn_config(app, *, host: str, port: int, header_timeout_s: float | None = None, log_level: str = "warning",
                   **options):
    """The uvicorn configuration ``tutor serve`` runs ``app`` with: the header deadline and size cap
    above (``header_timeout_s``, else the app's ``ServiceConfig``'s), an unread body drained for at
    most the app's ``body_timeout_s``, uvicorn's 5 s keep-alive, h11's header cap at ``MAX_HEAD_BYTES``."""
    import uvicorn

    config = getattr(getattr(app, "state", None), "config", None)
    if header_timeout_s is None:
        header_timeout_s = getattr(config, "header_timeout_s", 10.0)
    protocol = guarded_http_protocol(header_timeout_s=header_timeout_s,
                                     drain_timeout_s=getattr(config, "body_timeout_s", 30.0))
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=protocol,
                          timeout_keep_alive=5, h11_max_incomplete_event_size=MAX_HEAD_BYTES, **options)


# ---------------------------------------------------------------------------------------------
# upload folders
# ---------------------------------------------------------------------------------------------
def _lock(fd: int, *, wait: bool) -> bool:
    """An exclusive lock on ``fd`` (released by the system when its process dies, SIGKILL included)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no stale-folder cleaning (see docs/serving.md)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


def remove_stale_upload_folders(parent: str | Path | None = None, *, legacy_stale_s: float = LEGACY_STALE_S) -> list[Path]:
    """Remove the ``tutor-serve-*`` folders in ``parent`` (the temp folder) of servers that are gone:
    owned by this user, and with an unlocked lock file, or without one and untouched for
    ``legacy_stale_s``. Returns the folders removed."""
    parent = Path(parent or tempfile.gettempdir())
    if not hasattr(os, "getuid"):
        return []
    removed = []
    for folder in parent.glob(UPLOAD_PREFIX + "*"):
        try:
            info = folder.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        owner = folder / OWNER_FILE
        try:
            fd = os.open(owner, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            if time.time() - info.st_mtime < legacy_stale_s:
                continue  # being made just now, or an older server that may still be running
            fd = None
        except OSError:
            continue
        try:
            if fd is not None and not _lock(fd, wait=False):
                continue  # its server is alive
            if fd is not None and not os.read(fd, 32).strip() and time.time() - info.st_mtime < 60:
                continue  # made just now: its server locks it, then writes its PID
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def make_upload_root(parent: str | Path | None = None) -> tuple[Path, int | None]:
    """This server's private (0700) upload folder, after removing stale ones; returns it and the open,
    locked lock file (keep it open while the server runs; ``None`` where locks are not available)."""
    remove_stale_upload_folders(parent)
    root = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=parent))  # mkdtemp makes it 0700
    fd = os.open(root / OWNER_FILE, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    if not _lock(fd, wait=True):
        os.close(fd)
        return root, None
    os.write(fd, f"{os.getpid()}\n".encode())
    return root, fd
