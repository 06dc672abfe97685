"""Model inference (``tutor.models``): the style, emotion and generator nets and what they read - the
features of a score or performance (``features``, ``emotion_features``), the encoders, the emotion
blend - with their weights (``models/weights/``) and model cards (``models/cards/``).

May import ``tutor.score`` and the root modules (``tutor.errors``); never ``tutor.models.training``,
which holds the training scripts and data-set builders and imports from here.
"""
