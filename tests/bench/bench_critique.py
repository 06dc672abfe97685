"""Composition critique benchmark: ``python -m tests.bench critique``.

1. Findings per chorale on real Bach chorales (music21 corpus, and the JSB test split from
   ../shared/data/jsb-chorales): how many errors/warnings/infos the rules raise on music that is
   correct by definition (false alarms).
2. Recall per rule on injected mistakes: parallel fifths/octaves, out-of-key notes and bad leaps
   written into real chorales (music21) and real melodies (German Essen folk songs, altdeu10); a mistake counts as
   found when a finding of the right rule names the changed note's id.
3. Model metrics on the training scripts' test splits (EMOPIA official test split; the style
   corpus's piece-disjoint test split), recomputed from the committed weights.
4. Timing: check_rules on 8 bars (the generator's re-check) and the models on a 32-bar piece, with
   music21's own key analysis of the same 8 bars as the peer.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tests.bench._results import save
from tests.conftest import SHARED_DATA
from tests.rule_scores import jsb_chorales
from tutor.compose.rules import check_rules
from tutor.score.analysis import estimate_key, pitch_name, voices
from tutor.score.io import load_score
from tutor.score.music import Score

N_CHORALES = 40
N_MELODIES = 40


def _chorale_paths(n: int) -> list[str]:
    from music21 import corpus

    paths = sorted(p for p in corpus.getComposer("bach") if p.name.startswith("bwv") and p.suffix == ".mxl")
    random.Random(1).shuffle(paths)
    return [str(p) for p in paths[:n]]


def false_alarms() -> dict:
    out = {}
    sets = {"music21 Bach chorales": [load_score(p) for p in _chorale_paths(N_CHORALES)]}
    jsb = SHARED_DATA / "jsb-chorales" / "Jsb16thSeparated.json"
    if jsb.exists():
        sets["JSB chorales (test split)"] = jsb_chorales(jsb, "test")
    for name, scores in sets.items():
        per_rule: Counter = Counter()
        severities: Counter = Counter()
        for score in scores:
            for f in check_rules(score):
                per_rule[(f.severity, f.rule)] += 1
                severities[f.severity] += 1
        n = len(scores)
        out[name] = {"chorales": n, **{f"{s}_per_chorale": severities[s] / n for s in ("error", "warning", "info")},
                     "per_rule_per_chorale": {f"{s}:{r}": round(c / n, 3) for (s, r), c in per_rule.most_common()}}
        print(f"{name}: {n} chorales, per chorale: {severities['error'] / n:.2f} errors, "
              f"{severities['warning'] / n:.2f} warnings, {severities['info'] / n:.2f} infos")
        for (s, r), c in per_rule.most_common(8):
            print(f"    {s:7s} {r:24s} {c / n:.2f}")
    return out


# ---------------------------------------------------------------------------------------------
# injections
# ---------------------------------------------------------------------------------------------
def _with_pitch(score: Score, note_id: str, pitch: int) -> Score:
    notes = tuple(replace(n, pitch=pitch) if n.id == note_id else n for n in score.notes)
    return replace(score, notes=notes, source_path=None)


def inject_parallel(score: Score, rng: random.Random):
    """Make two voices move in parallel fifths or octaves: pick a place where a voice pair sounds a
    perfect fifth/octave and both voices move on the next onset, and move the lower voice with the
    upper one."""
    lines = voices(score)
    candidates = []
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            lower_by_onset = {round(n.onset_ql, 4): n for n in lines[j].notes}
            for a0, a1 in zip(lines[i].notes, lines[i].notes[1:], strict=False):
                b0, b1 = lower_by_onset.get(round(a0.onset_ql, 4)), lower_by_onset.get(round(a1.onset_ql, 4))
                if b0 is None or b1 is None or a1.onset_ql - a0.offset_ql > 1e-3 or b1.onset_ql - b0.offset_ql > 1e-3:
                    continue
                if abs(b0.duration_ql - a0.duration_ql) > 1e-6:
                    continue
                gap = a0.pitch - b0.pitch
                if gap > 0 and gap % 12 in (0, 7) and a1.pitch != a0.pitch and abs(a1.pitch - a0.pitch) <= 4:
                    candidates.append((b1, a1.pitch - gap, "parallel_fifths" if gap % 12 == 7 else "parallel_octaves"))
    if not candidates:
        return None
    note, pitch, rule = rng.choice(candidates)
    return _with_pitch(score, note.id, pitch), note.id, rule


def inject_out_of_key(score: Score, rng: random.Random, *, top_only: bool = False):
    """Replace a note of a line by a chromatic pitch that neither steps between its neighbours nor
    leads by a semitone into the next note (a wrong note, not a chromatic ornament)."""
    key = estimate_key(score)
    lines = voices(score)[:1] if top_only else voices(score)
    options = []
    for line in lines:
        notes = line.notes
        for k in range(1, len(notes) - 1):
            before, note, after = notes[k - 1], notes[k], notes[k + 1]
            for delta in (-1, 1):
                pitch = note.pitch + delta
                if pitch % 12 in key.scale:
                    continue
                if abs(pitch - before.pitch) <= 2 or abs(after.pitch - pitch) <= 2:
                    continue
                options.append((note, pitch))
    if not options:
        return None
    note, pitch = rng.choice(options)
    return _with_pitch(score, note.id, pitch), note.id, "out_of_key"


def inject_leap(score: Score, rng: random.Random, *, top_only: bool = False):
    """Displace a note by an octave so that the leap into it is larger than an octave."""
    lines = voices(score)[:1] if top_only else voices(score)
    options = []
    for line in lines:
        notes = line.notes
        for k in range(1, len(notes) - 1):
            before, note = notes[k - 1], notes[k]
            if note.onset_ql - before.offset_ql > 1e-3 or note.pitch == before.pitch:
                continue
            pitch = note.pitch + (12 if note.pitch > before.pitch else -12)
            options.append((note, pitch))
    if not options:
        return None
    note, pitch = rng.choice(options)
    return _with_pitch(score, note.id, pitch), note.id, "large_leap"


def recall(scores: list[Score], injectors, *, label: str) -> dict:
    rng = random.Random(7)
    found: Counter = Counter()
    tried: Counter = Counter()
    examples = []
    for score in scores:
        for inject in injectors:
            made = inject(score, rng)
            if made is None:
                continue
            changed, note_id, rule = made
            tried[rule] += 1
            hits = [f for f in check_rules(changed) if f.rule == rule and note_id in f.note_ids]
            if hits:
                found[rule] += 1
            elif len(examples) < 6:
                n = changed.note_by_id(note_id)
                examples.append(f"{changed.title}: {rule} at {note_id} ({pitch_name(n.pitch)}) missed")
    out = {rule: {"injected": tried[rule], "found": found[rule], "recall": found[rule] / tried[rule]} for rule in tried}
    for rule, r in out.items():
        print(f"{label}: {rule:18s} recall {r['recall']:.2f} ({r['found']}/{r['injected']})")
    for example in examples:
        print("    " + example)
    return {"per_rule": out, "missed_examples": examples}


def injections() -> dict:
    chorales = [load_score(p) for p in _chorale_paths(N_CHORALES)]
    melodies = [load_score("corpus:essenFolksong/altdeu10", index=i) for i in range(N_MELODIES)]
    return {
        "chorales": recall(chorales, [inject_parallel, inject_out_of_key, inject_leap], label="chorales"),
        "melodies": recall(melodies, [lambda s, r: inject_out_of_key(s, r, top_only=True),
                                      lambda s, r: inject_leap(s, r, top_only=True)], label="Essen melodies"),
    }


# ---------------------------------------------------------------------------------------------
def model_metrics() -> dict:
    out: dict = {}
    try:
        from tutor.models.emotion import probabilities as emotion_probabilities
        from tutor.models.training.emotion_data import load_emopia, with_musician
        from tutor.models.training.train_emotion import _metrics

        if (SHARED_DATA / "emopia").exists():
            data = with_musician(load_emopia())["test"]  # the weights read the first 101 or all 171 descriptors
            probs = emotion_probabilities(data["tokens"], data["x"], data["events"])  # the blend, as in tutor critique
            m = _metrics(data["y"], probs.argmax(1))
            out["emotion_test"] = m
            print(f"emotion (EMOPIA test, {m['n']} clips): accuracy {m['accuracy']:.3f}, valence {m['valence_accuracy']:.3f}, "
                  f"arousal {m['arousal_accuracy']:.3f}")
    except Exception as error:  # noqa: BLE001 - a benchmark reports what it could not do
        print(f"emotion metrics unavailable: {error}")
    try:
        import torch

        from tutor.models.style import _load as load_style
        from tutor.models.training.style_data import CACHE, build_dataset
        from tutor.models.training.train_style import _arrays, _piece_level
        from tutor.models.training.train_style import _metrics as style_metrics

        if CACHE.exists():
            test = _arrays(build_dataset(verbose=False), "test")
            nets, _ = load_style()
            probs = 0
            with torch.no_grad():
                for net in nets:
                    probs = probs + torch.softmax(net(torch.tensor(test["tokens"]), torch.tensor(test["x"]))["style"], -1).numpy()
            w, p = style_metrics(test["y"], probs.argmax(1)), _piece_level(test, probs)
            out["style_test_windows"], out["style_test_pieces"] = w, p
            print(f"style (piece-disjoint test split): window accuracy {w['accuracy']:.3f} (macro F1 {w['macro_f1']:.3f}), "
                  f"piece accuracy {p['accuracy']:.3f}")
        else:
            print("style metrics: feature cache missing (run python -m models.training.train_style)")
    except Exception as error:  # noqa: BLE001
        print(f"style metrics unavailable: {error}")
    return out


def timing() -> dict:
    import warnings

    from tutor.compose.critique import predict_models
    from tutor.score.io import music21_from_notes

    chorale = load_score("corpus:bach/bwv66.6")
    eight = chorale.slice_measures(1, 8)
    runs = 20
    started = time.perf_counter()
    for _ in range(runs):
        check_rules(eight, style="chorale")
    rules_ms = (time.perf_counter() - started) / runs * 1000
    m21 = music21_from_notes(eight)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(5):
            m21.analyze("key")
    peer_ms = (time.perf_counter() - started) / 5 * 1000
    chopin = SHARED_DATA / "nasap-dev" / "Chopin" / "Etudes_op_10" / "4" / "xml_score.musicxml"
    source = str(chopin) if chopin.exists() else "corpus:beethoven/opus18no1/movement1"  # dense piano / quartet
    piece = load_score(source)
    numbers = [m.number for m in piece.measures]
    piece32 = piece.slice_measures(numbers[0], numbers[min(31, len(numbers) - 1)])
    predict_models(piece32)  # load the weights once
    times = []
    for _ in range(5):
        started = time.perf_counter()
        predict_models(piece32)
        times.append((time.perf_counter() - started) * 1000)
    models_ms = statistics.median(times)
    started = time.perf_counter()
    check_rules(piece32)
    rules32_ms = (time.perf_counter() - started) * 1000
    print(f"check_rules on 8 chorale bars: {rules_ms:.1f} ms (music21 key analysis of the same bars: {peer_ms:.1f} ms, "
          f"ratio {rules_ms / peer_ms:.2f})")
    print(f"style + emotion models on {len(piece32.measures)} bars ({len(piece32.notes)} notes, {Path(source).name}): "
          f"{models_ms:.0f} ms (median of 5); check_rules on the same bars: {rules32_ms:.0f} ms")
    return {"check_rules_8_bars_ms": rules_ms, "music21_key_8_bars_ms": peer_ms, "rules_to_peer_ratio": rules_ms / peer_ms,
            "models_32_bars_ms": models_ms, "bars": len(piece32.measures), "notes": len(piece32.notes),
            "piece": source, "check_rules_32_bars_ms": rules32_ms}


def main() -> None:
    results = {"false_alarms": false_alarms(), "injections": injections(), "models": model_metrics(), "timing": timing()}
    save("critique", results)


if __name__ == "__main__":
    main()
