"""Where an analysis runs: on the ``tutor serve`` host the user named, or on this machine when there is
none or it cannot answer (the host is retried, then a notice says why and the work is done here).

``remote_url`` reads ``--remote URL`` / ``$TUTOR_REMOTE``; ``host_answer`` is the one-shot form the CLI
uses; ``AnalysisRouter`` is the long-lived form the app uses (its indicator text follows each answer)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

from tutor.errors import TutorError
from tutor.remote.client import RemoteClient, RemoteUnavailable, analyse

ENV_VAR = "TUTOR_REMOTE"
UNREACHABLE = "Analysis: remote unreachable — local"


def remote_url(value: str | None) -> str | None:
    """The host's URL from ``--remote`` (or ``$TUTOR_REMOTE`` when it is not given); None: analyse here."""
    url = (value if value is not None else os.environ.get(ENV_VAR, "")).strip()
    if not url or url.lower() in ("local", "none"):
        return None
    if not url.startswith(("http://", "https://")):
        raise TutorError(f"--remote {url!r}: give the host as a URL such as http://gpu-host:8765 (or 'local')")
    return url.rstrip("/")


def upload_path(name: str, *, index: int | None = None) -> Path | None:
    """The file to send for a score argument: the file itself, or for a ``corpus:`` reference the corpus
    file (music21's), which the host parses exactly as this machine would; None when that cannot be
    done (a tune picked out of a corpus collection): then the analysis runs here."""
    if not name.startswith("corpus:"):
        return Path(name)  # a missing file: the client's read says which and why
    import music21

    try:
        path = Path(str(music21.corpus.getWork(name.removeprefix("corpus:"))))
    except music21.exceptions21.Music21Exception:  # CorpusException: a name not in its corpus
        return None
    return path if index is None and path.is_file() else None


def host_answer(url: str | None, endpoint: str, files: dict[str, str | Path | None], fields: dict | None,
                *, notice: Callable[[str], None]) -> dict | None:
    """The JSON of ``endpoint`` from the host at ``url``, or None when there is no host, a file cannot be
    sent (``files`` holds None) or the host gave no answer; ``notice(why)`` says why in the last two cases.
    A 400/422 from the host is the file's fault: raised, as the same analysis here would."""
    if url is None:
        return None
    if any(path is None for path in files.values()):
        notice("the host takes uploaded files, not this corpus reference")
        return None
    try:
        return RemoteClient(url).post(endpoint, files, fields)
    except RemoteUnavailable as error:
        notice(error.message)
        return None


class AnalysisRouter:
    """The device for analyses here and the remote host, if any; ``on_text(text)`` hears the indicator's
    text (``Analysis: local CPU``, ``Analysis: remote HOST``, ``UNREACHABLE``) whenever it changes."""

    def __init__(self, on_text: Callable[[str], None] | None = None) -> None:
        self.device = "auto"
        self.client: RemoteClient | None = None
        self.resolved = ""  # "cpu" / "cuda" once "auto" was resolved (that imports torch: never on a UI thread)
        self.text = "Analysis: local"
        self.on_text = on_text

    def configure(self, *, device: str = "auto", url: str = "", token: str = "") -> None:
        url = (url or "").strip()
        self.device = device if device in ("auto", "cpu", "cuda") else "auto"
        self.client = RemoteClient(url, token=token or None, timeout_s=120.0, retries=1, backoff_s=0.5) if url else None
        self.say(self.remote_text() if self.client is not None else self.local_text())

    def resolve_device(self) -> str:
        """The torch device that ``auto`` means here (imports torch)."""
        if not self.resolved:
            from tutor.listen.pitch import resolve_device

            try:
                self.resolved = resolve_device("auto")
            except (ImportError, OSError, RuntimeError):  # no usable torch: the analyses say why when they run
                self.resolved = "cpu"
        return self.resolved

    def local_text(self) -> str:
        device = self.device if self.device != "auto" else self.resolved
        return {"cpu": "Analysis: local CPU", "cuda": "Analysis: local GPU"}.get(device, "Analysis: local")

    def remote_text(self) -> str:
        client = self.client
        return f"Analysis: remote {urlparse(client.url).netloc or client.url}" if client is not None else self.local_text()

    def say(self, text: str) -> None:
        self.text = text
        if self.on_text is not None:
            self.on_text(text)

    # -- analyses (worker threads) -------------------------------------------------------------
    def ask(self, endpoint: str, files: dict, fields: dict | None, local):
        """The host's JSON for ``endpoint``, or ``local()`` when there is no host or it cannot answer."""
        client = self.client
        answer, ran = analyse(endpoint, files, fields, local=local, remote=client)
        if client is not None:
            self.say(self.remote_text() if ran.remote else UNREACHABLE)
        return answer

    def ask_about(self, score, endpoint: str, fields: dict | None, local):
        """``ask`` with ``score`` uploaded as MusicXML (the piece as it is now, edits included)."""
        if self.client is None:
            return local()
        from tutor.score.io import musicxml_bytes

        with tempfile.TemporaryDirectory(prefix="tutor-app-") as folder:
            piece = Path(folder) / "piece.musicxml"
            piece.write_bytes(musicxml_bytes(score))
            return self.ask(endpoint, {"file": piece}, fields, local)

    def critique_json(self, score) -> dict:
        """``tutor critique --json`` of ``score``."""
        from tutor.api.analyses import critique

        return self.ask_about(score, "critique", None, lambda: critique(score).as_json())

    def suggest(self, score, request, *, progress=None):
        """The ``SuggestResult`` of a ``SuggestRequest`` for ``score`` (the host's rebuilt against its note ids);
        ``progress`` hears the progress of work done here."""
        from tutor.api.analyses import SuggestResult, suggest
        from tutor.api.documents import suggest_result_from_json

        answer = self.ask_about(score, "suggest", request.fields(), lambda: suggest(score, request, progress=progress))
        return answer if isinstance(answer, SuggestResult) else suggest_result_from_json(score, request, answer)

    def read_take(self, path, *, instrument: str | None = None):
        """The ``Performance`` of a take file: a recording is transcribed on the host (the model's work),
        else here on the chosen device (``instrument="piano"``: the piano transcriber); a MIDI file is
        read here."""
        from tutor.listen.takes import load_performance
        from tutor.score.io import AUDIO_EXTENSIONS

        path = Path(path)
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            return load_performance(path)
        from dataclasses import replace

        from tutor.api.analyses import transcribe
        from tutor.api.documents import played_notes
        from tutor.api.requests import TranscribeRequest
        from tutor.score.music import Performance

        here = {}
        request = TranscribeRequest(path, device=self.device, instrument=instrument)

        def local() -> None:
            here["performance"] = transcribe(request).performance

        fields = {"instrument": instrument} if instrument else None
        if request.piano:  # the transcriber's onset odds too, for the review's second listen (issue 20)
            fields = {**(fields or {}), "onset_odds": "true"}
        doc = self.ask("transcribe", {"file": path}, fields, local)
        if doc is None:
            return here["performance"]
        if request.piano:
            from tutor.listen.piano import piano_performance

            return replace(piano_performance(doc), source_path=path)
        return Performance(notes=played_notes(doc), source_path=path)
