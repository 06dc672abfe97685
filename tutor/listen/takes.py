"""Loading a take: a MIDI file as it was played, or a recording through the transcriber."""

from __future__ import annotations

from pathlib import Path

from tutor.score.io import AUDIO_EXTENSIONS, load_midi_performance
from tutor.score.music import Performance


def load_performance(path: str | Path) -> Performance:
    """The ``Performance`` in a MIDI file or a recording (transcribed by ``tutor.listen.transcription``)."""
    path = Path(path)
    if path.suffix.lower() in AUDIO_EXTENSIONS:
        from tutor.listen.transcription import transcribe_file  # heavy: imported only for audio

        return transcribe_file(path).performance
    return load_midi_performance(path)
