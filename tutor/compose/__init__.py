"""Composition: theory rules (``rules``), the critique of a piece (``critique``), the generator's
continuations and corrections (``suggest``), harmonisation (``harmonize``), new pieces from a brief
(``generate``) and pieces like this one (``similar``).

May import: ``tutor.models`` (inference only), ``tutor.score`` and the root modules.
"""
