"""``tutor serve`` under attack, on loopback only (clients bind 127.0.0.x source addresses to look like
separate laptops): stalled uploads and headers are cut off and never take a queue place, one address holds
at most ``per_client`` requests, a timed-out analysis is killed so that the next request is served, and a
bounded load test (stallers sending one byte every 2 s plus a flood of good requests) that stops by itself.

``python -m tests.test_service_attack`` runs the load test alone and prints its numbers."""

from __future__ import annotations

import asyncio
import io
import os
import random
import select
import socket
import statistics
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from tests.service_host import free_port

TOKEN = "attack-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def midi_bytes(notes: int, seed: int = 1) -> bytes:
    """A one-track MIDI file of ``notes`` random notes (12000 take over 10 s to critique here)."""
    import mido

    rng = random.Random(seed)
    track = mido.MidiTrack()
    for _ in range(notes):
        pitch = 60 + rng.randint(-12, 12)
        track.append(mido.Message("note_on", note=pitch, velocity=64, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=rng.choice([120, 240, 480])))
    song = mido.MidiFile()
    song.tracks.append(track)
    out = io.BytesIO()
    song.save(file=out)
    return out.getvalue()


@contextmanager
def serving(app, *, header_timeout_s: float):
    """``app`` under uvicorn as ``tutor serve`` runs it (``uvicorn_config``), in a thread; yields the port."""
    import uvicorn

    from tutor.service.limits import uvicorn_config

    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, header_timeout_s=header_timeout_s))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


# -- the clients ------------------------------------------------------------------------------------
def stall(port: int, source: str, *, until: float, every_s: float = 2.0, headers_only: bool = False) -> tuple:
    """A client that sends one byte every ``every_s``: of its body (after complete headers that announce
    100 kB), or of its headers. Returns ``(status or 'closed' or 'held', seconds)``: the server's answer,
    or the connection closed without one, or still open at ``until``."""
    started = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0), timeout=5)
    except OSError:
        return "refused", 0.0
    with sock:
        head = (f"POST /v1/critique HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 100000\r\n\r\n").encode()
        if headers_only:
            head, trickle = head[:20], head[20:]
        else:  # a well-formed start of a multipart upload, then its file one byte at a time
            trickle = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="take.mid"\r\n'
                       b"Content-Type: audio/midi\r\n\r\nMThd" + b"\0" * 100_000)[:100_000]
        try:
            sock.sendall(head)
            for i in range(len(trickle)):
                readable, _, _ = select.select([sock], [], [], every_s)
                if readable:
                    answer = sock.recv(4096)
                    if not answer:
                        return "closed", time.monotonic() - started
                    return int(answer.split(b" ", 2)[1]), time.monotonic() - started
                if time.monotonic() >= until:
                    return "held", time.monotonic() - started
                sock.sendall(trickle[i:i + 1])
        except OSError:
            return "closed", time.monotonic() - started
    return "held", time.monotonic() - started


def post(port: int, source: str, data: bytes, *, name: str = "tune.mid", timeout: float = 120) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=timeout) as client:
        return client.post(f"http://127.0.0.1:{port}/v1/critique", files={"file": (name, data)}, headers=AUTH)


def health(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10).json()


def attack(port: int, *, seconds: float, stallers: int = 3, connections_each: int = 6, good_clients: int = 4,
           piece: bytes) -> dict:
    """``stallers`` addresses each keep ``connections_each`` stalled uploads going (one byte every 2 s,
    reconnecting when cut off) while ``good_clients`` other addresses post ``piece`` one after the other,
    for ``seconds``; then every client stops. Returns what each side got."""
    until = time.monotonic() + seconds
    stalled: list[tuple] = []
    good: list[tuple] = []
    pending: list[int] = []
    lock = threading.Lock()

    def staller(source: str) -> None:
        while time.monotonic() < until:
            outcome = stall(port, source, until=until)
            with lock:
                stalled.append(outcome)
            if outcome[0] == 429:
                time.sleep(1.0)  # then try again

    def good_client(source: str) -> None:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                status = post(port, source, piece, timeout=max(5.0, until - started + 30)).status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            with lock:
                good.append((status, time.monotonic() - started))

    def watch() -> None:
        while time.monotonic() < until:
            pending.append(health(port)["pending"])
            time.sleep(0.5)

    threads = [threading.Thread(target=staller, args=(f"127.0.0.{2 + s}",))
               for s in range(stallers) for _ in range(connections_each)]
    threads += [threading.Thread(target=good_client, args=(f"127.0.0.{20 + g}",)) for g in range(good_clients)]
    threads.append(threading.Thread(target=watch))
    for thread in threads[:-good_clients - 1]:  # the stallers first: they hold what they can
        thread.start()
    time.sleep(2.5)
    for thread in threads[-good_clients - 1:]:
        thread.start()
    for thread in threads:
        thread.join(seconds + 180)
    served = [s for status, s in good if status == 200]
    return {
        "good_statuses": sorted({str(status) for status, _ in good}),
        "good_total": len(good),
        "good_200": len(served),
        "good_p50_s": round(statistics.median(served), 2) if served else None,
        "good_max_s": round(max(served), 2) if served else None,
        "stalled_outcomes": {str(k): sum(1 for o, _ in stalled if o == k) for k in {o for o, _ in stalled}},
        "stalled_cut_after_s": round(max((s for o, s in stalled if o not in ("held", 429)), default=0.0), 2),
        "max_pending": max(pending, default=0),
    }


# -- the server under test --------------------------------------------------------------------------
LIMITS = {"per_client": 2, "body_timeout_s": 3.0, "header_timeout_s": 2.0}


@pytest.fixture(scope="module")
def host():
    """``tutor serve`` with 1 worker, 4 waiting, 2 requests per address, 3 s for a body, 2 s for headers;
    warmed up with one critique (the worker loads its models)."""
    from tutor.service.server import ServiceConfig, create_app

    app = create_app(ServiceConfig(token=TOKEN, device="cpu", workers=1, queue_size=4, max_upload_mb=1.0,
                                   timeout_s=120, **LIMITS))
    with serving(app, header_timeout_s=LIMITS["header_timeout_s"]) as port:
        assert post(port, "127.0.0.1", midi_bytes(40)).status_code == 200
        yield port, app


def test_a_stalled_upload_gets_408_and_never_takes_a_queue_place(host):
    port, app = host
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(stall(port, "127.0.0.2", every_s=0.5,
                                                                   until=time.monotonic() + 30)))
    worker.start()
    time.sleep(1.0)
    assert health(port)["pending"] == 0  # uploading: no place in the queue
    assert post(port, "127.0.0.3", midi_bytes(40)).status_code == 200  # meanwhile others are served
    worker.join(40)
    status, seconds = outcome[0]
    assert status == 408 and LIMITS["body_timeout_s"] - 0.5 < seconds < LIMITS["body_timeout_s"] + 3
    assert app.state.gate.pending == 0


def test_stalled_headers_and_silent_connections_are_closed(host):
    port, _ = host
    status, seconds = stall(port, "127.0.0.4", headers_only=True, every_s=0.5, until=time.monotonic() + 30)
    assert status == 408 and seconds < LIMITS["header_timeout_s"] + 2
    with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.4", 0), timeout=10) as silent:
        started = time.monotonic()
        assert silent.recv(100) == b"" and time.monotonic() - started < LIMITS["header_timeout_s"] + 2
    with socket.create_connection(("127.0.0.1", port), timeout=10) as huge:
        huge.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 40_000)
        assert b" 431 " in huge.recv(4096)[:20]


def test_one_address_holds_at_most_per_client_requests(host):
    port, _ = host
    until = time.monotonic() + 30
    outcomes: list = []
    stallers = [threading.Thread(target=lambda: outcomes.append(stall(port, "127.0.0.5", every_s=0.5, until=until)))
                for _ in range(2)]
    for thread in stallers:
        thread.start()
    time.sleep(1.0)
    refused = post(port, "127.0.0.5", midi_bytes(40))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "at most 2" in refused.json()["error"]
    with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.5", 0), timeout=10) as third:
        third.sendall(f"POST /v1/critique HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                      "Content-Length: 100000\r\n\r\n".encode())
        assert b" 429 " in third.recv(4096)[:20]
        started = time.monotonic()
        with pytest.raises(OSError):  # it goes on sending its body: dropped, then the connection is closed
            while time.monotonic() - started < 20:
                third.sendall(b"x")
                time.sleep(0.5)
        assert time.monotonic() - started < LIMITS["body_timeout_s"] + 3
    assert post(port, "127.0.0.6", midi_bytes(40)).status_code == 200  # another laptop
    for thread in stallers:
        thread.join(40)
    assert [status for status, _ in outcomes] == [408, 408]
    assert post(port, "127.0.0.5", midi_bytes(40)).status_code == 200  # its places are free again


def test_stalled_clients_do_not_starve_the_class(host):
    """The load test: 3 addresses keep 6 stalled uploads each going (18 > the 5 places of the queue) for
    15 s while 4 other addresses post a small critique one after the other. Every good request is served;
    every stalled upload is refused (429) or cut off (408) within the body deadline."""
    port, app = host
    numbers = attack(port, seconds=15, piece=midi_bytes(40))
    print("\nload test:", numbers)
    assert numbers["good_statuses"] == ["200"] and numbers["good_200"] >= 8
    assert set(numbers["stalled_outcomes"]) <= {"408", "429", "held"}
    assert numbers["stalled_outcomes"].get("408", 0) >= 6 and numbers["stalled_outcomes"].get("429", 0) >= 1
    assert numbers["stalled_cut_after_s"] < LIMITS["body_timeout_s"] + 3
    assert numbers["max_pending"] <= 4  # only the good clients' requests ever queued
    assert app.state.gate.pending == 0


# -- a timed-out analysis is killed -------------------------------------------------------------------
@pytest.mark.parametrize("spares", [0, 1])
def test_after_a_504_the_next_request_is_served(spares):
    """A critique that takes over 10 s against a 3 s limit: 504 at 3 s, its worker process killed, the queue
    place free at once; the next request is served by a fresh worker that loads the models first, or at
    once by the loaded spare (before: it waited behind the running analysis and got 504 too)."""
    from fastapi.testclient import TestClient

    from tutor.service.server import ServiceConfig, create_app

    app = create_app(ServiceConfig(token=TOKEN, device="cpu", timeout_s=3.0, preload=True, spare_workers=spares))
    with TestClient(app) as client:
        deadline = time.monotonic() + 120
        while not all(w.ready for w in app.state.pool.spare_workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        first_pid = app.state.pool.workers[0].process.pid
        started = time.monotonic()
        slow = client.post("/v1/critique", files={"file": ("long.mid", midi_bytes(12000))}, headers=AUTH)
        slow_s = time.monotonic() - started
        assert slow.status_code == 504 and "longer than 3 s" in slow.json()["error"] and slow_s < 6
        assert app.state.gate.pending == 0 and app.state.pool.restarts == 1
        started = time.monotonic()
        quick = client.post("/v1/critique", files={"file": ("tune.mid", midi_bytes(40))}, headers=AUTH)
        next_s = time.monotonic() - started
        print(f"\n{spares} spare: 504 after {slow_s:.2f} s; the next request answered {quick.status_code} "
              f"after {next_s:.2f} s")
        assert quick.status_code == 200, quick.text
        assert app.state.pool.workers[0].process.pid != first_pid
        if spares:
            assert next_s < 3.0
    with pytest.raises(ProcessLookupError):
        os.kill(first_pid, 0)


def _sleep_job(paths, *, seconds: float, crash: bool = False) -> dict:
    """A stand-in analysis for the pool tests (run in the worker process, imported by reference)."""
    if crash:
        os._exit(3)
    time.sleep(seconds)
    return {"slept": seconds, "pid": os.getpid()}


def test_the_pool_kills_a_timed_out_job_reruns_its_neighbours_and_survives_crashes():
    from tutor.service.workers import AnalysisPool, WorkerLost, WorkerSettings

    async def scenario() -> None:
        pool = AnalysisPool(WorkerSettings(threads=2), processes=1)  # as with batching: 2 analyses, 1 process
        try:
            await pool.start(wait=True)
            first = pool.workers[0]
            neighbour = asyncio.create_task(pool.run(_sleep_job, {}, {"seconds": 2.0}, timeout_s=30))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await pool.run(_sleep_job, {}, {"seconds": 60.0}, timeout_s=1.0)
            assert time.monotonic() - started < 2.5
            deadline = time.monotonic() + 10  # two threads reap it (this one and the pool's reader): the one whose
            while first.process.exitcode is None and time.monotonic() < deadline:  # waitpid loses sees None once
                await asyncio.sleep(0.05)
            assert first.process.exitcode is not None  # killed, not left running
            status, payload, _ = await neighbour  # lost with the process, run again on the fresh one
            assert status == "ok" and payload["pid"] != first.process.pid and pool.restarts == 1
            with pytest.raises(WorkerLost):
                await pool.run(_sleep_job, {}, {"seconds": 0, "crash": True}, timeout_s=30)
            status, payload, _ = await pool.run(_sleep_job, {}, {"seconds": 0}, timeout_s=30)
            assert status == "ok" and pool.restarts == 3  # each crash replaced the process
        finally:
            await pool.close()
        deadline = time.monotonic() + 10  # (as above: a process the reader thread reaped reads None once)
        while any(w.process.exitcode is None for w in pool.workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert all(w.process.exitcode is not None for w in pool.workers)

    asyncio.run(scenario())


if __name__ == "__main__":
    from tutor.service.server import ServiceConfig, create_app

    app = create_app(ServiceConfig(token=TOKEN, device="cpu", workers=1, queue_size=4, max_upload_mb=1.0,
                                   timeout_s=120, **LIMITS))
    with serving(app, header_timeout_s=LIMITS["header_timeout_s"]) as port:
        post(port, "127.0.0.1", midi_bytes(40))
        print(attack(port, seconds=15, piece=midi_bytes(40)))
