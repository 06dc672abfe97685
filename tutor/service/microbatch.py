"""Dynamic micro-batching of the neural models for ``tutor serve``: concurrent requests share one forward
pass.

A ``MicroBatcher`` owns one network on one device and a thread that runs it: calls that arrive within
``max_wait_s`` (up to ``max_rows`` rows) and have matching shapes are concatenated and run once, and each
caller gets its own rows back (on the CPU). The style and emotion nets mask their zero padding, so a row's
answer does not depend on its neighbours. ``model_batchers(device)`` puts every ensemble member behind a
batcher, used only inside ``tutor.models.encoder.using_stand_ins``. torch is imported when used.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class BatchStats:
    """How the batcher has been used: forward passes, calls, and rows (for the benchmark)."""

    passes: int = 0
    calls: int = 0
    rows: int = 0
    largest_calls: int = 0

    def as_dict(self) -> dict:
        return {"passes": self.passes, "calls": self.calls, "rows": self.rows, "largest_calls": self.largest_calls,
                "mean_calls_per_pass": round(self.calls / self.passes, 3) if self.passes else 0.0}


class MicroBatcher:
    """Runs ``net(*tensors)`` for callers on many threads, several calls per forward pass."""

    def __init__(self, net, *, device: str = "cpu", max_rows: int = 64, max_wait_s: float = 0.004,
                 name: str = "net") -> None:
        self.net = net.to(device) if device != "cpu" else net
        self.device = device
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self._calls: queue.Queue = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"tutor-batch-{name}", daemon=True)
        self._thread.start()

    def __call__(self, *tensors):
        """The net's output for these inputs (a dict or a tensor, on the CPU), batched with other callers'."""
        if self._closed:
            return self._run([tensors])[0]
        done: Future = Future()
        self._calls.put((tensors, done))
        return done.result()

    def close(self) -> None:
        self._closed = True
        self._calls.put(None)
        self._thread.join(timeout=5)

    # -- the batching thread ---------------------------------------------------------------------
    def _serve(self) -> None:
        if self.device == "cpu":  # small nets: one intra-op thread (torch's setting is per thread here), as
            import torch  # models.encoder.single_thread does for a lone request

            torch.set_num_threads(1)
        while True:
            first = self._calls.get()
            if first is None:
                return
            batch = [first]
            rows = len(first[0][0])
            deadline = time.perf_counter() + self.max_wait_s
            while rows < self.max_rows:
                left = deadline - time.perf_counter()
                try:
                    item = self._calls.get(timeout=left) if left > 0 else self._calls.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._calls.put(None)  # close after this batch
                    break
                batch.append(item)
                rows += len(item[0][0])
            for group in self._by_shape(batch):
                try:
                    outputs = self._run([tensors for tensors, _ in group])
                except Exception as error:  # noqa: BLE001 - each caller sees the error
                    for _, done in group:
                        done.set_exception(error)
                else:
                    for (_, done), output in zip(group, outputs, strict=True):
                        done.set_result(output)

    @staticmethod
    def _by_shape(batch: list) -> list[list]:
        groups: dict[tuple, list] = {}
        for tensors, done in batch:
            key = tuple((tuple(t.shape[1:]), t.dtype) for t in tensors)
            groups.setdefault(key, []).append((tensors, done))
        return list(groups.values())

    def _run(self, calls: list[tuple]) -> list:
        """One forward pass over the calls' inputs (same trailing shapes), split back per call."""
        import torch

        sizes = [len(tensors[0]) for tensors in calls]
        joined = [torch.cat([tensors[i] for tensors in calls]).to(self.device) for i in range(len(calls[0]))]
        with torch.inference_mode():
            out = self.net(*joined)
        self.stats.passes += 1
        self.stats.calls += len(calls)
        self.stats.rows += sum(sizes)
        self.stats.largest_calls = max(self.stats.largest_calls, len(calls))

        def split(tensor):
            return [part.cpu() for part in torch.split(tensor, sizes)]

        if isinstance(out, dict):
            parts = {name: split(value) for name, value in out.items()}
            return [{name: parts[name][i] for name in parts} for i in range(len(calls))]
        return split(out)


class BatchedNet:
    """Stands in for an ``nn.Module`` in an ensemble list: calling it goes through its batcher."""

    def __init__(self, batcher: MicroBatcher) -> None:
        self.batcher = batcher

    def __call__(self, *tensors):
        return self.batcher(*tensors)

    def eval(self):
        return self

    def __getattr__(self, name: str):
        # the ensemble's code reads the member's attributes (e.g. ``feature_mean``): those of the wrapped net
        if name == "batcher":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.batcher.net, name)


def model_batchers(device: str = "cpu", *, max_rows: int = 64, max_wait_s: float = 0.004):
    """Micro-batchers for every member of the style and emotion ensembles, on ``device``; returns
    ``(stand_ins, close)``: run a request's work inside ``tutor.models.encoder.using_stand_ins(stand_ins)``
    for its nets to go through the batchers (the cached ensembles themselves are not changed, so other
    callers in the process run the nets directly); ``close()`` stops the batchers."""
    from tutor.models import emotion, style

    batchers: list[MicroBatcher] = []
    stand_ins: dict[int, BatchedNet] = {}
    for module in (style, emotion):
        for i, net in enumerate(module._load()[0]):
            batcher = MicroBatcher(net, device=device, max_rows=max_rows, max_wait_s=max_wait_s,
                                   name=f"{module.__name__.rsplit('.', 1)[-1]}{i}")
            batchers.append(batcher)
            stand_ins[id(net)] = BatchedNet(batcher)
    log.info("micro-batching %d model members on %s", len(batchers), device)

    def close() -> None:
        for batcher in batchers:
            batcher.close()

    return stand_ins, close, batchers


def merged_stats(batchers: list[MicroBatcher]) -> dict:
    total = BatchStats()
    for b in batchers:
        total.passes += b.stats.passes
        total.calls += b.stats.calls
        total.rows += b.stats.rows
        total.largest_calls = max(total.largest_calls, b.stats.largest_calls)
    return total.as_dict()
