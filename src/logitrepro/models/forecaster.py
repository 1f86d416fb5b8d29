"""A small decoder-only forecaster over value tokens (Chronos' recipe with a GPT trunk): the
trunk of logitrepro.models.gpt and a head over the value bins, linear or Fourier."""

from __future__ import annotations

import torch
from torch import nn

from logitrepro.models.fourier_head import FourierHead
from logitrepro.models.gpt import GPT, GPTConfig


class Forecaster(nn.Module):
    def __init__(
        self,
        cfg: GPTConfig,
        n_bins: int,
        head: str = "linear",
        n_freqs: int = 0,
        fourier_init: tuple[float, float] = (1e-3, 0.1),
    ):
        super().__init__()
        self.trunk = GPT(cfg)
        self.trunk.lm_head = nn.Identity()  # the trunk then returns its final hidden states
        if head == "linear":
            self.head = nn.Linear(cfg.n_embd, n_bins, bias=False)
            nn.init.normal_(self.head.weight, std=0.02)
        elif head == "fourier":
            self.head = FourierHead(cfg.n_embd, n_bins, n_freqs, *fourier_init)
        else:
            raise ValueError(f"forecaster head must be 'linear' or 'fourier', got {head!r}")

    def forward(self, idx: torch.Tensor, last: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) tokens -> (logits over the bins (B, T', m), Fourier coefficients or None) for
        the last T' = `last` positions (all when None): the head runs only where it is needed."""
        h, _ = self.trunk(idx)  # (B, T, d)
        if last is not None:
            h = h[:, -last:]
        if isinstance(self.head, FourierHead):
            return self.head(h)
        return self.head(h), None
