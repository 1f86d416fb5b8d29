"""The Fourier-head toy model (MLP 2 -> 64 -> 32 -> head), many independent members at once.

The authors train one small MLP per (head, frequencies, regulariser, seed). A member here is
one such model; members are stacked along a leading axis E and trained together with batched
matrix products. With the same seed every member sees the same batches, as the authors' runs
of one seed do, and Adam acts element-wise, so a stacked member follows exactly the updates it
would get alone: the stack only removes per-model Python overhead (on CPU that is most of the
cost of a model this small).

A Fourier member with N frequencies uses the first N + 1 of N_max + 1 complex coefficients and
masks the rest to zero: the autocorrelation of a zero-padded sequence is the unpadded one, so
its density is exactly the N-frequency density. Masked outputs get no gradient and never move.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from logitrepro.kernels import fourier_head_logpmf
from logitrepro.kernels.fourier_head import as_complex

HIDDEN = (64, 32)


@dataclass(frozen=True)
class Member:
    head: str  # "linear" or "fourier"
    n_freqs: int = 0  # Fourier: N
    gamma: float = 0.0  # Fourier: regulariser weight

    @property
    def name(self) -> str:
        return "linear" if self.head == "linear" else f"fourier_n{self.n_freqs}_g{self.gamma:g}"


def _uniform(shape, fan_in: int, scale: float = 1.0) -> nn.Parameter:
    """nn.Linear's default initialisation (U(-1/sqrt(fan_in), 1/sqrt(fan_in))), times `scale`."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound) * scale)


class StackedLinear(nn.Module):
    """E independent linear maps: (E, B, d_in) -> (E, B, d_out)."""

    def __init__(self, members: int, d_in: int, d_out: int, scale: float = 1.0):
        super().__init__()
        self.weight = _uniform((members, d_in, d_out), d_in, scale)  # (E, d_in, d_out)
        self.bias = _uniform((members, 1, d_out), d_in, scale)  # (E, 1, d_out)

    def forward(self, x):
        return torch.baddbmm(self.bias, x, self.weight)


class ToyEnsemble(nn.Module):
    """Members of both head types; `forward` gives per-member logits (E, B, m) and the
    Fourier members' autocorrelation coefficients for the regulariser."""

    def __init__(self, members: list[Member], n_bins: int, fourier_init_scale: float = 0.01):
        super().__init__()
        self.members, self.n_bins = list(members), n_bins
        self.linear_idx = [i for i, m in enumerate(members) if m.head == "linear"]
        self.fourier_idx = [i for i, m in enumerate(members) if m.head == "fourier"]
        e = len(members)
        self.l1 = StackedLinear(e, 2, HIDDEN[0])
        self.l2 = StackedLinear(e, HIDDEN[0], HIDDEN[1])
        if self.linear_idx:
            self.linear_head = StackedLinear(len(self.linear_idx), HIDDEN[1], n_bins)
        if self.fourier_idx:
            freqs = [members[i].n_freqs for i in self.fourier_idx]
            self.n_max = max(freqs)
            # the authors divide the head's weight and bias by 100 at initialisation (toy example)
            self.fourier_head = StackedLinear(len(freqs), HIDDEN[1], 2 * (self.n_max + 1), fourier_init_scale)
            keep = torch.tensor([[j <= n for j in range(self.n_max + 1)] for n in freqs], dtype=torch.float32)
            self.register_buffer("mask", torch.cat([keep, keep], dim=1)[:, None, :])  # (E_f, 1, 2(N_max+1))
            self.register_buffer("gammas", torch.tensor([members[i].gamma for i in self.fourier_idx]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, 2) -> (logits (E, B, m), autocorrelation coefficients (E_f, B, 2(N_max+1)) or None)."""
        e = len(self.members)
        h = torch.relu(self.l1(x.expand(e, *x.shape)))  # (E, B, 64)
        h = torch.relu(self.l2(h))  # (E, B, 32)
        logits = h.new_empty(e, x.shape[0], self.n_bins)
        coeffs = None
        if self.linear_idx:
            logits[self.linear_idx] = self.linear_head(h[self.linear_idx])
        if self.fourier_idx:
            a = self.fourier_head(h[self.fourier_idx]) * self.mask  # (E_f, B, 2(N_max+1))
            ef, b, width = a.shape
            flog, c = fourier_head_logpmf(a.reshape(ef * b, width), self.n_bins)  # one call for all members
            logits[self.fourier_idx] = flog.view(ef, b, self.n_bins)
            # the kernel returns c_k / Re(c_0); the authors regularise the unnormalised c_k,
            # and Re(c_0) = sum_j |a_j|^2
            coeffs = c.view(ef, b, width) * a.pow(2).sum(-1, keepdim=True)
        return logits, coeffs

    def regulariser(self, coeffs: torch.Tensor) -> torch.Tensor:
        """sum over Fourier members of gamma * 2 * mean_batch sum_k 2 pi^2 k^2 |c_k|^2 (c_k unnormalised)."""
        mag2 = as_complex(coeffs).abs() ** 2  # (E_f, B, N_max+1)
        k = torch.arange(mag2.shape[-1], dtype=mag2.dtype, device=mag2.device)
        per_member = 2.0 * (2.0 * math.pi**2 * k**2 * mag2).sum(-1).mean(-1)  # (E_f,)
        return (self.gammas * per_member).sum()

    @torch.no_grad()
    def pmf(self, x: torch.Tensor) -> torch.Tensor:
        """(E, B, m) predicted pmfs, as the authors evaluate every head: softmax of its logits. For
        a Fourier head that is softmax(log(pmf + 1e-5)), the density floored at 1e-5 per bin and
        renormalised (toy_synthetic.py: torch.softmax(outputs, 1)), not the raw density."""
        logits, _ = self.forward(x)
        return torch.softmax(logits, dim=-1)
