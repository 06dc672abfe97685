"""A stand-in for ``tutor.audio.recording.Recorder`` as the live listener reads it: a tap with audio
blocks ready at once, and ``finished`` once they are all read."""

from __future__ import annotations

from types import SimpleNamespace


class FakeTap:
    """A recorder's tap that has ``blocks`` ready at once."""

    def __init__(self, blocks) -> None:
        self.blocks = list(blocks)

    def wait(self, frames: int, timeout_s: float) -> bool:
        return bool(self.blocks)

    def read(self):
        return self.blocks.pop(0)


class FakeRecorder:
    def __init__(self, blocks, sample_rate: int) -> None:
        self.tap, self.source = FakeTap(blocks), SimpleNamespace(sample_rate=sample_rate)

    @property
    def finished(self) -> bool:
        return not self.tap.blocks
