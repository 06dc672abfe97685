"""Self-supervised pretraining of the emotion model's sequence member: ``python -m models.training.pretrain_events``.

The embedding and the two LSTMs of ``models.encoder.SequenceLSTMNet`` (as
``models.emotion_sequence`` configures it for MIDI-like events) are trained as a bidirectional event
language model, as ELMo does: the forward LSTM's state at step t predicts event t+1, the backward
LSTM's state predicts event t-1. Data, all unlabelled expressive piano performances:

* ``../shared/data/nasap-dev``: the human performance MIDIs listed in ``metadata.csv``;
* ``../shared/data/vienna4x22/midi``: the performances (the ``-average`` files are left out: not played);
* EMOPIA's **train and validation** clips, their events without labels (never the test clips).

Random ``WINDOW``-event windows (a piece is drawn in proportion to its length) with a random
transposition of up to ``TRANSPOSE`` semitones, AdamW with a cosine schedule, a fixed number of steps,
seeded. A few performances are held out to report the language model's next-event accuracy.
The encoder weights (~0.3 MB, an intermediate: git-ignored) go to
``models/.cache/emotion_events_pretrained.pt``; the emotion model starts its sequence members from
them with ``python -m models.training.train_emotion --sequence-init PATH``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from ..emotion_features import EVENT_VOCAB, event_tokens
from ..emotion_sequence import WINDOW, _transpose, new_sequence_net, sequence_config
from .emotion_data import EMOPIA, load_emopia
from .sequence_member import ENCODER_KEYS, TRANSPOSE

HERE = Path(__file__).resolve().parents[1]  # the models folder: the cache stays in models/.cache
DATA = HERE.parent.parent / "shared" / "data"
CACHE = HERE / ".cache" / "pretrain_events_v1.npz"
OUTPUT = HERE / ".cache" / "emotion_events_pretrained.pt"  # an intermediate, git-ignored
MAX_EVENTS = 200_000  # per performance (a long sonata movement has ~30 000)


def _performance_paths() -> list[Path]:
    paths = []
    nasap = DATA / "nasap-dev"
    with open(nasap / "metadata.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            paths.append(nasap / row["midi_performance"])
    paths += sorted(p for p in (DATA / "vienna4x22" / "midi").glob("*.mid") if "average" not in p.stem)
    return [p for p in dict.fromkeys(paths) if p.exists()]


def unlabelled_events(root: Path = EMOPIA) -> tuple[list[np.ndarray], list[str]]:
    """The event arrays of every pretraining performance and their names (cached in ``CACHE``):
    nasap-dev and vienna4x22 performances, then EMOPIA's train and validation clips (no labels)."""
    if CACHE.exists():
        cached = np.load(CACHE, allow_pickle=False)
        ends = np.cumsum(cached["lengths"])
        return np.split(cached["events"], ends[:-1]), cached["names"].tolist()
    from ..features import table_from_midi

    pieces, names = [], []
    for path in _performance_paths():
        pieces.append(event_tokens(table_from_midi(path), max_events=MAX_EVENTS).astype(np.int16))
        names.append(str(path.relative_to(DATA)))
    data = load_emopia(root)
    for split in ("train", "val"):  # never the test split
        for name, events in zip(data[split]["names"], data[split]["events"], strict=True):
            pieces.append(events[events > 0].astype(np.int16))
            names.append(f"emopia/{name}")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(CACHE, events=np.concatenate(pieces), lengths=np.array([len(p) for p in pieces]),
                        names=np.array(names))
    return pieces, names


def _windows(pieces: list[np.ndarray], count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random WINDOW-event windows (right-padded where a piece is shorter), transposed."""
    lengths = np.array([len(p) for p in pieces], dtype=np.float64)
    chosen = rng.choice(len(pieces), size=count, p=lengths / lengths.sum())
    out = np.zeros((count, WINDOW), dtype=np.int64)
    for row, piece in enumerate(chosen):
        events = pieces[piece]
        start = int(rng.integers(0, max(1, len(events) - WINDOW + 1)))
        part = events[start:start + WINDOW]
        out[row, : len(part)] = part
    return _transpose(out, rng.integers(-TRANSPOSE, TRANSPOSE + 1, count))


def language_model_loss(net, heads, tokens):
    """(loss, next-event accuracy) of the bidirectional event language model on (batch, length) events."""
    import torch

    ahead, back, mask = net.lstm_states(tokens[..., None])
    forward_logits = heads["next"](ahead[:, :-1])  # state t -> event t+1
    backward_logits = heads["previous"](back[:, 1:])  # state t -> event t-1
    targets_next, targets_previous = tokens[:, 1:], tokens[:, :-1]
    logits = torch.cat([forward_logits, backward_logits]).reshape(-1, EVENT_VOCAB)
    targets = torch.cat([targets_next, targets_previous]).reshape(-1)
    valid = torch.cat([mask[:, 1:], mask[:, 1:]]).reshape(-1)  # both ends inside the piece
    loss = torch.nn.functional.cross_entropy(logits[valid], targets[valid])
    accuracy = (logits[valid].argmax(-1) == targets[valid]).float().mean()
    return loss, float(accuracy)


def encoder_state(net) -> dict:
    return {k: v.detach().clone() for k, v in net.state_dict().items() if k.startswith(ENCODER_KEYS)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    pieces, names = unlabelled_events()
    is_emopia = np.array([n.startswith("emopia/") for n in names])
    # hold out every 20th performance outside EMOPIA to report the language model on unseen playing
    others = np.flatnonzero(~is_emopia)
    held_ids = set(others[::20].tolist())
    train = [p for i, p in enumerate(pieces) if i not in held_ids and len(p) > 1]
    held = [pieces[i] for i in sorted(held_ids)]
    print(f"{len(pieces)} performances, {sum(map(len, pieces))} events ({int(is_emopia.sum())} EMOPIA train+val "
          f"clips: {sum(len(p) for p, e in zip(pieces, is_emopia, strict=True) if e)} events); "
          f"{len(held)} held out ({time.perf_counter() - started:.0f} s)", flush=True)
    held_windows = torch.tensor(_windows(held, 64, np.random.default_rng(12345)))

    net = new_sequence_net(sequence_config("events", 0))
    hidden = net.forward_lstm.hidden_size
    heads = torch.nn.ModuleDict({"next": torch.nn.Linear(hidden, EVENT_VOCAB),
                                 "previous": torch.nn.Linear(hidden, EVENT_VOCAB)})
    params = [p for name, p in net.named_parameters() if name.startswith(ENCODER_KEYS)] + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps,
                                                    pct_start=0.05)
    net.train()
    running = []
    for step in range(args.steps):
        tokens = torch.tensor(_windows(train, args.batch, rng))
        loss, accuracy = language_model_loss(net, heads, tokens)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        running.append((float(loss.detach()), accuracy))
        if (step + 1) % 200 == 0 or step + 1 == args.steps:
            net.eval()
            with torch.no_grad():
                held_loss, held_accuracy = language_model_loss(net, heads, held_windows)
            net.train()
            recent = np.mean(running[-200:], axis=0)
            print(f"  step {step + 1}: train loss {recent[0]:.3f} accuracy {recent[1]:.3f}; held-out loss "
                  f"{float(held_loss):.3f} accuracy {held_accuracy:.3f} ({time.perf_counter() - started:.0f} s)",
                  flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": sequence_config("events", 0), "encoder": encoder_state(net),
                "steps": args.steps, "batch": args.batch, "lr": args.lr, "seed": args.seed,
                "held_out_loss": float(held_loss), "held_out_accuracy": held_accuracy,
                "performances": len(train)}, args.output)
    print(f"encoder: {args.output} ({args.output.stat().st_size / 1e6:.2f} MB, "
          f"{time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
