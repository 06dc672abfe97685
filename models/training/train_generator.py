"""Train the generator: ``nice -n 5 python -m models.training.train_generator`` (20 minutes of training on 2 CPU
cores; the first run also builds the corpus cache, see generator_data.py).

Curriculum: folk melodies only for the first part of the time budget, then melodies and
four-voice chorales mixed. Every piece is transposed by a random interval (key token moved with
it) each time it is drawn. Each training sequence is either a left-to-right window of bars or a
fill-in-the-middle example (1-4 middle bars between a prefix and a suffix), so that one model both
continues and infills. Training runs for a fixed wall-clock budget with a cosine learning-rate
schedule over that budget, then writes ``models/weights/generator.pt`` (float16, a few MB).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from ..generator import (
    BOS,
    EOM,
    EOS,
    MID,
    PAD,
    PITCH0,
    PITCH_HIGH,
    PITCH_LOW,
    PRE,
    SUF,
    WEIGHTS_PATH,
    Generator,
    GeneratorConfig,
    Tune,
    key_token,
    load_generator,
    save_weights,
    transposed_key,
)
from .generator_data import MELODY_CORPORA, load_corpus

# how often each corpus is drawn in the mixed phase (melodies keep most of the weight)
MIX_WEIGHTS = {"nottingham": 0.2, "essen": 0.15, "oneills": 0.15, "ryans": 0.15, "chorale": 0.35}
MELODY_PHASE = 0.45  # fraction of the time budget spent on melodies only
FIM_RATE = 0.6
MAX_MIDDLE_BARS = 4


class EncodedTune:
    """A tune's conditioning and per-bar token lists, ready for fast sampling of windows."""

    def __init__(self, tune: Tune) -> None:
        self.tune = tune
        self.bars = [tune.bar_tokens(i) for i in range(len(tune.bars))]
        pitches = [n.pitch for bar in tune.bars for n in bar]
        self.low, self.high = min(pitches), max(pitches)

    def cond(self, semitones: int) -> list[int]:
        cond = self.tune.cond_tokens()
        cond[1] = key_token(transposed_key(self.tune.fifths, semitones) if semitones else self.tune.fifths, self.tune.mode)
        return cond

    def bar(self, index: int, semitones: int) -> list[int]:
        tokens = self.bars[index]
        if not semitones:
            return tokens
        shift = semitones
        return [t + shift if PITCH0 <= t < PITCH0 + PITCH_HIGH - PITCH_LOW + 1 else t for t in tokens]


def make_example(item: EncodedTune, rng: random.Random, *, context: int, fim: bool, augment: bool = True) -> list[int]:
    semitones = 0
    if augment:
        choices = [s for s in range(-5, 7) if item.low + s >= PITCH_LOW + 2 and item.high + s <= PITCH_HIGH - 2]
        semitones = rng.choice(choices) if choices else 0
    bars = item.bars
    n = len(bars)
    budget = context - 6
    start = 0 if rng.random() < 0.3 else rng.randrange(n)
    end = start
    used = 0
    while end < n and used + len(bars[end]) <= budget:
        used += len(bars[end])
        end += 1
    if end == start:  # one bar longer than the context: skip it
        return []
    cond = item.cond(semitones)
    window = [item.bar(i, semitones) for i in range(start, end)]
    if not fim or len(window) < 2:
        tokens = cond + [BOS] + [t for bar in window for t in bar]
        if end == n:
            tokens.append(EOS)
        return tokens
    length = rng.randint(1, min(MAX_MIDDLE_BARS, len(window) - 1))
    middle = rng.randrange(0, len(window) - length + 1)
    prefix = [t for bar in window[:middle] for t in bar]
    centre = [t for bar in window[middle:middle + length] for t in bar]
    suffix = [t for bar in window[middle + length:] for t in bar]
    return cond + [PRE] + prefix + [SUF] + suffix + [MID] + centre + [EOM]


def batch_tensor(examples: list[list[int]]) -> torch.Tensor:
    width = max(len(e) for e in examples)
    out = torch.full((len(examples), width), PAD, dtype=torch.long)
    for row, example in enumerate(examples):
        out[row, : len(example)] = torch.tensor(example)
    return out


def sequence_loss(model: Generator, tokens: torch.Tensor) -> torch.Tensor:
    logits = model(tokens[:, :-1])
    targets = tokens[:, 1:].clone()
    targets[:, :2] = PAD  # the conditioning tokens are given, not predicted
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD)


def evaluate(model: Generator, items: list[EncodedTune], *, context: int, seed: int = 0, count: int = 200) -> float:
    """Mean token NLL (nats) on fixed examples (half continuation, half FIM, untransposed)."""
    rng = random.Random(seed)
    examples = [make_example(rng.choice(items), rng, context=context, fim=i % 2 == 1, augment=False) for i in range(count)]
    examples = [e for e in examples if e]
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), 16):
            batch = batch_tensor(examples[start:start + 16])
            n = int((batch[:, 3:] != PAD).sum())
            total += float(sequence_loss(model, batch)) * n
            tokens += n
    model.train()
    return total / max(tokens, 1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="train the phrase generator (continuation + infilling)")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock training budget")
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--context", type=int, default=384, help="training sequence length in tokens (= the model's context)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared 2-core CPU (2 threads spin against other jobs)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these weights (continue training) instead of from scratch")
    parser.add_argument("--melody-phase", type=float, default=MELODY_PHASE,
                        help="fraction of the budget on melodies only before chorales join (default %(default)s)")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    corpora = {}
    for name in (*MELODY_CORPORA, "chorale"):
        corpora[name] = [EncodedTune(t) for t in load_corpus(name, "train")]
        print(f"{name}: {len(corpora[name])} training pieces", flush=True)
    validation = [EncodedTune(t) for name in (*MELODY_CORPORA, "chorale") for t in load_corpus(name, "val")]
    print(f"data ready in {time.perf_counter() - started:.0f} s; {len(validation)} validation pieces", flush=True)

    config = GeneratorConfig(context=args.context, d_model=128, n_layers=4, n_heads=4, d_ff=512, dropout=0.0)
    model = Generator(config)
    history = []
    if args.init is not None:
        start = load_generator(args.init)
        config = start.config
        model = Generator(config)
        model.load_state_dict(start.state_dict())
        history = list(getattr(start, "extra", {}).get("history", [])) or [getattr(start, "extra", {})]
        print(f"continuing from {args.init}", flush=True)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98)
    )
    budget_s = args.minutes * 60
    train_start = time.perf_counter()
    melody_weights = {n: len(corpora[n]) ** 0.5 for n in MELODY_CORPORA}
    step = 0
    smoothed = None
    while True:
        fraction = (time.perf_counter() - train_start) / budget_s
        if fraction >= 1:
            break
        weights = melody_weights if fraction < args.melody_phase else MIX_WEIGHTS
        names = list(weights)
        warm = min(1.0, (step + 1) / 100)
        lr = args.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * fraction)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        examples = []
        while len(examples) < args.batch:
            name = rng.choices(names, weights=[weights[n] for n in names])[0]
            example = make_example(rng.choice(corpora[name]), rng, context=args.context, fim=rng.random() < FIM_RATE)
            if example:
                examples.append(example)
        loss = sequence_loss(model, batch_tensor(examples))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        value = loss.item()
        smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
        if step % 50 == 0:
            elapsed = time.perf_counter() - train_start
            print(f"step {step} {elapsed / 60:.1f} min lr {lr:.2e} loss {smoothed:.3f}", flush=True)
        if step % 500 == 0:
            save_weights(model, args.out, extra={"steps": step, "partial": True})
    val_nll = evaluate(model, validation, context=args.context)
    print(f"done: {step} steps in {(time.perf_counter() - train_start) / 60:.1f} min; validation NLL {val_nll:.3f} nats/token")
    run = {
        "steps": step,
        "minutes": round((time.perf_counter() - train_start) / 60, 1),
        "val_nll": round(val_nll, 4),
        "train_args": {k: str(v) for k, v in vars(args).items()},
    }
    save_weights(model, args.out, extra={**run, "config": asdict(config), "history": [*history, run]})
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
