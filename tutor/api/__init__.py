"""The library layer: every analysis as a typed request and a result with its JSON document
(``analyses``, ``requests``), the text report of each, written from its JSON (``reports``), and the
documents read back into music objects (``documents``). The CLI, ``tutor serve``, batch marking, the
remote client and the app all call this layer, and nothing below it.

May import: ``tutor.lessons``, ``tutor.practice``, ``tutor.compose``, ``tutor.listen``, ``tutor.audio``,
``tutor.score``, ``tutor.models`` and the root modules; never the service, remote, batch, CLI or app.
"""
