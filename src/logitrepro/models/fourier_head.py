"""The Fourier head as a layer: a linear map to N+1 complex coefficients, then the kernel
library's Fourier-series pmf over m bins of [-1, 1] (logitrepro.kernels.fourier_head)."""

from __future__ import annotations

import torch
from torch import nn

from logitrepro.kernels import fourier_head_logpmf, fourier_regularizer


class FourierHead(nn.Module):
    """h (..., d) -> (logits (..., m) = log(pmf + 1e-5), unnormalised autocorrelation c (..., 2(N+1))).

    The authors shrink the linear layer at initialisation (weight and bias divided by 100 in the
    toy example; by 1000 and 10 in Chronos), so training starts near the uniform density."""

    def __init__(self, d_in: int, n_bins: int, n_freqs: int, weight_scale: float = 1.0, bias_scale: float = 1.0):
        super().__init__()
        self.n_bins, self.n_freqs = n_bins, n_freqs
        self.proj = nn.Linear(d_in, 2 * (n_freqs + 1))
        with torch.no_grad():
            self.proj.weight.mul_(weight_scale)
            self.proj.bias.mul_(bias_scale)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lead = h.shape[:-1]
        a = self.proj(h.reshape(-1, h.shape[-1]))  # (N_rows, 2(N+1)): real parts, then imaginary
        logits, c = fourier_head_logpmf(a, self.n_bins)  # c normalised by Re(c_0)
        c = c * a.pow(2).sum(-1, keepdim=True)  # Re(c_0) = sum_j |a_j|^2: back to the unnormalised c_k
        return logits.view(*lead, self.n_bins), c.view(*lead, -1)

    @staticmethod
    def regulariser(c: torch.Tensor) -> torch.Tensor:
        """2 * mean over rows of sum_k 2 pi^2 k^2 |c_k|^2 (multiply by gamma outside)."""
        return fourier_regularizer(c.reshape(-1, c.shape[-1]))
