"""VQ-Logits (arXiv 2505.10202): a K x d codebook output layer instead of the V x d matrix.

Beside perplexity, every run reports its output-layer parameter count against a full head of the
same vocabulary and width, and, for the pure-scatter arms, the analytic cross-entropy lower bound
E_y[log n_M(y)] over the test tokens (PAPERS.md section 2), so the claimed +4% perplexity can be
set against what the map allows at all.
"""
from __future__ import annotations

import math

from logitrepro.papers.lm import LMTask, cross_entropy_bound


class VQLogitsTask(LMTask):
    def evaluate(self, split: str) -> dict[str, float]:
        metrics = super().evaluate(split)
        if split != "test":
            return metrics
        full = self.config.vocab_size * self.config.n_embd
        out = self.model.output_layer_parameters()
        metrics.update({"output_params": out, "output_params_full": full, "output_param_reduction": 1 - out / full})
        if self.config.head == "vq":
            bound = cross_entropy_bound(self.model.lm_head.code_of_token.cpu(), self.tokens["test"][1:])
            metrics.update({"test_ce_bound": bound, "test_ppl_bound": math.exp(bound)})
        return metrics


def make_task(spec: dict) -> VQLogitsTask:
    return VQLogitsTask(spec)
