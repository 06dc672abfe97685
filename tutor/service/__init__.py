"""``tutor serve``: the analyses of ``tutor.api`` over HTTP (``server``), its token, and micro-batching of
the models across requests (``microbatch``).

May import: ``tutor.api`` and everything below it; never the CLI, batch or the app.
"""
