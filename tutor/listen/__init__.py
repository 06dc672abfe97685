"""Hearing a take: pitch trackers (``pitch``), notes from a recording (``transcription``), notes heard
live from a microphone (``live``) and loading a take, MIDI or audio (``takes``).

May import: ``tutor.audio``, ``tutor.score``, ``tutor.models`` and the root modules.
"""
