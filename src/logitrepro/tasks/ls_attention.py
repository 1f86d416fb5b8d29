"""LS-attention (arXiv 2505.15548): local (sliding-window) plus global heads against the growth
of attention logits in language-model training.

The language-model task already records the largest pre-softmax attention logit per layer on
every logged step and summarises its growth (peak, last value, slope); the training loop counts
loss spikes and divergence. This task adds the inference-latency measurement: at each length in
`latency_lengths`, the forward pass of this arm's model against the same model with plain
multi-head attention (PyTorch SDPA, the strongest MHSA implementation on the device), timed in
turns in one process (logitrepro.timing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch

from logitrepro.hparams import LOWER, Metric, hp
from logitrepro.models.gpt import GPT
from logitrepro.tasks import language_model
from logitrepro.timing import interleaved_medians


@dataclass(frozen=True, kw_only=True)
class HParams(language_model.HParams):
    latency_lengths: tuple[int, ...] | None = hp(None)  # sequence lengths to time (None: no timing)
    latency_batch: int = hp(1, min=1)
    latency_rounds: int = hp(7, min=1)  # interleaved rounds; the median is kept
    # the dtype both models are timed in: bfloat16 on a GPU at paper scale, where state-of-the-art
    # MHSA (FlashAttention-class SDPA) runs; float32 on a CPU
    latency_dtype: Literal["float32", "bfloat16"] = "float32"

    def produces(self) -> dict[str, Metric]:
        out = super().produces()
        for t in self.latency_lengths or ():
            out |= dict.fromkeys((f"latency_ms_t{t}", f"latency_ratio_t{t}"), LOWER)
        return out


class Task(language_model.Task):
    HParams = HParams

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        metrics = super().evaluate(split)
        if split == "test" and self.hp.latency_lengths:
            metrics.update(self.latency(list(self.hp.latency_lengths)))
        return metrics

    def latency(self, lengths: list[int]) -> dict[str, float]:
        """latency_ms_t<T> of this arm and, unless it is MHA itself, latency_ratio_t<T> = this / MHA.

        Both models are built fresh at block size max(lengths) with the same seed: latency does not
        depend on the weights, and lengths beyond the training context need larger position tables."""
        cfg = dataclasses.replace(self.config, block_size=max(lengths))
        models = {"this": self._fresh(cfg)}
        if cfg.attention != "mha":
            models["mha"] = self._fresh(dataclasses.replace(cfg, attention="mha"))
        out = {}
        for t in lengths:
            idx = torch.randint(0, cfg.vocab_size, (self.hp.latency_batch, t), device=self.device)  # (B, T)
            medians = interleaved_medians(
                {name: (lambda m=m, idx=idx: m(idx)) for name, m in models.items()},
                rounds=self.hp.latency_rounds,
                device=self.device,
            )
            out[f"latency_ms_t{t}"] = medians["this"] * 1e3
            if "mha" in medians:
                out[f"latency_ratio_t{t}"] = medians["this"] / medians["mha"]
        return out

    def _fresh(self, cfg) -> GPT:
        torch.manual_seed(self.seed)
        return GPT(cfg).to(self.device, getattr(torch, self.hp.latency_dtype)).eval()
