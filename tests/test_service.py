"""``tutor serve`` on loopback: every endpoint answers the CLI's JSON; auth, size, upload and queue limits;
the remote client falls back to this machine when the host dies."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, shared
from tests.service_host import app_in_thread, free_port, wait_until_healthy
from tutor.cli import main

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MELODY = "corpus:ryansMammoth/BottleOfBrandyJig.abc"


@pytest.fixture(scope="module")
def server():
    from tutor.service.server import ServiceConfig, create_app

    app = create_app(ServiceConfig(token=TOKEN, device="cpu", workers=1, queue_size=2, max_upload_mb=1.0))
    with app_in_thread(app) as (url, _stop):
        yield url, app


def cli_json(capsys, argv: list[str]) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def post(url: str, endpoint: str, files: dict[str, Path], data: dict | None = None, headers=AUTH):
    return httpx.post(f"{url}/v1/{endpoint}", files={k: (p.name, p.read_bytes()) for k, p in files.items()},
                      data=data or {}, headers=headers, timeout=120)


def test_health_and_openapi(server):
    url, _ = server
    health = httpx.get(f"{url}/v1/health").json()
    assert health["status"] == "ok" and health["device"] == "cpu"
    paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert {"/v1/transcribe", "/v1/assess", "/v1/critique", "/v1/suggest", "/v1/health"} <= set(paths)


def test_critique_and_assess_answer_the_cli_json(server, capsys):
    url, _ = server
    score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
    take = shared("vienna4x22", "midi", "Schubert_D783_no15_p01.mid")
    response = post(url, "critique", {"file": score})
    assert response.status_code == 200, response.text
    assert response.json() == cli_json(capsys, ["critique", str(score), "--json"])
    response = post(url, "assess", {"file": take, "score": score}, {"level": "beginner", "measures": "1-8"})
    assert response.status_code == 200, response.text
    expected = cli_json(capsys, ["assess", "--score", str(score), str(take), "--level", "beginner", "--measures", "1-8", "--json"])
    assert response.json() == expected
    assert expected["summary"]["notes_total"] > 50 and expected["summary"]["level"] == "beginner"


def test_transcribe_answers_the_cli_json(server, capsys, tmp_path):
    import soundfile

    url, _ = server
    source = shared("f0-audio", "mdb_stem_synth", "audio_stems", "AClassicEducation_NightOwl_STEM_08.RESYN.wav")
    samples, rate = soundfile.read(source)
    audio = tmp_path / "stem.wav"
    soundfile.write(audio, samples[: int(1.5 * rate)], rate)  # 1.5 s: the test stays fast
    response = post(url, "transcribe", {"file": audio}, {"tracker": "pesto"})
    assert response.status_code == 200, response.text
    expected = cli_json(capsys, ["transcribe", str(audio), "--tracker", "pesto", "--device", "cpu", "--json"])
    assert response.json() == expected and expected["notes"]


def test_suggest_answers_the_cli_json(server, capsys, tmp_path):
    from tutor.score.io import load_score, save_score

    url, _ = server
    piece = tmp_path / "jig.musicxml"
    save_score(load_score(MELODY), piece)
    response = post(url, "suggest", {"file": piece}, {"continue": "1", "k": "1", "seed": "1"})
    assert response.status_code == 200, response.text
    expected = cli_json(capsys, ["suggest", str(piece), "--continue", "1", "-k", "1", "--seed", "1", "--json"])
    assert response.json() == expected and expected["suggestions"][0]["notes"]
    assert post(url, "suggest", {"file": piece}, {"continue": "2", "fix": "1-2"}).status_code == 422


def test_auth_failures_are_401(server):
    url, _ = server
    score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
    assert post(url, "critique", {"file": score}, headers={}).status_code == 401
    response = post(url, "critique", {"file": score}, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"


def test_oversized_and_malformed_uploads(server, tmp_path):
    url, _ = server
    big = tmp_path / "big.mid"
    big.write_bytes(b"MThd" + bytes(2 * 1024 * 1024))
    assert post(url, "critique", {"file": big}).status_code == 413
    noise = tmp_path / "take.mid"
    noise.write_bytes(os.urandom(2000))
    response = post(url, "critique", {"file": noise})
    assert response.status_code == 400 and "take.mid" in response.json()["error"]
    wrong_type = tmp_path / "notes.exe"
    wrong_type.write_bytes(b"MZ" + bytes(100))
    assert post(url, "critique", {"file": wrong_type}).status_code == 400
    entities = tmp_path / "bomb.musicxml"
    entities.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><score-partwise/>')
    assert post(url, "critique", {"file": entities}).status_code == 400
    broken = tmp_path / "broken.mid"  # right magic bytes, broken inside: found by the parser, no server path shown
    broken.write_bytes(b"MThd" + os.urandom(500))
    response = post(url, "critique", {"file": broken})
    assert response.status_code in (400, 422) and "tutor-serve" not in response.json()["error"]
    missing_score = shared("vienna4x22", "midi", "Schubert_D783_no15_p01.mid")
    assert post(url, "assess", {"file": missing_score}).status_code == 422  # no score field


def test_every_error_answers_an_error_json(server):
    """The framework's own errors too (404, 405, a missing or malformed form field): {"error": "..."},
    never FastAPI's {"detail": ...}."""
    url, _ = server
    take = shared("vienna4x22", "midi", "Schubert_D783_no15_p01.mid")
    answers = {
        404: [httpx.get(f"{url}/nope"), httpx.post(f"{url}/v1/nope", headers=AUTH)],
        405: [httpx.get(f"{url}/v1/critique", headers=AUTH), httpx.delete(f"{url}/v1/health")],
        422: [post(url, "assess", {"file": take}), post(url, "critique", {"file": take}, {"index": "x"}),
              httpx.post(f"{url}/v1/critique", headers=AUTH)],
    }
    for status, responses in answers.items():
        for response in responses:
            assert response.status_code == status and list(response.json()) == ["error"], response.text
            assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert "score" in answers[422][0].json()["error"] and "index" in answers[422][1].json()["error"]


def test_damaged_mxl_and_non_finite_numbers_answer_400_or_422(server, tmp_path):
    """Damaged compressed MusicXML is 400 and a non-finite tempo or top_p 422, never 500."""
    import io
    import zipfile

    url, _ = server
    score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
    take = shared("vienna4x22", "midi", "Schubert_D783_no15_p01.mid")

    def mxl(xml: bytes, method: int = zipfile.ZIP_DEFLATED) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", method) as archive:
            archive.writestr("META-INF/container.xml", "<container><rootfiles><rootfile full-path='s.xml'/>"
                                                       "</rootfiles></container>")
            archive.writestr("s.xml", xml)
        return out.getvalue()

    def flipped(data: bytes, at: int, bits: int = 0xFF) -> bytes:
        changed = bytearray(data)
        changed[at] ^= bits
        return bytes(changed)

    whole = mxl(score.read_bytes())
    stored = mxl(score.read_bytes(), zipfile.ZIP_STORED)
    directory = stored.rfind(b"PK\x01\x02")  # the last member's entry: its flags at +8, method at +10
    damaged = {"zeros.mxl": b"PK\x03\x04" + bytes(400), "cut.mxl": whole[: len(whole) // 2],
               "deflate.mxl": flipped(whole, len(whole) // 3), "cut-xml.mxl": mxl(score.read_bytes()[:5000]),
               "html.mxl": mxl(b"<html><body/></html>"),
               "bzip2.mxl": flipped(mxl(score.read_bytes(), zipfile.ZIP_BZIP2), 2000),
               "lzma.mxl": flipped(mxl(score.read_bytes(), zipfile.ZIP_LZMA), 2000),
               "method.mxl": flipped(stored, directory + 10, 99), "encrypted.mxl": flipped(stored, directory + 8, 1)}
    for name, data in damaged.items():
        (tmp_path / name).write_bytes(data)
        response = post(url, "critique", {"file": tmp_path / name})
        assert response.status_code == 400 and response.json()["error"].startswith(name), (name, response.text)
    (tmp_path / "whole.mxl").write_bytes(whole)
    assert post(url, "critique", {"file": tmp_path / "whole.mxl"}).status_code == 200
    for tempo in ("inf", "-inf", "nan", "1e400"):
        response = post(url, "assess", {"file": take, "score": score}, {"tempo": tempo})
        assert response.status_code in (400, 422) and "tempo" in response.json()["error"], (tempo, response.text)
    piece = tmp_path / "jig.abc"
    piece.write_text("X:1\nT:jig\nM:6/8\nL:1/8\nK:D\nDFA dfa|\n")
    assert post(url, "suggest", {"file": piece}, {"continue": "1", "top_p": "nan"}).status_code == 422


def test_upload_folders_of_a_killed_server_are_removed_on_the_next_start(tmp_path, monkeypatch):
    """A server killed with SIGKILL leaves its tutor-serve-* folder (students' files) behind; the next
    start removes it, but not the folder of a server still running nor a young folder without owner."""
    import signal
    import tempfile

    from tutor.service.server import ServiceConfig, create_app

    code = ("import sys, time; from tutor.service.limits import make_upload_root; "
            "root, lock = make_upload_root(sys.argv[1]); (root / 'take.mid').write_bytes(b'MThd'); "
            "print(root, flush=True); time.sleep(120)")
    servers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        killed, alive = (Path(s.stdout.readline().strip()) for s in servers)
        os.kill(servers[0].pid, signal.SIGKILL)
        servers[0].wait(10)
        assert (killed / "take.mid").exists() and (killed / ".owner").read_text().strip() == str(servers[0].pid)
        young = tmp_path / "tutor-serve-young"  # no owner file: an older version's, or being made
        young.mkdir()
        old = tmp_path / "tutor-serve-old"
        old.mkdir()
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        app = create_app(ServiceConfig(token=TOKEN, device="cpu"))
        assert not killed.exists() and not old.exists()
        assert (alive / "take.mid").exists() and young.exists() and app.state.upload_root.parent == tmp_path
        assert app.state.upload_root.exists()
    finally:
        for process in servers:
            process.kill()
            process.communicate(timeout=10)


def test_full_queue_answers_503_with_retry_after(server):
    url, app = server
    gate = app.state.gate
    deadline = time.time() + 10
    while gate.pending and time.time() < deadline:  # the last request frees its slot just after it answered
        time.sleep(0.02)
    taken = 0
    while gate.try_enter():  # the workers and the queue are all busy
        taken += 1
    try:
        score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
        response = post(url, "critique", {"file": score})
        assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    finally:
        for _ in range(taken):
            gate.leave()
    assert taken == 3  # 1 worker + 2 waiting


def test_tutor_serve_token_and_fallback_when_the_host_dies(tmp_path, capsys):
    """`tutor serve` makes a 0600 token and shows it once; the client uses the host, and analyses here
    when the host is gone."""
    from tutor.remote.client import RemoteClient, analyse

    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "TUTOR_DATA_DIR": str(tmp_path), "TMPDIR": str(tmp_path / "tmp")}
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tutor", "serve", "--port", str(port), "--device", "cpu"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, timeout_s=60)
        token_file = tmp_path / "service-token"
        token = token_file.read_text().strip()
        assert token_file.stat().st_mode & 0o777 == 0o600 and len(token) >= 32
        score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
        client = RemoteClient(url, token=token, retries=1, backoff_s=0.1)
        local = cli_json(capsys, ["critique", str(score), "--json"])
        result, ran = analyse("critique", {"file": score}, local=lambda: local, remote=client)
        assert ran.remote and ran.where == url and result == local
    finally:
        process.kill()
        _, err = process.communicate(timeout=10)
    assert token in err and "shown only now" in err
    result, ran = analyse("critique", {"file": score}, local=lambda: local, remote=client)
    assert not ran.remote and "fell back" in ran.note and result == local
    assert score.exists()
    from tutor.service.limits import remove_stale_upload_folders

    left = list((tmp_path / "tmp").glob("tutor-serve-*"))  # SIGKILL: no clean-up; the next start removes it
    assert len(left) == 1 and remove_stale_upload_folders(tmp_path / "tmp") == left and not left[0].exists()


def test_a_connection_dropped_mid_request_is_retried_then_analysed_here(tmp_path):
    """A host that reads part of the upload and hangs up: the client retries, then analyses locally,
    and the take is still there."""
    from tutor.remote.client import RemoteClient, analyse

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    hits = []

    def hang_up():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(1024)
            hits.append(1)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    take = tmp_path / "take.mid"
    take.write_bytes(shared("vienna4x22", "midi", "Schubert_D783_no15_p01.mid").read_bytes())
    client = RemoteClient(f"http://127.0.0.1:{listener.getsockname()[1]}", token="x", retries=2, backoff_s=0.05)
    try:
        result, ran = analyse("critique", {"file": take}, local=lambda: {"local": True}, remote=client)
    finally:
        listener.close()
    assert result == {"local": True} and not ran.remote and len(hits) == 3
    assert take.read_bytes()[:4] == b"MThd"


def test_an_analysis_over_the_time_limit_answers_504():
    from fastapi.testclient import TestClient

    from tutor.service.server import ServiceConfig, create_app

    app = create_app(ServiceConfig(token=TOKEN, device="cpu", timeout_s=0.05))
    score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
    with TestClient(app) as client:
        response = client.post("/v1/critique", files={"file": (score.name, score.read_bytes())}, headers=AUTH)
        assert response.status_code == 504 and "longer than" in response.json()["error"]
        assert app.state.gate.pending == 0  # its worker process was killed: the slot is free at once


def test_cli_remote_gives_the_local_json_for_every_command(server, capsys, monkeypatch, tmp_path):
    """`--remote URL` on transcribe, assess, critique and suggest: the host's answer is the local JSON,
    and -o files are written from it."""
    import soundfile

    url, _ = server
    monkeypatch.setenv("TUTOR_REMOTE_TOKEN", TOKEN)
    monkeypatch.delenv("TUTOR_REMOTE", raising=False)
    score = shared("vienna4x22", "musicxml", "Schubert_D783_no15.musicxml")
    take = shared("vienna4x22", "midi", "Schubert_D783_no15_p01.mid")
    source = shared("f0-audio", "mdb_stem_synth", "audio_stems", "AClassicEducation_NightOwl_STEM_08.RESYN.wav")
    samples, rate = soundfile.read(source)
    audio = tmp_path / "stem.wav"
    soundfile.write(audio, samples[: int(1.5 * rate)], rate)
    commands = [
        ["transcribe", str(audio), "--tracker", "pesto", "--device", "cpu"],
        ["assess", "--score", str(score), str(take), "--measures", "1-8", "--level", "beginner"],
        ["critique", MELODY],  # a corpus piece: its corpus file is sent
        ["suggest", MELODY, "--continue", "1", "-k", "1", "--seed", "1"],
    ]
    for argv in commands:
        remote = cli_json(capsys, [*argv, "--json", "--remote", url])
        assert remote == cli_json(capsys, [*argv, "--json", "--remote", "local"]), argv[0]
        assert remote.get("notes") or remote.get("summary") or remote.get("findings") is not None or remote["suggestions"]
    capsys.readouterr()
    assert main(["assess", "--score", str(score), str(take), "--measures", "1-8", "--remote", url,
                 "-o", str(tmp_path / "marked.musicxml")]) == 0
    said = capsys.readouterr()
    assert said.out.startswith("Overall ") and "analysing on this machine" not in said.err
    assert b"color=" in (tmp_path / "marked.musicxml").read_bytes()


def test_cli_remote_falls_back_to_local_when_the_host_is_dead(capsys, monkeypatch, tmp_path):
    """$TUTOR_REMOTE naming a dead host: retried, then one line on stderr and the local answer; the
    input file is untouched."""
    from tutor.score.io import load_score, save_score

    score = tmp_path / "jig.musicxml"
    save_score(load_score(MELODY), score)
    before = score.read_bytes()
    monkeypatch.setenv("TUTOR_REMOTE", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("TUTOR_REMOTE_TOKEN", TOKEN)
    capsys.readouterr()
    assert main(["critique", str(score), "--json"]) == 0
    said = capsys.readouterr()
    notice = [line for line in said.err.splitlines() if line.strip()]
    assert len(notice) == 1 and "gave no answer after 3 tries" in notice[0] and "analysing on this machine" in notice[0]
    assert json.loads(said.out) == cli_json(capsys, ["critique", str(score), "--json", "--remote", "local"])
    assert score.read_bytes() == before
    assert main(["critique", str(score), "--remote", "gpu-host:8765"]) == 2  # not a URL: a clear error


def test_micro_batching_shares_forward_passes_and_changes_no_answer(capsys, tmp_path):
    """Concurrent style/emotion predictions through the batcher: one forward pass serves several
    requests, and every answer is the one a lone request gets; a service with batching on answers the
    CLI's critique JSON."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from tutor.models.emotion import predict_emotion
    from tutor.models.encoder import using_stand_ins
    from tutor.models.style import predict_style
    from tutor.score.io import load_score, save_score
    from tutor.service.microbatch import merged_stats, model_batchers
    from tutor.service.server import ServiceConfig, create_app

    pieces = [load_score(f"corpus:{name}") for name in ("bach/bwv66.6", "bach/bwv269", "ryansMammoth/BottleOfBrandyJig.abc",
                                                        "bach/bwv7.7")]
    alone = [(predict_style(p), predict_emotion(p)) for p in pieces]
    stand_ins, undo, batchers = model_batchers("cpu", max_wait_s=0.1)  # a long wait: the threads meet

    def batched(piece):
        with using_stand_ins(stand_ins):
            return predict_style(piece), predict_emotion(piece)

    try:
        with ThreadPoolExecutor(len(pieces)) as pool:
            together = list(pool.map(batched, pieces))
        assert [(predict_style(p).label, predict_emotion(p).quadrant) for p in pieces] == \
            [(s.label, e.quadrant) for s, e in alone]  # outside the block: the nets themselves, unchanged
        stats = merged_stats(batchers)
    finally:
        undo()
    assert stats["largest_calls"] >= 2 and stats["passes"] < stats["calls"]
    for (s1, e1), (s2, e2) in zip(alone, together, strict=True):
        assert s1.label == s2.label and e1.quadrant == e2.quadrant
        assert all(abs(s1.probabilities[k] - s2.probabilities[k]) < 1e-5 for k in s1.probabilities)
        assert all(abs(e1.probabilities[k] - e2.probabilities[k]) < 1e-5 for k in e1.probabilities)
    app = create_app(ServiceConfig(token=TOKEN, device="cpu", batching="on"))
    piece = tmp_path / "jig.musicxml"
    save_score(pieces[2], piece)
    with TestClient(app) as client:
        assert client.get("/v1/health").json()["batching"]["on"] is True
        response = client.post("/v1/critique", files={"file": (piece.name, piece.read_bytes())}, headers=AUTH)
        assert response.status_code == 200 and client.get("/v1/health").json()["batching"]["passes"] >= 2
    assert response.json() == cli_json(capsys, ["critique", str(piece), "--json"])
    assert create_app(ServiceConfig(token=TOKEN, device="cpu")).state.batching is False  # auto: on a GPU only


def test_assess_no_repeats_is_judged_by_the_host(server, capsys, monkeypatch, tmp_path):
    """`tutor assess --no-repeats --remote URL` (issue 21): the host's form takes repeats=false; a Nottingham
    tune played with its repeats, judged as asked to play each passage once, is the local answer (the
    repeats played, not asked), not the answer with the repeats (all correct)."""
    import pretty_midi

    from tests.bench.bench_form import melody_take
    from tutor.score.io import load_score, save_score

    url, _ = server
    monkeypatch.setenv("TUTOR_REMOTE_TOKEN", TOKEN)
    monkeypatch.delenv("TUTOR_REMOTE", raising=False)
    score = save_score(load_score(shared("nottingham", "ABC_cleaned", "ashover.abc"), index=1), tmp_path / "tune.musicxml")
    midi = pretty_midi.PrettyMIDI()
    melody = pretty_midi.Instrument(program=0)
    melody.notes = [pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.onset_s, end=n.offset_s)
                    for n in melody_take(shared("nottingham", "MIDI", "ashover2.mid")).notes]
    midi.instruments.append(melody)
    take = tmp_path / "take.mid"
    midi.write(str(take))
    argv = ["assess", "--score", str(score), str(take), "--json"]
    remote = cli_json(capsys, [*argv, "--no-repeats", "--remote", url])
    assert remote == cli_json(capsys, [*argv, "--no-repeats", "--remote", "local"])
    assert [e["message"] for e in remote["events"] if e["type"] == "extra_repeat"] == [
        "played the repeat of measures 1-8 (not asked: repeats off)", "played the repeat of measures 9-16 (not asked: repeats off)"]
    assert {e["type"] for e in cli_json(capsys, [*argv, "--remote", url])["events"]} == {"correct"}
    # the form field itself
    response = post(url, "assess", {"file": take, "score": score}, {"repeats": "false"})
    assert response.status_code == 200 and response.json() == remote
