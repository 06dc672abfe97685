"""The small network both models share: a note-token convolutional encoder beside an MLP on the
hand features, joined into one classifier (about 0.2 M parameters: fast on a CPU)."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import nn


class TokenFeatureNet(nn.Module):
    """Embeds each note's token fields (summed), two residual 1-D convolutions over the note
    sequence, masked mean and max pooling; concatenated with an MLP on standardised hand features;
    one linear head per output."""

    def __init__(self, *, field_sizes: list[int], n_features: int, heads: dict[str, int],
                 dim: int = 64, hidden: int = 128, dropout: float = 0.3) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(size, dim, padding_idx=0) for size in field_sizes)
        self.conv1 = nn.Conv1d(dim, dim, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=5, padding=4, dilation=2)
        self.features = nn.Sequential(nn.Linear(n_features, hidden), nn.GELU(), nn.Dropout(dropout))
        self.joint = nn.Sequential(nn.Linear(2 * dim + hidden, hidden), nn.GELU(), nn.Dropout(dropout))
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, size) for name, size in heads.items()})
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))

    def forward(self, tokens: torch.Tensor, features: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = (tokens[..., 0] > 0).float()  # (batch, length)
        x = sum(embed(tokens[..., i]) for i, embed in enumerate(self.embeddings))  # (B, L, D)
        x = x.transpose(1, 2)
        x = x + torch.nn.functional.gelu(self.conv1(x))
        x = x + torch.nn.functional.gelu(self.conv2(x))
        m = mask.unsqueeze(1)
        mean = (x * m).sum(-1) / m.sum(-1).clamp(min=1.0)
        big = torch.finfo(x.dtype).max
        maxed = x.masked_fill(m == 0, -big).amax(-1)
        maxed = torch.where(m.sum(-1) > 0, maxed, torch.zeros_like(maxed))
        f = self.features((features - self.feature_mean) / self.feature_std)
        h = self.joint(torch.cat([mean, maxed, f], dim=-1))
        return {name: head(h) for name, head in self.heads.items()}


class SequenceLSTMNet(nn.Module):
    """The EMOPIA paper's symbolic baseline: a bidirectional LSTM over a token sequence pooled by
    structured self-attention (Lin et al. 2017: ``hops`` attention distributions over the LSTM states,
    concatenated); one linear head per output. Tokens are (batch, length, fields) with one embedding
    per field, summed (MIDI-like events: one field, ``models.emotion_features.event_tokens``; note tokens:
    ``models.features.emotion_tokens``); with ``n_features`` > 0 an MLP on standardised hand
    features is joined before the heads, as in ``TokenFeatureNet``. 0 is padding (right-padded)."""

    def __init__(self, *, field_sizes: list[int], heads: dict[str, int], n_features: int = 0, dim: int = 64,
                 hidden: int = 64, hops: int = 4, attention: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(size, dim, padding_idx=0) for size in field_sizes)
        # bidirectional as two LSTMs, the second over each sequence reversed within its length: the
        # same as nn.LSTM(bidirectional=True) on packed sequences, which is ~13x slower on a CPU
        self.forward_lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.backward_lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.attend = nn.Sequential(nn.Linear(2 * hidden, attention), nn.Tanh(), nn.Linear(attention, hops))
        self.pool = nn.Sequential(nn.Dropout(dropout), nn.Linear(hops * 2 * hidden, 2 * hidden), nn.GELU())
        width = 2 * hidden
        if n_features:
            self.features = nn.Sequential(nn.Linear(n_features, 2 * hidden), nn.GELU(), nn.Dropout(dropout))
            width += 2 * hidden
        self.joint = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, 2 * hidden), nn.GELU(), nn.Dropout(dropout))
        self.heads = nn.ModuleDict({name: nn.Linear(2 * hidden, size) for name, size in heads.items()})
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))

    def lstm_states(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(forward states, backward states, mask): the forward LSTM's state at step t has read steps
        0..t, the backward LSTM's steps t..length-1 (``models/training/pretrain_events.py`` trains both as event
        language models: the state at t predicts step t+1, and step t-1)."""
        mask = tokens[..., 0] > 0  # (batch, length)
        x = sum(embed(tokens[..., i]) for i, embed in enumerate(self.embeddings))
        steps = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
        lengths = mask.sum(-1, keepdim=True)
        reverse = torch.where(steps < lengths, lengths - 1 - steps, steps)  # its own inverse
        ahead, _ = self.forward_lstm(x)
        back, _ = self.backward_lstm(x.gather(1, reverse.unsqueeze(-1).expand(-1, -1, x.shape[-1])))
        back = back.gather(1, reverse.unsqueeze(-1).expand(-1, -1, back.shape[-1]))
        return ahead, back, mask

    def forward(self, tokens: torch.Tensor, features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        ahead, back, mask = self.lstm_states(tokens)
        states = torch.cat([ahead, back], dim=-1)
        scores = self.attend(states).masked_fill(~mask.unsqueeze(-1), float("-inf"))  # (B, L, hops)
        weights = torch.nan_to_num(torch.softmax(scores, dim=1))  # an empty sequence pools to zeros
        h = self.pool(torch.einsum("blh,bld->bhd", weights, states).flatten(1))
        if self.feature_mean.numel():
            h = torch.cat([h, self.features((features - self.feature_mean) / self.feature_std)], dim=-1)
        h = self.joint(h)
        return {name: head(h) for name, head in self.heads.items()}


def config_of(net: TokenFeatureNet) -> dict:
    return {
        "field_sizes": [e.num_embeddings for e in net.embeddings],
        "n_features": net.feature_mean.numel(),
        "heads": {name: head.out_features for name, head in net.heads.items()},
        "dim": net.embeddings[0].embedding_dim,
        "hidden": net.features[0].out_features,
    }


# a stand-in per net (by id) for the work of this context only: ``tutor serve`` runs its requests' nets
# through micro-batchers this way without touching the cached ensembles other callers use
_STAND_INS: ContextVar[dict[int, Callable] | None] = ContextVar("tutor_net_stand_ins", default=None)


def run_net(net, *inputs):
    """``net(*inputs)``, or its stand-in in this context (``using_stand_ins``)."""
    stand_ins = _STAND_INS.get()
    return (stand_ins.get(id(net), net) if stand_ins else net)(*inputs)


@contextmanager
def using_stand_ins(stand_ins: dict[int, Callable]) -> Iterator[None]:
    """Within this block (this thread or task only), ``run_net(net, ...)`` calls ``stand_ins[id(net)]``."""
    token = _STAND_INS.set(stand_ins)
    try:
        yield
    finally:
        _STAND_INS.reset(token)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run inference on one thread: these nets are small, and on a shared 2-core machine torch's
    thread pool makes a 32-bar piece take ~2 s instead of ~0.1 s (measured)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(previous)


def load_ensemble(path: str, *, model: str, trainer: str):
    """The members of a saved ensemble of ``TokenFeatureNet`` (eval mode) and the saved dict.

    ``model`` names it in errors ("style model"); ``trainer`` is the module that makes the weights."""
    import torch

    from tutor.errors import ModelError

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{model} weights are missing; run python -m {trainer}", path=path) from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:  # unreadable, truncated, not weights
        raise ModelError(f"{model} weights cannot be loaded ({error})", path=path) from None
    nets = []
    for state in saved["members"]:
        net = TokenFeatureNet(**saved["config"])
        net.load_state_dict(state)
        net.eval()
        nets.append(net)
    return nets, saved
