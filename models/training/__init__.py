"""Training of the models and the building of their data sets and indexes (``tutor.models.training``):
the trainers ``train_style``, ``train_emotion`` (with ``sequence_member``, ``emotion_loss``),
``train_generator`` and ``pretrain_events``; the corpus readers ``style_data``, ``emotion_data`` and
``generator_data``; ``build_similar_index``. Run from the repository root as
``python -m models.training.train_style`` and so on; they write ``models/weights/`` and ``models/cards/``
and cache under ``models/.cache/`` (git-ignored).

May import tutor.models (inference: what the models read, their nets and constants), tutor.score,
tutor.compose and the lower layers; nothing outside training imports it (scikit-learn and the
corpora stay out of inference).
"""
