"""How fast a codebook output layer computes the vocabulary logits (vq.speed): a measurement
that needs no training, at the paper's vocabulary (GPT-2's 50,257 tokens) and widths (768 and
4,096), on the device the job has, at every scale.

At each width d, `tokens` hidden states h (N, d) go through h W^T with a full V x d matrix and
through (h C^T)[:, M] (+ b) with this arm's K x d codebook and a token -> code map, all V logits
materialised in both; the two are timed in turns in one process (logitrepro.timing) and the
median of `rounds` kept. Weights and the map are random (a random map, not a sorted one, so the
gather reads the codes in no helpful order). The "training" is a single no-op step: the loop
asks every task for one, and the run's seed draws the tensors.

Reports logit_ms_full_d<d>, logit_ms_vq_d<d>, logit_speedup_d<d> per width and
logit_speedup_best, the best over the widths ("up to 6x" is a best case).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from logitrepro.hparams import HIGHER, LOWER, LoopHParams, Metric, hp
from logitrepro.kernels import vq_scatter_logits
from logitrepro.tasks.base import Task as BaseTask
from logitrepro.timing import interleaved_medians


@dataclass(frozen=True, kw_only=True)
class HParams(LoopHParams):
    n_codes: int = hp(256, min=1)  # K
    head: Literal["vq", "vq_bias"] = "vq"  # vq_bias adds a per-token bias to the scattered logits
    vocab: int = hp(50257, min=2)  # V: the paper's vocabulary (GPT-2's)
    widths: tuple[int, ...] = (768, 4096)  # d: the paper's model widths
    tokens: int = hp(1024, min=1)  # hidden states per timed call
    rounds: int = hp(7, min=1)  # interleaved rounds; the median is kept
    dtype: Literal["float32", "bfloat16"] = "float32"  # bfloat16 on a GPU at paper scale

    def check(self) -> list[tuple[str, str]]:
        if self.n_codes >= self.vocab:
            return [("n_codes", f"{self.n_codes} codes need a larger vocabulary than {self.vocab}")]
        return []

    def produces(self) -> dict[str, Metric]:
        out = super().produces() | dict.fromkeys(("logit_speedup_best", "output_param_reduction"), HIGHER)
        for d in self.widths:
            out |= dict.fromkeys((f"logit_ms_full_d{d}", f"logit_ms_vq_d{d}"), LOWER) | {f"logit_speedup_d{d}": HIGHER}
        return out


class Task(BaseTask):
    HParams = HParams

    def setup(self) -> None:
        self.model = nn.Linear(1, 1)  # nothing to train: the loop's one step leaves it alone

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.model.parameters(), lr=0.0)  # never steps: train_step is a no-op

    def batch(self, step: int):
        return None

    def loss(self, batch, detailed: bool = False):
        return torch.zeros(()), {}

    def train_step(self, batch, optimizer, detailed: bool = False):
        return torch.zeros(()), {}

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        if split != "test":
            return {}
        hp = self.hp
        dtype = getattr(torch, hp.dtype)
        g = torch.Generator().manual_seed(self.seed)
        out = {}
        for d in hp.widths:
            h = torch.randn(hp.tokens, d, generator=g).to(self.device, dtype)  # (N, d)
            full = torch.randn(hp.vocab, d, generator=g).to(self.device, dtype)  # (V, d)
            codebook = torch.randn(hp.n_codes, d, generator=g).to(self.device, dtype)  # (K, d)
            code_of_token = torch.randint(0, hp.n_codes, (hp.vocab,), generator=g).to(self.device)  # (V,)
            bias = torch.zeros(hp.vocab, device=self.device, dtype=dtype) if hp.head == "vq_bias" else None
            medians = interleaved_medians(
                {
                    "full": lambda h=h, full=full: h @ full.T,  # (N, V)
                    "vq": lambda h=h, c=codebook, m=code_of_token, b=bias: vq_scatter_logits(h, c, m, b),  # (N, V)
                },
                rounds=hp.rounds,
                device=self.device,
            )
            out[f"logit_ms_full_d{d}"] = medians["full"] * 1e3
            out[f"logit_ms_vq_d{d}"] = medians["vq"] * 1e3
            out[f"logit_speedup_d{d}"] = medians["full"] / medians["vq"]
        out["logit_speedup_best"] = max(out[f"logit_speedup_d{d}"] for d in hp.widths)
        extra = hp.vocab if hp.head == "vq_bias" else 0
        out["output_param_reduction"] = 1 - (hp.n_codes * max(hp.widths) + extra) / (hp.vocab * max(hp.widths))
        return out
