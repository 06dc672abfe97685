#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages tutor needs, when it can (root or passwordless sudo).
# Otherwise prints the one apt command to run, and fails so that `make` stops.
set -euo pipefail
PACKAGES=(
  libportaudio2            # sounddevice (microphone)
  libasound2               # ALSA, for MIDI and audio
  fluidsynth libfluidsynth3 fluid-soundfont-gm   # playback and rendering with a GM soundfont
  libsndfile1              # soundfile
  xvfb xauth               # screenshots and app tests on a virtual display
  libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 libfontconfig1
  libdbus-1-3 fonts-dejavu-core   # Qt on a real display
)
if ! command -v dpkg >/dev/null 2>&1; then
  echo "system-deps: not a Debian/Ubuntu system; install PortAudio, FluidSynth with a GM soundfont and Qt's xcb libraries yourself." >&2
  exit 0
fi
missing=()
# Debian's python3 needs python3-venv for `python3 -m venv` (pyenv or python.org builds do not)
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  missing+=(python3-venv python3-dev)
fi
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "tutor needs these system packages. Run this once, then 'make' again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
