"""Secrets (issue 25): this machine's `tutor serve` token goes to this machine only (a listener on another
loopback address hears no Authorization header), the tokens the user names go where the user says, and
the app keeps the remote host's token out of its settings file (system keyring, else a 0600 file)."""

from __future__ import annotations

import http.server
import os
import sys
import threading
import types
from contextlib import contextmanager

import pytest

from tests.conftest import REPO

LOCAL = "this-machines-service-token"
DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"


@pytest.fixture(autouse=True)
def _private_config(tmp_path, monkeypatch):
    """A config folder holding a `tutor serve` token; no token nor proxy from the environment."""
    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "config"))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "service-token").write_text(LOCAL + "\n", encoding="utf-8")
    for name in ("TUTOR_REMOTE_TOKEN", "TUTOR_REMOTE_TOKEN_FILE", "TUTOR_REMOTE", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@contextmanager
def listener(host: str):
    """A tiny HTTP server on ``host`` (loopback only), any port; yields (url, the Authorization headers of
    the requests it got, None for a request without one). It answers every request 200 ``{}``."""
    assert host.startswith("127.")
    heard: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            heard.append(self.headers.get("Authorization"))
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    try:
        server = http.server.ThreadingHTTPServer((host, 0), Handler)
    except OSError as error:  # a system where only 127.0.0.1 is loopback (macOS without an alias)
        pytest.skip(f"cannot listen on {host}: {error}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", heard
    finally:
        server.shutdown()
        server.server_close()


def test_this_machines_service_token_goes_to_this_machine_only():
    """Without $TUTOR_REMOTE_TOKEN, the token file of `tutor serve` here goes to 127.0.0.1 and to no other
    host, not even another loopback address (another user's listener, a container's port)."""
    from tutor.remote.client import RemoteClient
    from tutor.remote.routing import host_answer

    with listener("127.0.0.2") as (url, heard):
        assert RemoteClient(url).post("critique", {"file": DEMO}) == {}
        assert RemoteClient(url).check()[0]
        assert host_answer(url, "critique", {"file": DEMO}, None, notice=print) == {}
        assert heard and heard == [None] * len(heard)
    with listener("127.0.0.1") as (url, heard):
        assert RemoteClient(url).post("critique", {"file": DEMO}) == {}
        assert heard == [f"Bearer {LOCAL}"]


def test_the_cli_sends_no_token_to_another_host(capsys):
    from tutor.cli import main

    with listener("127.0.0.2") as (url, heard):
        main(["critique", str(DEMO), "--remote", url, "--json"])  # the answer ({}) is not a critique: no matter
        capsys.readouterr()
    assert heard and heard == [None] * len(heard)


def test_the_tokens_the_user_names_go_to_any_host(tmp_path, monkeypatch):
    from tutor.remote.client import RemoteClient

    chosen = tmp_path / "school-token"
    chosen.write_text("from-the-file\n", encoding="utf-8")
    with listener("127.0.0.2") as (url, heard):
        monkeypatch.setenv("TUTOR_REMOTE_TOKEN_FILE", str(chosen))
        RemoteClient(url).post("critique", {"file": DEMO})
        monkeypatch.setenv("TUTOR_REMOTE_TOKEN", "from-the-variable")
        RemoteClient(url).post("critique", {"file": DEMO})
        RemoteClient(url, token="given").post("critique", {"file": DEMO})  # the app's stored token
    assert heard == ["Bearer from-the-file", "Bearer from-the-variable", "Bearer given"]


def test_the_local_token_never_goes_through_a_proxy(monkeypatch):
    """$HTTP_PROXY would see a plain-HTTP request to this machine, token included: not used for it."""
    from tutor.remote.client import RemoteClient

    with listener("127.0.0.2") as (proxy, through_proxy), listener("127.0.0.1") as (url, heard):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("http_proxy", proxy)
        assert RemoteClient(url).post("critique", {"file": DEMO}) == {}
    assert heard == [f"Bearer {LOCAL}"] and through_proxy == []


@pytest.mark.parametrize(("url", "here"), [
    ("http://127.0.0.1:8765", True), ("http://localhost:8765/", True), ("http://LOCALHOST", True),
    ("http://[::1]:8765", True), ("https://127.0.0.1", True),
    ("http://127.0.0.2:8765", False), ("http://127.1:8765", False), ("http://0.0.0.0:8765", False),
    ("http://localhost.:8765", False), ("http://localhost.example.org", False), ("http://[::ffff:127.0.0.1]", False),
    ("http://127.0.0.1@gpu-host:8765", False), ("http://127.0.0.1.nip.io", False), ("http://gpu-host:8765", False),
    ("http://[::1", False), ("", False),
])
def test_what_counts_as_this_machine(url, here):
    from tutor.remote.client import is_this_machine, remote_token

    assert is_this_machine(url) is here
    assert remote_token(url) == (LOCAL if here else None)


# ---------------------------------------------------------------------------------------------
# the app's copy of the remote host's token
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


def fake_keyring(*, keeps: bool = True, fails: bool = False) -> types.ModuleType:
    """A stand-in for the `keyring` package: a working keyring, one that keeps nothing (its null backend),
    or one whose backend raises (a locked or absent Secret Service)."""
    module = types.ModuleType("keyring")
    module.store = {}

    def check() -> None:
        if fails:
            raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown")

    def set_password(service, user, password):
        check()
        if keeps:
            module.store[service, user] = password

    def get_password(service, user):
        check()
        return module.store.get((service, user))

    def delete_password(service, user):
        check()
        module.store.pop((service, user), None)

    module.set_password, module.get_password, module.delete_password = set_password, get_password, delete_password
    return module


def _settings_text(settings, tmp_path) -> str:
    settings.sync()
    path = tmp_path / "settings.ini"
    return path.read_text() if path.exists() else ""


def test_a_plain_text_token_moves_to_the_keyring(settings, tmp_path, monkeypatch):
    from tutor.ui.settings import (
        KEYRING_SERVICE,
        KEYRING_USER,
        TOKEN_KEY,
        load_token,
        store_token,
        token_file,
    )

    keyring = fake_keyring()
    monkeypatch.setitem(sys.modules, "keyring", keyring)
    settings.setValue(TOKEN_KEY, "old-plain-token")
    settings.sync()
    assert "old-plain-token" in _settings_text(settings, tmp_path)
    assert load_token(settings) == "old-plain-token"
    assert "old-plain-token" not in _settings_text(settings, tmp_path) and not settings.contains(TOKEN_KEY)
    assert keyring.store == {(KEYRING_SERVICE, KEYRING_USER): "old-plain-token"} and not token_file().exists()
    assert load_token(settings) == "old-plain-token"
    assert store_token(settings, " new ") == "keyring" and load_token(settings) == "new"
    assert store_token(settings, "") == "" and keyring.store == {} and load_token(settings) == ""


@pytest.mark.parametrize("keyring", ["none", "keeps nothing", "fails"])
def test_without_a_working_keyring_the_token_is_a_0600_file(settings, tmp_path, monkeypatch, keyring):
    from tutor.ui.settings import TOKEN_KEY, load_token, store_token, token_file

    if keyring == "none":
        monkeypatch.setitem(sys.modules, "keyring", None)  # `import keyring` raises ImportError
    else:
        monkeypatch.setitem(sys.modules, "keyring", fake_keyring(keeps=False, fails=keyring == "fails"))
    settings.setValue(TOKEN_KEY, "old-plain-token")
    old_umask = os.umask(0)  # even so: never readable by others, not for an instant
    try:
        assert load_token(settings) == "old-plain-token"
    finally:
        os.umask(old_umask)
    assert "old-plain-token" not in _settings_text(settings, tmp_path)
    path = token_file()
    assert path.parent == tmp_path / "config" and (path.parent / "service-token").exists()
    assert path.read_text().strip() == "old-plain-token" and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []
    assert store_token(settings, "newer") == "file" and load_token(settings) == "newer"
    assert store_token(settings, "") == "" and not path.exists() and load_token(settings) == ""


def test_a_token_that_cannot_be_kept_anywhere_is_not_lost(settings, tmp_path, monkeypatch):
    """No keyring and a config folder that cannot be written: the plain-text value stays where it was."""
    from tutor.errors import OutputFileError
    from tutor.ui.settings import TOKEN_KEY, load_token, store_token

    monkeypatch.setitem(sys.modules, "keyring", None)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("TUTOR_DATA_DIR", str(blocked))
    settings.setValue(TOKEN_KEY, "old-plain-token")
    assert load_token(settings) == "old-plain-token" and settings.value(TOKEN_KEY) == "old-plain-token"
    with pytest.raises(OutputFileError, match="remote token"):
        store_token(settings, "other")
    assert settings.value(TOKEN_KEY) == "old-plain-token"
