"""Lessons: lesson plans, exercises and their pass criteria (``plans``) and the student's history
(``progress``).

May import: ``tutor.practice``, ``tutor.compose``, ``tutor.listen``, ``tutor.score`` and the root modules.
"""
