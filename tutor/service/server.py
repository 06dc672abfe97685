"""``tutor serve``: the analyses over HTTP, for a school's GPU machine and the laptops that use it.

``create_app(config)`` builds a FastAPI app: ``POST /v1/transcribe``, ``/v1/assess``, ``/v1/critique`` and
``/v1/suggest`` answer exactly the JSON of ``tutor COMMAND --json``; ``GET /v1/health``; ``/openapi.json``.

Security and limits, checked in this order before any upload is parsed:

* token: ``Authorization: Bearer TOKEN``, else 401 (``tutor.service.token``: made once, kept mode 0600);
* size: a body over ``max_upload_mb`` (by Content-Length, or counted as it arrives) gets 413;
* clients: at most ``per_client`` requests in progress per client address (429), ``max_uploads`` uploads;
* body: received whole before the request queues: within ``body_timeout_s`` or at ``min_upload_kb_s``,
  else 408 (``tutor.service.limits``; ``uvicorn_config`` adds a deadline for the headers);
* queue: at most ``workers`` analyses run and ``queue_size`` wait; more get 503 with ``Retry-After``;
* uploads: the extension must be one the endpoint reads and the first bytes that format's magic bytes
  (XML without entities; ``check_upload``), else 400; uploads are saved under names the server chooses in
  a private (0700) temporary folder, deleted after the request; a client's file name is never a path;
* time: an analysis over ``timeout_s`` answers 504; its worker process is killed and replaced, so its
  queue slot is free at once (``tutor.service.workers``).

Errors answer ``{"error": "..."}``: 400 a file that is not what it claims, 422 a valid file the analysis
cannot handle (the CLI's exit-2 errors), 500 a bug; the framework's own errors (404, 405, a missing form
field) too. Models load once per worker process; each keeps the last 16 parsed scores by content hash;
``batching`` lets concurrent critiques share forward passes, in one process (``tutor.service.microbatch``).
"""

# ruff: noqa: B008  (File()/Form() defaults are how FastAPI declares form fields)
# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations at run time

import atexit
import json
import math
import shutil
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tutor.errors import InputFileError, TutorError
from tutor.score.io import AUDIO_EXTENSIONS, SCORE_EXTENSIONS, TAKE_EXTENSIONS
from tutor.service.token import TOKEN_FILE, config_dir, load_or_create_token, token_path  # noqa: F401 - part of this module's API
from tutor.service.workers import (
    client_name,
    preload_models,  # noqa: F401 - part of this module's API (deploy/ray_serve.py)
)

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
    per_client: int = 0  # requests in progress per client address (429 beyond); 0: no limit (behind a proxy)
    body_timeout_s: float = 30.0  # a request body must arrive within this (else 408) ...
    min_upload_kb_s: float = 32.0  # ... or keep arriving at this rate or faster
    header_timeout_s: float = 10.0  # a request's headers must arrive within this (uvicorn_config)
    max_uploads: int = 0  # uploads received at once (503 beyond); 0: 2 x (workers + queue_size) + 8
    spare_workers: int = 0  # loaded worker processes kept ready to replace one killed after a timeout


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


def create_app(config: ServiceConfig):
    from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi.security import HTTPBearer
    from starlette.exceptions import HTTPException

    from tutor._version import __version__
    from tutor.service import workers as jobs
    from tutor.service.limits import ClientLimit, Guard, make_upload_root
    from tutor.service.workers import AnalysisPool, WorkerLost, WorkerSettings, WorkersFailed

    device = resolve_device(config.device)
    batch = batching_on(config.batching, device)
    gate = Gate(workers=config.workers, queue_size=config.queue_size)
    # each analysis in a worker process that a timeout kills; batching needs the analyses in one process
    settings = WorkerSettings(device=device, preload=config.preload, batching=batch,
                              batch_wait_ms=config.batch_wait_ms, threads=config.workers if batch else 1)
    pool = AnalysisPool(settings, processes=1 if batch else config.workers, spares=config.spare_workers)
    upload_root, owner_lock = make_upload_root()  # removes the folders of servers killed before
    atexit.register(shutil.rmtree, upload_root, ignore_errors=True)  # an app whose lifespan never ran, too

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        try:
            await pool.start(wait=config.preload)  # with preload, ready once every worker has its models
            yield
        finally:
            await pool.close()
            shutil.rmtree(upload_root, ignore_errors=True)

    app = FastAPI(title="tutor analysis service", version=__version__, lifespan=lifespan,
                  description="The analyses of the tutor CLI over HTTP; answers are the JSON of `tutor COMMAND --json`.")
    app.state.gate = gate
    app.state.device = device
    app.state.batching = batch
    app.state.config = config
    app.state.pool = pool
    app.state.upload_root = upload_root
    app.state.owner_lock = owner_lock  # held open (and locked) while the app lives
    bearer = HTTPBearer(auto_error=False, description="the token `tutor serve` showed on its first start")

    def error(status: int, message: str, headers: dict | None = None):
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    # -- every error as {"error": ...}, the framework's own too (404, 405, a missing form field) -----------
    @app.exception_handler(HTTPException)
    async def http_error(request, problem: HTTPException):
        return error(problem.status_code, str(problem.detail), getattr(problem, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, problem: RequestValidationError):
        said = []
        for item in problem.errors():
            where = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "header")]
            said.append(f"{'.'.join(where)}: {item.get('msg', 'invalid')}" if where else item.get("msg", "invalid"))
        return error(422, "; ".join(said) or "invalid request")

    @app.exception_handler(Exception)
    async def internal_error(request, problem: Exception):
        return error(500, f"internal error: {type(problem).__name__}")

    # -- auth, per-client limit, body deadline and size, then the queue (tutor/service/limits.py) -----------
    app.add_middleware(Guard, token=config.token, gate=gate, clients=ClientLimit(config.per_client),
                       upload_root=upload_root, max_bytes=int(config.max_upload_mb * 1024 * 1024),
                       body_timeout_s=config.body_timeout_s, min_upload_kb_s=config.min_upload_kb_s,
                       max_uploads=config.max_uploads or 2 * gate.capacity + 8, prefix=API_PREFIX)

    # -- running an analysis ------------------------------------------------------------------------
    async def analyse(request, uploads: dict[str, tuple[UploadFile, tuple[str, ...]]], job, **kwargs):
        """Validate and store the uploads, run ``job(paths, **kwargs)`` in a worker process, answer its JSON."""
        folder = Path(tempfile.mkdtemp(dir=upload_root))
        names: dict[str, str] = {}
        paths: dict[str, Path] = {}
        try:
            for field, (upload, allowed) in uploads.items():
                name = client_name(upload.filename)
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
            try:  # the worker is killed (and replaced) when the time is up: its queue slot is free at once
                status, payload, seconds = await pool.run(job, paths, kwargs, timeout_s=config.timeout_s)
            except TimeoutError:
                request.scope["tutor_analysis_s"] = config.timeout_s
                return error(504, f"the analysis took longer than {config.timeout_s:g} s")
            except (WorkerLost, WorkersFailed) as problem:
                return error(500, f"internal error: {problem}")
            request.scope["tutor_analysis_s"] = seconds
            if status == "tutor_error":
                is_input, message, where = payload
                raise (InputFileError if is_input else TutorError)(message, path=where)
            if status != "ok":
                return error(500, f"internal error: {payload}")
            return JSONResponse(payload)
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
        return {"status": "ok", "version": __version__, "device": device, "workers": gate.workers,
                "pending": gate.pending, "capacity": gate.capacity,
                "batching": {"on": batch, **pool.batch_stats()}}

    @app.post(f"{API_PREFIX}/transcribe", dependencies=security)
    async def transcribe(request: Request, file: UploadFile = File(..., description="audio"),
                         tracker: str | None = Form(None), instrument: str | None = Form(None),
                         onset_odds: bool = Form(False)):
        """The notes of a recording (a single line, or a piano's with ``instrument=piano``): the JSON of
        ``tutor transcribe --json`` (``onset_odds``: a piano transcription's onset odds too, issue 20)."""
        from tutor.api.requests import INSTRUMENT_CHOICES, TRACKER_CHOICES

        if tracker is not None and tracker not in TRACKER_CHOICES:
            return error(422, f"tracker {tracker!r}: use one of {', '.join(TRACKER_CHOICES)}")
        if instrument is not None and instrument not in INSTRUMENT_CHOICES:
            return error(422, f"instrument {instrument!r}: use one of {', '.join(INSTRUMENT_CHOICES)}")

        return await analyse(request, {"file": (file, AUDIO_SUFFIXES)}, jobs.transcribe_job, tracker=tracker, device=device,
                             instrument=instrument, onset_odds=onset_odds)

    @app.post(f"{API_PREFIX}/assess", dependencies=security)
    async def assess(request: Request,
                     file: UploadFile = File(..., description="the take: MIDI or audio"),
                     score: UploadFile = File(..., description="the score"),
                     part: str | None = Form(None), measures: str | None = Form(None),
                     tempo: float | None = Form(None), level: str = Form("advanced"),
                     instrument: str | None = Form(None),
                     repeats: bool = Form(True, description="false: the student was asked to play each passage once")):
        """A take against its score: the JSON of ``tutor assess --json`` (``repeats=false``: of ``--no-repeats``)."""
        from tutor.api.requests import INSTRUMENT_CHOICES

        if level not in ("beginner", "advanced"):
            return error(422, f"level {level!r}: use beginner or advanced")
        if instrument is not None and instrument not in INSTRUMENT_CHOICES:
            return error(422, f"instrument {instrument!r}: use one of {', '.join(INSTRUMENT_CHOICES)}")

        return await analyse(request, {"file": (file, PERFORMANCE_SUFFIXES), "score": (score, SCORE_SUFFIXES)},
                             jobs.assess_job, part=part, measures=measures, tempo=tempo, level=level,
                             instrument=instrument, repeats=repeats)

    @app.post(f"{API_PREFIX}/critique", dependencies=security)
    async def critique(request: Request, file: UploadFile = File(..., description="the score"),
                       index: int | None = Form(None)):
        """A composition critique: the JSON of ``tutor critique --json``."""
        return await analyse(request, {"file": (file, SCORE_SUFFIXES)}, jobs.critique_job, index=index, name=file.filename)

    @app.post(f"{API_PREFIX}/suggest", dependencies=security)
    async def suggest(request: Request, file: UploadFile = File(..., description="the score"),
                      continue_bars: int | None = Form(None, alias="continue"), fix: str | None = Form(None),
                      fix_flagged: bool = Form(False), harmonize: bool = Form(False),
                      restyle: str | None = Form(None), k: int = Form(4),
                      seed: int = Form(0), temperature: float | None = Form(None), top_p: float = Form(0.95),
                      after: int | None = Form(None),
                      style: str | None = Form(None), free_rhythm: bool = Form(False), index: int | None = Form(None)):
        """Continuations, corrections, harmonisations or a restyled piece: the JSON of ``tutor suggest --json``
        (give one of ``continue``, ``fix``, ``fix_flagged``, ``harmonize`` or ``restyle``)."""
        from tutor.api.requests import SuggestRequest

        try:
            wanted = SuggestRequest.from_options(
                continue_bars=continue_bars, fix=fix, fix_flagged=fix_flagged, harmonize=harmonize, restyle=restyle,
                k=k, seed=seed,
                temperature=temperature, top_p=top_p, after=after, style=style, free_rhythm=free_rhythm)
        except TutorError as problem:
            return error(422, problem.message)

        return await analyse(request, {"file": (file, SCORE_SUFFIXES)}, jobs.suggest_job, wanted=wanted, index=index)

    return app


def openapi_json(app) -> str:
    return json.dumps(app.openapi(), indent=2)
