"""VQ-Logits (arXiv 2505.10202): a K x d codebook output layer instead of the V x d matrix.

Beside perplexity, every run reports its output-layer parameter count against a full head of the
same vocabulary and width, and, for the pure-scatter arms, two floors under the cross-entropy of
the test tokens it is scored on (docs/papers.md, VQ-Logits):
  test_ce_bound      E_y[log n_M(y)] under this run's map M (n_j: tokens in code j): with a pure
                     scatter every token of a code gets the same logit, so p(y) <= 1/n_M(y)
  test_ce_bound_opt  the lowest that floor can go over every map with K codes (a certified lower
                     bound, logitrepro.tasks.vq_logits.map_optimal_bound), so a "not reproduced"
                     does not rest on our choice of map
The map is pre-assigned in frequency order, or (`code_map: kmeans`, the paper's other option) by
k-means of the rows of a full output layer trained for the first `kmeans_warmup` of the steps,
whose centroids start the codebook. The logit speed is measured by its own task
(logitrepro.tasks.logit_speed): it needs no training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from logitrepro.hparams import HIGHER, LOWER, NEITHER, Metric, hp
from logitrepro.kernels import cross_entropy
from logitrepro.tasks import language_model


@dataclass(frozen=True, kw_only=True)
class HParams(language_model.HParams):
    code_map: Literal["frequency", "kmeans"] = "frequency"  # how tokens are assigned to codes
    kmeans_warmup: float = hp(0.2, above=0, max=0.9)  # kmeans: the share of steps a full layer trains first

    @property
    def kmeans_steps(self) -> int:
        return max(1, round(self.kmeans_warmup * self.steps))

    def check(self) -> list[tuple[str, str]]:
        problems = super().check()
        if self.code_map == "kmeans" and self.head == "full":
            problems.append(("code_map", "a full output layer has no codes to map"))
        return problems

    def produces(self) -> dict[str, Metric]:
        # the full head's size is the reference a reduction is measured against
        out = super().produces() | {"output_params": LOWER, "output_params_full": NEITHER}
        out |= {"output_param_reduction": HIGHER}
        if self.head == "vq":  # floors under the cross-entropy a code map allows: what a claim compares with
            out |= dict.fromkeys(
                ("test_ce_bound", "test_ppl_bound", "test_ce_bound_opt", "test_ppl_bound_opt"), NEITHER
            )
        return out


def map_optimal_bound(targets: np.ndarray, vocab_size: int, n_codes: int, iterations: int = 30) -> dict[str, float]:
    """How low E_y[log n_M(y)] can go over every map M of the vocabulary onto `n_codes` codes,
    for these targets: the floor under any pure scatter's cross-entropy, whatever its map.

    For fixed code sizes the sum is smallest with the most frequent tokens in the smallest codes,
    so an optimal map is a partition of the tokens, sorted by frequency, into consecutive runs. A
    dynamic programme over such partitions with a price on every code used (Lagrangian
    relaxation) gives, for each price, a certified lower bound (weak duality: the relaxed minimum
    minus price x K never exceeds the optimum) and, when it uses at most K codes, a feasible map's
    value, an upper bound. The price is found by bisection. Returns {"lower", "upper"}."""
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=vocab_size).astype(np.float64)
    p = np.sort(counts[counts > 0])[::-1] / counts.sum()  # the tokens seen, most frequent first
    unseen = vocab_size - len(p)  # they cost nothing but must sit in a code: the last, lightest one
    v = len(p)
    if n_codes >= v + (1 if unseen else 0):
        return {"lower": 0.0, "upper": 0.0}
    prefix = np.concatenate([[0.0], np.cumsum(p)])
    logs = np.log(np.arange(1, v + unseen + 1, dtype=np.float64))

    def solve(price: float) -> tuple[float, int]:
        """(min over partitions of cost + price x codes, the codes it uses)."""
        best = np.zeros(v + 1)
        used = np.zeros(v + 1, dtype=np.int64)
        for i in range(1, v + 1):
            size = i - np.arange(i) + (unseen if i == v else 0)  # a code of tokens j..i-1
            total = best[:i] + (prefix[i] - prefix[:i]) * logs[size - 1] + price
            k = int(np.argmin(total))
            best[i], used[i] = total[k], used[k] + 1
        return float(best[v]), int(used[v])

    low, high, lower, upper = 0.0, float(np.log(vocab_size)) + 1.0, 0.0, math.inf
    for _ in range(iterations):
        price = (low + high) / 2
        value, codes = solve(price)
        lower = max(lower, value - price * n_codes)
        if codes <= n_codes:
            upper = min(upper, value - price * codes)
            high = price  # a lower price may use more of the K codes
        else:
            low = price
    return {"lower": lower, "upper": upper}


class Task(language_model.Task):
    HParams = HParams

    def setup(self) -> None:
        self.step_now = None  # the step being trained; None outside training (the final model)
        super().setup()

    def assign_code_map(self) -> None:
        if self.hp.code_map == "frequency":
            return super().assign_code_map()
        # kmeans: a full output layer trains first; at step kmeans_steps its rows are clustered
        self.model.aux_head = nn.Linear(self.config.n_embd, self.config.vocab_size, bias=False)
        nn.init.normal_(self.model.aux_head.weight, std=0.02)

    def warming_up(self) -> bool:
        return self.hp.code_map == "kmeans" and self.step_now is not None and self.step_now < self.hp.kmeans_steps

    def batch(self, step: int):
        self.step_now = step
        if self.hp.code_map == "kmeans" and step == self.hp.kmeans_steps:
            self._cluster()
        return super().batch(step)

    def _cluster(self) -> None:
        """The k-means map: the full layer's V rows into K clusters; the centroids start the codebook."""
        from sklearn.cluster import KMeans

        rows = self.model.aux_head.weight.detach().cpu().numpy().astype(np.float64)  # (V, d)
        km = KMeans(n_clusters=self.config.n_codes, n_init=1, random_state=self.seed).fit(rows)
        head = self.model.lm_head
        head.assign(torch.from_numpy(km.labels_.astype(np.int64)).to(head.code_of_token.device))
        with torch.no_grad():
            head.codebook.copy_(torch.from_numpy(km.cluster_centers_).to(head.codebook))

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not self.warming_up():
            return super().batch_loss(x, y)
        loss, _ = cross_entropy(self.model.aux_head(self.model.hidden(x)), y.reshape(-1))
        return loss

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        metrics = super().evaluate(split)
        if split != "test":
            return metrics
        full = self.config.vocab_size * self.config.n_embd
        out = self.model.output_layer_parameters()
        metrics.update({"output_params": out, "output_params_full": full, "output_param_reduction": 1 - out / full})
        if self.config.head == "vq":  # both floors on the very tokens the test loss was taken on
            targets = self.last_targets
            bound = language_model.cross_entropy_bound(self.model.lm_head.code_of_token.cpu(), targets)
            best = map_optimal_bound(targets, self.config.vocab_size, self.config.n_codes)
            metrics.update(
                {
                    "test_ce_bound": bound,
                    "test_ppl_bound": math.exp(bound),
                    "test_ce_bound_opt": best["lower"],
                    "test_ppl_bound_opt": math.exp(best["lower"]),
                }
            )
        return metrics
