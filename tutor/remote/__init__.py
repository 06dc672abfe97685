"""Analysis on a ``tutor serve`` host: the HTTP client with retries (``client``) and the choice between
this machine and a host, with fallback (``routing``).

May import: ``tutor.api``, ``tutor.service`` (its token file) and everything below; never the CLI or the app.
"""
