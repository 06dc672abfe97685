"""Marking a class: every submission in a folder assessed (a take against the score) or critiqued (a
composition), with one report per student and a class summary.

For each submission ``NAME.ext`` the report folder gets ``NAME.json`` (who, which file and its SHA-256, what
was done, where it ran, the JSON of ``tutor assess/critique --json``) and ``NAME.musicxml`` (the marked
score), then ``class_summary.csv`` and ``manifest.json``, all written atomically. The manifest is saved after
each file, so an interrupted batch resumes where it stopped; a file that cannot be analysed is recorded as
failed with the reason and the batch goes on. With ``--score`` a MIDI file or recording is a take to
assess; otherwise (or for a score file) the submission is a composition to critique.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tutor.errors import InputFileError, TutorError
from tutor.safety import atomic_write_bytes, atomic_write_text
from tutor.score.io import SCORE_EXTENSIONS, TAKE_EXTENSIONS

MANIFEST = "manifest.json"
SUMMARY = "class_summary.csv"
TAKE_SUFFIXES = TAKE_EXTENSIONS
COMPOSITION_SUFFIXES = SCORE_EXTENSIONS
SUMMARY_FIELDS = ("student", "file", "kind", "status", "overall", "pitch", "rhythm", "intonation", "notes_correct",
                  "notes_total", "played_bpm", "errors", "warnings", "infos", "key", "style", "emotion", "ran_on",
                  "problem")


@dataclass(frozen=True)
class Submission:
    path: Path
    student: str  # report names: the file's stem, or its whole name when two files share a stem
    kind: str  # "assess" or "critique"
    sha256: str


@dataclass(frozen=True)
class BatchOutcome:
    done: int  # analysed in this run
    skipped: int  # already done by an earlier run
    failed: int
    total: int
    seconds: float
    out_dir: Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def find_submissions(folder: str | Path, *, score: Path | None) -> list[Submission]:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError("is not a folder of submissions", path=folder)
    suffixes = set(TAKE_SUFFIXES + COMPOSITION_SUFFIXES)
    paths = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in suffixes and (score is None or p.resolve() != score.resolve()))
    stems = [p.stem for p in paths]
    submissions = []
    for path in paths:
        take = score is not None and path.suffix.lower() in TAKE_SUFFIXES
        student = path.stem if stems.count(path.stem) == 1 else path.name.replace(".", "_")
        if student in (Path(MANIFEST).stem, Path(SUMMARY).stem):  # never overwrite the batch's own files
            student = f"student_{student}"
        submissions.append(Submission(path, student, "assess" if take else "critique", file_sha256(path)))
    return submissions


def summary_row(entry: dict) -> dict:
    row = {k: "" for k in SUMMARY_FIELDS}
    row.update(student=entry["student"], file=entry["file"], kind=entry["kind"], status=entry["status"],
               ran_on=entry.get("ran_on", ""), problem=entry.get("problem", ""))
    result = entry.get("summary") or {}
    row.update({k: "" if v is None else v for k, v in result.items() if k in row})
    return row


def _summary(kind: str, result: dict) -> dict:
    if kind == "assess":
        s = result["summary"]
        return {k: s.get(k) for k in ("overall", "pitch", "rhythm", "intonation", "notes_correct", "notes_total", "played_bpm")}
    counts = result.get("counts", {})
    return {"errors": counts.get("error"), "warnings": counts.get("warning"), "infos": counts.get("info"),
            "key": result.get("key"), "style": (result.get("style") or {}).get("name"),
            "emotion": (result.get("emotion") or {}).get("label")}


def run_batch(submissions_dir: str | Path, out_dir: str | Path, *, score: str | Path | None = None, workers: int = 1,
              remote=None, progress: Callable[[Submission, dict], None] | None = None,
              on_start: Callable[[int, int], None] | None = None) -> BatchOutcome:
    """Mark every submission; ``on_start(to_do, already_done)`` is called once the folder is read and
    ``progress(submission, manifest_entry)`` after each submission."""
    from tutor.api.documents import annotated_musicxml
    from tutor.remote.client import analyse
    from tutor.score.io import load_score

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    score_path = Path(score) if score is not None else None
    the_score = load_score(score_path) if score_path is not None else None  # a bad score stops here, clearly
    score_hash = file_sha256(score_path)[:16] if score_path is not None else "none"
    submissions = find_submissions(submissions_dir, score=score_path)
    manifest_path = out / MANIFEST
    manifest = _read_manifest(manifest_path)
    lock = threading.Lock()

    def key(s: Submission) -> str:
        return f"{s.sha256}:{s.kind}:{score_hash}:{s.path.name}"  # two students may hand in the same file

    todo = [s for s in submissions if not (manifest.get(key(s), {}).get("status") == "done"
                                           and (out / manifest[key(s)]["report"]).exists())]
    skipped = len(submissions) - len(todo)
    if on_start is not None:
        on_start(len(todo), skipped)

    def mark(s: Submission) -> dict:
        entry = {"student": s.student, "file": s.path.name, "kind": s.kind, "sha256": s.sha256,
                 "report": f"{s.student}.json", "annotated": f"{s.student}.musicxml"}
        try:
            if s.kind == "assess":
                from tutor.api.analyses import assess
                from tutor.api.requests import AssessRequest

                result, ran = analyse("assess", {"file": s.path, "score": score_path},
                                      local=lambda: assess(the_score, AssessRequest(s.path)).to_json(), remote=remote)
                annotated_score = the_score
            else:
                from tutor.api.analyses import critique

                composition = load_score(s.path)
                result, ran = analyse("critique", {"file": s.path}, local=lambda: critique(composition).as_json(),
                                      remote=remote)
                annotated_score = composition
            report = {"student": s.student, "file": s.path.name, "sha256": s.sha256, "kind": s.kind,
                      "score": score_path.name if score_path is not None and s.kind == "assess" else None,
                      "ran_on": ran.where, "note": ran.note, "result": result}
            atomic_write_bytes(out / entry["annotated"], annotated_musicxml(annotated_score, s.kind, result))
            atomic_write_text(out / entry["report"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            entry.update(status="done", ran_on=ran.where, summary=_summary(s.kind, result))
        except TutorError as error:
            entry.update(status="failed", problem=str(error))
        except Exception as error:  # noqa: BLE001 - one bad file never stops the class
            entry.update(status="failed", problem=f"internal error: {type(error).__name__}: {error}")
        return entry

    done = failed = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(mark, s): s for s in todo}
        try:
            for future in as_completed(futures):
                s, entry = futures[future], future.result()
                with lock:
                    manifest[key(s)] = entry
                    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
                done += entry["status"] == "done"
                failed += entry["status"] == "failed"
                if progress is not None:
                    progress(s, entry)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    current = {key(s) for s in submissions}
    _write_summary(out / SUMMARY, [e for k, e in manifest.items() if k in current])
    return BatchOutcome(done=done, skipped=skipped, failed=failed, total=len(submissions),
                        seconds=time.perf_counter() - started, out_dir=out)


def _read_manifest(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # a damaged manifest: redo everything rather than trust it
    return data if isinstance(data, dict) else {}


def _write_summary(path: Path, entries: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS)
    writer.writeheader()
    for entry in sorted(entries, key=lambda e: e["student"]):
        writer.writerow(summary_row(entry))
    atomic_write_text(path, text.getvalue())
