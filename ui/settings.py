"""The app's settings (File > Settings, Ctrl+,) and where its analyses run.

``SettingsDialog``: microphone, sound output, MIDI keyboard, soundfont, the device the models run on
(auto / CPU / GPU), the remote analysis host (a ``tutor serve`` URL) with its token (kept out of the
settings file: ``load_token`` / ``store_token``) and a *Test connection* button that asks the host in a worker, and the tolerances level.

``AnalysisPlace`` (one per app: ``analysis_place()``) is where the app's analyses run: the compose
critique and the transcription of audio takes go to the remote host when one is set and fall back to
this computer when it cannot answer; local analyses use the chosen device. Its ``changed`` signal carries
the status-bar text ("Analysis: local CPU", "Analysis: remote host:8765", "Analysis: remote unreachable —
local"). Its methods are called from worker threads (``tutor.ui.workers``); the UI thread never waits on
the network. ``install_indicator(window)`` puts the indicator in a main window's status bar.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
)

from tutor.ui.workers import run_job

DEVICE_KEY = "analysis/device"
HOST_KEY = "analysis/remote_host"
TOKEN_KEY = "analysis/remote_token"  # where older versions kept the token, in plain text; moved out on first read
from tutor.remote.routing import UNREACHABLE  # noqa: E402,F401 - the indicator text tests read

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# the remote host's token: in the system keyring when there is one, else a 0600 file
# ---------------------------------------------------------------------------------------------
KEYRING_SERVICE = "tutor"
KEYRING_USER = "remote-analysis-token"
TOKEN_FILE = "remote-token"  # in the user config folder, beside `tutor serve`'s service-token


def _keyring():
    """The ``keyring`` module when it is installed (optional: not a dependency), else None."""
    try:
        import keyring
    except ImportError:
        return None
    return keyring


def _keyring_call(name: str, *args):
    """``keyring.<name>(KEYRING_SERVICE, KEYRING_USER, *args)``; None when there is no keyring or it fails."""
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        return getattr(keyring, name)(KEYRING_SERVICE, KEYRING_USER, *args)
    except Exception as error:  # noqa: BLE001 - keyring's backends (D-Bus Secret Service, KWallet, macOS
        # Keychain, Windows Credential Locker) raise their own exception classes besides KeyringError; a
        # keyring that does not work means the token goes to the 0600 file instead
        log.info("system keyring: %s failed (%s: %s)", name, type(error).__name__, error)
        return None


def token_file() -> Path:
    from tutor.service.token import config_dir

    return config_dir() / TOKEN_FILE


def _write_private(path: Path, text: str) -> None:
    """``text`` into ``path`` with mode 0600 from the first byte (a temporary file, then a rename)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_token(settings: QSettings, token: str) -> str:
    """Keep the remote host's token in the system keyring (``keyring``, when installed and working), else
    in ``token_file()`` (mode 0600); never in the settings file (an old plain-text value there is removed).
    An empty token deletes it everywhere. Returns where it went: "keyring", "file" or "" (deleted).
    ``OutputFileError`` when it could be kept nowhere (then the settings file is left as it was)."""
    from tutor.errors import OutputFileError

    token = token.strip()
    path = token_file()
    where = ""
    if token:
        _keyring_call("set_password", token)
        if _keyring_call("get_password") == token:  # read back: keyring's "null" backend keeps nothing
            where = "keyring"
        else:
            _keyring_call("delete_password")  # no stale token left there to be preferred on reading
            try:
                _write_private(path, token + "\n")
            except OSError as error:
                raise OutputFileError(f"cannot keep the remote token ({error.strerror or error})", path=path) from None
            where = "file"
    else:
        _keyring_call("delete_password")
    if where != "file":
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("%s: cannot remove the old remote token file (%s)", path, error.strerror or error)
    if settings.contains(TOKEN_KEY):
        settings.remove(TOKEN_KEY)
        settings.sync()
    return where


def load_token(settings: QSettings) -> str:
    """The remote host's token ('' for none): from the keyring, else ``token_file()``. A plain-text token an
    older version left in the settings file is moved out of it (``store_token``) the first time it is read."""
    from tutor.errors import TutorError

    plain = str(settings.value(TOKEN_KEY, "") or "").strip()
    if plain:
        try:
            store_token(settings, plain)
        except TutorError as error:
            log.warning("%s; it stays in the settings file for now", error)
        return plain
    if settings.contains(TOKEN_KEY):  # an empty value: nothing to keep
        settings.remove(TOKEN_KEY)
    from_keyring = _keyring_call("get_password")
    if from_keyring:
        return str(from_keyring).strip()
    try:
        return token_file().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):  # none stored (FileNotFoundError), or unreadable
        return ""


# ---------------------------------------------------------------------------------------------
# where analyses run
# ---------------------------------------------------------------------------------------------
class AnalysisPlace(QObject):
    """The app's ``tutor.remote.routing.AnalysisRouter`` (where analyses run) with a Qt signal for the
    status bar's indicator; the analyses themselves are the router's, called from worker threads."""

    changed = Signal(str)  # the indicator's text

    def __init__(self) -> None:
        super().__init__()
        from tutor.remote.routing import AnalysisRouter

        self.router = AnalysisRouter(on_text=self._say)

    @property
    def text(self) -> str:
        return self.router.text

    @property
    def client(self):
        return self.router.client

    @property
    def device(self) -> str:
        return self.router.device

    def configure(self, *, device: str = "auto", url: str = "", token: str = "") -> None:
        self.router.configure(device=device, url=url, token=token)
        if self.router.client is None and self.router.device == "auto" and not self.router.resolved:
            run_job(self._resolve_device, on_result=lambda _: self._say(self.router.local_text()), name="resolve device")

    def configure_from(self, settings: QSettings) -> None:
        self.configure(device=settings.value(DEVICE_KEY, "auto") or "auto", url=settings.value(HOST_KEY, "") or "",
                       token=load_token(settings))

    def _resolve_device(self, task=None) -> str:
        return self.router.resolve_device()

    def local_text(self) -> str:
        return self.router.local_text()

    def remote_text(self) -> str:
        return self.router.remote_text()

    def _say(self, text: str) -> None:
        try:
            self.changed.emit(text)
        except RuntimeError:  # the app is closing
            pass

    # -- analyses (worker threads) ------------------------------------------------------------------
    def critique_json(self, score) -> dict:
        return self.router.critique_json(score)

    def suggest(self, score, request, *, progress=None):
        return self.router.suggest(score, request, progress=progress)

    def read_take(self, path, *, instrument: str | None = None):
        return self.router.read_take(path, instrument=instrument)


_place: AnalysisPlace | None = None
_place_lock = threading.Lock()


def analysis_place() -> AnalysisPlace:
    """The app's ``AnalysisPlace`` (made on first use: local analyses on the automatic device)."""
    global _place
    with _place_lock:
        if _place is None:
            _place = AnalysisPlace()
        return _place


def install_indicator(window) -> QLabel:
    """The "Analysis: ..." label in ``window``'s status bar, kept up to date; configures the place from
    the window's settings."""
    place = analysis_place()
    label = QLabel(place.text)
    label.setObjectName("analysis_indicator")
    label.setToolTip("Where critiques and transcriptions run (File > Settings)")
    window.statusBar().addPermanentWidget(label)
    place.changed.connect(label.setText)
    window.analysis_indicator = label
    place.configure_from(window.settings)
    return label


# ---------------------------------------------------------------------------------------------
# the dialog
# ---------------------------------------------------------------------------------------------
class SettingsDialog(QDialog):
    """Audio and MIDI devices, soundfont, compute device, remote analysis host and token, tolerances."""

    def __init__(self, settings: QSettings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self._check_job = None
        form = QFormLayout(self)
        self.audio_in = QComboBox()
        self.audio_out = QComboBox()
        self.midi_in = QComboBox()
        for box in (self.audio_in, self.audio_out, self.midi_in):
            box.addItem("System default", "")
        try:
            from tutor.audio.devices import list_audio_devices

            for device in list_audio_devices():
                if device.max_input_channels > 0:
                    self.audio_in.addItem(device.name, device.name)
                if device.max_output_channels > 0:
                    self.audio_out.addItem(device.name, device.name)
        except Exception as error:
            self.audio_in.addItem(f"(no audio devices: {error})", "")
        try:
            from tutor.audio.midi_input import list_midi_inputs

            for name in list_midi_inputs():
                self.midi_in.addItem(name, name)
        except Exception as error:
            self.midi_in.addItem(f"(no MIDI inputs: {error})", "")
        form.addRow("Microphone", self.audio_in)
        form.addRow("Sound output", self.audio_out)
        form.addRow("MIDI keyboard", self.midi_in)
        row = QHBoxLayout()
        self.soundfont = QLineEdit(settings.value("audio/soundfont", "") or "")
        self.soundfont.setPlaceholderText("system default (FluidR3_GM)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_soundfont)
        row.addWidget(self.soundfont)
        row.addWidget(browse)
        form.addRow("Soundfont", row)
        self.compute = QComboBox()
        for label, value in (("Automatic (GPU when there is one)", "auto"), ("CPU", "cpu"), ("GPU (CUDA)", "cuda")):
            self.compute.addItem(label, value)
        form.addRow("Models run on", self.compute)
        self.remote = QLineEdit(settings.value(HOST_KEY, "") or "")
        self.remote.setPlaceholderText("none: analyse on this computer (e.g. http://studio-pc:8765)")
        form.addRow("Remote analysis host", self.remote)
        self.token = QLineEdit(load_token(settings))
        self.token.setEchoMode(QLineEdit.Password)
        self.token.setPlaceholderText("the token `tutor serve` showed on its first start")
        form.addRow("Host token", self.token)
        test_row = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("")
        self.test_result.setWordWrap(True)
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        form.addRow("", test_row)
        self.level = QComboBox()
        self.level.addItem("Beginner (generous timing and tuning)", "beginner")
        self.level.addItem("Advanced (strict)", "advanced")
        form.addRow("Tolerances", self.level)
        for box, key in ((self.audio_in, "audio/input"), (self.audio_out, "audio/output"), (self.midi_in, "midi/input"),
                         (self.compute, DEVICE_KEY), (self.level, "practice/level")):
            index = box.findData(settings.value(key, "") or "")
            if index >= 0:
                box.setCurrentIndex(index)
        if not settings.value("practice/level"):
            self.level.setCurrentIndex(0)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse_soundfont(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Soundfont", "/usr/share/sounds/sf2", "Soundfonts (*.sf2 *.sf3)")
        if path:
            self.soundfont.setText(path)

    def _host_url(self) -> str | None:
        """The host field as a URL ('' for none); None (and a message) when it is not one."""
        from tutor.errors import TutorError
        from tutor.remote.routing import remote_url

        try:
            return remote_url(self.remote.text()) or ""
        except TutorError:
            self.test_result.setText("Write the host as a URL, e.g. http://studio-pc:8765")
            return None

    def test_connection(self) -> None:
        """Ask the host in a worker; the answer appears beside the button."""
        from tutor.remote.client import RemoteClient

        url = self._host_url()
        if not url:
            if url == "":
                self.test_result.setText("No host: analyses run on this computer.")
            return
        client = RemoteClient(url, token=self.token.text().strip() or None)
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Asking {url}…")
        self._check_job = run_job(lambda task: client.check(), on_result=self._tested,
                                  on_error=lambda e: self._tested((False, str(e))), name="test connection")

    def _tested(self, answer) -> None:
        ok, text = answer
        self.test_button.setEnabled(True)
        self.test_result.setText(("✓ " if ok else "✗ ") + text)

    def _accept_if_valid(self) -> None:
        if self._host_url() is not None:
            self.accept()

    def save(self) -> None:
        from tutor.errors import TutorError

        s = self.settings
        s.setValue("audio/input", self.audio_in.currentData())
        s.setValue("audio/output", self.audio_out.currentData())
        s.setValue("midi/input", self.midi_in.currentData())
        s.setValue("audio/soundfont", self.soundfont.text().strip())
        s.setValue(DEVICE_KEY, self.compute.currentData())
        s.setValue(HOST_KEY, (self._host_url() or "").strip())
        try:
            store_token(s, self.token.text())
        except TutorError as error:  # neither the keyring nor the config folder takes it: keep it as before
            log.warning("%s; kept in the settings file instead", error)
            s.setValue(TOKEN_KEY, self.token.text().strip())
        s.setValue("practice/level", self.level.currentData())
        analysis_place().configure_from(s)
