"""Loading a take: a MIDI file as it was played, or a recording through the transcriber."""

from __future__ import annotations

from pathlib import Path

from tutor.score.io import AUDIO_EXTENSIONS, load_midi_performance
from tutor.score.music import Performance


def load_performance(path: str | Path, *, instrument: str | None = None, device: str = "auto") -> Performance:
    """The ``Performance`` in a MIDI file or a recording: a piano take (``instrument="piano"``) through
    ``tutor.listen.piano``, any other through the single-line ``tutor.listen.transcription``."""
    path = Path(path)
    if path.suffix.lower() in AUDIO_EXTENSIONS:
        if instrument == "piano":
            from tutor.listen.piano import transcribe_piano_file  # heavy: imported only for audio

            return transcribe_piano_file(path, device=device).performance
        from tutor.listen.transcription import transcribe_file

        return transcribe_file(path, device=device, instrument=instrument).performance
    return load_midi_performance(path)


def take_instrument(score, instrument: str | None = None) -> str | None:
    """The instrument an audio take of ``score`` (the part(s) assessed) is heard as: ``instrument`` when
    given, else "piano" when every part is a keyboard part, "voice" or "violin" when every part is one
    (``transcription.part_instrument``), else None (a single line)."""
    if instrument is not None:
        return instrument
    from tutor.listen.piano import is_keyboard_part

    parts = [part for part in score.parts if any(note.part == part.id for note in score.notes)] or list(score.parts)
    if parts and all(is_keyboard_part(part) for part in parts):
        return "piano"
    from tutor.listen.transcription import part_instrument

    heard = {part_instrument(part) for part in parts}
    return heard.pop() if len(heard) == 1 else None  # "voice", "violin" (issue 22: their own segmentation)
