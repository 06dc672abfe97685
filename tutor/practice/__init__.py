"""Practice: aligning a take with its score (``alignment``), judging it note by note (``assessment``),
following the player live (``follower``) and the passes of a looped range (``loop``).

May import: ``tutor.listen``, ``tutor.audio``, ``tutor.score`` and the root modules.
"""
