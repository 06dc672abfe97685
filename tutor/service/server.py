"""``tutor serve``: the analyses over HTTP, for a school's GPU machine and the laptops that use it.

``create_app()`` builds a FastAPI app with one POST endpoint per analysis (``/v1/transcribe``,
``/v1/assess``, ``/v1/critique``, ``/v1/suggest``) that answers in exactly the JSON of the matching
``tutor COMMAND --json`` (the same functions build it), plus ``GET /v1/health``; the OpenAPI schema is
at ``/openapi.json``.

Security and limits, checked in this order before any upload is parsed:

* token authentication: ``Authorization: Bearer TOKEN`` (401 otherwise). The token is made with
  ``secrets`` on first start and kept in ``service-token`` (mode 0600) in the user config folder
  (``$TUTOR_DATA_DIR`` when set); ``tutor serve`` shows it once, when it is made.
* request size: a body larger than ``max_upload_mb`` (by Content-Length, or counted while it arrives)
  gets 413.
* a bounded queue: at most ``workers`` analyses run and ``queue_size`` wait; more get 503 with a
  ``Retry-After`` estimated from recent analysis times.
* uploads: the extension must be one the endpoint reads, the first bytes must be that format's magic
  bytes (MIDI ``MThd``, RIFF/WAVE, fLaC, OggS, ID3/MPEG frame, zip for .mxl, XML without entities...),
  else 400. Uploads are written under names the server chooses into a private (0700) temporary folder,
  deleted after the request; a client's file name is used only in messages, never as a path.
* duration: an analysis that takes longer than ``timeout_s`` answers 504 (the worker thread finishes it
  in the background; the queue slot is freed only then, so a stuck host fills up and says 503).

Errors answer ``{"error": "..."}``: 400 for a file that is not what it claims, 422 for a valid file the
analysis cannot handle (the CLI's exit-2 errors), 500 for a bug.

Models load once per process (``preload=True`` loads them at start-up) and stay on the device; parsed
scores are kept by content hash (16), so the score a class's takes are assessed against is parsed once.
With ``batching`` on (by default on a GPU only) the style and emotion nets of concurrent critiques share
forward passes (``tutor/service/microbatch.py``).
"""

# ruff: noqa: B008  (File()/Form() defaults are how FastAPI declares form fields)
# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time

import asyncio
import hashlib
import json
import math
import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tutor.errors import InputFileError, TutorError
from tutor.score.io import AUDIO_EXTENSIONS, SCORE_EXTENSIONS, TAKE_EXTENSIONS
from tutor.service.token import TOKEN_FILE, config_dir, load_or_create_token, token_path  # noqa: F401 - part of this module's API

DEFAULT_PORT = 8765
API_PREFIX = "/v1"

SCORE_SUFFIXES = SCORE_EXTENSIONS
AUDIO_SUFFIXES = AUDIO_EXTENSIONS  # what tutor.score.io reads as a recording
PERFORMANCE_SUFFIXES = TAKE_EXTENSIONS


# ---------------------------------------------------------------------------------------------
# uploads
# ---------------------------------------------------------------------------------------------
def check_upload(head: bytes, *, suffix: str, allowed: tuple[str, ...], name: str) -> None:
    """Refuse an upload whose extension the endpoint does not read or whose first bytes are not that
    format's (``InputFileError``, answered with 400)."""
    if suffix not in allowed:
        raise InputFileError(f"unsupported file type {suffix or '(no extension)'}; send one of {', '.join(allowed)}",
                             path=name)
    if not head:
        raise InputFileError("is empty", path=name)
    ok = {
        ".mid": head.startswith(b"MThd"),
        ".midi": head.startswith(b"MThd"),
        ".wav": head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE",
        ".flac": head.startswith(b"fLaC"),
        ".ogg": head.startswith(b"OggS"),
        ".opus": head.startswith(b"OggS"),
        ".mp3": head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0),
        ".aiff": head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"),
        ".aif": head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"),
        ".m4a": head[4:8] == b"ftyp",
        ".mxl": head.startswith(b"PK\x03\x04"),
    }.get(suffix)
    if suffix in (".musicxml", ".xml"):
        from tutor.safety import check_xml_text

        check_xml_text(head, path=name)
        ok = True
    elif suffix in (".abc", ".krn"):
        ok = b"\x00" not in head
    if not ok:
        raise InputFileError(f"is not a {suffix} file (its first bytes are not that format's)", path=name)


def _safe_name(filename: str | None) -> str:
    """The client's file name, for messages only: its last component, printable, short."""
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable())[:120]
    return name or "upload"


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


# ---------------------------------------------------------------------------------------------
# the queue
# ---------------------------------------------------------------------------------------------
class Gate:
    """At most ``workers`` analyses running and ``queue_size`` waiting; the rest are refused."""

    def __init__(self, *, workers: int, queue_size: int) -> None:
        self.workers = workers
        self.capacity = workers + queue_size
        self.pending = 0
        self._lock = threading.Lock()
        self._recent_s: deque[float] = deque(maxlen=20)

    def try_enter(self) -> bool:
        with self._lock:
            if self.pending >= self.capacity:
                return False
            self.pending += 1
            return True

    def leave(self, duration_s: float | None = None) -> None:
        with self._lock:
            self.pending -= 1
            if duration_s is not None:
                self._recent_s.append(duration_s)

    def retry_after_s(self) -> int:
        with self._lock:
            typical = sorted(self._recent_s)[len(self._recent_s) // 2] if self._recent_s else 2.0
            return max(1, math.ceil(typical * self.pending / self.workers))


# ---------------------------------------------------------------------------------------------
# the app
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceConfig:
    token: str
    device: str = "auto"
    workers: int = 1
    queue_size: int = 16
    max_upload_mb: float = 50.0
    timeout_s: float = 300.0
    preload: bool = False
    batching: str = "auto"  # micro-batch the style/emotion nets across requests: auto = on a GPU only
    batch_wait_ms: float = 4.0  # how long the batcher waits for more requests before a forward pass


def batching_on(batching: str, device: str) -> bool:
    """Whether to micro-batch: ``on``, ``off``, or ``auto`` (on for cuda: on this 2-core CPU it did not
    help, see docs/serving.md)."""
    if batching not in ("auto", "on", "off"):
        raise TutorError(f"batching {batching!r}: use auto, on or off")
    return batching == "on" or (batching == "auto" and device == "cuda")


def resolve_device(device: str) -> str:
    """auto|cuda|cpu to the torch device used (imports torch)."""
    from tutor.listen.pitch import resolve_device as resolve

    return resolve(device)


def preload_models(device: str) -> None:
    """Load every model once so that the first request does not pay for it."""
    from tutor.compose.suggest import _model
    from tutor.listen.pitch import default_tracker, get_tracker

    get_tracker(default_tracker(device), device=device)
    _model()
    from tutor.models import emotion, style

    style._load()
    emotion._load()


def create_app(config: ServiceConfig):
    from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
    from fastapi.responses import JSONResponse
    from fastapi.security import HTTPBearer

    from tutor._version import __version__

    device = resolve_device(config.device)
    batch = batching_on(config.batching, device)
    batchers: list = []
    stand_ins: dict = {}  # id(net) -> its batcher, while batching is on
    gate = Gate(workers=config.workers, queue_size=config.queue_size)
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="tutor-analysis")
    max_bytes = int(config.max_upload_mb * 1024 * 1024)
    upload_root = Path(tempfile.mkdtemp(prefix="tutor-serve-"))  # mkdtemp makes it 0700

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        if config.preload:
            await asyncio.get_running_loop().run_in_executor(executor, preload_models, device)
        close_batchers = None
        if batch:  # the style and emotion nets behind micro-batchers, on the device (tutor/service/microbatch.py)
            from tutor.service.microbatch import model_batchers

            made_stand_ins, close_batchers, made = model_batchers(device, max_wait_s=config.batch_wait_ms / 1000)
            stand_ins.update(made_stand_ins)
            batchers.extend(made)
        try:
            yield
        finally:
            if close_batchers is not None:
                close_batchers()
            executor.shutdown(wait=False, cancel_futures=True)
            shutil.rmtree(upload_root, ignore_errors=True)

    app = FastAPI(title="tutor analysis service", version=__version__, lifespan=lifespan,
                  description="The analyses of the tutor CLI over HTTP; answers are the JSON of `tutor COMMAND --json`.")
    app.state.gate = gate
    app.state.device = device
    app.state.batching = batch
    bearer = HTTPBearer(auto_error=False, description="the token `tutor serve` showed on its first start")
    scores: OrderedDict[tuple, object] = OrderedDict()  # (sha256, index, title) -> Score (frozen)
    scores_lock = threading.Lock()

    def cached_score(path: Path, index: int | None = None, *, name: str | None = None):
        """The parsed score, shared between requests that upload the same file (a class's 30 takes of
        one piece parse it once). A piece with no title of its own is named after the client's file, as
        it would be on the client."""
        from dataclasses import replace

        from tutor.score.io import load_score

        title = Path(_safe_name(name)).stem if name else None
        key = (hashlib.sha256(path.read_bytes()).hexdigest(), index, title)
        with scores_lock:
            if key in scores:
                scores.move_to_end(key)
                return scores[key]
        score = load_score(path, index=index)
        if title and score.title == path.stem:
            score = replace(score, title=title)
        with scores_lock:
            scores[key] = score
            while len(scores) > 16:
                scores.popitem(last=False)
        return score

    def error(status: int, message: str, headers: dict | None = None):
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    # -- auth, size and queue, before the body is read ---------------------------------------------
    class Guard:
        def __init__(self, inner) -> None:
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX + "/") or scope["path"] == f"{API_PREFIX}/health":
                return await self.inner(scope, receive, send)
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), config.token.encode()):
                return await error(401, "missing or wrong token (send 'Authorization: Bearer TOKEN')",
                                   {"WWW-Authenticate": "Bearer"})(scope, receive, send)
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                return await error(413, f"the request is larger than {config.max_upload_mb:g} MB")(scope, receive, send)
            if not gate.try_enter():
                wait = gate.retry_after_s()
                return await error(503, f"the analysis queue is full; retry in {wait} s",
                                   {"Retry-After": str(wait)})(scope, receive, send)
            received = 0
            too_large = False

            async def counted_receive():
                nonlocal received, too_large
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > max_bytes:
                        too_large = True
                        raise InputFileError(f"the request is larger than {config.max_upload_mb:g} MB")
                return message

            started = False

            async def guarded_send(message):
                nonlocal started
                if too_large and not started:
                    started = True
                    await error(413, f"the request is larger than {config.max_upload_mb:g} MB")(scope, receive, send)
                    return
                if too_large:
                    return
                started = True
                await send(message)

            try:
                await self.inner(scope, counted_receive, guarded_send)
            finally:
                if not scope.get("tutor_slot_taken"):
                    gate.leave()

    app.add_middleware(Guard)

    # -- running an analysis ------------------------------------------------------------------------
    async def analyse(request, uploads: dict[str, tuple[UploadFile, tuple[str, ...]]], work):
        """Validate and store the uploads, run ``work(paths)`` on a worker thread, answer its JSON."""
        folder = Path(tempfile.mkdtemp(dir=upload_root))
        names: dict[str, str] = {}
        paths: dict[str, Path] = {}
        try:
            for field, (upload, allowed) in uploads.items():
                name = _safe_name(upload.filename)
                names[field] = name
                head = await upload.read(4096)
                try:
                    check_upload(head, suffix=_suffix(name), allowed=allowed, name=name)
                except TutorError as problem:
                    return error(400, str(problem))
                path = folder / f"{field}{_suffix(name)}"  # our name, never the client's
                with path.open("wb") as handle:
                    handle.write(head)
                    while chunk := await upload.read(1 << 20):
                        handle.write(chunk)
                paths[field] = path

            def job():
                started = time.perf_counter()
                try:
                    if not stand_ins:
                        return work(paths)
                    from tutor.models.encoder import using_stand_ins

                    with using_stand_ins(stand_ins):  # this request's nets go through the batchers
                        return work(paths)
                finally:
                    gate.leave(time.perf_counter() - started)

            # the worker frees the queue slot when it really ends, even after a 504
            request.scope["tutor_slot_taken"] = True
            future = asyncio.get_running_loop().run_in_executor(executor, job)
            try:
                result = await asyncio.wait_for(asyncio.shield(future), timeout=config.timeout_s)
            except TimeoutError:
                return error(504, f"the analysis took longer than {config.timeout_s:g} s")
            return JSONResponse(result)
        except TutorError as problem:
            message = problem.message
            for field, path in paths.items():
                message = message.replace(str(path), names[field])
            where = next((names[f] for f, p in paths.items() if problem.path is not None and p == problem.path), "")
            text = f"{where}: {message}" if where else message
            status = 400 if isinstance(problem, InputFileError) else 422
            return error(status, text)
        except Exception as problem:  # noqa: BLE001 - a request never takes the server down: a bug answers 500, without paths
            return error(500, f"internal error: {type(problem).__name__}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    security = [Depends(bearer)]

    @app.get(f"{API_PREFIX}/health")
    async def health():
        """Whether the service is up, where it runs its models, and how busy it is (no token needed)."""
        from tutor.service.microbatch import merged_stats

        return {"status": "ok", "version": __version__, "device": device, "workers": gate.workers,
                "pending": gate.pending, "capacity": gate.capacity,
                "batching": {"on": batch, **merged_stats(batchers)}}

    @app.post(f"{API_PREFIX}/transcribe", dependencies=security)
    async def transcribe(request: Request, file: UploadFile = File(..., description="audio"),
                         tracker: str | None = Form(None)):
        """The notes of a monophonic recording: the JSON of ``tutor transcribe --json``."""
        from tutor.api.requests import TRACKER_CHOICES

        if tracker is not None and tracker not in TRACKER_CHOICES:
            return error(422, f"tracker {tracker!r}: use one of {', '.join(TRACKER_CHOICES)}")

        def work(paths):
            from tutor.api.analyses import transcribe, transcription_json
            from tutor.api.requests import TranscribeRequest

            return transcription_json(transcribe(TranscribeRequest(paths["file"], tracker=tracker, device=device)))

        return await analyse(request, {"file": (file, AUDIO_SUFFIXES)}, work)

    @app.post(f"{API_PREFIX}/assess", dependencies=security)
    async def assess(request: Request,
                     file: UploadFile = File(..., description="the take: MIDI or audio"),
                     score: UploadFile = File(..., description="the score"),
                     part: str | None = Form(None), measures: str | None = Form(None),
                     tempo: float | None = Form(None), level: str = Form("advanced")):
        """A take against its score: the JSON of ``tutor assess --json``."""
        if level not in ("beginner", "advanced"):
            return error(422, f"level {level!r}: use beginner or advanced")

        def work(paths):
            from tutor.api.analyses import assess as run_assess
            from tutor.api.requests import AssessRequest, parse_measures

            wanted = AssessRequest(paths["file"], part=part, measures=parse_measures(measures), tempo_bpm=tempo, level=level)
            return run_assess(cached_score(paths["score"]), wanted).to_json()

        return await analyse(request, {"file": (file, PERFORMANCE_SUFFIXES), "score": (score, SCORE_SUFFIXES)}, work)

    @app.post(f"{API_PREFIX}/critique", dependencies=security)
    async def critique(request: Request, file: UploadFile = File(..., description="the score"),
                       index: int | None = Form(None)):
        """A composition critique: the JSON of ``tutor critique --json``."""
        def work(paths):
            from tutor.api.analyses import critique as run_critique

            return run_critique(cached_score(paths["file"], index, name=file.filename)).as_json()

        return await analyse(request, {"file": (file, SCORE_SUFFIXES)}, work)

    @app.post(f"{API_PREFIX}/suggest", dependencies=security)
    async def suggest(request: Request, file: UploadFile = File(..., description="the score"),
                      continue_bars: int | None = Form(None, alias="continue"), fix: str | None = Form(None),
                      fix_flagged: bool = Form(False), harmonize: bool = Form(False), k: int = Form(4),
                      seed: int = Form(0), temperature: float | None = Form(None), top_p: float = Form(0.95),
                      after: int | None = Form(None),
                      style: str | None = Form(None), free_rhythm: bool = Form(False), index: int | None = Form(None)):
        """Continuations, corrections or harmonisations: the JSON of ``tutor suggest --json`` (give one of
        ``continue``, ``fix``, ``fix_flagged`` or ``harmonize``)."""
        from tutor.api.requests import SuggestRequest

        try:
            wanted = SuggestRequest.from_options(
                continue_bars=continue_bars, fix=fix, fix_flagged=fix_flagged, harmonize=harmonize, k=k, seed=seed,
                temperature=temperature, top_p=top_p, after=after, style=style, free_rhythm=free_rhythm)
        except TutorError as problem:
            return error(422, problem.message)

        def work(paths):
            from tutor.api.analyses import suggest as run_suggest

            return run_suggest(cached_score(paths["file"], index), wanted).to_json()

        return await analyse(request, {"file": (file, SCORE_SUFFIXES)}, work)

    return app


def openapi_json(app) -> str:
    return json.dumps(app.openapi(), indent=2)
