"""Running an analysis on a ``tutor serve`` host, and falling back to this machine.

``analyse(endpoint, files, fields, local=..., remote=...)`` posts the files to the host, retries when it
cannot be reached, drops the connection, times out or is busy (503 or 429, Retry-After honoured up to a few
seconds), and then runs ``local()`` here; it returns the JSON and where it ran (``Ran``). Files are only
read, never moved or deleted. After a host gave no answer, the client goes straight to local analysis for
``cooldown_s`` (30 s). A 400/422 answer (the file itself is bad) is raised as a ``TutorError``. The token:
``$TUTOR_REMOTE_TOKEN``, else the file ``$TUTOR_REMOTE_TOKEN_FILE`` (both sent to any host the user names),
else this machine's ``tutor serve`` token, sent only to this machine (``is_this_machine``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tutor.errors import AnalysisError, InputFileError, TutorError

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 502, 503, 504)  # 429: this client has too many requests in progress there


@dataclass(frozen=True)
class Ran:
    where: str  # the host's URL, or "local"
    note: str = ""  # why it ran locally when a host was asked for

    @property
    def remote(self) -> bool:
        return self.where != "local"

    def as_text(self) -> str:
        return f"analysis ran on {self.where}" + (f" ({self.note})" if self.note else "")


class RemoteUnavailable(TutorError):
    """The host could not give an answer (down, dropped, busy, refused the token)."""


THIS_MACHINE = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def is_this_machine(url: str) -> bool:
    """Whether ``url``'s host is this machine's own service address: 127.0.0.1, ::1 or localhost, exactly.
    Other loopback addresses (127.0.0.2, ...) can be another user's listener or a container's port, and a
    name can resolve anywhere: they are not "this machine's service". Both URL parsers (urllib's and
    httpx's, which connects) must agree."""
    try:
        hosts = {urlsplit(url).hostname or ""}
    except ValueError:
        return False
    try:
        import httpx
    except ImportError:  # without httpx nothing is sent anyway
        pass
    else:
        try:
            hosts.add(httpx.URL(url).host)
        except httpx.InvalidURL:
            return False
    if len(hosts) != 1:
        return False
    host = hosts.pop()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host) in THIS_MACHINE
    except ValueError:  # a name, not an address
        return False


def remote_token(url: str) -> str | None:
    """The token to send to the host at ``url``: ``$TUTOR_REMOTE_TOKEN``, else the file named by
    ``$TUTOR_REMOTE_TOKEN_FILE`` (the user chose these: any host), else, only when ``url`` is this machine
    (``is_this_machine``), the token ``tutor serve`` keeps here; else None (no Authorization header)."""
    token = os.environ.get("TUTOR_REMOTE_TOKEN")
    if token:
        return token.strip()
    candidates = [os.environ.get("TUTOR_REMOTE_TOKEN_FILE")]
    if is_this_machine(url):
        try:
            from tutor.service.token import token_path

            candidates.append(str(token_path()))
        except (ImportError, OSError, KeyError, RuntimeError):  # no config folder (no home, no platformdirs):
            pass  # no token file either
    for name in filter(None, candidates):
        try:
            text = Path(name).expanduser().read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if text:
            return text
    return None


class RemoteClient:
    """Posts files to one ``tutor serve`` host."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 300.0, retries: int = 2,
                 backoff_s: float = 0.5, max_wait_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token if token is not None else remote_token(self.url)
        # plain HTTP to this machine goes straight there, never through $HTTP_PROXY (which would see the token)
        self.trust_env = not (self.url.lower().startswith("http://") and is_this_machine(self.url))
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.cooldown_s = 30.0  # after a host gave no answer, go straight to local for this long
        self._down_until = 0.0
        self._down_reason = ""

    def post(self, endpoint: str, files: dict[str, str | Path], fields: dict | None = None) -> dict:
        """The host's JSON answer for ``/v1/<endpoint>``; ``RemoteUnavailable`` after the retries."""
        import httpx

        if time.monotonic() < self._down_until:
            raise RemoteUnavailable(f"{self._down_reason} (not retried for {self.cooldown_s:g} s)")
        headers = self._headers()
        data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (fields or {}).items() if v is not None}
        problem = "no attempt"
        for attempt in range(self.retries + 1):
            wait = self.backoff_s * (2 ** attempt)
            try:
                handles = {k: (Path(p).name, Path(p).read_bytes()) for k, p in files.items()}
            except OSError as error:
                raise InputFileError(f"cannot be read ({error.strerror or error})", path=next(iter(files.values()))) from None
            try:
                response = httpx.post(f"{self.url}/v1/{endpoint}", files=handles, data=data, headers=headers,
                                      timeout=self.timeout_s, trust_env=self.trust_env)
            except httpx.HTTPError as error:  # refused, dropped mid-request, timed out
                problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            else:
                if response.status_code == 200:
                    return response.json()
                message = _message(response)
                if response.status_code in (400, 413, 422):
                    name = Path(next(iter(files.values())))
                    error_class = InputFileError if response.status_code in (400, 413) else AnalysisError
                    raise error_class(f"{message} (said {self.url})", path=name if not message.startswith(name.name) else None)
                if response.status_code == 401:
                    raise RemoteUnavailable(f"{self.url} refused the token ({message}); set TUTOR_REMOTE_TOKEN")
                problem = f"HTTP {response.status_code}: {message}"
                if response.status_code not in RETRY_STATUSES:
                    break
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    wait = min(float(retry_after), self.max_wait_s)
            if attempt < self.retries:
                log.info("remote %s failed (%s); retrying in %.1f s", self.url, problem, wait)
                time.sleep(wait)
        self._down_reason = f"{self.url} gave no answer after {self.retries + 1} tries ({problem})"
        self._down_until = time.monotonic() + self.cooldown_s
        raise RemoteUnavailable(self._down_reason)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def check(self) -> tuple[bool, str]:
        """Whether the host answers and takes the token, in words (for a settings page's test button):
        ``/v1/health``, then an empty authorised POST (401: wrong token; 422: the token was accepted)."""
        import httpx

        try:
            health = httpx.get(f"{self.url}/v1/health", timeout=5, trust_env=self.trust_env).json()
            response = httpx.post(f"{self.url}/v1/critique", headers=self._headers(), timeout=5,
                                  trust_env=self.trust_env)
        except (httpx.HTTPError, ValueError) as error:
            return False, f"{self.url} does not answer ({type(error).__name__})"
        if response.status_code == 401:
            return False, f"{self.url} answers but refuses the token"
        where = f"tutor {health.get('version', '?')} on {health.get('device', '?')}"
        if response.status_code == 503:
            return True, f"connected: {where}, busy just now ({health.get('pending')} requests)"
        return True, f"connected: {where}, token accepted"


def _message(response) -> str:
    try:
        return str(response.json().get("error") or response.json().get("detail"))
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        return response.text[:200] or response.reason_phrase


def analyse(endpoint: str, files: dict[str, str | Path], fields: dict | None = None, *,
            local: Callable[[], dict], remote: RemoteClient | None = None) -> tuple[dict, Ran]:
    """The analysis JSON, from the host when there is one and it answers, else from ``local()``."""
    if remote is None:
        return local(), Ran("local")
    try:
        return remote.post(endpoint, files, fields), Ran(remote.url)
    except RemoteUnavailable as error:
        log.warning("%s; analysing on this machine", error)
        return local(), Ran("local", note=f"fell back: {error.message}")
