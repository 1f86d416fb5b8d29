"""A small decoder-only forecaster over value tokens (Chronos' recipe with a causal trunk) and a
head over the value bins, linear or Fourier.

Trunk. Chronos (and the authors' Chronos runs, google/t5-efficient-mini) is a T5: no position
embeddings, a learned bias per attention head and bucket of query-key distance, shared by the
layers of a stack (transformers' T5Attention, relative_attention_num_buckets 32,
relative_attention_max_distance 128). Here the same bias sits in a causal stack (T5's decoder
side: distances 0..127, 16 exact buckets, 16 log-spaced). A GPT trunk with learned absolute
positions (`positions="absolute"`) learns "the value one season back" far more slowly: at a
few hundred steps it forecasts the last value pulled toward the mean and misses the season.

Head. The linear head can share its weights with the input embedding of the value tokens, as
the authors' Chronos runs do (time-series-forecasting/scripts/train/configs/linear.yaml:
tie_embeddings: true, applied by transformers' tie_weights to an nn.Linear lm_head; a Fourier
head has no weight to tie). Tied, a bin learns one vector from being read and being predicted.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from logitrepro.models.fourier_head import FourierHead
from logitrepro.models.gpt import GPT, MLP, GPTConfig

N_BUCKETS, MAX_DISTANCE = 32, 128  # T5's relative_attention_num_buckets and max_distance


def distance_bucket(distance: torch.Tensor, n_buckets: int = N_BUCKETS, max_distance: int = MAX_DISTANCE):
    """T5's causal bucketing of query - key distances >= 0: exact below n_buckets / 2, then
    logarithmic up to max_distance, the rest in the last bucket."""
    exact = n_buckets // 2
    far = (
        exact
        + (
            torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact) * (n_buckets - exact)
        ).long()
    )
    return torch.where(distance < exact, distance, far.clamp(max=n_buckets - 1))


class RelativeBias(nn.Module):
    """The additive attention bias: a learned scalar per head and bucket of the query - key
    distance, -inf where the key lies ahead of the query (causal)."""

    def __init__(self, n_head: int, gain: float = 1.0):
        super().__init__()
        self.table = nn.Embedding(N_BUCKETS, n_head)
        nn.init.zeros_(self.table.weight)  # attention starts as the plain causal average
        # Adam moves a table entry by about lr per step, the bias by gain * lr: attending sharply to
        # one lag among ~40 keys needs a bias of several nats, which T5's 200k steps reach at gain 1
        # and a few hundred steps do not.
        self.gain = gain

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        """distance (..., Q, K) query - key positions -> bias (..., H, Q, K)."""
        bias = self.gain * self.table(distance_bucket(distance.clamp(min=0)))  # (..., Q, K, H)
        return bias.movedim(-1, -3).masked_fill((distance < 0).unsqueeze(-3), float("-inf"))


class BiasedSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.n_embd // cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.drop = nn.Dropout(cfg.dropout)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, d) -> q, k, v (B, H, T, D)."""
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        return tuple(z.view(b, t, self.n_head, self.head_dim).transpose(1, 2) for z in (q, k, v))

    def attend(self, q, k, v, bias) -> torch.Tensor:
        """q (B, H, Tq, D), k and v (B, H, Tk, D), bias broadcastable to (B, H, Tq, Tk) -> (B, Tq, d)."""
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, H, Tq, D)
        b, _, t, _ = y.shape
        return self.drop(self.proj(y.transpose(1, 2).reshape(b, t, -1)))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.attend(*self.heads(x), bias)


class RelativeBlock(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn, self.mlp = BiasedSelfAttention(cfg), MLP(cfg)

    def forward(self, x, bias):
        x = x + self.attn(self.ln1(x), bias)
        return x + self.mlp(self.ln2(x))


class RelativeTrunk(nn.Module):
    """Token embedding, pre-LayerNorm blocks sharing one relative position bias, final LayerNorm.
    Positions enter only as distances, so a forecast runs past the training window without
    sliding it, and decoding can keep each layer's keys and values (prefill, extend)."""

    def __init__(self, cfg: GPTConfig, bias_gain: float = 1.0):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.bias = RelativeBias(cfg.n_head, bias_gain)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(RelativeBlock(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        for m in self.modules():
            if isinstance(m, nn.Linear) or m is self.wte:
                nn.init.normal_(m.weight, std=0.02)  # GPT's init, as the absolute trunk

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, T) -> final hidden states (B, T, d)."""
        pos = torch.arange(idx.shape[1], device=idx.device)
        bias = self.bias(pos[:, None] - pos[None, :])  # (H, T, T)
        x = self.drop(self.wte(idx))  # (B, T, d)
        for block in self.blocks:
            x = block(x, bias)
        return self.ln_f(x)

    @torch.no_grad()
    def prefill(self, idx: torch.Tensor, capacity: int) -> tuple[torch.Tensor, list]:
        """idx (R, T) -> (final hidden states (R, T, d), per layer the keys and values (R, H,
        capacity, D) with positions 0..T-1 filled)."""
        r, t = idx.shape
        pos = torch.arange(t, device=idx.device)
        bias = self.bias(pos[:, None] - pos[None, :])  # (H, T, T)
        x, cache = self.wte(idx), []  # (R, T, d)
        for block in self.blocks:
            q, k, v = block.attn.heads(block.ln1(x))  # (R, H, T, D)
            keys = k.new_zeros(r, k.shape[1], capacity, k.shape[3])  # (R, H, capacity, D)
            values = torch.zeros_like(keys)
            keys[:, :, :t], values[:, :, :t] = k, v
            cache.append((keys, values))
            x = x + block.attn.attend(q, k, v, bias)
            x = x + block.mlp(block.ln2(x))
        return self.ln_f(x), cache

    @torch.no_grad()
    def extend(self, token: torch.Tensor, pos: torch.Tensor, cache: list) -> torch.Tensor:
        """One new token per row, token (R,) at position pos (R,): its keys and values join the
        cache; -> its final hidden state (R, d). Keys beyond pos (stale padding) are masked."""
        rows = torch.arange(len(token), device=token.device)
        capacity = cache[0][0].shape[2]
        distance = pos[:, None, None] - torch.arange(capacity, device=token.device)  # (R, 1, capacity)
        bias = self.bias(distance)  # (R, H, 1, capacity)
        x = self.wte(token)[:, None]  # (R, 1, d)
        for block, (keys, values) in zip(self.blocks, cache):
            q, k, v = block.attn.heads(block.ln1(x))  # (R, H, 1, D)
            keys[rows, :, pos], values[rows, :, pos] = k[:, :, 0], v[:, :, 0]
            x = x + block.attn.attend(q, keys, values, bias)
            x = x + block.mlp(block.ln2(x))
        return self.ln_f(x)[:, 0]


class Forecaster(nn.Module):
    def __init__(
        self,
        cfg: GPTConfig,
        n_bins: int,
        head: str = "linear",
        n_freqs: int = 0,
        fourier_init: tuple[float, float] = (1e-3, 0.1),
        tie_embeddings: bool = False,
        positions: str = "relative",
        bias_gain: float = 1.0,
    ):
        super().__init__()
        if positions == "relative":
            self.trunk = RelativeTrunk(cfg, bias_gain)
        elif positions == "absolute":
            self.trunk = GPT(cfg)
            self.trunk.lm_head = nn.Identity()  # the trunk then returns its final hidden states
        else:
            raise ValueError(f"positions must be 'relative' or 'absolute', got {positions!r}")
        self.tied = head == "linear" and tie_embeddings
        if self.tied:
            if cfg.vocab_size != n_bins + 1:
                raise ValueError(f"a tied head needs the vocabulary to be the {n_bins} bins and padding")
            self.head = None  # the logits are read off the embedding of tokens 1..m
        elif head == "linear":
            self.head = nn.Linear(cfg.n_embd, n_bins, bias=False)
            nn.init.normal_(self.head.weight, std=0.02)
        elif head == "fourier":
            self.head = FourierHead(cfg.n_embd, n_bins, n_freqs, *fourier_init)
        else:
            raise ValueError(f"forecaster head must be 'linear' or 'fourier', got {head!r}")

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, T) -> final hidden states (B, T, d)."""
        if isinstance(self.trunk, GPT):
            return self.trunk(idx)[0]
        return self.trunk(idx)

    def forward(
        self, idx: torch.Tensor, last: int | None = None, at: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) tokens -> (logits over the bins, Fourier coefficients or None) where they are
        needed, so the head runs only there: at every position (B, T, m); at the last T' = `last`
        positions (B, T', m); or at one position per row, `at` (B,) -> (B, m)."""
        h = self.hidden(idx)  # (B, T, d)
        if at is not None:
            h = h[torch.arange(len(h), device=h.device), at]  # (B, d)
        elif last is not None:
            h = h[:, -last:]
        return self.bins(h)

    def bins(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Hidden states (..., d) -> (logits over the bins (..., m), Fourier coefficients or None)."""
        if isinstance(self.head, FourierHead):
            return self.head(h)
        if self.tied:
            return h @ self.trunk.wte.weight[1:].T, None  # (..., d) @ (d, m): token 0 is padding
        return self.head(h), None

    @property
    def caches(self) -> bool:
        """Whether decoding can keep keys and values (the relative trunk: positions are distances)."""
        return isinstance(self.trunk, RelativeTrunk)
