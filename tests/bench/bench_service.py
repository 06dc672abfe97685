"""Analysis service benchmark: ``python -m tests.bench service``.

1. Requests/s and p50/p95 latency of ``/v1/critique`` (Schubert D783 no. 15 score, Vienna 4x22) and
   ``/v1/assess`` (a pianist's take of it against the score) at 1, 4 and 16 concurrent clients, with
   ``tutor serve`` on loopback in its own process (1 analysis worker, queue of 32). The peer,
   measured in the same run, is the same analysis called in-process without HTTP: the ratio
   service-latency-at-1-client / in-process time (parsing the score cold, as one CLI run does) is the
   service's overhead; below 1 when the service's score cache (by content hash) saves the parse.
2. Batch throughput in files/min: ``run_batch`` on a folder of Vienna 4x22 takes (Schubert, N pianists),
   locally and through the service (``--remote``).

3. Micro-batching: critique at 1, 4 and 16 clients against three servers measured turn about in the
   same run: 1 worker, 4 workers, 4 workers with ``--batching on`` (``TUTOR_BENCH_ONLY=batching`` runs
   only this part, results in bench-results/service-batching.json).

On a GPU host, run it there with ``TUTOR_BENCH_DEVICE=cuda``. Set ``TUTOR_BENCH_TAKES`` for the batch
size (default 8). Results: bench-results/service.json.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.bench._results import save
from tests.conftest import REPO, SHARED_DATA
from tests.service_host import free_port, wait_until_healthy

CONCURRENCY = (1, 4, 16)


def _server(device: str, data_dir: Path, *, workers: int = 1, batching: str = "auto"):
    """``tutor serve`` in its own process (1 worker, queue 32), as a teacher would start it."""

    port = free_port()
    env = {**os.environ, "TUTOR_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([sys.executable, "-m", "tutor", "serve", "--port", str(port), "--device", device,
                                "--queue", "32", "--workers", str(workers), "--batching", batching,
                                "--per-client", "0"],  # its 16 clients all come from 127.0.0.1
                               env=env, stderr=subprocess.DEVNULL, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, timeout_s=120)
    return process, url, (data_dir / "service-token").read_text().strip()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _load(url: str, token: str, endpoint: str, files: dict[str, Path], clients: int, requests: int) -> dict:
    import httpx

    payload = {k: (p.name, p.read_bytes()) for k, p in files.items()}
    latencies: list[float] = []
    statuses: list[int] = []

    def one(_):
        started = time.perf_counter()
        response = httpx.post(f"{url}/v1/{endpoint}", files=payload, headers={"Authorization": f"Bearer {token}"},
                              timeout=600)
        latencies.append(time.perf_counter() - started)
        statuses.append(response.status_code)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - started
    ok = statuses.count(200)
    return {"clients": clients, "requests": requests, "ok": ok, "rejected_503": statuses.count(503),
            "requests_per_s": round(ok / elapsed, 3), "p50_s": round(_percentile(latencies, 0.5), 3),
            "p95_s": round(_percentile(latencies, 0.95), 3), "load_average_1m": round(os.getloadavg()[0], 2)}


def bench_batching(device: str, score_path: Path) -> dict:
    """Critique req/s at 1, 4 and 16 clients: 1 worker (the default), 4 workers, and 4 workers with the
    style/emotion nets micro-batched, the three servers measured turn about at each client count so that
    the shared machine's load falls on all of them alike."""
    import httpx

    configs = {"1 worker": dict(workers=1, batching="off"), "4 workers": dict(workers=4, batching="off"),
               "4 workers + batching": dict(workers=4, batching="on")}
    servers = {}
    rows: dict[str, list] = {name: [] for name in configs}
    try:
        for name, options in configs.items():
            folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
            servers[name] = (*_server(device, folder, **options), folder)
        for _, url, token, _ in servers.values():  # warm-up: the score parsed and cached, models run once
            _load(url, token, "critique", {"file": score_path}, 1, requests=1)
        for clients in CONCURRENCY:
            for name, (_, url, token, _) in servers.items():
                row = _load(url, token, "critique", {"file": score_path}, clients, requests=max(8, clients))
                row["batching"] = httpx.get(f"{url}/v1/health").json().get("batching")
                rows[name].append(row)
                print(f"critique {name:22s} {clients:2d} clients: {row['requests_per_s']:.2f} req/s, p50 {row['p50_s']:.2f} s, "
                      f"p95 {row['p95_s']:.2f} s, load {row['load_average_1m']:.1f}"
                      + (f", {row['batching']['mean_calls_per_pass']:.2f} calls/pass" if row["batching"]["on"] else ""))
    finally:
        for process, _, _, folder in servers.values():
            process.terminate()
            process.wait(30)
            shutil.rmtree(folder, ignore_errors=True)
    return rows


def bench_model_batching(device: str, score_path: Path, *, threads: int = 16, rounds: int = 4) -> dict:
    """The style and emotion models alone (what the batcher batches), in-process: ``threads`` requests
    at once, each predicting style and emotion from the piece's features, without and with the batcher."""
    from tutor.models import emotion, style
    from tutor.models.encoder import using_stand_ins
    from tutor.models.features import table_from_score
    from tutor.score.io import load_score
    from tutor.service.microbatch import merged_stats, model_batchers

    table = table_from_score(load_score(score_path))
    style.predict_table(table), emotion.predict_table(table)  # load

    def run(stand_ins=None) -> float:
        def one(_):
            with using_stand_ins(stand_ins or {}):
                return style.predict_table(table), emotion.predict_table(table)

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(threads * rounds)))
        return threads * rounds / (time.perf_counter() - started)

    plain = run()
    stand_ins, undo, batchers = model_batchers(device)
    try:
        batched = run(stand_ins)
        stats = merged_stats(batchers)
    finally:
        undo()
    plain_again = run()  # the machine's load drifts: measured before and after
    out = {"threads": threads, "predictions_per_s_plain": round((plain + plain_again) / 2, 2),
           "predictions_per_s_batched": round(batched, 2), "batch_stats": stats,
           "load_average_1m": round(os.getloadavg()[0], 2)}
    print(f"models only, {threads} threads: {out['predictions_per_s_plain']:.1f} pieces/s plain, "
          f"{batched:.1f} batched ({stats['mean_calls_per_pass']:.1f} calls/pass), load {out['load_average_1m']:.1f}")
    return out


def main() -> None:
    os.environ["TUTOR_SCORE_CACHE"] = "0"  # a cold parse, in-process and in the served process (tutor.score.cache)
    from tutor.api.analyses import assess
    from tutor.api.requests import AssessRequest
    from tutor.batch import run_batch
    from tutor.compose.critique import critique
    from tutor.remote.client import RemoteClient
    from tutor.score.io import _cached_music21, load_score

    vienna = SHARED_DATA / "vienna4x22"
    score_path = vienna / "musicxml" / "Schubert_D783_no15.musicxml"
    takes = sorted((vienna / "midi").glob("Schubert_D783_no15_p[0-9][0-9].mid"))
    if not score_path.exists() or not takes:
        print(f"skipped: {vienna} not found")
        return
    device = os.environ.get("TUTOR_BENCH_DEVICE", "cpu")
    if os.environ.get("TUTOR_BENCH_ONLY") == "batching":  # only the micro-batching comparison
        save("service-batching", {"device": device, "cpu_count": os.cpu_count(), "score": score_path.name,
                                  "models_only": bench_model_batching(device, score_path),
                                  "critique": bench_batching(device, score_path)})
        return
    n_takes = int(os.environ.get("TUTOR_BENCH_TAKES", "8"))
    results: dict = {"device": device, "cpu_count": os.cpu_count(), "score": score_path.name, "take": takes[0].name}

    # the peer: the same analyses in-process (after a warm-up that loads the models)
    score = load_score(score_path)
    critique(score)
    peer = {}
    for name, job in (("critique", lambda: critique(load_score(score_path)).as_json()),
                      ("assess", lambda: assess(load_score(score_path), AssessRequest(takes[0])).to_json())):
        times = []
        for _ in range(3):
            _cached_music21.cache_clear()  # parse cold, as one `tutor critique/assess` run does
            started = time.perf_counter()
            job()
            times.append(time.perf_counter() - started)
        peer[name] = round(statistics.median(times), 3)
    results["in_process_s"] = peer
    print(f"in-process (peer): critique {peer['critique']:.2f} s, assess {peer['assess']:.2f} s")

    data_dir = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    server, url, token = _server(device, data_dir)
    try:
        for endpoint, files in (("critique", {"file": score_path}), ("assess", {"file": takes[0], "score": score_path})):
            rows = []
            for clients in CONCURRENCY:
                row = _load(url, token, endpoint, files, clients, requests=max(4, clients))
                rows.append(row)
                print(f"{endpoint:8s} {clients:2d} clients: {row['requests_per_s']:.2f} req/s, p50 {row['p50_s']:.2f} s, "
                      f"p95 {row['p95_s']:.2f} s ({row['ok']}/{row['requests']} ok)")
            results[endpoint] = rows
            results[f"{endpoint}_overhead_ratio"] = round(rows[0]["p50_s"] / peer[endpoint], 3)
            print(f"{endpoint}: service p50 at 1 client / in-process = {results[f'{endpoint}_overhead_ratio']:.2f}")

        folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
        try:
            for take in takes[:n_takes]:
                shutil.copy(take, folder / take.name)
            for mode, remote in (("local", None), ("remote", RemoteClient(url, token=token))):
                out = folder / f"reports-{mode}"
                outcome = run_batch(folder, out, score=score_path, workers=1 if remote is None else 2, remote=remote)
                per_min = outcome.done / outcome.seconds * 60
                results[f"batch_{mode}"] = {"files": outcome.done, "seconds": round(outcome.seconds, 2),
                                            "files_per_min": round(per_min, 1)}
                print(f"batch {mode}: {outcome.done} takes in {outcome.seconds:.1f} s = {per_min:.1f} files/min")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)
    results["models_only_batching"] = bench_model_batching(device, score_path)
    results["critique_batching"] = bench_batching(device, score_path)
    save("service", results)


if __name__ == "__main__":
    main()
