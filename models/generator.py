"""The phrase generator: a small decoder-only transformer that continues music and fills in the middle.

A sequence is ``STYLE_s KEY_k METER_m`` then ``BOS bar bar ... [EOS]`` (continuation) or
``PRE prefix-bars SUF suffix-bars MID middle-bars EOM`` (fill in the middle); a bar is ``BAR`` then, per
onset, ``POS_p`` (twelfths of a quarter note from the bar's start) and ``[VOICE_v] PITCH_x DUR_d`` per note
starting there (``VOICE`` only in multi-voice music). ``tune_from_score``, ``encode_bar`` and
``decode_bars`` convert; ``load_generator`` loads the weights; ``sample`` and ``search`` decode with a
key/value cache. Vocabulary (and why not miditok), training and results: ``models/cards/generator.md``.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "generator.pt"

# ---------------------------------------------------------------------------------------------
# vocabulary
# ---------------------------------------------------------------------------------------------
TICKS_PER_QL = 12  # position grid: twelfths of a quarter note (16ths and 8th triplets)
MAX_BAR_TICKS = 8 * TICKS_PER_QL  # bars up to 8 quarter notes (4/2)
PITCH_LOW, PITCH_HIGH = 21, 108
MAX_VOICES = 4
STYLES = ("nottingham", "essen", "oneills", "ryans", "chorale")
METERS = ("2/4", "3/4", "4/4", "2/2", "3/2", "4/2", "3/8", "6/8", "9/8", "12/8", "6/4", "5/4", "other")
DURATION_TICKS = (
    1, 2, 3, 4, 6, 8, 9, 10, 12, 14, 15, 16, 18, 20, 21, 24, 27, 30, 32, 33, 36, 42, 45, 48,
    54, 60, 66, 72, 84, 96, 108, 120, 144, 168, 192,
)
SPECIALS = ("PAD", "BOS", "EOS", "PRE", "SUF", "MID", "EOM", "BAR")


def _build_vocab() -> list[str]:
    tokens = list(SPECIALS)
    tokens += [f"STYLE_{s}" for s in STYLES]
    tokens += [f"KEY_{f}_{m}" for m in ("major", "minor") for f in range(-7, 8)]
    tokens += [f"METER_{m}" for m in METERS]
    tokens += [f"POS_{p}" for p in range(MAX_BAR_TICKS)]
    tokens += [f"VOICE_{v}" for v in range(MAX_VOICES)]
    tokens += [f"PITCH_{p}" for p in range(PITCH_LOW, PITCH_HIGH + 1)]
    tokens += [f"DUR_{d}" for d in DURATION_TICKS]
    return tokens


VOCAB = tuple(_build_vocab())
TOKEN_ID = {t: i for i, t in enumerate(VOCAB)}
PAD, BOS, EOS, PRE, SUF, MID, EOM, BAR = (TOKEN_ID[s] for s in SPECIALS)
POS0 = TOKEN_ID["POS_0"]
VOICE0 = TOKEN_ID["VOICE_0"]
PITCH0 = TOKEN_ID[f"PITCH_{PITCH_LOW}"]
DUR0 = TOKEN_ID[f"DUR_{DURATION_TICKS[0]}"]
KEY0 = TOKEN_ID["KEY_-7_major"]
N_PITCHES = PITCH_HIGH - PITCH_LOW + 1


def key_token(fifths: int, mode: str | None) -> int:
    fifths = max(-7, min(7, int(fifths)))
    return TOKEN_ID[f"KEY_{fifths}_{'minor' if mode == 'minor' else 'major'}"]


def meter_token(meter: str) -> int:
    return TOKEN_ID[f"METER_{meter if meter in METERS else 'other'}"]


def style_token(style: str) -> int:
    return TOKEN_ID[f"STYLE_{style}"]


def duration_index(ticks: float) -> int:
    """Index of the nearest duration in the vocabulary (nearest on a log scale)."""
    ticks = max(1.0, float(ticks))
    return min(range(len(DURATION_TICKS)), key=lambda i: abs(math.log(DURATION_TICKS[i] / ticks)))


def is_pitch(token: int) -> bool:
    return PITCH0 <= token < PITCH0 + N_PITCHES


def is_pos(token: int) -> bool:
    return POS0 <= token < POS0 + MAX_BAR_TICKS


def is_dur(token: int) -> bool:
    return DUR0 <= token < DUR0 + len(DURATION_TICKS)


def is_voice(token: int) -> bool:
    return VOICE0 <= token < VOICE0 + MAX_VOICES


# ---------------------------------------------------------------------------------------------
# pieces as bars of tokens
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TuneNote:
    onset_ticks: int  # from the bar's start
    duration_ticks: int
    pitch: int
    voice: int


@dataclass
class Tune:
    """A piece reduced to what the model sees: style, key, meter and notes bar by bar."""

    style: str
    fifths: int
    mode: str | None
    meter: str
    bar_ticks: list[int]  # length of each bar
    bars: list[list[TuneNote]]  # notes starting in each bar
    title: str = ""
    multi_voice: bool = False
    extra: dict = field(default_factory=dict)

    def cond_tokens(self) -> list[int]:
        return [style_token(self.style), key_token(self.fifths, self.mode), meter_token(self.meter)]

    def bar_tokens(self, index: int) -> list[int]:
        return encode_bar(self.bars[index], multi_voice=self.multi_voice)


def encode_bar(notes: list[TuneNote], *, multi_voice: bool) -> list[int]:
    tokens = [BAR]
    current = None
    for note in sorted(notes, key=lambda n: (n.onset_ticks, n.voice, -n.pitch)):
        if note.onset_ticks != current:
            tokens.append(POS0 + note.onset_ticks)
            current = note.onset_ticks
        if multi_voice:
            tokens.append(VOICE0 + note.voice)
        tokens.append(PITCH0 + note.pitch - PITCH_LOW)
        tokens.append(DUR0 + duration_index(note.duration_ticks))
    return tokens


def decode_bars(tokens: list[int]) -> list[list[TuneNote]]:
    """Bars of notes from generated tokens (the inverse of ``encode_bar``; tolerant of junk)."""
    bars: list[list[TuneNote]] = []
    position = 0
    voice = 0
    pitch = None
    for token in tokens:
        if token == BAR:
            bars.append([])
            position, voice, pitch = 0, 0, None
        elif not bars:
            continue
        elif is_pos(token):
            position, voice = token - POS0, 0
        elif is_voice(token):
            voice = token - VOICE0
        elif is_pitch(token):
            pitch = token - PITCH0 + PITCH_LOW
        elif is_dur(token) and pitch is not None:
            bars[-1].append(TuneNote(position, DURATION_TICKS[token - DUR0], pitch, voice))
            pitch = None
    return bars


def tune_from_score(score, *, style: str | None = None, max_voices: int = MAX_VOICES) -> Tune | None:
    """The model's view of a ``tutor.score.music.Score`` (None when it cannot be represented).

    Parts map to voices in score order (at most ``max_voices``); zero-length notes (chord
    symbols) are dropped; positions snap to the twelfth-of-a-quarter grid.
    """
    if not score.measures:
        return None
    parts = [p.id for p in score.parts][:max_voices]
    voice_of = {part: index for index, part in enumerate(parts)}
    multi = len(parts) > 1
    if style is None:
        style = "chorale" if multi else "nottingham"
    bar_ticks = [max(1, round(m.duration_ql * TICKS_PER_QL)) for m in score.measures]
    if max(bar_ticks) > MAX_BAR_TICKS:
        return None
    starts = [m.start_ql for m in score.measures]
    bars: list[list[TuneNote]] = [[] for _ in score.measures]
    import bisect

    for note in score.notes:
        if note.duration_ql <= 0 or note.part not in voice_of:
            continue
        index = bisect.bisect_right(starts, note.onset_ql + 1e-6) - 1
        if index < 0:
            continue
        ticks = round((note.onset_ql - starts[index]) * TICKS_PER_QL)
        if ticks >= bar_ticks[index]:
            if index + 1 < len(bars):
                index, ticks = index + 1, 0
            else:
                continue
        pitch = note.pitch
        while pitch < PITCH_LOW:
            pitch += 12
        while pitch > PITCH_HIGH:
            pitch -= 12
        bars[index].append(TuneNote(ticks, max(1, round(note.duration_ql * TICKS_PER_QL)), pitch, voice_of[note.part]))
    ks = score.key_signatures[0] if score.key_signatures else None
    return Tune(
        style=style,
        fifths=ks.fifths if ks else 0,
        mode=ks.mode if ks else None,
        meter=score.time_signature,
        bar_ticks=bar_ticks,
        bars=bars,
        title=score.title,
        multi_voice=multi,
    )


def transposed_key(fifths: int, semitones: int) -> int:
    """Key signature (fifths) after transposing by ``semitones``, at most 6 accidentals."""
    value = (fifths + 7 * semitones) % 12
    return value - 12 if value > 6 else value


# ---------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratorConfig:
    vocab_size: int = len(VOCAB)
    context: int = 512
    d_model: int = 192
    n_layers: int = 4
    n_heads: int = 6
    d_ff: int = 768
    dropout: float = 0.1


class _Block(nn.Module):
    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.norm1 = nn.LayerNorm(config.d_model)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.ff = nn.Sequential(nn.Linear(config.d_model, config.d_ff), nn.GELU(), nn.Linear(config.d_ff, config.d_model))
        self.dropout = nn.Dropout(config.dropout)
        self.attn_dropout = config.dropout

    def forward(self, x, cache=None, start: int = 0):
        """``cache``: None (training) or a preallocated (keys, values) pair of shape
        (batch, heads, context, head_width) into which this call writes positions
        start..start+length and attends over 0..start+length."""
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(width, dim=2)
        shape = (batch, length, self.n_heads, width // self.n_heads)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            keys, values = cache
            keys[:, :, start:start + length] = k
            values[:, :, start:start + length] = v
            k, v = keys[:, :, : start + length], values[:, :, : start + length]
        if length == 1:
            attn = F.scaled_dot_product_attention(q, k, v)
        elif start:
            mask = torch.ones(length, start + length, dtype=torch.bool, device=x.device).tril(start)
            attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            attn = F.scaled_dot_product_attention(
                q, k, v, is_causal=True, dropout_p=self.attn_dropout if self.training else 0.0
            )
        attn = attn.transpose(1, 2).reshape(batch, length, width)
        x = x + self.dropout(self.proj(attn))
        x = x + self.dropout(self.ff(self.norm2(x)))
        return x


class Generator(nn.Module):
    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config or GeneratorConfig()
        c = self.config
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.position = nn.Embedding(c.context, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(_Block(c) for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied
        self.apply(self._init)

    @staticmethod
    def _init(module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, tokens, caches=None, start: int = 0):
        """Logits for ``tokens`` (batch, length) at positions start..; ``caches`` (from
        ``new_caches``) keep keys and values between calls when sampling."""
        length = tokens.shape[1]
        positions = torch.arange(start, start + length, device=tokens.device).clamp(max=self.config.context - 1)
        x = self.drop(self.embed(tokens) + self.position(positions))
        for index, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[index], start)
        return self.head(self.norm(x))

    def decode_step(self, tokens, caches, position: int):
        """Logits (batch, vocab) for one new token per row (``tokens``: (batch,)) at ``position``:
        the same as ``forward(tokens[:, None], caches, position)[:, -1]`` in eval mode, written with
        the functional ops directly (a sampling step is a few dozen tiny ops, so per-call overhead
        of the module tree is a third of its time on CPU)."""
        c = self.config
        batch, width, heads = tokens.shape[0], c.d_model, c.n_heads
        position = min(position, c.context - 1)
        if getattr(self, "_step_weights", None) is None:  # looked up once (module attribute access is slow)
            self._step_weights = [
                (b.norm1.weight, b.norm1.bias, b.qkv.weight, b.qkv.bias, b.proj.weight, b.proj.bias, b.norm2.weight,
                 b.norm2.bias, b.ff[0].weight, b.ff[0].bias, b.ff[2].weight, b.ff[2].bias)
                for b in self.blocks
            ]
        x = self.embed.weight[tokens] + self.position.weight[position]
        for weights, (keys, values) in zip(self._step_weights, caches, strict=True):
            n1w, n1b, qkv_w, qkv_b, proj_w, proj_b, n2w, n2b, ff1_w, ff1_b, ff2_w, ff2_b = weights
            qkv = F.linear(F.layer_norm(x, (width,), n1w, n1b), qkv_w, qkv_b)
            q, k, v = qkv.view(batch, 3, heads, 1, width // heads).unbind(1)
            keys[:, :, position] = k[:, :, 0]
            values[:, :, position] = v[:, :, 0]
            attn = F.scaled_dot_product_attention(q, keys[:, :, : position + 1], values[:, :, : position + 1])
            x = x + F.linear(attn.view(batch, width), proj_w, proj_b)
            x = x + F.linear(F.gelu(F.linear(F.layer_norm(x, (width,), n2w, n2b), ff1_w, ff1_b)), ff2_w, ff2_b)
        return F.linear(F.layer_norm(x, (width,), self.norm.weight, self.norm.bias), self.head.weight)

    def new_caches(self, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        c = self.config
        shape = (batch, c.n_heads, c.context, c.d_model // c.n_heads)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in self.blocks]


def save_weights(model: Generator, path: Path, *, extra: dict | None = None) -> None:
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items() if k != "head.weight"}
    payload = {"config": dict(model.config.__dict__), "state": state, "vocab": list(VOCAB), "extra": extra or {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_generator(path: Path | None = None) -> Generator:
    """The trained generator (float32, eval mode); ModelError when the weights are missing or stale."""
    from tutor.errors import ModelError

    path = Path(path or WEIGHTS_PATH)
    if not path.exists():
        raise ModelError("generator weights are missing; train them with python -m models.training.train_generator", path=path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:  # unreadable, truncated, not weights
        raise ModelError(f"cannot load generator weights ({error})", path=path) from None
    if list(payload.get("vocab", [])) != list(VOCAB):
        raise ModelError("generator weights were trained with another vocabulary; retrain them", path=path)
    config = GeneratorConfig(**{**payload["config"], "dropout": 0.0})
    model = Generator(config)
    state = {k: v.float() for k, v in payload["state"].items()}
    state["head.weight"] = state["embed.weight"]
    model.load_state_dict(state)
    model.eval()
    model.extra = payload.get("extra", {})
    return model


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------
@dataclass
class _Grammar:
    """Which tokens may come next in one sample (keeps every sample a well-formed run of bars)."""

    bar_ticks: list[int]
    multi_voice: bool
    end_tokens: tuple[int, ...]
    bars_done: int = 0
    position: int = -1
    last_voice: int = -1
    state: str = "start"  # start | bar | pos | voice | pitch | dur | end
    previous: dict = field(default_factory=dict)  # voice -> its last pitch (part writing only)
    leap: dict = field(default_factory=dict)  # voice -> its last melodic interval in semitones
    before: dict = field(default_factory=dict)  # voice -> its pitch before the current onset

    @classmethod
    def after(cls, bar_ticks, multi_voice: bool, end_tokens, previous_pitches: dict | None) -> _Grammar:
        """A grammar for the bars after a prompt whose voices last played ``previous_pitches``
        (voice -> its pitches, oldest first)."""
        pitches = previous_pitches or {}
        return cls(list(bar_ticks), multi_voice, tuple(end_tokens),
                   previous={v: p[-1] for v, p in pitches.items() if p},
                   leap={v: p[-1] - p[-2] for v, p in pitches.items() if len(p) >= 2})

    def pitch_ranges(self) -> list[tuple[int, int]]:
        """Pitch tokens allowed now. In part writing (several voices) the sampler keeps the
        voice-leading rules the critique checks: a voice moves at most a fifth (or exactly an
        octave), steps back after a leap of a sixth or more, stays below the voices above it and
        above the voices below it (no crossing) and does not pass a neighbour's previous note
        (no overlap)."""
        if not self.multi_voice:
            return [(PITCH0, PITCH0 + N_PITCHES)]
        voice = max(self.last_voice, 0)
        uppers = [p for v, p in self.previous.items() if v < voice] + [p for v, p in self.before.items() if v < voice]
        lowers = [p for v, p in self.previous.items() if v > voice] + [p for v, p in self.before.items() if v > voice]
        low = max(lowers, default=PITCH_LOW - 1) + 1
        high = min(uppers, default=PITCH_HIGH + 1) - 1
        windows = [(PITCH_LOW, PITCH_HIGH)]
        if voice in self.previous:
            last = self.previous[voice]
            leap = self.leap.get(voice, 0)
            if abs(leap) >= 8 and abs(leap) != 12:  # recover the leap: step back
                windows = [(last - 4, last - 1)] if leap > 0 else [(last + 1, last + 4)]
            else:
                windows = [(last - 7, last + 7), (last - 12, last - 12), (last + 12, last + 12)]
        # no parallel fifths or octaves with a voice above that moved at this onset
        forbidden: set[int] = set()  # pitch classes
        mine = self.before.get(voice)
        for upper, now in self.previous.items():
            was = self.before.get(upper)
            if upper < voice and was is not None and mine is not None and was != now and (was - mine) % 12 in (0, 7):
                forbidden.add((now - (was - mine)) % 12)
        for bounds, skip in (((low, high), forbidden), ((low, high), set()), ((PITCH_LOW, PITCH_HIGH), set())):
            allowed = sorted({
                p for a, b in windows for p in range(max(a, bounds[0], PITCH_LOW), min(b, bounds[1], PITCH_HIGH) + 1)
                if p % 12 not in skip or p == mine
            })
            if allowed:
                return _runs([PITCH0 + p - PITCH_LOW for p in allowed])
        return [(PITCH0, PITCH0 + N_PITCHES)]

    def allowed(self) -> list[tuple[int, int]]:
        """Allowed token id ranges [low, high)."""
        n = len(self.bar_ticks)
        if self.state == "end":
            return [(PAD, PAD + 1)]
        if self.state == "start":
            return [(BAR, BAR + 1)]
        if self.state == "pos":
            return [(VOICE0 + self.last_voice + 1, VOICE0 + MAX_VOICES)] if self.multi_voice else self.pitch_ranges()
        if self.state == "voice":
            return self.pitch_ranges()
        if self.state == "pitch":
            room = self.bar_ticks[self.bars_done - 1] - self.position
            count = sum(1 for d in DURATION_TICKS if d <= room) or 1
            return [(DUR0, DUR0 + count)]
        out = []
        length = self.bar_ticks[self.bars_done - 1]
        if self.position + 1 < length:
            out.append((POS0 + self.position + 1, POS0 + length))
        if self.state == "dur" and self.multi_voice and self.last_voice + 1 < MAX_VOICES:
            out.append((VOICE0 + self.last_voice + 1, VOICE0 + MAX_VOICES))
        if self.bars_done < n:
            out.append((BAR, BAR + 1))
        else:
            out += [(t, t + 1) for t in self.end_tokens]
        return out

    def clone(self) -> _Grammar:
        return replace(self, previous=dict(self.previous), leap=dict(self.leap), before=dict(self.before))

    def advance(self, token: int) -> None:
        if token in self.end_tokens and self.bars_done >= len(self.bar_ticks):
            self.state = "end"
        elif token == BAR:
            self.bars_done += 1
            self.position, self.last_voice, self.state = -1, -1, "bar"
        elif is_pos(token):
            self.position, self.last_voice, self.state = token - POS0, -1, "pos"
            self.before = dict(self.previous)
        elif is_voice(token):
            self.last_voice, self.state = token - VOICE0, "voice"
        elif is_pitch(token):
            self.state = "pitch"
            pitch = token - PITCH0 + PITCH_LOW
            voice = max(self.last_voice, 0)
            if voice in self.previous:
                self.leap[voice] = pitch - self.previous[voice]
            self.previous[voice] = pitch
        elif is_dur(token):
            self.state = "dur"


def _runs(tokens: list[int]) -> list[tuple[int, int]]:
    """Sorted distinct token ids as [low, high) runs."""
    runs: list[tuple[int, int]] = []
    for token in tokens:
        if runs and runs[-1][1] == token:
            runs[-1] = (runs[-1][0], token + 1)
        elif not runs or token >= runs[-1][1]:
            runs.append((token, token + 1))
    return runs


@dataclass(frozen=True)
class Sample:
    tokens: tuple[int, ...]  # generated tokens, the end token excluded
    log_likelihood: float  # sum of log p(token) under the model at temperature 1
    finished: bool = True  # False when the token budget ran out before the last bar ended


def _prefill(model: Generator, prompt: list[int], batch: int):
    single = model.new_caches(1)
    logits = model(torch.tensor([prompt], dtype=torch.long), caches=single)
    caches = model.new_caches(batch)
    for (k, v), (k1, v1) in zip(caches, single, strict=True):
        k[:, :, : len(prompt)] = k1[:, :, : len(prompt)]
        v[:, :, : len(prompt)] = v1[:, :, : len(prompt)]
    return logits[:, -1].expand(batch, -1), caches


@torch.inference_mode()
def sample(
    model: Generator,
    prompt: list[int],
    *,
    count: int,
    bar_ticks: list[int],
    multi_voice: bool,
    end_tokens: tuple[int, ...],
    seed: int = 0,
    temperature: float = 1.0,
    top_p: float = 0.95,
    templates: list[list[int | None]] | None = None,
    max_tokens: int | None = None,
    previous_pitches: dict[int, tuple[int, ...]] | None = None,
) -> list[Sample]:
    """``count`` samples of ``len(bar_ticks)`` bars after ``prompt``, drawn in one batch.

    Every sample is grammatical (bars of the given lengths, increasing positions, notes that end
    inside their bar). ``templates`` (one per sample, or None) force a token at each step where
    the template holds one and sample only where it holds None (used to keep a bar's rhythm and
    choose new pitches). ``previous_pitches`` (voice -> last pitches, latest last) are the notes before
    the generated bars, for the part-writing constraints of ``_Grammar.pitch_ranges``.
    Deterministic for a given ``seed``.
    """
    generator = torch.Generator().manual_seed(int(seed))
    budget = model.config.context - len(prompt)
    if max_tokens is None:
        max_tokens = sum(bar_ticks) * (5 if multi_voice else 2) + 8
    max_tokens = min(max_tokens, budget)
    if max_tokens <= 0:
        raise ValueError("the prompt fills the whole context")
    logits, caches = _prefill(model, prompt, count)
    grammars = [_Grammar.after(bar_ticks, multi_voice, end_tokens, previous_pitches) for _ in range(count)]
    generated: list[list[int]] = [[] for _ in range(count)]
    totals = [0.0] * count
    vocab = model.config.vocab_size
    position = len(prompt)
    rows: dict[tuple, torch.Tensor] = {}

    def mask_row(ranges: tuple) -> torch.Tensor:
        if ranges not in rows:
            row = torch.zeros(vocab, dtype=torch.bool)
            for low, high in ranges:
                row[low:high] = True
            rows[ranges] = row
        return rows[ranges]

    pitches_only = ((PITCH0, PITCH0 + N_PITCHES),)
    for step in range(max_tokens):
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        masks = []
        for row, grammar in enumerate(grammars):
            template = templates[row] if templates is not None else None
            slot = template[step] if template is not None and step < len(template) and grammar.state != "end" else -1
            if slot is None:
                masks.append(mask_row(tuple(grammar.pitch_ranges()) if multi_voice else pitches_only))
            elif slot >= 0:
                masks.append(mask_row(((slot, slot + 1),)))
            else:
                masks.append(mask_row(tuple(grammar.allowed())))
        mask = torch.stack(masks)
        scaled = (logits.float() / max(temperature, 1e-4)).masked_fill(~mask, float("-inf"))
        probs = torch.softmax(scaled, dim=-1)
        if top_p < 1.0:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            drop = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs.masked_fill(drop, 0.0))
        choice = torch.multinomial(probs, 1, generator=generator)
        chosen_log_probs = log_probs.gather(1, choice).squeeze(1).tolist()
        tokens = choice.squeeze(1).tolist()
        for row, grammar in enumerate(grammars):
            if grammar.state == "end":
                tokens[row] = PAD
                continue
            totals[row] += chosen_log_probs[row]
            grammar.advance(tokens[row])
            if grammar.state != "end":
                generated[row].append(tokens[row])
        if all(g.state == "end" for g in grammars):
            break
        logits = model.decode_step(torch.tensor(tokens), caches, position)
        position += 1
    return [
        Sample(tuple(tokens), total, grammar.state == "end")
        for tokens, total, grammar in zip(generated, totals, grammars, strict=True)
    ]


@torch.inference_mode()
def search(
    model: Generator,
    prompt: list[int],
    *,
    template: list[int | None],
    bar_ticks: list[int],
    multi_voice: bool,
    end_tokens: tuple[int, ...],
    width: int = 16,
    bonus: dict[int, tuple[int, float]] | None = None,
    previous_pitches: dict[int, tuple[int, ...]] | None = None,
) -> list[tuple[Sample, float]]:
    """The best completions of ``template`` by beam search, best first, with their scores.

    ``template`` holds the tokens to write (the last one an end token), with None where a pitch is
    to be chosen (as in ``sample``). Runs of given tokens are read in one forward pass; at each
    free slot every beam is extended by every pitch the part-writing constraints allow and the
    ``width`` best are kept. A beam's score is its model log-likelihood plus ``bonus[step][1]`` nats
    wherever it chooses the token ``bonus[step][0]`` at that step (a prior, e.g. for keeping the notes
    of a passage being corrected). Returns up to ``width`` distinct (sample, score) pairs;
    ``Sample.log_likelihood`` is the model's alone. Deterministic.
    """
    if not template or template[-1] not in end_tokens:
        raise ValueError("the template must end with an end token")
    if len(prompt) + len(template) > model.config.context:
        raise ValueError("the prompt and the template do not fit in the context")
    bonus = bonus or {}
    logits, caches = _prefill(model, prompt, width)
    grammar = _Grammar.after(bar_ticks, multi_voice, end_tokens, previous_pitches)
    grammars = [grammar.clone() for _ in range(width)]
    scores = torch.full((width,), float("-inf"))
    scores[0] = 0.0  # all beams start equal: extend one
    likelihoods = torch.zeros(width)
    chosen = torch.zeros(width, len(template), dtype=torch.long)
    position = len(prompt)
    step = 0
    vocab = model.config.vocab_size
    while step < len(template):
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        if template[step] is not None:  # a run of given tokens
            end = step
            while end < len(template) and template[end] is not None:
                end += 1
            run = [int(t) for t in template[step:end]]
            gained = log_probs[:, run[0]]
            if len(run) > 1 or end < len(template):
                feed = run if end < len(template) else run[:-1]
                out = torch.log_softmax(
                    model(torch.tensor(feed).expand(width, -1), caches=caches, start=position).float(), dim=-1
                )
                if len(run) > 1:
                    gained = gained + out[:, : len(run) - 1].gather(2, torch.tensor(run[1:]).expand(width, -1)[..., None])[..., 0].sum(1)
                logits = out[:, -1]
                position += len(feed)
            likelihoods += gained
            scores += gained
            chosen[:, step:end] = torch.tensor(run)
            for g in grammars:
                for token in run:
                    g.advance(token)
            step = end
            continue
        mask = torch.zeros(width, vocab, dtype=torch.bool)
        for row, g in enumerate(grammars):
            for low, high in g.pitch_ranges():
                mask[row, low:high] = True
        total = (scores[:, None] + log_probs).masked_fill(~mask, float("-inf"))
        if step in bonus:
            total[:, bonus[step][0]] += bonus[step][1]
        best = total.view(-1).topk(width)
        rows, tokens = best.indices // vocab, best.indices % vocab
        scores = best.values
        likelihoods = likelihoods[rows] + log_probs[rows, tokens]
        chosen = chosen[rows]
        chosen[:, step] = tokens
        grammars = [grammars[r].clone() for r in rows.tolist()]
        for g, token in zip(grammars, tokens.tolist(), strict=True):
            g.advance(token)
        for keys, values in caches:
            keys[:, :, :position] = keys[rows, :, :position]
            values[:, :, :position] = values[rows, :, :position]
        logits = model.decode_step(tokens, caches, position)
        position += 1
        step += 1
    out: list[tuple[Sample, float]] = []
    seen = set()
    for row in scores.argsort(descending=True).tolist():
        tokens = tuple(chosen[row, :-1].tolist())
        if scores[row] == float("-inf") or tokens in seen:
            continue
        seen.add(tokens)
        out.append((Sample(tokens, float(likelihoods[row])), float(scores[row])))
    return out


@torch.inference_mode()
def sequence_log_likelihood(model: Generator, prompt: list[int], continuation: list[int]) -> float:
    """log p(continuation | prompt), summed over its tokens (used to score given music)."""
    tokens = torch.tensor([prompt + continuation], dtype=torch.long)[:, : model.config.context]
    log_probs = torch.log_softmax(model(tokens[:, :-1]).float(), dim=-1)[0]
    start = len(prompt) - 1
    targets = tokens[0, len(prompt):]
    return float(log_probs[start:start + len(targets)].gather(1, targets.view(-1, 1)).sum())
