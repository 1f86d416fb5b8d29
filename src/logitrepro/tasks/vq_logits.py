"""VQ-Logits (arXiv 2505.10202): a K x d codebook output layer instead of the V x d matrix.

Beside perplexity, every run reports its output-layer parameter count against a full head of the
same vocabulary and width, and, for the pure-scatter arms, the analytic cross-entropy lower bound
E_y[log n_M(y)] over the test tokens (PAPERS.md section 2), so the claimed +4% perplexity can be
set against what the map allows at all; and the time to compute vocabulary logits with its
codebook against a full V x d matrix at the paper's vocabulary size (`speed_vocab`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from logitrepro.kernels import vq_scatter_logits
from logitrepro.tasks import language_model
from logitrepro.tasks.hparams import hp
from logitrepro.timing import interleaved_medians


@dataclass(frozen=True, kw_only=True)
class HParams(language_model.HParams):
    speed_vocab: int | None = hp(None, min=2)  # time the logits at this vocabulary (None: no timing)
    speed_tokens: int = hp(4096, min=1)  # hidden states per timed call
    speed_rounds: int = hp(7, min=1)

    def produces(self) -> set[str]:
        out = super().produces() | {"output_params", "output_params_full", "output_param_reduction"}
        if self.head == "vq":
            out |= {"test_ce_bound", "test_ppl_bound"}
        if self.head != "full" and self.speed_vocab:
            out |= {"logit_ms_full", "logit_ms_vq", "logit_speedup"}
        return out


class Task(language_model.Task):
    HParams = HParams

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        metrics = super().evaluate(split)
        if split != "test":
            return metrics
        full = self.config.vocab_size * self.config.n_embd
        out = self.model.output_layer_parameters()
        metrics.update({"output_params": out, "output_params_full": full, "output_param_reduction": 1 - out / full})
        if self.config.head == "vq":
            bound = language_model.cross_entropy_bound(self.model.lm_head.code_of_token.cpu(), self.tokens["test"][1:])
            metrics.update({"test_ce_bound": bound, "test_ppl_bound": math.exp(bound)})
        if self.config.head != "full" and self.hp.speed_vocab:
            metrics.update(self.logit_speed(self.hp.speed_vocab, self.hp.speed_tokens))
        return metrics

    def logit_speed(self, vocab: int, tokens: int) -> dict[str, float]:
        """Time to produce all V vocabulary logits for `tokens` hidden states: h W^T with a full
        V x d matrix against (h C^T)[:, M] (+ b) with this arm's K x d codebook.

        Sizes are the paper's vocabulary and this model's width; weights and the map are random
        (a random map, not a sorted one, so the gather reads the codes in no helpful order)."""
        d, k = self.config.n_embd, self.config.n_codes
        g = torch.Generator().manual_seed(self.seed)
        h = torch.randn(tokens, d, generator=g).to(self.device)  # (N, d)
        full = torch.randn(vocab, d, generator=g).to(self.device)  # (V, d)
        codebook = torch.randn(k, d, generator=g).to(self.device)  # (K, d)
        code_of_token = torch.randint(0, k, (vocab,), generator=g).to(self.device)  # (V,)
        bias = torch.zeros(vocab, device=self.device) if self.config.head == "vq_bias" else None
        medians = interleaved_medians(
            {
                "full": lambda: h @ full.T,  # (N, V)
                "vq": lambda: vq_scatter_logits(h, codebook, code_of_token, bias),  # (N, V)
            },
            rounds=self.hp.speed_rounds,
            device=self.device,
        )
        return {
            "logit_ms_full": medians["full"] * 1e3,
            "logit_ms_vq": medians["vq"] * 1e3,
            "logit_speedup": medians["full"] / medians["vq"],
        }
