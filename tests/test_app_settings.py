"""The app's settings dialog (remote host, token, test connection) and the status-bar indicator of where
analysis runs, against a `tutor serve` app on loopback; offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import
os.environ["TUTOR_NO_DIALOGS"] = "1"


import pytest

from tests.conftest import REPO
from tests.service_host import app_in_thread

TOKEN = "app-test-token-0123456789"
DEMO = REPO / "assets" / "demo" / "twinkle.musicxml"


@pytest.fixture
def host():
    """A `tutor serve` app on loopback; yields its URL and a function that stops it."""
    from tutor.service.server import ServiceConfig, create_app

    with app_in_thread(create_app(ServiceConfig(token=TOKEN, device="cpu"))) as (url, stop):
        yield url, stop


@pytest.fixture(autouse=True)
def _private_token_store(tmp_path, monkeypatch):
    """The token file in this test's folder, and no system keyring (the one on this machine is not ours)."""
    import tutor.ui.settings

    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(tutor.ui.settings, "_keyring", lambda: None)


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


def test_settings_dialog_tests_the_connection_and_saves_host_and_token(qtbot, host, settings, tmp_path):
    from tutor.ui.settings import SettingsDialog, analysis_place

    url, _ = host
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.remote.setText(url)
    dialog.token.setText("wrong")
    dialog.test_button.click()  # the check runs in a worker: the dialog stays responsive
    qtbot.waitUntil(lambda: dialog.test_button.isEnabled() and dialog.test_result.text().startswith("✗"), timeout=20000)
    assert "refuses the token" in dialog.test_result.text()
    dialog.token.setText(TOKEN)
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.test_result.text().startswith("✓"), timeout=20000)
    assert "token accepted" in dialog.test_result.text() and "cpu" in dialog.test_result.text()
    dialog.compute.setCurrentIndex(dialog.compute.findData("cpu"))
    dialog.save()
    assert settings.value("analysis/remote_host") == url
    from tutor.ui.settings import load_token, token_file

    settings.sync()  # the token is not in the settings file (mode 0644): it is in a 0600 file of its own
    assert TOKEN not in (tmp_path / "settings.ini").read_text() and not settings.contains("analysis/remote_token")
    assert token_file().read_text().strip() == TOKEN and token_file().stat().st_mode & 0o777 == 0o600
    again = SettingsDialog(settings)
    qtbot.addWidget(again)
    assert load_token(settings) == TOKEN and again.token.text() == TOKEN
    assert settings.value("analysis/device") == "cpu"
    assert analysis_place().text == f"Analysis: remote {url.removeprefix('http://')}"
    dialog.remote.setText("studio-pc")  # not a URL: said, and OK does not close the dialog
    dialog._accept_if_valid()
    assert dialog.result() == 0 and "URL" in dialog.test_result.text()
    dialog.remote.setText("")
    dialog.save()
    assert analysis_place().text == "Analysis: local CPU"


def test_indicator_follows_the_critique_to_the_host_and_back_to_local(qtbot, host, settings, tmp_path, monkeypatch):
    """Compose's critique runs on the host (same findings as here) and the status bar says so; when the
    host dies the next critique runs here and the indicator says the host is unreachable."""
    from tutor.compose.critique import critique
    from tutor.ui.app import MainWindow

    url, stop = host
    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "data"))
    settings.setValue("analysis/device", "cpu")
    settings.setValue("analysis/remote_host", url)
    settings.setValue("analysis/remote_token", TOKEN)  # where an older version kept it, in plain text
    win = MainWindow(settings=settings, autosave_folder=tmp_path / "autosave")
    (tmp_path / "autosave").mkdir()
    win.show()
    try:
        from tutor.ui.settings import token_file

        settings.sync()  # moved out of the settings file on first read, and used
        assert not settings.contains("analysis/remote_token") and TOKEN not in (tmp_path / "settings.ini").read_text()
        assert token_file().read_text().strip() == TOKEN
        indicator = win.analysis_indicator
        assert indicator.text() == f"Analysis: remote {url.removeprefix('http://')}"
        win.open_file(str(DEMO))
        qtbot.waitUntil(lambda: win.score is not None, timeout=30000)
        win.set_mode("compose")
        panel = win.compose_panel
        panel.run_critique()
        qtbot.waitUntil(lambda: panel.report is not None, timeout=60000)
        assert panel.report == critique(win.score).as_json()
        assert indicator.text() == f"Analysis: remote {url.removeprefix('http://')}"
        panel.suggest_continuation()  # the panel's suggestions go to the host too
        qtbot.waitUntil(lambda: bool(panel.suggestions), timeout=60000)
        from tutor.compose.suggest import continue_piece

        here = continue_piece(win.score, bars=panel.continue_bars.value(), k=4)
        assert [s.to_json() for s in panel.suggestions] == [s.to_json() for s in here]
        stop()
        panel.report = None
        panel.run_critique()
        qtbot.waitUntil(lambda: panel.report is not None, timeout=60000)
        assert indicator.text() == "Analysis: remote unreachable — local"
        assert panel.report["findings"] is not None and panel.report == critique(win.score).as_json()
    finally:
        win.practice_panel.shutdown()
        win.undo_stack.setClean()
        win.close()
        win.deleteLater()


def test_a_recorded_take_is_transcribed_on_the_host(qtbot, host, tmp_path):
    """Practice's review reads a recording through the analysis place: on the host, the same notes as
    here (cents included); with the host gone, here."""
    import soundfile

    from tests.conftest import shared
    from tutor.listen.transcription import transcribe_file
    from tutor.ui.settings import UNREACHABLE, analysis_place

    url, stop = host
    source = shared("f0-audio", "mdb_stem_synth", "audio_stems", "AClassicEducation_NightOwl_STEM_08.RESYN.wav")
    samples, rate = soundfile.read(source)
    take = tmp_path / "take.wav"
    soundfile.write(take, samples[: int(1.5 * rate)], rate)
    here = transcribe_file(take, device="cpu").performance
    place = analysis_place()
    place.configure(device="cpu", url=url, token=TOKEN)
    remote = place.read_take(take)
    assert place.text.startswith("Analysis: remote") and remote.notes and remote.is_audio
    assert [(n.pitch, n.onset_s, n.offset_s, n.cents) for n in remote.notes] == \
        [(n.pitch, n.onset_s, n.offset_s, n.cents) for n in here.notes]
    stop()
    assert place.read_take(take).notes == here.notes and place.text == UNREACHABLE
    place.configure(device="cpu")


def test_suggestions_come_from_the_host_and_fall_back_here(qtbot, host):
    """Compose's suggestions (continue, fix) run on the host: the same proposals as here; with the host
    gone, here."""
    from tutor.api.requests import SuggestRequest
    from tutor.compose.suggest import continue_piece, correct_measures
    from tutor.score.io import load_score
    from tutor.ui.settings import UNREACHABLE, analysis_place

    url, stop = host
    score = load_score(DEMO)
    place = analysis_place()
    place.configure(device="cpu", url=url, token=TOKEN)
    try:
        def shape(suggestions):
            return [(s.kind, s.first_measure, s.last_measure, [(n.pitch, n.onset_ql, n.duration_ql) for n in s.notes])
                    for s in suggestions]

        here = continue_piece(score, bars=2, k=2)
        remote = place.suggest(score, SuggestRequest(kind="continue", bars=2, k=2)).suggestions
        assert place.text.startswith("Analysis: remote") and remote and shape(remote) == shape(here)
        fix_here = correct_measures(score, first=3, last=3, k=2)
        fix_remote = place.suggest(score, SuggestRequest(kind="fix", fix=(3, 3), k=2)).suggestions
        assert shape(fix_remote) == shape(fix_here) and all(s.kind == "correction" for s in fix_remote)
        stop()
        fallback = place.suggest(score, SuggestRequest(kind="continue", bars=2, k=2)).suggestions
        assert shape(fallback) == shape(here) and place.text == UNREACHABLE
    finally:
        place.configure(device="cpu")
