"""Sound and MIDI devices: audio inputs (``devices``), the real-time ring buffer, crash-safe recording,
playback and rendering with a soundfont, the metronome and count-in, MIDI keyboards (``midi_input``).

May import: ``tutor.score`` and the root modules. Audio callbacks here only copy into ring buffers.
"""
