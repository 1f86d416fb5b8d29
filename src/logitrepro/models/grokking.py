"""Grokking at the edge of numerical stability (Prieto et al., arXiv 2501.04697): the output
functions the paper compares (Softmax and its StableMax), the measure of Softmax Collapse, and
the two models of its modular-arithmetic experiments.

StableMax (the paper's Section 4) replaces exp by the ramp
    s(x) = x + 1        for x >= 0
    s(x) = 1 / (1 - x)  for x < 0
and normalises as Softmax does: StableMax(z)_i = s(z_i) / sum_j s(z_j). s grows linearly, not
exponentially, so the other classes' terms stay representable beside the largest one long after
exp's would have vanished.

Softmax Collapse (Section 3) is floating-point absorption in the normaliser: once every other
class's term is below half a unit in the last place of the largest, their sum rounds to the
largest term alone. With the usual max-shift that sum is exactly 1, the correct class's
probability is exactly 1, its loss exactly 0 and the gradient on its logit exactly 0: the sample
has stopped teaching the model, although its other logits' gradients are not yet zero (each is
its own tiny probability). `absorbed` finds those samples, for either output function, in the
precision the loss is computed in.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Head = Literal["softmax", "stablemax"]


def stablemax_s(x: torch.Tensor) -> torch.Tensor:
    """The paper's s(x): x + 1 above 0, 1 / (1 - x) below; continuous with slope 1 at 0."""
    # where() evaluates both branches: clamp each to its own side so that neither divides by 0
    return torch.where(x >= 0, x.clamp(min=0) + 1, 1 / (1 - x.clamp(max=0)))


def log_stablemax(logits: torch.Tensor) -> torch.Tensor:
    """log StableMax over the last axis."""
    s = stablemax_s(logits)
    return torch.log(s) - torch.log(s.sum(-1, keepdim=True))


def log_probs(logits: torch.Tensor, head: Head, dtype: torch.dtype) -> torch.Tensor:
    """The output function's log-probabilities, computed in `dtype` (the paper's 'softmax
    precision'): Softmax by PyTorch's log_softmax (max-shifted), StableMax by its definition."""
    z = logits.to(dtype)
    return torch.log_softmax(z, -1) if head == "softmax" else log_stablemax(z)


def cross_entropy(logits: torch.Tensor, target: torch.Tensor, head: Head, dtype: torch.dtype) -> torch.Tensor:
    """Per-sample cross-entropy of the head's probabilities, in `dtype`."""
    return -log_probs(logits, head, dtype).gather(-1, target[:, None]).squeeze(-1)


@torch.no_grad()
def absorbed(logits: torch.Tensor, head: Head, dtype: torch.dtype) -> torch.Tensor:
    """Per sample (bool): the normaliser, summed in `dtype`, equals its largest term alone: every
    other class's term was absorbed (Softmax Collapse). For Softmax the terms are
    exp(z - max z), and the test is the authors' sum == 1 (their logger, compute_softmax_collapse)."""
    z = logits.to(dtype)
    if head == "softmax":
        terms = torch.exp(z - z.amax(-1, keepdim=True))
    else:
        terms = stablemax_s(z)
    return terms.sum(-1) == terms.amax(-1)


class MLP(nn.Module):
    """The authors' MLP: one-hot a and b side by side (2p inputs), ReLU hidden layers, p logits,
    no biases anywhere (so the network is positively homogeneous: scaling every weight by c scales
    the logits by c^depth, the naive-loss-minimisation direction is the weights themselves)."""

    def __init__(self, modulus: int, hidden: tuple[int, ...]):
        super().__init__()
        sizes = [2 * modulus, *hidden, modulus]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class Transformer(nn.Module):
    """The authors' one-layer transformer: token embeddings of a and b (no positional encoding),
    one PyTorch encoder layer (post-norm, ReLU, feed-forward 2048, dropout 0.1: PyTorch's
    defaults, which theirs keeps), a linear read-out of p logits at the last position."""

    def __init__(self, modulus: int, d_model: int, heads: int, layers: int):
        super().__init__()
        self.embedding = nn.Embedding(modulus, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(d_model, modulus)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.encoder(self.embedding(tokens)))[:, -1]
