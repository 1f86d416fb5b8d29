"""The Fourier-head toy model (MLP 2 -> 64 -> 32 -> head), many independent members at once.

The authors train one small MLP per (head, frequencies, regulariser, seed). A member here is
one such model; members are stacked along a leading axis E and trained together with batched
matrix products. With the same seed every member sees the same batches, as the authors' runs
of one seed do, and Adam acts element-wise, so a stacked member follows exactly the updates it
would get alone: the stack only removes per-model Python overhead (on CPU that is most of the
cost of a model this small). ``weight(name)`` gives a stacked weight, e.g. "l1.weight" (E, 2, 64).

A Fourier member with N frequencies uses the first N + 1 of N_max + 1 complex coefficients and
masks the rest to zero: the autocorrelation of a zero-padded sequence is the unpadded one, so
its density is exactly the N-frequency density. Masked outputs get no gradient and never move.
The Fourier pmf is computed in the power form |S(x_j)|^2 / sum_l |S(x_l)|^2, which equals the
authors' 1/2 + Re sum_k c~_k e^{i pi k x_j} renormalised (logitrepro.kernels.fourier_head); the
autocorrelation c_k, which only the regulariser needs (gamma > 0), comes from the same m samples
of |S|^2, exactly since N_max < m/2 (the authors' regime; checked at construction).

Members are ordered linear first, then Fourier members without, then with a regulariser
(``members``): the groups are contiguous slices of the stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from logitrepro.kernels.fourier_head import autocorrelation_from_power, fourier_power, logpmf_from_power

HIDDEN = (64, 32)


@dataclass(frozen=True)
class Member:
    head: str  # "linear" or "fourier"
    n_freqs: int = 0  # Fourier: N
    gamma: float = 0.0  # Fourier: regulariser weight

    @property
    def name(self) -> str:
        return "linear" if self.head == "linear" else f"fourier_n{self.n_freqs}_g{self.gamma:g}"


def _uniform(shape, fan_in: int, scale: float = 1.0) -> torch.Tensor:
    """nn.Linear's default initialisation (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and
    bias alike), times `scale`."""
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound) * scale


class ToyEnsemble(nn.Module):
    """Members of both head types; `forward` gives per-member logits (E, B, m) in the order of
    `members`, and the regularised members' autocorrelation coefficients."""

    def __init__(self, members: list[Member], n_bins: int, fourier_init_scale: float = 0.01):
        super().__init__()
        linear = [m for m in members if m.head == "linear"]
        plain = [m for m in members if m.head == "fourier" and m.gamma == 0]
        regularised = [m for m in members if m.head == "fourier" and m.gamma != 0]
        self.members = linear + plain + regularised
        self.n_bins, self.n_linear, self.n_regularised = n_bins, len(linear), len(regularised)
        fourier = plain + regularised
        e, e_l, e_f = len(self.members), len(linear), len(fourier)
        self.n_max = max((m.n_freqs for m in fourier), default=0)
        if regularised and n_bins <= 2 * self.n_max:
            raise ValueError(f"the regulariser reads c_k from {n_bins} bins: needs N < m/2, got N = {self.n_max}")
        width = 2 * (self.n_max + 1)  # the Fourier head's linear layer: real parts, then imaginary
        h0, h1 = HIDDEN
        # (name, stacked shape, fan_in, init scale); the authors divide the Fourier head's linear
        # layer (weight and bias) by 100 at initialisation (fourier_head.py, init_denominator_*)
        layout = [("l1.weight", (e, 2, h0), 2, 1.0), ("l1.bias", (e, 1, h0), 2, 1.0)]
        layout += [("l2.weight", (e, h0, h1), h0, 1.0), ("l2.bias", (e, 1, h1), h0, 1.0)]
        if e_l:
            layout += [("linear.weight", (e_l, h1, n_bins), h1, 1.0), ("linear.bias", (e_l, 1, n_bins), h1, 1.0)]
        if e_f:
            s = fourier_init_scale
            layout += [("fourier.weight", (e_f, h1, width), h1, s), ("fourier.bias", (e_f, 1, width), h1, s)]
        params = {
            name.replace(".", "_"): nn.Parameter(_uniform(shape, fan_in, scale))
            for name, shape, fan_in, scale in layout
        }
        self.stacked = nn.ParameterDict(params)  # drawn in this order: the run's seed fixes every member's init
        if e_f:
            keep = torch.tensor([[j <= m.n_freqs for j in range(self.n_max + 1)] for m in fourier], dtype=torch.float32)
            self.register_buffer("mask", torch.cat([keep, keep], dim=1)[:, None, :])  # (E_f, 1, 2(N_max+1))
        if regularised:
            self.register_buffer("gammas", torch.tensor([m.gamma for m in regularised]))  # (E_r,)
            k = torch.arange(self.n_max + 1, dtype=torch.float32)
            self.register_buffer("reg_scalars", 2.0 * math.pi**2 * k**2)  # the authors' 2 pi^2 k^2

    def weight(self, name: str) -> torch.Tensor:
        """The stacked weight `name` (e.g. "l1.weight", (E, 2, 64))."""
        return self.stacked[name.replace(".", "_")]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, 2) -> (logits (E, B, m), unnormalised autocorrelation c (E_r, B, 2(N_max+1)) of the
        regularised members, or None)."""
        e = len(self.members)
        h = torch.relu(torch.baddbmm(self.weight("l1.bias"), x.expand(e, *x.shape), self.weight("l1.weight")))
        h = torch.relu(torch.baddbmm(self.weight("l2.bias"), h, self.weight("l2.weight")))  # (E, B, 32)
        parts, coeffs = [], None
        if self.n_linear:
            h_lin = h[: self.n_linear]  # (E_l, B, 32)
            parts.append(torch.baddbmm(self.weight("linear.bias"), h_lin, self.weight("linear.weight")))
        if self.n_linear < e:
            h_four = h[self.n_linear :]  # (E_f, B, 32)
            a = torch.baddbmm(self.weight("fourier.bias"), h_four, self.weight("fourier.weight")) * self.mask
            power = fourier_power(a, self.n_bins)  # (E_f, B, m): |S(x_j)|^2
            parts.append(logpmf_from_power(power))  # (E_f, B, m) = log(pmf + 1e-5)
            if self.n_regularised:
                coeffs = autocorrelation_from_power(power[-self.n_regularised :], self.n_max + 1)
        logits = parts[0] if len(parts) == 1 else torch.cat(parts)
        return logits, coeffs

    def regulariser(self, coeffs: torch.Tensor | None) -> torch.Tensor | float:
        """sum over the regularised members of gamma * 2 * mean_batch sum_k 2 pi^2 k^2 |c_k|^2, with
        the unnormalised c_k (fourier_head.py: regularizion_scalars * |fourier_coeffs|^2)."""
        if coeffs is None:
            return 0.0
        nf = coeffs.shape[-1] // 2
        mag2 = coeffs[..., :nf].square() + coeffs[..., nf:].square()  # (E_r, B, N_max+1)
        per_member = 2.0 * (self.reg_scalars * mag2).sum(-1).mean(-1)  # (E_r,)
        return (self.gammas * per_member).sum()

    @torch.no_grad()
    def pmf(self, x: torch.Tensor) -> torch.Tensor:
        """(E, B, m) predicted pmfs, as the authors evaluate every head: softmax of its logits. For
        a Fourier head that is softmax(log(pmf + 1e-5)), the density floored at 1e-5 per bin and
        renormalised (toy_synthetic.py: torch.softmax(outputs, 1)), not the raw density."""
        logits, _ = self.forward(x)
        return torch.softmax(logits, dim=-1)
