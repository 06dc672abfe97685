"""Where the live piano detector loses strikes (issue 20): each true strike it does not hear, by the first stage lost.

The same loop as ``bench_live_marks`` (the detector driven by the follower on the recording's own score, first
``TUTOR_BENCH_PIANO_S`` = 30 s of each piece of ``TUTOR_BENCH_PIANO_SPLIT``, default dev), with a detector that logs,
every hop, the flux, what was listened for, which pitches ``_open`` let through, each pitch's rise over its recent
minimum and each candidate's strike probability. A true strike (MAPS ground truth) is *heard* when an onset of its
pitch lies within 0.1 s (matched one to one, as ``bench_live_marks.onset_scores``). For each one not heard, the first
stage that lost it, over the frames whose onset time (frame centre + ``ONSET_LEAD_S``) lies within 0.1 s of it:

- ``below_range``: the pitch is under ``LOWEST_MIDI``;
- ``timed_off``: an onset of the pitch, matched to no strike, 0.1-0.3 s away;
- ``no_flux``: no frame with flux >= ``FLUX_MIN`` (``no_flux_rose``: of those, the pitch's partials rose ``GATE_DB``
  in one of the frames all the same);
- ``not_listened``: flux, but the pitch neither expected nor in the score-free range;
- ``blocked_open``: listened for, but ``_open`` refused it (refractory after an onset of that pitch, or pending);
- ``below_gate``: open, but its partials rose less than ``GATE_DB`` (the largest rise is kept);
- ``low_p``: a candidate the model called not struck enough (expected: ``STRIKE_P``; score-free: ``FREE_STRIKE_P``);
- ``free_only``: heard score-free (not expected then, so given to the follower, never rung, not an onset);
- ``other``: rung in time but matched to another strike of the pitch.

The misses are also broken down by register, by the MAPS velocity, by whether the pitch was still sounding (a
repeated note), and by chord size (strikes within 0.05 s). Rerun: ``nice -n 10 .venv/bin/python -m tests.bench
live_losses`` (``TUTOR_BENCH_LIVE_STRIKE_P`` / ``..._FREE_STRIKE_P`` / ``..._SPECTRUM`` as in ``bench_live_marks``); results in
``bench-results/live_losses_<split>.json``.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np

WINDOW_S = 0.1
TIMED_OFF_S = 0.3
REGISTERS = ((21, 48, "A0-B2"), (48, 60, "C3-B3"), (60, 72, "C4-B4"), (72, 84, "C5-B5"), (84, 109, "C6-C8"))
VELOCITIES = ((0, 40, "<40"), (40, 55, "40-54"), (55, 70, "55-69"), (70, 128, ">=70"))
STAGES = ("below_range", "timed_off", "no_flux", "no_flux_rose", "not_listened", "blocked_open", "below_gate", "low_p", "free_only",
          "other")


def diagnosed_onsets_class():
    """A ``PianoOnsets`` that logs each hop (``frames``) and each candidate's P (its frame's ``p``)."""
    from tutor.listen import piano_live

    class DiagnosedOnsets(piano_live.PianoOnsets):
        made: list = []

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.frames: list[dict] = []
            self.by_time: dict[float, dict] = {}
            DiagnosedOnsets.made.append(self)

        def _frame(self, frame, time_s, expected, free=None):
            previous = self.previous_spectrum
            log = {"time_s": time_s, "flux": 0.0, "rise": None, "wanted": set(), "others": set(), "open": set(),
                   "p": {}, "scored": {}}
            self.frames.append(log)
            self.by_time[time_s] = log
            found = super()._frame(frame, time_s, expected, free)
            if previous is not None:
                log["flux"] = float(np.mean(np.maximum(self.previous_spectrum - previous, 0.0)))
            if len(self.history) > piano_live.RECENT_HOPS:
                log["rise"] = self.history[-1] - np.min(np.stack(self.history[-piano_live.RECENT_HOPS - 1:-1]), axis=0)
            return found

        def _candidates(self, time_s, wanted, others, *args, **kwargs):
            log = self.by_time[time_s]
            log["wanted"], log["others"] = set(wanted), set(others)
            log["open"] = ({p for p in wanted if self._open(p, True, time_s)}
                           | {p for p in others if self._open(p, False, time_s)})
            return super()._candidates(time_s, wanted, others, *args, **kwargs)

        def _odds(self, c, x, frame):
            odds = super()._odds(c, x, frame)
            log = self.by_time[c["time_s"]]
            for pitch, scored, p in zip(c["pitches"].tolist(), c["scored"].tolist(), odds.tolist(), strict=True):
                log["p"][pitch], log["scored"][pitch] = p, scored
            return odds

    return DiagnosedOnsets


def matched(onsets, ref) -> tuple[np.ndarray, np.ndarray]:
    """(strike heard, onset used) as ``bench_live_marks.onset_scores`` pairs them (0.1 s, one to one)."""
    heard = np.zeros(len(ref), bool)
    used = np.zeros(len(onsets), bool)
    for k, (onset_s, pitch) in enumerate(onsets):
        match = np.flatnonzero(~heard & (ref[:, 2] == pitch) & (np.abs(ref[:, 0] - onset_s) < WINDOW_S))
        if len(match):
            heard[match[0]] = True
            used[k] = True
    return heard, used


def first_loss(strike, frames, onsets, used) -> tuple[str, float | None]:
    """The first stage that lost ``strike`` (onset_s, offset_s, midi, velocity), and a number for it (the largest rise
    in dB for ``below_gate`` and ``no_flux``, the largest P for ``low_p``)."""
    from tutor.listen.piano_live import FLUX_MIN, FREE_STRIKE_P, LOWEST_MIDI, ONSET_LEAD_S, STRIKE_P
    from tutor.models.piano_strikes import GATE_DB

    onset_s, pitch = strike[0], int(strike[2])
    if pitch < LOWEST_MIDI:
        return "below_range", None
    if any(not used[k] and p == pitch and WINDOW_S <= abs(t - onset_s) < TIMED_OFF_S for k, (t, p) in enumerate(onsets)):
        return "timed_off", None
    near = [f for f in frames if abs(f["time_s"] + ONSET_LEAD_S - onset_s) < WINDOW_S and f["rise"] is not None]
    flux = [f for f in near if f["flux"] >= FLUX_MIN]
    if not flux:
        rise = max((float(f["rise"][pitch]) for f in near), default=None)
        return ("no_flux_rose" if rise is not None and rise >= GATE_DB else "no_flux"), rise
    listened = [f for f in flux if pitch in f["wanted"] or pitch in f["others"]]
    if not listened:
        return "not_listened", None
    opened = [f for f in listened if pitch in f["open"]]
    if not opened:
        return "blocked_open", None
    gated = [f for f in opened if f["rise"][pitch] >= GATE_DB]
    if not gated:
        return "below_gate", max(float(f["rise"][pitch]) for f in opened)
    judged = [(f["p"][pitch], f["scored"][pitch]) for f in gated if pitch in f["p"]]
    if not judged:
        return "other", None
    if any(scored and p >= STRIKE_P for p, scored in judged):
        return "other", None
    if any(not scored and p >= FREE_STRIKE_P for p, scored in judged):
        return "free_only", max(p for p, _ in judged)
    return "low_p", max(p for p, _ in judged)


def strike_context(ref: np.ndarray, index: int) -> dict:
    """Register, velocity, repeated (the pitch still sounding from an earlier note) and chord size of a strike."""
    onset_s, _, pitch, velocity = ref[index]
    earlier = (ref[:, 2] == pitch) & (ref[:, 0] < onset_s - 0.01) & (ref[:, 1] > onset_s - 0.05)
    chord = int(np.sum(np.abs(ref[:, 0] - onset_s) < 0.05))
    return {"register": next(name for lo, hi, name in REGISTERS if lo <= pitch < hi),
            "velocity": next(name for lo, hi, name in VELOCITIES if lo <= velocity < hi),
            "repeated": "still sounding" if earlier.any() else "fresh",
            "chord": "1" if chord == 1 else "2" if chord == 2 else "3" if chord == 3 else "4+"}


def main() -> None:
    import tempfile
    from pathlib import Path

    import librosa

    import tutor.listen.piano_live as piano_live
    from tests.bench._results import save
    from tests.bench.bench_live_marks import FREE_STRIKE_P, SPECTRUM, STRIKE_P, live_run
    from tests.bench.bench_piano import excerpt, pieces, reference, score_of

    if SPECTRUM is not None:
        piano_live.SPECTRUM = SPECTRUM != "0"
    if STRIKE_P is not None:
        piano_live.STRIKE_P = float(STRIKE_P)
    if FREE_STRIKE_P is not None:
        piano_live.FREE_STRIKE_P = float(FREE_STRIKE_P)
    split = os.environ.get("TUTOR_BENCH_PIANO_SPLIT", "dev")
    diagnosed = diagnosed_onsets_class()
    shipped = piano_live.PianoOnsets
    piano_live.PianoOnsets = diagnosed
    stages: Counter = Counter()
    by: dict[str, dict[str, Counter]] = {key: {} for key in ("register", "velocity", "repeated", "chord")}
    gate_short: list[float] = []
    low_p: list[float] = []
    total = heard_total = 0
    try:
        for name in pieces(split):
            audio, rate = excerpt(name)
            ref = reference(name)
            audio16 = librosa.resample(audio, orig_sr=rate, target_sr=piano_live.SAMPLE_RATE)
            with tempfile.TemporaryDirectory() as folder:
                score = score_of(ref, Path(folder))
            diagnosed.made.clear()
            onsets, _ = live_run(audio16, score)
            frames = diagnosed.made[-1].frames
            heard, used = matched(onsets, ref)
            piece: Counter = Counter()
            for i in range(len(ref)):
                context = strike_context(ref, i)
                stage, value = ("heard", None) if heard[i] else first_loss(ref[i], frames, onsets, used)
                piece[stage] += 1
                for key, group in context.items():
                    by[key].setdefault(group, Counter())[stage] += 1
                if stage == "below_gate":
                    gate_short.append(value)
                if stage == "low_p":
                    low_p.append(value)
            stages += piece
            total += len(ref)
            heard_total += int(heard.sum())
            print(f"  {name[9:]:24s} {int(heard.sum())}/{len(ref)} heard; lost: "
                  + ", ".join(f"{k} {v}" for k, v in piece.most_common() if k != "heard"), flush=True)
    finally:
        piano_live.PianoOnsets = shipped
    missed = total - heard_total
    print(f"\n{split}, {len(pieces(split))} x 30 s: {heard_total}/{total} strikes heard (R {heard_total / total:.3f}); "
          f"{missed} lost, by the first stage that lost them:")
    for stage, count in stages.most_common():
        if stage != "heard":
            print(f"  {stage:14s} {count:5d}  {count / total:.3f} of the strikes, {count / missed:.3f} of the lost")
    if gate_short:
        rise = np.array(gate_short)
        print(f"  below_gate: largest rise median {np.median(rise):.1f} dB; in [3, 4) {int(np.sum(rise >= 3))}, "
              f"[2, 3) {int(np.sum((rise >= 2) & (rise < 3)))}, [0, 2) {int(np.sum((rise >= 0) & (rise < 2)))}, "
              f"< 0 {int(np.sum(rise < 0))}")
    if low_p:
        p = np.array(low_p)
        print(f"  low_p: largest P median {np.median(p):.2f}; [0.3, 0.4) {int(np.sum(p >= 0.3))}, [0.2, 0.3) "
              f"{int(np.sum((p >= 0.2) & (p < 0.3)))}, [0.1, 0.2) {int(np.sum((p >= 0.1) & (p < 0.2)))}, "
              f"< 0.1 {int(np.sum(p < 0.1))}")
    for key, groups in by.items():
        print(f"by {key}:")
        for group, counts in sorted(groups.items()):
            n = sum(counts.values())
            top = ", ".join(f"{k} {v}" for k, v in counts.most_common(4) if k != "heard")
            print(f"  {group:15s} {n:5d} strikes, heard {counts['heard'] / n:.3f}; lost: {top}")
    peer = "" if SPECTRUM is None else "_trees47" if SPECTRUM == "0" else "_spectrum"
    save(f"live_losses_{split}" + peer + "".join(f"_{k}{v}" for k, v in (("p", STRIKE_P), ("freep", FREE_STRIKE_P))
                                          if v is not None),
         {"split": split, "strikes": total, "heard": heard_total, "stages": dict(stages),
          "below_gate_rise_db": gate_short, "low_p": low_p,
          "by": {key: {g: dict(c) for g, c in groups.items()} for key, groups in by.items()}})


if __name__ == "__main__":
    main()
