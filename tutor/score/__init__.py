"""Scores: the music data model (``music``), reading and writing score files (``io``, ``midi``) and the
analysis of a piece (``analysis``: key, metre, voices, phrases, cadences, harmony).

May import: ``tutor.errors``, ``tutor.safety``, ``tutor.resources``. Everything else builds on it.
"""
