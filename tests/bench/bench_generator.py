"""Generator benchmark: ``python -m tests.bench generator`` (about 4 minutes on the shared 2-core CPU at load 10).

1. Held-out negative log-likelihood (nats per token and per note, left to right) on the JSB
   chorales test split (the music21 encodings of the standard Boulanger-Lewandowski test pieces)
   and on the Nottingham test split, beside an interpolated n-gram (Markov) model over the same
   tokens, trained in this run on the same training pieces.
2. Repair: in held-out tunes one bar's pitches are replaced by wrong notes (rhythm kept); we ask
   ``tutor.compose.suggest.correct_measures`` for 5 corrections and count how often the top-1 and any of
   the top-5 restore the original bar exactly, their pitch accuracy (share of the original's notes
   found at the same place with the same pitch), and how often they are free of error/warning
   findings of ``tutor.compose.rules.check_rules`` in the bar; with the default closeness prior, with
   closeness 0 (likelihood alone) and with the previous implementation (``PREVIOUS``, from git) on
   the same cases. Also: how often the original bar would itself pass the rule filter, and how
   often the model prefers it to the corrupted bar.
3. Speed: 4 continuations of 4 bars (``continue_piece``), median of 5 runs after a warm-up, beside
   the previous implementation run alternately in the same process (ratio, and whether it gave the
   same suggestions).
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections import Counter, defaultdict

from tests.bench._results import save

NGRAM_ORDER = 5
REPAIR_TUNES = {"nottingham": 40, "chorale": 20}
SEED = 7


# ---------------------------------------------------------------------------------------------
# sequences
# ---------------------------------------------------------------------------------------------
def piece_chunks(tune, context: int) -> list[tuple[list[int], list[int], int]]:
    """Left-to-right chunks of a piece: (prompt = cond + BOS, bar tokens [+ EOS], notes)."""
    from tutor.models.generator import BOS, EOS

    prompt = tune.cond_tokens() + [BOS]
    chunks, current, notes = [], [], 0
    for index in range(len(tune.bars)):
        tokens = tune.bar_tokens(index)
        if current and len(prompt) + len(current) + len(tokens) + 1 > context:
            chunks.append((prompt, current, notes))
            current, notes = [], 0
        current = current + tokens
        notes += len(tune.bars[index])
    chunks.append((prompt, current + [EOS], notes))
    return [c for c in chunks if len(prompt) + len(c[1]) <= context]


class NGram:
    """Interpolated Witten-Bell n-gram over token ids."""

    def __init__(self, order: int, vocab_size: int) -> None:
        self.order, self.vocab_size = order, vocab_size
        self.counts: dict[tuple, Counter] = defaultdict(Counter)

    def train(self, sequences) -> None:
        for sequence in sequences:
            for i in range(len(sequence)):
                for n in range(self.order):
                    if i - n < 0:
                        break
                    self.counts[tuple(sequence[i - n:i])][sequence[i]] += 1
        self.totals = {k: sum(c.values()) for k, c in self.counts.items()}
        self.types = {k: len(c) for k, c in self.counts.items()}

    def prob(self, history: tuple, token: int) -> float:
        p = 1.0 / self.vocab_size
        for n in range(0, self.order):
            if n > len(history):
                break
            context = history[len(history) - n:] if n else ()
            total = self.totals.get(context)
            if not total:
                continue
            types = self.types[context]
            lam = total / (total + types)
            p = lam * self.counts[context][token] / total + (1 - lam) * p
        return p

    def nll(self, prompt: list[int], tokens: list[int]) -> float:
        sequence = prompt + tokens
        total = 0.0
        for i in range(len(prompt), len(sequence)):
            total -= math.log(self.prob(tuple(sequence[max(0, i - self.order + 1):i]), sequence[i]))
        return total


def model_nll(model, prompt: list[int], tokens: list[int]) -> float:
    from tutor.models.generator import sequence_log_likelihood

    return -sequence_log_likelihood(model, prompt, tokens)


def held_out_nll(model, ngram, tunes, context: int) -> dict:
    totals = {"model": 0.0, "ngram": 0.0}
    tokens = notes = 0
    for tune in tunes:
        for prompt, body, n_notes in piece_chunks(tune, context):
            totals["model"] += model_nll(model, prompt, body)
            totals["ngram"] += ngram.nll(prompt, body)
            tokens += len(body)
            notes += n_notes
    return {
        "pieces": len(tunes), "tokens": tokens, "notes": notes,
        "model_nats_per_token": totals["model"] / tokens, "ngram_nats_per_token": totals["ngram"] / tokens,
        "model_nats_per_note": totals["model"] / notes, "ngram_nats_per_note": totals["ngram"] / notes,
    }


# ---------------------------------------------------------------------------------------------
# repair
# ---------------------------------------------------------------------------------------------
def corrupt(score, rng: random.Random):
    """(corrupted score, measure number, original notes of that bar) or None."""
    from dataclasses import replace

    from tutor.score.music import sort_notes

    numbers = [m.number for m in score.measures]
    candidates = [n for n in numbers[2:-2] if sum(1 for x in score.notes if x.measure == n) >= 3]
    if not candidates:
        return None
    number = rng.choice(candidates)
    bar = [n for n in score.notes if n.measure == number]
    changed = rng.sample(range(len(bar)), max(1, len(bar) // 2))
    new_notes = []
    for index, note in enumerate(bar):
        if index in changed:
            note = replace(note, pitch=note.pitch + rng.choice([-4, -3, -2, -1, 1, 2, 3, 4]))
        new_notes.append(note)
    others = [n for n in score.notes if n.measure != number]
    return replace(score, notes=sort_notes([*others, *new_notes])), number, bar


def same_bar(notes_a, notes_b) -> bool:
    def key(notes):
        return sorted((n.part, round(n.onset_ql, 3), n.pitch) for n in notes)

    return key(notes_a) == key(notes_b)


def pitch_accuracy(notes, original) -> float:
    """Share of the original bar's notes (part, onset) that ``notes`` has at the same place with the same pitch."""
    have = {(n.part, round(n.onset_ql, 3), n.pitch) for n in notes}
    return sum((n.part, round(n.onset_ql, 3), n.pitch) in have for n in original) / max(len(original), 1)


def fim_log_likelihood(tune, number: int, score, *, clean: bool) -> float:
    """log p(bar | bars around it) of the original (clean) or corrupted bar, with the corrector's prompt."""
    from tutor.compose.suggest import _estimate_tokens, _model, _tune_and_index, fim_prompt
    from tutor.models.generator import EOM, sequence_log_likelihood

    corrupted, index = _tune_and_index(score, number, None)
    original = corrupted.bar_tokens(index)
    generate = max(len(original) + 1, _estimate_tokens(corrupted, corrupted.bar_ticks[index:index + 1]))
    prompt = fim_prompt(corrupted, index, index, room=_model(None).config.context - generate)
    source = tune if clean else corrupted
    return sequence_log_likelihood(_model(None), prompt, source.bar_tokens(index) + [EOM])


def repair(tunes_by_corpus: dict, *, closeness_values=(None, 0.0, "previous")) -> dict:
    """Repair results per corpus and closeness (None: the default ``CLOSENESS_NATS``; "previous": the
    implementation before this session, ``previous_suggest()``)."""
    from tutor.compose.rules import check_rules
    from tutor.compose.suggest import (
        CLOSENESS_NATS,
        apply_suggestion,
        correct_measures,
        remaining_problems,
        rules_style,
        violations,
    )
    from tutor.models.training.generator_data import score_from_tune

    out = {}
    for corpus, tunes in tunes_by_corpus.items():
        rng = random.Random(SEED)
        cases = [(tune, made) for tune in tunes if (made := corrupt(score_from_tune(tune), rng)) is not None]
        counts = Counter()
        for tune, (score, number, original) in cases:
            style = rules_style(None, tune.style)
            flagged = violations(score, number, number, check_rules, style=style)
            counts["cases"] += 1
            counts["corrupted_bar_flagged"] += bool(flagged)
            counts["corrupted_pitch_accuracy"] += pitch_accuracy([n for n in score.notes if n.measure == number], original)
            clean = score_from_tune(tune)
            counts["original_acceptable"] += not remaining_problems(
                violations(clean, number, number, check_rules, style=style), flagged)
            counts["prefers_original"] += fim_log_likelihood(tune, number, score, clean=True) > fim_log_likelihood(
                tune, number, score, clean=False)
        n = max(counts["cases"], 1)
        result = {
            "cases": counts["cases"],
            "corrupted_bar_flagged_by_rules": counts["corrupted_bar_flagged"] / n,
            "corrupted_bar_pitch_accuracy": counts["corrupted_pitch_accuracy"] / n,
            "original_bar_acceptable_to_the_rule_filter": counts["original_acceptable"] / n,
            "model_prefers_original_bar_over_corrupted": counts["prefers_original"] / n,
        }
        for closeness in closeness_values:
            if closeness == "previous":
                previous = previous_suggest()
                if previous is None:
                    continue
                value, label = None, f"previous_{PREVIOUS[:7]}"
            else:
                value = CLOSENESS_NATS if closeness is None else closeness
                label = f"closeness_{value:g}"
            c = Counter()
            seconds = []
            for tune, (score, number, original) in cases:
                style = rules_style(None, tune.style)
                started = time.perf_counter()
                if value is None:
                    suggestions = previous.correct_measures(score, first=number, last=number, k=5, seed=SEED)
                else:
                    suggestions = correct_measures(score, first=number, last=number, k=5, seed=SEED, closeness=value)
                seconds.append(time.perf_counter() - started)
                if not suggestions:
                    c["empty"] += 1
                    continue
                c["top1"] += same_bar(suggestions[0].notes, original)
                c["top5"] += any(same_bar(s.notes, original) for s in suggestions)
                c["top1_pitch_accuracy"] += pitch_accuracy(suggestions[0].notes, original)
                c["best_of_5_pitch_accuracy"] += max(pitch_accuracy(s.notes, original) for s in suggestions)
                found = [violations(apply_suggestion(score, s), number, number, check_rules, style=style) for s in suggestions]
                c["top1_strict_clean"] += not found[0]
                c["suggestions"] += len(suggestions)
                c["suggestions_strict_clean"] += sum(not f for f in found)
                c["top1_keeps_rhythm"] += suggestions[0].keeps_rhythm
            result[label] = {
                "closeness_nats_per_kept_note": value,
                "top1_restores": c["top1"] / n,
                "top5_restores": c["top5"] / n,
                "top1_pitch_accuracy": c["top1_pitch_accuracy"] / n,
                "best_of_5_pitch_accuracy": c["best_of_5_pitch_accuracy"] / n,
                "cases_with_no_acceptable_suggestion": c["empty"] / n,
                # acceptable = no error, no rule flagged in the corrupted bar still firing, no more warnings
                "top1_free_of_any_error_or_warning": c["top1_strict_clean"] / n,
                "suggestions_free_of_any_error_or_warning": c["suggestions_strict_clean"] / max(c["suggestions"], 1),
                "top1_keeps_rhythm": c["top1_keeps_rhythm"] / n,
                "median_seconds_per_correction": statistics.median(seconds) if seconds else None,
            }
        out[corpus] = result
    return out


def print_repair(results: dict) -> None:
    for corpus, r in results.items():
        print(f"repair {corpus}: {r['cases']} bars; corrupted bar flagged {r['corrupted_bar_flagged_by_rules']:.0%}, "
              f"its pitch accuracy {r['corrupted_bar_pitch_accuracy']:.0%}; original acceptable to the filter "
              f"{r['original_bar_acceptable_to_the_rule_filter']:.0%}; model prefers the original to the corrupted bar "
              f"{r['model_prefers_original_bar_over_corrupted']:.0%}", flush=True)
        for name, v in r.items():
            if name.startswith(("closeness_", "previous_")):
                print(f"  {name}: top-1 restores {v['top1_restores']:.0%}, "
                      f"top-5 {v['top5_restores']:.0%}; pitch accuracy top-1 {v['top1_pitch_accuracy']:.0%}, best of 5 "
                      f"{v['best_of_5_pitch_accuracy']:.0%}; no acceptable suggestion {v['cases_with_no_acceptable_suggestion']:.0%}; "
                      f"top-1 free of any error/warning {v['top1_free_of_any_error_or_warning']:.0%}; "
                      f"{v['median_seconds_per_correction']:.2f} s each", flush=True)


# ---------------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------------
PREVIOUS = "4c80a3ef71d60709bcbdd15be15042734f3bd9e4"  # the generator and tutor.compose.suggest before this session's work


def previous_suggest():
    """``tutor.compose.suggest`` as of commit ``PREVIOUS`` on top of ``models/generator.py`` as of that commit,
    loaded from git (the peer the speed and repair results are compared with in the same run), or None
    when git or the commit is not available."""
    import subprocess
    import sys
    import types
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    modules = {}
    for name, path in (("_previous_generator", "models/generator.py"), ("_previous_suggest", "tutor/compose/suggest.py")):
        if name in sys.modules:
            modules[name] = sys.modules[name]
            continue
        try:
            source = subprocess.run(["git", "show", f"{PREVIOUS}:{path}"], cwd=root, capture_output=True, text=True,
                                    check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return None
        module = types.ModuleType(name)
        module.__file__ = str(root / path)  # WEIGHTS_PATH resolves to the same weights
        sys.modules[name] = module
        exec(compile(source.replace("tutor.models.generator", "_previous_generator"), f"{PREVIOUS[:7]}:{path}", "exec"),
             module.__dict__)
        modules[name] = module
    return modules["_previous_suggest"]


def speed(score, label: str) -> dict:
    """4 continuations of 4 bars: median of 5 runs, this implementation and the previous one alternately."""
    from tutor.compose.suggest import continue_piece

    previous = previous_suggest()
    continue_piece(score, bars=4, k=4, seed=0)  # warm-up (loads the model)
    if previous is not None:
        previous.continue_piece(score, bars=4, k=4, seed=0)
    times, peer_times, same = [], [], True
    for seed in range(5):
        started = time.perf_counter()
        suggestions = continue_piece(score, bars=4, k=4, seed=seed)
        times.append(time.perf_counter() - started)
        if previous is not None:
            started = time.perf_counter()
            before = previous.continue_piece(score, bars=4, k=4, seed=seed)
            peer_times.append(time.perf_counter() - started)
            same &= [s.to_json() for s in before] == [s.to_json() for s in suggestions]
    out = {"piece": label, "median_seconds_4x4": statistics.median(times), "all_seconds": times, "goal_seconds": 1.5}
    if peer_times:
        out.update({"previous_implementation": PREVIOUS, "previous_median_seconds_4x4": statistics.median(peer_times),
                    "previous_all_seconds": peer_times,
                    "speedup_vs_previous": statistics.median(peer_times) / statistics.median(times),
                    "same_suggestions_as_previous": same})
    return out


def main() -> None:
    import os

    import torch

    from tutor.models.generator import VOCAB, load_generator
    from tutor.models.training.generator_data import MELODY_CORPORA, load_corpus, score_from_tune

    torch.set_num_threads(1)
    started = time.perf_counter()
    model = load_generator()
    context = model.config.context
    train = [t for name in (*MELODY_CORPORA, "chorale") for t in load_corpus(name, "train")]
    ngram = NGram(NGRAM_ORDER, len(VOCAB))
    ngram.train(prompt + body for t in train for prompt, body, _ in piece_chunks(t, context))
    print(f"n-gram (order {NGRAM_ORDER}) trained on {len(train)} pieces in {time.perf_counter() - started:.0f} s", flush=True)
    jsb_test = [t for t in load_corpus("chorale", "test")]
    nottingham_test = load_corpus("nottingham", "test")
    results = {"load_average": os.getloadavg(), "model": getattr(model, "extra", {})}
    results["nll_jsb_test"] = held_out_nll(model, ngram, jsb_test, context)
    results["nll_nottingham_test"] = held_out_nll(model, ngram, nottingham_test, context)
    for name in ("nll_jsb_test", "nll_nottingham_test"):
        r = results[name]
        print(f"{name}: {r['pieces']} pieces, {r['tokens']} tokens: model {r['model_nats_per_token']:.3f} "
              f"vs {NGRAM_ORDER}-gram {r['ngram_nats_per_token']:.3f} nats/token "
              f"({r['model_nats_per_note']:.2f} vs {r['ngram_nats_per_note']:.2f} nats/note)", flush=True)
    results["speed"] = [
        speed(score_from_tune(nottingham_test[0]), f"nottingham test: {nottingham_test[0].title}"),
        speed(score_from_tune(jsb_test[0]), f"chorale test: {jsb_test[0].title}"),
    ]
    for r in results["speed"]:
        print(f"speed {r['piece']}: 4x4 bars in {r['median_seconds_4x4']:.2f} s (goal {r['goal_seconds']} s); previous "
              f"implementation {r.get('previous_median_seconds_4x4', float('nan')):.2f} s (x{r.get('speedup_vs_previous', 0):.2f}, "
              f"same suggestions: {r.get('same_suggestions_as_previous')})", flush=True)
    rng = random.Random(SEED)
    picks = {c: rng.sample(load_corpus(c, "test"), min(n, len(load_corpus(c, "test")))) for c, n in REPAIR_TUNES.items()}
    results["repair"] = repair(picks)
    print_repair(results["repair"])
    results["seconds"] = time.perf_counter() - started
    save("generator", results)


if __name__ == "__main__":
    main()
