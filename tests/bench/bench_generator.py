"""Generator benchmark: ``python -m tests.bench generator`` (about 10 minutes on a shared 2-core CPU).

1. Held-out negative log-likelihood (nats per token and per note, left to right) on the JSB
   chorales test split (the music21 encodings of the standard Boulanger-Lewandowski test pieces)
   and on the Nottingham test split, beside an interpolated n-gram (Markov) model over the same
   tokens, trained in this run on the same training pieces.
2. Repair: in held-out tunes one bar's pitches are replaced by wrong notes (rhythm kept); we ask
   ``tutor.suggest.correct_measures`` for 5 corrections and count how often the top-1 and any of
   the top-5 restore the original bar exactly, and how often suggestions are free of
   error/warning findings of ``tutor.rules.check_rules`` in the bar (the suggestions returned are
   all "acceptable" by construction: no error, no rule flagged in the bar still firing, no more
   warnings than the corrupted bar; the unfiltered top-1 shows what the filter removes).
3. Speed: 4 continuations of 4 bars (``continue_piece``), median of 5 runs after a warm-up, beside
   a peer measured in the same run: the same number of sampling steps without the key/value cache.
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

    from tutor.music import sort_notes

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


def fim_log_likelihood(tune, number: int, score, *, clean: bool) -> float:
    """log p(bar | bars around it) of the original (clean) or corrupted bar, as the corrector sees it."""
    from tutor.models.generator import EOM, MID, PRE, SUF, sequence_log_likelihood
    from tutor.suggest import _bars_after, _bars_before, _model, _tune_and_index

    corrupted, index = _tune_and_index(score, number, None)
    prompt = corrupted.cond_tokens() + [PRE] + _bars_before(corrupted, index, 150) + [SUF]
    prompt += _bars_after(corrupted, index + 1, 100) + [MID]
    source = tune if clean else corrupted
    return sequence_log_likelihood(_model(None), prompt, source.bar_tokens(index) + [EOM])


def repair(tunes_by_corpus: dict) -> dict:
    from tutor.models.generator_data import score_from_tune
    from tutor.rules import check_rules
    from tutor.suggest import apply_suggestion, correct_measures, remaining_problems, rules_style, violations

    rng = random.Random(SEED)
    out = {}
    for corpus, tunes in tunes_by_corpus.items():
        counts = Counter()
        seconds = []
        for tune in tunes:
            made = corrupt(score_from_tune(tune), rng)
            if made is None:
                continue
            score, number, original = made
            style = rules_style(None, tune.style)
            flagged = violations(score, number, number, check_rules, style=style)
            started = time.perf_counter()
            suggestions = correct_measures(score, first=number, last=number, k=5, seed=SEED)
            seconds.append(time.perf_counter() - started)
            counts["cases"] += 1
            counts["corrupted_bar_flagged"] += bool(flagged)
            if not suggestions:
                counts["empty"] += 1
            else:
                counts["top1"] += same_bar(suggestions[0].notes, original)
                counts["top5"] += any(same_bar(s.notes, original) for s in suggestions)
                found = [violations(apply_suggestion(score, s), number, number, check_rules, style=style) for s in suggestions]
                counts["top1_strict_clean"] += not found[0]
                counts["suggestions"] += len(suggestions)
                counts["suggestions_strict_clean"] += sum(not f for f in found)
                counts["top1_keeps_rhythm"] += suggestions[0].keeps_rhythm
            counts["prefers_original"] += fim_log_likelihood(tune, number, score, clean=True) > fim_log_likelihood(
                tune, number, score, clean=False)
            raw = correct_measures(score, first=number, last=number, k=1, seed=SEED, rule_check=None)
            if raw:
                found = violations(apply_suggestion(score, raw[0]), number, number, check_rules, style=style)
                counts["unfiltered_top1_strict_clean"] += not found
                counts["unfiltered_top1_acceptable"] += not remaining_problems(found, flagged)
                counts["unfiltered_top1_restores"] += same_bar(raw[0].notes, original)
        n = max(counts["cases"], 1)
        out[corpus] = {
            "cases": counts["cases"],
            "corrupted_bar_flagged_by_rules": counts["corrupted_bar_flagged"] / n,
            "top1_restores": counts["top1"] / n,
            "top5_restores": counts["top5"] / n,
            "cases_with_no_acceptable_suggestion": counts["empty"] / n,
            # acceptable = no error, no rule flagged in the corrupted bar still firing, no more warnings
            "suggestions_acceptable": 1.0,
            "top1_free_of_any_error_or_warning": counts["top1_strict_clean"] / n,
            "suggestions_free_of_any_error_or_warning": counts["suggestions_strict_clean"] / max(counts["suggestions"], 1),
            "top1_keeps_rhythm": counts["top1_keeps_rhythm"] / n,
            "model_prefers_original_bar_over_corrupted": counts["prefers_original"] / n,
            "unfiltered_top1_restores": counts["unfiltered_top1_restores"] / n,
            "unfiltered_top1_acceptable": counts["unfiltered_top1_acceptable"] / n,
            "unfiltered_top1_free_of_any_error_or_warning": counts["unfiltered_top1_strict_clean"] / n,
            "median_seconds_per_correction": statistics.median(seconds) if seconds else None,
        }
    return out


# ---------------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------------
def speed(score, label: str) -> dict:
    import torch

    from tutor.suggest import _model, continue_piece

    continue_piece(score, bars=4, k=4, seed=0)  # warm-up (loads the model)
    times = []
    for seed in range(5):
        started = time.perf_counter()
        suggestions = continue_piece(score, bars=4, k=4, seed=seed)
        times.append(time.perf_counter() - started)
    steps = max(len(s.notes) for s in suggestions) * 3 + 8  # about the tokens one sample took
    model = _model(None)
    prompt = torch.randint(8, 100, (4, 200))
    started = time.perf_counter()
    with torch.no_grad():
        sequence = prompt
        for _ in range(steps):
            logits = model(sequence[:, -model.config.context:])[:, -1]
            sequence = torch.cat([sequence, logits.argmax(-1, keepdim=True)], dim=1)
    peer = time.perf_counter() - started
    return {"piece": label, "median_seconds_4x4": statistics.median(times), "all_seconds": times,
            "peer_no_kv_cache_seconds": peer, "goal_seconds": 1.5}


def main() -> None:
    import os

    import torch

    from tutor.models.generator import VOCAB, load_generator
    from tutor.models.generator_data import MELODY_CORPORA, load_corpus, score_from_tune

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
        print(f"speed {r['piece']}: 4x4 bars in {r['median_seconds_4x4']:.2f} s (goal {r['goal_seconds']} s); "
              f"peer without KV cache {r['peer_no_kv_cache_seconds']:.2f} s", flush=True)
    rng = random.Random(SEED)
    picks = {c: rng.sample(load_corpus(c, "test"), min(n, len(load_corpus(c, "test")))) for c, n in REPAIR_TUNES.items()}
    results["repair"] = repair(picks)
    for corpus, r in results["repair"].items():
        print(f"repair {corpus}: {r['cases']} bars: top-1 restores {r['top1_restores']:.0%}, top-5 {r['top5_restores']:.0%} "
              f"(unfiltered top-1 {r['unfiltered_top1_restores']:.0%}); no acceptable suggestion "
              f"{r['cases_with_no_acceptable_suggestion']:.0%}; top-1 free of any error/warning "
              f"{r['top1_free_of_any_error_or_warning']:.0%} (unfiltered {r['unfiltered_top1_free_of_any_error_or_warning']:.0%}, "
              f"unfiltered acceptable {r['unfiltered_top1_acceptable']:.0%}); "
              f"{r['median_seconds_per_correction']:.2f} s each; the model prefers the original bar to the corrupted one "
              f"in {r['model_prefers_original_bar_over_corrupted']:.0%}", flush=True)
    results["seconds"] = time.perf_counter() - started
    save("generator", results)


if __name__ == "__main__":
    main()
