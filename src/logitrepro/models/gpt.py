"""A small GPT with pluggable attention and output head, for the language-model papers.

Attention (`GPTConfig.attention`), all with the same parameter count:
  mha      multi-head causal self-attention (PyTorch SDPA)
  ls       LS-attention: the first n_head - n_global heads local (causal window), the last
           n_global heads global (full causal), in one call of the kernel library
  qk_norm  MHA with LayerNorm on queries and keys, each with a learnable gain per head dimension
           (QK-LayerNorm as the stabiliser papers define it; without the gain every logit is
           capped near sqrt(head_dim), a handicap the comparison should not carry)
  softcap  MHA with attention-logit soft-capping: s -> c * tanh(s / c)

Output head (`GPTConfig.head`):
  full     a V x d linear map (untied from the input embedding, so the output layer is its own cost)
  vq       VQ-Logits: a K x d codebook and a fixed token -> code map M; L_v[i] = (h C^T)[M(i)]
  vq_bias  VQ-Logits plus a per-token bias b_i

When `record_max_logit` is on, each layer keeps (LS-attention's instability measure):
  last_max_logit         the largest pre-softmax attention logit over the keys each head sees
  last_max_logit_window  the same over the keys within `window` of the query, for every head: a
                         max over 32 keys is lower than a max over 256 by selection alone, so
                         LS-attention's local heads are compared with MHA's on the same keys
  last_capped_fraction   (softcap) the share of logits the cap compresses by more than 7.6%
                         (|s| > c/2): whether the cap binds at all
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from logitrepro.kernels import cross_entropy, ls_attention, max_attention_logits, vq_logits_loss, vq_scatter_logits

ATTENTIONS = ("mha", "ls", "qk_norm", "softcap")
HEADS = ("full", "vq", "vq_bias")


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 6
    n_embd: int = 192
    dropout: float = 0.0
    attention: str = "mha"
    window: int = 32  # LS local heads: each query sees this many keys (itself included)
    n_global: int = 2  # LS: heads with full causal attention
    softcap: float = 30.0  # softcap: the cap c
    head: str = "full"
    n_codes: int = 256  # VQ: codebook size K

    def __post_init__(self):
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {self.head!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.attention == "ls" and not 0 <= self.n_global <= self.n_head:
            raise ValueError(f"n_global must lie in [0, n_head={self.n_head}], got {self.n_global}")


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.n_head, self.head_dim = cfg.n_head, cfg.n_embd // cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.attention == "qk_norm":  # a learnable gain, no bias (as QK-LayerNorm in ViT-22B)
            self.q_norm = nn.LayerNorm(self.head_dim, bias=False)
            self.k_norm = nn.LayerNorm(self.head_dim, bias=False)
        self.record_max_logit = False
        self.last_max_logit: float | None = None
        self.last_max_logit_window: float | None = None
        self.last_capped_fraction: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape  # (B, T, d)
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, self.head_dim).transpose(1, 2) for z in (q, k, v))  # (B, H, T, D)
        if self.cfg.attention == "qk_norm":
            q, k = self.q_norm(q), self.k_norm(k)
        if self.record_max_logit:
            self._record_max_logits(q, k)
        if self.cfg.attention == "ls":
            y = ls_attention(q, k, v, self.cfg.window, self.cfg.n_global)
        elif self.cfg.attention == "softcap":
            y = self._softcapped(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).reshape(b, t, c)  # (B, T, d)
        return self.drop(self.proj(y))

    def _softcapped(self, q, k, v):
        # The cap acts on the logits themselves, so SDPA cannot do it: explicit (T, T) scores.
        t, cap = q.shape[2], self.cfg.softcap
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # (B, H, T, T)
        causal = torch.ones(t, t, dtype=torch.bool, device=q.device).tril()
        if self.record_max_logit:
            self.last_capped_fraction = (s.detach().abs() > cap / 2)[..., causal].float().mean().item()
        s = cap * torch.tanh(s / cap)
        return torch.softmax(s.masked_fill(~causal, float("-inf")), dim=-1) @ v

    def _record_max_logits(self, q, k) -> None:
        full, windowed = max_attention_logits(q, k, self.cfg.window)  # (B, H) each, before any soft cap
        if self.cfg.attention == "ls":  # each head over the keys it attends to
            n_local = self.n_head - self.cfg.n_global
            full = torch.cat([windowed[:, :n_local], full[:, n_local:]], dim=1)
        self.last_max_logit = full.max().item()
        self.last_max_logit_window = windowed.max().item()


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class VQHead(nn.Module):
    """Codebook output layer. `code_of_token` is fixed (pre-assigned), not learned."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.codebook = nn.Parameter(torch.randn(cfg.n_codes, cfg.n_embd) * 0.02)  # (K, d)
        # Until a map is assigned (k-means or frequency order), tokens are spread round-robin.
        self.register_buffer("code_of_token", torch.arange(cfg.vocab_size) % cfg.n_codes)  # (V,)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size)) if cfg.head == "vq_bias" else None  # (V,)

    def assign(self, code_of_token: torch.Tensor) -> None:
        if code_of_token.shape != self.code_of_token.shape or int(code_of_token.max()) >= self.codebook.shape[0]:
            raise ValueError("code_of_token must map every token to a code in [0, K)")
        self.code_of_token.copy_(code_of_token)

    def loss(self, h, target):  # h (N, d), target (N,)
        return vq_logits_loss(h, self.codebook, self.code_of_token, target, self.bias)

    def logits(self, h):  # (N, d) -> (N, V)
        return vq_scatter_logits(h, self.codebook, self.code_of_token, self.bias)


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)  # learned positions
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        if cfg.head == "full":
            self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        else:
            self.lm_head = VQHead(cfg)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def output_layer_parameters(self) -> int:
        return sum(p.numel() for p in self.lm_head.parameters())

    def record_max_logits(self, on: bool = True) -> None:
        for block in self.blocks:
            block.attn.record_max_logit = on

    def max_logits(self) -> list[float | None]:
        """Per layer, the largest pre-softmax attention logit of the last forward pass."""
        return [block.attn.last_max_logit for block in self.blocks]

    def max_logits_window(self) -> list[float | None]:
        """Per layer, the largest logit over the keys within the window, for every head."""
        return [block.attn.last_max_logit_window for block in self.blocks]

    def capped_fractions(self) -> list[float | None]:
        return [block.attn.last_capped_fraction for block in self.blocks]

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, T) token ids -> the final hidden states (B*T, d), what the output layer reads."""
        b, t = idx.shape
        if t > self.cfg.block_size:
            raise ValueError(f"sequence of {t} tokens exceeds block_size {self.cfg.block_size}")
        pos = torch.arange(t, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, d)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x).reshape(b * t, -1)  # (B*T, d)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """idx (B, T) token ids -> (logits (B, T, V) or None when targets are given, loss or None)."""
        b, t = idx.shape
        h = self.hidden(idx)  # (B*T, d)
        if targets is None:
            logits = self.lm_head(h) if self.cfg.head == "full" else self.lm_head.logits(h)
            return logits.view(b, t, -1), None
        flat = targets.reshape(-1)
        if self.cfg.head == "full":
            loss, _ = cross_entropy(self.lm_head(h), flat)  # never keeps a softmax of (B*T, V)
        else:
            loss = self.lm_head.loss(h, flat)  # O(B*T*K): never touches V
        return None, loss
